"""The leaderboard: aggregation over seeds, ordering by budget and AUC, and each output format."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pandas as pd
import pytest
from records import record

from benchsuite.api import BenchsuiteError
from benchsuite.report.leaderboard import (
    AUC,
    AUC_STD,
    COLUMNS,
    DELTA,
    DOMINATED,
    FORMATS,
    GAP,
    HARDWARE,
    INFER,
    INFER_BATCH,
    MEGABYTES,
    RANK,
    RATIO,
    REACHED,
    SAMPLES,
    SECONDS,
    leaderboard_frame,
    render,
)


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
    rows = json.loads(render(board, "json"))["rows"]
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


def test_json_carries_the_metric_schema_beside_the_rows(board: pd.DataFrame) -> None:
    document = json.loads(render(board, "json"))
    columns = {c["name"]: c for c in document["columns"]}
    assert list(columns) == list(COLUMNS) == list(document["rows"][0])
    assert columns[AUC]["better"] == "higher" and columns[MEGABYTES]["better"] == "lower"
    assert columns[MEGABYTES]["unit"] == "MB" and columns[RATIO]["digits"] == 1


def test_latex_is_a_booktabs_tabular_with_specials_escaped() -> None:
    frame = leaderboard_frame(
        [record("qr[op=mult_100%]", seed=0), record("qr[op=mult_100%]", seed=1, auc=0.78)]
    )
    text = render(frame, "latex")
    assert text.startswith("\\begin{tabular}{l") and "\\toprule" in text
    assert "\\end{tabular}" in text
    assert r"qr[op=mult\_100\%]" in text
    assert r"0.7750 $\pm$ 0.0071" in text and r"$\Delta$AUC" in text
    body = text.split("\\midrule")[1].split("\\bottomrule")[0]
    assert all(line.endswith(r"\\") for line in body.strip().splitlines())


def test_rank_counts_within_each_budget_and_skips_rows_without_auc(board: pd.DataFrame) -> None:
    ranks = {(m, b): r for m, b, r in board[["method", "budget", RANK]].itertuples(index=False)}
    assert ranks[("full", "1x")] == 1
    assert ranks[("hashing", "16x")] == 1 and ranks[("qr", "16x")] == 2
    assert ranks[("robe", "16x")] is pd.NA


def test_a_row_beaten_on_auc_and_memory_is_marked_with_the_best_that_beats_it() -> None:
    frame = leaderboard_frame(
        [
            record("full", "1x", auc=0.78),
            record("hashing", "4x", auc=0.75),
            record("qr", "16x", auc=0.76),
            record("md", "16x", auc=0.74),
        ]
    )
    assert row_of(frame, "hashing")[DOMINATED] == "qr 16x"  # higher AUC, a quarter the size
    assert pd.isna(row_of(frame, "md")[DOMINATED])  # smallest, tied on size with qr
    assert pd.isna(row_of(frame, "full")[DOMINATED])  # best AUC
    assert "qr 16x" in render(frame, "md").split("| hashing")[1].splitlines()[0]


def test_dominated_column_is_left_out_of_tables_when_nothing_is_dominated() -> None:
    frame = leaderboard_frame([record("full", "1x", auc=0.78), record("hashing", "4x", auc=0.75)])
    assert DOMINATED not in render(frame, "md").splitlines()[0]
    assert DOMINATED in render(frame, "csv").splitlines()[0]


def _on(rec: dict[str, Any], hardware: dict[str, Any]) -> dict[str, Any]:
    rec["environment"] = {"hardware": hardware}
    return rec


def test_hardware_shared_by_every_row_is_a_note_and_differing_hardware_a_column() -> None:
    cpu = {"profile": "cpu", "cpu": "Xeon 8370C", "torch_threads": 2}
    gpu = {"profile": "cuda", "gpu": "NVIDIA H200", "gpu_count": 1}
    same = leaderboard_frame([_on(record("full", "1x"), cpu), _on(record(), cpu)])
    text = render(same, "md")
    assert "Hardware: cpu: Xeon 8370C, 2 threads" in text
    assert HARDWARE not in text.splitlines()[0]
    mixed = leaderboard_frame([_on(record("full", "1x"), cpu), _on(record(), gpu)])
    header, *_ = render(mixed, "md").splitlines()
    assert HARDWARE in header
    assert row_of(mixed, "hashing")[HARDWARE] == "cuda: NVIDIA H200"


def test_a_data_parallel_record_names_its_process_count_beside_the_hardware() -> None:
    cpu = {"profile": "cpu", "cpu": "Xeon 8370C", "torch_threads": 1}
    gpu = {"profile": "cuda", "gpu": "NVIDIA H200", "gpu_count": 8}
    single, ddp = _on(record("full", "1x"), cpu), _on(record(), cpu)
    ddp["distributed"] = {"world_size": 2}
    frame = leaderboard_frame([single, ddp])
    assert row_of(frame, "full")[HARDWARE] == "cpu: Xeon 8370C, 1 thread"
    assert row_of(frame, "hashing")[HARDWARE] == "cpu: Xeon 8370C, 1 thread on 2 processes"
    on_gpus = _on(record(), gpu)
    on_gpus["distributed"] = {"world_size": 8}
    assert row_of(leaderboard_frame([on_gpus]), "hashing")[HARDWARE] == (
        "cuda: NVIDIA H200 on 8 processes"
    )


def test_seeds_on_different_hardware_list_each_once() -> None:
    a = {"profile": "cpu", "cpu": "A", "torch_threads": 1}
    b = {"profile": "cpu", "cpu": "B", "torch_threads": 1}
    frame = leaderboard_frame(
        [_on(record(seed=0), a), _on(record(seed=1), b), _on(record(seed=2), a)]
    )
    assert row_of(frame, "hashing")[HARDWARE] == "cpu: A, 1 thread; cpu: B, 1 thread"


def test_the_command_line_offers_every_leaderboard_format() -> None:
    from benchsuite import cli

    assert cli.FORMATS == FORMATS


def test_a_pipe_in_a_label_stays_inside_its_markdown_cell() -> None:
    text = render(leaderboard_frame([record("qr[op=a|b]")]), "md")
    row = next(line for line in text.splitlines() if line.startswith("| qr"))
    assert r"qr[op=a\|b]" in row
    assert row.replace(r"\|", "").count("|") == text.splitlines()[0].count("|")
