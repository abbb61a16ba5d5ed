"""The leaderboard: one row per method and budget of a suite, aggregated over seeds.

:func:`leaderboard_frame` keeps every number numeric (the AUC mean and its standard deviation are
separate columns) so the table can be sorted, exported and compared; :func:`render` formats it
for people (``0.7712 ± 0.0011``, ``16.0x``, ``not reached``) or for programs (csv, json).

Quality and speed columns average the seeds whose status is ``ok``; a seed that failed, diverged
or was infeasible shows in the status column instead, never as a number. Memory columns use the
ok seeds too, or, when none is ok, any seed that measured them, so an over-budget row still shows
how large it was.

Energy columns (joules per million samples of each window, the training window's average power)
come from the hardware profile's meter; where it measured nothing, the cell is blank and the
reason is given once, below the table (md, html) or in the ``energy unmeasured`` column (csv,
json). The lookup roofline is defined in docs/measurements.md.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from tabulate import tabulate

from benchsuite.api import BenchsuiteError, Budget
from benchsuite.results import STATUSES, records_frame

__all__ = ["COLUMNS", "FORMATS", "FULL_METHOD", "leaderboard_frame", "render"]

#: The uncompressed baseline every ΔAUC is measured against.
FULL_METHOD = "full"
FORMATS = ("md", "csv", "json", "html")

AUC = "AUC"
AUC_STD = "AUC std"
DELTA = "ΔAUC vs full"
GAP = "gap to Bayes"
REACHED = "target reached"
SAMPLES = "samples to target"
SECONDS = "seconds to target"
RATIO = "compression ratio"
MEGABYTES = "embedding MB"
TRAIN = "train samples/s"
INFER = "inference samples/s"
INFER_BATCH = "inference batch"
STATS = "statistics s"
ROOFLINE = "lookup roofline"
TRAIN_ENERGY = "train J/M samples"
INFER_ENERGY = "inference J/M samples"
WATTS = "train average W"
ENERGY_NOTE = "energy unmeasured"

COLUMNS = (
    "method",
    "budget",
    "seeds",
    "status",
    AUC,
    AUC_STD,
    DELTA,
    GAP,
    REACHED,
    SAMPLES,
    SECONDS,
    RATIO,
    MEGABYTES,
    TRAIN,
    INFER,
    INFER_BATCH,
    ROOFLINE,
    STATS,
    TRAIN_ENERGY,
    INFER_ENERGY,
    WATTS,
    ENERGY_NOTE,
)

_MISSING = "–"
_NOT_REACHED = "not reached"
_BASELINE_BUDGET = "1x"


# ---------------------------------------------------------------------------------------------
# The frame
# ---------------------------------------------------------------------------------------------


def leaderboard_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Aggregate one suite's records into leaderboard rows, grouped by budget and ranked by AUC.

    Budgets run from 1x up by compression ratio (a byte budget is placed by the ratio it implies
    for the suite's tables, or after all ratios by decreasing size when that is unknown); the
    ``full`` baseline forms its own first group at 1x. Within a budget, higher mean AUC ranks
    first and rows without an AUC come last.
    """
    if not records:
        raise BenchsuiteError("no result records")
    runs = records_frame(records)
    _require_one_suite(runs)
    runs.loc[runs["method"] == FULL_METHOD, "budget"] = _BASELINE_BUDGET
    batch = _largest_batch(runs)
    full_bytes = _floats(runs["full_bytes"]).max()
    groups = runs.groupby(["method", "label", "budget"], sort=False, dropna=False)
    rows = [
        _row(label, budget, method == FULL_METHOD, group, batch)
        for (method, label, budget), group in groups
    ]
    rows.sort(key=lambda row: _rank(row, full_bytes))
    frame = pd.DataFrame([{column: row[column] for column in COLUMNS} for row in rows])
    frame[DELTA] = frame[AUC] - _baseline_auc(runs)
    frame["seeds"] = frame["seeds"].astype("int64")
    frame[INFER_BATCH] = pd.array(frame[INFER_BATCH].tolist(), dtype="Int64")
    return frame


def _require_one_suite(runs: pd.DataFrame) -> None:
    """Cells of different suites ran on different terms; one table must not mix them."""
    suites = sorted(runs["suite"].dropna().unique())
    if len(suites) > 1:
        raise BenchsuiteError(
            f"records from several suites ({', '.join(suites)}); build one leaderboard per suite"
        )


def _largest_batch(runs: pd.DataFrame) -> int | None:
    """The largest inference batch size any record measured: the throughput the table shows."""
    sizes = [
        int(column.rsplit("@", 1)[1])
        for column in runs.columns
        if column.startswith("inference_samples_per_s@") and runs[column].notna().any()
    ]
    return max(sizes) if sizes else None


def _baseline_auc(runs: pd.DataFrame) -> float:
    """Mean test AUC of the ok seeds of the ``full`` method, NaN when the suite has none."""
    baseline = runs[(runs["method"] == FULL_METHOD) & (runs["status"] == "ok")]
    return _mean(baseline["test_auc"])


def _row(
    label: str, budget: str, baseline: bool, runs: pd.DataFrame, batch: int | None
) -> dict[str, Any]:
    """One leaderboard row from all seeds of one (method label, budget)."""
    ok = runs[runs["status"] == "ok"]
    measured = ok if len(ok) else runs
    auc = _floats(ok["test_auc"]).dropna()
    throughput = _mean(_column(ok, f"inference_samples_per_s@{batch}"))
    return {
        "method": label,
        "budget": budget,
        "seeds": len(ok),
        "status": _status(runs["status"]),
        AUC: _mean(auc),
        AUC_STD: float(auc.std(ddof=1)) if len(auc) > 1 else math.nan,
        DELTA: math.nan,
        GAP: _mean(_floats(ok["bayes_auc"]) - _floats(ok["test_auc"])),
        **_target_columns(ok, len(runs)),
        RATIO: _mean(_compression_ratio(measured)),
        MEGABYTES: _mean(_floats(measured["embedding_bytes"]) / 1e6),
        TRAIN: _mean(ok["train_samples_per_s"]),
        INFER: throughput,
        INFER_BATCH: None if math.isnan(throughput) else batch,
        ROOFLINE: _mean(_roofline(ok, batch)),
        STATS: _mean(_column(runs, "stats_seconds")),
        TRAIN_ENERGY: _mean(_column(ok, "energy_train_joules_per_million_samples")),
        INFER_ENERGY: _mean(_column(ok, "energy_inference_joules_per_million_samples")),
        WATTS: _mean(_column(ok, "energy_train_average_watts")),
        ENERGY_NOTE: _energy_note(ok),
        "_baseline": baseline,
    }


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    """A column of the runs, or an empty one where no record has that figure."""
    return runs[name] if name in runs.columns else pd.Series(dtype="float64")


def _roofline(runs: pd.DataFrame, batch: int | None) -> pd.Series:
    """Per run: full-table lookup traffic at the inference throughput over memory bandwidth."""
    if batch is None or "memory_bandwidth_bytes_per_s" not in runs.columns:
        return pd.Series(dtype="float64")
    traffic = _floats(runs[f"inference_samples_per_s@{batch}"]) * _floats(
        runs["lookup_bytes_per_sample"]
    )
    return traffic / _floats(runs["memory_bandwidth_bytes_per_s"])


def _energy_note(ok: pd.DataFrame) -> str | None:
    """Why a row's energy is blank: the meters' reasons over its ok seeds, per window when the
    two windows differ; None when every window of every ok seed was measured."""
    reasons = {
        window: list(dict.fromkeys(_column(ok, f"energy_{window}_unmeasured").dropna()))
        for window in ("train", "inference")
    }
    if reasons["train"] == reasons["inference"]:
        return "; ".join(reasons["train"]) or None
    parts = [f"{window}: {'; '.join(why)}" for window, why in reasons.items() if why]
    return "; ".join(parts)


def _status(statuses: pd.Series) -> str:
    """``ok``; a single other status shared by all seeds; else each non-ok status with its share."""
    counts = statuses.value_counts()
    if len(counts) == 1:
        return str(counts.index[0])
    total = len(statuses)
    order = {status: index for index, status in enumerate(STATUSES)}
    bad = sorted((s for s in counts.index if s != "ok"), key=lambda s: order.get(s, len(order)))
    return ", ".join(f"{status} {counts[status]}/{total}" for status in bad)


def _target_columns(ok: pd.DataFrame, seeds: int) -> dict[str, Any]:
    """Seeds that reached the target (of all seeds), and the mean cost over those that did.

    ``target reached`` is None when no seed ran to completion or the suite sets no target,
    which the renderer shows as a dash rather than as "not reached".
    """
    reached = ok["target_reached"].fillna(False).astype(bool)
    has_target = bool(reached.any() or ok["target_auc"].notna().any())
    if not len(ok) or not has_target:
        return {REACHED: None, SAMPLES: math.nan, SECONDS: math.nan}
    return {
        REACHED: f"{int(reached.sum())}/{seeds}",
        SAMPLES: _mean(ok.loc[reached, "samples_to_target"]),
        SECONDS: _mean(ok.loc[reached, "seconds_to_target"]),
    }


def _compression_ratio(runs: pd.DataFrame) -> pd.Series:
    """The recorded ratio, or full bytes over embedding bytes where only those were recorded."""
    derived = _floats(runs["full_bytes"]) / _floats(runs["embedding_bytes"])
    return _floats(runs["compression_ratio"]).fillna(derived)


def _rank(row: Mapping[str, Any], full_bytes: float) -> tuple[Any, ...]:
    """Sort key: baseline first, then budget groups in ratio order, then AUC descending."""
    auc = row[AUC]
    auc_key = (1, 0.0) if math.isnan(auc) else (0, -auc)
    group = (-1, 0.0, "") if row["_baseline"] else _budget_order(row["budget"], full_bytes)
    return (*group, *auc_key, row["method"])


def _budget_order(label: str, full_bytes: float) -> tuple[int, float, str]:
    """Ratios in increasing order; sizes by the ratio they imply, else after all ratios."""
    try:
        budget = Budget.parse(label)
    except BenchsuiteError:
        return (2, 0.0, str(label))
    if budget.ratio is not None:
        return (0, budget.ratio, label)
    assert budget.size is not None
    if full_bytes > 0:
        return (0, full_bytes / budget.size, label)
    return (1, -float(budget.size), label)


def _floats(values: pd.Series) -> pd.Series:
    """A float64 view of a column (nullable integers included), missing values as NaN."""
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _mean(values: pd.Series) -> float:
    values = _floats(values).dropna()
    return float(values.mean()) if len(values) else math.nan


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The leaderboard as a markdown, html, csv or json document.

    Markdown and html are for reading, so numbers are formatted and the AUC shows as mean ± std;
    csv and json keep the frame's numbers numeric (missing values empty / null) for programs.
    HTML escapes every cell, since labels come from result files.
    """
    if fmt == "md":
        table, notes = _table(frame, "github")
        return table + "".join(f"\n\n{note}" for note in notes)
    if fmt == "html":
        table, notes = _table(frame, "html")
        return table + "".join(f"\n<p>{html.escape(note)}</p>" for note in notes)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return json.dumps(_json_rows(frame), indent=2, ensure_ascii=False) + "\n"
    raise BenchsuiteError(f"unknown leaderboard format {fmt!r}; allowed: {', '.join(FORMATS)}")


def _table(frame: pd.DataFrame, tablefmt: str) -> tuple[str, list[str]]:
    """The formatted table and the notes that go below it."""
    shown, notes = _display(frame)
    table = tabulate(
        shown.values.tolist(), headers=list(shown.columns), tablefmt=tablefmt, disable_numparse=True
    )
    return table, notes


def _display(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Formatted text for people: AUC as mean ± std, ratios as ``16.0x``, gaps as dashes."""
    shown = pd.DataFrame(
        {
            "method": frame["method"].astype(str),
            "budget": frame["budget"].astype(str),
            "seeds": frame["seeds"].astype(str),
            "status": frame["status"].astype(str),
            AUC: [_auc_text(m, s) for m, s in zip(frame[AUC], frame[AUC_STD], strict=True)],
            DELTA: [_number(v, "+.4f") for v in frame[DELTA]],
            GAP: [_number(v, ".4f") for v in frame[GAP]],
            REACHED: [_MISSING if _missing(v) else str(v) for v in frame[REACHED]],
            SAMPLES: _target_text(frame, SAMPLES, ",.0f"),
            SECONDS: _target_text(frame, SECONDS, ",.1f"),
            RATIO: [_MISSING if _missing(v) else f"{v:.1f}x" for v in frame[RATIO]],
            MEGABYTES: [_megabytes(v) for v in frame[MEGABYTES]],
            TRAIN: [_number(v, ",.0f") for v in frame[TRAIN]],
            INFER: [_number(v, ",.0f") for v in frame[INFER]],
        }
    )
    if frame[ROOFLINE].notna().any():  # where records carry a bandwidth to divide by
        shown[ROOFLINE] = [_percent(v) for v in frame[ROOFLINE]]
    if frame[STATS].notna().any():  # the price of methods' preprocessing, where any paid it
        shown[STATS] = [_number(v, ",.1f") for v in frame[STATS]]
    notes = _energy_display(frame, shown)
    batches = frame[INFER_BATCH].dropna().unique()
    if len(batches) == 1:
        shown = shown.rename(columns={INFER: f"{INFER} @{int(batches[0])}"})
    return shown, notes


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _energy_display(frame: pd.DataFrame, shown: pd.DataFrame) -> list[str]:
    """Add the energy columns to ``shown`` where any row measured energy, and return the notes
    saying why blank cells are blank: each distinct reason once, its mark beside the dashes.

    Where no row measured energy, the columns are left out and the notes alone say why.
    """
    energy = (TRAIN_ENERGY, INFER_ENERGY, WATTS)
    reasons = list(dict.fromkeys(r for r in frame[ENERGY_NOTE] if not _missing(r)))
    marks = {reason: str(i).translate(_SUPERSCRIPTS) for i, reason in enumerate(reasons, 1)}
    if not frame[list(energy)].notna().any().any():
        if len(reasons) == 1:
            return [f"Energy unmeasured: {reasons[0]}"]
        return [
            f"Energy unmeasured for {_rows_with(frame, reason)}: {reason}" for reason in reasons
        ]
    for column in energy:
        spec = ",.1f" if column == WATTS else None
        shown[column] = [
            _energy_text(value, spec)
            if not _missing(value)
            else _MISSING + ("" if _missing(note) else marks[note])
            for value, note in zip(frame[column], frame[ENERGY_NOTE], strict=True)
        ]
    return [f"{marks[reason]} Energy unmeasured: {reason}" for reason in reasons]


def _rows_with(frame: pd.DataFrame, reason: str) -> str:
    rows = frame[frame[ENERGY_NOTE] == reason]
    return ", ".join(f"{m} {b}" for m, b in zip(rows["method"], rows["budget"], strict=True))


def _energy_text(value: float, spec: str | None) -> str:
    return format(value, spec) if spec else _significant(value)


def _percent(value: float) -> str:
    """A fraction as a percentage; compressed methods can exceed 100% (docs/measurements.md)."""
    if _missing(value):
        return _MISSING
    return format(value, ".1%" if value < 10 else ",.0%")


def _auc_text(mean: float, std: float) -> str:
    if _missing(mean):
        return _MISSING
    return f"{mean:.4f}" if _missing(std) else f"{mean:.4f} ± {std:.4f}"


def _target_text(frame: pd.DataFrame, column: str, spec: str) -> list[str]:
    """A dash where no target applies, "not reached" where seeds ran but none reached it."""
    texts = []
    for reached, value in zip(frame[REACHED], frame[column], strict=True):
        if _missing(reached):
            texts.append(_MISSING)
        else:
            texts.append(_NOT_REACHED if _missing(value) else format(value, spec))
    return texts


def _megabytes(value: float) -> str:
    """Enough digits to tell small synthetic tables apart without padding large ones."""
    return _MISSING if _missing(value) else _significant(value)


def _significant(value: float) -> str:
    return format(value, ",.0f" if value >= 100 else ".2f" if value >= 1 else ".3g")


def _number(value: Any, spec: str) -> str:
    return _MISSING if _missing(value) else format(value, spec)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Row objects with plain Python values: numbers as numbers, missing values as null."""
    return [
        {column: _plain(value) for column, value in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _plain(value: Any) -> Any:
    if _missing(value):
        return None
    return value.item() if hasattr(value, "item") else value
