"""The leaderboard: aggregation over seeds, ordering by budget and AUC, and each output format."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pandas as pd
import pytest

from benchsuite.api import BenchsuiteError
from benchsuite.report.leaderboard import (
    AUC,
    AUC_STD,
    COLUMNS,
    DELTA,
    FORMATS,
    GAP,
    INFER,
    INFER_BATCH,
    MEGABYTES,
    RATIO,
    REACHED,
    SAMPLES,
    SECONDS,
    leaderboard_frame,
    render,
)
from benchsuite.results import SCHEMA

FULL_BYTES = 16_000_000


def record(
    label: str = "hashing",
    budget: str = "16x",
    seed: int = 0,
    auc: float | None = 0.77,
    status: str = "ok",
    suite: str = "quickstart",
    **metrics: Any,
) -> dict[str, Any]:
    """A result record for one cell; the method is the label up to its first '['."""
    method = label.split("[", 1)[0]
    ratio = 1.0 if method == "full" else float(budget.rstrip("x")) if budget.endswith("x") else 4.0
    base: dict[str, Any] = {
        "test_auc": auc,
        "bayes_auc": 0.80,
        "target_auc": 0.76,
        "target_reached": auc is not None and auc >= 0.76,
        "samples_to_target": 40_000 if auc is not None and auc >= 0.76 else None,
        "seconds_to_target": 4.0 if auc is not None and auc >= 0.76 else None,
        "train_samples_per_s": 10_000.0,
        "inference_samples_per_s": {"1024": 50_000.0, "16384": 90_000.0},
        "full_bytes": FULL_BYTES,
        "embedding_bytes": int(FULL_BYTES / ratio),
        "compression_ratio": ratio,
    }
    if status != "ok":
        base = {"full_bytes": FULL_BYTES}
    base.update(metrics)
    return {
        "schema": SCHEMA,
        "suite": {"name": suite, "path": f"/s/{suite}.yaml", "hash": "0" * 64},
        "cell": {
            "key": f"{label}@{budget}#{seed}",
            "method": method,
            "label": label,
            "params": {},
            "budget": budget,
            "seed": seed,
        },
        "config": {},
        "config_hash": "c" * 64,
        "environment": {"hardware": {"profile": "cpu"}},
        "started_at": "2026-11-22T10:00:00+00:00",
        "finished_at": "2026-11-22T10:01:00+00:00",
        "status": status,
        "error": None if status == "ok" else "reason",
        "metrics": base,
    }


def row_of(frame: pd.DataFrame, method: str, budget: str | None = None) -> pd.Series:
    rows = frame[(frame["method"] == method) & ((frame["budget"] == budget) | (budget is None))]
    assert len(rows) == 1, rows
    return rows.iloc[0]


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


def test_auc_is_mean_and_sample_std_over_seeds() -> None:
    frame = leaderboard_frame([record(seed=0, auc=0.76), record(seed=1, auc=0.78)])
    row = row_of(frame, "hashing")
    assert row["seeds"] == 2
    assert row[AUC] == pytest.approx(0.77)
    assert row[AUC_STD] == pytest.approx(math.sqrt(2) * 0.01)


def test_single_seed_has_no_std() -> None:
    row = row_of(leaderboard_frame([record()]), "hashing")
    assert math.isnan(row[AUC_STD])


def test_delta_auc_is_mean_auc_minus_mean_auc_of_full() -> None:
    frame = leaderboard_frame(
        [
            record("full", "1x", seed=0, auc=0.79),
            record("full", "1x", seed=1, auc=0.81),
            record("hashing", "16x", auc=0.77),
        ]
    )
    assert row_of(frame, "hashing")[DELTA] == pytest.approx(-0.03)
    assert row_of(frame, "full")[DELTA] == pytest.approx(0.0)


def test_delta_auc_is_missing_without_a_full_baseline() -> None:
    assert math.isnan(row_of(leaderboard_frame([record()]), "hashing")[DELTA])


def test_gap_to_bayes_is_mean_of_bayes_minus_test_auc() -> None:
    frame = leaderboard_frame(
        [record(seed=0, auc=0.76, bayes_auc=0.80), record(seed=1, auc=0.78, bayes_auc=0.81)]
    )
    assert row_of(frame, "hashing")[GAP] == pytest.approx((0.04 + 0.03) / 2)


def test_gap_to_bayes_is_missing_when_bayes_auc_is_unknown() -> None:
    frame = leaderboard_frame([record(bayes_auc=None)])
    assert math.isnan(row_of(frame, "hashing")[GAP])


def test_target_columns_count_seeds_and_average_those_that_reached_it() -> None:
    frame = leaderboard_frame(
        [
            record(seed=0, auc=0.77, samples_to_target=30_000, seconds_to_target=3.0),
            record(seed=1, auc=0.77, samples_to_target=50_000, seconds_to_target=5.0),
            record(seed=2, auc=0.75),
        ]
    )
    row = row_of(frame, "hashing")
    assert row[REACHED] == "2/3"
    assert row[SAMPLES] == pytest.approx(40_000)
    assert row[SECONDS] == pytest.approx(4.0)


def test_memory_and_speed_columns() -> None:
    frame = leaderboard_frame([record(budget="16x")])
    row = row_of(frame, "hashing")
    assert row[RATIO] == pytest.approx(16.0)
    assert row[MEGABYTES] == pytest.approx(1.0)
    assert row["train samples/s"] == pytest.approx(10_000.0)


def test_inference_throughput_is_taken_at_the_largest_batch_size() -> None:
    frame = leaderboard_frame([record()])
    row = row_of(frame, "hashing")
    assert row[INFER] == pytest.approx(90_000.0)
    assert row[INFER_BATCH] == 16384


def test_compression_ratio_is_derived_from_bytes_when_not_recorded() -> None:
    frame = leaderboard_frame([record(compression_ratio=None, embedding_bytes=2_000_000)])
    assert row_of(frame, "hashing")[RATIO] == pytest.approx(8.0)


def test_frame_has_the_documented_numeric_columns() -> None:
    frame = leaderboard_frame([record(seed=0), record(seed=1, auc=0.78)])
    assert tuple(frame.columns) == COLUMNS
    for column in (AUC, AUC_STD, DELTA, GAP, SAMPLES, SECONDS, RATIO, MEGABYTES, INFER):
        assert pd.api.types.is_float_dtype(frame[column]), column


# ---------------------------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------------------------


def test_rows_are_grouped_by_budget_in_ratio_order_and_ranked_by_auc_within() -> None:
    frame = leaderboard_frame(
        [
            record("qr", "64x", auc=0.74),
            record("hashing", "16x", auc=0.76),
            record("robe", "64x", auc=0.75),
            record("full", "1x", auc=0.79),
            record("qr", "16x", auc=0.77),
            record("hashing", "64x", auc=0.73),
            record("robe", "4x", auc=0.78),
        ]
    )
    assert list(zip(frame["budget"], frame["method"], strict=True)) == [
        ("1x", "full"),
        ("4x", "robe"),
        ("16x", "qr"),
        ("16x", "hashing"),
        ("64x", "robe"),
        ("64x", "qr"),
        ("64x", "hashing"),
    ]


def test_full_baseline_sits_alone_first_even_beside_a_1x_budget() -> None:
    frame = leaderboard_frame([record("hashing", "1x", auc=0.80), record("full", "1x", auc=0.79)])
    assert list(frame["method"]) == ["full", "hashing"]


def test_byte_budgets_order_by_decreasing_size_among_ratios() -> None:
    frame = leaderboard_frame(
        [
            record("hashing", "1MB"),  # 16x of 16 MB
            record("hashing", "8MB"),  # 2x
            record("hashing", "4x"),
            record("hashing", "32x"),
        ]
    )
    assert list(frame["budget"]) == ["8MB", "4x", "1MB", "32x"]


def test_rows_without_auc_rank_last_within_their_budget() -> None:
    frame = leaderboard_frame(
        [record("robe", "16x", status="infeasible", auc=None), record("hashing", "16x")]
    )
    assert list(frame["method"]) == ["hashing", "robe"]


def test_labels_with_parameters_are_separate_rows() -> None:
    frame = leaderboard_frame([record("robe[block=8]"), record("robe[block=32]", auc=0.78)])
    assert list(frame["method"]) == ["robe[block=32]", "robe[block=8]"]


# ---------------------------------------------------------------------------------------------
# Non-ok seeds
# ---------------------------------------------------------------------------------------------


def test_failed_seed_shows_in_status_and_is_not_averaged() -> None:
    frame = leaderboard_frame(
        [record(seed=0, auc=0.77), record(seed=1, status="failed", auc=None, test_auc=0.1)]
    )
    row = row_of(frame, "hashing")
    assert row["status"] == "failed 1/2"
    assert row["seeds"] == 1
    assert row[AUC] == pytest.approx(0.77)
    assert row[REACHED] == "1/2"


def test_diverged_seed_with_a_recorded_auc_is_not_averaged() -> None:
    frame = leaderboard_frame(
        [record(seed=0, auc=0.77), record(seed=1, status="diverged", auc=None, test_auc=0.5)]
    )
    assert row_of(frame, "hashing")[AUC] == pytest.approx(0.77)


def test_all_infeasible_row_shows_its_status_and_no_numbers() -> None:
    frame = leaderboard_frame(
        [
            record("hashing", "16x"),
            record("robe", "16x", seed=0, status="infeasible", auc=None),
            record("robe", "16x", seed=1, status="infeasible", auc=None),
        ]
    )
    row = row_of(frame, "robe")
    assert row["status"] == "infeasible"
    assert row["seeds"] == 0
    assert math.isnan(row[AUC]) and math.isnan(row[DELTA]) and math.isnan(row[INFER])
    assert pd.isna(row[REACHED])


def test_mixed_bad_statuses_are_each_counted() -> None:
    frame = leaderboard_frame(
        [
            record(seed=0, status="timeout", auc=None),
            record(seed=1, status="failed", auc=None),
        ]
    )
    assert row_of(frame, "hashing")["status"] == "failed 1/2, timeout 1/2"


def test_over_budget_row_still_shows_its_size() -> None:
    frame = leaderboard_frame(
        [record(status="over_budget", auc=None, embedding_bytes=2_000_000, compression_ratio=8.0)]
    )
    row = row_of(frame, "hashing")
    assert row["status"] == "over_budget"
    assert row[MEGABYTES] == pytest.approx(2.0)
    assert row[RATIO] == pytest.approx(8.0)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_no_records_raise() -> None:
    with pytest.raises(BenchsuiteError, match="no result records"):
        leaderboard_frame([])


def test_records_of_several_suites_raise() -> None:
    with pytest.raises(BenchsuiteError, match=r"several suites \(avazu, quickstart\)"):
        leaderboard_frame([record(suite="quickstart"), record(suite="avazu", seed=1)])


def test_unknown_format_lists_the_allowed_ones() -> None:
    frame = leaderboard_frame([record()])
    with pytest.raises(
        BenchsuiteError, match=r"unknown leaderboard format 'xls'; allowed: md, csv"
    ):
        render(frame, "xls")


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def board() -> pd.DataFrame:
    return leaderboard_frame(
        [
            record("full", "1x", seed=0, auc=0.79),
            record("full", "1x", seed=1, auc=0.81),
            record("hashing", "16x", seed=0, auc=0.7701),
            record("hashing", "16x", seed=1, auc=0.7723),
            record("qr", "16x", seed=0, auc=0.75),
            record("qr", "16x", seed=1, auc=0.74, status="failed"),
            record("robe", "16x", seed=0, status="infeasible", auc=None),
        ]
    )


def test_markdown_has_header_and_auc_as_mean_plus_minus_std(board: pd.DataFrame) -> None:
    text = render(board, "md")
    lines = text.splitlines()
    assert lines[0].startswith("| method") and "| AUC" in lines[0]
    assert "inference samples/s @16384" in lines[0]
    assert set(lines[1]) <= set("|-: ")
    assert "0.7712 ± 0.0016" in text
    assert "16.0x" in text
    assert "-0.0288" in text  # ΔAUC of hashing: 0.7712 - 0.80


def test_markdown_shows_not_reached_and_dashes(board: pd.DataFrame) -> None:
    text = render(board, "md")
    qr = next(line for line in text.splitlines() if line.startswith("| qr"))
    robe = next(line for line in text.splitlines() if line.startswith("| robe"))
    assert "not reached" in qr and "failed 1/2" in qr
    assert "infeasible" in robe and "–" in robe and "nan" not in robe


def test_csv_parses_back_with_the_same_numbers(board: pd.DataFrame) -> None:
    parsed = pd.read_csv(io.StringIO(render(board, "csv")))
    assert list(parsed.columns) == list(COLUMNS)
    assert parsed[AUC].tolist() == pytest.approx(board[AUC].tolist(), nan_ok=True)


def test_json_parses_back_with_numeric_auc_and_nulls(board: pd.DataFrame) -> None:
    rows = json.loads(render(board, "json"))
    assert [row["method"] for row in rows] == list(board["method"])
    hashing = next(row for row in rows if row["method"] == "hashing")
    assert isinstance(hashing[AUC], float) and hashing[AUC] == pytest.approx(0.7712)
    assert isinstance(hashing["seeds"], int)
    assert hashing[INFER_BATCH] == 16384
    robe = next(row for row in rows if row["method"] == "robe")
    assert robe[AUC] is None and robe[REACHED] is None


def test_html_escapes_labels_from_records() -> None:
    frame = leaderboard_frame([record("<script>alert(1)</script>")])
    text = render(frame, "html")
    assert "<table>" in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_every_format_renders(board: pd.DataFrame) -> None:
    for fmt in FORMATS:
        assert render(board, fmt).strip()
