"""Suites: YAML files validated into a :class:`Suite`, expanded into :class:`Cell` s.

Everything that can be wrong with a suite is found here, before any training: unknown keys,
wrong types, unknown methods or datasets, bad parameters and budgets no method can meet. Each
problem is one message naming the file, the key and what is allowed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchsuite import results
from benchsuite.api import BenchsuiteError, Budget, Method, full_table_bytes
from benchsuite.host import Host
from benchsuite.params import parse_method, parse_method_list


class SuiteError(BenchsuiteError):
    """A suite that cannot run, with the file and key at fault."""


# -- the schema: key -> (checker, default); a default of _REQUIRED makes the key required ------

_REQUIRED = object()


def _positive_int(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
    return None if ok else "must be a positive integer"


def _positive_number(v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
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
                if isinstance(v, list)
                and v
                and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in v)
                else "must be a non-empty list of non-negative integers"
            ),
            [0],
        ),
        "mlperf_logging": (_boolean, False),
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
            lambda v: None if isinstance(v, int) and v >= 0 else "must be a non-negative integer",
            20,
        ),
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

    def cells(self) -> list[Cell]:
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
        data = yaml.safe_load(raw_bytes)
    except OSError as exc:
        raise SuiteError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{where}: not valid YAML{loc}: {problem}") from None
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
        data = yaml.safe_load(path.read_text())
        text = str(data.get("description", "")).strip() if isinstance(data, dict) else ""
    except (OSError, yaml.YAMLError) as exc:
        return f"(unreadable: {type(exc).__name__})"
    return text.splitlines()[0] if text else "(no description)"


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
    try:
        dataset = ds_cls(**config["dataset"]["params"])
    except BenchsuiteError as exc:
        raise SuiteError(f"{where}: dataset.params: {exc}") from None
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
            try:
                method = cls(**variant)
            except BenchsuiteError as exc:
                raise SuiteError(f"{key}.params: {exc}") from None
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
            f"{where}: unknown key {prefix}{unknown[0]!r}; allowed in "
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
            raise SuiteError(f"{where}: key {prefix}{key!r} {problem}, got {data[key]!r}")
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
            f"{key}: unknown key {unknown[0]!r}; allowed: {', '.join(METHOD_ENTRY_KEYS)}"
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
    cls = host.get_or(SuiteError, "hardware", name, key)
    try:
        cls(**params)
    except BenchsuiteError as exc:
        raise SuiteError(f"{key}: {exc}") from None


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
