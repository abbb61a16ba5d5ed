"""``memrec``: MEM-REC, Bloom-encoded token and weight tables (Jha, Thomas, Jain, Gobriel, Rosing,
Iyer; arXiv 2305.07205, 2023).

Paper: "MEM-REC: Memory Efficient Recommendation System using Alternative Representation".
Reference code: intel/ai-reference-models ``models/recommendation/pytorch/memrec_dlrm``
(``memrec_encoder/code/memrec_encoder.cpp::wyh_hash_array_sparse``, ``product/memrec.py::
create_emb_bloomrec``, ``apply_emb_bloomrec``).

No table per feature is kept. Each (feature f, id x) is hashed, Bloom-filter style, with ``k``
hash functions into a shared **token table** ``T`` of ``D`` rows of width ``m`` and with ``kw``
hash functions into a shared **weight table** ``W`` of ``dw`` scalars. Nothing about the
encoding is stored: it is a function of (f, x) and a few hash seeds.

**Pooled** (``pooled: true``, the paper's architecture; ``output = "pooled"``). One vector per
sample, the weight sum times the token sum over all features::

    z = (Σ_f Σ_{i<kw} W[hw_i(f, x_f)]) · (Σ_f Σ_{i<k} T[h_i(f, x_f)])      ∈ R^m

i.e. ``α(x)·M·φ(x)`` with ``φ`` the D-dimensional Bloom (multi-hot) encoding of the sample and
``M = T``. The model then has no dot interaction: DLRM concatenates ``z`` with the bottom-MLP
output and feeds the top MLP (``benchsuite.model.DLRM`` with ``output="pooled"``; the module
sets ``out_features = m``). With ``kw: 0`` there is no weight table and ``z`` is the token sum.

**Per feature** (``pooled: false``; not in the paper, an extension that keeps DLRM's dot
interaction). Each feature gets its own vector, its weight sum times its token sum, with no sum
over features, at the embedding's width::

    e_f = (Σ_{i<kw} W[hw_i(f, x_f)]) · (Σ_{i<k} T[h_i(f, x_f)])            ∈ R^dim

The method then sets ``self.output = "per_feature"`` on the instance (in ``validate()``); the
runner and the conformance kit read ``method.output`` from the instance.

**Hashing.** ``(f, x)`` is packed injectively into one 64-bit key ``f·2^40 + x`` (ids below
2^40, features below 2^23; ``plan``/``build`` check) and hashed by the splitmix64 finaliser
(Stafford's "mix13") of the key xor a per-hash 64-bit seed::

    h_j(f, x) = mix64((f·2^40 + x) ⊕ s_j),   j < k + kw
    token index i  = ⌊(h_i     mod 2^32) · D  / 2^32⌋     (i < k)
    weight index i = ⌊(h_{k+i} mod 2^32) · dw / 2^32⌋     (i < kw)

``mix64(z)``: ``z ^= z >>> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >>> 27; z *= 0x94d049bb133111eb;
z ^= z >>> 31`` on uint64, computed with int64 torch ops: multiplication wraps to the same bits,
and the logical shift ``>>>`` is the arithmetic ``>>`` masked to its ``64 − s`` low bits. The
``k + kw`` seeds ``s_j`` are drawn from the seeded ``torch.Generator`` and kept in a buffer.
mix64 is a bijection, so distinct (f, x) never share a 64-bit hash; collisions come only from
the reduction to a row. The reduction is Lemire's "fast range" on the low 32 bits (a multiply
and a shift instead of a 64-bit division, which cost a quarter of the forward pass on CPU):
each row gets ⌊2^32/D⌋ or ⌈2^32/D⌉ of the 2^32 values, a relative bias below D/2^32. The low
half is used because mix64's last step ``z ^= z >>> 31`` folds the high half into it (and
changes only one bit of the high half). Fast range needs D, dw ≤ 2^31 (so that the product
stays below 2^63): both are capped there, a cap only budgets of 8 GiB·m and more reach.

**Budget → sizes.** Bytes = ``4·D·m + 4·dw`` plus the int64 buffers (hash seeds and moduli,
``2·(k + kw)``; per-feature keys and id counts, ``2·T``). ``dw = max(1, ⌊dw_ratio · D⌋)``
(0 when ``kw: 0``), and D is the largest integer whose total fits the budget (bisection on a
non-decreasing function), at most 2^31; ``plan()`` and ``build()`` share
:func:`memrec_layout`. The smallest budget is ``D = dw = 1``. ``m`` is ``width`` (pooled) or
the embedding dim (per feature).

**Parameters.**

- ``pooled`` (default true): the paper's pooled architecture, or the per-feature variant above.
- ``width`` (default null = the embedding dim): the token width m of the pooled vector. The
  released Terabyte config uses m = 128 (``--arch-mlp-bot-sparse 128``, equal to its bottom-MLP
  output) with a wider top MLP (1024-1024-512-256-1 on 256 inputs); the default here keeps the
  pooled vector at the embedding's width, the size of the bottom-MLP output it is concatenated
  with, and leaves the suite's top MLP as it is. Per feature the width is always the embedding
  dim (``width`` must stay null).
- ``k`` (default 1): token hashes per (feature, id). 1 is the released checkpoint's value
  (``accuracy.sh``: ``--K 1``), the configuration behind the paper's headline; the code's
  argparse default is 9. ``k = 9`` is a Bloom filter proper and 9× the token lookups.
- ``kw`` (default 1, as both the checkpoint and the code): weight hashes; 0 drops the weight
  table (``z`` = the token sum, as the reference does for ``kw = 0``).
- ``dw_ratio`` (default 1.0): ``dw / D``. The released config has D = dw = 75,000 (the weight
  table then costs 1/(m+1) of the bytes). Larger values buy more distinct weights.
- ``sparse`` (default true, as the reference's ``EmbeddingBag(..., sparse=True)``): sparse
  gradients for both tables (SGD and Adagrad update only the rows a batch touched); false gives
  dense gradients (an ``index_add_`` into a zero tensor of each table's size).
- ``seed`` (default null: the cell's seed): fixes the hash seeds and the initialisation.

**Initialisation.** ``T ~ U(±sqrt(1/D))`` and ``W ~ U(±sqrt(1/D))``: the reference
(``create_emb_bloomrec``) uses D, the token rows, for the weight table's bound too; kept here,
for both variants. Per feature this makes ``e_f`` a product of two ``O(1/sqrt(D))`` terms, so
it starts ``sqrt(D)`` times smaller than a hashed table's rows; it trains (a short synthetic
run at 8x reached AUC 0.736 against hashing's 0.749 and pooled MEM-REC's 0.720), and no
rescaling is added.

**Statistics.** None: the encoding is data-independent (``needs = ()``).

**Deviations from / fixes to the reference code.**

- The reference encoder stores ``j·430000000 + x`` in a ``uint16_t`` and reads the id through a
  ``uint16_t*``, so only the low 16 bits of the feature term and of the id survive (ids 65,536
  apart get the same key), and wyhash is called with length 8 on that 2-byte variable (reading
  6 bytes past it). Here the whole (feature, id) pair is hashed with a 64-bit bijective mix; no
  bits are lost before the reduction to a row.
- The reference uses D as the modulus of both the token and the weight indices ("Currently same
  for both embedding tables"), so it only works with dw ≥ D (a smaller weight table is indexed
  out of range); here the weight indices are reduced into [0, dw) and ``dw`` is a parameter of
  the budget split (``dw_ratio``).
- The reference takes the first token index and the first weight index from the two 32-bit
  halves of one wyhash, reduced ``mod D`` (further indices from further seeded wyhash calls,
  two per call); here every index has its own 64-bit hash, whose low 32 bits are reduced to
  [0, D) or [0, dw) by fast range.
- wyhash with the reference's fixed seeds is replaced by splitmix64's finaliser with seeds drawn
  from the cell's seed (stored as buffers, counted in the bytes).
- The encoding runs inside the module on the device (vectorised int64 ops) instead of in the
  data loader's collate function; the reference's 10-value "hot hash" cache is an optimisation
  and is not needed.
- Ids are range-checked: an id outside [0, n_f) raises IndexError instead of hashing silently.
- The lookups are ``embedding_bag(mode="sum")`` (``embedding`` for a single hash) with a
  custom backward that returns the gradient as an uncoalesced sparse tensor, as
  ``F.embedding`` does; ``EmbeddingBag``'s own sparse backward sorts the indices and measured
  3-4× slower on CPU. The optimizer sums duplicate rows, so the update is the same.
- The per-feature variant is an addition (see above).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

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
from benchsuite.layers import check_ids

_FLOAT = 4
_INT64 = 8
#: Ids are packed as ``f·2^ID_BITS + x``: ids below 2^40, features below 2^23.
ID_BITS = 40
_MAX_FEATURES = 2 ** (63 - ID_BITS)
#: D and dw stay at most 2^31, so fast range's ``(h mod 2^32) · D`` stays below 2^63.
MAX_ROWS = 2**31
_LOW32 = 2**32 - 1
_MAX_HASHES = 64


def _signed(c: int) -> int:
    """The int64 with the same 64 bits as the uint64 ``c``."""
    return c - 2**64 if c >= 2**63 else c


_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bits: the arithmetic shift masked to ``64 − s`` bits."""
    return (z >> s).bitwise_and_((1 << (64 - s)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser on the uint64 bits of int64 ``z`` (overwrites ``z``)."""
    z.bitwise_xor_(_shr(z, 30)).mul_(_MIX1)
    z.bitwise_xor_(_shr(z, 27)).mul_(_MIX2)
    return z.bitwise_xor_(_shr(z, 31))


@dataclass(frozen=True)
class MemrecLayout:
    """How a budget is spent: token rows D of width m, weight rows dw, and the buffers."""

    rows: int  # D
    width: int  # m
    weight_rows: int  # dw (0 when kw = 0)
    k: int
    kw: int
    tables: int  # T

    @property
    def token_bytes(self) -> int:
        return self.rows * self.width * _FLOAT

    @property
    def weight_bytes(self) -> int:
        return self.weight_rows * _FLOAT

    @property
    def hash_bytes(self) -> int:
        return 2 * (self.k + self.kw) * _INT64  # seeds and moduli

    @property
    def table_buffer_bytes(self) -> int:
        return 2 * self.tables * _INT64  # feature keys and id counts

    @property
    def total_bytes(self) -> int:
        return self.token_bytes + self.weight_bytes + self.hash_bytes + self.table_buffer_bytes


def weight_rows(rows: int, kw: int, dw_ratio: float) -> int:
    """dw for D token rows: ``max(1, ⌊dw_ratio·D⌋)``, or 0 without weight hashes."""
    return min(MAX_ROWS, max(1, int(dw_ratio * rows))) if kw else 0


def _check_tables(tables: Sequence[TableSpec]) -> None:
    if len(tables) > _MAX_FEATURES or max(t.rows for t in tables) > 2**ID_BITS:
        raise Infeasible(
            f"memrec: (feature, id) is packed into 64 bits as f·2^{ID_BITS} + x, which needs "
            f"ids below 2^{ID_BITS} and at most {_MAX_FEATURES:,} features"
        )


def memrec_layout(
    tables: Sequence[TableSpec], width: int, budget: int, k: int, kw: int, dw_ratio: float
) -> MemrecLayout:
    """The largest D (and its dw) whose bytes, buffers included, fit ``budget``; arithmetic."""
    _check_tables(tables)

    def layout(rows: int) -> MemrecLayout:
        return MemrecLayout(rows, width, weight_rows(rows, kw, dw_ratio), k, kw, len(tables))

    smallest = layout(1)
    if smallest.total_bytes > budget:
        raise Infeasible(
            f"memrec: a budget of {budget:,} bytes cannot hold one token row of width {width}"
            + (" and one weight" if kw else "")
            + f" after {smallest.hash_bytes + smallest.table_buffer_bytes:,} bytes of hash "
            f"seeds, moduli, feature keys and id counts (at least {smallest.total_bytes:,} "
            "bytes)"
        )
    if layout(MAX_ROWS).total_bytes <= budget:
        return layout(MAX_ROWS)
    lo, hi = 1, min(MAX_ROWS, budget // (width * _FLOAT) + 1)  # layout(hi) does not fit
    while lo < hi - 1:  # largest D that fits: layout(lo) fits, layout(hi) does not
        mid = (lo + hi) // 2
        if layout(mid).total_bytes <= budget:
            lo = mid
        else:
            hi = mid
    return layout(lo)


class _BagSum(torch.autograd.Function):
    """``out[b] = Σ_j weight[index[b, j]]``; the backward repeats ``grad[b]`` at each index.

    The forward is ``embedding_bag(mode="sum")``. Its own sparse backward sorts the indices
    (several times slower than an embedding's on CPU); here the gradient is, like
    ``F.embedding``'s, an uncoalesced sparse COO tensor (the optimizer sums duplicates), or with
    ``sparse`` false a dense ``index_add_``.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, index: torch.Tensor, sparse: bool):
        ctx.save_for_backward(index)
        ctx.sparse, ctx.shape = sparse, weight.shape
        if index.shape[1] == 1:
            return F.embedding(index.view(-1), weight)
        return F.embedding_bag(index, weight, mode="sum")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (index,) = ctx.saved_tensors
        bags, per_bag = index.shape
        rows = index.reshape(-1)
        values = grad.unsqueeze(1).expand(bags, per_bag, grad.shape[1]).reshape(-1, grad.shape[1])
        if ctx.sparse:
            grad_weight = torch.sparse_coo_tensor(
                rows.unsqueeze(0), values, ctx.shape, is_coalesced=False, check_invariants=False
            )
        else:
            grad_weight = values.new_zeros(ctx.shape).index_add_(0, rows, values)
        return grad_weight, None, None


class MemrecEmbedding(nn.Module):
    """MEM-REC: hashed token rows times hashed weights, pooled over features or per feature."""

    def __init__(
        self,
        tables: Sequence[TableSpec],
        layout: MemrecLayout,
        *,
        pooled: bool,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        k, kw = layout.k, layout.kw
        self.register_buffer(
            "cardinalities", torch.tensor([t.rows for t in tables], dtype=torch.int64)
        )
        self.register_buffer(
            "feature_keys", torch.arange(len(tables), dtype=torch.int64) << ID_BITS
        )
        seeds = torch.randint(-(2**63), 2**63 - 1, (k + kw,), generator=generator)
        self.register_buffer("seeds", seeds)
        moduli = [layout.rows] * k + [layout.weight_rows] * kw
        self.register_buffer("moduli", torch.tensor(moduli, dtype=torch.int64))
        bound = math.sqrt(1.0 / layout.rows)
        self.tokens = nn.Parameter(torch.empty(layout.rows, layout.width))
        self.weights = nn.Parameter(torch.empty(layout.weight_rows, 1)) if kw else None
        with torch.no_grad():
            self.tokens.uniform_(-bound, bound, generator=generator)
            if self.weights is not None:
                self.weights.uniform_(-bound, bound, generator=generator)
        self.k, self.kw = k, kw
        self.pooled = pooled
        self.sparse = sparse
        if pooled:
            self.out_features = layout.width

    def indices(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token indices ``[B, T, k]`` in [0, D) and weight indices ``[B, T, kw]`` in [0, dw)."""
        key = (ids + self.feature_keys).unsqueeze(-1).bitwise_xor(self.seeds)
        h = mix64(key).bitwise_and_(_LOW32).mul_(self.moduli).bitwise_right_shift_(32)
        return h[..., : self.k], h[..., self.k :]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        batch, features = ids.shape
        # One bag per sample (all features' hashes), or one per (sample, feature).
        bags, per_bag = (batch, features) if self.pooled else (batch * features, 1)
        tokens, weights = self.indices(ids)
        z = _BagSum.apply(self.tokens, tokens.reshape(bags, per_bag * self.k), self.sparse)
        if self.weights is not None:
            w = _BagSum.apply(self.weights, weights.reshape(bags, per_bag * self.kw), self.sparse)
            z = z * w
        return z if self.pooled else z.view(batch, features, -1)

    def extra_repr(self) -> str:
        dw = 0 if self.weights is None else self.weights.shape[0]
        return (
            f"D={self.tokens.shape[0]}, m={self.tokens.shape[1]}, dw={dw}, k={self.k}, "
            f"kw={self.kw}, pooled={self.pooled}, sparse={self.sparse}"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Memrec(Method):
    name = "memrec"
    summary = (
        "MEM-REC: Bloom-hashed token table times hashed weights, pooled over features "
        "(Jha, Thomas, Jain, Gobriel, Rosing, Iyer, arXiv 2305.07205, 2023)"
    )
    output = "pooled"
    defaults = {
        "pooled": True,
        "width": None,
        "k": 1,
        "kw": 1,
        "dw_ratio": 1.0,
        "sparse": True,
        "seed": None,
    }

    def validate(self) -> None:
        p = self.params
        if not isinstance(p["pooled"], bool):
            raise ParamError(f"memrec: 'pooled' must be true or false, got {p['pooled']!r}")
        if p["width"] is not None and (not _is_int(p["width"]) or p["width"] < 1):
            raise ParamError(
                f"memrec: 'width' must be a positive integer or null (the embedding dim), "
                f"got {p['width']!r}"
            )
        if p["width"] is not None and not p["pooled"]:
            raise ParamError(
                "memrec: 'width' applies only with pooled: true; the per-feature variant's "
                f"width is the embedding dim (leave 'width' null), got {p['width']!r}"
            )
        if not 1 <= p["k"] <= _MAX_HASHES:
            raise ParamError(
                f"memrec: 'k' (token hashes) must be an integer in 1..{_MAX_HASHES}, got {p['k']!r}"
            )
        if not 0 <= p["kw"] <= _MAX_HASHES:
            raise ParamError(
                f"memrec: 'kw' (weight hashes) must be an integer in 0..{_MAX_HASHES}, "
                f"got {p['kw']!r}"
            )
        if not (math.isfinite(p["dw_ratio"]) and p["dw_ratio"] > 0):
            raise ParamError(
                f"memrec: 'dw_ratio' (weight rows per token row) must be a finite number > 0, "
                f"got {p['dw_ratio']!r}"
            )
        if not isinstance(p["sparse"], bool):
            raise ParamError(f"memrec: 'sparse' must be true or false, got {p['sparse']!r}")
        if p["seed"] is not None and (not _is_int(p["seed"]) or p["seed"] < 0):
            raise ParamError(
                f"memrec: 'seed' must be a non-negative integer or null, got {p['seed']!r}"
            )
        # The runner and the conformance kit read the output kind from the instance.
        self.output = "pooled" if p["pooled"] else "per_feature"

    def width(self, dim: int) -> int:
        return self.params["width"] or dim

    def layout(self, tables: Sequence[TableSpec], dim: int, budget: int) -> MemrecLayout:
        p = self.params
        return memrec_layout(tables, self.width(dim), budget, p["k"], p["kw"], p["dw_ratio"])

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        layout = self.layout(tables, dim, budget)
        h_seed = seed if self.params["seed"] is None else self.params["seed"]
        return MemrecEmbedding(
            tables,
            layout,
            pooled=self.params["pooled"],
            sparse=self.params["sparse"],
            generator=torch.Generator().manual_seed(h_seed),
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        layout = self.layout(tables, dim, budget)
        k, kw, d, m, dw = layout.k, layout.kw, layout.rows, layout.width, layout.weight_rows
        weight = f" × the sum of {kw} hashed weight(s)" if kw else ""
        how = "summed with all features'" if self.params["pooled"] else "its own"
        per_table = tuple(
            TablePlan(
                t.name,
                t.rows,
                0,
                m,
                0,
                compressed=True,
                detail=f"{k} hashed token row(s) of the shared table, {how}{weight}",
            )
            for t in tables
        )
        shared = [
            SharedPlan(
                "token table T",
                (d, m),
                layout.token_bytes,
                f"fp32, shared by all {len(tables)} features, U(±sqrt(1/D))",
            )
        ]
        if kw:
            shared.append(
                SharedPlan(
                    "weight table W", (dw, 1), layout.weight_bytes, "fp32 scalars, U(±sqrt(1/D))"
                )
            )
        shared += [
            SharedPlan(
                "hash seeds and moduli", (2, k + kw), layout.hash_bytes, "int64, splitmix64"
            ),
            SharedPlan(
                "feature keys and id counts", (2, len(tables)), layout.table_buffer_bytes, "int64"
            ),
        ]
        return Plan(per_table, tuple(shared))

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        p = self.params
        _check_tables(tables)
        return MemrecLayout(
            1, self.width(dim), weight_rows(1, p["kw"], p["dw_ratio"]), p["k"], p["kw"], len(tables)
        ).total_bytes


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [Memrec]
