"""Isolated cells, time limits and divergence: a crash, an out-of-memory kill, a hang or a
collapsing AUC is one cell's record, and the suite goes on."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import tiny_suite_file

from benchsuite import isolation, results, runner
from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.guards import COLLAPSE_BAND, auc_collapse, parse_duration, parse_size

# Methods that misbehave on purpose, in build or in forward, as `misbehaving[action=…]`.
MISBEHAVING = """
    import ctypes
    import os
    import signal
    import time

    import torch
    from torch import nn

    from benchsuite.api import Method
    from benchsuite.hookspecs import hookimpl

    #: A hog that was not stopped gives up here, so a broken limit cannot take the machine down.
    HOG_CAP = 6 * 2**30


    def act(action):
        if action == "abort":
            os.abort()
        if action == "segfault":
            ctypes.string_at(0)
        if action == "raise":
            raise RuntimeError("kernel exploded")
        if action == "hang":
            time.sleep(3600)
        if action == "stubborn":  # a hang that ignores SIGTERM, as one inside C code does
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(3600)
        if action == "slow":
            time.sleep(1)
        if action == "hog":
            hoard = []
            while len(hoard) * 2**24 < HOG_CAP:
                hoard.append(torch.ones(2**22))  # 16 MB, touched
            raise RuntimeError("allocated 6 GiB and was never stopped")


    class Lookup(nn.Module):
        def __init__(self, dim, action):
            super().__init__()
            self.table = nn.Embedding(64, dim)
            self.action = action

        def forward(self, ids):
            act(self.action)
            return self.table(ids % 64)


    class Misbehaving(Method):
        name = "misbehaving"
        summary = "Misbehaves on purpose (test)"
        defaults = {"action": "none", "when": "forward"}

        def build(self, tables, dim, budget, stats, seed):
            if self.params["when"] == "build":
                act(self.params["action"])
            return Lookup(dim, self.params["action"])


    @hookimpl
    def benchsuite_register_methods():
        return [Misbehaving]
"""

# Notes every cell start with the pid of the process that ran it.
SPY = """
    import os

    from benchsuite.hookspecs import hookimpl

    LOG = {log!r}


    @hookimpl
    def benchsuite_cell_start(cell):
        with open(LOG, "a") as handle:
            handle.write(f"{{os.getpid()}} {{cell.key}}\\n")
"""

# Cells that train in well under a second, so time limits of a few seconds are generous.
QUICK = {
    "train.samples": 2048,
    "train.eval_every": 1024,
    "inference.batches": 1,
    "methods": ["full"],
}


def _suite(folder: Path, overrides: dict[str, Any], drop: tuple[str, ...] = ()) -> Path:
    return tiny_suite_file(folder / "suite.yaml", {**QUICK, **overrides}, drop=drop)


def _plugins(folder: Path, **spies: Path) -> Path:
    """The misbehaving methods, and a spy plugin per name logging cell starts to its path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "misbehaving.py").write_text(textwrap.dedent(MISBEHAVING))
    for name, log in spies.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(SPY.format(log=str(log))))
    return folder


def _run(suite: Path, out: Path, plugins: Path, *extra: str) -> int:
    return main(
        ["run", "--suite", str(suite), "--out", str(out), "--plugins-dir", str(plugins), *extra]
    )


def _records(out: Path) -> dict[str, dict]:
    return {r["cell"]["key"]: r for r in results.load_records(out)}


CRASHES = [
    "full",
    "misbehaving[action=abort,when=build]",
    "misbehaving[action=segfault]",
    "misbehaving[action=raise]",
    "misbehaving[action=hog]",
]
MEMORY_LIMIT = 1_200_000_000


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> dict[str, Any]:
    """One isolated run of a suite whose cells abort, segfault, raise and allocate without
    bound, beside a healthy one; what it printed, returned and recorded."""
    root = tmp_path_factory.mktemp("crashes")
    capture = root / "stderr.txt"
    spy_log, muted_log, hushed_log = root / "starts.txt", root / "muted.txt", root / "hushed.txt"
    plugins = _plugins(root / "plugins", spy=spy_log, muted=muted_log, hushed=hushed_log)
    suite = _suite(root, {"methods": CRASHES})
    out = root / "out"
    with pytest.MonkeyPatch.context() as mp, capture.open("w") as err:
        mp.setenv("BENCHSUITE_CACHE_DIR", str(root / "cache"))
        mp.setenv("BENCHSUITE_DISABLE_PLUGINS", "hushed")
        mp.setattr("sys.stderr", err)
        code = _run(
            suite, out, plugins, "--isolate", "--memory-limit", "1.2GB", "-p", "no:muted", "--quiet"
        )
    return {
        "code": code,
        "stderr": capture.read_text(),
        "records": _records(out),
        "starts": spy_log.read_text().splitlines(),
        "muted_ran": muted_log.exists(),
        "hushed_ran": hushed_log.exists(),
    }


def test_abort_in_build_is_a_failed_record_naming_the_signal(crashed):
    rec = crashed["records"]["misbehaving[action=abort,when=build]@4x#0"]
    assert rec["status"] == "failed"
    assert "killed by signal SIGABRT" in rec["error"]
    assert rec["process"] == {"returncode": -6, "signal": "SIGABRT"}
    assert "Fatal Python error: Aborted" in rec["stderr"]  # the child's own stack, kept


def test_segfault_in_forward_is_a_failed_record_with_the_python_stack(crashed):
    rec = crashed["records"]["misbehaving[action=segfault]@4x#0"]
    assert rec["status"] == "failed"
    assert rec["error"] == "the cell's process was killed by signal SIGSEGV (segmentation fault)"
    assert "Segmentation fault" in rec["stderr"] and "in forward" in rec["stderr"]
    assert rec["started_at"] <= rec["finished_at"] and rec["config_hash"]


def test_unbounded_allocation_is_killed_at_the_memory_limit(crashed):
    rec = crashed["records"]["misbehaving[action=hog]@4x#0"]
    assert rec["status"] == "failed"
    assert rec["error"].startswith("exceeded the memory limit")
    assert "over the limit of 1,200 MB" in rec["error"]
    assert rec["process"]["signal"] == "SIGKILL"
    assert MEMORY_LIMIT < rec["process"]["resident_bytes"] < 3 * MEMORY_LIMIT


def test_exception_in_an_isolated_cell_is_recorded_by_the_cell_itself(crashed):
    rec = crashed["records"]["misbehaving[action=raise]@4x#0"]
    assert rec["status"] == "failed"
    assert rec["error"] == "RuntimeError: kernel exploded"
    assert "kernel exploded" in rec["traceback"] and "process" not in rec


def test_healthy_cells_still_run_and_the_run_reports_the_failures(crashed):
    records = crashed["records"]
    assert len(records) == len(CRASHES)
    assert records["full@1x#0"]["status"] == "ok"
    assert crashed["code"] == 1
    assert "4 cell(s) failed or timed out" in crashed["stderr"]


def test_event_hooks_of_the_plugin_folder_run_in_each_cells_own_process(crashed):
    starts = [line.split() for line in crashed["starts"]]
    assert sorted(key for _, key in starts) == sorted(crashed["records"])
    pids = {int(pid) for pid, _ in starts}
    assert os.getpid() not in pids and len(pids) == len(CRASHES)


def test_disabled_plugins_stay_disabled_in_the_cells_process(crashed):
    assert not crashed["muted_ran"]  # -p no:muted reached every cell's process
    assert not crashed["hushed_ran"]  # and so did $BENCHSUITE_DISABLE_PLUGINS


@pytest.fixture(scope="module")
def hung(tmp_path_factory) -> dict[str, Any]:
    """One run of a suite with isolate and timeout keys whose cells hang in a step, one of
    them ignoring SIGTERM, beside a healthy one."""
    root = tmp_path_factory.mktemp("hangs")
    plugins = _plugins(root / "plugins")
    methods = ["misbehaving[action=hang]", "misbehaving[action=stubborn]", "full"]
    # No name nor description: what the cell's process is told must still validate.
    suite = _suite(
        root, {"isolate": True, "timeout": "5s", "methods": methods}, drop=("name", "description")
    )
    out = root / "out"
    capture = root / "stderr.txt"
    with pytest.MonkeyPatch.context() as mp, capture.open("w") as err:
        mp.setenv("BENCHSUITE_CACHE_DIR", str(root / "cache"))
        mp.setattr(isolation, "KILL_GRACE", 1.0)
        mp.setattr("sys.stderr", err)
        code = _run(suite, out, plugins, "--quiet")
    return {"code": code, "stderr": capture.read_text(), "records": _records(out)}


def test_hang_inside_a_step_times_out_with_the_suites_keys(hung):
    rec = hung["records"]["misbehaving[action=hang]@4x#0"]
    assert rec["status"] == "timeout"
    assert re.fullmatch(
        r"timed out after \d+\.\d s \(limit 5\.0 s\) inside one step \(stopped by SIGTERM\)",
        rec["error"],
    )
    assert 5 <= rec["metrics"]["elapsed_seconds"] < 5 + isolation.TERM_GRACE + 1
    assert rec["metrics"]["timeout_seconds"] == 5


def test_hang_that_ignores_sigterm_is_killed_and_recorded_by_the_run(hung):
    rec = hung["records"]["misbehaving[action=stubborn]@4x#0"]
    assert rec["status"] == "timeout"
    assert rec["error"].startswith("timed out after")
    assert rec["error"].endswith("was sent SIGTERM and killed by signal SIGKILL")
    assert rec["process"]["signal"] == "SIGKILL"
    assert rec["metrics"]["timeout_seconds"] == 5
    assert rec["metrics"]["elapsed_seconds"] >= 5 + isolation.TERM_GRACE + 1  # 1: KILL_GRACE


def test_cells_after_a_hang_still_run(hung):
    assert hung["records"]["full@1x#0"]["status"] == "ok"
    assert hung["code"] == 1 and "2 cell(s) failed or timed out" in hung["stderr"]


def test_timeout_without_isolation_stops_between_steps(tmp_path):
    plugins = _plugins(tmp_path / "plugins")
    suite = _suite(
        tmp_path,
        {
            "train.samples": 8192,
            "train.eval_every": None,  # evaluating (a slow forward per batch) only at the end
            "methods": ["misbehaving[action=slow]", "full"],
            "timeout": 60,  # replaced by --timeout
        },
    )
    out = tmp_path / "out"
    assert _run(suite, out, plugins, "--timeout", "6", "--quiet") == 1
    records = _records(out)
    rec = records["misbehaving[action=slow]@4x#0"]
    assert rec["status"] == "timeout"
    match = re.fullmatch(
        r"timed out after (\S+) s \(limit 6\.0 s\) at step (\d+) \(([\d,]+) samples\)",
        rec["error"],
    )
    assert match, rec["error"]
    step, samples = int(match[2]), int(match[3].replace(",", ""))
    assert 1 <= step < 16 and samples == step * 512  # stopped early, between two steps
    assert 6 <= rec["metrics"]["elapsed_seconds"] < 9  # at most one slow step late
    assert records["full@1x#0"]["status"] == "ok"


def test_memory_limit_needs_isolation(tmp_path, capsys):
    suite = _suite(tmp_path, {"memory_limit": "2GB"})
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "needs isolation: set isolate: true in the suite or pass --isolate" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("timeout", "soon", "key 'timeout' must be seconds"),
        ("timeout", -3, "key 'timeout' must be seconds"),
        ("memory_limit", "16x", "key 'memory_limit' must be a size"),
        ("isolate", "yes", "key 'isolate' must be true or false"),
    ],
)
def test_bad_limit_keys_are_suite_errors(tmp_path, capsys, key, value, problem):
    suite = _suite(tmp_path, {key: value})
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "out")]) == 2
    assert problem in capsys.readouterr().err


def test_bad_command_line_limits_name_the_option(tmp_path, capsys):
    suite = _suite(tmp_path, {})
    assert main(["run", "--suite", str(suite), "--timeout", "later"]) == 2
    assert "--timeout: 'later' is not a duration" in capsys.readouterr().err
    assert main(["run", "--suite", str(suite), "--isolate", "--memory-limit", "lots"]) == 2
    assert "--memory-limit: 'lots' is not a size" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0),
     ("1h30m", 5400.0), ("1h 30m", 5400.0), ("500ms", 0.5), ("1d", 86400.0)],
)  # fmt: skip
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text, "timeout") == seconds


@pytest.mark.parametrize("text", ["", "soon", "2 hours", "h", "0", "-1m", True, "1h-30m"])
def test_bad_durations_are_refused(text):
    with pytest.raises(BenchsuiteError, match=r"^timeout: "):
        parse_duration(text, "timeout")


def test_sizes_parse_to_bytes():
    assert parse_size("800MB", "m") == 800_000_000
    assert parse_size("4GiB", "m") == 4 * 2**30
    assert parse_size(1024, "m") == 1024
    for bad in ("16x", "lots", 0, 1.5, None):
        with pytest.raises(BenchsuiteError, match=r"^m: "):
            parse_size(bad, "m")


def test_command_line_none_switches_the_suites_limits_off():
    limits = isolation.resolve_limits(
        {"isolate": True, "timeout": "2h", "memory_limit": "8GB"},
        timeout="none",
        memory_limit="none",
    )
    assert limits == isolation.CellLimits(isolate=True)
    assert isolation.resolve_limits({"timeout": 30}, isolate=False).timeout == 30.0


# -- AUC collapse -----------------------------------------------------------------------------


def _curve(*aucs: float) -> list[dict[str, Any]]:
    return [{"samples": 1024 * (i + 1), "auc": auc} for i, auc in enumerate(aucs)]


@pytest.mark.parametrize(
    "aucs",
    [(0.62, 0.70, 0.5), (0.55, 0.5 + COLLAPSE_BAND), (0.71, 0.66, 0.4990)],
)
def test_auc_falling_back_to_chance_after_learning_is_a_collapse(aucs):
    assert auc_collapse(_curve(*aucs)) == (aucs[-1], max(aucs[:-1]))


@pytest.mark.parametrize(
    "aucs",
    [
        (0.5,),  # the first evaluation alone never is
        (0.70,),
        (0.5, 0.503, 0.498, 0.501),  # never learned: poor, not diverged
        (0.54, 0.5),  # never clearly above chance
        (0.62, 0.58, 0.56),  # falling, not at chance
        (0.62, 0.5 - 2 * COLLAPSE_BAND),  # outside the band
    ],
)
def test_no_collapse_without_a_learned_model_falling_to_chance(aucs):
    assert auc_collapse(_curve(*aucs)) is None


def test_collapsing_validation_auc_stops_the_cell_as_diverged(write_suite, tmp_path, monkeypatch):
    aucs = iter([0.70, 0.5])  # the validation AUC of the two evaluations
    real = runner.evaluate

    def fake_evaluate(model, batches, device):
        labels, scores = real(model, batches, device)[2:]
        return next(aucs, 0.7), 0.6, labels, scores

    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    out = tmp_path / "out"
    suite = write_suite({"methods": ["full"]})
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    rec = _records(out)["full@1x#0"]
    assert rec["status"] == "diverged"
    assert rec["error"] == (
        "validation AUC collapsed to 0.5000 at step 16 (8,192 samples) after reaching 0.7000"
    )
    assert rec["metrics"]["diverged_at_samples"] == 8192
    assert rec["metrics"]["diverged_at_step"] == 16


def test_healthy_runs_never_collapse(write_suite, tmp_path):
    out = tmp_path / "out"
    suite = write_suite({"train.eval_every": 1024})
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    records = _records(out)
    assert len(records) == 2 and all(r["status"] == "ok" for r in records.values())
    for record in records.values():
        curve = record["curve"]
        assert len(curve) == 8
        assert all(auc_collapse(curve[:n]) is None for n in range(1, len(curve) + 1))
