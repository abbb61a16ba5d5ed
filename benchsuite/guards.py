"""What a running cell is watched for: its deadline and a validation AUC collapsing to 0.5.

A cell over its time limit ends as ``timeout``; one whose validation AUC falls back to chance
after it had clearly learned ends as ``diverged`` (as a NaN loss does). Without isolation the
deadline is checked between training steps and at each evaluation, so a hang inside one step
cannot be interrupted there; an isolated cell's process is also stopped from outside
(:mod:`benchsuite.isolation`). Also here: the parsers of the suite's ``timeout`` and
``memory_limit`` values, shared by the suite's validation and the command line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from benchsuite.api import Batch, BenchsuiteError, Budget
from benchsuite.training import Diverged

#: A validation AUC within this distance of 0.5 is chance level.
COLLAPSE_BAND = 0.005
#: ... and counts as a collapse only after an earlier evaluation reached at least this AUC.
COLLAPSE_FROM = 0.55

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)", re.IGNORECASE)


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a positive number of seconds or a text such as ``90s``, ``30m``, ``2h`` or
    ``1h30m``; anything else raises an error naming ``where``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 0:
            return float(value)
        raise BenchsuiteError(f"{where}: a duration must be positive, got {value!r}")
    text = str(value).strip() if isinstance(value, str) else ""
    try:
        seconds = float(text)
    except ValueError:
        compact = re.sub(r"\s+", "", text)
        parts = _DURATION_PART.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise BenchsuiteError(
                f"{where}: {value!r} is not a duration; give seconds (90) or a text such as "
                "'90s', '30m', '2h' or '1h30m'"
            ) from None
        seconds = sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts)
    if not seconds > 0:
        raise BenchsuiteError(f"{where}: a duration must be positive, got {value!r}")
    return seconds


def parse_size(value: Any, where: str) -> int:
    """Bytes from a positive integer or a size such as ``800MB`` or ``4GiB`` (the units of
    budgets: powers of 1000 and of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value > 0:
            return value
        raise BenchsuiteError(f"{where}: a size must be positive, got {value!r}")
    problem = f"{where}: {value!r} is not a size such as '800MB' or '4GiB'"
    if not isinstance(value, str):
        raise BenchsuiteError(problem)
    try:
        parsed = Budget.parse(value)
    except BenchsuiteError:
        raise BenchsuiteError(problem) from None
    if parsed.size is None or parsed.size <= 0:
        raise BenchsuiteError(problem)
    return parsed.size


def describe_seconds(seconds: float) -> str:
    """``4.2 s``, ``12 min 5 s`` or ``2 h 3 min``: elapsed and limit times in messages."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


class CellTimeout(BaseException):
    """The cell ran past its time limit.

    A BaseException, as KeyboardInterrupt is, so that a method's own ``except Exception``
    cannot swallow it; the runner records it as ``timeout``.
    """

    def __init__(self, elapsed: float, limit: float, where: str = ""):
        at = f" {where}" if where else ""
        super().__init__(
            f"timed out after {describe_seconds(elapsed)} (limit {describe_seconds(limit)}){at}"
        )
        self.elapsed, self.limit = elapsed, limit


class AucCollapsed(Diverged):
    """The validation AUC fell back to chance (0.5) after the model had clearly learned."""

    def __init__(self, samples: int, step: int, auc: float, best: float):
        super().__init__(samples, step)
        self.args = (
            f"validation AUC collapsed to {auc:.4f} at step {step} ({samples:,} samples) "
            f"after reaching {best:.4f}",
        )


def auc_collapse(curve: list[dict[str, Any]]) -> tuple[float, float] | None:
    """``(auc, best earlier auc)`` when the last point of ``curve`` is a collapse, else None.

    The rule: the latest validation AUC is within :data:`COLLAPSE_BAND` of 0.5 while an
    earlier evaluation reached :data:`COLLAPSE_FROM` or more. A model that never learned stays
    near 0.5 from the start and is not diverged, only poor; a healthy model's AUC does not fall
    back by ten times the band between two evaluations.
    """
    if len(curve) < 2:
        return None
    auc = curve[-1].get("auc")
    earlier = [p["auc"] for p in curve[:-1] if isinstance(p.get("auc"), (int, float))]
    if not isinstance(auc, (int, float)) or not earlier:
        return None
    best = max(earlier)
    if abs(auc - 0.5) <= COLLAPSE_BAND + 1e-12 and best >= COLLAPSE_FROM:  # 1e-12: rounding
        return float(auc), float(best)
    return None


class Deadline:
    """A cell's time limit, counted from when it was created."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()
        self.expired = False  # set once CellTimeout has been raised

    def restart(self) -> None:
        """Count from now."""
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def check(self, where: str = "") -> None:
        """Raise :class:`CellTimeout` once the limit has passed."""
        elapsed = self.elapsed
        if elapsed >= self.seconds:
            self.expired = True
            raise CellTimeout(elapsed, self.seconds, where)


class CellWatch:
    """Watches one cell's training: the deadline before each step and at each evaluation,
    and the AUC-collapse rule at each evaluation."""

    def __init__(self, deadline: Deadline | None, batch_size: int):
        self.deadline = deadline
        self.batch_size = batch_size
        self.steps = 0
        self.samples = 0
        self.curve: list[dict[str, Any]] = []

    def batches(self, source: Iterator[Batch]) -> Iterator[Batch]:
        """``source``, with the deadline checked before each batch is handed to a step."""
        for batch in source:
            self._check_deadline()
            self.steps += 1
            self.samples += len(batch)
            yield batch

    def evaluation(self, point: dict[str, Any]) -> None:
        """Called with each evaluation's curve point; raises on a collapse or the deadline."""
        self.curve.append(point)
        collapsed = auc_collapse(self.curve)
        if collapsed is not None:
            step = -(-point["samples"] // self.batch_size)
            raise AucCollapsed(point["samples"], step, *collapsed)
        self._check_deadline()

    def _check_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.check(f"at step {self.steps} ({self.samples:,} samples)")
