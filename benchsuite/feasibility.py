"""Memory feasibility: whether a cell's embedding can fit on its device, decided before building.

A 1TB-scale baseline needs 96 GB of tables; allocating them on a smaller machine would kill the
process (or raise an out-of-memory error deep inside torch) and take the other cells with it.
The runner therefore estimates what a cell will keep and compares it with what the hardware
profile says it can hold now (:meth:`HardwareProfile.memory_capacity`); a cell that cannot fit
is recorded ``infeasible`` with the figures, and the suite goes on.

The estimate, in bytes:

- **embedding**: the method's :meth:`~benchsuite.api.Method.plan` total (for ``full``, the full
  tables). A compressing method whose plan needs statistics of the data, or that has no plan,
  is bounded by its budget instead (a module larger than its budget never trains). A baseline
  without a plan is taken to be the full fp32 tables;
- **optimizer state**: Adagrad keeps one float per weight, the embedding's size again; SGD keeps
  none;
- **working memory**: the interaction's activations at the largest batch the cell runs
  (training or inference), :data:`ACTIVATION_COPIES` fp32 tensors of ``[batch, features + 1,
  dim]`` (measured: a 1TB-shaped model evaluating batches of 16384 on a CPU peaks about 1.2 GB
  above its embedding), plus :data:`MARGIN_BYTES` for the MLPs and batches in flight, plus
  :data:`MARGIN_SHARE` of the embedding and optimizer bytes (gradients of large tables are
  sparse: a batch's rows only).

Statistics (frequencies, samples, MinHash signatures, pre-trained embeddings) are computed in
host memory before the embedding is built, and at 1TB scale they can be larger than the
embedding itself (pre-trained embeddings of every id). :func:`check_statistics_memory` makes
the same decision for them first, against the host's memory (:func:`statistics_bytes` says
what each kind keeps).

Unknown capacity (``None``) never blocks a cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from benchsuite.api import (
    BYTES_PER_FLOAT,
    FREQUENCIES,
    PRETRAINED,
    SAMPLE,
    SIGNATURES,
    DataStats,
    HardwareProfile,
    Infeasible,
    Method,
    StatRequest,
    TableSpec,
    full_table_bytes,
)

#: Share of the embedding and optimizer bytes added to the working memory.
MARGIN_SHARE = 0.05
#: Fixed working memory: model MLPs, batches in flight.
MARGIN_BYTES = 256 * 2**20
#: ``[batch, features + 1, dim]`` fp32 tensors alive at once at the largest batch.
ACTIVATION_COPIES = 6
#: Optimizer state per byte of embedding, by optimizer name (see ``training.make_optimizer``).
OPTIMIZER_STATE_FACTOR = {"sgd": 0.0, "adagrad": 1.0}


@dataclass(frozen=True)
class MemoryNeed:
    """What a cell will keep on its device, and how the embedding figure was obtained."""

    embedding_bytes: int
    optimizer_bytes: int
    working_bytes: int
    basis: str  # "plan", "budget" (an upper bound) or "full tables"

    @property
    def total_bytes(self) -> int:
        return self.embedding_bytes + self.optimizer_bytes + self.working_bytes


def estimate_need(
    method: Method,
    tables: Sequence[TableSpec],
    budget: int,
    stats: DataStats,
    config: Mapping[str, Any],
) -> MemoryNeed:
    """The bytes a cell needs on its device, computed without allocating the embedding.

    ``config`` is the suite's configuration: ``model.dim``, ``train.optimizer``,
    ``train.batch_size`` and ``inference.batch_sizes`` are read.
    """
    dim, train = config["model"]["dim"], config["train"]
    plan = None
    if not (method.compresses and method.needs):
        plan = method.plan(tables, dim, budget, stats)
    if plan is not None:
        embedding, basis = plan.total_bytes, "plan"
    elif method.compresses:
        embedding, basis = budget, "budget"
    else:
        embedding, basis = full_table_bytes(tables, dim), "full tables"
    optimizer = train["optimizer"]
    if optimizer not in OPTIMIZER_STATE_FACTOR:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    state = int(embedding * OPTIMIZER_STATE_FACTOR[optimizer])
    batch = max([train["batch_size"], *config["inference"]["batch_sizes"]])
    activations = ACTIVATION_COPIES * batch * (len(tables) + 1) * dim * BYTES_PER_FLOAT
    working = int((embedding + state) * MARGIN_SHARE) + MARGIN_BYTES + activations
    return MemoryNeed(embedding, state, working, basis)


def check_memory(
    label: str,
    method: Method,
    tables: Sequence[TableSpec],
    stats: DataStats,
    config: Mapping[str, Any],
    profile: HardwareProfile,
    metrics: dict[str, Any],
) -> None:
    """Record the estimate in ``metrics["memory_check"]``; raise :class:`Infeasible` when the
    cell needs more than the device can hold now. The budget is ``metrics["budget_bytes"]``."""
    need = estimate_need(method, tables, metrics["budget_bytes"], stats, config)
    capacity = profile.memory_capacity()
    metrics["memory_check"] = {
        **asdict(need),
        "needed_bytes": need.total_bytes,
        "capacity_bytes": capacity,
        "device": profile.name,
    }
    if capacity is not None and need.total_bytes > capacity:
        optimizer = config["train"]["optimizer"]
        raise Infeasible(explain(label, need, optimizer, profile.name, capacity))


def explain(label: str, need: MemoryNeed, optimizer: str, device: str, capacity: int) -> str:
    """One sentence: what the cell needs, of what, and what the device has."""
    bound = "at most " if need.basis == "budget" else ""
    return (
        f"{label} needs {bound}{human_bytes(need.embedding_bytes)} of embedding "
        f"(+ {human_bytes(need.optimizer_bytes)} of {optimizer} optimizer state "
        f"+ {human_bytes(need.working_bytes)} working memory = {human_bytes(need.total_bytes)}) "
        f"but the {device} device has {human_bytes(capacity)} available"
    )


def statistics_bytes(needs: Sequence[StatRequest], tables: Sequence[TableSpec],
                     num_dense: int) -> int:  # fmt: skip
    """Host bytes the statistics keep while they are computed (requests already normalised).

    Per id of every table: 8 for a frequency; ``hashes`` × 4 for signatures plus an int64
    column being reduced; ``dim`` × 4 three times for pre-trained embeddings (the weights,
    Adagrad's state and the copy returned). Per sampled row: its dense floats, int64 ids and
    label, twice while the sample is gathered.
    """
    ids = sum(t.rows for t in tables)
    total = 0
    for request in needs:
        p = request.params
        if request.kind == FREQUENCIES:
            total += 8 * ids
        elif request.kind in (SAMPLE, SIGNATURES):
            total += 2 * int(p["rows"]) * (4 * num_dense + 8 * len(tables) + 4)
            if request.kind == SIGNATURES:
                total += ids * (4 * int(p["hashes"]) + 8)
        elif request.kind == PRETRAINED:
            total += 3 * ids * int(p["dim"]) * BYTES_PER_FLOAT
    return total


def check_statistics_memory(
    label: str, needs: Sequence[StatRequest], tables: Sequence[TableSpec], num_dense: int,
    capacity: int | None, metrics: dict[str, Any],
) -> None:  # fmt: skip
    """Raise :class:`Infeasible` when computing the statistics would not fit in host memory;
    the estimate goes to ``metrics["statistics_memory_check"]``."""
    need = statistics_bytes(needs, tables, num_dense)
    metrics["statistics_memory_check"] = {"needed_bytes": need, "capacity_bytes": capacity}
    if capacity is not None and need + MARGIN_BYTES > capacity:
        kinds = ", ".join(sorted({r.kind for r in needs}))
        raise Infeasible(
            f"{label} needs {human_bytes(need)} of host memory for its statistics ({kinds}) "
            f"but the host has {human_bytes(capacity)} available"
        )


def human_bytes(n: int) -> str:
    """Bytes in SI units with three significant figures: ``96.1 GB``, ``512 B``."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 999.5 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
