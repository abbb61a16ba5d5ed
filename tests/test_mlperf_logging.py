"""MLPerf-style logging: one :::MLLOG log per cell beside its record, and its compliance check."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from conftest import TINY_SUITE, tiny_suite_file

from benchsuite import results
from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.suite import SuiteError, load_suite
from benchsuite.training import make_optimizer
from benchsuite_plugins.loggers import mlperf

REQUIRED_KEYS = {
    "cache_clear",
    "init_start",
    "init_stop",
    "run_start",
    "run_stop",
    "submission_benchmark",
    "submission_org",
    "submission_division",
    "submission_status",
    "submission_platform",
    "global_batch_size",
    "gradient_accumulation_steps",
    "seed",
    "opt_name",
    "opt_base_learning_rate",
    "eval_start",
    "eval_accuracy",
    "eval_stop",
    "train_samples",
    "eval_samples",
}
ADAGRAD_KEYS = {  # DLRM-DCNv2's names
    "opt_adagrad_learning_rate_decay",
    "opt_adagrad_initial_accumulator_value",
    "opt_adagrad_epsilon",
    "opt_learning_rate_decay_start_step",
    "opt_learning_rate_decay_steps",
}
SGD_KEYS = {
    "sgd_opt_base_learning_rate",
    "lr_decay_start_steps",
    "sgd_opt_learning_rate_decay_steps",
}


def _suite(folder: Path, **overrides: Any) -> Path:
    return tiny_suite_file(folder / "suite.yaml", overrides)


def _run(suite: Path, out: Path) -> int:
    return main(["run", "--suite", str(suite), "--out", str(out), "--quiet"])


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix(":::MLLOG ")) for line in path.read_text().splitlines()]


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {r["cell"]["key"]: r for r in results.load_records(out)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two runs of the tiny suite with logging on: one reaches its target AUC (SGD, two
    cells), one cannot (Adagrad, target 0.99)."""
    out = {}
    for name, overrides in {
        "reached": {"train.target_auc": 0.55},
        "missed": {"train.target_auc": 0.99, "train.optimizer": "adagrad", "methods": ["hashing"]},
    }.items():
        folder = tmp_path_factory.mktemp(name)
        assert _run(_suite(folder, mlperf_logging=True, **overrides), folder / "out") == 0
        out[name] = folder / "out"
    return out


def _cells(out: Path) -> list[tuple[dict[str, Any], Path]]:
    """Each record with its log, found through the record's ``artifacts``."""
    return [(r, out / r["artifacts"]["mllog"]) for r in _records(out).values()]


def test_each_cell_log_sits_beside_its_record_named_after_it(runs):
    out = runs["reached"]
    cells = _cells(out)
    assert len(cells) == 2
    for record, log in cells:
        assert log.is_file()
        assert log == results.record_path(out, record["cell"]["key"]).with_suffix(".mllog")


def test_every_line_is_an_mllog_record_and_the_required_keys_are_there(runs):
    for out in runs.values():
        for _, log in _cells(out):
            lines = log.read_text().splitlines()
            assert lines and all(line.startswith(":::MLLOG {") for line in lines)
            assert {e["key"] for e in _entries(log)} >= REQUIRED_KEYS


def test_submission_and_hyperparameters_describe_the_cell(runs):
    record, log = _cells(runs["missed"])[0]
    values = {e["key"]: e["value"] for e in _entries(log)}
    assert values["submission_benchmark"] == "dlrm"
    assert values["submission_division"] == "open"
    assert values["submission_platform"] == record["config"]["hardware"]
    assert values["global_batch_size"] == TINY_SUITE["train"]["batch_size"]
    assert values["gradient_accumulation_steps"] == 1
    assert values["seed"] == record["cell"]["seed"]
    assert values["opt_name"] == "adagrad"
    assert values["opt_base_learning_rate"] == TINY_SUITE["train"]["lr"]
    assert values["train_samples"] == TINY_SUITE["dataset"]["params"]["train_samples"]
    assert values["eval_samples"] == TINY_SUITE["dataset"]["params"]["validation_samples"]
    assert set(values) >= ADAGRAD_KEYS and not set(values) & SGD_KEYS


def test_sgd_runs_log_dlrm_v1_keys_and_no_adagrad_keys(runs):
    for _, log in _cells(runs["reached"]):
        values = {e["key"]: e["value"] for e in _entries(log)}
        assert set(values) >= SGD_KEYS and not set(values) & ADAGRAD_KEYS
        assert values["sgd_opt_base_learning_rate"] == values["opt_base_learning_rate"]


@pytest.mark.parametrize("name", ["adagrad", "sgd"])
def test_logged_optimizer_values_are_those_of_the_optimizer_that_trains(name):
    from mlperf_logging.mllog import constants as c

    param = torch.nn.Parameter(torch.zeros(2))
    group = make_optimizer(name, [param], 0.1).param_groups[0]
    keys = mlperf._optimizer_keys(c, name, 0.1)
    assert keys[c.OPT_WEIGHT_DECAY] == group["weight_decay"]
    if name == "adagrad":
        assert keys[c.OPT_ADAGRAD_LR_DECAY] == group["lr_decay"]
        assert keys[c.OPT_ADAGRAD_INITIAL_ACCUMULATOR_VALUE] == group["initial_accumulator_value"]
        assert keys[c.OPT_ADAGRAD_EPSILON] == group["eps"]


def test_one_eval_accuracy_per_evaluation_with_increasing_fractional_epoch(runs):
    train_rows = TINY_SUITE["dataset"]["params"]["train_samples"]
    for out in runs.values():
        for record, log in _cells(out):
            accuracy = [e for e in _entries(log) if e["key"] == "eval_accuracy"]
            curve = record["curve"]
            assert len(accuracy) == len(curve) == 2
            assert [e["value"] for e in accuracy] == [p["auc"] for p in curve]
            epochs = [e["metadata"]["epoch_num"] for e in accuracy]
            assert epochs == [p["samples"] / train_rows for p in curve] == [0.5, 1.0]


def test_events_are_in_time_order_and_the_run_brackets_the_evaluations(runs):
    for _, log in _cells(runs["reached"]):
        entries = _entries(log)
        times = [e["time_ms"] for e in entries]
        assert times == sorted(times)
        at = {e["key"]: e["time_ms"] for e in entries}  # the last of each key
        first_eval = next(e["time_ms"] for e in entries if e["key"] == "eval_start")
        assert at["init_start"] <= at["init_stop"] == at["run_start"] <= first_eval
        assert at["eval_stop"] == at["run_stop"]  # training stops with its last evaluation


@pytest.mark.parametrize("name, status", [("reached", "success"), ("missed", "aborted")])
def test_run_stop_status_follows_target_reached(runs, name, status):
    for record, log in _cells(runs[name]):
        [stop] = [e for e in _entries(log) if e["key"] == "run_stop"]
        assert record["metrics"]["target_reached"] is (status == "success")
        assert stop["metadata"]["status"] == status


@pytest.mark.parametrize("stock", [False, True])
def test_logs_comply_with_the_project_rules_and_the_stock_open_division_rules(runs, stock):
    for out in runs.values():
        for _, log in _cells(out):
            report = mlperf.check_log(log, stock=stock)
            assert report.passed, report.problems


def test_cli_check_passes_good_logs(runs, capsys):
    logs = [str(log) for _, log in _cells(runs["reached"])]
    assert main(["mlperf", "check", *logs]) == 0
    assert capsys.readouterr().out.count("complies with mlperf_rules.yaml") == 2


def _corrupt(log: Path, folder: Path, edit) -> Path:
    bad = folder / "bad.mllog"
    bad.write_text("\n".join(edit(log.read_text().splitlines())) + "\n")
    return bad


def test_truncated_line_fails_the_check_naming_the_file_and_line(runs, tmp_path, capsys):
    _, log = _cells(runs["reached"])[0]
    bad = _corrupt(log, tmp_path, lambda lines: [*lines[:5], lines[5][:40], *lines[6:]])
    report = mlperf.check_log(bad)
    assert not report.passed
    assert report.problems == [f"{bad}:6: not valid JSON after ':::MLLOG' (" + _json_error(bad)]
    assert main(["mlperf", "check", str(bad)]) == 1
    assert "bad.mllog:6: not valid JSON" in capsys.readouterr().out


def _json_error(bad: Path) -> str:
    body = bad.read_text().splitlines()[5].removeprefix(":::MLLOG ")
    try:
        json.loads(body)
    except ValueError as exc:
        return f"{exc})"
    raise AssertionError("the corrupted line parses")


def test_missing_run_stop_fails_the_check(runs, tmp_path):
    _, log = _cells(runs["reached"])[0]
    bad = _corrupt(log, tmp_path, lambda lines: [ln for ln in lines if '"run_stop"' not in ln])
    assert mlperf.check_log(bad).problems == [
        "Required EXACTLY_ONE occurrence of 'run_stop' but found 0"
    ]


def test_run_stop_status_that_contradicts_the_target_fails_the_check(runs, tmp_path):
    _, log = _cells(runs["reached"])[0]
    bad = _corrupt(
        log, tmp_path, lambda lines: [ln.replace('"success"', '"aborted"') for ln in lines]
    )
    [problem] = mlperf.check_log(bad).problems
    stop_line = next(
        n for n, ln in enumerate(bad.read_text().splitlines(), 1) if '"run_stop"' in ln
    )
    assert problem.startswith(f"CHECK for 'run_stop' failed at bad.mllog:{stop_line}:")


def test_repeated_key_fails_the_check(runs, tmp_path):
    _, log = _cells(runs["reached"])[0]
    bad = _corrupt(
        log, tmp_path, lambda lines: [*lines, *[ln for ln in lines if "run_start" in ln]]
    )
    assert mlperf.check_log(bad).problems == [
        "Required EXACTLY_ONE occurrence of 'run_start' but found 2"
    ]


def test_adagrad_keys_in_an_sgd_log_fail_the_check(runs, tmp_path):
    _, sgd_log = _cells(runs["reached"])[0]
    _, adagrad_log = _cells(runs["missed"])[0]
    extra = [ln for ln in adagrad_log.read_text().splitlines() if "opt_adagrad_epsilon" in ln]
    bad = _corrupt(sgd_log, tmp_path, lambda lines: [*lines, *extra])
    [problem] = mlperf.check_log(bad).problems
    assert problem.startswith("at the end of bad.mllog, failed test:") and "sgd" in problem


def test_unreadable_log_and_unknown_rules_file_are_bad_input(runs, tmp_path, capsys):
    assert main(["mlperf", "check", str(tmp_path / "none.mllog")]) == 2
    assert "none.mllog: cannot read" in capsys.readouterr().err
    _, log = _cells(runs["reached"])[0]
    assert main(["mlperf", "check", "--rules", str(tmp_path / "r.yaml"), str(log)]) == 2
    assert "r.yaml: no such rules file" in capsys.readouterr().err


def test_suite_without_the_key_writes_no_log(write_suite, tmp_path):
    out = tmp_path / "out"
    assert _run(write_suite({"methods": ["full"]}), out) == 0
    assert not list(out.glob("*.mllog"))
    [record] = _records(out).values()
    assert "artifacts" not in record and "mlperf_logging" not in record["config"]


def test_missing_package_is_one_clear_warning_and_the_cell_still_runs(
    write_suite, tmp_path, monkeypatch
):
    for name in ["mlperf_logging", *(m for m in sys.modules if m.startswith("mlperf_logging."))]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    out = tmp_path / "out"
    with pytest.warns(RuntimeWarning, match="benchsuite\\[mlperf\\]"):
        assert _run(write_suite({"methods": ["full"], "mlperf_logging": True}), out) == 0
    [record] = _records(out).values()
    assert record["status"] == "ok" and not list(out.glob("*.mllog"))
    [warning] = record["warnings"]
    assert "mlperf-logging package" in warning and "pip install 'benchsuite[mlperf]'" in warning
    with pytest.raises(BenchsuiteError, match="pip install 'benchsuite\\[mlperf\\]'"):
        mlperf.check_log(tmp_path / "any.mllog")


def test_suite_key_must_be_a_boolean(write_suite, builtin_host):
    with pytest.raises(SuiteError, match="key 'mlperf_logging' must be true or false"):
        load_suite(write_suite({"mlperf_logging": "yes"}), builtin_host)


def test_event_hooks_with_and_without_run_dir_are_both_called(write_plugin, host_with, tmp_path):
    write_plugin(
        "old",
        """
        from benchsuite.hookspecs import hookimpl
        SEEN = []

        @hookimpl
        def benchsuite_cell_end(cell, record):
            SEEN.append(record["status"])
    """,
    )
    write_plugin(
        "new",
        """
        from benchsuite.hookspecs import hookimpl
        SEEN = []

        @hookimpl
        def benchsuite_cell_end(cell, record, run_dir):
            SEEN.append(run_dir)
    """,
    )
    host = host_with()
    cell = SimpleNamespace(key="full@1x#0")
    problems = host.notify(
        "benchsuite_cell_end", cell=cell, record={"status": "ok"}, run_dir=tmp_path
    )
    assert problems == []
    modules = {p.name: p.module for p in host.plugins}
    seen_old, seen_new = modules["old"].SEEN, modules["new"].SEEN
    assert seen_old == ["ok"] and seen_new == [tmp_path]
