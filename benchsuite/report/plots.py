"""Leaderboard plots: AUC against embedding bytes with the Pareto frontier, throughput against
bytes, and learning curves against the target, each written as PNG and SVG.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so plotting keeps no
global state and needs no display. Labels come from result files, so ``$`` is escaped: matplotlib
would otherwise read it as the start of a formula.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from benchsuite.report.leaderboard import (
    AUC,
    AUC_STD,
    FULL_METHOD,
    INFER,
    INFER_BATCH,
    MEGABYTES,
    TRAIN,
)
from benchsuite.report.pareto import frontier

__all__ = ["PLOTS", "auc_vs_bytes", "learning_curves", "throughput_vs_bytes", "write_plots"]

#: File stem and title of each plot, in the order a page shows them.
PLOTS = {
    "auc_vs_bytes": "Test AUC against embedding size",
    "throughput_vs_bytes": "Throughput against embedding size",
    "learning_curves": "Validation AUC during training",
}

_MARKERS = "osD^v<>pPX*h"
_FORMATS = ("png", "svg")


def _text(label: Any) -> str:
    return str(label).replace("$", r"\$")


def _styles(methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """One colour and marker per method label, stable for a given set of labels."""
    cycle = [f"C{i}" for i in range(10)]
    ordered = sorted(dict.fromkeys(methods), key=lambda m: (m != FULL_METHOD, m))
    return {
        method: {"color": cycle[i % len(cycle)], "marker": _MARKERS[i % len(_MARKERS)]}
        for i, method in enumerate(ordered)
    }


def _bytes(frame: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(frame[MEGABYTES], errors="coerce").to_numpy(dtype=float) * 1e6


def auc_vs_bytes(frame: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Mean test AUC (error bars: std over seeds) against embedding bytes on a log axis, one
    marker per method, budgets of a method joined, and the Pareto frontier as a dashed step."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    sizes = _bytes(frame)
    aucs = pd.to_numeric(frame[AUC], errors="coerce").to_numpy(dtype=float)
    stds = pd.to_numeric(frame[AUC_STD], errors="coerce").fillna(0).to_numpy(dtype=float)
    styles = _styles(frame["method"].tolist())
    for method, style in styles.items():
        rows = np.flatnonzero((frame["method"] == method).to_numpy() & ~np.isnan(aucs * sizes))
        if not len(rows):
            continue
        rows = rows[np.argsort(sizes[rows])]
        ax.errorbar(
            sizes[rows],
            aucs[rows],
            yerr=stds[rows],
            label=_text(method),
            capsize=3,
            linewidth=1,
            markersize=7,
            **style,
        )
    best = frontier(aucs.tolist(), sizes.tolist())
    if len(best) > 1:
        ax.step(
            sizes[best],
            aucs[best],
            where="post",
            color="0.3",
            linestyle="--",
            linewidth=1,
            label="Pareto frontier",
            zorder=0,
        )
    ax.set_xscale("log")
    ax.set_xlabel("embedding bytes (log scale)")
    ax.set_ylabel("test AUC (mean ± std over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(_text(title or PLOTS["auc_vs_bytes"]))
    if ax.has_data():
        ax.legend(fontsize="small", loc="lower right")
    return fig


def throughput_vs_bytes(frame: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Training and inference samples/s against embedding bytes, side by side."""
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    sizes = _bytes(frame)
    styles = _styles(frame["method"].tolist())
    batches = frame[INFER_BATCH].dropna().unique()
    infer_title = f"inference (batch {int(batches[0])})" if len(batches) == 1 else "inference"
    for index, (column, name) in enumerate(((TRAIN, "training"), (INFER, infer_title))):
        ax = fig.add_subplot(1, 2, index + 1)
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        for method, style in styles.items():
            rows = np.flatnonzero(
                (frame["method"] == method).to_numpy() & ~np.isnan(values * sizes)
            )
            if len(rows):
                rows = rows[np.argsort(sizes[rows])]
                ax.plot(sizes[rows], values[rows], label=_text(method), linewidth=1, **style)
        ax.set_xscale("log")
        ax.set_xlabel("embedding bytes (log scale)")
        ax.set_ylabel("samples/s")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        if index == 1 and ax.has_data():
            ax.legend(fontsize="small", loc="lower left")
    fig.suptitle(_text(title or PLOTS["throughput_vs_bytes"]))
    return fig


def learning_curves(records: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Figure:
    """Validation AUC against training samples per method and budget, averaged over the ok
    seeds at each evaluation point, with the suite's target AUC as a horizontal line."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    curves: dict[tuple[str, str], dict[int, list[float]]] = {}
    targets: set[float] = set()
    for record in records:
        if record.get("status") != "ok":
            continue
        key = (record["cell"]["label"], record["cell"]["budget"])
        points = curves.setdefault(key, {})
        for point in record.get("curve") or []:
            if isinstance(point.get("auc"), (int, float)):
                points.setdefault(point["samples"], []).append(float(point["auc"]))
        target = (record.get("metrics") or {}).get("target_auc")
        if isinstance(target, (int, float)) and not math.isnan(target):
            targets.add(float(target))
    styles = _styles([label for label, _ in curves])
    dashes: dict[str, int] = {}
    for (label, budget), points in sorted(curves.items(), key=lambda kv: _budget_key(kv[0])):
        if not points:
            continue
        linestyle = _LINESTYLES[dashes.setdefault(label, 0) % len(_LINESTYLES)]
        dashes[label] += 1
        samples = sorted(points)
        means = [float(np.mean(points[s])) for s in samples]
        ax.plot(
            samples,
            means,
            label=_text(f"{label} {budget}"),
            color=styles[label]["color"],
            marker=styles[label]["marker"],
            markersize=4,
            linewidth=1,
            linestyle=linestyle,
        )
    for target in sorted(targets):
        ax.axhline(target, color="0.2", linestyle=":", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("training samples")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("validation AUC (mean over seeds)")
    ax.grid(True, alpha=0.3)
    ax.set_title(_text(title or PLOTS["learning_curves"]))
    if ax.has_data():
        ax.legend(fontsize="small", loc="lower right")
    return fig


def _budget_key(key: tuple[str, str]) -> tuple[bool, str, float, str]:
    label, budget = key
    ratio = float(budget[:-1]) if budget.endswith("x") and _is_number(budget[:-1]) else math.inf
    return (label != FULL_METHOD, label, ratio, budget)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: Budgets of one method are told apart by dash pattern, in budget order.
_LINESTYLES = ("-", "--", "-.", ":")


def write_plots(
    frame: pd.DataFrame, records: Sequence[Mapping[str, Any]], folder: Path, *, suite: str
) -> list[Path]:
    """Write every plot as PNG and SVG into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = {
        "auc_vs_bytes": auc_vs_bytes(frame, title=f"{suite}: {PLOTS['auc_vs_bytes']}"),
        "throughput_vs_bytes": throughput_vs_bytes(
            frame, title=f"{suite}: {PLOTS['throughput_vs_bytes']}"
        ),
        "learning_curves": learning_curves(records, title=f"{suite}: {PLOTS['learning_curves']}"),
    }
    written = []
    # No dates or random ids in the files, so publishing twice gives the same bytes; SVG text
    # stays text (selectable, searchable, smaller), escaped by matplotlib's SVG writer.
    with matplotlib.rc_context({"svg.hashsalt": "benchsuite", "svg.fonttype": "none"}):
        for stem, fig in figures.items():
            for fmt in _FORMATS:
                path = folder / f"{stem}.{fmt}"
                metadata = {"Date": None} if fmt == "svg" else {"Software": None}
                fig.savefig(path, format=fmt, dpi=110, metadata=metadata)
                written.append(path)
    return written
