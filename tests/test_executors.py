"""Executors: the same suite run here, in child processes K at a time and as submitit jobs
gives records of the same form, each cell locked by the run while it runs; bad choices are
one clear error."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import tiny_suite_file

from benchsuite import _cell, executors, isolation, results
from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.guards import CellTimeout, Deadline
from benchsuite.host import Host
from benchsuite.report.leaderboard import leaderboard_frame

# A method whose build raises or aborts on purpose, as `misbehaving[action=…]`.
MISBEHAVING = """
    import os

    from torch import nn

    from benchsuite.api import Method
    from benchsuite.hookspecs import hookimpl


    class Lookup(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.table = nn.Embedding(64, dim)

        def forward(self, ids):
            return self.table(ids % 64)


    class Misbehaving(Method):
        name = "misbehaving"
        summary = "Misbehaves on purpose (test)"
        defaults = {"action": "none"}

        def build(self, tables, dim, budget, stats, seed):
            if self.params["action"] == "abort":
                os.abort()
            if self.params["action"] == "raise":
                raise RuntimeError("kernel exploded")
            return Lookup(dim)


    @hookimpl
    def benchsuite_register_methods():
        return [Misbehaving]
"""

# Logs each cell's start and end (pid, time, whether its lock was held by someone) and prints
# a bare line on stderr, as a plugin may; it naps at the start so that cells running at once
# overlap beyond doubt.
SPY = """
    import json
    import os
    import sys
    import time

    from benchsuite import results
    from benchsuite.hookspecs import hookimpl
    from benchsuite.locks import CellLock

    LOG = {log!r}


    def note(**fields):
        with open(LOG, "a") as handle:
            handle.write(json.dumps({{"pid": os.getpid(), "time": time.time(), **fields}}) + "\\n")


    @hookimpl
    def benchsuite_cell_start(cell, run_dir):
        lock = CellLock(results.record_path(run_dir, cell.key))
        free = lock.acquire()
        if free:
            lock.release()
        print("spy: cell starting", file=sys.stderr, flush=True)
        note(event="start", cell=cell.key, locked=not free)
        time.sleep(1.0)


    @hookimpl
    def benchsuite_cell_end(cell):
        note(event="end", cell=cell.key)
"""

QUICK = {
    "train.samples": 2048,
    "train.eval_every": 1024,
    "inference.batches": 1,
    "methods": ["full", "hashing", "misbehaving[action=raise]"],
}
CELLS = ("full@1x#0", "hashing@4x#0", "misbehaving[action=raise]@4x#0")
EXECUTORS = {
    "local": (),
    "process": ("--executor", "process", "--jobs", "2"),
    "submitit-local": ("--executor", "submitit-local", "--jobs", "3"),
}


def _suite(folder: Path, overrides: dict[str, Any] | None = None) -> Path:
    return tiny_suite_file(folder / "suite.yaml", {**QUICK, **(overrides or {})})


def _plugins(folder: Path, log: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "misbehaving.py").write_text(textwrap.dedent(MISBEHAVING))
    if log is not None:
        (folder / "spy.py").write_text(textwrap.dedent(SPY.format(log=str(log))))
    return folder


def _records(out: Path) -> dict[str, dict]:
    return {r["cell"]["key"]: r for r in results.load_records(out)}


def _shape(value: Any) -> Any:
    """The keys of a record, nested, without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return None


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """The same three-cell suite (two healthy cells, one raising) run by each executor, with
    progress on: exit code, stderr, records, leaderboard and what the spy saw."""
    runs: dict[str, dict[str, Any]] = {}
    for name, options in EXECUTORS.items():
        root = tmp_path_factory.mktemp(name)
        log = root / "spy.jsonl"
        plugins = _plugins(root / "plugins", log)
        out = root / "out"
        capture = root / "stderr.txt"
        argv = ["run", "--suite", str(_suite(root)), "--out", str(out)]
        with pytest.MonkeyPatch.context() as mp, capture.open("w") as err:
            mp.setenv("BENCHSUITE_CACHE_DIR", str(root / "cache"))
            mp.setattr("sys.stderr", err)
            code = main([*argv, "--plugins-dir", str(plugins), "--format", "json", *options])
        records = _records(out)
        runs[name] = {
            "code": code,
            "stderr": capture.read_text(),
            "records": records,
            "board": leaderboard_frame(list(records.values())),
            "spy": [json.loads(line) for line in log.read_text().splitlines()],
            "out": out,
        }
    return runs


def test_records_have_the_same_form_whichever_executor_ran_them(ran):
    local = ran["local"]["records"]
    assert sorted(local) == sorted(CELLS)
    for name in ("process", "submitit-local"):
        records = ran[name]["records"]
        assert sorted(records) == sorted(CELLS), name
        for key in CELLS:
            mine, theirs = records[key], local[key]
            assert _shape(mine) == _shape(theirs), (name, key)
            assert mine["status"] == theirs["status"], (name, key)
            assert mine["config_hash"] == theirs["config_hash"], (name, key)
            assert mine["config"] == theirs["config"], (name, key)
            if mine["status"] == "ok":  # the same seed trains to the same model anywhere
                assert mine["metrics"]["test_auc"] == pytest.approx(
                    theirs["metrics"]["test_auc"], abs=1e-6
                )


def test_leaderboard_has_the_same_rows_whichever_executor_ran_them(ran):
    columns = ["method", "budget", "rank", "seeds", "status"]
    local = ran["local"]["board"][columns]
    for name in ("process", "submitit-local"):
        assert ran[name]["board"][columns].equals(local), name


def test_a_cell_that_raises_is_a_failed_record_under_every_executor(ran):
    for name, run in ran.items():
        rec = run["records"]["misbehaving[action=raise]@4x#0"]
        assert rec["status"] == "failed", name
        assert rec["error"] == "RuntimeError: kernel exploded", name
        assert run["code"] == 1, name
        assert "1 cell(s) failed or timed out" in run["stderr"], name


def test_every_running_cell_is_locked_by_the_run_under_every_executor(ran):
    for name, run in ran.items():
        starts = [e for e in run["spy"] if e["event"] == "start"]
        assert sorted(e["cell"] for e in starts) == sorted(CELLS), name
        assert all(e["locked"] for e in starts), name
        assert not (run["out"] / ".locks").exists(), name  # all released at the end


def _overlap(events: list[dict[str, Any]]) -> bool:
    """Whether some cell started before another one had ended."""
    spans = {}
    for e in events:
        spans.setdefault(e["cell"], {})[e["event"]] = e["time"]
    ordered = sorted(spans.values(), key=lambda s: s["start"])
    return any(b["start"] < a["end"] for a, b in itertools.pairwise(ordered))


def test_local_runs_cells_one_after_the_other_in_this_process(ran):
    events = ran["local"]["spy"]
    assert {e["pid"] for e in events} == {os.getpid()}
    assert not _overlap(events)


@pytest.mark.parametrize("name", ["process", "submitit-local"])
def test_process_and_submitit_run_each_cell_in_its_own_process_several_at_once(ran, name):
    events = ran[name]["spy"]
    pids = {e["pid"] for e in events if e["event"] == "start"}
    assert len(pids) == len(CELLS) and os.getpid() not in pids
    assert _overlap(events)


def test_lines_of_cells_running_at_once_each_carry_their_cells_prefix(ran):
    lines = ran["process"]["stderr"].splitlines()
    cells = ("full @ 1x seed 0", "hashing @ 4x seed 0", r"misbehaving\[action=raise\] @ 4x seed 0")
    prefix = re.compile(r"\[[123]/3\] (" + "|".join(cells) + "): ")
    progress = [line for line in lines if not line.startswith(("benchsuite: ", "  "))]
    assert progress and all(prefix.match(line) for line in progress), progress
    # A bare line a plugin printed in a child process is forwarded with its cell's prefix.
    spy = [line for line in progress if line.endswith(": spy: cell starting")]
    assert len(spy) == len(CELLS)
    ends = [line for line in progress if ": ok  test AUC " in line or ": failed: " in line]
    assert sorted(prefix.match(line)[1] for line in ends) == sorted(
        ["full @ 1x seed 0", "hashing @ 4x seed 0", "misbehaving[action=raise] @ 4x seed 0"]
    )


def test_submitit_jobs_leave_no_files_once_their_records_are_written(ran):
    out = ran["submitit-local"]["out"]
    assert not (out / executors.JOBS_FOLDER).exists()


@pytest.fixture(scope="module")
def aborted(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """A cell whose process aborts, run by the process and submitit-local executors."""
    runs = {}
    for name in ("process", "submitit-local"):
        root = tmp_path_factory.mktemp(f"abort-{name}")
        suite = _suite(root, {"methods": ["misbehaving[action=abort]"]})
        out = root / "out"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("BENCHSUITE_CACHE_DIR", str(root / "cache"))
            code = main(
                ["run", "--suite", str(suite), "--out", str(out), "--executor", name, "--quiet",
                 "--plugins-dir", str(_plugins(root / "plugins"))]
            )  # fmt: skip
        runs[name] = {"code": code, "records": _records(out), "out": out}
    return runs


def test_a_child_that_dies_gets_a_failed_record_naming_the_signal(aborted):
    run = aborted["process"]
    rec = run["records"]["misbehaving[action=abort]@4x#0"]
    assert run["code"] == 1
    assert rec["status"] == "failed"
    assert "killed by signal SIGABRT" in rec["error"]
    assert "Fatal Python error: Aborted" in rec["stderr"]


def test_a_job_that_dies_gets_a_failed_record_from_its_log(aborted):
    run = aborted["submitit-local"]
    rec = run["records"]["misbehaving[action=abort]@4x#0"]
    assert run["code"] == 1
    assert rec["status"] == "failed"
    assert re.fullmatch(
        r"the cell's job \d+ ended without writing its record \(state \w+\): "
        r"Fatal Python error: Aborted",
        rec["error"],
    ), rec["error"]
    assert "Fatal Python error: Aborted" in rec["stderr"]
    assert rec["process"]["job_id"] and rec["process"]["state"]
    logs = Path(rec["process"]["logs"])  # a failed job's logs are kept
    assert logs.parent == (run["out"] / executors.JOBS_FOLDER).resolve() and logs.is_dir()
    assert rec["environment"]["hardware"]["profile"] == "cpu"  # the same machine: described


# -- choosing and checking an executor --------------------------------------------------------


def _run_cli(tmp_path: Path, *options: str) -> int:
    suite = _suite(tmp_path, {"methods": ["full"]})
    return main(["run", "--suite", str(suite), "--out", str(tmp_path / "out"), *options])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--jobs", "0"), "--jobs: '0' is not a number of cells at once (1 or more)"),
        (("--jobs", "two"), "--jobs: 'two' is not a number of cells at once (1 or more)"),
        (("--jobs", "-1"), "--jobs: '-1' is not a number of cells at once (1 or more)"),
        (("--executor", "local", "--jobs", "2"), "--executor local runs one at a time"),
        (("--executor", "process", "--slurm", "partition=gpu"), "does not apply to --executor"),
        (("--executor", "process", "--no-isolate"), "--no-isolate cannot apply to it"),
        (
            ("--executor", "submitit-local", "--slurm", "partion=gpu"),
            "--slurm: unknown key 'partion'; known keys: account, comment,",
        ),
        (
            ("--executor", "submitit-local", "--slurm", "partition"),
            "--slurm takes KEY=VALUE (e.g. partition=gpu), not 'partition'",
        ),
        (
            ("--executor", "submitit-local", "--slurm", "time=soon"),
            "--slurm time: 'soon' is not a whole number",
        ),
        (
            ("--executor", "submitit"),
            "--executor submitit: hardware 'auto' would be decided on this machine",
        ),
    ],
)
def test_bad_executor_options_exit_2_with_one_message(tmp_path, capsys, options, message):
    assert _run_cli(tmp_path, *options) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("benchsuite: error:") == 1
    assert not (tmp_path / "out").exists()  # nothing ran


def test_unknown_executor_is_refused_by_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _run_cli(tmp_path, "--executor", "dask")
    assert exit_.value.code == 2
    assert "invalid choice: 'dask'" in capsys.readouterr().err
    with pytest.raises(BenchsuiteError, match="unknown executor 'dask'; choose one of local"):
        executors.make_executor("dask")


def test_jobs_alone_means_the_process_executor():
    chosen = executors.make_executor(None, jobs="3")
    assert isinstance(chosen, executors.ProcessExecutor) and chosen.jobs == 3
    assert isinstance(executors.make_executor(None, jobs=1), executors.LocalExecutor)
    assert executors.make_executor("process").jobs == 1  # one at a time unless asked


def test_submitit_without_the_package_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now fails
    assert _run_cli(tmp_path, "--executor", "submitit", "--hardware", "cpu") == 2
    err = capsys.readouterr().err
    assert "--executor submitit needs the optional dependency submitit: " in err
    assert "pip install 'benchsuite[cluster]'" in err


def test_submitit_without_slurm_here_is_one_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun, no sbatch
    assert _run_cli(tmp_path, "--executor", "submitit", "--hardware", "cpu") == 2
    err = capsys.readouterr().err
    assert "--executor submitit: cannot submit jobs here: Could not detect" in err
    assert not list((tmp_path / "out").glob("*.json"))


def test_slurm_jobs_ask_for_the_suites_hardware_and_limits(builtin_host: Host):
    cpu = builtin_host.get("hardware", "cpu").cls(threads=4)
    run = SimpleNamespace(
        profile=cpu,
        limits=isolation.CellLimits(isolate=True, timeout=90.0, memory_limit=8 * 2**30),
    )
    chosen = executors.SubmititExecutor(
        local=False, jobs=None, slurm=executors.parse_slurm(["partition=gpu", "time=30"])
    )
    assert chosen.parameters(run) == {
        "timeout_min": 2 + executors.JOB_START_MINUTES,  # 90 s, rounded up, and start-up
        "cpus_per_task": 4,
        "mem_gb": 8.0,
        "slurm_partition": "gpu",
        "slurm_time": 30,  # --slurm wins over the suite's limit on SLURM
    }
    run.limits = isolation.CellLimits(isolate=True)
    run.profile = builtin_host.get("hardware", "cuda").cls(device=[0, 2])
    assert executors.SubmititExecutor(local=False, jobs=None, slurm={}).parameters(run) == {
        "timeout_min": executors.DEFAULT_JOB_MINUTES,
        "gpus_per_node": 3,  # the job's GPUs are numbered from 0
    }


def test_slurm_options_are_read_as_submitits_types():
    assert executors.parse_slurm(
        ["partition=gpu", "cpus-per-task=8", "exclusive=true", "setup=module load a",
         "setup=module load b", "mem=64G"]
    ) == {
        "partition": "gpu", "cpus_per_task": 8, "exclusive": True,
        "setup": ["module load a", "module load b"], "mem": "64G",
    }  # fmt: skip


FAKE_SBATCH = """#!/bin/sh
cat "$1" > {capture}
echo "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2
exit 1
"""


def test_submitit_submits_each_cell_to_sbatch_with_its_resources(tmp_path, capsys, monkeypatch):
    """Through submitit's SLURM executor up to sbatch (a stand-in that keeps the batch script
    and refuses it, as a cluster does for an unknown partition)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    capture = tmp_path / "script.sh"
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(capture=capture))
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code = _run_cli(
        tmp_path, "--executor", "submitit", "--hardware", "cpu[threads=4]", "--timeout", "90s",
        "--slurm", "partition=nope", "--slurm", "account=proj", "--slurm", "setup=module load x",
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert (
        "benchsuite: error: cell full @ 1x seed 0: submitting its job failed: sbatch: error: "
        "Batch job submission failed: Invalid partition name specified"
    ) in err
    script = capture.read_text()
    for line in (
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=7",
        "#SBATCH --partition=nope",
        "#SBATCH --account=proj",
        "#SBATCH --job-name=benchsuite-tiny-full-1x-0",
        "module load x",
    ):
        assert line in script.splitlines(), line
    out = tmp_path / "out"
    assert not list(out.glob("*.json")) and not (out / ".locks").exists()


def test_a_jobs_time_limit_warning_past_the_cells_limit_ends_it_as_timeout():
    """submitit's SIGUSR2 before the job's time limit: the cell's own timeout once past its
    limit, else (a preemption) submitit's handler, which was there before."""
    original = signal.getsignal(signal.SIGUSR2)
    seen: list[int] = []
    signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        deadline = Deadline(60.0)
        _cell._time_limit_warning_ends(deadline)
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(0.05)
        assert seen == [signal.SIGUSR2] and not deadline.expired
        deadline.start -= 61.0  # the cell is past its limit, stuck inside one step
        with pytest.raises(CellTimeout, match=r"inside one step \(stopped by SIGUSR2\)"):
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.05)
        assert deadline.expired and seen == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, original)
