"""``robe``: ROBE-Z, random offset block embeddings (Desai, Chou, Shrivastava, MLSys 2022).

Paper: "Random Offset Block Embedding (ROBE) for compressed embedding tables in deep learning
recommendation systems", arXiv 2108.02191. Reference code: apd10/universal_memory_allocation
(``hashedEmbeddingCPU.py``, ``hashed_embedding_bag_kernel.cu``, same in apd10/robez), used by
apd10/dlrm ``--is-rma``; the optional sign hash follows Hsword/Hetu ``CompressedEmbedding.cu``.

All features share **one** learnable 1-D fp32 array ``M``. Feature f's id x becomes the global
id ``v = x + off_f`` with ``off_f = Σ_{f'<f} n_{f'}`` (apd10's ``val_offset``), so the feature
enters the hash. An embedding of dimension d is read as d/Z blocks of Z contiguous floats, block
``c = j // Z`` starting at a hashed offset (P = 2,038,074,743, apd10's prime)::

    key_c  = (v·A + c·B + C) mod P
    s_c    = key_c mod (|M| − Z + 1)              # block start, no wrap-around
    e_v[j] = M[s_{j//Z} + j mod Z]

With ``sign: true`` each coordinate is multiplied by a ±1 sign hash (the paper's g; Hetu)::

    g(v, j) = 2·(((v·A_g + j·B_g + C_g) mod P) mod 2) − 1

A, B, C (and A_g, B_g, C_g) are drawn uniformly from [1, P) by a ``torch.Generator`` seeded
with the cell's seed (or the ``seed`` parameter). The products stay in int64: v < Σ n_f
(187,767,399 for Criteo TB) and A < P < 2^31 give v·A < 3.9e17, far below 2^63; ``build`` and
``plan`` check the bound for the given tables.

**Budget.** ``|M| = (budget − buffers) // 4``, where the buffers are the hash constants
(3 int64, 6 with ``sign``) and the per-feature offsets and id counts (2·T int64). ``|M|`` is
capped at ``P + Z − 1``: block starts are ``key mod (|M| − Z + 1)`` with ``key < P``, so floats
past that could never be read (only budgets above 8 GB reach the cap). The smallest budget is
one block, ``|M| = Z``. ``plan()`` and ``build()`` share :func:`robe_layout`.

**Parameters.**

- ``block`` (Z, default 8): must divide the dimension (1 ≤ Z ≤ d). 8 is one of the block sizes
  of the paper's MLPerf scripts (1, 8, 32, 128) and divides the usual dims (16 Kaggle, 128 TB);
  at dim 16 it reads two 32-byte blocks per embedding. Speed grows with Z (fewer random reads
  and hashes): ``block: 1`` (apd10's default) hashes every coordinate on its own, HashedNet-like,
  and is several times slower; ``block: d`` reads one contiguous window per embedding.
- ``sign`` (default false, as apd10): multiply by the ±1 sign hash g.
- ``gradient`` (default ``auto``): M's gradient is a scatter-add of the output gradient, as a
  sparse COO vector over the floats read (``sparse``; SGD and Adagrad update only those), a
  dense |M| vector (``dense``), or, with ``auto``, dense while |M| ≤ 16 × the floats the batch
  read and sparse above (a sparse step's cost is the optimizer's coalescing of those n·Z
  entries; a dense one's is zeroing and updating all of M).
- ``seed`` (default null: the cell's seed): fixes the hash constants and the initialisation.

**Initialisation.** ``M ~ U(±sqrt(1/max_f n_f))``, as apd10/dlrm's MLPerf scripts (the DLRM
rule for the largest table).

**Deviations from the reference code.**

- apd10 draws its constants with ``np.random.RandomState(1024).randint(0, P)``; here they come
  from the seeded torch generator in [1, P) (as Hetu), so a constant can never be 0 (A = 0
  would map every id to the same block).
- apd10 sizes ``M`` by a flag (``--rma-size``); here it is derived from the budget, buffers
  included, and capped at ``P + Z − 1`` (apd10 silently never reads floats past that).
- The ``new-robez`` branch uses ``(c + 1)·B`` and ``mod (|M| − Z)``; this follows the
  ``hashedEmbeddingCPU.py`` / CUDA formula above (``c·B``, ``mod (|M| − Z + 1)``).
- Hetu hashes (slot, id) with separate coefficients, reads with Z = d in effect (its ``npart``
  quirk) and wraps around ``mod |M|``; here the sign hash uses the global id v and coordinate j,
  and blocks never wrap.
- Ids are checked: an id outside [0, n_f) raises IndexError instead of hashing silently.
- The backward is a scatter-add of the output gradient into M, like apd10's ``scatter_add_``,
  but sparse when M is large (``gradient: auto``); apd10's CPU path builds a dense |M|
  gradient every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
from benchsuite.layers import GRADIENT_MODES as GRADIENTS
from benchsuite.layers import check_ids, gather_blocks

#: apd10's prime (``random_numbers[0]``), also Hetu's.
PRIME = 2_038_074_743
_FLOAT = 4
_INT64 = 8
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class RobeLayout:
    """How a budget is spent: the array size and the buffers, in bytes."""

    array: int  # |M|, floats
    block: int  # Z
    constants: int  # hash constants kept (3, or 6 with the sign hash)
    tables: int  # T: offsets and id counts, one int64 each per feature

    @property
    def array_bytes(self) -> int:
        return self.array * _FLOAT

    @property
    def constant_bytes(self) -> int:
        return self.constants * _INT64

    @property
    def table_buffer_bytes(self) -> int:
        return 2 * self.tables * _INT64

    @property
    def total_bytes(self) -> int:
        return self.array_bytes + self.constant_bytes + self.table_buffer_bytes


def check_block(block: int, dim: int) -> None:
    """Raise ParamError unless the block size Z divides ``dim``."""
    if block < 1 or block > dim or dim % block:
        divisors = ", ".join(str(z) for z in range(1, dim + 1) if dim % z == 0)
        raise ParamError(
            f"robe: 'block' must divide the embedding dimension {dim}; "
            f"allowed: {divisors}, got {block!r}"
        )


def robe_overhead(tables: Sequence[TableSpec], dim: int, sign: bool) -> int:
    """Bytes of the buffers: hash constants, offsets and id counts (int64 each)."""
    ids = sum(t.rows for t in tables)
    # Largest intermediate: v·A + c·B + C with v < ids, c < dim and A, B, C < P (the same
    # bound holds for the sign hash, whose j < dim).
    if (ids + dim) * (PRIME - 1) + PRIME > _INT64_MAX:
        raise Infeasible(f"robe: {ids:,} ids overflow the int64 hash (v·A must stay < 2^63)")
    return (_constants(sign) + 2 * len(tables)) * _INT64


def _constants(sign: bool) -> int:
    return 6 if sign else 3


def robe_layout(
    tables: Sequence[TableSpec], dim: int, budget: int, block: int, sign: bool
) -> RobeLayout:
    """The array size for ``budget`` bytes (buffers included); pure arithmetic."""
    check_block(block, dim)
    overhead = robe_overhead(tables, dim, sign)
    floats = min((budget - overhead) // _FLOAT, PRIME + block - 1)
    if floats < block:
        raise Infeasible(
            f"robe: a budget of {budget:,} bytes leaves {max(floats, 0)} floats for the array "
            f"after {overhead:,} bytes of hash constants and offsets; block={block} needs at "
            f"least {block} floats ({overhead + block * _FLOAT:,} bytes)"
        )
    return RobeLayout(
        array=int(floats), block=block, constants=_constants(sign), tables=len(tables)
    )


class RobeEmbedding(nn.Module):
    """ROBE-Z: every feature's embeddings read in blocks of Z from one shared array ``M``."""

    def __init__(
        self,
        tables: Sequence[TableSpec],
        dim: int,
        layout: RobeLayout,
        *,
        sign: bool,
        gradient: str,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        sizes = torch.tensor([t.rows for t in tables], dtype=torch.int64)
        self.register_buffer("cardinalities", sizes)
        self.register_buffer("offsets", torch.cumsum(sizes, 0) - sizes)
        # A, B, C, A_g, B_g, C_g: always drawn, so M's initialisation does not depend on sign.
        constants = torch.randint(1, PRIME, (6,), generator=generator, dtype=torch.int64)
        self.register_buffer("hash", constants[: layout.constants].clone())
        bound = math.sqrt(1.0 / max(t.rows for t in tables))
        self.array = nn.Parameter(torch.empty(layout.array))
        with torch.no_grad():
            self.array.uniform_(-bound, bound, generator=generator)
        self.dim = dim
        self.block = layout.block
        self.sign = sign
        self.gradient = gradient

    def block_starts(self, v: torch.Tensor) -> torch.Tensor:
        """Start in M of each block, ``[B, T, d/Z]``, for global ids ``v`` ``[B, T]``."""
        a, b, c = self.hash[0], self.hash[1], self.hash[2]
        chunk = torch.arange(self.dim // self.block, device=v.device) * b + c
        key = (v * a).unsqueeze(-1) + chunk  # a fresh tensor: reduce it in place
        return key.remainder_(PRIME).remainder_(self.array.shape[0] - self.block + 1)

    def signs(self, v: torch.Tensor) -> torch.Tensor:
        """The ±1 sign hash ``g(v, j)``, float32 ``[B, T, d]``."""
        a, b, c = self.hash[3], self.hash[4], self.hash[5]
        coord = torch.arange(self.dim, device=v.device) * b + c
        bit = ((v * a).unsqueeze(-1) + coord).remainder_(PRIME).bitwise_and_(1)
        return bit.to(torch.float32).mul_(2).sub_(1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        v = ids + self.offsets
        out = gather_blocks(self.array, self.block_starts(v), self.block, self.gradient)
        return out * self.signs(v) if self.sign else out

    def extra_repr(self) -> str:
        return f"array={self.array.shape[0]}, dim={self.dim}, block={self.block}, sign={self.sign}"


class Robe(Method):
    name = "robe"
    summary = (
        "ROBE-Z: one shared array read in hashed blocks of Z (Desai, Chou, Shrivastava, MLSys'22)"
    )
    defaults = {"block": 8, "sign": False, "gradient": "auto", "seed": None}

    def validate(self) -> None:
        p = self.params
        if p["block"] < 1:
            raise ParamError(
                f"robe: 'block' must be an integer >= 1 that divides the embedding dimension "
                f"(e.g. 1, 8, 16 at dim 16), got {p['block']!r}"
            )
        if not isinstance(p["sign"], bool):
            raise ParamError(f"robe: 'sign' must be true or false, got {p['sign']!r}")
        if p["gradient"] not in GRADIENTS:
            raise ParamError(
                f"robe: 'gradient' must be one of {', '.join(GRADIENTS)}, got {p['gradient']!r}"
            )
        if p["seed"] is not None and (
            not isinstance(p["seed"], int) or isinstance(p["seed"], bool) or p["seed"] < 0
        ):
            raise ParamError(
                f"robe: 'seed' must be a non-negative integer or null, got {p['seed']!r}"
            )

    def layout(self, tables: Sequence[TableSpec], dim: int, budget: int) -> RobeLayout:
        return robe_layout(tables, dim, budget, self.params["block"], self.params["sign"])

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        layout = self.layout(tables, dim, budget)
        h_seed = seed if self.params["seed"] is None else self.params["seed"]
        return RobeEmbedding(
            tables,
            dim,
            layout,
            sign=self.params["sign"],
            gradient=self.params["gradient"],
            generator=torch.Generator().manual_seed(h_seed),
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        layout = self.layout(tables, dim, budget)
        z = layout.block
        blocks = dim // z
        sign = ", ±1 sign hash" if self.params["sign"] else ""
        per_table = tuple(
            TablePlan(
                t.name,
                t.rows,
                0,
                dim,
                0,
                compressed=True,
                detail=f"{blocks} block(s) of {z} from the shared array{sign}",
            )
            for t in tables
        )
        names = "A, B, C, A_g, B_g, C_g" if self.params["sign"] else "A, B, C"
        shared = (
            SharedPlan(
                "ROBE array M",
                (layout.array,),
                layout.array_bytes,
                f"fp32, shared by all {len(tables)} tables, U(±sqrt(1/max n))",
            ),
            SharedPlan("hash constants", (layout.constants,), layout.constant_bytes, names),
            SharedPlan(
                "id counts and offsets", (2, len(tables)), layout.table_buffer_bytes, "int64"
            ),
        )
        return Plan(per_table, shared)

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        check_block(self.params["block"], dim)
        overhead = robe_overhead(tables, dim, self.params["sign"])
        return overhead + self.params["block"] * _FLOAT


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [Robe]
