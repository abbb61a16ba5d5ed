"""``benchsuite compare A B``: two result sets side by side, with a verdict per leaderboard row.

Each side is aggregated exactly as the leaderboard aggregates it (:func:`leaderboard_frame`, per
suite), rows are matched by (method label, budget), and every compared metric gets A, B and the
ratio B/A. Which direction is better comes from the metric schema
(:mod:`benchsuite.report.schema`), never from a list kept here, so the leaderboard and the
comparison cannot disagree about what a regression is.

Verdicts (docs/compare.md has the reasoning):

- AUC: changed only when the difference of the means is larger than both the seeds' spread,
  ``2 · sqrt(sA²/nA + sB²/nB)`` (about a 95% band for the difference of two means), and the
  absolute tolerance; with one seed on a side there is no spread and the tolerance alone decides.
- Every other compared metric: regressed when it is more than ``threshold`` times worse in its
  schema direction, improved when more than ``threshold`` times better.
- Status: a smaller share of ok seeds is a regression, a larger one an improvement.
- A row's verdict is its worst metric's, and the reason names the metrics that decided it.

A side is a folder of records or a git revision's copy of one (``REV:PATH``), read by
:func:`load_result_set`.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from tabulate import tabulate

from benchsuite.api import BenchsuiteError
from benchsuite.report.leaderboard import (
    AUC,
    AUC_STD,
    FULL_METHOD,
    REACHED,
    hardware_text,
    leaderboard_frame,
)
from benchsuite.report.schema import SCHEMA, Column
from benchsuite.results import load_records

__all__ = [
    "COMPARED",
    "DEFAULT_AUC_TOLERANCE",
    "DEFAULT_THRESHOLD",
    "FORMATS",
    "NOT_COMPARED",
    "VERDICTS",
    "Comparison",
    "MetricChange",
    "QualityChange",
    "RowChange",
    "compare_results",
    "load_result_set",
    "render_comparison",
]

FORMATS = ("md", "csv", "json")
VERDICTS = ("regressed", "improved", "unchanged", "new", "missing")
DEFAULT_THRESHOLD = 1.10
DEFAULT_AUC_TOLERANCE = 0.001

#: Leaderboard columns that have a better direction but are not compared, and why. The AUC is
#: compared on its own terms (seed spread and tolerance); every other column of the schema with
#: a direction is compared by ratio.
NOT_COMPARED: dict[str, str] = {
    "rank": "a position among the rows of one budget: it moves when other rows change",
    "ΔAUC vs full": "a difference of two AUCs, both compared already; a ratio of differences "
    "near zero means nothing",
    "gap to Bayes": "the Bayes-optimal AUC minus the AUC, which is compared already; a ratio of "
    "differences near zero means nothing",
    "lookup roofline": "the inference throughput times a constant of the suite over the "
    "measured bandwidth: the throughput is compared already",
}

#: The metrics compared by ratio, in schema order, each with its direction.
COMPARED: tuple[Column, ...] = tuple(
    c for c in SCHEMA if c.better is not None and c.name != AUC and c.name not in NOT_COMPARED
)

_ORDER = {"regressed": 0, "improved": 1, "unchanged": 2}
_CHANGED = ("regressed", "improved")
_TARGET = "target"
_NA = "n/a"
_DASH = "–"
_NOT_REACHED = "not reached"
_BASELINE_BUDGET = "1x"


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricChange:
    """One metric of one row: A, B (``math.inf`` for a target not reached, None where a side
    did not measure it), the ratio B/A and its verdict (``n/a`` when a side has no value)."""

    metric: str
    better: str
    a: float | None
    b: float | None
    ratio: float | None
    verdict: str


@dataclass(frozen=True)
class QualityChange:
    """The mean AUC of each side, its sample std and seed count, B − A, and the spread that a
    difference must exceed (None with one seed on a side: only the tolerance applies)."""

    a: float
    b: float
    a_std: float | None
    b_std: float | None
    a_seeds: int
    b_seeds: int
    delta: float
    spread: float | None
    verdict: str


@dataclass(frozen=True)
class RowChange:
    """One (method label, budget) of one suite: its verdict, the metrics that decided it, and
    notes that qualify it (one seed, a different configuration)."""

    suite: str
    method: str
    budget: str
    verdict: str
    reasons: tuple[str, ...]
    status_a: str | None
    status_b: str | None
    quality: QualityChange | None = None
    metrics: tuple[MetricChange, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """Every matched, new and missing row of the suites both sides hold, the suites only one
    side holds, and warnings about comparing unlike runs."""

    rows: tuple[RowChange, ...]
    threshold: float
    auc_tolerance: float
    suites_only_in_a: tuple[str, ...] = ()
    suites_only_in_b: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        """Whether any row regressed: what a CI gate fails on."""
        return any(row.verdict == "regressed" for row in self.rows)

    def counts(self) -> dict[str, int]:
        return {verdict: sum(r.verdict == verdict for r in self.rows) for verdict in VERDICTS}

    def summary(self) -> str:
        """``2 regressed, 1 improved, 5 unchanged, 0 new, 1 missing`` and the one-sided suites."""
        text = ", ".join(f"{n} {verdict}" for verdict, n in self.counts().items())
        if self.suites_only_in_a:
            text += f"; suites only in A: {', '.join(self.suites_only_in_a)}"
        if self.suites_only_in_b:
            text += f"; suites only in B: {', '.join(self.suites_only_in_b)}"
        return text


def compare_results(
    a_records: Sequence[Mapping[str, Any]],
    b_records: Sequence[Mapping[str, Any]],
    threshold: float = DEFAULT_THRESHOLD,
    auc_tolerance: float = DEFAULT_AUC_TOLERANCE,
) -> Comparison:
    """Compare result set B against the baseline A, suite by suite and row by row.

    ``threshold`` is the factor by which a metric must get worse to regress (1.10: 10% worse);
    ``auc_tolerance`` the AUC difference below which no change counts, whatever the spread.
    """
    if not math.isfinite(threshold) or threshold < 1:
        raise BenchsuiteError(
            f"threshold must be a factor of at least 1 (1.10: 10%), not {threshold}"
        )
    if not math.isfinite(auc_tolerance) or auc_tolerance < 0:
        raise BenchsuiteError(f"AUC tolerance must be zero or positive, not {auc_tolerance}")
    for side, records in (("A", a_records), ("B", b_records)):
        if not records:
            raise BenchsuiteError(f"{side} has no result records")
    a_suites, b_suites = _by_suite(a_records), _by_suite(b_records)
    common = [name for name in a_suites if name in b_suites]
    if not common:
        raise BenchsuiteError(
            f"A and B have no suite in common (A: {', '.join(a_suites)}; B: {', '.join(b_suites)})"
        )
    rows: list[RowChange] = []
    warnings: list[str] = []
    for name in common:
        a, b = a_suites[name], b_suites[name]
        warnings += _environment_warnings(name, a, b)
        rows += _compare_suite(name, a, b, threshold, auc_tolerance)
    return Comparison(
        rows=tuple(rows),
        threshold=threshold,
        auc_tolerance=auc_tolerance,
        suites_only_in_a=tuple(n for n in a_suites if n not in b_suites),
        suites_only_in_b=tuple(n for n in b_suites if n not in a_suites),
        warnings=tuple(warnings),
    )


def _by_suite(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    suites: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        suites.setdefault(record["suite"]["name"], []).append(record)
    return suites


def _environment_warnings(
    suite: str, a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Ratios of runs on different machines or different suite files compare those, not code."""
    warnings = []
    hardware = [sorted({hardware_text(r) or "unknown" for r in side}) for side in (a, b)]
    if hardware[0] != hardware[1]:
        warnings.append(
            f"{suite}: A ran on {' and '.join(hardware[0])}, B on {' and '.join(hardware[1])}; "
            "speed, memory peak and energy ratios compare the machines, not the code"
        )
    hashes = [sorted({h[:12] for r in side if (h := r["suite"].get("hash"))}) for side in (a, b)]
    if hashes[0] and hashes[1] and hashes[0] != hashes[1]:
        warnings.append(
            f"{suite}: the suite file differs (hash {', '.join(hashes[0])} in A, "
            f"{', '.join(hashes[1])} in B); rows may have run on different terms"
        )
    return warnings


@dataclass(frozen=True)
class _Seeds:
    """What the leaderboard row does not keep: every seed's status and configuration hash."""

    ok: int = 0
    total: int = 0
    configs: dict[str, str] = field(default_factory=dict)


def _seeds(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], _Seeds]:
    """Per leaderboard row key (label, budget; ``full`` at 1x as the leaderboard puts it)."""
    out: dict[tuple[str, str], _Seeds] = {}
    for record in records:
        cell = record["cell"]
        budget = _BASELINE_BUDGET if cell["method"] == FULL_METHOD else cell["budget"]
        seen = out.get((cell["label"], budget), _Seeds())
        configs = {**seen.configs, cell["key"]: record["config_hash"]}
        ok = seen.ok + (record["status"] == "ok")
        out[(cell["label"], budget)] = _Seeds(ok, seen.total + 1, configs)
    return out


def _compare_suite(
    suite: str,
    a_records: Sequence[Mapping[str, Any]],
    b_records: Sequence[Mapping[str, Any]],
    threshold: float,
    tolerance: float,
) -> list[RowChange]:
    a_rows, b_rows = _rows(leaderboard_frame(a_records)), _rows(leaderboard_frame(b_records))
    a_seeds, b_seeds = _seeds(a_records), _seeds(b_records)
    changes = []
    for key, a in a_rows.items():
        if key not in b_rows:
            changes.append(RowChange(suite, *key, "missing", ("only in A",), a["status"], None))
            continue
        b = b_rows[key]
        seeds = (a_seeds.get(key, _Seeds()), b_seeds.get(key, _Seeds()))
        changes.append(_compare_row(suite, key, a, b, seeds, threshold, tolerance))
    for key, b in b_rows.items():
        if key not in a_rows:
            changes.append(RowChange(suite, *key, "new", ("only in B",), None, b["status"]))
    return changes


def _rows(frame: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["method"], row["budget"]): row for row in frame.to_dict(orient="records")}


def _compare_row(
    suite: str,
    key: tuple[str, str],
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    seeds: tuple[_Seeds, _Seeds],
    threshold: float,
    tolerance: float,
) -> RowChange:
    """A matched row: status, AUC and each compared metric, the worst deciding the verdict."""
    decided: list[tuple[str, str]] = []  # (verdict, reason)
    notes: list[str] = []
    status = _status_change(a["status"], b["status"], seeds)
    if status is not None:
        decided.append(status)
    elif a["status"] != b["status"]:
        notes.append(f"status {a['status']} → {b['status']}")
    if seeds[0].total != seeds[1].total:
        notes.append(f"seeds {seeds[0].total} → {seeds[1].total}")
    quality = _quality(a, b, tolerance)
    if quality is not None:
        if quality.verdict in _CHANGED:
            decided.append((quality.verdict, _quality_reason(quality, tolerance)))
        if quality.spread is None:
            notes.append("one seed on a side: AUC judged by the tolerance alone")
    metrics = tuple(_metric(spec, a, b, threshold) for spec in COMPARED)
    decided += [(m.verdict, _metric_reason(m)) for m in metrics if m.verdict in _CHANGED]
    differ = [k for k, h in seeds[0].configs.items() if seeds[1].configs.get(k, h) != h]
    if differ:
        common = sum(k in seeds[1].configs for k in seeds[0].configs)
        notes.append(f"configuration differs in {len(differ)} of {common} cells")
    verdict = min((v for v, _ in decided), key=_ORDER.__getitem__, default="unchanged")
    reasons = tuple(reason for v, reason in decided if v == verdict)
    if verdict == "unchanged" and quality is not None and abs(quality.delta) > tolerance:
        reasons = (f"AUC {quality.delta:+.4f} within spread ±{quality.spread:.4f}",)
    return RowChange(
        suite, *key, verdict, reasons, a["status"], b["status"], quality, metrics, tuple(notes)
    )


def _status_change(a: str, b: str, seeds: tuple[_Seeds, _Seeds]) -> tuple[str, str] | None:
    """A smaller share of ok seeds regresses (ok → failed), a larger one improves."""
    share = [s.ok / s.total if s.total else 0.0 for s in seeds]
    if share[1] < share[0]:
        return ("regressed", f"status {a} → {b}")
    if share[1] > share[0]:
        return ("improved", f"status {a} → {b}")
    return None


def _quality(a: Mapping[str, Any], b: Mapping[str, Any], tolerance: float) -> QualityChange | None:
    """The AUC change, judged against the seeds' spread and the tolerance; None when a side has
    no AUC (no ok seed), which the status already accounts for."""
    if _missing(a[AUC]) or _missing(b[AUC]):
        return None
    n_a, n_b = int(a["seeds"]), int(b["seeds"])
    s_a, s_b = _number(a[AUC_STD]), _number(b[AUC_STD])
    spread = None
    if n_a >= 2 and n_b >= 2 and s_a is not None and s_b is not None:
        spread = 2 * math.sqrt(s_a**2 / n_a + s_b**2 / n_b)
    delta = float(b[AUC]) - float(a[AUC])
    bound = max(tolerance, spread or 0.0)
    verdict = "regressed" if delta < -bound else "improved" if delta > bound else "unchanged"
    return QualityChange(float(a[AUC]), float(b[AUC]), s_a, s_b, n_a, n_b, delta, spread, verdict)


def _quality_reason(q: QualityChange, tolerance: float) -> str:
    if q.spread is None:
        return f"AUC {q.delta:+.4f} beyond tolerance {tolerance:g} (one seed on a side)"
    return f"AUC {q.delta:+.4f} beyond spread ±{q.spread:.4f}"


def _metric(
    spec: Column, a: Mapping[str, Any], b: Mapping[str, Any], threshold: float
) -> MetricChange:
    """A, B, B/A and the verdict of one metric by its schema direction and the threshold."""
    value_a, value_b = _value(spec, a), _value(spec, b)
    assert spec.better is not None
    if value_a is None or value_b is None:
        return MetricChange(spec.name, spec.better, value_a, value_b, None, _NA)
    ratio = _ratio(value_b, value_a)
    worse = ratio if spec.better == "lower" else _ratio(value_a, value_b)
    verdict = (
        "regressed" if worse > threshold else "improved" if worse < 1 / threshold else "unchanged"
    )
    return MetricChange(spec.name, spec.better, value_a, value_b, ratio, verdict)


def _value(spec: Column, row: Mapping[str, Any]) -> float | None:
    """The row's figure; a target that seeds ran for but never reached is infinitely far."""
    value = _number(row[spec.name])
    if value is None and spec.style == _TARGET and not _missing(row[REACHED]):
        return math.inf
    return value


def _ratio(x: float, y: float) -> float:
    """x / y, with 0/0 and inf/inf as 1 (no change) and x/0 as infinity."""
    if x == y:
        return 1.0
    if y == 0 or math.isinf(x):
        return math.inf
    return x / y


def _metric_reason(m: MetricChange) -> str:
    if m.a is not None and math.isinf(m.a) and m.b is not None and not math.isinf(m.b):
        return f"{m.metric}: reached (was {_NOT_REACHED})"
    if m.b is not None and math.isinf(m.b):
        return f"{m.metric}: {_NOT_REACHED} (was {_figure(m.a)})"
    return f"{m.metric} {_ratio_text(m.ratio)}"


def _number(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# ---------------------------------------------------------------------------------------------
# Reading a side: a folder, or a folder in a git revision
# ---------------------------------------------------------------------------------------------


def load_result_set(source: str, cwd: Path | None = None) -> list[dict[str, Any]]:
    """The records of ``source``: a folder, or ``REV:PATH`` for that folder in a git revision of
    the repository holding ``cwd`` (the current directory by default).

    A path that exists is always a folder, even with a colon in its name. Revision files are
    written to a temporary folder and read by :func:`load_records`, so they are validated by
    exactly the same rules as files on disk; errors name them as ``REV:PATH/file``.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    local = where / source
    if local.exists() or ":" not in source:
        if not local.exists():
            raise BenchsuiteError(f"{source}: no such folder")
        if not local.is_dir():
            raise BenchsuiteError(f"{source}: not a folder of result records")
        records = load_records(local)
    else:
        revision, path = source.split(":", 1)
        records = _revision_records(revision, path, where, source)
    if not records:
        raise BenchsuiteError(f"{source}: no result records")
    return records


def _revision_records(revision: str, path: str, cwd: Path, source: str) -> list[dict[str, Any]]:
    if not revision:
        raise BenchsuiteError(
            f"{source}: no revision before ':' (write REV:PATH, e.g. main:results)"
        )
    if _git(["rev-parse", "--git-dir"], cwd, source).returncode != 0:
        raise BenchsuiteError(f"{source}: {cwd} is not in a git repository")
    found = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"],
        cwd,
        source,
    )
    if found.returncode != 0:
        raise BenchsuiteError(f"{source}: unknown revision {revision!r}")
    commit = found.stdout.decode().strip()
    tree = f"{commit}:{path}"
    kind = _git(["cat-file", "-t", tree], cwd, source)
    if kind.returncode != 0:
        raise BenchsuiteError(f"{source}: {path!r} is not in revision {revision} ({commit[:12]})")
    if kind.stdout.decode().strip() != "tree":
        raise BenchsuiteError(f"{source}: {path!r} is a file in revision {revision}, not a folder")
    listing = _git(["ls-tree", "-r", "-z", tree], cwd, source)
    if listing.returncode != 0:
        raise BenchsuiteError(f"{source}: cannot list it ({_stderr(listing)})")
    blobs = _json_blobs(listing.stdout)
    prefix = f"{revision}:{path.rstrip('/')}/" if path.strip("/") else f"{revision}:"
    with tempfile.TemporaryDirectory(prefix="benchsuite-compare-") as temp:
        folder = Path(temp)
        for name, content in zip(
            blobs, _read_blobs(list(blobs.values()), cwd, source), strict=True
        ):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        try:
            return load_records(folder)
        except BenchsuiteError as exc:
            raise BenchsuiteError(str(exc).replace(f"{folder}/", prefix)) from None


def _json_blobs(listing: bytes) -> dict[str, str]:
    """Name → object id of the regular ``.json`` files of a ``git ls-tree -r -z`` listing."""
    blobs = {}
    for entry in listing.decode("utf-8", errors="surrogateescape").split("\0"):
        if not entry:
            continue
        meta, name = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        parts = PurePosixPath(name).parts
        if kind == "blob" and mode != "120000" and name.endswith(".json") and ".." not in parts:
            blobs[name] = oid
    return blobs


def _read_blobs(oids: list[str], cwd: Path, source: str) -> list[bytes]:
    """The contents of ``oids``, in order, from one ``git cat-file --batch``."""
    if not oids:
        return []
    done = _git(["cat-file", "--batch"], cwd, source, stdin="\n".join(oids) + "\n")
    if done.returncode != 0:
        raise BenchsuiteError(f"{source}: cannot read its files ({_stderr(done)})")
    out, at, contents = done.stdout, 0, []
    for oid in oids:
        end = out.index(b"\n", at)
        header = out[at:end].decode().split()
        if len(header) != 3 or header[0] != oid:
            raise BenchsuiteError(f"{source}: git returned {' '.join(header)!r} for {oid}")
        size = int(header[2])
        contents.append(out[end + 1 : end + 1 + size])
        at = end + 1 + size + 1
    return contents


def _git(
    args: list[str], cwd: Path, source: str, stdin: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin.encode() if stdin is not None else None,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise BenchsuiteError(f"{source}: reading a git revision needs git, not found") from exc


def _stderr(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stderr.decode(errors="replace").strip() or f"git exited {done.returncode}"


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render_comparison(
    comparison: Comparison, fmt: str = "md", names: tuple[str, str] = ("A", "B")
) -> str:
    """The comparison as a markdown table with notes and the summary line (for people), or as
    csv (one line per row, every metric's A, B and B/A) or json (the same, with the settings,
    summary and warnings) for programs. ``names`` say what A and B were."""
    if fmt == "md":
        return _markdown(comparison, names)
    if fmt == "csv":
        return _frame(comparison).to_csv(index=False)
    if fmt == "json":
        return json.dumps(_document(comparison, names), indent=2, ensure_ascii=False) + "\n"
    raise BenchsuiteError(f"unknown comparison format {fmt!r}; allowed: {', '.join(FORMATS)}")


def _markdown(comparison: Comparison, names: tuple[str, str]) -> str:
    rows = comparison.rows
    several = len({r.suite for r in rows}) > 1
    with_status = any(r.status_a != "ok" or r.status_b != "ok" for r in rows)
    shown = [
        spec
        for spec in COMPARED
        if any(m.metric == spec.name and m.verdict != _NA for r in rows for m in r.metrics)
    ]
    headers = [*(["suite"] if several else []), "method", "budget", "verdict", "reason"]
    headers += [*(["status"] if with_status else []), "AUC A", "AUC B", "ΔAUC", "spread"]
    headers += [f"{spec.name} B/A" for spec in shown]
    with_notes = any(r.notes for r in rows)
    headers += ["notes"] if with_notes else []
    cells = []
    for r in rows:
        q = r.quality
        line = [*([r.suite] if several else []), r.method, r.budget, r.verdict]
        line.append("; ".join(r.reasons) or _DASH)
        if with_status:
            line.append(_status_text(r.status_a, r.status_b))
        line += [_auc(q.a if q else None), _auc(q.b if q else None)]
        line += [format(q.delta, "+.4f") if q else _DASH, _spread_text(q)]
        by_name = {m.metric: m for m in r.metrics}
        line += [_ratio_cell(by_name.get(spec.name)) for spec in shown]
        line += ["; ".join(r.notes) or _DASH] if with_notes else []
        cells.append(line)
    cells = [[cell.replace("|", "\\|") for cell in line] for line in cells]  # labels, notes
    table = tabulate(cells, headers=headers, tablefmt="github", disable_numparse=True)
    lines = [f"A: {names[0]}  \nB: {names[1]}", "", table, ""]
    lines.append(
        f"Ratios are B/A. A metric regresses when it is more than {comparison.threshold:.2f}x "
        "worse in its better direction; the AUC when it moves by more than both the seeds' "
        f"spread (2·√(sA²/nA + sB²/nB)) and {comparison.auc_tolerance:g}."
    )
    lines += ["", comparison.summary()]
    return "\n".join(lines) + "\n"


def _status_text(a: str | None, b: str | None) -> str:
    if a == b:
        return a or _DASH
    return f"{a or _DASH} → {b or _DASH}"


def _auc(value: float | None) -> str:
    return _DASH if value is None else f"{value:.4f}"


def _spread_text(q: QualityChange | None) -> str:
    if q is None:
        return _DASH
    return "1 seed" if q.spread is None else f"±{q.spread:.4f}"


def _ratio_cell(m: MetricChange | None) -> str:
    if m is None or m.a is None or m.b is None:
        return _DASH
    if math.isinf(m.a) and math.isinf(m.b):
        return _NOT_REACHED
    if math.isinf(m.b):
        return _NOT_REACHED
    if math.isinf(m.a):
        return "reached"
    return _ratio_text(m.ratio)


def _ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return _DASH
    return "∞" if math.isinf(ratio) else f"{ratio:.2f}x"


def _figure(value: float | None) -> str:
    if value is None:
        return _DASH
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _frame(comparison: Comparison) -> pd.DataFrame:
    """One line per row: identity, verdict, AUC figures, then A, B and B/A of every metric."""
    lines = []
    for r in comparison.rows:
        q = r.quality
        line: dict[str, Any] = {
            "suite": r.suite,
            "method": r.method,
            "budget": r.budget,
            "verdict": r.verdict,
            "reason": "; ".join(r.reasons),
            "notes": "; ".join(r.notes),
            "status A": r.status_a,
            "status B": r.status_b,
            "seeds A": q.a_seeds if q else None,
            "seeds B": q.b_seeds if q else None,
            "AUC A": q.a if q else None,
            "AUC B": q.b if q else None,
            "AUC std A": q.a_std if q else None,
            "AUC std B": q.b_std if q else None,
            "ΔAUC": q.delta if q else None,
            "spread": q.spread if q else None,
            "AUC verdict": q.verdict if q else None,
        }
        by_name = {m.metric: m for m in r.metrics}
        for spec in COMPARED:
            m = by_name.get(spec.name)
            line[f"{spec.name} A"] = _json_value(m.a) if m else None
            line[f"{spec.name} B"] = _json_value(m.b) if m else None
            line[f"{spec.name} B/A"] = _plain(m.ratio) if m else None
            line[f"{spec.name} verdict"] = m.verdict if m else None
        lines.append(line)
    return pd.DataFrame(lines)


def _plain(value: float | None) -> float | None:
    """A number for csv and json; JSON has no infinity, so an infinite ratio is null (the
    figures beside it say why)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _document(comparison: Comparison, names: tuple[str, str]) -> dict[str, Any]:
    rows = []
    for r in comparison.rows:
        q = r.quality
        rows.append(
            {
                "suite": r.suite,
                "method": r.method,
                "budget": r.budget,
                "verdict": r.verdict,
                "reasons": list(r.reasons),
                "notes": list(r.notes),
                "status": {"a": r.status_a, "b": r.status_b},
                "auc": None
                if q is None
                else {
                    "a": q.a,
                    "b": q.b,
                    "a_std": q.a_std,
                    "b_std": q.b_std,
                    "a_seeds": q.a_seeds,
                    "b_seeds": q.b_seeds,
                    "delta": q.delta,
                    "spread": q.spread,
                    "verdict": q.verdict,
                },
                "metrics": {
                    m.metric: {
                        "better": m.better,
                        "a": _json_value(m.a),
                        "b": _json_value(m.b),
                        "ratio": _plain(m.ratio),
                        "verdict": m.verdict,
                    }
                    for m in r.metrics
                },
            }
        )
    return {
        "a": names[0],
        "b": names[1],
        "threshold": comparison.threshold,
        "auc_tolerance": comparison.auc_tolerance,
        "summary": comparison.counts(),
        "suites_only_in_a": list(comparison.suites_only_in_a),
        "suites_only_in_b": list(comparison.suites_only_in_b),
        "warnings": list(comparison.warnings),
        "rows": rows,
    }


def _json_value(value: float | None) -> float | str | None:
    """A figure for csv and json: a target not reached as words, as the leaderboard shows it."""
    if value is not None and math.isinf(value):
        return _NOT_REACHED
    return _plain(value)
