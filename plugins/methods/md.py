"""``md``: mixed-dimension embeddings (Ginart, Naumov, Mudigere, Yang, Zou; arXiv 1909.11810, 2019;
IEEE ISIT 2021).

An id's embedding dimension scales with how often it is queried. Rows are grouped in *blocks*;
block ``i`` of popularity ``p_i`` (the probability that one query of its feature hits a given row
of the block) gets dimension

    d_i = clamp(round(λ · p_i^α), 1, dim)        (α = ``alpha``, the reference's --md-temperature)

and, when ``d_i < dim``, a projection ``Linear(d_i, dim, bias=False)`` applied after the lookup,
so every feature still yields a ``dim``-vector for the dot interaction. Optionally (``round_dims``)
``d_i`` is rounded to the nearest power of two, ``2^round(log2 d_i)``, before clamping.

Blocks (parameter ``blocks``):

- ``blocks: 0`` (default, what the DLRM reference runs): one block per table. Every row of table
  ``f`` is hit with probability ``1/n_f``, so ``d_f = λ · n_f^(−α)``.
- ``blocks: K > 0`` (the paper's frequency blocks; the method then declares
  ``needs = (StatRequest("frequencies"),)``): per table, ids are sorted by their training
  frequency (most frequent first, ties by id) and cut into at most K blocks at geometric rank
  boundaries ``0, n^(1/K), n^(2/K), …, n`` (rounded; empty blocks dropped), so the head blocks
  are small and hot and the tail blocks large and cold (equal-width blocks in log-rank, which
  suits power-law counts). Block popularity is ``p = (mean count of its ids) / (table's total
  count)`` (``1/n`` for a table never seen), consistent with ``blocks: 0``. Each block is its own
  table with its own projection, and an int32 id→row map (4·n bytes per table, small tables
  included) sends an id to its block's row. Without frequencies ``build``/``plan`` raise an error.
  ``plan`` then sorts every table's counts (seconds for Criteo Terabyte's 187M ids); with
  ``blocks: 0`` it is pure arithmetic on the table sizes.

Tables with ``n ≤ threshold`` (default 200, the reference's --md-threshold) are kept whole at the
base dimension. A block whose projection would cost more than it saves
(``n_i·d_i + d_i·dim ≥ n_i·dim``) also gets the base dimension and no projection.

Budget → sizes. The bytes are ``4·Σ_i (n_i·d_i + [d_i < dim]·d_i·dim)`` plus the buffers
(int64 id counts, feature order and table offsets: 24 bytes per feature with ``blocks: 0``; id
counts, map offsets (16 bytes per feature), the id map and 8 bytes per block with ``blocks > 0``),
a non-decreasing function of λ (and non-increasing in α). ``solve`` picks what is fitted:

- ``solve: lambda`` (default): α is the parameter; λ is found by bisection as the largest value
  whose total fits the budget. No table is anchored: λ comes from the budget alone (the
  reference's ``B`` form, ``λ = B / Σ n_i^(1−α)``, ignores the clamps, the rounding, the
  projections and the buffers; the bisection counts them exactly).
- ``solve: alpha`` (Hetu's MD scheduler): λ is anchored so that the most popular compressed block
  (with ``blocks: 0`` the smallest table above ``threshold``) gets the base dimension,
  ``λ = dim · p_max^(−α)``, and α is bisected in [0, 1] for the smallest value that fits. The
  ``alpha`` parameter is then unused. Budgets below the α = 1 size are infeasible.

Deviations from facebookresearch/dlrm ``tricks/md_embedding_bag.py`` / ``dlrm_s_pytorch.py``:

- The reference anchors d0 at the *smallest* table (a 3-row Criteo table), so at α = 0.3 most
  large tables get dimension 1–3 whatever the memory; here λ is solved from the budget (or, with
  ``solve: alpha``, anchored at the smallest *compressed* table and α solved).
- Tables with ``n ≤ threshold`` get the base dimension; the reference crashes on them
  (it passes the list of dims as ``embedding_dim``).
- Projections that cost more than they save are dropped (the reference always projects).
- Rounding is ``round(max(x, 1))`` with round-half-to-even, as the reference's ``torch.round``;
  with ``round_dims`` the power of two is clamped to ``dim`` (the reference's could exceed a base
  dimension that is not a power of two). ``round_dims`` defaults to False as DLRM's
  ``--md-round-dims`` flag does (``md_solver``'s own default is True).
- Initialisation: tables ``U(±sqrt(1/n_f))`` with ``n_f`` the feature's id count (DLRM overwrites
  the layer's xavier init with this; blocks of one feature share its bound), projections
  ``xavier_uniform`` as the reference.
- Lookups are grouped by dimension instead of one ``EmbeddingBag`` per feature: blocks of equal
  dimension live back to back in one weight (sparse gradients), their projections in one
  ``[k, d, dim]`` tensor. With one block per table that is one gather and one batched matmul
  per distinct dimension; with frequency blocks a batch's rows are sorted so each block's
  lookups form one run, multiplied by that block's projection (a loop over the blocks a batch
  hits, which measured faster than gathering a projection per lookup), then permuted back.
- The frequency-block variant is not in the reference code (the paper's blocks; see above).

Reach: every compressed row keeps at least one float, so at base dimension ``dim`` the method
cannot compress by ``dim``× or more (at dim 16, ``16x`` is infeasible; ``min_bytes`` says so
before training); with frequency blocks the int32 map costs one more value per id, so about
``dim/2``×.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from benchsuite.api import (
    BenchsuiteError,
    DataStats,
    Infeasible,
    Method,
    ParamError,
    Plan,
    SharedPlan,
    StatRequest,
    TablePlan,
    TableSpec,
)
from benchsuite.hookspecs import hookimpl
from benchsuite.layers import check_ids

_FLOAT = 4
_INT64 = 8
_INT32 = 4
_SOLVES = ("lambda", "alpha")
_BISECTIONS = 200


# -- allocation (shared by plan() and build()) ---------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Rows ``[first, first + rows)`` of feature ``feature``'s frequency ranking."""

    feature: int
    first: int
    rows: int
    popularity: float
    whole: bool  # a table at or below the threshold: always the base dimension


@dataclass(frozen=True)
class Allocation:
    blocks: tuple[Block, ...]
    dims: tuple[int, ...]  # per block
    lam: float
    alpha: float
    total_bytes: int

    def groups(self) -> list[tuple[int, list[int]]]:
        """(dimension, block indices) per distinct dimension, widest first, blocks in order."""
        return [
            (d, [i for i, di in enumerate(self.dims) if di == d])
            for d in sorted(set(self.dims), reverse=True)
        ]


def block_dim(block: Block, lam: float, alpha: float, dim: int, round_dims: bool) -> int:
    """``clamp(round(λ·p^α), 1, dim)``; the base dim when whole or when projecting costs more."""
    if block.whole:
        return dim
    x = min(max(lam * block.popularity**alpha, 1.0), float(dim))
    d = round(x)
    if round_dims:
        d = min(2 ** round(math.log2(d)), dim)
    if d < dim and block.rows * d + d * dim >= block.rows * dim:
        return dim
    return d


def block_bytes(rows: int, d: int, dim: int) -> int:
    return _FLOAT * (rows * d + (d * dim if d < dim else 0))


def blocks_from_frequencies(
    freq: torch.Tensor, feature: int, num_blocks: int
) -> tuple[list[Block], torch.Tensor]:
    """Cut a table into at most ``num_blocks`` frequency blocks at geometric rank boundaries.

    Returns the blocks and the ranking (``order[r]`` = id of rank r, most frequent first).
    """
    n = int(freq.numel())
    counts, order = torch.sort(freq.to(torch.int64), descending=True, stable=True)
    edges = sorted({0, n, *(round(n ** (b / num_blocks)) for b in range(1, num_blocks))})
    edges = [e for e in edges if 0 <= e <= n]
    cum = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])
    total = int(cum[-1])
    blocks = []
    for lo, hi in itertools.pairwise(edges):
        rows = hi - lo
        pop = (int(cum[hi]) - int(cum[lo])) / (rows * total) if total > 0 else 1.0 / n
        blocks.append(Block(feature, lo, rows, pop, whole=False))
    return blocks, order


class MD(Method):
    name = "md"
    summary = (
        "Mixed-dimension embeddings: dims by popularity power rule plus projections "
        "(Ginart, Naumov, Mudigere, Yang, Zou, ISIT'21, arXiv 1909.11810)"
    )
    defaults = {
        "alpha": 0.3,
        "solve": "lambda",
        "threshold": 200,
        "round_dims": False,
        "blocks": 0,
        "sparse": True,
    }

    def validate(self) -> None:
        p = self.params
        if not 0.0 <= p["alpha"] <= 1.0:
            raise ParamError(f"md: 'alpha' must be a number in [0, 1], got {p['alpha']!r}")
        if p["solve"] not in _SOLVES:
            raise ParamError(f"md: 'solve' must be one of {', '.join(_SOLVES)}, got {p['solve']!r}")
        if p["threshold"] < 0:
            raise ParamError(
                f"md: 'threshold' must be an integer >= 0 (tables with at most that many ids "
                f"keep the base dimension), got {p['threshold']!r}"
            )
        if p["blocks"] < 0:
            raise ParamError(
                f"md: 'blocks' must be an integer >= 0 (0 = one block per table), "
                f"got {p['blocks']!r}"
            )
        for key in ("round_dims", "sparse"):
            if not isinstance(p[key], bool):
                raise ParamError(f"md: {key!r} must be true or false, got {p[key]!r}")
        # The frequency statistic is needed only by the block variant.
        self.needs = (StatRequest("frequencies"),) if p["blocks"] > 0 else ()

    # -- blocks and budget ----------------------------------------------------------------------

    def _blocks(
        self, tables: Sequence[TableSpec], stats: DataStats | None
    ) -> tuple[list[Block], list[torch.Tensor | None]]:
        """Blocks of every table, in feature order, and each table's ranking (None = identity)."""
        threshold, k = self.params["threshold"], self.params["blocks"]
        if k > 0 and (stats is None or stats.frequencies is None):
            raise BenchsuiteError(
                f"md: blocks={k} needs the training id frequencies (stats.frequencies), but none "
                "were given; the host computes them from the method's `needs`"
            )
        blocks: list[Block] = []
        orders: list[torch.Tensor | None] = []
        for f, t in enumerate(tables):
            whole = t.rows <= threshold
            if k == 0 or whole:
                blocks.append(Block(f, 0, t.rows, 1.0 / t.rows, whole))
                orders.append(None)
                continue
            assert stats is not None and stats.frequencies is not None
            freq = stats.frequencies[f]
            if freq.numel() != t.rows:
                raise BenchsuiteError(
                    f"md: frequencies of feature {f} ({t.name}) hold {freq.numel()} counts for "
                    f"a table of {t.rows} ids"
                )
            found, order = blocks_from_frequencies(freq, f, k)
            blocks += found
            orders.append(order)
        return blocks, orders

    def _fixed_bytes(self, tables: Sequence[TableSpec], num_blocks: int) -> int:
        if self.params["blocks"] == 0:
            return 3 * _INT64 * len(tables)  # id counts, feature order, table offsets
        # id counts and map offsets per feature, the id map, a start row per block
        return 2 * _INT64 * len(tables) + _INT32 * sum(t.rows for t in tables) + _INT64 * num_blocks

    def _cost(self, blocks: Sequence[Block], dims: Sequence[int], dim: int) -> int:
        return sum(block_bytes(b.rows, d, dim) for b, d in zip(blocks, dims, strict=True))

    def allocate(
        self,
        tables: Sequence[TableSpec],
        dim: int,
        budget: int,
        blocks: Sequence[Block],
    ) -> Allocation:
        """The block dimensions that fit ``budget`` bytes (see the module docstring)."""
        if self.params["blocks"] > 0 and sum(t.rows for t in tables) >= 2**31:
            raise Infeasible("md: the int32 id map holds at most 2**31 - 1 ids in all")
        fixed = self._fixed_bytes(tables, len(blocks))
        round_dims = self.params["round_dims"]
        compressible = [b.popularity for b in blocks if not b.whole and b.popularity > 0]

        def dims_for(lam: float, alpha: float) -> tuple[int, ...]:
            return tuple(block_dim(b, lam, alpha, dim, round_dims) for b in blocks)

        def total(lam: float, alpha: float) -> tuple[int, tuple[int, ...]]:
            dims = dims_for(lam, alpha)
            return fixed + self._cost(blocks, dims, dim), dims

        def result(lam: float, alpha: float) -> Allocation:
            used, dims = total(lam, alpha)
            return Allocation(tuple(blocks), dims, lam, alpha, used)

        if self.params["solve"] == "lambda":
            alpha = self.params["alpha"]
            least, _ = total(0.0, alpha)
            if least > budget:
                raise Infeasible(
                    f"md: a budget of {budget:,} bytes is below the {least:,} bytes needed with "
                    f"every compressed block at dimension 1 (tables of at most "
                    f"{self.params['threshold']} ids keep dimension {dim})"
                )
            hi = 2.0 * dim / min(compressible) ** alpha if compressible else 1.0
            if total(hi, alpha)[0] <= budget:
                return result(hi, alpha)
            lo = 0.0  # total(lo) fits, total(hi) does not
            for _ in range(_BISECTIONS):
                mid = (lo + hi) / 2
                if mid in (lo, hi):
                    break
                if total(mid, alpha)[0] <= budget:
                    lo = mid
                else:
                    hi = mid
            return result(lo, alpha)

        # solve == "alpha": anchor the most popular compressed block at the base dimension.
        anchor = max(compressible) if compressible else 1.0

        def lam_of(a: float) -> float:
            return dim / anchor**a

        if total(lam_of(0.0), 0.0)[0] <= budget:
            return result(lam_of(0.0), 0.0)
        most, _ = total(lam_of(1.0), 1.0)
        if most > budget:
            raise Infeasible(
                f"md: solve=alpha: even alpha=1 (d = {dim}·p/p_max) needs {most:,} bytes, "
                f"more than the budget of {budget:,}; solve=lambda reaches smaller budgets"
            )
        lo_a, hi_a = 0.0, 1.0  # total(hi_a) fits, total(lo_a) does not
        for _ in range(_BISECTIONS):
            mid = (lo_a + hi_a) / 2
            if mid in (lo_a, hi_a):
                break
            if total(lam_of(mid), mid)[0] <= budget:
                hi_a = mid
            else:
                lo_a = mid
        return result(lam_of(hi_a), hi_a)

    # -- the API --------------------------------------------------------------------------------

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        blocks, orders = self._blocks(tables, stats)
        alloc = self.allocate(tables, dim, budget, blocks)
        generator = torch.Generator().manual_seed(seed)
        cls = MixedDimTables if self.params["blocks"] == 0 else MixedDimBlocks
        return cls(tables, alloc, orders, dim, sparse=self.params["sparse"], generator=generator)

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        blocks, _ = self._blocks(tables, stats)
        alloc = self.allocate(tables, dim, budget, blocks)
        block_mode = self.params["blocks"] > 0
        per_table = []
        for f, t in enumerate(tables):
            mine = [(b, d) for b, d in zip(alloc.blocks, alloc.dims, strict=True) if b.feature == f]
            used = sum(block_bytes(b.rows, d, dim) for b, d in mine)
            if block_mode:
                used += _INT32 * t.rows
            parts = [f"{b.rows}x{d}" + (f" + proj {d}x{dim}" if d < dim else "") for b, d in mine]
            if mine[0][0].whole:
                detail = f"whole at base dim (n <= threshold {self.params['threshold']})"
            elif block_mode:
                detail = f"{len(mine)} frequency blocks: " + ", ".join(parts) + "; int32 id map"
            else:
                detail = parts[0]
            per_table.append(
                TablePlan(
                    t.name,
                    t.rows,
                    t.rows,
                    max(d for _, d in mine),
                    used,
                    compressed=any(d < dim for _, d in mine),
                    detail=detail,
                )
            )
        solved = f"lambda={alloc.lam:.6g}, alpha={alloc.alpha:.6g}"
        if block_mode:
            shared = (
                SharedPlan(
                    "id counts, id map offsets", (2, len(tables)), 16 * len(tables), "int64"
                ),
                SharedPlan(
                    "block start rows",
                    (len(alloc.blocks),),
                    _INT64 * len(alloc.blocks),
                    f"int64; {solved}",
                ),
            )
        else:
            shared = (
                SharedPlan(
                    "id counts, feature order, table offsets",
                    (3, len(tables)),
                    24 * len(tables),
                    f"int64; {solved}",
                ),
            )
        plan = Plan(tuple(per_table), shared)
        assert plan.total_bytes == alloc.total_bytes
        return plan

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        """Exact for ``blocks: 0``; with blocks a lower bound (blocks depend on frequencies)."""
        blocks = [
            Block(f, 0, t.rows, 1.0 / t.rows, t.rows <= self.params["threshold"])
            for f, t in enumerate(tables)
        ]
        if self.params["solve"] == "alpha" and self.params["blocks"] == 0:
            compressible = [b.popularity for b in blocks if not b.whole]
            lam, alpha = (dim / max(compressible) if compressible else 1.0), 1.0
        else:
            lam, alpha = 0.0, self.params["alpha"]
        dims = [block_dim(b, lam, alpha, dim, self.params["round_dims"]) for b in blocks]
        least = self._cost(blocks, dims, dim) + 3 * _INT64 * len(tables)
        if self.params["blocks"] > 0:
            least += _INT32 * sum(t.rows for t in tables)
        return least


# -- modules -------------------------------------------------------------------------------------


class DimGroup(nn.Module):
    """The blocks of one dimension ``d``, back to back in one ``[rows, d]`` weight.

    ``starts[k]`` is block k's first row, counted from ``first`` (0 for one block per table; the
    group's first global row in the frequency-block layout); ``proj[k]`` (``[d, dim]``, present
    when ``d < dim``) is block k's projection ``Linear(d, dim, bias=False)``, stored transposed.
    """

    def __init__(
        self,
        rows: Sequence[int],
        bounds: Sequence[float],
        d: int,
        dim: int,
        generator: torch.Generator,
        first: int = 0,
    ) -> None:
        super().__init__()
        sizes = torch.tensor(list(rows), dtype=torch.int64)
        self.register_buffer("starts", first + torch.cumsum(sizes, 0) - sizes)
        self.weight = nn.Parameter(torch.empty(int(sizes.sum()), d))
        self.proj = nn.Parameter(torch.empty(len(rows), d, dim)) if d < dim else None
        limit = math.sqrt(6.0 / (d + dim))  # xavier_uniform of Linear(d, dim)
        with torch.no_grad():
            start = 0
            for k, n in enumerate(rows):
                self.weight[start : start + n].uniform_(-bounds[k], bounds[k], generator=generator)
                start += n
                if self.proj is not None:
                    self.proj[k].uniform_(-limit, limit, generator=generator)


def _groups(
    tables: Sequence[TableSpec],
    alloc: Allocation,
    dim: int,
    generator: torch.Generator,
    *,
    global_rows: bool,
) -> tuple[nn.ModuleList, list[int]]:
    """One DimGroup per distinct dimension, widest first, and the block order they hold."""
    groups, members, first = nn.ModuleList(), [], 0
    for d, idx in alloc.groups():
        rows = [alloc.blocks[i].rows for i in idx]
        bounds = [math.sqrt(1.0 / tables[alloc.blocks[i].feature].rows) for i in idx]
        groups.append(DimGroup(rows, bounds, d, dim, generator, first if global_rows else 0))
        members += idx
        first += sum(rows)
    return groups, members


class MixedDimTables(nn.Module):
    """One block per table: features grouped by dimension, one gather and one batched matmul
    per group, computed feature-major (``[k, B, d]``) and put back in feature order at the end."""

    def __init__(
        self,
        tables: Sequence[TableSpec],
        alloc: Allocation,
        orders: Sequence[torch.Tensor | None],
        dim: int,
        *,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.sparse = sparse
        self.register_buffer(
            "cardinalities", torch.tensor([t.rows for t in tables], dtype=torch.int64)
        )
        self.groups, members = _groups(tables, alloc, dim, generator, global_rows=False)
        order = [alloc.blocks[i].feature for i in members]
        self.register_buffer("feature_order", torch.tensor(order, dtype=torch.int64))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        by_feature = ids.t()  # [T, B]: each group's lookups come out as [k, B, d]
        pieces, col = [], 0
        for g in self.groups:
            k = g.starts.shape[0]
            rows = by_feature.index_select(0, self.feature_order[col : col + k])
            col += k
            e = F.embedding(rows + g.starts[:, None], g.weight, sparse=self.sparse)  # [k, B, d]
            if g.proj is not None:
                e = torch.bmm(e, g.proj)  # [k, B, dim]
            pieces += e.unbind(0)
        # Feature order, copying whole [B, dim] slabs (so does the backward); a [B, T, dim] view.
        position = torch.argsort(self.feature_order).tolist()  # feature f's place in `pieces`
        return torch.stack([pieces[i] for i in position]).transpose(0, 1)


class MixedDimBlocks(nn.Module):
    """Frequency blocks. The int32 ``id_map`` sends id x of feature f to a global row
    ``v = id_map[id_offsets[f] + x]``; rows are laid out group by group (widest dimension first)
    and block by block, so sorting a batch's ``v`` makes every block's lookups one contiguous
    run: one gather per group, one matmul per block hit, one permutation back."""

    def __init__(
        self,
        tables: Sequence[TableSpec],
        alloc: Allocation,
        orders: Sequence[torch.Tensor | None],
        dim: int,
        *,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.sparse = sparse
        self.dim = dim
        sizes = torch.tensor([t.rows for t in tables], dtype=torch.int64)
        self.register_buffer("cardinalities", sizes)
        self.register_buffer("id_offsets", torch.cumsum(sizes, 0) - sizes)
        self.groups, members = _groups(tables, alloc, dim, generator, global_rows=True)
        id_map = torch.empty(int(sizes.sum()), dtype=torch.int32)
        v = 0
        for i in members:
            b = alloc.blocks[i]
            order = orders[b.feature]
            ranks = slice(b.first, b.first + b.rows)
            ids = torch.arange(b.first, b.first + b.rows) if order is None else order[ranks]
            id_map[int(self.id_offsets[b.feature]) + ids] = torch.arange(
                v, v + b.rows, dtype=torch.int32
            )
            v += b.rows
        self.register_buffer("id_map", id_map)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        batch, features = ids.shape
        v = self.id_map.index_select(0, (ids + self.id_offsets).reshape(-1))  # int32 sorts fast
        sv, order = torch.sort(v)
        starts = torch.cat([g.starts for g in self.groups]).to(sv.dtype)
        cuts = [*torch.searchsorted(sv, starts).tolist(), sv.numel()]
        outs, i, first = [], 0, 0
        for g in self.groups:
            k = g.starts.shape[0]
            e = F.embedding(sv[cuts[i] : cuts[i + k]] - first, g.weight, sparse=self.sparse)
            if g.proj is not None:
                runs = e.split([cuts[i + j + 1] - cuts[i + j] for j in range(k)])
                proj = g.proj.unbind(0)
                hit = [x @ proj[j] for j, x in enumerate(runs) if x.shape[0]]
                e = torch.cat(hit) if hit else e @ proj[0]
            outs.append(e)
            i += k
            first += g.weight.shape[0]
        flat = torch.cat(outs) if len(outs) > 1 else outs[0]
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return _Permute.apply(flat, inverse, order).view(batch, features, self.dim)


class _Permute(torch.autograd.Function):
    """``x[index]`` for a permutation ``index``; the backward gathers with its inverse instead
    of scatter-adding (both directions are one ``index_select``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [MD]
