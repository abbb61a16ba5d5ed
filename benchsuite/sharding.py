"""Table-wise sharding of torchrec embedding tables across the ranks of a distributed run.

Data parallelism copies every parameter to every rank and all-reduces every gradient: for the
full baseline that is every table, on every rank, every step. ``full[shard=true]`` keeps its
tables in a torchrec ``EmbeddingBagCollection``; :func:`shard` wraps such a model in torchrec's
``DistributedModelParallel``, which places each table whole on one rank (the ranks balanced by
bytes), sends each rank's ids to the ranks holding their tables and the pooled vectors back
(all-to-all), and keeps the rest of the model data-parallel (DDP). Each table is updated in its
backward pass by fbgemm's fused kernel: the same SGD or Adagrad, at the same learning rate, as
the rest of the model, on the gradient of the global batch's mean loss (torchrec divides the
all-to-all's gradients by the world size as DDP averages the dense ones). A run of N ranks thus
takes the steps one process takes on the same global batches. Every rank still builds all the
tables before they are sharded (the method builds them whole, and the record counts them), so
sharding lowers what a rank holds while it trains, not its peak while it builds.

torchrec is optional (``pip install fbgemm-gpu-cpu==1.8.0 tensordict pyre-extensions`` then
``pip install torchrec==1.8.0 --no-deps`` on CPU; ``fbgemm-gpu`` on CUDA); nothing here imports
it until a model holds its tables.

In the training loop::

    if sharding.is_shardable(model):
        model = sharding.shard(model, device, world_size, optimizer=name, lr=lr)
    optimizer = make_optimizer(name, sharding.dense_parameters(model), lr)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from benchsuite.api import BenchsuiteError
from benchsuite.training import make_optimizer

__all__ = ["dense_parameters", "fused_state_bytes", "is_shardable", "placement", "shard"]

#: The optional dependency, as the install lines of docs/distributed.md give it.
INSTALL = (
    "pip install fbgemm-gpu-cpu==1.8.0 tensordict pyre-extensions && "
    "pip install torchrec==1.8.0 --no-deps"
)


def is_shardable(module: nn.Module) -> bool:
    """Whether ``module`` holds a torchrec ``EmbeddingBagCollection`` that :func:`shard` can
    place on ranks (False when torchrec was never imported: then nothing can hold one)."""
    torchrec = sys.modules.get("torchrec")
    collection = getattr(torchrec, "EmbeddingBagCollection", None)
    return collection is not None and any(isinstance(m, collection) for m in module.modules())


def placement(sizes: Mapping[str, int], world_size: int) -> dict[str, int]:
    """Each table's rank: largest first onto the rank holding the fewest bytes so far (ties to
    the lower rank), so every rank computes the same placement from the same sizes."""
    if world_size < 1:
        raise ValueError(f"world size must be at least 1, got {world_size}")
    load = [0] * world_size
    ranks: dict[str, int] = {}
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        rank = min(range(world_size), key=lambda r: (load[r], r))
        ranks[name] = rank
        load[rank] += sizes[name]
    return {name: ranks[name] for name in sizes}


def shard(
    model: nn.Module, device: torch.device, world_size: int, *, optimizer: str, lr: float
) -> nn.Module:
    """``model`` with its torchrec tables sharded table-wise over the initialised process group
    (gloo or nccl) and the rest of it in DDP; the tables keep their current values, and the
    unsharded tables are released (``model`` itself now holds the sharded ones).

    ``optimizer`` and ``lr`` are the training's (``train.optimizer``, ``train.lr``): the tables'
    fused update applies them in the backward pass. Build the optimizer of the other parameters
    from :func:`dense_parameters` of the returned model.
    """
    if not (dist.is_available() and dist.is_initialized()):
        raise BenchsuiteError(
            "sharding needs a process group: start the run with torchrun, which sets it up"
        )
    if dist.get_world_size() != world_size:
        raise BenchsuiteError(
            f"sharding over {world_size} ranks, but the process group has {dist.get_world_size()}"
        )
    trec = _import_torchrec()
    collections = [(name, m) for name, m in model.named_modules() if isinstance(m, trec.collection)]
    if not collections:
        raise BenchsuiteError("the model holds no torchrec EmbeddingBagCollection to shard")
    fused = _fused_params(trec, optimizer, lr)

    tables: dict[str, torch.Tensor] = {}  # fully qualified name -> current values
    sizes: dict[tuple[str, str], int] = {}
    for name, collection in collections:
        prefix = f"{name}." if name else ""
        tables.update(collection.state_dict(prefix=prefix, keep_vars=False))
        for config in collection.embedding_bag_configs():
            bag = collection.embedding_bags[config.name]
            sizes[(name, config.name)] = bag.weight.numel() * bag.weight.element_size()
    ranks = placement({f"{m}/{t}": n for (m, t), n in sizes.items()}, world_size)
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
    plan = trec.ShardingPlan(
        {
            name: trec.construct_module_sharding_plan(
                collection,
                per_param_sharding={
                    config.name: trec.table_wise(
                        rank=ranks[f"{name}/{config.name}"], compute_kernel=trec.fused
                    )
                    for config in collection.embedding_bag_configs()
                },
                local_size=local_size,
                world_size=world_size,
                device_type=device.type,
            )
            for name, collection in collections
        }
    )
    sharded = trec.DistributedModelParallel(
        model,
        env=trec.ShardingEnv.from_process_group(dist.group.WORLD),
        device=device,
        plan=plan,
        sharders=[trec.EmbeddingBagCollectionSharder(fused_params=fused)],
    )
    _copy_into_shards(sharded, tables)
    tables.clear()
    # torchrec's bookkeeping keeps the unsharded parameters (for their shapes): drop their
    # values, which now live in the shards, so each rank holds only its own tables.
    for _, collection in collections:
        for param in collection.parameters():
            param.data = param.data.new_empty(0)
    return sharded


def dense_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters an ordinary optimizer updates: all but the tables a fused kernel updates
    in the backward pass (all of them for a model that is not sharded)."""
    return [p for p in model.parameters() if not hasattr(p, "_in_backward_optimizers")]


def fused_state_bytes(model: nn.Module) -> int:
    """Bytes of the fused optimizer's state this rank keeps for its tables (Adagrad's sums;
    nothing for SGD); 0 for a model that is not sharded."""
    fused = getattr(model, "fused_optimizer", None)
    if fused is None:
        return 0
    total = 0
    for state in fused.state.values():
        for value in state.values():
            shards = value.local_shards() if hasattr(value, "local_shards") else None
            tensors = [s.tensor for s in shards] if shards is not None else [value]
            total += sum(
                t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor)
            )
    return total


class _Torchrec:
    """The torchrec names :func:`shard` uses, imported together."""

    def __init__(self) -> None:
        from torchrec import EmbeddingBagCollection
        from torchrec.distributed import DistributedModelParallel
        from torchrec.distributed.embedding_types import EmbeddingComputeKernel
        from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
        from torchrec.distributed.sharding_plan import construct_module_sharding_plan, table_wise
        from torchrec.distributed.types import ShardingEnv, ShardingPlan
        from torchrec.distributed.utils import optimizer_type_to_emb_opt_type

        self.collection = EmbeddingBagCollection
        self.DistributedModelParallel = DistributedModelParallel
        self.EmbeddingBagCollectionSharder = EmbeddingBagCollectionSharder
        self.construct_module_sharding_plan = construct_module_sharding_plan
        self.table_wise = table_wise
        self.ShardingEnv = ShardingEnv
        self.ShardingPlan = ShardingPlan
        self.fused_optimizer_type = optimizer_type_to_emb_opt_type
        self.fused = EmbeddingComputeKernel.FUSED.value


def _import_torchrec() -> _Torchrec:
    try:
        return _Torchrec()
    except (ImportError, OSError) as exc:
        raise BenchsuiteError(
            f"sharding needs torchrec, which does not import here ({exc}); install it: {INSTALL}"
        ) from None


def _fused_params(trec: _Torchrec, name: str, lr: float) -> dict[str, Any]:
    """The update fbgemm's fused kernel applies to the tables: that of
    ``make_optimizer(name, ..., lr)``, so the tables train as the rest of the model does.

    Given to the sharder rather than attached to the tables' parameters
    (``apply_optimizer_in_backward``), whose hooks would keep the unsharded tables alive.
    """
    reference = make_optimizer(name, [nn.Parameter(torch.zeros(1))], lr)
    kind = type(reference)
    if kind is torch.optim.SGD:
        kwargs: dict[str, Any] = {"lr": lr}
    elif kind is torch.optim.Adagrad:
        kwargs = {"lr": lr, "eps": reference.defaults["eps"]}
    else:
        raise BenchsuiteError(f"sharded tables support sgd and adagrad, not {name!r}")
    plain = kind([nn.Parameter(torch.zeros(1))], **kwargs).defaults
    differing = sorted(k for k in reference.defaults if reference.defaults[k] != plain.get(k))
    if differing:
        raise BenchsuiteError(
            f"the {name} optimizer sets {', '.join(differing)}, which the sharded tables' fused "
            "update does not apply"
        )
    fused = {k: v for k, v in kwargs.items() if k != "lr"}
    return {"optimizer": trec.fused_optimizer_type(kind), "learning_rate": lr, **fused}


def _copy_into_shards(sharded: nn.Module, tables: Mapping[str, torch.Tensor]) -> None:
    """Write each table's values into the shards this rank holds.

    torchrec initialises sharded tables afresh and copies the unsharded values only for tables
    that were on an accelerator; this copies them on every device, so a sharded run starts from
    the same tables (seeded, or restored from a checkpoint) as one process.
    """
    with torch.no_grad():
        for key, value in sharded.state_dict().items():
            if not hasattr(value, "local_shards"):
                continue
            full = tables.get(key)
            if full is None:
                raise RuntimeError(f"sharded table {key!r} matches no table of the model")
            for piece in value.local_shards():
                (r0, c0), (nr, nc) = piece.metadata.shard_offsets, piece.metadata.shard_sizes
                piece.tensor.copy_(full[r0 : r0 + nr, c0 : c0 + nc])
