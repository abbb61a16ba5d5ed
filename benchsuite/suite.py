"""Suites: YAML files validated into a :class:`Suite`, expanded into :class:`Cell` s.

Everything that can be wrong with a suite is found here, before any training: unknown keys,
wrong types, unknown methods or datasets, bad parameters and budgets no method can meet. Each
problem is one message naming the file, the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import reprlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchsuite import results
from benchsuite.api import BenchsuiteError, Budget, Method, full_table_bytes
from benchsuite.guards import parse_duration, parse_size
from benchsuite.host import Host
from benchsuite.params import parse_method, parse_method_list


class SuiteError(BenchsuiteError):
    """A suite that cannot run, with the file and key at fault."""


# -- the schema: key -> (checker, default); a default of _REQUIRED makes the key required ------

_REQUIRED = object()

#: Integers end up in torch and numpy, which hold at most 64 bits.
MAX_INT = 2**63 - 1
#: Values (scalars and containers, counted each time an alias repeats them) a suite file may
#: stand for. Real suites have a few hundred; YAML aliases let a file of a few hundred bytes
#: stand for billions ("billion laughs"), which would exhaust memory when checked or printed.
MAX_VALUES = 100_000
#: Nesting depth a suite file may have; real suites nest four levels.
MAX_DEPTH = 64


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _positive_int(v: Any) -> str | None:
    if not (_is_int(v) and v > 0):
        return "must be a positive integer"
    return None if v <= MAX_INT else "must be a positive integer of at most 2**63 - 1"


def _positive_number(v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
    return None if ok else "must be a positive number"


def _optional(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def checker(v: Any) -> str | None:
        problem = check(v) if v is not None else None
        return f"{problem} or null" if problem else None

    return checker


def _auc(v: Any) -> str | None:
    ok = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0.5 < v < 1)
    return None if ok else "must be a number between 0.5 and 1, or null"


def _int_list(v: Any) -> str | None:
    ok = isinstance(v, list) and all(_positive_int(x) is None for x in v)
    return None if ok else "must be a list of positive integers"


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    def checker(v: Any) -> str | None:
        return None if v in allowed else f"must be one of {', '.join(allowed)}"

    return checker


def _string(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _mapping(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be a mapping"


def _duration(v: Any) -> str | None:
    try:
        parse_duration(v, "")
    except BenchsuiteError:
        return "must be seconds (a positive number) or a duration such as '90s', '30m' or '2h'"
    return None


def _size(v: Any) -> str | None:
    try:
        parse_size(v, "")
    except BenchsuiteError:
        return "must be a size such as '800MB' or '4GiB' (or a number of bytes)"
    return None


SCHEMA: dict[str, dict[str, tuple[Callable[[Any], str | None], Any]]] = {
    "": {
        "name": (_string, None),
        "description": (_string, ""),
        "dataset": (_mapping, _REQUIRED),
        "model": (_mapping, {}),
        "train": (_mapping, _REQUIRED),
        "inference": (_mapping, {}),
        "hardware": (_string, "auto"),
        "methods": (
            lambda v: None if isinstance(v, list) and v else "must be a non-empty list",
            _REQUIRED,
        ),
        "budgets": (
            lambda v: None if isinstance(v, list) and v else "must be a non-empty list",
            ["1x"],
        ),
        "seeds": (
            lambda v: (
                None
                if isinstance(v, list) and v and all(_is_int(s) and 0 <= s <= MAX_INT for s in v)
                else "must be a non-empty list of non-negative integers (at most 2**63 - 1)"
            ),
            [0],
        ),
        "mlperf_logging": (_boolean, False),
        "isolate": (_boolean, False),
        "timeout": (_optional(_duration), None),
        "memory_limit": (_optional(_size), None),
    },
    "dataset": {"name": (_string, _REQUIRED), "params": (_mapping, {})},
    "model": {
        "dim": (_positive_int, 16),
        "bottom_mlp": (_int_list, [64, 32]),
        "top_mlp": (_int_list, [64, 32]),
    },
    "train": {
        "optimizer": (_one_of("sgd", "adagrad"), "sgd"),
        "lr": (_positive_number, 0.1),
        "batch_size": (_positive_int, 256),
        "samples": (_optional(_positive_int), None),
        "epochs": (_optional(_positive_int), None),
        "eval_every": (_optional(_positive_int), None),
        "target_auc": (_auc, None),
        "stop_at_target": (_boolean, False),
        "warmup_steps": (
            lambda v: (
                None if _is_int(v) and 0 <= v <= MAX_INT else "must be a non-negative integer"
            ),
            20,
        ),
        # Checkpoints (benchsuite/checkpoint.py): every N samples and/or minutes; null: never.
        "checkpoint_every": (_optional(_positive_int), None),
        "checkpoint_minutes": (_optional(_positive_number), 10),
    },
    "inference": {
        "batch_sizes": (_int_list, [1024, 16384]),
        "batches": (_positive_int, 10),
    },
}

METHOD_ENTRY_KEYS = ("method", "params", "budgets")


@dataclass(frozen=True)
class Cell:
    """One training run: a method with parameters, at a budget, with a seed."""

    method: str
    params: dict[str, Any]
    label: str
    budget: Budget
    seed: int

    @property
    def key(self) -> str:
        return f"{self.label}@{self.budget.label}#{self.seed}"

    def __str__(self) -> str:
        return f"{self.label} @ {self.budget.label} seed {self.seed}"


@dataclass
class MethodEntry:
    """A method of the grid with one parameter setting and the budgets it runs at."""

    method: Method
    budgets: list[Budget]


@dataclass
class Suite:
    """A validated suite: the configuration shared by all cells, and the grid."""

    name: str
    path: Path | None
    file_hash: str
    config: dict[str, Any]
    entries: list[MethodEntry]
    seeds: list[int]
    host: Host = field(repr=False)
    #: Cell keys the run is narrowed to (``benchsuite run --only``); None: every cell.
    only: list[str] | None = None

    def narrow(self, keys: list[str]) -> None:
        """Keep only the cells whose keys are ``keys`` (``label@budget#seed``, as records and
        ``benchsuite run`` print them); an unknown key is an error listing the suite's keys."""
        known = [c.key for c in self.grid()]
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise SuiteError(
                f"--only {unknown[0]!r}: suite {self.name!r} has no such cell; its cells are "
                + ", ".join(known)
            )
        self.only = list(dict.fromkeys(keys))

    def cells(self) -> list[Cell]:
        """The cells to run: the whole grid, or the cells :meth:`narrow` kept."""
        cells = self.grid()
        return cells if self.only is None else [c for c in cells if c.key in self.only]

    def grid(self) -> list[Cell]:
        """Every (method, parameters, budget, seed) combination, baselines at 1x only once."""
        out: list[Cell] = []
        seen: set[str] = set()
        for entry in self.entries:
            budgets = entry.budgets if entry.method.compresses else [Budget.parse("1x")]
            for budget, seed in itertools.product(budgets, self.seeds):
                m = entry.method
                cell = Cell(m.name, dict(m.params), m.label(), budget, seed)
                if cell.key not in seen:
                    seen.add(cell.key)
                    out.append(cell)
        return out

    def method(self, cell: Cell) -> Method:
        cls = self.host.get("methods", cell.method).cls
        return cls(**cell.params)


def load_suite(
    spec: str | Path,
    host: Host,
    *,
    methods: str | None = None,
    budgets: str | None = None,
    seeds: str | None = None,
) -> Suite:
    """Load a suite by registered name or path, apply CLI overrides, validate everything."""
    path = resolve_suite_path(spec, host)
    where = str(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise SuiteError(f"{where}: cannot read: {exc.strerror or exc}") from None
    data = _parse_yaml(raw_bytes, where)
    if not isinstance(data, dict):
        raise SuiteError(
            f"{where}: a suite must be a YAML mapping of keys, got {type(data).__name__}"
        )
    if methods is not None:
        data["methods"] = _cli_methods(methods)
    if budgets is not None:
        data["budgets"] = [b.strip() for b in budgets.split(",") if b.strip()]
        for m in data.get("methods", []):
            if isinstance(m, dict):
                m.pop("budgets", None)
    if seeds is not None:
        data["seeds"] = _cli_seeds(seeds)
    return build_suite(data, host, where=where, path=path, file_hash=_sha256(raw_bytes))


def describe_suite(path: Path) -> str:
    """The suite's one-line description, for listings; never raises."""
    try:
        data = _parse_yaml(path.read_bytes(), str(path))
    except OSError as exc:
        return f"(unreadable: {type(exc).__name__})"
    except SuiteError:
        return "(unreadable: not a valid suite file)"
    text = str(data.get("description", "")).strip() if isinstance(data, dict) else ""
    return text.splitlines()[0] if text else "(no description)"


def _parse_yaml(raw: bytes, where: str) -> Any:
    """The YAML document in ``raw``, refused with a one-line message when it is not valid YAML
    or stands for more than a suite ever holds (see :data:`MAX_VALUES`)."""
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        raise SuiteError(f"{where}: not valid YAML{loc}: {_one_line(problem)}") from None
    except RecursionError:
        raise SuiteError(f"{where}: not a suite: nested more than {MAX_DEPTH} levels") from None
    except (ValueError, OverflowError) as exc:  # a value YAML reads but Python cannot hold
        raise SuiteError(f"{where}: not valid YAML: {_one_line(str(exc))}") from None
    _check_extent(data, where)
    return data


def _check_extent(data: Any, where: str) -> None:
    """Walk ``data`` as if aliases were copies, stopping at :data:`MAX_VALUES` values or
    :data:`MAX_DEPTH` levels, so an alias bomb or a cycle is refused in bounded time."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SuiteError(
                f"{where}: not a suite: it stands for more than {MAX_VALUES:,} values "
                "(YAML aliases repeating large parts, or an alias that contains itself)"
            )
        if depth > MAX_DEPTH:
            raise SuiteError(f"{where}: not a suite: nested more than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, (list, tuple, set)):
            stack.extend((item, depth + 1) for item in value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 3


def _short(value: Any) -> str:
    """A bounded repr for messages: a bad value may be a huge string or structure."""
    return _REPR.repr(value)


def resolve_suite_path(spec: str | Path, host: Host) -> Path:
    text = str(spec)
    if text in host.suites:
        return host.suites[text]
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SuiteError(f"{path}: no such suite file")
        return path.resolve()
    allowed = ", ".join(host.suites) or "none registered"
    raise SuiteError(f"unknown suite {text!r}; give a path to a YAML file or one of: {allowed}")


def build_suite(
    data: dict[str, Any], host: Host, *, where: str, path: Path | None = None, file_hash: str = ""
) -> Suite:
    config = _check_section(data, "", where)
    for section in ("dataset", "model", "train", "inference"):
        config[section] = _check_section(config[section], section, where)
    _check_train(config, where)

    # The dataset: registered, parameters valid, and its tables known for budget checks.
    ds_cls = host.get_or(
        SuiteError, "datasets", config["dataset"]["name"], f"{where}: dataset.name"
    )
    dataset = _construct(ds_cls, config["dataset"]["params"], f"{where}: dataset.params")
    config["dataset"]["params"] = dataset.params
    if dataset.num_dense == 0 and config["model"]["bottom_mlp"]:
        config["model"]["bottom_mlp"] = []
    tables, dim = dataset.tables, config["model"]["dim"]
    full = full_table_bytes(tables, dim)

    _check_hardware(config["hardware"], host, f"{where}: hardware")

    default_budgets = _parse_budgets(config["budgets"], f"{where}: budgets")
    entries: list[MethodEntry] = []
    for i, raw in enumerate(config["methods"]):
        key = f"{where}: methods[{i}]"
        name, params, budgets = _method_entry(raw, key)
        cls = host.get_or(SuiteError, "methods", name, key)
        entry_budgets = _parse_budgets(budgets, f"{key}.budgets") if budgets else default_budgets
        for variant in _expand_params(cls, params):
            method = _construct(cls, variant, f"{key}.params")
            problem = results.text_problem(method.label())
            if problem:
                raise SuiteError(f"{key}: the method's label {problem}")
            _check_needs(method, dataset, key)
            if method.compresses:
                for budget in entry_budgets:
                    _check_feasible(method, budget, tables, dim, full, key)
            entries.append(MethodEntry(method, entry_budgets))

    suite_name = config["name"] or (path.stem if path else "suite")
    problem = results.name_problem(suite_name)
    if problem:
        source = "name" if config["name"] else "the suite's name, from its file name,"
        raise SuiteError(f"{where}: {source} {problem}; records need such a name")
    config.pop("methods")
    return Suite(
        name=suite_name,
        path=path,
        file_hash=file_hash,
        config=config,
        entries=entries,
        seeds=list(dict.fromkeys(config.pop("seeds"))),
        host=host,
    )


def _check_section(data: Any, section: str, where: str) -> dict[str, Any]:
    schema = SCHEMA[section]
    prefix = f"{section}." if section else ""
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: {section or 'the suite'} must be a mapping")
    unknown = sorted(set(data) - set(schema), key=str)
    if unknown:
        raise SuiteError(
            f"{where}: unknown key {prefix}{_short(unknown[0])}; allowed in "
            f"{section or 'the top level'}: {', '.join(schema)}"
        )
    out: dict[str, Any] = {}
    for key, (check, default) in schema.items():
        if key not in data:
            if default is _REQUIRED:
                raise SuiteError(f"{where}: missing required key {prefix}{key!r}")
            out[key] = json.loads(json.dumps(default))
            continue
        problem = check(data[key])
        if problem:
            raise SuiteError(f"{where}: key {prefix}{key!r} {problem}, got {_short(data[key])}")
        out[key] = data[key]
    return out


def _check_train(config: dict[str, Any], where: str) -> None:
    train = config["train"]
    if (train["samples"] is None) == (train["epochs"] is None):
        raise SuiteError(f"{where}: train needs exactly one of 'samples' or 'epochs'")
    if train["stop_at_target"] and train["target_auc"] is None:
        raise SuiteError(f"{where}: train.stop_at_target needs train.target_auc")


def _method_entry(raw: Any, key: str) -> tuple[str, dict[str, Any], list[Any] | None]:
    if isinstance(raw, str):
        try:
            [(name, params)] = parse_method_list(raw)
        except (BenchsuiteError, ValueError) as exc:
            raise SuiteError(f"{key}: {exc}") from None
        return name, params, None
    if not isinstance(raw, dict):
        raise SuiteError(
            f"{key}: must be a method name or a mapping with keys method, params, budgets"
        )
    unknown = sorted(set(raw) - set(METHOD_ENTRY_KEYS), key=str)
    if unknown:
        raise SuiteError(
            f"{key}: unknown key {_short(unknown[0])}; allowed: {', '.join(METHOD_ENTRY_KEYS)}"
        )
    if "method" not in raw or _string(raw["method"]):
        raise SuiteError(f"{key}: needs 'method', the name of a registered method")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise SuiteError(f"{key}.params: must be a mapping of parameter names to values")
    budgets = raw.get("budgets")
    if budgets is not None and (not isinstance(budgets, list) or not budgets):
        raise SuiteError(f"{key}.budgets: must be a non-empty list")
    return raw["method"], params, budgets


def _construct(cls: type, params: dict[str, Any], key: str) -> Any:
    """``cls(**params)``; whatever a plugin's class refuses, with its own error or a Python one
    (a number too large for it, say), becomes one message naming ``key``."""
    names = [name for name in params if not isinstance(name, str)]
    if names:
        raise SuiteError(f"{key}: parameter names must be strings, got {_short(names[0])}")
    try:
        return cls(**params)
    except BenchsuiteError as exc:
        raise SuiteError(f"{key}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise SuiteError(
            f"{key}: {cls.__name__} refused these parameters: {_describe(exc)}"
        ) from None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_one_line(str(exc))[:200]}"


def _expand_params(cls: type[Method], params: dict[str, Any]) -> list[dict[str, Any]]:
    """A list given for a parameter whose default is not a list is a grid axis."""
    axes = {
        k: v if isinstance(v, list) and not isinstance(cls.defaults.get(k), (list, tuple)) else [v]
        for k, v in params.items()
    }
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes.values())] or [
        {}
    ]


def _parse_budgets(raw: Sequence[Any], key: str) -> list[Budget]:
    out = []
    for b in raw:
        try:
            out.append(Budget.parse(b))
        except BenchsuiteError as exc:
            raise SuiteError(f"{key}: {exc}") from None
        except (ValueError, OverflowError):  # a size such as 1e400MB: no byte count holds it
            raise SuiteError(f"{key}: budget {_short(b)} is too large") from None
    return out


def _check_hardware(spec: str, host: Host, key: str) -> None:
    """``auto``, or a registered profile with valid parameters (``cpu[threads=4]``); whether
    it is available is decided when the suite runs, on the machine that runs it."""
    try:
        name, params = parse_method(spec)
    except BenchsuiteError as exc:
        raise SuiteError(f"{key}: {exc}") from None
    if name == "auto":
        if params:
            raise SuiteError(f"{key}: 'auto' takes no parameters; name the profile instead")
        return
    _construct(host.get_or(SuiteError, "hardware", name, key), params, key)


def _check_needs(method: Method, dataset: Any, key: str) -> None:
    """A statistic that is unknown, badly parametrised or not provided by the dataset."""
    from benchsuite.stats import normalise

    for request in method.needs:
        try:
            normalise(request)
        except BenchsuiteError as exc:
            raise SuiteError(f"{key}: {method.label()} needs {exc}") from None
        if request.kind not in dataset.provides:
            raise SuiteError(
                f"{key}: {method.label()} needs the statistic {request.kind!r}, which dataset "
                f"{dataset.name!r} cannot provide (it provides: {', '.join(dataset.provides)})"
            )


def _check_feasible(method: Method, budget: Budget, tables: Any, dim: int, full: int, key: str):
    limit = budget.bytes_for(full)
    try:
        smallest = method.min_bytes(tables, dim)
    except BenchsuiteError as exc:  # e.g. a parameter that does not fit this dimension
        raise SuiteError(f"{key}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:  # a plugin's own failure
        raise SuiteError(
            f"{key}: {method.label()} cannot size its tables: {_describe(exc)}"
        ) from None
    if limit < smallest:
        raise SuiteError(
            f"{key}: budget {budget.label} allows {limit:,} bytes of embedding, but "
            f"{method.label()} needs at least {smallest:,} bytes for these tables at dim {dim}"
        )


def _cli_methods(text: str) -> list[str]:
    try:
        parsed = parse_method_list(text)
    except (BenchsuiteError, ValueError) as exc:
        raise SuiteError(f"--methods: {exc}") from None
    return [f"{name}[{_join(params)}]" if params else name for name, params in parsed]


def _join(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={json.dumps(v)}" for k, v in params.items())


def _cli_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SuiteError(f"--seeds: {text!r} is not a comma-separated list of integers") from None
    if not seeds or any(s < 0 for s in seeds):
        raise SuiteError(f"--seeds: {text!r} must list non-negative integers")
    return seeds


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
