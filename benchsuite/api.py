"""The public plugin API: what method, dataset and hardware plugins import.

Plugins subclass :class:`Method`, :class:`Dataset` or :class:`HardwareProfile` and return the
classes from the registration hooks in :mod:`benchsuite.hookspecs`. Everything here is part of the
contract; the rest of the package is the host.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import nn

__all__ = [
    "FREQUENCIES",
    "NO_SIGNATURE",
    "PRETRAINED",
    "SAMPLE",
    "SIGNATURES",
    "Batch",
    "BenchsuiteError",
    "Budget",
    "DataStats",
    "Dataset",
    "EnergyMeter",
    "HardwareProfile",
    "Infeasible",
    "Method",
    "ParamError",
    "Plan",
    "SharedPlan",
    "StatRequest",
    "TablePlan",
    "TableSpec",
    "full_table_bytes",
]

BYTES_PER_FLOAT = 4


class BenchsuiteError(Exception):
    """An error with a message meant for the user: printed as is, exit code 2."""


class ParamError(BenchsuiteError):
    """A plugin parameter that does not exist or has the wrong type."""


class Infeasible(BenchsuiteError):
    """Raised by :meth:`Method.build` when the method cannot fit the budget it was given."""


@dataclass(frozen=True)
class TableSpec:
    """One categorical feature's embedding table: ids are integers in ``[0, rows)``."""

    name: str
    rows: int


def full_table_bytes(tables: Sequence[TableSpec], dim: int) -> int:
    """Bytes of the uncompressed fp32 tables: the reference every compression ratio divides."""
    return sum(t.rows for t in tables) * dim * BYTES_PER_FLOAT


class Batch(NamedTuple):
    """One mini-batch: dense float32 ``[B, D]``, ids int64 ``[B, T]``, labels float32 ``[B]``."""

    dense: torch.Tensor
    ids: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.labels.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        if str(device) == "cpu" and self.labels.device.type == "cpu":
            return self
        return Batch(*(t.to(device, non_blocking=True) for t in self))


_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_BUDGET_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    """A memory budget for the embedding: a compression ratio (``16x``) or a size (``100MB``).

    Sizes use SI units (``MB`` = 10**6 bytes) and binary units (``MiB`` = 2**20 bytes).
    """

    label: str
    ratio: float | None = None
    size: int | None = None

    @classmethod
    def parse(cls, text: str | int | float) -> Budget:
        raw = str(text).strip()
        m = _BUDGET_RE.match(raw)
        if not m:
            raise BenchsuiteError(
                f"budget {raw!r} is not a ratio like '16x' or a size like '100MB' or '2GiB'"
            )
        value, unit = float(m.group(1)), m.group(2).lower()
        if value <= 0:
            raise BenchsuiteError(f"budget {raw!r} must be positive")
        if not math.isfinite(value) or value * _SIZE_UNITS.get(unit, 1) >= 2**63:
            raise BenchsuiteError(f"budget {raw!r} is too large to be a number of bytes or a ratio")
        if unit == "x":
            if value < 1:
                raise BenchsuiteError(
                    f"budget {raw!r} is a ratio below 1x: a budget larger than the full tables "
                    "compresses nothing; use 1x"
                )
            return cls(label=f"{value:g}x", ratio=value)
        if unit in _SIZE_UNITS:
            return cls(label=raw.replace(" ", ""), size=int(value * _SIZE_UNITS[unit]))
        raise BenchsuiteError(
            f"budget {raw!r} has unknown unit {m.group(2)!r}; allowed: x, "
            + ", ".join(u.upper().replace("I", "i") for u in _SIZE_UNITS)
        )

    def bytes_for(self, full_bytes: int) -> int:
        """The byte limit this budget sets for tables whose uncompressed size is ``full_bytes``."""
        if self.ratio is not None:
            return int(full_bytes / self.ratio)
        assert self.size is not None
        return self.size

    def __str__(self) -> str:
        return self.label


# ---------------------------------------------------------------------------------------------
# Data statistics a method may ask for before it is built
# ---------------------------------------------------------------------------------------------

FREQUENCIES = "frequencies"
SAMPLE = "sample"
SIGNATURES = "signatures"
PRETRAINED = "pretrained"
#: The signature value of an id that occurs in no sampled row (it has no context to hash).
NO_SIGNATURE = 2**31 - 1


@dataclass(frozen=True)
class StatRequest:
    """A statistic of the training split that a method needs before :meth:`Method.build`.

    Kinds and their parameters:

    - ``"frequencies"``: per-feature id counts over the training split;
    - ``"sample"``: a reproducible uniform sample of training rows (``rows``, default 100,000);
    - ``"signatures"``: per-id MinHash signatures of the sampled rows each id occurs in
      (``rows``: sampled rows, default 100,000; ``hashes``: signature length, default 16);
    - ``"pretrained"``: low-dimensional id embeddings from a short training run of DLRM with
      full tables (``dim``, default 8; ``samples``, default 200,000 training rows).

    Unknown kinds are a plugin error.
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        inner = ",".join(f"{k}={self.params[k]}" for k in sorted(self.params))
        return f"{self.kind}[{inner}]" if inner else self.kind


@dataclass
class DataStats:
    """The statistics the host computed for a method, as requested by ``Method.needs``.

    - ``frequencies[f]``: int64 ``[rows_f]``, id counts of feature ``f``;
    - ``sample``: a :class:`Batch` of training rows;
    - ``signatures[f]``: int32 ``[rows_f, hashes]``, the MinHash values (in ``[0, 2**31 - 1)``)
      of the set of sampled rows each id of feature ``f`` occurs in; ids that occur in no
      sampled row hold :data:`NO_SIGNATURE` in every column. Two ids' columns agree with
      probability equal to the Jaccard similarity of their row sets;
    - ``embeddings[f]``: float32 ``[rows_f, dim]``, the pre-trained embedding of each id (ids
      never seen in pre-training keep their random initialisation; ``frequencies`` tells which).

    Fields not requested are ``None``. ``cost`` records what computing them took (seconds,
    bytes, and whether they came from the cache), for the result record.
    """

    frequencies: list[torch.Tensor] | None = None
    sample: Batch | None = None
    signatures: list[torch.Tensor] | None = None
    embeddings: list[torch.Tensor] | None = None
    cost: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Budget plans: how a method spends its bytes, per table and shared
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TablePlan:
    """What one feature gets: ``rows`` × ``dim`` stored values for its ``ids`` distinct ids.

    ``bytes`` counts everything kept for this table alone (weights, projections, id maps);
    ``detail`` says how, e.g. ``"quotient 1250x16 + remainder 8x16, mult"``.
    """

    table: str
    ids: int
    rows: int
    dim: int
    bytes: int
    compressed: bool
    detail: str = ""


@dataclass(frozen=True)
class SharedPlan:
    """Memory shared by several tables (a ROBE array, hash constants, offsets)."""

    name: str
    shape: tuple[int, ...]
    bytes: int
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    tables: tuple[TablePlan, ...]
    shared: tuple[SharedPlan, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(t.bytes for t in self.tables) + sum(s.bytes for s in self.shared)


# ---------------------------------------------------------------------------------------------
# Plugin base classes
# ---------------------------------------------------------------------------------------------


class _Parametrised:
    """Named plugin objects with documented default parameters, validated on construction."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = dict(self.defaults)
        for key, value in params.items():
            if key not in self.defaults:
                allowed = ", ".join(sorted(self.defaults)) or "none"
                raise ParamError(
                    f"{type(self).__name__} {self.name!r} has no parameter {key!r}; "
                    f"allowed: {allowed}"
                )
            self.params[key] = _coerce(self.name, key, value, self.defaults[key])
        self.validate()

    def validate(self) -> None:
        """Check parameter values; raise :class:`ParamError` with a clear message when wrong."""


def _coerce(owner: str, key: str, value: Any, default: Any) -> Any:
    """Cast ``value`` to the type of ``default`` when that is lossless, else raise ParamError."""
    if default is None or value is None:
        return value
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind in (list, tuple):
        if isinstance(value, (list, tuple)):
            return kind(value)
    elif isinstance(value, kind):
        return value
    raise ParamError(
        f"{owner!r} parameter {key!r} must be {kind.__name__} (default {default!r}), "
        f"got {type(value).__name__} {value!r}"
    )


class Method(_Parametrised):
    """An embedding compression method.

    Subclasses set ``name``, ``summary`` (one line, naming the paper), ``defaults`` (parameters,
    overridable as ``name[key=value]``), ``needs`` (statistics of the data to compute first) and
    implement :meth:`build`. The module :meth:`build` returns keeps everything it needs (hash
    seeds, id maps) in parameters or buffers, so the host can count its bytes.
    """

    #: Statistics of the training split the host computes and hands to :meth:`build`.
    needs: ClassVar[tuple[StatRequest, ...]] = ()
    #: ``"per_feature"``: the module maps ids ``[B, T]`` to ``[B, T, dim]``.
    #: ``"pooled"``: it maps them to one vector ``[B, out_features]`` per sample (the module
    #: sets ``out_features``), and the model concatenates it with the dense vector.
    output: ClassVar[Literal["per_feature", "pooled"]] = "per_feature"
    #: False for the uncompressed baseline: it runs once, at budget 1x, whatever the grid says.
    compresses: ClassVar[bool] = True

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        """Return the embedding module for ``tables`` at dimension ``dim`` within ``budget`` bytes.

        ``seed`` is the cell's seed, for anything random the method draws (hash functions,
        initialisation). Raise :class:`Infeasible` when the budget cannot be met.
        """
        raise NotImplementedError

    def plan(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats
    ) -> Plan | None:
        """How :meth:`build` would spend ``budget``, computed without allocating the module.

        ``benchsuite methods show`` prints it; the conformance kit checks that its total equals
        the bytes of the module :meth:`build` returns. Return None when there is no plan.
        """
        return None

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        """The smallest budget this method can meet, checked before any training starts."""
        return 0

    def label(self) -> str:
        """``name[key=value,…]`` listing the parameters that differ from the defaults."""
        changed = {k: v for k, v in self.params.items() if self.defaults.get(k) != v}
        if not changed:
            return self.name
        inner = ",".join(f"{k}={changed[k]}" for k in sorted(changed))
        return f"{self.name}[{inner}]"


class Dataset(_Parametrised):
    """A source of batches: dense features, categorical ids and click labels, per split.

    Subclasses set ``name``, ``summary`` and ``defaults``, and implement :attr:`tables`,
    :meth:`num_samples`, :meth:`batches` and :meth:`fingerprint`.
    """

    splits: ClassVar[tuple[str, ...]] = ("train", "validation", "test")
    #: The statistics kinds (``StatRequest.kind``) the host may compute from this dataset; a
    #: suite pairing it with a method that needs another fails validation.
    provides: ClassVar[tuple[str, ...]] = ("frequencies", "sample", "signatures", "pretrained")

    @property
    def num_dense(self) -> int:
        """Number of dense features (13 for Criteo, 0 for Avazu)."""
        raise NotImplementedError

    @property
    def tables(self) -> list[TableSpec]:
        """One table per categorical feature, in the column order of ``Batch.ids``."""
        raise NotImplementedError

    def num_samples(self, split: str) -> int:
        raise NotImplementedError

    def batches(self, split: str, batch_size: int, *, epoch: int = 0) -> Iterator[Batch]:
        """Yield the split in order, in batches of ``batch_size`` (the last may be smaller).

        ``epoch`` lets a dataset reshuffle the training split between epochs, reproducibly.
        """
        raise NotImplementedError

    def batches_from(
        self, split: str, batch_size: int, *, epoch: int = 0, offset: int = 0
    ) -> Iterator[Batch]:
        """What :meth:`batches` yields after its first ``offset`` rows: where a resumed cell
        picks its data back up (``offset`` is then a multiple of ``batch_size``).

        This default reads the skipped rows and drops them, so resuming costs as much as reading
        (or generating) them once; a dataset that can seek overrides it. A batch that straddles
        ``offset`` is cut there.
        """
        if offset < 0:
            raise BenchsuiteError(f"offset must be >= 0, got {offset}")
        skip = offset
        for batch in self.batches(split, batch_size, epoch=epoch):
            if skip >= len(batch):
                skip -= len(batch)
                continue
            if skip:
                batch = Batch(*(t[skip:] for t in batch))
                skip = 0
            yield batch

    def shard(
        self, split: str, batch_size: int, *, rank: int, world: int, epoch: int = 0,
        offset: int = 0,
    ) -> Iterator[Batch]:  # fmt: skip
        """Process ``rank``'s part of each batch :meth:`batches_from` yields, for data-parallel
        training over ``world`` processes: of a batch of ``g`` rows, rows
        ``[rank * g // world, (rank + 1) * g // world)``. The processes' parts of one step make
        up exactly the batch one process would train on, so a distributed run trains on the same
        batches as a single-process run of the same global batch size.

        This default reads every batch and keeps the part (each process reads, or generates,
        the whole split); a dataset that can read only its rows overrides it, as prepared data
        does (row ranges).
        """
        if not 0 <= rank < world:
            raise BenchsuiteError(f"rank must lie in [0, {world}), got {rank}")
        source = (
            self.batches_from(split, batch_size, epoch=epoch, offset=offset)
            if offset
            else self.batches(split, batch_size, epoch=epoch)
        )
        for batch in source:
            rows = len(batch)
            lo, hi = rank * rows // world, (rank + 1) * rows // world
            yield Batch(*(t[lo:hi] for t in batch))

    def fingerprint(self) -> str:
        """A short hash identifying exactly this data (parameters or prepared files)."""
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time work (calibration, opening files), done before any cell is measured."""

    def bayes_auc(self, split: str) -> float | None:
        """The Bayes-optimal AUC of the split when the data's generator is known, else None."""
        return None

    def frequencies(self) -> list[torch.Tensor] | None:
        """Training-split id counts per feature when known without reading the split (counted
        at preparation), else None and the host counts them."""
        return None

    #: Settings ``benchsuite data prepare`` takes for this dataset, with their defaults; None
    #: for datasets that are not prepared from raw files.
    preparation: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def prepare_raw(
        cls, raw: list[Path], out: Path, settings: dict[str, Any], *, force: bool = False,
        report: Any = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Turn raw files into the prepared folder ``out``; return its manifest."""
        raise BenchsuiteError(f"dataset {cls.name!r} is not prepared from raw files")


class HardwareProfile(_Parametrised):
    """Where a cell runs, and how its memory and energy are measured there."""

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this profile can run on this machine, and why not when it cannot."""
        return True, ""

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def setup(self) -> None:
        """Apply settings (threads, device selection) before a cell runs."""

    def synchronize(self) -> None:
        """Wait for queued work on the device, so a clock reading covers it."""

    def fingerprint(self) -> dict[str, Any]:
        """Facts identifying the machine: model names, counts, memory, versions."""
        raise NotImplementedError

    def reset_peak_memory(self) -> None:
        """Start a new peak-memory window."""

    def peak_memory(self) -> dict[str, Any]:
        """Peak memory since the last reset: ``{"bytes": int, "method": str}`` or
        ``{"unmeasured": reason}``."""
        return {"unmeasured": "this hardware profile does not measure memory"}

    def memory_capacity(self) -> int | None:
        """Bytes the device can still allocate now, or None when unknown.

        Read before each cell builds its embedding: a cell that needs more is recorded
        ``infeasible`` instead of running out of memory. None never blocks a cell.
        """
        return None

    def memory_bandwidth(self) -> float | None:
        """Bytes read plus written per second by a large copy on :attr:`device`, or None.

        The default runs :func:`benchsuite.bandwidth.copy_bandwidth` (two 256 MiB buffers, best
        of three) once per process and caches it. A profile overriding this must return the same
        quantity; the leaderboard's lookup roofline divides by it.
        """
        from benchsuite.bandwidth import device_bandwidth  # imports this module

        return device_bandwidth(self.device, self.synchronize)

    def energy_meter(self) -> EnergyMeter:
        """A meter for one measurement window (training, inference)."""
        return EnergyMeter()


class EnergyMeter:
    """Measures energy over a window; the base class measures nothing and says so."""

    def start(self) -> None:
        """Open the window."""

    def stop(self) -> dict[str, Any]:
        """Close the window: ``{"joules", "method", …}`` or ``{"unmeasured": reason}``."""
        return {"unmeasured": "no energy meter for this hardware profile"}
