"""Running suites: records written, resume and --force, failures isolated, budgets enforced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchsuite import results
from benchsuite.cli import main

BAD_METHODS = """
    import torch
    from torch import nn
    from benchsuite.api import Infeasible, Method
    from benchsuite.hookspecs import hookimpl

    class Crashing(Method):
        name = "crashing"
        summary = "Raises in forward (test)"

        def build(self, tables, dim, budget, stats, seed):
            class Boom(nn.Module):
                def forward(self, ids):
                    raise RuntimeError("kernel exploded")
            return Boom()

    class Greedy(Method):
        name = "greedy"
        summary = "Ignores its budget (test)"

        def build(self, tables, dim, budget, stats, seed):
            return nn.Embedding(sum(t.rows for t in tables) * 2, dim)

    class Picky(Method):
        name = "picky"
        summary = "Cannot meet any budget (test)"

        def build(self, tables, dim, budget, stats, seed):
            raise Infeasible(f"picky needs more than {budget} bytes")

    @hookimpl
    def benchsuite_register_methods():
        return [Crashing, Greedy, Picky]
"""


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", "--suite", str(suite), "--out", str(out), "--quiet", *extra])


def _records(out: Path) -> dict[str, dict]:
    return {r["cell"]["key"]: r for r in results.load_records(out)}


def test_run_writes_one_complete_record_per_cell(write_suite, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(write_suite(), out) == 0
    records = _records(out)
    assert set(records) == {"full@1x#0", "hashing@4x#0"}
    rec = records["hashing@4x#0"]
    assert rec["status"] == "ok" and rec["error"] is None
    m = rec["metrics"]
    assert 0.5 < m["test_auc"] < 1 and m["test_logloss"] > 0
    assert m["bayes_auc"] > m["test_auc"]
    assert m["embedding_bytes"] <= m["budget_bytes"] == m["full_bytes"] // 4
    assert m["compression_ratio"] >= 4
    assert m["train_samples"] == 8192 and m["train_samples_per_s"] > 0
    assert 0 <= m["data_wait_share"] <= 1
    assert set(m["inference_samples_per_s"]) == {"512"}
    assert m["optimizer_state_bytes"] == 0  # plain SGD keeps no state
    assert "bytes" in m["peak_memory"] or "unmeasured" in m["peak_memory"]
    assert [p["samples"] for p in rec["curve"]] == [4096, 8192]
    assert m["best_val_auc"] == max(p["auc"] for p in rec["curve"])
    env = rec["environment"]
    assert env["torch"] and env["hardware"]["profile"] == "cpu"
    assert rec["dataset"]["fingerprint"] and rec["suite"]["hash"]
    assert rec["plugin"]["source"].startswith("entry point")
    # the leaderboard is printed and written beside the records
    assert "hashing" in capsys.readouterr().out
    assert (out / "leaderboard.md").read_text().count("|") > 10


def test_target_reached_records_samples_and_seconds(write_suite, tmp_path):
    out = tmp_path / "out"
    _run(write_suite({"train.target_auc": 0.51, "methods": ["full"]}), out)
    m = _records(out)["full@1x#0"]["metrics"]
    assert m["target_reached"] and m["samples_to_target"] in (4096, 8192)
    assert 0 < m["seconds_to_target"] <= m["train_seconds"]


def test_unreachable_target_is_not_reached(write_suite, tmp_path):
    out = tmp_path / "out"
    _run(write_suite({"train.target_auc": 0.99, "methods": ["full"]}), out)
    m = _records(out)["full@1x#0"]["metrics"]
    assert m["target_reached"] is False and m["samples_to_target"] is None


def test_stop_at_target_ends_training_early(write_suite, tmp_path):
    out = tmp_path / "out"
    _run(
        write_suite({"train.target_auc": 0.51, "train.stop_at_target": True, "methods": ["full"]}),
        out,
    )
    m = _records(out)["full@1x#0"]["metrics"]
    assert m["train_samples"] == m["samples_to_target"] == 4096


def test_rerun_skips_done_cells_and_force_reruns_them(write_suite, tmp_path, capsys):
    out, suite = tmp_path / "out", write_suite({"methods": ["full"]})
    _run(suite, out)
    first = _records(out)["full@1x#0"]["started_at"], (out / "leaderboard.md").stat()
    path = results.record_path(out, "full@1x#0")
    stamp = path.stat().st_mtime_ns
    main(["run", "--suite", str(suite), "--out", str(out)])
    assert path.stat().st_mtime_ns == stamp
    assert "skipped" in capsys.readouterr().err
    _run(suite, out, "--force")
    assert path.stat().st_mtime_ns != stamp
    assert first[0] <= _records(out)["full@1x#0"]["started_at"]


def test_changed_configuration_reruns_the_cell(write_suite, tmp_path):
    out = tmp_path / "out"
    _run(write_suite({"methods": ["full"]}), out)
    path = results.record_path(out, "full@1x#0")
    stamp = path.stat().st_mtime_ns
    _run(write_suite({"methods": ["full"], "train.lr": 0.05}), out)
    assert path.stat().st_mtime_ns != stamp
    assert _records(out)["full@1x#0"]["config"]["train"]["lr"] == 0.05


def test_failing_cell_is_recorded_and_the_suite_goes_on(
    write_suite, write_plugin, plugins_dir, tmp_path, capsys
):
    write_plugin("bad_methods", BAD_METHODS)
    out = tmp_path / "out"
    suite = write_suite({"methods": ["crashing", "hashing"]})
    code = _run(suite, out, "--plugins-dir", str(plugins_dir))
    assert code == 1
    records = _records(out)
    assert records["crashing@4x#0"]["status"] == "failed"
    assert "RuntimeError: kernel exploded" in records["crashing@4x#0"]["error"]
    assert records["hashing@4x#0"]["status"] == "ok"
    assert "kernel exploded" in capsys.readouterr().err


def test_method_over_its_budget_is_recorded_over_budget_without_training(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    write_plugin("bad_methods", BAD_METHODS)
    out = tmp_path / "out"
    assert _run(write_suite({"methods": ["greedy"]}), out, "--plugins-dir", str(plugins_dir)) == 0
    rec = _records(out)["greedy@4x#0"]
    assert rec["status"] == "over_budget"
    assert rec["metrics"]["embedding_bytes"] > rec["metrics"]["budget_bytes"]
    assert rec["metrics"]["train_samples"] == 0 and "budget" in rec["error"]


def test_infeasible_budget_is_recorded_infeasible(write_suite, write_plugin, plugins_dir, tmp_path):
    write_plugin("bad_methods", BAD_METHODS)
    out = tmp_path / "out"
    _run(write_suite({"methods": ["picky"]}), out, "--plugins-dir", str(plugins_dir))
    rec = _records(out)["picky@4x#0"]
    assert rec["status"] == "infeasible" and "picky needs more than" in rec["error"]


def test_corrupt_record_is_set_aside_and_the_cell_rerun(write_suite, tmp_path, capsys):
    out, suite = tmp_path / "out", write_suite({"methods": ["full"]})
    _run(suite, out)
    path = results.record_path(out, "full@1x#0")
    path.write_text('{"schema": "benchsuite.result/1", "cell": ')
    _run(suite, out)
    assert "not valid JSON" in capsys.readouterr().err
    assert path.with_name(path.name + ".corrupt").exists()
    assert json.loads(path.read_text())["status"] == "ok"


def test_leaderboard_command_reads_records(write_suite, tmp_path, capsys):
    out, suite = tmp_path / "out", write_suite()
    _run(suite, out)
    capsys.readouterr()
    assert main(["leaderboard", "--suite", str(suite), "--out", str(out), "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("method,budget")


def test_leaderboard_without_results_is_a_clear_error(write_suite, tmp_path, capsys):
    code = main(["leaderboard", "--suite", str(write_suite()), "--out", str(tmp_path / "none")])
    assert code == 2
    assert "no results for suite 'tiny'" in capsys.readouterr().err


def test_same_seed_gives_the_same_auc(write_suite, tmp_path):
    suite = write_suite({"methods": ["hashing"]})
    _run(suite, tmp_path / "a")
    _run(suite, tmp_path / "b")
    a = _records(tmp_path / "a")["hashing@4x#0"]["metrics"]["test_auc"]
    b = _records(tmp_path / "b")["hashing@4x#0"]["metrics"]["test_auc"]
    assert a == b


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_adagrad_state_is_counted(write_suite, tmp_path, optimizer):
    out = tmp_path / "out"
    _run(write_suite({"methods": ["full"], "train.optimizer": optimizer}), out)
    m = _records(out)["full@1x#0"]["metrics"]
    if optimizer == "adagrad":
        assert m["optimizer_state_bytes"] >= m["embedding_bytes"]
    else:
        assert m["optimizer_state_bytes"] == 0


def test_event_hooks_see_start_each_evaluation_and_end(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    write_plugin(
        "logger",
        """
        import json, pathlib
        LOG = pathlib.Path(__file__).parent / "events.jsonl"

        from benchsuite.hookspecs import hookimpl

        def _log(**event):
            with LOG.open("a") as f:
                f.write(json.dumps(event) + "\\n")

        @hookimpl
        def benchsuite_cell_start(cell, config):
            _log(event="start", key=cell.key, lr=config["train"]["lr"])

        @hookimpl
        def benchsuite_evaluation(cell, point):
            _log(event="eval", key=cell.key, samples=point["samples"])

        @hookimpl
        def benchsuite_cell_end(cell, record):
            _log(event="end", key=cell.key, status=record["status"])
    """,
    )
    _run(write_suite({"methods": ["full"]}), tmp_path / "out", "--plugins-dir", str(plugins_dir))
    events = [json.loads(line) for line in (plugins_dir / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "eval", "eval", "end"]
    assert events[0]["lr"] == 0.1 and events[-1]["status"] == "ok"
    assert [e["samples"] for e in events if e["event"] == "eval"] == [4096, 8192]


def test_statistics_cost_is_recorded_and_shown_in_the_leaderboard(write_suite, tmp_path, capsys):
    out = tmp_path / "out"
    _run(write_suite({"methods": ["hashing", "md[blocks=2]"], "budgets": ["2x"]}), out)
    records = _records(out)
    cost = records["md[blocks=2]@2x#0"]["metrics"]["stats_cost"]
    assert cost["seconds"] > 0 and cost["bytes"] > 0 and cost["cached"] in (0.0, 1.0)
    assert "stats_cost" not in records["hashing@2x#0"]["metrics"]
    board = capsys.readouterr().out
    assert "statistics s" in board.splitlines()[0]


def test_every_event_hook_that_fails_leaves_a_warning_in_the_record(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    write_plugin(
        "flaky",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_cell_start(cell):
            raise RuntimeError("start broke")

        @hookimpl
        def benchsuite_evaluation(point):
            raise RuntimeError(f"eval broke at {point['samples']}")

        @hookimpl
        def benchsuite_cell_end(record):
            raise RuntimeError("end broke")
    """,
    )
    out = tmp_path / "out"
    with pytest.warns(RuntimeWarning):
        _run(write_suite({"methods": ["full"]}), out, "--plugins-dir", str(plugins_dir))
    record = _records(out)["full@1x#0"]
    assert record["status"] == "ok"
    assert [w.split(": ", 1)[1] for w in record["warnings"]] == [
        "RuntimeError: start broke",
        "RuntimeError: eval broke at 4096",
        "RuntimeError: eval broke at 8192",
        "RuntimeError: end broke",
    ]
