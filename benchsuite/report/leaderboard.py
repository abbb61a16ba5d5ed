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
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tabulate import tabulate

from benchsuite.api import BenchsuiteError, Budget
from benchsuite.report.pareto import dominators
from benchsuite.report.schema import SCHEMA, Column
from benchsuite.results import STATUSES, records_frame

__all__ = [
    "COLUMNS",
    "FORMATS",
    "FULL_METHOD",
    "Display",
    "display",
    "hardware_text",
    "latex_escape",
    "leaderboard_frame",
    "render",
]

#: The uncompressed baseline every ΔAUC is measured against.
FULL_METHOD = "full"
FORMATS = ("md", "csv", "json", "html", "latex")

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
RANK = "rank"
DOMINATED = "dominated"
HARDWARE = "hardware"

COLUMNS = tuple(c.name for c in SCHEMA)

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
    runs[HARDWARE] = [hardware_text(record) for record in records]
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
    frame[RANK] = pd.array(_ranks(frame), dtype="Int64")
    frame[DOMINATED] = _dominated(frame)
    frame["seeds"] = frame["seeds"].astype("int64")
    frame[INFER_BATCH] = pd.array(frame[INFER_BATCH].tolist(), dtype="Int64")
    return frame


def hardware_text(record: Mapping[str, Any]) -> str | None:
    """Where a record ran, for people: the profile and its device (``cpu: <model>, 2 threads``,
    ``cuda: NVIDIA H200``), from the fingerprint the hardware profile stored, and the number of
    data-parallel processes when there were several (``… on 8 processes``)."""
    hardware = (record.get("environment") or {}).get("hardware") or {}
    profile = hardware.get("profile")
    if not isinstance(profile, str):
        return None
    world = (record.get("distributed") or {}).get("world_size")
    processes = f" on {world} processes" if isinstance(world, int) and world > 1 else ""
    if isinstance(hardware.get("gpu"), str):
        count = hardware.get("gpu_count")
        many = f" ×{count}" if isinstance(count, int) and count > 1 and not processes else ""
        return f"{profile}: {hardware['gpu']}{many}{processes}"
    detail = [str(hardware["cpu"])] if isinstance(hardware.get("cpu"), str) else []
    threads = hardware.get("torch_threads")
    if isinstance(threads, int):
        detail.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return (f"{profile}: {', '.join(detail)}" if detail else profile) + processes


def _ranks(frame: pd.DataFrame) -> list[int | None]:
    """1, 2, … within each budget in the frame's (ranked) order; rows without an AUC unranked."""
    counters: dict[str, int] = {}
    ranks: list[int | None] = []
    for budget, auc in zip(frame["budget"], frame[AUC], strict=True):
        if math.isnan(auc):
            ranks.append(None)
            continue
        counters[budget] = counters.get(budget, 0) + 1
        ranks.append(counters[budget])
    return ranks


def _dominated(frame: pd.DataFrame) -> list[str | None]:
    """``method budget`` of the best row beating each row on both AUC and embedding size."""
    beaten = dominators(frame[AUC].tolist(), frame[MEGABYTES].tolist())
    names = [f"{m} {b}" for m, b in zip(frame["method"], frame["budget"], strict=True)]
    return [names[by[0]] if by else None for by in beaten]


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
        RANK: None,
        DOMINATED: None,
        HARDWARE: "; ".join(dict.fromkeys(h for h in runs[HARDWARE] if h)) or None,
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
    """The leaderboard as a markdown, html, LaTeX, csv or json document.

    Markdown, html and LaTeX are for reading, so numbers are formatted by the metric schema and
    the AUC shows as mean ± std; csv and json keep the frame's numbers numeric (missing values
    empty / null) for programs, and json carries the schema beside the rows. HTML and LaTeX
    escape every cell, since labels come from result files.
    """
    if fmt == "md":
        table = display(frame)
        text = _tabulate(table, "github")
        return text + "".join(f"\n\n{note}" for note in table.notes)
    if fmt == "html":
        table = display(frame)
        text = _tabulate(table, "html")
        return text + "".join(f"\n<p>{html.escape(note)}</p>" for note in table.notes)
    if fmt == "latex":
        return _latex(display(frame))
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        document = {"columns": [c.as_json() for c in SCHEMA], "rows": _json_rows(frame)}
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    raise BenchsuiteError(f"unknown leaderboard format {fmt!r}; allowed: {', '.join(FORMATS)}")


def _tabulate(table: Display, tablefmt: str) -> str:
    cells = table.cells
    if tablefmt == "github":  # a '|' in a label would otherwise end its cell
        cells = [[cell.replace("|", "\\|") for cell in row] for row in cells]
    return tabulate(cells, headers=table.headers, tablefmt=tablefmt, disable_numparse=True)


@dataclass(frozen=True)
class Display:
    """The table as people read it: the shown columns, their headers, each row's text and raw
    value (for sorting), and the notes that go below the table."""

    columns: list[Column]
    headers: list[str]
    cells: list[list[str]]
    values: list[list[Any]]
    notes: list[str]


_ENERGY = (TRAIN_ENERGY, INFER_ENERGY, WATTS)


def display(frame: pd.DataFrame) -> Display:
    """Format a leaderboard frame by the schema.

    Columns the schema hides are left out (the AUC std is in the AUC cell, the inference batch
    in the throughput header); optional columns only where some row has a value; the energy
    columns only where some row measured energy, the notes saying why blank cells are blank;
    the hardware as a note when every row ran on the same.
    """
    notes = _energy_notes(frame)
    marks = _energy_marks(frame)
    measured = bool(frame[list(_ENERGY)].notna().any().any())
    hardware = list(dict.fromkeys(h for h in frame[HARDWARE] if not _missing(h)))
    columns = []
    for spec in SCHEMA:
        present = frame[spec.name].map(lambda v: not _missing(v)).any()
        if not spec.shown or (spec.optional and not present):
            continue
        if spec.name in _ENERGY and not measured:
            continue
        if spec.name == HARDWARE and len(hardware) <= 1 and frame[HARDWARE].notna().all():
            continue
        columns.append(spec)
    if len(hardware) == 1 and frame[HARDWARE].notna().all():
        notes.append(f"Hardware: {hardware[0]}")
    headers = [_header(spec, frame) for spec in columns]
    cells, values = [], []
    for _, row in frame.iterrows():
        cells.append([_cell(spec, row, marks) for spec in columns])
        values.append([_plain(row[spec.name]) for spec in columns])
    return Display(columns, headers, cells, values, notes)


def _header(spec: Column, frame: pd.DataFrame) -> str:
    if spec.name == INFER:
        batches = frame[INFER_BATCH].dropna().unique()
        if len(batches) == 1:
            return f"{INFER} @{int(batches[0])}"
    return spec.name


def _cell(spec: Column, row: pd.Series, marks: dict[str, str]) -> str:
    value = row[spec.name]
    if spec.style == "auc":
        return _auc_text(value, row[AUC_STD])
    if spec.style == "target":
        if _missing(row[REACHED]):
            return _MISSING
        return _NOT_REACHED if _missing(value) else format(value, f",.{spec.digits}f")
    if _missing(value):
        note = row[ENERGY_NOTE]
        return _MISSING + (marks[note] if spec.name in _ENERGY and not _missing(note) else "")
    if spec.style == "count":
        return f"{int(value):,}"
    if spec.style == "fixed":
        return format(value, f",.{spec.digits}f")
    if spec.style == "signed":
        return format(value, f"+.{spec.digits}f")
    if spec.style == "ratio":
        return f"{value:.{spec.digits}f}x"
    if spec.style == "significant":
        return _significant(value)
    if spec.style == "percent":
        return _percent(value)
    return str(value)


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _energy_reasons(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(r for r in frame[ENERGY_NOTE] if not _missing(r)))


def _energy_marks(frame: pd.DataFrame) -> dict[str, str]:
    """A superscript number per distinct reason, set beside the dashes it explains."""
    return {
        reason: str(i).translate(_SUPERSCRIPTS)
        for i, reason in enumerate(_energy_reasons(frame), 1)
    }


def _energy_notes(frame: pd.DataFrame) -> list[str]:
    """Why blank energy cells are blank: each distinct reason once.

    Where no row measured energy the columns are left out and the notes alone say why (naming
    the rows when the reasons differ); otherwise each note carries the mark of its dashes.
    """
    reasons = _energy_reasons(frame)
    if not frame[list(_ENERGY)].notna().any().any():
        if len(reasons) == 1:
            return [f"Energy unmeasured: {reasons[0]}"]
        return [
            f"Energy unmeasured for {_rows_with(frame, reason)}: {reason}" for reason in reasons
        ]
    marks = _energy_marks(frame)
    return [f"{marks[reason]} Energy unmeasured: {reason}" for reason in reasons]


def _rows_with(frame: pd.DataFrame, reason: str) -> str:
    rows = frame[frame[ENERGY_NOTE] == reason]
    return ", ".join(f"{m} {b}" for m, b in zip(rows["method"], rows["budget"], strict=True))


def _percent(value: float) -> str:
    """A fraction as a percentage; compressed methods can exceed 100% (docs/measurements.md)."""
    return format(value, ".1%" if value < 10 else ",.0%")


def _auc_text(mean: float, std: float) -> str:
    if _missing(mean):
        return _MISSING
    return f"{mean:.4f}" if _missing(std) else f"{mean:.4f} ± {std:.4f}"


def _significant(value: float) -> str:
    """Enough digits to tell small synthetic tables apart without padding large ones."""
    return format(value, ",.0f" if value >= 100 else ".2f" if value >= 1 else ".3g")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# LaTeX: the specials escaped, the few non-ASCII marks the table uses written as commands.
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "–": "--",
    "×": r"$\times$",
}
_LATEX.update({sup: rf"\textsuperscript{{{d}}}" for d, sup in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")})


def latex_escape(text: str) -> str:
    """``text`` safe inside a LaTeX table cell."""
    return "".join(_LATEX.get(char, char) for char in text)


def _latex(table: Display) -> str:
    """A booktabs ``tabular`` (text columns left, numbers right) and the notes below it."""
    align = "".join("l" if c.style == "text" else "r" for c in table.columns)
    lines = [f"\\begin{{tabular}}{{{align}}}", r"\toprule"]
    lines.append(" & ".join(latex_escape(h) for h in table.headers) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table.cells]
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [f"\\par\\smallskip{{\\footnotesize {latex_escape(note)}}}" for note in table.notes]
    return "\n".join(lines) + "\n"


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
