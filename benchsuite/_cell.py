"""``python -m benchsuite._cell``: one isolated cell, described as JSON on stdin.

Started by :func:`benchsuite.isolation.run_isolated`, never by hand. Exit codes: 0 when the
record was written (whatever the cell's status), 2 when the description could not be turned
back into the parent's cell, 3 when the time limit passed before the cell started, 1 for
anything else; a process killed by a signal leaves the record to the parent.

:func:`run_job` runs the same description as a submitit job (``--executor submitit``): both
rebuild the cell with :func:`run_described`, so a cell runs the same way whichever started it.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchsuite.api import BenchsuiteError
from benchsuite.guards import CellTimeout, Deadline


def main() -> int:
    faulthandler.enable()  # a segfault in a method's code still shows the Python stack
    try:
        spec = json.load(sys.stdin)
    except (OSError, ValueError) as exc:
        print(f"benchsuite: error: cannot read the cell's description: {exc}", file=sys.stderr)
        return 2
    deadline = Deadline(spec["timeout"]) if spec.get("timeout") else None
    if deadline is not None:
        _stop_on_sigterm(deadline)
    try:
        return _run(spec, deadline)
    except BenchsuiteError as exc:
        print(f"benchsuite: error: {exc}", file=sys.stderr)
        return 2
    except CellTimeout as exc:
        print(f"benchsuite: error: {exc} before the cell started", file=sys.stderr)
        return 3
    except Exception:
        traceback.print_exc()
        return 1


def _run(spec: dict[str, Any], deadline: Deadline | None) -> int:
    def started() -> None:  # tells the parent to start the cell's clock
        with os.fdopen(spec["status_fd"], "wb", buffering=0) as status:
            status.write(b"started\n")

    run_described(spec, deadline, on_start=started)
    return 0


def run_job(description: str) -> str:
    """A submitit job's function: the cell of ``description`` (JSON, as the isolated child
    reads it), its record written here; returns the record's status.

    Module-level and given only a string, so submitit pickles a reference and text, never
    the caller's objects.
    """
    faulthandler.enable()  # a crash leaves the Python stack in the job's log
    spec = json.loads(description)
    deadline = Deadline(spec["timeout"]) if spec.get("timeout") else None
    if deadline is not None:
        _time_limit_warning_ends(deadline)
    return run_described(spec, deadline)["status"]


def _time_limit_warning_ends(deadline: Deadline) -> None:
    """submitit has a job warned by SIGUSR2 shortly before its time limit (the cell's limit
    plus the job's start-up) runs out. Past the cell's own limit, the cell is stuck inside one
    step: raise :class:`CellTimeout` there, so the cell ends with a ``timeout`` record of its
    own; otherwise (a preemption) submitit's own handler decides."""
    previous = signal.getsignal(signal.SIGUSR2)

    def handler(signum: int, frame: Any) -> None:
        if not deadline.expired and deadline.elapsed >= deadline.seconds:
            deadline.expired = True
            raise CellTimeout(
                deadline.elapsed, deadline.seconds, "inside one step (stopped by SIGUSR2)"
            )
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGUSR2, handler)


def run_described(
    spec: dict[str, Any],
    deadline: Deadline | None,
    *,
    on_start: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Rebuild the plugin host and the one-cell suite from ``spec``, check the configuration
    hash is the caller's, run the cell and write its record through the runner's atomic path.

    ``on_start`` is called as the cell starts (after start-up, when the time limit's clock
    starts again).
    """
    from benchsuite import runner
    from benchsuite.isolation import child_host
    from benchsuite.progress import Progress
    from benchsuite.suite import build_suite

    host = child_host(spec["host"])  # its warnings and failures: the caller reported them
    source = spec["suite"]
    path = Path(source["path"]) if source["path"] else None
    suite = build_suite(
        source["data"],
        host,
        where=f"{path or source['data']['name']} (in the cell's process)",
        path=path,
        file_hash=source["file_hash"],
    )
    cells = suite.cells()
    if [c.key for c in cells] != [spec["cell"]]:
        raise BenchsuiteError(
            f"the cell's process rebuilt cells {[c.key for c in cells]}, not {spec['cell']!r}"
        )
    cell = cells[0]
    profile = runner.select_hardware(host, spec["hardware"])
    profile.setup()
    dataset = runner._dataset(suite)
    dataset.prepare()
    config = runner.cell_config(suite, cell, profile)
    if runner.config_hash(config, cell) != spec["config_hash"]:
        raise BenchsuiteError(
            f"cell {cell.key}: its process resolved a different configuration than the run "
            "that started it (a plugin or the environment differs between the two)"
        )
    progress = Progress(enabled=spec["progress"])
    progress.prefix = f"[{spec['index']}/{spec['total']}] {cell}"
    if deadline is not None:  # the time limit counts from here, as the parent's does
        deadline.restart()
    if on_start is not None:
        on_start()
    run_dir = Path(spec["run_dir"])
    record = runner.run_cell(
        suite, cell, dataset, profile, config, {}, progress, run_dir=run_dir, deadline=deadline
    )
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cell is over: nothing may cut the write
    runner.finish_cell(suite, cell, record, run_dir, Path(spec["record_path"]))
    return record


def _stop_on_sigterm(deadline: Deadline) -> None:
    """SIGTERM from the parent means the deadline passed inside one step: raise
    :class:`CellTimeout` there, so the cell ends with a record of its own. One arriving after
    the cell timed out is ignored (the record is being written); one arriving before the
    deadline did not come from the parent and keeps its usual meaning."""

    def handler(signum: int, frame: Any) -> None:
        if deadline.expired:  # already ending with its timeout record; SIGKILL follows if stuck
            return
        if deadline.elapsed < deadline.seconds:  # not the parent's: die as usual
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        deadline.expired = True
        raise CellTimeout(
            deadline.elapsed, deadline.seconds, "inside one step (stopped by SIGTERM)"
        )

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(main())
