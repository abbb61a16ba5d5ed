"""One cell on many processes: torchrun's environment, DDP, sharded batches, gathered evaluation.

``torchrun --nproc-per-node N -m benchsuite run --suite S --only CELL`` starts N copies of the
command; each finds its rank in the environment torchrun sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins one process group (gloo on CPU, nccl
on CUDA). torchrun launches, restarts and tears down the processes; nothing here does.

The run is the single-process run of the same global batch, split: every rank reads its own
contiguous part of each global batch (:meth:`benchsuite.api.Dataset.shard`), scales its summed
loss so that DDP's gradient average is the gradient of the global batch's mean loss, and so
trains on exactly the batches one process would. Evaluation scores each rank's part of the split
and gathers scores and labels on rank 0, which computes the AUC once, over the whole split, and
shares it; every decision that ends training (target reached, divergence, time limit) is taken
on rank 0 and broadcast, so no rank is left waiting in a collective. Rank 0 alone writes the
record, calls the event hooks and prints progress.

Sparse embedding gradients are made dense before DDP's all-reduce (:func:`dense_gradients`):
NCCL cannot all-reduce sparse tensors, and DDP only recognises the sparse gradients of
``nn.Embedding`` modules, not those of methods' own lookups. A step then moves every parameter
(``allreduce_bytes_per_step`` in the record), which is small for compressed tables; the full
baseline's large tables are what torchrec sharding is for (``full[shard=true]``,
docs/distributed.md).
"""

from __future__ import annotations

import datetime as dt
import inspect
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from benchsuite.api import BenchsuiteError, Dataset
from benchsuite.measure.metrics import log_loss, roc_auc
from benchsuite.training import Part

__all__ = [
    "OutOfStep",
    "PeerStopped",
    "World",
    "dense_gradients",
    "from_environment",
    "parts",
    "wrap_model",
]

#: What torchrun sets in each process it starts.
ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: How long a collective waits for a slow rank before the process group gives up.
TIMEOUT = dt.timedelta(minutes=30)

T = TypeVar("T")


class PeerStopped(Exception):
    """Rank 0 ended the cell (an error, a time limit, a divergence): the other ranks stop too."""


class OutOfStep(Exception):
    """An error on this rank alone while the ranks train together: the others are left in a
    collective this rank will never join, so the run cannot go on (``cause`` says why)."""

    def __init__(self, cause: BaseException):
        super().__init__(
            f"{type(cause).__name__}: {cause} (in distributed training: when another rank "
            "failed first, this rank sees its connection close, and the error that started it "
            "is in that rank's output)"
        )
        self.cause = cause


def from_environment(env: Mapping[str, str] | None = None) -> tuple[int, int, int] | None:
    """``(rank, world size, local rank)`` from torchrun's variables; None outside torchrun or
    for a world of one process (which runs as a plain single-process run)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return None
    values = {}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        text = env.get(key, "0" if key == "LOCAL_RANK" else "")
        try:
            values[key] = int(text)
        except ValueError:
            raise BenchsuiteError(
                f"environment variable {key}={text!r} is not a number; start distributed runs "
                "with torchrun, which sets RANK, WORLD_SIZE and LOCAL_RANK"
            ) from None
    rank, size, local = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if size < 1 or not 0 <= rank < size or local < 0:
        raise BenchsuiteError(
            f"environment gives rank {rank} of world size {size} (local rank {local}): the rank "
            "must lie in [0, WORLD_SIZE)"
        )
    if size == 1:
        return None
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
    if missing:
        raise BenchsuiteError(
            f"WORLD_SIZE={size} but {' and '.join(missing)} unset: start distributed runs with "
            "torchrun, which sets them"
        )
    return rank, size, local


@dataclass
class World:
    """This process's place in the process group, and the collectives the runner needs.

    Collective tensors live on ``device`` (NCCL moves only CUDA tensors).
    """

    rank: int
    size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def join(cls, place: tuple[int, int, int], device: torch.device) -> World:
        """Join the process group torchrun's environment describes."""
        rank, size, local = place
        backend = "nccl" if device.type == "cuda" else "gloo"
        if not dist.is_available():
            raise BenchsuiteError(f"torch {torch.__version__} is built without torch.distributed")
        if not dist.is_initialized():
            try:
                dist.init_process_group(backend, timeout=TIMEOUT)
            except (RuntimeError, ValueError) as exc:
                raise BenchsuiteError(
                    f"rank {rank} of {size} could not join the process group ({backend}): {exc}"
                ) from None
        return cls(rank, size, local, backend, device)

    def leave(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    # -- collectives ------------------------------------------------------------------------

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]  # type: ignore[return-value]

    def all_gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order, on every rank."""
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank."""
        t = torch.tensor([1 if flag else 0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def barrier(self) -> None:
        dist.barrier()

    def gather_rows(self, tensor: torch.Tensor) -> torch.Tensor | None:
        """Every rank's 1-D ``tensor`` concatenated in rank order on rank 0; None elsewhere.

        Ranks may hold different lengths: each pads to the longest for the gather.
        """
        local = tensor.reshape(-1).to(self.device)
        counts = [int(n) for n in self.all_gather(local.numel())]
        padded = torch.zeros(max(counts), dtype=local.dtype, device=self.device)
        padded[: local.numel()] = local
        bucket = [torch.empty_like(padded) for _ in counts] if self.main else None
        dist.gather(padded, bucket, dst=0)
        if bucket is None:
            return None
        return torch.cat([b[:n] for b, n in zip(bucket, counts, strict=True)]).cpu()

    def first(self, work: Callable[[], T]) -> T:
        """``work()`` on rank 0, then (if it succeeded) on the other ranks: for work whose
        first run leaves something the others reuse or must not race with (a statistics cache,
        a checkpoint rank 0 may delete). Rank 0's error is raised on every rank."""
        error: BaseException | None = None
        result: Any = None
        if self.main:
            try:
                result = work()
            except BaseException as exc:
                error = exc
        failed = self.broadcast(None if error is None else f"{type(error).__name__}: {error}")
        if error is not None:
            raise error
        if failed is not None:
            raise PeerStopped(f"rank 0 stopped the cell: {failed}")
        return result if self.main else work()

    def together(self, work: Callable[[], T]) -> T:
        """``work()`` on every rank; when it fails on any rank, it fails on all (the failing
        rank with its own error, the others naming it) before anyone enters a collective that
        the failed rank would never join."""
        error: BaseException | None = None
        result: Any = None
        try:
            result = work()
        except BaseException as exc:
            error = exc
        errors = self.all_gather(None if error is None else f"{type(error).__name__}: {error}")
        if error is not None:
            raise error
        for rank, text in enumerate(errors):
            if text is not None:
                raise PeerStopped(f"rank {rank} failed: {text}")
        return result

    def agreed(self, decide: Callable[[T], bool]) -> Callable[[T], bool]:
        """``decide`` run on rank 0, its answer (or its error) shared with every rank.

        Rank 0 re-raises its own exception; the other ranks raise :class:`PeerStopped`."""

        def call(arg: T) -> bool:
            error: BaseException | None = None
            verdict: tuple[str, str] = ("go", "")
            if self.main:
                try:
                    verdict = ("stop" if decide(arg) else "go", "")
                except BaseException as exc:  # shared first, then raised here
                    error = exc
                    verdict = ("raise", f"{type(exc).__name__}: {exc}")
            verdict = self.broadcast(verdict)
            if error is not None:
                raise error
            if verdict[0] == "raise":
                raise PeerStopped(f"rank 0 stopped the cell: {verdict[1]}")
            return verdict[0] == "stop"

        return call

    def _object_device(self) -> torch.device | None:
        return self.device if self.backend == "nccl" else None


# -- the model ------------------------------------------------------------------------------


def dense_gradients(model: nn.Module) -> int:
    """Make every sparse gradient of ``model`` dense as it is produced (for backends that cannot
    all-reduce sparse tensors); returns how many parameters were switched.

    ``nn.Embedding``/``nn.EmbeddingBag`` and modules keeping a boolean ``sparse`` switch are
    switched off (so DDP expects dense gradients from them); a hook densifies what custom
    autograd functions still produce. Adagrad and SGD take the same step from a dense gradient
    whose untouched rows are zero as from the sparse one.
    """
    switched = 0
    for module in model.modules():
        if isinstance(getattr(module, "sparse", None), bool) and module.sparse:
            module.sparse = False
            switched += 1
    for param in model.parameters():
        if param.requires_grad:
            param.register_hook(_densify)
    return switched


def _densify(grad: torch.Tensor) -> torch.Tensor:
    return grad.to_dense() if grad.is_sparse else grad


def wrap_model(model: nn.Module, world: World) -> nn.Module:
    """``model`` wrapped for data-parallel training in ``world``: DDP, whose construction copies
    rank 0's parameters and buffers to every rank, with every gradient all-reduced dense."""
    dense_gradients(model)
    ids = [world.device.index] if world.device.type == "cuda" else None
    # Buffers (hash seeds, id maps) are synced once, at construction; they never change.
    once = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers"
        in inspect.signature(nn.parallel.DistributedDataParallel).parameters
        else {"broadcast_buffers": False}
    )
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, **once)


def describe(
    world: World, trained: Iterable[nn.Parameter], *, sharded_lookup: int = 0
) -> dict[str, Any]:
    """The record's ``distributed`` section as known before training.

    ``trained`` are the parameters DDP all-reduces; ``sharded_lookup`` is the bytes of one
    sample's looked-up vectors when torchrec shards the tables (each step then sends those
    vectors between ranks, and their gradients back, instead of all-reducing the tables)."""
    section = {
        "world_size": world.size,
        "backend": world.backend,
        "launcher": "torchrun",
        "data": "each rank trains on its own contiguous part of every global batch",
        "gradient_sync": "DDP all-reduce of dense gradients",
        "allreduce_bytes_per_step": sum(
            p.numel() * p.element_size() for p in trained if p.requires_grad
        ),
    }
    if sharded_lookup:
        section["gradient_sync"] += "; embedding tables sharded table-wise by torchrec"
        section["sharded_lookup_bytes_per_sample"] = sharded_lookup
    return section


def add_rank_figures(record: dict[str, Any], world: World, outcome: Any, start: int) -> None:
    """Each rank's steady-state throughput and data wait, gathered into the record.

    A rank trains on ``1 / world`` of every global batch (to a row), so its samples per second
    are the global steady samples over the world size, timed by its own clock."""
    mine = {
        "samples_per_s": (
            outcome.steady_samples / world.size / outcome.steady_seconds
            if outcome.steady_seconds > 0
            else None
        ),
        "data_wait_share": outcome.wait_share,
        "host": os.uname().nodename,
    }
    ranks = world.all_gather(mine)
    section = record.setdefault("distributed", {})
    section["rank_samples_per_s"] = [r["samples_per_s"] for r in ranks]
    section["rank_data_wait_share"] = [r["data_wait_share"] for r in ranks]
    section["hosts"] = sorted({r["host"] for r in ranks})


# -- data -----------------------------------------------------------------------------------


def part_bounds(rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``rows`` that rank ``rank`` of ``size`` trains on."""
    return rank * rows // size, (rank + 1) * rows // size


def parts(
    dataset: Dataset,
    split: str,
    batch_size: int,
    world: World,
    *,
    epoch: int = 0,
    offset: int = 0,
) -> Iterator[Part]:
    """This rank's part of each global batch of one epoch from ``offset`` on, with the global
    batch's size (the training loop's loss scale and sample count); checks the dataset's parts
    against the batch sizes the :class:`~benchsuite.api.Dataset` contract implies."""
    total = dataset.num_samples(split) - offset
    seen = 0
    for step, batch in enumerate(
        dataset.shard(
            split, batch_size, rank=world.rank, world=world.size, epoch=epoch, offset=offset
        )
    ):
        rows = min(batch_size, total - seen)
        lo, hi = part_bounds(rows, world.rank, world.size)
        if rows <= 0 or len(batch) != hi - lo:
            raise BenchsuiteError(
                f"dataset {dataset.name!r}: rank {world.rank}'s part of {split} batch {step} has "
                f"{len(batch)} rows, expected {max(hi - lo, 0)} (rows [{lo}, {hi}) of a batch of "
                f"{rows}); its shard() must cut each batch of batches() as documented"
            )
        seen += rows
        yield Part(batch, rows, lo, world.size)


def epochs(dataset: Dataset, batch_size: int, world: World, start: int = 0) -> Iterator[Part]:
    """This rank's parts of the training batches, epoch after epoch, from global sample
    ``start`` on (as the single-process runner's epochs, split)."""
    rows = dataset.num_samples("train")
    if rows <= 0:
        raise BenchsuiteError(f"dataset {dataset.name!r} has an empty training split")
    first, offset = divmod(start, rows)
    for epoch in itertools.count(first):
        yield from parts(dataset, "train", batch_size, world, epoch=epoch, offset=offset)
        offset = 0


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    split: str,
    batch_size: int,
    world: World,
) -> tuple[float, float]:
    """AUC and log loss over the whole split: each rank scores its part, rank 0 gathers the
    scores and labels, computes both once and shares them."""
    model.eval()
    scores, labels = [], []
    with torch.inference_mode():
        for part in parts(dataset, split, batch_size, world):
            b = part.batch.to(world.device)
            scores.append(torch.sigmoid(model(b.dense, b.ids)).float())
            labels.append(b.labels.float())
    model.train()
    empty = torch.zeros(0, device=world.device)
    p = world.gather_rows(torch.cat(scores) if scores else empty)
    y = world.gather_rows(torch.cat(labels) if labels else empty)
    result: tuple[float, float] | str | None = None
    if world.main:
        try:
            result = (roc_auc(y, p), log_loss(y, p))
        except BenchsuiteError as exc:  # shared, so no rank waits for an answer that never comes
            result = str(exc)
    result = world.broadcast(result)
    if isinstance(result, str):
        raise BenchsuiteError(result)
    return result
