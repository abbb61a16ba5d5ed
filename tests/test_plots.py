"""Leaderboard plots and the Pareto rule they share with the dominated mark."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from records import record

from benchsuite.report.leaderboard import leaderboard_frame
from benchsuite.report.pareto import dominators, frontier
from benchsuite.report.plots import (
    PLOTS,
    auc_vs_bytes,
    learning_curves,
    throughput_vs_bytes,
    write_plots,
)

NAN = math.nan


def with_curve(rec: dict[str, Any], aucs: list[float], target: float = 0.76) -> dict[str, Any]:
    rec["curve"] = [
        {"samples": 1000 * (i + 1), "seconds": float(i), "auc": auc, "logloss": 0.5}
        for i, auc in enumerate(aucs)
    ]
    rec["metrics"]["target_auc"] = target
    return rec


# Pareto


def test_dominators_need_both_higher_auc_and_smaller_size() -> None:
    aucs = [0.80, 0.75, 0.77, 0.77]
    sizes = [100.0, 50.0, 10.0, 50.0]
    beaten = dominators(aucs, sizes)
    assert beaten[1] == [2]  # 0.77 at 10 beats 0.75 at 50; row 3 is the same size as row 1
    assert beaten[3] == []  # 0.77 at 50 vs 0.77 at 10: same AUC
    assert beaten[0] == [] and beaten[2] == []


def test_a_few_bytes_smaller_at_the_same_budget_is_not_beaten_on_memory() -> None:
    # two methods filling one budget differ by rounding; the rank orders them, not the mark
    assert dominators([0.78, 0.79], [5_402_608.0, 5_402_512.0]) == [[], []]
    assert dominators([0.78, 0.79], [5_402_608.0, 5_300_000.0]) == [[1], []]


def test_rows_without_auc_or_size_neither_dominate_nor_are_dominated() -> None:
    beaten = dominators([0.9, NAN, 0.7], [1.0, 100.0, NAN])
    assert beaten == [[], [], []]


def test_frontier_is_the_undominated_rows_by_increasing_size() -> None:
    aucs = [0.80, 0.75, 0.77, 0.70, NAN]
    sizes = [100.0, 50.0, 10.0, 1.0, 0.5]
    assert frontier(aucs, sizes) == [3, 2, 0]


def test_frontier_keeps_only_the_better_of_two_rows_of_equal_size() -> None:
    assert frontier([0.77, 0.78, 0.80], [10.0, 10.0, 100.0]) == [1, 2]
    assert frontier([0.78, 0.78], [10.0, 10.0]) == [0]  # exact duplicates: one point


# Figures


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return [
        with_curve(record("full", "1x", seed=0, auc=0.79), [0.74, 0.77, 0.79]),
        with_curve(record("full", "1x", seed=1, auc=0.81), [0.76, 0.79, 0.81]),
        with_curve(record("hashing", "16x", seed=0, auc=0.77), [0.70, 0.74, 0.77]),
        with_curve(record("hashing", "4x", seed=0, auc=0.76), [0.70, 0.73, 0.76]),
        with_curve(record("qr", "16x", seed=0, auc=0.78), [0.72, 0.75, 0.78]),
    ]


def _line(fig: Any, label: str) -> Any:
    lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_label() == label]
    assert len(lines) == 1, [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    return lines[0]


def test_auc_plot_draws_the_frontier_through_undominated_rows(records) -> None:
    frame = leaderboard_frame(records)
    fig = auc_vs_bytes(frame)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    step = _line(fig, "Pareto frontier")
    # qr 16x (1 MB, 0.78) then full (16 MB, 0.80); hashing 4x and 16x are beaten by qr 16x
    assert list(step.get_xdata()) == pytest.approx([1e6, 16e6])
    assert list(step.get_ydata()) == pytest.approx([0.78, 0.80])
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"full", "hashing", "qr", "Pareto frontier"} <= labels


def test_auc_plot_error_bars_are_the_std_over_seeds(records) -> None:
    fig = auc_vs_bytes(leaderboard_frame(records))
    full_bars = (
        next(c for c in fig.axes[0].containers if c.get_label() == "full")
        .lines[2][0]
        .get_segments()[0]
    )
    assert [y for _, y in full_bars] == pytest.approx([0.80 - 0.01414, 0.80 + 0.01414], abs=1e-4)


def test_throughput_plot_shows_training_and_inference_per_method(records) -> None:
    fig = throughput_vs_bytes(leaderboard_frame(records))
    _, inference = fig.axes
    assert "batch 16384" in inference.get_title()
    hashing = next(line for line in inference.get_lines() if line.get_label() == "hashing")
    assert list(hashing.get_xdata()) == pytest.approx([1e6, 4e6])
    assert list(hashing.get_ydata()) == pytest.approx([90_000.0, 90_000.0])


def test_learning_curves_average_the_seeds_and_draw_the_target(records) -> None:
    fig = learning_curves(records)
    full = _line(fig, "full 1x")
    assert list(full.get_xdata()) == [1000, 2000, 3000]
    assert list(full.get_ydata()) == pytest.approx([0.75, 0.78, 0.80])
    target = _line(fig, "target 0.76")
    assert list(target.get_ydata()) == [0.76, 0.76]


def test_learning_curves_leave_out_seeds_that_did_not_finish(records) -> None:
    failed = with_curve(record("qr", "16x", seed=1, auc=None, status="failed"), [0.5, 0.5, 0.5])
    fig = learning_curves([*records, failed])
    assert list(_line(fig, "qr 16x").get_ydata()) == pytest.approx([0.72, 0.75, 0.78])


def test_write_plots_writes_each_plot_as_png_and_parsable_svg(records, tmp_path: Path) -> None:
    written = write_plots(leaderboard_frame(records), records, tmp_path, suite="quickstart")
    assert sorted(p.name for p in written) == sorted(
        f"{stem}.{fmt}" for stem in PLOTS for fmt in ("png", "svg")
    )
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            ET.parse(path)  # well-formed XML
            assert "quickstart" in path.read_text()


def test_labels_from_records_are_drawn_literally_and_escaped_in_svg(tmp_path: Path) -> None:
    odd = "qr[name=$x$<b>]"
    records = [
        with_curve(record("full", "1x", auc=0.8), [0.8]),
        with_curve(record(odd, "4x", auc=0.7), [0.7]),
    ]
    write_plots(leaderboard_frame(records), records, tmp_path, suite="s")
    svg = (tmp_path / "auc_vs_bytes.svg").read_text()
    assert "$x$&lt;b&gt;" in svg and "<b>" not in svg


def test_plots_are_the_same_bytes_when_written_twice(records, tmp_path: Path) -> None:
    frame = leaderboard_frame(records)
    first = write_plots(frame, records, tmp_path / "a", suite="s")
    second = write_plots(frame, records, tmp_path / "b", suite="s")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
