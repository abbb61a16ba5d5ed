"""``full``: one uncompressed fp32 table per feature, the baseline of every compression ratio."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from benchsuite.api import DataStats, Method, ParamError, Plan, SharedPlan, TablePlan, TableSpec
from benchsuite.hookspecs import hookimpl
from benchsuite.layers import ConcatenatedTables


class Full(Method):
    """Every id of every feature has its own row, initialised ``U(±sqrt(1/n))`` (DLRM reference).

    The tables are stored back to back in one weight (same bytes as separate tables, one lookup).
    """

    name = "full"
    summary = "Uncompressed fp32 embedding tables, one row per id (DLRM, Naumov et al. 2019)"
    defaults = {"sparse": True}
    compresses = False

    def validate(self) -> None:
        if not isinstance(self.params["sparse"], bool):
            raise ParamError("full: 'sparse' must be true or false")

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        return ConcatenatedTables(
            [t.rows for t in tables],
            dim,
            sparse=self.params["sparse"],
            generator=torch.Generator().manual_seed(seed),
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        per_table = tuple(
            TablePlan(t.name, t.rows, t.rows, dim, t.rows * dim * 4, compressed=False)
            for t in tables
        )
        offsets = SharedPlan("offsets and row counts", (2, len(tables)), 16 * len(tables), "int64")
        return Plan(per_table, (offsets,))

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        return sum(t.rows for t in tables) * dim * 4 + 16 * len(tables)


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [Full]
