"""Cells in their own process, so a crash, an out-of-memory kill or a hang is one cell's record.

An isolated cell runs in ``python -m benchsuite._cell``, a fresh interpreter reading a JSON
description of the cell on stdin. A fresh process (rather than ``fork``) because torch's
thread pools and a forked copy of them do not mix; a plain subprocess (rather than
multiprocessing's ``spawn``) because it needs nothing pickled, does not re-import the caller's
``__main__``, and makes the child's start explicit: it rebuilds the plugin host (plugin
directory, ``-p no:NAME``; ``BENCHSUITE_*`` variables are inherited) and the one-cell suite from
that description, checks its configuration hash is the parent's, and writes its record through
the runner's ordinary atomic path.

The parent watches it: the cell's time limit (counted from when the child reports that the cell
started, so the interpreter's start-up does not count), its resident memory when a limit is set
(sampled every :data:`POLL_SECONDS`; over it the process is killed at once), and its exit. When
the child dies without a record, the parent writes one: ``failed`` with the signal ("killed by
signal SIGSEGV"), the exit code or the memory limit, or ``timeout``, with the last lines of the
child's standard error, which is also forwarded as it comes.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from benchsuite.api import BenchsuiteError
from benchsuite.guards import Deadline, describe_seconds, parse_duration, parse_size
from benchsuite.host import DISABLE_ENV, Host
from benchsuite.locks import CellLock
from benchsuite.progress import Progress
from benchsuite.suite import SCHEMA, Cell, Suite

#: Seconds between two looks at the child (its exit, its memory, its deadline).
POLL_SECONDS = 0.05
#: Seconds past the deadline before SIGTERM: a child checking between steps ends itself first.
TERM_GRACE = 1.0
#: Seconds between SIGTERM and SIGKILL.
KILL_GRACE = 5.0
#: Lines of the child's standard error kept for a record the parent writes (a crash's
#: Python stack from faulthandler takes about 30), and the characters kept of each.
STDERR_LINES = 40
STDERR_LINE_CHARS = 500
#: What the child writes on its status pipe when the cell starts.
STARTED = b"started\n"

_SIGNAL_NOTES = {
    "SIGSEGV": " (segmentation fault)",
    "SIGBUS": " (bus error)",
    "SIGABRT": " (aborted)",
    "SIGFPE": " (arithmetic error)",
    "SIGILL": " (illegal instruction)",
    "SIGKILL": " — out of memory? (the kernel's out-of-memory killer sends SIGKILL)",
}
_SUITE_ONLY_KEYS = ("isolate", "timeout", "memory_limit", "budgets")


@dataclass(frozen=True)
class CellLimits:
    """How cells run: in their own process or not, with a time limit and a memory limit."""

    isolate: bool = False
    timeout: float | None = None
    memory_limit: int | None = None

    def deadline(self) -> Deadline | None:
        """A deadline starting now, for a cell about to run (None without a time limit)."""
        return Deadline(self.timeout) if self.timeout else None


def resolve_limits(
    config: dict[str, Any],
    *,
    isolate: bool | None = None,
    timeout: str | float | None = None,
    memory_limit: str | int | None = None,
) -> CellLimits:
    """The suite's ``isolate``, ``timeout`` and ``memory_limit``, each replaced by the command
    line's value when given (``none`` switches a limit off)."""
    isolated = config.get("isolate", False) if isolate is None else isolate
    seconds = _setting(timeout, "--timeout", config.get("timeout"), "timeout", parse_duration)
    limit = _setting(
        memory_limit, "--memory-limit", config.get("memory_limit"), "memory_limit", parse_size
    )
    if limit is not None and not isolated:
        raise BenchsuiteError(
            "a memory limit (suite key memory_limit or --memory-limit) is enforced on the cell's "
            "own process and needs isolation: set isolate: true in the suite or pass --isolate"
        )
    if limit is not None and not Path("/proc/self/statm").exists():
        raise BenchsuiteError(
            "a memory limit needs /proc to read the cell's resident memory, which this system "
            "does not have"
        )
    return CellLimits(bool(isolated), seconds, limit)


def _setting(
    given: Any, option: str, suite_value: Any, key: str, parse: Callable[[Any, str], Any]
) -> Any:
    if given is not None:
        if isinstance(given, str) and given.strip().lower() == "none":
            return None
        return parse(given, option)
    return None if suite_value is None else parse(suite_value, f"suite key {key}")


def host_spec(host: Host) -> dict[str, Any]:
    """What the child needs to load the same plugins as ``host``."""
    sources = [p.source for p in host.plugins]
    sources += [d.source for d in host.disabled] + [f.source for f in host.failures]
    folders = sorted(
        {str(Path(s).resolve().parent) for s in sources if s.endswith(".py") and Path(s).is_file()}
    )
    modules = {
        p.name: p.source.removeprefix("module ")
        for p in host.plugins
        if p.source.startswith("module ")
    }
    return {
        "plugins_dir": folders[0] if folders else None,
        "disable": {d.name: d.by for d in host.disabled if d.by != DISABLE_ENV},
        "modules": modules,
        "trace": getattr(host, "_tracer", None) is not None,
    }


def suite_spec(suite: Suite, cell: Cell) -> dict[str, Any]:
    """The suite narrowed to ``cell``, as data the child validates again into the same cell."""
    data = _without_defaults(suite.config, "")
    for key in _SUITE_ONLY_KEYS:
        data.pop(key, None)
    data.update(
        name=suite.name,
        methods=[{"method": cell.method, "params": cell.params, "budgets": [cell.budget.label]}],
        seeds=[cell.seed],
    )
    return {
        "data": data,
        "path": str(suite.path) if suite.path else None,
        "file_hash": suite.file_hash,
    }


def _without_defaults(config: dict[str, Any], section: str) -> dict[str, Any]:
    """``config`` less the values its schema fills in by default, section by section: the
    child's validation fills them in again, and a default need not pass its own check (an
    absent ``description`` is "", which a given one may not be)."""
    schema = SCHEMA[section]
    out: dict[str, Any] = {}
    for key, value in config.items():
        if not section and key in SCHEMA and isinstance(value, dict):
            out[key] = _without_defaults(value, key)
        elif key not in schema or schema[key][1] != value:
            out[key] = value
    return out


@dataclass
class ChildOutcome:
    """How the child process ended, as the parent saw it."""

    returncode: int
    record_written: bool
    timed_out: bool = False
    killed_for_memory: int | None = None  # resident bytes seen when it was killed
    elapsed: float = 0.0
    stderr_tail: str = ""


def run_isolated(
    suite: Suite,
    cell: Cell,
    *,
    index: int,
    total: int,
    hardware: str,
    run_dir: Path,
    record_path: Path,
    config_hash: str,
    limits: CellLimits,
    progress: Progress,
    lock: CellLock | None = None,
    stop: threading.Event | None = None,
) -> ChildOutcome:
    """Run one cell in a child process and wait for it; the child writes the record itself
    unless it dies first (``record_written`` False: the caller writes one, see
    :func:`failure`). Setting ``stop`` (from another thread) stops the child and raises
    :class:`Stopped`: the run is being interrupted, and the cell gets no record."""
    spec = {
        "host": host_spec(suite.host),
        "suite": suite_spec(suite, cell),
        "cell": cell.key,
        "config_hash": config_hash,
        "index": index,
        "total": total,
        "hardware": hardware,
        "run_dir": str(run_dir),
        "record_path": str(record_path),
        "timeout": limits.timeout,
        "progress": progress.enabled,
    }
    before = _identity(record_path)
    status_r, status_w = os.pipe()
    spec_fds = [status_w] + ([lock.fileno()] if lock is not None else [])
    try:
        payload = json.dumps({**spec, "status_fd": status_w}, allow_nan=False).encode()
        child = subprocess.Popen(
            [sys.executable, "-m", "benchsuite._cell"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=spec_fds,  # the lock too: an orphaned child keeps its cell locked
        )
    except (TypeError, ValueError, OSError) as exc:
        os.close(status_r)
        os.close(status_w)
        raise BenchsuiteError(f"cannot start a process for cell {cell.key}: {exc}") from None
    os.close(status_w)
    tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
    assert child.stdin is not None and child.stderr is not None
    reader = threading.Thread(
        target=_forward, args=(child.stderr, progress, tail), name="benchsuite-cell-stderr"
    )
    reader.start()
    try:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write(payload)
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
        outcome = _watch(child, status_r, limits, stop)
    except BaseException:  # interrupted: the child must not outlive this run unseen
        _stop(child)
        raise
    finally:
        os.close(status_r)
        reader.join(timeout=2.0)
    outcome.record_written = _identity(record_path) not in (None, before)
    outcome.stderr_tail = "\n".join(tail)
    return outcome


class Stopped(Exception):
    """The run stopped a cell's process before it ended (see :func:`run_isolated`)."""


def _watch(
    child: subprocess.Popen[bytes],
    status_fd: int,
    limits: CellLimits,
    stop: threading.Event | None = None,
) -> ChildOutcome:
    """Wait for the child, enforcing the deadline and the memory limit."""
    spawned = time.monotonic()
    started: float | None = None
    status_open = True
    terminated_at: float | None = None
    killed_for_memory: int | None = None
    while child.poll() is None:
        if stop is not None and stop.is_set():
            raise Stopped(f"stopped process {child.pid}")
        if status_open:
            ready, _, _ = select.select([status_fd], [], [], POLL_SECONDS)
            if ready:
                data = os.read(status_fd, 64)
                status_open = bool(data)
                if STARTED in data and started is None:
                    started = time.monotonic()
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=POLL_SECONDS)
        now = time.monotonic()
        if limits.memory_limit is not None and killed_for_memory is None:
            rss = tree_rss(child.pid)
            if rss > limits.memory_limit:
                child.kill()
                killed_for_memory = rss
        # Start-up (before the child reports the cell started) gets a time limit of its own,
        # so a plugin that hangs while loading is caught too.
        if (
            limits.timeout is not None
            and terminated_at is None
            and now > (started or spawned) + limits.timeout + TERM_GRACE
        ):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
            terminated_at = now
        if terminated_at is not None and now > terminated_at + KILL_GRACE:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
    return ChildOutcome(
        returncode=child.returncode,
        record_written=False,
        timed_out=terminated_at is not None,
        killed_for_memory=killed_for_memory,
        elapsed=time.monotonic() - (started or spawned),
    )


def failure(outcome: ChildOutcome, limits: CellLimits) -> tuple[str, str, dict[str, Any]]:
    """``(status, error, process facts)`` for a child that ended without writing its record."""
    rc = outcome.returncode
    signame = _signal_name(-rc) if rc < 0 else None
    facts: dict[str, Any] = {"returncode": rc, "signal": signame}
    if outcome.killed_for_memory is not None and limits.memory_limit is not None:
        facts["resident_bytes"] = outcome.killed_for_memory
        return (
            "failed",
            f"exceeded the memory limit: the cell's process reached "
            f"{outcome.killed_for_memory / 1e6:,.0f} MB resident, over the limit of "
            f"{limits.memory_limit / 1e6:,.0f} MB, and was killed (SIGKILL)",
            facts,
        )
    if outcome.timed_out and limits.timeout is not None:
        how = f"killed by signal {signame}" if signame else f"exited with code {rc}"
        return (
            "timeout",
            f"timed out after {describe_seconds(outcome.elapsed)} (limit "
            f"{describe_seconds(limits.timeout)}): the cell's process did not stop between "
            f"steps, was sent SIGTERM and {how}",
            facts,
        )
    if signame is not None:
        note = _SIGNAL_NOTES.get(signame, "")
        return "failed", f"the cell's process was killed by signal {signame}{note}", facts
    last = _last_error_line(outcome.stderr_tail)
    if rc == 0:
        return "failed", "the cell's process exited without writing its record", facts
    return (
        "failed",
        f"the cell's process exited with code {rc}" + (f": {last}" if last else ""),
        facts,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_error_line(tail: str) -> str:
    """The child's own one-line error (``benchsuite: error: …``), when it printed one."""
    for line in reversed(tail.splitlines()):
        if line.startswith("benchsuite: error: "):
            return line.removeprefix("benchsuite: error: ")
    return ""


def _identity(path: Path) -> tuple[int, int] | None:
    """The record file's inode and modification time: an atomic write changes both."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _forward(stream: IO[bytes], progress: Progress, tail: collections.deque[str]) -> None:
    """Copy the child's standard error to ours as it comes, keeping the last lines."""
    out = progress.stream
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        tail.append(line if len(line) <= STDERR_LINE_CHARS else line[:STDERR_LINE_CHARS] + "…")
        with contextlib.suppress(Exception):  # a closed or broken terminal must not stop it
            out.write(("\r\033[K" if progress.live else "") + line + "\n")
            out.flush()
    stream.close()


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after :data:`KILL_GRACE` seconds."""
    if child.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        child.terminate()
    try:
        child.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def tree_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and its descendants, from /proc (0 once it is gone)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
        if len(fields) > 1 and fields[1].isdigit():
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * _PAGE
        stack.extend(parents.get(current, ()))
    return total


def record_failure(
    record: dict[str, Any], outcome: ChildOutcome, limits: CellLimits
) -> dict[str, Any]:
    """Fill ``record`` (a new record of the cell) with how its process ended."""
    status, error, facts = failure(outcome, limits)
    record.update(status=status, error=error, process=facts)
    if outcome.stderr_tail:
        record["stderr"] = outcome.stderr_tail
    if status == "timeout":
        record["metrics"].update(elapsed_seconds=outcome.elapsed, timeout_seconds=limits.timeout)
    return record


def child_host(spec: dict[str, Any]) -> Host:
    """The plugin host described by :func:`host_spec`, in the child."""
    import importlib

    modules = {name: importlib.import_module(module) for name, module in spec["modules"].items()}
    return Host(
        spec["plugins_dir"],
        plugins=modules or None,
        disable=spec["disable"],
        trace=sys.stderr if spec["trace"] else None,
    )
