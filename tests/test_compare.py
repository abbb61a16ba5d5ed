"""``benchsuite compare``: verdicts per row (seed spread, thresholds by schema direction, status
changes), new and missing rows, reading a git revision, output formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from records import FULL_BYTES, record

from benchsuite import cli
from benchsuite.api import BenchsuiteError
from benchsuite.report import compare as compare_module
from benchsuite.report.compare import (
    COMPARED,
    NOT_COMPARED,
    Comparison,
    RowChange,
    compare_results,
    load_result_set,
    render_comparison,
)
from benchsuite.report.schema import SCHEMA
from benchsuite.results import record_path, write_record


def seeds(aucs: list[float], **kwargs: Any) -> list[dict[str, Any]]:
    """One record per seed of one cell, with the given test AUCs."""
    return [record(seed=i, auc=auc, **kwargs) for i, auc in enumerate(aucs)]


def baseline() -> list[dict[str, Any]]:
    return [
        *seeds([0.79, 0.80, 0.81], label="full", budget="1x"),
        *seeds([0.760, 0.770, 0.780], label="hashing", budget="16x"),
        *seeds([0.765, 0.770, 0.775], label="qr", budget="16x"),
    ]


def row(comparison: Comparison, method: str, budget: str = "16x") -> RowChange:
    found = [r for r in comparison.rows if r.method == method and r.budget == budget]
    assert len(found) == 1, comparison.rows
    return found[0]


def metric(change: RowChange, name: str) -> Any:
    return next(m for m in change.metrics if m.metric == name)


def write(folder: Path, records: list[dict[str, Any]]) -> Path:
    for r in records:
        write_record(record_path(folder, r["cell"]["key"]), r)
    return folder


# ---------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------


def test_identical_sets_are_all_unchanged() -> None:
    comparison = compare_results(baseline(), baseline())
    assert [r.verdict for r in comparison.rows] == ["unchanged"] * 3
    assert [r.reasons for r in comparison.rows] == [()] * 3
    assert not comparison.regressed
    assert comparison.counts() == {
        "regressed": 0,
        "improved": 0,
        "unchanged": 3,
        "new": 0,
        "missing": 0,
    }
    assert all(m.ratio == 1.0 for r in comparison.rows for m in r.metrics if m.ratio is not None)
    assert comparison.warnings == ()


def test_auc_drop_within_the_seeds_spread_is_not_a_regression() -> None:
    # std 0.01 on both sides, three seeds: spread 2·sqrt(2·0.01²/3) ≈ 0.0163 > the 0.005 drop.
    b = [r for r in baseline() if r["cell"]["label"] != "hashing"]
    b += seeds([0.755, 0.765, 0.775], label="hashing")
    change = row(compare_results(baseline(), b), "hashing")
    assert change.verdict == "unchanged"
    assert change.quality is not None
    assert change.quality.delta == pytest.approx(-0.005)
    assert change.quality.spread == pytest.approx(2 * (2 * 0.01**2 / 3) ** 0.5)
    assert change.reasons == ("AUC -0.0050 within spread ±0.0163",)


def test_auc_drop_beyond_spread_and_tolerance_regresses_and_names_the_auc() -> None:
    b = [r for r in baseline() if r["cell"]["label"] != "qr"]
    b += seeds([0.745, 0.750, 0.755], label="qr")  # -0.02, spread ≈ 0.0082
    comparison = compare_results(baseline(), b)
    change = row(comparison, "qr")
    assert change.verdict == "regressed"
    assert change.reasons[0] == "AUC -0.0200 beyond spread ±0.0082"
    assert comparison.regressed


def test_auc_drop_beyond_spread_but_within_tolerance_is_unchanged() -> None:
    a = seeds([0.7700, 0.7700, 0.7701])
    b = seeds([0.7695, 0.7695, 0.7696])  # -0.0005: beyond the tiny spread, within 0.001
    assert row(compare_results(a, b), "hashing").verdict == "unchanged"
    assert row(compare_results(a, b, auc_tolerance=0.0001), "hashing").verdict == "regressed"


def test_one_seed_per_side_judges_the_auc_by_the_tolerance_alone_and_says_so() -> None:
    small = row(compare_results([record(auc=0.77)], [record(auc=0.7695)]), "hashing")
    assert small.verdict == "unchanged"
    assert small.quality is not None and small.quality.spread is None
    assert "one seed on a side: AUC judged by the tolerance alone" in small.notes
    large = row(compare_results([record(auc=0.77)], [record(auc=0.765)]), "hashing")
    assert large.verdict == "regressed"
    assert "one seed on a side" in large.reasons[0]


def test_auc_rise_beyond_spread_and_tolerance_improves() -> None:
    change = row(compare_results([record(auc=0.77)], [record(auc=0.78)]), "hashing")
    assert change.verdict == "improved"
    assert change.reasons == ("AUC +0.0100 beyond tolerance 0.001 (one seed on a side)",)


def test_throughput_20_percent_slower_regresses_at_1_10_and_not_at_1_30() -> None:
    a = [record()]
    b = [record(train_samples_per_s=8_000.0)]
    strict = row(compare_results(a, b, threshold=1.10), "hashing")
    assert strict.verdict == "regressed"
    assert strict.reasons == ("train samples/s 0.80x",)
    assert metric(strict, "train samples/s").ratio == pytest.approx(0.8)
    loose = row(compare_results(a, b, threshold=1.30), "hashing")
    assert loose.verdict == "unchanged"
    assert not compare_results(a, b, threshold=1.30).regressed


def test_throughput_20_percent_faster_improves() -> None:
    change = row(compare_results([record()], [record(train_samples_per_s=12_500.0)]), "hashing")
    assert change.verdict == "improved"
    assert change.reasons == ("train samples/s 1.25x",)


def test_memory_growth_regresses_and_names_both_memory_metrics() -> None:
    b = [record(embedding_bytes=1_500_000, compression_ratio=FULL_BYTES / 1_500_000)]
    change = row(compare_results([record()], b), "hashing")
    assert change.verdict == "regressed"
    assert change.reasons == ("compression ratio 0.67x", "embedding MB 1.50x")


def test_lower_is_better_metrics_regress_when_they_grow() -> None:
    energy = {"train": {"joules": 1.0, "method": "rapl", "joules_per_million_samples": 100.0}}
    more = {"train": {"joules": 2.0, "method": "rapl", "joules_per_million_samples": 150.0}}
    change = row(compare_results([record(energy=energy)], [record(energy=more)]), "hashing")
    assert change.verdict == "regressed"
    assert change.reasons == ("train J/M samples 1.50x",)


def test_the_worst_metric_decides_and_only_it_is_named() -> None:
    b = [record(train_samples_per_s=20_000.0, embedding_bytes=2_000_000)]
    change = row(compare_results([record()], b), "hashing")
    assert change.verdict == "regressed"
    assert change.reasons == ("embedding MB 2.00x",)
    assert metric(change, "train samples/s").verdict == "improved"


def test_ok_to_failed_regresses_and_failed_to_ok_improves() -> None:
    failed = [record(status="failed", auc=None)]
    worse = row(compare_results([record()], failed), "hashing")
    assert worse.verdict == "regressed"
    assert worse.reasons == ("status ok → failed",)
    better = row(compare_results(failed, [record()]), "hashing")
    assert better.verdict == "improved"


def test_one_seed_of_three_failing_regresses() -> None:
    b = [*seeds([0.76, 0.77]), record(seed=2, status="diverged", auc=None)]
    change = row(compare_results(seeds([0.76, 0.77, 0.78]), b), "hashing")
    assert change.verdict == "regressed"
    assert change.reasons[0] == "status ok → diverged 1/3"


def test_target_no_longer_reached_regresses() -> None:
    missed = record(target_reached=False, samples_to_target=None, seconds_to_target=None)
    change = row(compare_results([record()], [missed]), "hashing")
    assert change.verdict == "regressed"
    assert change.reasons == (
        "samples to target: not reached (was 40,000)",
        "seconds to target: not reached (was 4)",
    )
    assert metric(change, "samples to target").b == float("inf")


def test_a_metric_one_side_did_not_measure_is_not_judged() -> None:
    energy = {"train": {"joules": 1.0, "method": "rapl", "joules_per_million_samples": 100.0}}
    change = row(compare_results([record(energy=energy)], [record()]), "hashing")
    assert change.verdict == "unchanged"
    assert metric(change, "train J/M samples").verdict == "n/a"


def test_new_and_missing_rows_are_listed_not_errors() -> None:
    a = [record("full", "1x"), record("hashing", "16x")]
    b = [record("full", "1x"), record("robe", "16x")]
    comparison = compare_results(a, b)
    assert row(comparison, "hashing").verdict == "missing"
    assert row(comparison, "robe").verdict == "new"
    assert row(comparison, "full", "1x").verdict == "unchanged"
    assert not comparison.regressed
    assert comparison.summary() == "0 regressed, 0 improved, 1 unchanged, 1 new, 1 missing"


def test_suites_on_one_side_are_reported() -> None:
    a = [record(), record(suite="avazu")]
    b = [record(), record(suite="criteo-kaggle")]
    comparison = compare_results(a, b)
    assert comparison.suites_only_in_a == ("avazu",)
    assert comparison.suites_only_in_b == ("criteo-kaggle",)
    assert "suites only in A: avazu; suites only in B: criteo-kaggle" in comparison.summary()


def test_sets_without_a_common_suite_are_bad_input() -> None:
    with pytest.raises(BenchsuiteError, match="no suite in common"):
        compare_results([record(suite="avazu")], [record()])


def test_different_hardware_and_suite_files_are_warned_about() -> None:
    gpu = {"profile": "cuda", "gpu": "NVIDIA H200"}
    comparison = compare_results([record()], [record(hardware=gpu, suite_hash="1" * 64)])
    assert len(comparison.warnings) == 2
    assert "A ran on cpu: Test CPU, B on cuda: NVIDIA H200" in comparison.warnings[0]
    assert "suite file differs" in comparison.warnings[1]


def test_a_cell_run_with_another_configuration_is_noted() -> None:
    change = row(compare_results([record()], [record(config_hash="changed")]), "hashing")
    assert "configuration differs in 1 of 1 cells" in change.notes


def test_bad_settings_are_refused() -> None:
    with pytest.raises(BenchsuiteError, match="threshold must be a factor of at least 1"):
        compare_results([record()], [record()], threshold=0.9)
    with pytest.raises(BenchsuiteError, match="AUC tolerance must be zero or positive"):
        compare_results([record()], [record()], auc_tolerance=-0.1)


def test_every_schema_column_with_a_direction_is_compared_or_said_why_not() -> None:
    directed = {c.name for c in SCHEMA if c.better is not None}
    compared = {c.name for c in COMPARED}
    assert directed == compared | set(NOT_COMPARED) | {"AUC"}
    assert not compared & set(NOT_COMPARED)
    assert {"samples to target", "embedding MB", "train samples/s", "train J/M samples"} <= compared
    docs = (Path(__file__).resolve().parent.parent / "docs" / "compare.md").read_text()
    for name in NOT_COMPARED:
        assert f"| `{name}` |" in docs, f"docs/compare.md does not say why {name} is not compared"


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def test_markdown_has_the_auc_columns_ratios_and_summary() -> None:
    b = [r for r in baseline() if r["cell"]["label"] != "qr"]
    b += seeds([0.745, 0.750, 0.755], label="qr", train_samples_per_s=8_000.0)
    text = render_comparison(compare_results(baseline(), b), "md", names=("main:r", "r"))
    assert text.startswith("A: main:r  \nB: r\n")
    header = next(line for line in text.splitlines() if line.startswith("| method"))
    for name in ("verdict", "reason", "AUC A", "AUC B", "ΔAUC", "spread", "train samples/s B/A"):
        assert name in header
    qr = next(line for line in text.splitlines() if line.startswith("| qr"))
    assert "regressed" in qr and "-0.0200" in qr and "0.80x" in qr and "±0.0082" in qr
    assert text.rstrip().endswith("1 regressed, 0 improved, 2 unchanged, 0 new, 0 missing")


def test_csv_has_every_metric_a_b_and_ratio() -> None:
    text = render_comparison(compare_results([record(auc=0.762)], [record(auc=0.758)]), "csv")
    (line,) = list(csv.DictReader(io.StringIO(text)))
    assert line["verdict"] == "regressed"
    assert float(line["AUC A"]) == pytest.approx(0.762)
    assert line["samples to target A"] == "40000.0"
    assert line["samples to target B"] == "not reached"
    assert float(line["train samples/s B/A"]) == 1.0


def test_json_carries_settings_summary_and_rows() -> None:
    comparison = compare_results([record()], [record(train_samples_per_s=5_000.0)])
    document = json.loads(render_comparison(comparison, "json"))
    assert document["threshold"] == 1.10
    assert document["summary"]["regressed"] == 1
    (only,) = document["rows"]
    assert only["metrics"]["train samples/s"] == {
        "better": "higher",
        "a": 10_000.0,
        "b": 5_000.0,
        "ratio": 0.5,
        "verdict": "regressed",
    }


def test_unknown_format_lists_the_allowed_ones() -> None:
    with pytest.raises(BenchsuiteError, match="allowed: md, csv, json"):
        render_comparison(compare_results([record()], [record()]), "html")


# ---------------------------------------------------------------------------------------------
# Reading sides and the command line
# ---------------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose last commit holds the baseline under results/quickstart."""
    git(tmp_path, "init", "-q")
    write(tmp_path / "results" / "quickstart", baseline())
    git(tmp_path, "add", "results")
    git(tmp_path, "commit", "-q", "-m", "baseline")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_identical_folders_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = write(tmp_path / "a", baseline()), write(tmp_path / "b", baseline())
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "0 regressed, 0 improved, 3 unchanged, 0 new, 0 missing" in out


def test_a_regression_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    worse = [r for r in baseline() if r["cell"]["label"] != "qr"]
    worse += seeds([0.745, 0.750, 0.755], label="qr")
    a, b = write(tmp_path / "a", baseline()), write(tmp_path / "b", worse)
    assert cli.main(["compare", str(a), str(b), "--format", "csv"]) == 1
    captured = capsys.readouterr()
    assert "1 regressed" in captured.err
    assert len(list(csv.DictReader(io.StringIO(captured.out)))) == 3


def test_revision_path_reads_committed_records(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = load_result_set("HEAD:results/quickstart")
    assert len(records) == 9
    changed = [r for r in baseline() if r["cell"]["label"] != "qr"]
    changed += seeds([0.745, 0.750, 0.755], label="qr")
    write(repo / "now", changed)
    assert cli.main(["compare", "HEAD:results/quickstart", "now"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("A: HEAD:results/quickstart  \nB: now\n")
    assert "| qr " in out and "regressed" in out


def test_revision_path_names_a_bad_committed_file_by_revision(repo: Path) -> None:
    (repo / "results" / "quickstart" / "broken.json").write_text("{")
    git(repo, "add", "results")
    git(repo, "commit", "-q", "-m", "broken")
    with pytest.raises(BenchsuiteError, match=r"^HEAD:results/quickstart/broken\.json: not valid"):
        load_result_set("HEAD:results/quickstart")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nowhere", "nowhere: no such folder"),
        ("empty", "empty: no result records"),
        ("nosuchrev:results/quickstart", "unknown revision 'nosuchrev'"),
        ("HEAD:results/elsewhere", "'results/elsewhere' is not in revision HEAD"),
        ("HEAD:results/quickstart/" + record_path(Path(), "qr@16x#0").name, "is a file"),
    ],
)
def test_bad_inputs_exit_2_with_one_message(
    repo: Path, capsys: pytest.CaptureFixture[str], source: str, message: str
) -> None:
    (repo / "empty").mkdir()
    assert cli.main(["compare", source, "HEAD:results/quickstart"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("benchsuite: error: ") and message in err
    assert "Traceback" not in err


def test_revision_outside_a_git_repository_is_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(BenchsuiteError, match="is not in a git repository"):
        load_result_set("HEAD:results")


def test_help_lists_compare_and_its_defaults_match_the_library(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "compare" in capsys.readouterr().out
    args = cli._parser().parse_args(["compare", "a", "b"])
    assert args.threshold == compare_module.DEFAULT_THRESHOLD
    assert args.auc_tolerance == compare_module.DEFAULT_AUC_TOLERANCE
    for fmt in compare_module.FORMATS:
        assert cli._parser().parse_args(["compare", "a", "b", "--format", fmt]).format == fmt
