"""``full``: one uncompressed fp32 table per feature, the baseline of every compression ratio.

``full[shard=true]`` keeps the same tables in a torchrec ``EmbeddingBagCollection`` (an optional
dependency), which a distributed run places table by table on its ranks instead of copying every
table to every rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from benchsuite.api import (
    DataStats,
    Infeasible,
    Method,
    ParamError,
    Plan,
    SharedPlan,
    TablePlan,
    TableSpec,
)
from benchsuite.hookspecs import hookimpl
from benchsuite.layers import ConcatenatedTables, check_ids

#: How to install the optional dependency sharding needs (CPU wheels; on CUDA, ``fbgemm-gpu``).
TORCHREC_INSTALL = (
    "pip install fbgemm-gpu-cpu==1.8.0 tensordict pyre-extensions && "
    "pip install torchrec==1.8.0 --no-deps"
)


class Full(Method):
    """Every id of every feature has its own row, initialised ``U(±sqrt(1/n))`` (DLRM reference).

    The tables are stored back to back in one weight (same bytes as separate tables, one lookup).
    With ``shard=true`` they are torchrec tables, one per feature, with the same initial values
    for a seed, so that a distributed run can shard them table-wise across its ranks.
    """

    name = "full"
    summary = "Uncompressed fp32 embedding tables, one row per id (DLRM, Naumov et al. 2019)"
    defaults = {"sparse": True, "shard": False}
    compresses = False

    def validate(self) -> None:
        for key in ("sparse", "shard"):
            if not isinstance(self.params[key], bool):
                raise ParamError(f"full: {key!r} must be true or false")

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        generator = torch.Generator().manual_seed(seed)
        if self.params["shard"]:
            return ShardableTables(
                [t.rows for t in tables], dim, sparse=self.params["sparse"], generator=generator
            )
        return ConcatenatedTables(
            [t.rows for t in tables], dim, sparse=self.params["sparse"], generator=generator
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        per_table = tuple(
            TablePlan(t.name, t.rows, t.rows, dim, t.rows * dim * 4, compressed=False)
            for t in tables
        )
        if self.params["shard"]:
            counts = SharedPlan("row counts", (len(tables),), 8 * len(tables), "int64")
            return Plan(per_table, (counts,))
        offsets = SharedPlan("offsets and row counts", (2, len(tables)), 16 * len(tables), "int64")
        return Plan(per_table, (offsets,))

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        index_bytes = (8 if self.params["shard"] else 16) * len(tables)
        return sum(t.rows for t in tables) * dim * 4 + index_bytes


def _torchrec() -> Any:
    """The torchrec module, or :class:`Infeasible` saying how to install it."""
    try:
        import torchrec
    except (ImportError, OSError) as exc:  # also a broken install (fbgemm-gpu, a dependency)
        raise Infeasible(
            f"full[shard=true] needs torchrec to shard its tables, and it does not import here "
            f"({exc}); install the optional dependency: {TORCHREC_INSTALL}"
        ) from None
    return torchrec


def _keep(weight: torch.Tensor) -> None:
    """torchrec's ``init_fn``: leave the values :class:`ShardableTables` draws itself."""


class ShardableTables(nn.Module):
    """Per-feature tables in a torchrec ``EmbeddingBagCollection``: ids ``[B, T]`` to vectors
    ``[B, T, dim]``.

    Each sample has one id per feature, so the sum pooling of a bag is that id's row. Feature
    ``f``'s table is ``ebc.embedding_bags["t{f}"]``, initialised ``U(±sqrt(1/rows[f]))`` from
    ``generator`` in feature order, the same values :class:`ConcatenatedTables` draws. After
    sharding, the collection answers with its features in the order of the ranks that hold
    them; ``forward`` puts them back in feature order.
    """

    def __init__(
        self,
        rows: Sequence[int],
        dim: int,
        *,
        sparse: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        trec = _torchrec()
        self.keys = [f"f{i}" for i in range(len(rows))]
        configs = [
            trec.EmbeddingBagConfig(
                num_embeddings=n,
                embedding_dim=dim,
                name=f"t{i}",
                feature_names=[key],
                pooling=trec.PoolingType.SUM,
                init_fn=_keep,
            )
            for i, (n, key) in enumerate(zip(rows, self.keys, strict=True))
        ]
        with torch.random.fork_rng(devices=[]):  # nn.EmbeddingBag draws from the global RNG
            self.ebc = trec.EmbeddingBagCollection(tables=configs, device=torch.device("cpu"))
        self.register_buffer("sizes", torch.tensor(list(rows), dtype=torch.int64))
        self.dim = dim
        self._jagged = trec.KeyedJaggedTensor
        self._order: dict[tuple[str, ...], list[int] | None] = {}
        with torch.no_grad():
            for bag, n in zip(self.ebc.embedding_bags.values(), rows, strict=True):
                bag.sparse = sparse
                bound = math.sqrt(1.0 / n)
                bag.weight.uniform_(-bound, bound, generator=generator)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.sizes)
        b, t = ids.shape
        features = self._jagged(
            keys=self.keys,
            values=ids.t().reshape(-1),
            lengths=torch.ones(b * t, dtype=torch.int32, device=ids.device),
        )
        if torch.is_inference_mode_enabled():
            # fbgemm's CPU kernels of sharded tables have only an autograd entry point, which
            # inference mode skips; no_grad keeps it while recording nothing.
            with torch.inference_mode(False), torch.no_grad():
                pooled = self.ebc(features)
        else:
            pooled = self.ebc(features)
        out = pooled.values().view(b, t, self.dim)
        order = self._feature_order(tuple(pooled.keys()))
        return out if order is None else out[:, order]

    def _feature_order(self, keys: tuple[str, ...]) -> list[int] | None:
        """Positions that put ``keys`` back in feature order; None when they already are."""
        if keys not in self._order:
            if sorted(keys) != sorted(self.keys):
                raise RuntimeError(f"the embedding answered for features {keys}, not {self.keys}")
            self._order[keys] = (
                None if list(keys) == self.keys else [keys.index(k) for k in self.keys]
            )
        return self._order[keys]


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [Full]
