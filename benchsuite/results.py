"""Result records: one JSON file per cell, written atomically, validated on load, queried.

A record is what the runner learned about one cell (method × params × budget × seed): its
configuration, environment, status and metrics. Records are plain JSON (never pickles) so they can
be diffed, published and read by other tools.

Non-finite floats: JSON has no NaN or infinity, and a diverged cell's loss is often exactly that.
:func:`write_record` stores each non-finite float as ``null`` and lists where it was, and what it
was, under the top-level ``"non_finite"`` key (for example ``{"metrics.test_logloss": "nan"}``),
so "the loss was NaN" stays distinguishable from "the loss was not measured". Files containing the
``NaN``/``Infinity`` literals that Python's json module would otherwise accept are rejected on load.

Records travel between machines and contributors, so a file is untrusted input: loading refuses
oversized files before reading them, and validation checks names (they become folder names and
table cells), text shown in reports (no HTML-special or control characters) and the plausible
range of every number the reports use. docs/results.md lists the rules.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from benchsuite.api import BenchsuiteError
from benchsuite.atomic import remove_temporaries, write_atomically

__all__ = [
    "SCHEMA",
    "STATUSES",
    "check_energy_reading",
    "load_record",
    "load_records",
    "name_problem",
    "record_files",
    "record_path",
    "records_frame",
    "remove_temporaries",
    "text_problem",
    "validate_record",
    "write_record",
]

SCHEMA = "benchsuite.result/1"
STATUSES = ("ok", "failed", "diverged", "over_budget", "infeasible", "timeout")
#: Largest record file :func:`load_record` reads. Real records are a few KB (tens of KB with a
#: failed cell's traceback); anything near this size is not a record.
MAX_RECORD_BYTES = 4 * 1024 * 1024

_SCHEMA_PREFIX = "benchsuite.result/"

# Type specifications: accepted Python types and a human description for the error message.
_STR = ((str,), "a string")
_STR_OR_NULL = ((str, type(None)), "a string or null")
_INT = ((int,), "an integer")
_INT_OR_NULL = ((int, type(None)), "an integer or null")
_NUM = ((int, float), "a number")
_NUM_OR_NULL = ((int, float, type(None)), "a number or null")
_BOOL_OR_NULL = ((bool, type(None)), "true, false or null")
_DICT = ((dict,), "an object")
_LIST = ((list,), "a list")

FLOAT_METRICS = (
    "test_auc",
    "test_logloss",
    "bayes_auc",
    "best_val_auc",
    "target_auc",
    "seconds_to_target",
    "train_seconds",
    "train_samples_per_s",
    "data_wait_share",
    "compression_ratio",
)
INT_METRICS = (
    "samples_to_target",
    "train_samples",
    "embedding_bytes",
    "full_bytes",
    "budget_bytes",
    "optimizer_state_bytes",
    "lookup_bytes_per_sample",
)
BOOL_METRICS = ("target_reached",)

# (dotted path, type spec, required). A parent is always listed before its children, so a
# child is only checked once its parent is known to be an object.
_FIELDS: tuple[tuple[str, tuple[tuple[type, ...], str], bool], ...] = (
    ("suite", _DICT, True),
    ("suite.name", _STR, True),
    ("suite.path", _STR_OR_NULL, False),
    ("suite.hash", _STR, False),
    ("cell", _DICT, True),
    ("cell.key", _STR, True),
    ("cell.method", _STR, True),
    ("cell.label", _STR, True),
    ("cell.params", _DICT, True),
    ("cell.budget", _STR, True),
    ("cell.seed", _INT, True),
    ("config", _DICT, True),
    ("config.hardware", _STR, False),
    ("config_hash", _STR, True),
    ("plugin", _DICT, False),
    ("plugin.name", _STR, False),
    ("plugin.version", _STR_OR_NULL, False),
    ("dataset", _DICT, False),
    ("dataset.name", _STR, False),
    ("dataset.fingerprint", _STR_OR_NULL, False),
    ("environment", _DICT, True),
    ("environment.benchsuite_version", _STR_OR_NULL, False),
    ("environment.git_commit", _STR_OR_NULL, False),
    ("environment.torch", _STR_OR_NULL, False),
    ("environment.hardware", _DICT, False),
    ("started_at", _STR, True),
    ("finished_at", _STR_OR_NULL, True),
    ("status", _STR, True),
    ("error", _STR_OR_NULL, True),
    ("metrics", _DICT, True),
    *((f"metrics.{name}", _NUM_OR_NULL, False) for name in FLOAT_METRICS),
    *((f"metrics.{name}", _INT_OR_NULL, False) for name in INT_METRICS),
    *((f"metrics.{name}", _BOOL_OR_NULL, False) for name in BOOL_METRICS),
    ("metrics.inference_samples_per_s", _DICT, False),
    ("metrics.peak_memory", _DICT, False),
    ("metrics.peak_memory.bytes", _INT, False),
    ("metrics.energy", _DICT, False),
    ("metrics.memory_bandwidth", _DICT, False),
    ("metrics.memory_bandwidth.bytes_per_s", _NUM_OR_NULL, False),
    ("metrics.memory_bandwidth.method", _STR, False),
    ("metrics.stats_cost", _DICT, False),
    ("metrics.stats_cost.seconds", _NUM_OR_NULL, False),
    ("metrics.stats_cost.bytes", _NUM_OR_NULL, False),
    ("curve", _LIST, False),
    ("non_finite", _DICT, False),
    ("distributed", _DICT, False),
    ("distributed.world_size", _INT, False),
    ("distributed.backend", _STR, False),
    ("distributed.rank_samples_per_s", _LIST, False),
    ("distributed.allreduce_bytes_per_step", _INT, False),
    ("distributed.stopped_run", _BOOL_OR_NULL, False),
)

# (key, type spec, required) of each point of the evaluation curve.
_CURVE_FIELDS = (
    ("samples", _INT, True),
    ("seconds", _NUM_OR_NULL, False),
    ("auc", _NUM_OR_NULL, False),
    ("logloss", _NUM_OR_NULL, False),
)

# Plausible ranges: (low, high, low is exclusive). A number outside is a broken or forged record.
_Range = tuple[float, float, bool]
_UNIT: _Range = (0.0, 1.0, False)
_NON_NEGATIVE: _Range = (0.0, math.inf, False)
_POSITIVE: _Range = (0.0, math.inf, True)
_RANGES: dict[str, _Range] = {
    "cell.seed": _NON_NEGATIVE,
    **{f"metrics.{name}": _UNIT for name in ("test_auc", "best_val_auc", "bayes_auc")},
    "metrics.target_auc": _UNIT,
    "metrics.test_logloss": _NON_NEGATIVE,
    "metrics.seconds_to_target": _NON_NEGATIVE,
    "metrics.train_seconds": _NON_NEGATIVE,
    # 0 is what a run measures when training ends at its last warm-up step: no steady samples.
    "metrics.train_samples_per_s": _NON_NEGATIVE,
    "metrics.data_wait_share": _UNIT,
    "metrics.compression_ratio": _POSITIVE,
    **{f"metrics.{name}": _NON_NEGATIVE for name in INT_METRICS},
    "metrics.peak_memory.bytes": _NON_NEGATIVE,
    "metrics.memory_bandwidth.bytes_per_s": _POSITIVE,
    "metrics.stats_cost.seconds": _NON_NEGATIVE,
    "metrics.stats_cost.bytes": _NON_NEGATIVE,
}
_CURVE_RANGES: dict[str, _Range] = {
    "samples": _NON_NEGATIVE,
    "seconds": _NON_NEGATIVE,
    "auc": _UNIT,
    "logloss": _NON_NEGATIVE,
}

# Names become folder names and report rows: plugin-style, as the host requires of plugins.
_NAME_FIELDS = ("suite.name", "cell.method")
# Text shown in reports and on the site: nothing that is special in HTML or invisible.
_TEXT_FIELDS = ("cell.label", "cell.key", "cell.budget", "config.hardware")
_FORBIDDEN_CHARACTERS = frozenset("<>&\"'`")


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate_record(record: Any, where: str) -> None:
    """Raise :class:`BenchsuiteError` naming ``where`` and the first problem found in ``record``.

    Keys beyond the schema are allowed, so later versions of the runner can add facts without
    breaking older readers; what the leaderboard relies on is checked for presence and type.
    """
    if not isinstance(record, dict):
        raise BenchsuiteError(
            f"{where}: not a result record (top level is {_json_type(record)}, expected an object)"
        )
    _check_schema(record, where)
    _check_encodable(record, where)
    for dotted, spec, required in _FIELDS:
        _check_field(record, dotted, spec, required, where)
    _check_names(record, where)
    _check_status(record, where)
    _check_inference(record, where)
    _check_energy(record, where)
    _check_curve(record, where)


def _check_schema(record: dict[str, Any], where: str) -> None:
    """Reject other schema versions by name, so a newer file is not misread as a broken one."""
    schema = record.get("schema")
    if schema is None:
        raise BenchsuiteError(f"{where}: missing key 'schema' (expected {SCHEMA!r})")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith(_SCHEMA_PREFIX):
            raise BenchsuiteError(
                f"{where}: schema {schema!r} is not supported; this benchsuite reads {SCHEMA!r}"
            )
        raise BenchsuiteError(
            f"{where}: not a benchsuite result record (schema {schema!r}, expected {SCHEMA!r})"
        )


def _check_encodable(record: dict[str, Any], where: str) -> None:
    """Every string, keys included, must be text UTF-8 can hold: JSON's ``"\\ud800"`` escape
    reads as an unpaired surrogate, which breaks every report that writes it out."""
    stack: list[Any] = [record]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise BenchsuiteError(
                    f"{where}: the text {_short(value)} holds an unpaired surrogate "
                    f"{value[exc.start]!r}, which is not a character"
                ) from None


def _lookup(record: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """Return (present, value) for a dotted path whose parents were already checked."""
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _check_field(
    record: dict[str, Any],
    dotted: str,
    spec: tuple[tuple[type, ...], str],
    required: bool,
    where: str,
) -> None:
    present, value = _lookup(record, dotted)
    if not present:
        if required:
            raise BenchsuiteError(f"{where}: missing key '{dotted}'")
        return
    _check_type(value, spec, dotted, where)
    if dotted in _RANGES:
        _check_range(value, _RANGES[dotted], dotted, where)


def _check_type(value: Any, spec: tuple[tuple[type, ...], str], dotted: str, where: str) -> None:
    """Check ``value`` against ``spec``; a bool is never accepted as a number."""
    kinds, description = spec
    is_bool_as_number = isinstance(value, bool) and bool not in kinds
    if not isinstance(value, kinds) or is_bool_as_number:
        raise BenchsuiteError(
            f"{where}: '{dotted}' must be {description}, got {_json_type(value)} {_short(value)}"
        )


def _check_range(value: Any, bounds: _Range, dotted: str, where: str) -> None:
    """Reject a number outside ``bounds`` (NaN included); null passes where the type allowed it."""
    if value is None:
        return
    low, high, low_exclusive = bounds
    inside = (low < value if low_exclusive else low <= value) and value <= high
    if not inside:
        raise BenchsuiteError(
            f"{where}: '{dotted}' must be {_describe_range(bounds)}, got {value!r}"
        )


def _describe_range(bounds: _Range) -> str:
    low, high, low_exclusive = bounds
    if high == math.inf:
        return f"{'>' if low_exclusive else '>='} {low:g}"
    return f"in {'(' if low_exclusive else '['}{low:g}, {high:g}]"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a suite or method in a record, or None when it can. Suites
    check this when they load, so a run never ends in a record it cannot write."""
    if name.replace("-", "_").isidentifier():
        return None
    return (
        "must be a name of letters, digits, '_' and '-' (not starting with a digit), "
        f"got {_short(name)}"
    )


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a label, key or budget in a record, or None when it can."""
    bad = next((c for c in text if _forbidden(c)), None)
    if bad is None:
        return None
    return (
        f"must not contain {bad!r} (no <, >, &, quotes, backticks or control characters), "
        f"got {_short(text)}"
    )


def _check_names(record: dict[str, Any], where: str) -> None:
    """Names must be plugin-style and displayed text harmless, whoever wrote the file."""
    for dotted in _NAME_FIELDS:
        problem = name_problem(_lookup(record, dotted)[1])
        if problem:
            raise BenchsuiteError(f"{where}: '{dotted}' {problem}")
    for dotted in _TEXT_FIELDS:
        present, text = _lookup(record, dotted)
        problem = text_problem(text) if present else None
        if problem:
            raise BenchsuiteError(f"{where}: '{dotted}' {problem}")


def _forbidden(character: str) -> bool:
    """HTML-special characters, and control or format characters (which can hide or reorder
    text, as bidirectional overrides do)."""
    return character in _FORBIDDEN_CHARACTERS or unicodedata.category(character) in ("Cc", "Cf")


def _check_status(record: dict[str, Any], where: str) -> None:
    """An ok record must carry the AUC the leaderboard ranks by; others may lack any metric."""
    status = record["status"]
    if status not in STATUSES:
        raise BenchsuiteError(f"{where}: unknown status {status!r}; allowed: {', '.join(STATUSES)}")
    if status == "ok" and not _is_number(record["metrics"].get("test_auc")):
        raise BenchsuiteError(f"{where}: status is 'ok' but 'metrics.test_auc' is not a number")


def _check_inference(record: dict[str, Any], where: str) -> None:
    """Throughput is keyed by batch size, written as a decimal string."""
    throughput = record["metrics"].get("inference_samples_per_s") or {}
    for key, value in throughput.items():
        if not (key.isascii() and key.isdigit()):  # not '²', which isdigit() accepts
            raise BenchsuiteError(
                f"{where}: 'metrics.inference_samples_per_s' key {key!r} is not a batch size"
            )
        dotted = f"metrics.inference_samples_per_s.{key}"
        _check_type(value, _NUM_OR_NULL, dotted, where)
        _check_range(value, _POSITIVE, dotted, where)


# (key, type spec) of a measured energy reading: joules and how they were measured are
# required. A reading may carry more keys (a meter's method-specific details).
_ENERGY_REQUIRED = (("joules", _NUM), ("method", _STR))
_ENERGY_OPTIONAL = (
    ("seconds", _NUM),
    ("average_watts", _NUM_OR_NULL),
    ("peak_watts", _NUM_OR_NULL),
    ("sampling_period_s", _NUM_OR_NULL),
    ("resolution_j", _NUM_OR_NULL),
    ("disagreement", _NUM_OR_NULL),
    ("joules_per_million_samples", _NUM_OR_NULL),
    ("samples", _INT),
    ("warning", _STR),
    ("domains", _LIST),
    ("alternatives", _DICT),
)


def _check_energy(record: dict[str, Any], where: str) -> None:
    """Each window of ``metrics.energy`` is a measured reading or says why it is not."""
    for window, reading in (record["metrics"].get("energy") or {}).items():
        check_energy_reading(reading, f"metrics.energy.{window}", where)


def check_energy_reading(reading: Any, dotted: str, where: str) -> None:
    """Raise :class:`BenchsuiteError` naming ``where`` and the field when ``reading`` is neither
    ``{"unmeasured": reason}`` nor a measured reading (``joules``, ``seconds``, ``method``…).

    The runner checks each meter's reading with it before storing it, so a hardware plugin that
    returns a malformed reading fails its cell with this message instead of writing a record
    no report can read.
    """
    _check_type(reading, _DICT, dotted, where)
    if "unmeasured" in reading:
        reason = reading["unmeasured"]
        if not isinstance(reason, str) or not reason.strip():
            raise BenchsuiteError(
                f"{where}: '{dotted}.unmeasured' must be the reason the window was not "
                f"measured (a non-empty string), got {_json_type(reason)} {_short(reason)}"
            )
        if "joules" in reading:
            raise BenchsuiteError(
                f"{where}: '{dotted}' has both 'joules' and 'unmeasured'; a window is either "
                "measured or not"
            )
        return
    if "joules" not in reading:
        raise BenchsuiteError(
            f"{where}: '{dotted}' has neither 'joules' nor 'unmeasured' (a reading must say what "
            "it measured or why it measured nothing)"
        )
    for name, spec in _ENERGY_REQUIRED:
        if name not in reading:
            raise BenchsuiteError(f"{where}: missing key '{dotted}.{name}'")
        _check_type(reading[name], spec, f"{dotted}.{name}", where)
    for name, spec in _ENERGY_OPTIONAL:
        if name in reading:
            _check_type(reading[name], spec, f"{dotted}.{name}", where)
    for name in ("joules", "seconds"):
        if reading.get(name, 0) < 0:
            raise BenchsuiteError(
                f"{where}: '{dotted}.{name}' must not be negative, got {reading[name]!r}"
            )
    for index, domain in enumerate(reading.get("domains") or []):
        _check_type(domain, _STR, f"{dotted}.domains.{index}", where)
    for method, joules in (reading.get("alternatives") or {}).items():
        _check_type(joules, _NUM_OR_NULL, f"{dotted}.alternatives.{method}", where)


def _check_curve(record: dict[str, Any], where: str) -> None:
    for index, point in enumerate(record.get("curve") or []):
        _check_type(point, _DICT, f"curve.{index}", where)
        for name, spec, required in _CURVE_FIELDS:
            dotted = f"curve.{index}.{name}"
            if name in point:
                _check_type(point[name], spec, dotted, where)
                _check_range(point[name], _CURVE_RANGES[name], dotted, where)
            elif required:
                raise BenchsuiteError(f"{where}: missing key '{dotted}'")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    """Name a value's type as the JSON file shows it, which is what the user will look at."""
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if _is_number(value) else type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_record(path: Path, record: Mapping[str, Any]) -> None:
    """Validate ``record`` and write it to ``path`` atomically.

    The JSON goes to a hidden temporary file in the same folder, is flushed and fsynced, then
    renamed over ``path``: a reader (or an interrupted run) sees the old record or the new one,
    never half of one. Non-finite floats become ``null`` and are listed under ``"non_finite"``;
    numpy scalars become plain numbers. An invalid record raises and nothing is written.
    """
    path = Path(path)
    non_finite: dict[str, str] = {}
    clean = _jsonable(record, "", non_finite, str(path))
    if non_finite:
        clean["non_finite"] = {**clean.get("non_finite", {}), **non_finite}
    validate_record(clean, str(path))

    def dump(handle: IO[str]) -> None:
        json.dump(clean, handle, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False)
        handle.write("\n")

    write_atomically(path, dump, binary=False)


def _jsonable(value: Any, dotted: str, non_finite: dict[str, str], where: str) -> Any:
    """A JSON-safe copy of ``value``: non-finite floats become None and are noted by path."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Mapping):
        return {
            _json_key(key, dotted, where): _jsonable(item, _join(dotted, key), non_finite, where)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [
            _jsonable(item, _join(dotted, i), non_finite, where) for i, item in enumerate(value)
        ]
    if isinstance(value, float) and not math.isfinite(value):
        non_finite[dotted] = str(value)
        return None
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise BenchsuiteError(
        f"{where}: cannot write '{dotted}': {type(value).__name__} is not a JSON value"
    )


def _json_key(key: Any, dotted: str, where: str) -> str:
    """JSON object keys are strings; integer keys (batch sizes) are written as JSON would."""
    if isinstance(key, str):
        return key
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return str(int(key))
    raise BenchsuiteError(
        f"{where}: cannot write '{dotted}': key {key!r} is not a string or an integer"
    )


def _join(dotted: str, key: Any) -> str:
    return f"{dotted}.{key}" if dotted else str(key)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def load_record(path: Path) -> dict[str, Any]:
    """Read and validate one record; any problem raises an error naming the file.

    The size is checked before the file is read, and at most one byte past the limit is ever
    read (a file growing meanwhile is caught too), so a hostile file cannot exhaust memory.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size <= MAX_RECORD_BYTES:
            with path.open("rb") as handle:
                data = handle.read(MAX_RECORD_BYTES + 1)
            size = max(size, len(data))
    except OSError as exc:
        raise BenchsuiteError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size > MAX_RECORD_BYTES:
        raise BenchsuiteError(
            f"{path}: {size:,} bytes is over the {MAX_RECORD_BYTES:,}-byte limit for a result "
            "record"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BenchsuiteError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        record = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise BenchsuiteError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    except ValueError as exc:
        raise BenchsuiteError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise BenchsuiteError(f"{path}: not a result record (JSON nested too deeply)") from None
    validate_record(record, str(path))
    return record


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a result record; write null instead")


def _finite_float(text: str) -> float:
    """A literal such as ``1e999`` parses to infinity, which is a NaN literal in disguise."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_short(text)} is out of range for a number in a result record")
    return value


def load_records(folder: Path) -> list[dict[str, Any]]:
    """Every record under ``folder`` (recursively), in path order.

    Hidden files (temporary files of a write in progress start with '.') are skipped; a corrupt
    file raises, never skipped silently. Two files for the same cell of the same suite raise,
    since averaging both would count one seed twice. A missing folder holds no records.
    """
    folder = Path(folder)
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise BenchsuiteError(f"{folder}: not a folder of result records")
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in record_files(folder):
        record = load_record(path)
        identity = (record["suite"]["name"], record["cell"]["key"])
        if identity in seen:
            raise BenchsuiteError(
                f"{path}: cell {identity[1]!r} of suite {identity[0]!r} is already recorded in "
                f"{seen[identity]}; remove one of the two files"
            )
        seen[identity] = path
        records.append(record)
    return records


def record_files(folder: Path) -> list[Path]:
    """The files under ``folder`` that hold records: ``*.json``, recursively, none hidden."""
    return sorted(
        path
        for path in folder.rglob("*.json")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


def record_path(folder: Path, cell_key: str) -> Path:
    """The file for a cell: a readable slug of its key plus a hash of the exact key.

    Keys such as ``hashing[seed=3]@16x#0`` contain characters that are unsafe or awkward in
    file names; the slug keeps them readable and the hash keeps keys that differ only in those
    characters apart.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", cell_key).strip("-.")[:80].strip("-.") or "cell"
    digest = hashlib.sha256(cell_key.encode("utf-8")).hexdigest()[:12]
    return Path(folder) / f"{slug}-{digest}.json"


# ---------------------------------------------------------------------------------------------
# Querying
# ---------------------------------------------------------------------------------------------

_INT_COLUMNS = ("seed", *INT_METRICS, "peak_memory_bytes")


def records_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per record, flattened into columns: the long table every report starts from.

    Integer columns use pandas' nullable ``Int64`` and ``target_reached`` the nullable
    ``boolean``, so a missing value stays missing instead of turning counts into floats.
    """
    rows = [_flatten(record) for record in records]
    base = list(_BASE_COLUMNS)
    extra = sorted({column for row in rows for column in row} - set(base), key=_column_order)
    frame = pd.DataFrame(rows, columns=base + extra)
    for column in (*FLOAT_METRICS, "memory_bandwidth_bytes_per_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in _INT_COLUMNS:
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    frame["target_reached"] = pd.array(frame["target_reached"].tolist(), dtype="boolean")
    for column in extra:
        if column.startswith("inference_samples_per_s@"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


_BASE_COLUMNS = (
    "suite",
    "cell",
    "method",
    "label",
    "params",
    "budget",
    "seed",
    "status",
    "error",
    *FLOAT_METRICS,
    *INT_METRICS,
    *BOOL_METRICS,
    "peak_memory_bytes",
    "peak_memory_method",
    "memory_bandwidth_bytes_per_s",
    "memory_bandwidth_method",
    "hardware_profile",
    "git_commit",
    "benchsuite_version",
    "torch_version",
    "python_version",
    "plugin_version",
    "dataset",
    "dataset_fingerprint",
    "suite_hash",
    "config_hash",
    "started_at",
    "finished_at",
)


def _column_order(column: str) -> tuple[int, int, str]:
    """Throughput columns by batch size (numerically), then the rest alphabetically."""
    if column.startswith("inference_samples_per_s@"):
        return (0, int(column.rsplit("@", 1)[1]), column)
    return (1, 0, column)


def _flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    suite, cell = record.get("suite", {}), record.get("cell", {})
    metrics = record.get("metrics") or {}
    environment = record.get("environment") or {}
    dataset = record.get("dataset") or {}
    peak = metrics.get("peak_memory") or {}
    bandwidth = metrics.get("memory_bandwidth") or {}
    row: dict[str, Any] = {
        "suite": suite.get("name"),
        "cell": cell.get("key"),
        "method": cell.get("method"),
        "label": cell.get("label"),
        "params": json.dumps(cell.get("params", {}), sort_keys=True, separators=(",", ":")),
        "budget": cell.get("budget"),
        "seed": cell.get("seed"),
        "status": record.get("status"),
        "error": record.get("error"),
        **{name: metrics.get(name) for name in (*FLOAT_METRICS, *INT_METRICS, *BOOL_METRICS)},
        "peak_memory_bytes": peak.get("bytes"),
        "peak_memory_method": peak.get("method") or peak.get("unmeasured"),
        "memory_bandwidth_bytes_per_s": bandwidth.get("bytes_per_s"),
        "memory_bandwidth_method": bandwidth.get("method") or bandwidth.get("unmeasured"),
        "hardware_profile": (environment.get("hardware") or {}).get("profile"),
        "git_commit": environment.get("git_commit"),
        "benchsuite_version": environment.get("benchsuite_version"),
        "torch_version": environment.get("torch"),
        "python_version": environment.get("python"),
        "plugin_version": (record.get("plugin") or {}).get("version"),
        "dataset": dataset.get("name"),
        "dataset_fingerprint": dataset.get("fingerprint"),
        "suite_hash": suite.get("hash"),
        "config_hash": record.get("config_hash"),
        "started_at": record.get("started_at"),
        "finished_at": record.get("finished_at"),
    }
    for batch, value in (metrics.get("inference_samples_per_s") or {}).items():
        row[f"inference_samples_per_s@{batch}"] = value
    row.update(_energy_columns(metrics.get("energy") or {}))
    stats_cost = metrics.get("stats_cost") or {}
    row["stats_seconds"] = stats_cost.get("seconds")
    row["stats_bytes"] = stats_cost.get("bytes")
    return row


def _energy_columns(energy: Mapping[str, Any]) -> dict[str, Any]:
    """``energy_<window>_<field>`` for each scalar an energy reading carries (joules, method…)."""
    columns: dict[str, Any] = {}
    for window, reading in energy.items():
        if not isinstance(reading, Mapping):
            continue
        for name, value in reading.items():
            if value is None or isinstance(value, (str, int, float)):
                columns[f"energy_{window}_{name}"] = value
    return columns
