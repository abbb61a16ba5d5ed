"""Live progress on stderr: cell i of N, samples, current AUC, rate and ETA.

On a terminal the current line is rewritten in place; otherwise (logs, CI) one line is printed
per evaluation and per finished cell, so a log stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from benchsuite.suite import Cell


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self.prefix = ""
        self.auc: float | None = None
        self.total = 0
        self.cell_started = 0.0

    def _write(self, text: str, *, final: bool = True) -> None:
        if not self.enabled:
            return
        if self.live:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()

    def skip(self, i: int, n: int, cell: Cell) -> None:
        self._write(f"[{i}/{n}] {cell}: done already, skipped (--force reruns it)")

    def start(self, i: int, n: int, cell: Cell) -> None:
        self.prefix = f"[{i}/{n}] {cell}"
        self.auc = None
        self.cell_started = time.perf_counter()
        self._write(f"{self.prefix}: building", final=not self.live)

    def training(self, samples: int, total: int, seconds: float) -> None:
        self.total = total
        self._write(self._status(samples, seconds), final=False)

    def evaluation(self, point: dict[str, Any], total: int) -> None:
        self.auc, self.total = point["auc"], total
        if not self.live:
            self._write(self._status(point["samples"], point["seconds"]))

    def _status(self, samples: int, seconds: float) -> str:
        rate = samples / seconds if seconds > 0 else 0.0
        eta = (self.total - samples) / rate if rate > 0 else 0.0
        auc = f"  val AUC {self.auc:.4f}" if self.auc is not None else ""
        return (
            f"{self.prefix}: {samples:,}/{self.total:,} samples{auc}  {rate:,.0f} samples/s  "
            f"ETA {_duration(eta)}"
        )

    def end(self, record: dict[str, Any]) -> None:
        took = _duration(time.perf_counter() - self.cell_started)
        m = record["metrics"]
        if record["status"] == "ok":
            self._write(
                f"{self.prefix}: ok  test AUC {m['test_auc']:.4f}  "
                f"{m.get('compression_ratio') or 0:.1f}x  {took}"
            )
        else:
            self._write(f"{self.prefix}: {record['status']}: {record['error']}  {took}")

    def note(self, message: str) -> None:
        """Transient status (the statistics pass): in place on a terminal, else every 10 s."""
        now = time.perf_counter()
        if self.live or now - getattr(self, "_last_note", 0.0) > 10:
            self._last_note = now
            self._write(f"{self.prefix}: {message}", final=not self.live)

    def warn(self, message: str) -> None:
        """Warnings are printed even when progress is off: they change what the user gets."""
        lead = "\n" if self.live else ""
        self.stream.write(f"{lead}benchsuite: warning: {message}\n")
        self.stream.flush()
