"""Where a suite's cells run: in this process, in child processes K at a time, or as jobs.

:func:`benchsuite.runner.run_suite` resolves the suite (limits, hardware, cells, dataset) and
hands the cells to an :class:`Executor`:

- ``local``: one cell after the other in this process, or each in a child process of its own
  when the suite or ``--isolate`` says so (:mod:`benchsuite.isolation`);
- ``process``: every cell in a child process of its own (the same
  :func:`~benchsuite.isolation.run_isolated`, so deaths, time and memory limits are handled as
  with ``--isolate``), ``jobs`` of them at once;
- ``submitit`` / ``submitit-local``: every cell a job of submitit's ``AutoExecutor``, on SLURM
  or on this machine, with the resources the suite's hardware and limits ask for. The job runs
  :func:`benchsuite._cell.run_job` on the JSON description the isolated child reads.

Whichever runs it, a cell is claimed the same way (:meth:`SuiteRun.claim`: its lock taken by
this process and held until its record exists, its record checked under the lock) and its record
is written by the cell itself through the runner's atomic path; when a child or a job dies
first, this process writes a ``failed`` (or ``timeout``) record saying how it ended. So the
records are the same in form whichever executor ran them.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import json
import math
import re
import shutil
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from benchsuite import checkpoint, isolation, results, runner
from benchsuite.api import BenchsuiteError, Dataset, DataStats, HardwareProfile
from benchsuite.locks import CellLock
from benchsuite.params import parse_method
from benchsuite.progress import Progress
from benchsuite.runner import CellOutcome
from benchsuite.suite import Cell, Suite

#: The executors ``--executor`` accepts.
EXECUTORS = ("local", "process", "submitit", "submitit-local")
#: How to install the optional submitit dependency.
INSTALL_SUBMITIT = "pip install 'benchsuite[cluster]'"
#: Folder (hidden, so record readers skip it) under the results folder for submitit's job
#: files: the pickled call, the job's logs and result.
JOBS_FOLDER = ".submitit"
#: Minutes a job asks for beyond the cell's time limit: the job's start-up (interpreter,
#: plugins, dataset) is not counted by the cell's own clock.
JOB_START_MINUTES = 5
#: Minutes a job asks for when cells have no time limit (``--slurm time=MIN`` replaces it).
DEFAULT_JOB_MINUTES = 24 * 60
#: Seconds between two looks at submitted jobs (submitit rate-limits its own queries).
JOB_POLL_SECONDS = 1.0

#: ``--slurm KEY=VALUE`` keys: SLURM parameters of submitit's SlurmExecutor, with the type the
#: value is read as. ``setup`` repeats (each a shell command run before the job).
SLURM_OPTIONS: dict[str, type] = {
    "partition": str,
    "account": str,
    "qos": str,
    "constraint": str,
    "exclude": str,
    "nodelist": str,
    "gres": str,
    "comment": str,
    "wckey": str,
    "mail_type": str,
    "mail_user": str,
    "time": int,
    "mem": str,
    "mem_per_cpu": str,
    "mem_per_gpu": str,
    "cpus_per_task": int,
    "cpus_per_gpu": int,
    "gpus_per_node": int,
    "gpus_per_task": int,
    "signal_delay_s": int,
    "exclusive": bool,
    "setup": list,
}


@dataclass
class Claim:
    """A cell this process is about to run: its lock held, its record due."""

    index: int
    cell: Cell
    path: Path
    config: dict[str, Any]
    lock: CellLock

    @property
    def config_hash(self) -> str:
        return runner.config_hash(self.config, self.cell)


@dataclass
class SuiteRun:
    """What every cell of one ``run_suite`` call shares, whichever executor runs it."""

    suite: Suite
    out: Path
    dataset: Dataset
    profile: HardwareProfile
    limits: isolation.CellLimits
    progress: Progress
    force: bool
    total: int
    stats_cache: dict[str, DataStats] = field(default_factory=dict)
    #: One lock for the lines concurrent cells print, so each line stays whole.
    output_lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, index: int, cell: Cell) -> Claim | CellOutcome:
        """Lock the cell and check its record under the lock: a :class:`Claim` to run it, or
        the outcome of a cell skipped (done already, or running in another process)."""
        path = results.record_path(self.out, cell.key)
        config = runner.cell_config(self.suite, cell, self.profile)
        lock = CellLock(path)
        if not lock.acquire():
            holder = lock.holder()
            who = f"pid {holder}" if holder else "pid unknown"
            self.progress.warn(
                f"[{index}/{self.total}] {cell}: running in another process ({who}), skipped"
            )
            return CellOutcome(cell, None, skipped=True, elsewhere=holder or 0)
        try:  # checked under the lock: another process may have just finished the cell
            results.remove_temporaries(path)  # a write killed midway; the cell is ours now
            if not self.force and runner._done(
                path, runner.config_hash(config, cell), self.progress
            ):
                checkpoint.discard(self.out, cell.key)  # left when killed after the record
                self.progress.skip(index, self.total, cell)
                lock.release()
                return CellOutcome(cell, None, skipped=True)
            if self.force:  # a rerun from scratch, not a resume of what an earlier run left
                checkpoint.discard(self.out, cell.key)
        except BaseException:
            lock.release()
            raise
        return Claim(index, cell, path, config, lock)

    def cell_progress(self, claim: Claim) -> Progress:
        """Progress of one cell among several running at once: whole lines, each starting with
        the cell's ``[i/N] cell`` prefix, never rewritten in place."""
        prefix = f"[{claim.index}/{self.total}] {claim.cell}"
        stream = _CellLines(self.progress.stream, prefix, self.output_lock)
        return Progress(cast(TextIO, stream), enabled=self.progress.enabled)

    def failure_record(
        self, claim: Claim, started: str, profile: HardwareProfile | None = None
    ) -> dict[str, Any]:
        """A new record of a cell whose process or job ended without writing one."""
        record = runner.new_record(
            self.suite, claim.cell, self.dataset, profile or self.profile, claim.config
        )
        record["started_at"] = started
        return record


class Executor(abc.ABC):
    """Runs the claimed cells of a suite; subclasses say where."""

    name = ""
    #: Whether every cell runs in a process of its own whatever the suite's ``isolate`` says.
    isolates = True

    def limits(
        self,
        config: dict[str, Any],
        *,
        isolate: bool | None,
        timeout: str | float | None,
        memory_limit: str | int | None,
    ) -> isolation.CellLimits:
        """The cells' limits (:func:`benchsuite.isolation.resolve_limits`)."""
        if self.isolates:
            if isolate is False:
                raise BenchsuiteError(
                    f"--executor {self.name} runs every cell in a process of its own; "
                    "--no-isolate cannot apply to it (use --executor local)"
                )
            isolate = True
        return isolation.resolve_limits(
            config, isolate=isolate, timeout=timeout, memory_limit=memory_limit
        )

    def hardware(self, host: Any, spec: str) -> HardwareProfile:
        """The hardware profile the cells run on, set up here."""
        profile = runner.select_hardware(host, spec)
        profile.setup()
        return profile

    @abc.abstractmethod
    def run(self, run: SuiteRun, cells: Sequence[Cell]) -> list[CellOutcome]:
        """Run the cells (claiming each first) and return what happened to each, in order."""


class LocalExecutor(Executor):
    """One cell after the other in this process (in a child process with isolation)."""

    name = "local"
    isolates = False

    def run(self, run: SuiteRun, cells: Sequence[Cell]) -> list[CellOutcome]:
        outcomes: list[CellOutcome] = []
        for i, cell in enumerate(cells, 1):
            claim = run.claim(i, cell)
            if isinstance(claim, CellOutcome):
                outcomes.append(claim)
                continue
            with claim.lock:
                run.progress.start(i, run.total, cell)
                if run.limits.isolate:
                    record = _isolated(run, claim, run.progress)
                else:
                    record = runner.run_cell(
                        run.suite, cell, run.dataset, run.profile, claim.config,
                        run.stats_cache, run.progress, run_dir=run.out,
                        deadline=run.limits.deadline(),
                    )  # fmt: skip
                    runner.finish_cell(run.suite, cell, record, run.out, claim.path)
            run.progress.end(record)
            outcomes.append(CellOutcome(cell, record))
        return outcomes


def _isolated(
    run: SuiteRun,
    claim: Claim,
    progress: Progress,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """The cell run in a child process; its record, written by the child or, when the child
    died first, here from how it ended."""
    outcome, started = _child(run, claim, progress, stop)
    return _child_record(run, claim, outcome, started)


def _child(
    run: SuiteRun, claim: Claim, progress: Progress, stop: threading.Event | None
) -> tuple[isolation.ChildOutcome, str]:
    """Run the cell's child process to its end (this part runs in a worker thread)."""
    started = runner._now()
    outcome = isolation.run_isolated(
        run.suite,
        claim.cell,
        index=claim.index,
        total=run.total,
        hardware=runner.hardware_label(run.profile),
        run_dir=run.out,
        record_path=claim.path,
        config_hash=claim.config_hash,
        limits=run.limits,
        progress=progress,
        lock=claim.lock,
        stop=stop,
    )
    return outcome, started


def _child_record(
    run: SuiteRun, claim: Claim, outcome: isolation.ChildOutcome, started: str
) -> dict[str, Any]:
    """The record the child wrote, or one written here from how it ended (in the main
    thread: event hooks are never called from two threads at once)."""
    if outcome.record_written:
        return results.load_record(claim.path)
    record = run.failure_record(claim, started)
    isolation.record_failure(record, outcome, run.limits)
    record["finished_at"] = runner._now()
    runner.finish_cell(run.suite, claim.cell, record, run.out, claim.path)
    return record


@dataclass(eq=False)
class _Slot:
    """A claimed cell that is running (or queued) somewhere."""

    claim: Claim
    progress: Progress
    handle: Any
    started: str
    before: tuple[int, int] | None = None


class _Concurrent(Executor):
    """Up to ``jobs`` claimed cells running at once (None: all of them); a cell is claimed
    only when a slot is free, so another process sharing the folder can take the rest."""

    def __init__(self, jobs: int | None) -> None:
        self.jobs = jobs

    def run(self, run: SuiteRun, cells: Sequence[Cell]) -> list[CellOutcome]:
        outcomes: dict[int, CellOutcome] = {}
        pending = collections.deque(enumerate(cells, 1))
        running: list[_Slot] = []
        self._open(run)
        try:
            while pending or running:
                while pending and (self.jobs is None or len(running) < self.jobs):
                    i, cell = pending.popleft()
                    claim = run.claim(i, cell)
                    if isinstance(claim, CellOutcome):
                        outcomes[i] = claim
                        continue
                    try:
                        running.append(self._start(run, claim))
                    except BaseException:
                        claim.lock.release()
                        raise
                if not running:
                    continue
                for slot in self._wait(running):
                    running.remove(slot)
                    try:
                        record = self._collect(run, slot)
                    finally:
                        slot.claim.lock.release()
                    slot.progress.end(record)
                    outcomes[slot.claim.index] = CellOutcome(slot.claim.cell, record)
        except BaseException:
            try:
                self._abandon(running)
            finally:
                for slot in running:
                    slot.claim.lock.release()
            raise
        finally:
            self._close(run)
        return [outcomes[i] for i in sorted(outcomes)]

    def _open(self, run: SuiteRun) -> None:
        """Before the first cell starts."""

    def _close(self, run: SuiteRun) -> None:
        """After the last cell ended, or the run was interrupted."""

    @abc.abstractmethod
    def _start(self, run: SuiteRun, claim: Claim) -> _Slot:
        """Start a claimed cell (a child process, a job)."""

    @abc.abstractmethod
    def _wait(self, running: list[_Slot]) -> list[_Slot]:
        """Block until at least one running cell has ended; those that have."""

    @abc.abstractmethod
    def _collect(self, run: SuiteRun, slot: _Slot) -> dict[str, Any]:
        """The record of a cell that has ended."""

    def _abandon(self, running: list[_Slot]) -> None:
        """Stop the cells still running: the run is ending without them."""


class ProcessExecutor(_Concurrent):
    """Every cell in a child process of its own, ``jobs`` at once; each child is watched by a
    thread of this process (its deadline, memory limit and exit)."""

    name = "process"

    def __init__(self, jobs: int | None = 1) -> None:
        super().__init__(jobs or 1)

    def _open(self, run: SuiteRun) -> None:
        self._stop = threading.Event()
        self._pool = futures.ThreadPoolExecutor(
            max_workers=self.jobs, thread_name_prefix="benchsuite-cell"
        )

    def _close(self, run: SuiteRun) -> None:
        self._pool.shutdown(wait=True)

    def _start(self, run: SuiteRun, claim: Claim) -> _Slot:
        progress = run.cell_progress(claim)
        progress.start(claim.index, run.total, claim.cell)
        future = self._pool.submit(_child, run, claim, progress, self._stop)
        return _Slot(claim, progress, future, started=runner._now())

    def _wait(self, running: list[_Slot]) -> list[_Slot]:
        done, _ = futures.wait([s.handle for s in running], return_when=futures.FIRST_COMPLETED)
        return [s for s in running if s.handle in done]

    def _collect(self, run: SuiteRun, slot: _Slot) -> dict[str, Any]:
        outcome, started = slot.handle.result()
        return _child_record(run, slot.claim, outcome, started)

    def _abandon(self, running: list[_Slot]) -> None:
        self._stop.set()  # each watcher stops its child (SIGTERM, then SIGKILL) and gives up
        futures.wait([s.handle for s in running])


class SubmititExecutor(_Concurrent):
    """Every cell a job of submitit's ``AutoExecutor``: on SLURM (``submitit``) or on this
    machine through submitit's local executor (``submitit-local``, the same path without a
    scheduler). This process stays until every job has ended and holds each cell's lock until
    then; interrupted, it cancels the jobs it submitted."""

    def __init__(self, *, local: bool, jobs: int | None, slurm: dict[str, Any]) -> None:
        super().__init__(jobs or (1 if local else None))
        self.local = local
        self.name = "submitit-local" if local else "submitit"
        self.slurm = slurm

    def hardware(self, host: Any, spec: str) -> HardwareProfile:
        """On SLURM the cells run on other machines: the profile is named, its parameters
        checked, but neither probed nor set up here."""
        if self.local:
            return super().hardware(host, spec)
        name, params = parse_method(spec)
        if name == "auto":
            raise BenchsuiteError(
                "--executor submitit: hardware 'auto' would be decided on this machine, not on "
                "the nodes that run the cells; name the profile with --hardware or the suite's "
                "hardware key (cpu, 'cpu[threads=8]', cuda)"
            )
        cls = host.get("hardware", name).cls
        try:
            return cast(HardwareProfile, cls(**params))
        except BenchsuiteError as exc:
            raise BenchsuiteError(f"hardware {spec!r}: {exc}") from None

    def parameters(self, run: SuiteRun) -> dict[str, Any]:
        """``AutoExecutor.update_parameters`` arguments: resources from the hardware profile
        and the limits, then the ``--slurm`` values (which win on SLURM)."""
        timeout = run.limits.timeout
        minutes = math.ceil(timeout / 60) + JOB_START_MINUTES if timeout else DEFAULT_JOB_MINUTES
        params: dict[str, Any] = {"timeout_min": minutes, **hardware_resources(run.profile)}
        if run.limits.memory_limit is not None:  # SLURM's units are binary: GB means GiB
            params["mem_gb"] = math.ceil(run.limits.memory_limit / 2**20) / 1024
        params.update({f"slurm_{key}": value for key, value in self.slurm.items()})
        return params

    def _open(self, run: SuiteRun) -> None:
        import submitit

        folder = run.out.resolve() / JOBS_FOLDER
        try:
            self._executor = submitit.AutoExecutor(
                folder=folder / "%j", cluster="local" if self.local else "slurm"
            )
            self._executor.update_parameters(**self.parameters(run))
        except (RuntimeError, ValueError, NameError, AssertionError) as exc:
            raise BenchsuiteError(
                f"--executor {self.name}: cannot submit jobs here: {_first_line(exc)}"
            ) from None
        self._folder = folder
        self._record_profile: HardwareProfile | None = (
            None if self.local else cast(HardwareProfile, _Unprobed(run.profile))
        )

    def _close(self, run: SuiteRun) -> None:
        """Remove the jobs' folder once every job's files were removed (submitit's local
        executor also leaves an empty folder named after its ``%j`` pattern)."""
        with contextlib.suppress(OSError):
            for child in self._folder.iterdir():
                with contextlib.suppress(OSError):
                    child.rmdir()  # only when empty: a failed job's logs stay
            self._folder.rmdir()

    def _start(self, run: SuiteRun, claim: Claim) -> _Slot:
        from benchsuite._cell import run_job

        progress = run.cell_progress(claim)
        before = isolation._identity(claim.path)
        self._executor.update_parameters(name=_job_name(run.suite, claim.cell))
        try:
            job = self._executor.submit(run_job, json.dumps(job_spec(run, claim)))
        except Exception as exc:  # sbatch's refusal (a bad partition, a queue limit)
            raise BenchsuiteError(
                f"cell {claim.cell}: submitting its job failed: {_first_line(exc, last=True)}"
            ) from None
        progress.prefix = f"[{claim.index}/{run.total}] {claim.cell}"
        progress.cell_started = time.perf_counter()
        if progress.enabled:
            progress.stream.write(f"{progress.prefix}: submitted as job {job.job_id}\n")
            progress.stream.flush()
        return _Slot(claim, progress, job, started=runner._now(), before=before)

    def _wait(self, running: list[_Slot]) -> list[_Slot]:
        while True:
            done = [s for s in running if s.handle.done()]
            if done:
                return done
            time.sleep(JOB_POLL_SECONDS)

    def _collect(self, run: SuiteRun, slot: _Slot) -> dict[str, Any]:
        job, claim = slot.handle, slot.claim
        if isolation._identity(claim.path) not in (None, slot.before):  # the job wrote it
            shutil.rmtree(job.paths.folder, ignore_errors=True)
            return results.load_record(claim.path)
        # On SLURM, exception() waits a little for a result a shared file system has not shown
        # yet; a local job that ended without one never writes it.
        missing = self.local and not job.paths.result_pickle.exists()
        error = None if missing else job.exception()
        state = str(job.state)
        log = job.stderr() or ""
        tail = "\n".join(log.splitlines()[-isolation.STDERR_LINES :])
        record = run.failure_record(claim, slot.started, self._record_profile)
        timed_out = state.startswith("TIMEOUT")
        why = _job_error(error, log)
        record.update(
            status="timeout" if timed_out else "failed",
            error=(
                f"the cell's job {job.job_id} ended without writing its record "
                f"(state {state})" + (f": {why}" if why else "")
            ),
            process={"job_id": str(job.job_id), "state": state, "logs": str(job.paths.folder)},
        )
        if timed_out and run.limits.timeout is not None:
            record["metrics"].update(timeout_seconds=run.limits.timeout)
        if tail:
            record["stderr"] = tail
        record["finished_at"] = runner._now()
        runner.finish_cell(run.suite, claim.cell, record, run.out, claim.path)
        return record

    def _abandon(self, running: list[_Slot]) -> None:
        for slot in running:
            with contextlib.suppress(Exception):  # one job's cancel failing must not stop others
                slot.handle.cancel(check=False)


def job_spec(run: SuiteRun, claim: Claim) -> dict[str, Any]:
    """The JSON description of a cell a job runs: the isolated child's, with absolute paths
    (a job may start in another folder) and no status pipe."""
    return {
        "host": isolation.host_spec(run.suite.host),
        "suite": isolation.suite_spec(run.suite, claim.cell),
        "cell": claim.cell.key,
        "config_hash": claim.config_hash,
        "index": claim.index,
        "total": run.total,
        "hardware": runner.hardware_label(run.profile),
        "run_dir": str(run.out.resolve()),
        "record_path": str(claim.path.resolve()),
        "timeout": run.limits.timeout,
        "progress": run.progress.enabled,
    }


def hardware_resources(profile: HardwareProfile) -> dict[str, int]:
    """What a job asks for to run on ``profile``: ``cpu[threads=N]`` N cores, ``cuda`` as many
    GPUs as its highest device index needs (the job's GPUs are numbered from 0)."""
    if profile.name == "cpu" and profile.params.get("threads"):
        return {"cpus_per_task": int(profile.params["threads"])}
    if profile.name == "cuda":
        device = profile.params.get("device", 0)
        indices = device if isinstance(device, list) else [device]
        return {"gpus_per_node": max(indices) + 1}
    return {}


class _Unprobed:
    """The profile a SLURM job asked for, as the submitting machine knows it: a record this
    machine writes for a dead job names the profile but cannot describe the node."""

    def __init__(self, profile: HardwareProfile) -> None:
        self._profile = profile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._profile, name)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "profile": self._profile.name,
            "params": dict(self._profile.params),
            "unmeasured": "the cell's job ended before describing the node it ran on",
        }


class _CellLines:
    """A stream for one of several cells printing at once: whole lines, each written under
    the run's output lock and each starting with the cell's prefix."""

    def __init__(self, stream: TextIO, prefix: str, lock: threading.Lock) -> None:
        self._stream, self._prefix, self._lock = stream, prefix, lock
        self._pending = ""

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._pending = (self._pending + text).split("\n")
            for line in lines:
                line = line.replace("\r\033[K", "")
                if not line.startswith(self._prefix):
                    line = f"{self._prefix}: {line}"
                self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def isatty(self) -> bool:
        return False  # lines of several cells cannot share one line rewritten in place


def _job_name(suite: Suite, cell: Cell) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"benchsuite-{suite.name}-{cell.key}").strip("-")


def _first_line(exc: BaseException, *, last: bool = False) -> str:
    """The first (or last) non-empty line of an exception's message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return lines[-1] if last else lines[0]


def _job_error(error: BaseException | None, log: str) -> str:
    """The line that says why a job failed: a fatal error in its log (a crash), else the last
    line of the exception it raised."""
    for line in reversed(log.splitlines()):
        if line.startswith(("Fatal Python error:", "benchsuite: error:")):
            return line.strip()
    if error is None:
        return ""
    trace = str(error).split("----------------------")
    text = trace[1] if len(trace) >= 3 else ""  # FailedJobError: the job's traceback
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_slurm(values: Sequence[str]) -> dict[str, Any]:
    """``--slurm KEY=VALUE`` options as submitit's SLURM parameters; one error for a value
    that is not ``KEY=VALUE``, an unknown key or a value of the wrong type."""
    params: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise BenchsuiteError(f"--slurm takes KEY=VALUE (e.g. partition=gpu), not {item!r}")
        kind = SLURM_OPTIONS.get(key)
        if kind is None:
            raise BenchsuiteError(
                f"--slurm: unknown key {key!r}; known keys: {', '.join(sorted(SLURM_OPTIONS))}"
            )
        value = value.strip()
        if kind is int:
            if not value.isdigit():
                raise BenchsuiteError(f"--slurm {key}: {value!r} is not a whole number")
            params[key] = int(value)
        elif kind is bool:
            if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
                raise BenchsuiteError(f"--slurm {key}: {value!r} is not true or false")
            params[key] = value.lower() in ("true", "yes", "1")
        elif kind is list:
            params.setdefault(key, []).append(value)
        else:
            if not value:
                raise BenchsuiteError(f"--slurm {key}: needs a value")
            params[key] = value
    return params


def parse_jobs(value: int | str | None) -> int | None:
    """``--jobs K``: a whole number of cells at once, 1 or more."""
    if value is None:
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise BenchsuiteError(f"--jobs: {value!r} is not a number of cells at once (1 or more)")
    return int(text)


def make_executor(
    name: str | None = None,
    *,
    jobs: int | str | None = None,
    slurm: Sequence[str] = (),
) -> Executor:
    """The executor ``--executor NAME --jobs K --slurm KEY=VALUE…`` asks for, every value
    checked. ``--jobs`` alone means ``process``."""
    count = parse_jobs(jobs)
    if name is None:
        name = "process" if count is not None and count > 1 else "local"
    if name not in EXECUTORS:
        raise BenchsuiteError(
            f"--executor: unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}"
        )
    if slurm and not name.startswith("submitit"):
        raise BenchsuiteError(
            f"--slurm sets the parameters of submitit jobs; it does not apply to --executor {name}"
        )
    if name == "local":
        if count is not None and count > 1:
            raise BenchsuiteError(
                "--jobs runs several cells at once, each in a process of its own; --executor "
                "local runs one at a time (use --executor process)"
            )
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(count)
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise BenchsuiteError(
            f"--executor {name} needs the optional dependency submitit: {INSTALL_SUBMITIT}"
        ) from None
    return SubmititExecutor(local=name == "submitit-local", jobs=count, slurm=parse_slurm(slurm))
