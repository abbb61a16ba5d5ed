"""``hashing``: the hashing trick (Weinberger et al., ICML 2009) with a universal hash per table.

Feature f's id x is mapped to row ``((a_f·x + b_f) mod p) mod m_f`` of that feature's table of
``m_f`` rows. The rows are allocated from the budget:

- ``allocation: cap`` (default) finds the largest cap c with ``Σ min(n_f, c)`` rows fitting the
  budget, so tables smaller than their share stay whole (identity map, no collisions) and the
  large tables share the rest equally: the rule MLPerf's 40M cap applies;
- ``allocation: proportional`` gives every table the same ratio, ``m_f ≈ n_f / r``, keeping
  whole only tables where that would leave fewer rows than ids saved.

The hash coefficients, table sizes and offsets are buffers, counted in the embedding's bytes.
"""

from __future__ import annotations

from collections.abc import Sequence

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

_BYTES_PER_FLOAT = 4
_INT64 = 8
# Per table: a, b and the id count here; offset and row count in ConcatenatedTables.
_BUFFERS_PER_TABLE = 5


class HashedTables(nn.Module):
    """Universal hashing of each feature's ids into its own (smaller) table."""

    def __init__(
        self,
        tables: Sequence[TableSpec],
        rows: Sequence[int],
        dim: int,
        *,
        prime: int,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        n = torch.tensor([t.rows for t in tables], dtype=torch.int64)
        whole = torch.tensor(list(rows), dtype=torch.int64) >= n
        a = torch.randint(1, prime, (len(rows),), generator=generator, dtype=torch.int64)
        b = torch.randint(0, prime, (len(rows),), generator=generator, dtype=torch.int64)
        # Tables kept whole use the identity: ((1·x + 0) mod p) mod n = x for x < n < p.
        self.register_buffer("a", torch.where(whole, torch.ones_like(a), a))
        self.register_buffer("b", torch.where(whole, torch.zeros_like(b), b))
        self.register_buffer("cardinalities", n)
        self.prime = prime
        self.tables = ConcatenatedTables(rows, dim, sparse=sparse, generator=generator)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        hashed = ids * self.a  # a fresh tensor, so the rest can work in place
        hashed.add_(self.b).remainder_(self.prime).remainder_(self.tables.sizes)
        return self.tables.lookup(hashed, reuse=True)


class Hashing(Method):
    name = "hashing"
    summary = (
        "Hashing trick: universal hash of ids into smaller tables (Weinberger et al., ICML'09)"
    )
    defaults = {"seed": None, "allocation": "cap", "prime": 2_147_483_647, "sparse": True}

    def validate(self) -> None:
        p = self.params
        if p["seed"] is not None and (
            not isinstance(p["seed"], int) or isinstance(p["seed"], bool)
        ):
            raise ParamError(f"hashing: 'seed' must be an integer or null, got {p['seed']!r}")
        if p["allocation"] not in ("cap", "proportional"):
            raise ParamError(
                f"hashing: 'allocation' must be 'cap' or 'proportional', got {p['allocation']!r}"
            )
        if p["prime"] < 2**20:
            raise ParamError("hashing: 'prime' must be a prime of at least 2**20")
        if not isinstance(p["sparse"], bool):
            raise ParamError("hashing: 'sparse' must be true or false")

    def rows(self, tables: Sequence[TableSpec], dim: int, budget: int) -> list[int]:
        """Rows per table that fit ``budget`` bytes, buffers included."""
        if max(t.rows for t in tables) >= self.params["prime"]:
            raise Infeasible(f"hashing: a table has at least prime={self.params['prime']} ids")
        overhead = _BUFFERS_PER_TABLE * _INT64 * len(tables)
        total_rows = (budget - overhead) // (dim * _BYTES_PER_FLOAT)
        if total_rows < len(tables):
            raise Infeasible(
                f"hashing: a budget of {budget:,} bytes leaves {max(total_rows, 0)} rows of dim "
                f"{dim} for {len(tables)} tables; at least one row per table is needed"
            )
        sizes = [t.rows for t in tables]
        if self.params["allocation"] == "cap":
            return cap_allocation(sizes, total_rows)
        return proportional_allocation(sizes, total_rows)

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        h_seed = seed if self.params["seed"] is None else self.params["seed"]
        return HashedTables(
            tables,
            self.rows(tables, dim, budget),
            dim,
            prime=self.params["prime"],
            sparse=self.params["sparse"],
            generator=torch.Generator().manual_seed(h_seed),
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        per_table = [
            TablePlan(
                t.name,
                t.rows,
                m,
                dim,
                m * dim * _BYTES_PER_FLOAT,
                compressed=m < t.rows,
                detail=f"universal hash into {m} rows" if m < t.rows else "whole (identity)",
            )
            for t, m in zip(tables, self.rows(tables, dim, budget), strict=True)
        ]
        constants = SharedPlan(
            "hash constants, id counts, offsets, row counts",
            (_BUFFERS_PER_TABLE, len(tables)),
            _BUFFERS_PER_TABLE * _INT64 * len(tables),
            "int64",
        )
        return Plan(tuple(per_table), (constants,))

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        return len(tables) * (dim * _BYTES_PER_FLOAT + _BUFFERS_PER_TABLE * _INT64)


def cap_allocation(sizes: Sequence[int], total: int) -> list[int]:
    """Rows per table ``min(n, c)`` with the largest cap c such that the sum fits ``total``."""
    if sum(sizes) <= total:
        return list(sizes)
    lo, hi = 1, max(sizes)
    while lo < hi:  # largest c with sum(min(n, c)) <= total
        mid = (lo + hi + 1) // 2
        if sum(min(n, mid) for n in sizes) <= total:
            lo = mid
        else:
            hi = mid - 1
    return [min(n, lo) for n in sizes]


def proportional_allocation(sizes: Sequence[int], total: int) -> list[int]:
    """Rows ``floor(n / r)`` (at least 1) for one ratio r, the largest that fits ``total``."""
    if sum(sizes) <= total:
        return list(sizes)
    lo, hi = 1.0, float(sum(sizes))
    for _ in range(100):
        mid = (lo + hi) / 2
        if sum(max(1, int(n / mid)) for n in sizes) <= total:
            hi = mid
        else:
            lo = mid
    return [max(1, int(n / hi)) for n in sizes]


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [Hashing]
