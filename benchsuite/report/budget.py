"""Budget inspection: how a method spends a budget on a suite's tables, without training.

The JSON form is stable (keys only ever added) so tools can read it; the text form is for
people reading a leaderboard row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from benchsuite.api import Budget, DataStats, Method, Plan, SharedPlan, TableSpec, full_table_bytes
from benchsuite.measure.memory import module_bytes


def budget_report(
    method: Method, tables: Sequence[TableSpec], dim: int, budget: Budget, stats: DataStats
) -> dict[str, Any]:
    """The method's plan for ``budget`` as a JSON-ready dict."""
    full = full_table_bytes(tables, dim)
    limit = budget.bytes_for(full)
    plan = method.plan(tables, dim, limit, stats)
    source = "plan"
    if plan is None:  # no plan: build the module and list what it keeps
        plan, source = _plan_from_module(method, tables, dim, limit, stats), "built module"
    total = plan.total_bytes
    return {
        "method": method.label(),
        "dim": dim,
        "budget": budget.label,
        "budget_bytes": limit,
        "full_bytes": full,
        "total_bytes": total,
        "compression_ratio": full / total if total else None,
        "fits": total <= limit or not method.compresses,
        "source": source,
        "tables": [
            {
                "table": t.table,
                "ids": t.ids,
                "rows": t.rows,
                "dim": t.dim,
                "bytes": t.bytes,
                "compressed": t.compressed,
                "detail": t.detail,
            }
            for t in plan.tables
        ],
        "shared": [
            {"name": s.name, "shape": list(s.shape), "bytes": s.bytes, "detail": s.detail}
            for s in plan.shared
        ],
        "uncompressed": [t.table for t in plan.tables if not t.compressed],
    }


def _plan_from_module(
    method: Method, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats
) -> Plan:
    module = method.build(tables, dim, budget, stats, 0)
    tensors = [*module.named_parameters(), *module.named_buffers()]
    shared = tuple(
        SharedPlan(name, tuple(t.shape), t.numel() * t.element_size(), str(t.dtype))
        for name, t in tensors
    )
    assert sum(s.bytes for s in shared) >= module_bytes(module)
    return Plan(tables=(), shared=shared)


def render_budget(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2)
    rows = [
        [
            t["table"],
            f"{t['ids']:,}",
            f"{t['rows']:,}",
            t["dim"],
            f"{t['bytes']:,}",
            "yes" if t["compressed"] else "no",
            t["detail"],
        ]
        for t in report["tables"]
    ]
    lines = [
        f"{report['method']} at {report['budget']} (dim {report['dim']}): "
        f"{report['total_bytes']:,} of {report['budget_bytes']:,} budget bytes, "
        f"{report['compression_ratio']:.1f}x smaller than the full tables "
        f"({report['full_bytes']:,} bytes)" + ("" if report["fits"] else "  ** OVER BUDGET **"),
    ]
    if rows:
        headers = ["table", "ids", "rows", "dim", "bytes", "compressed", "how"]
        lines += ["", tabulate(rows, headers=headers, tablefmt="simple")]
    if report["shared"]:
        shared = [
            [s["name"], "x".join(map(str, s["shape"])), f"{s['bytes']:,}", s["detail"]]
            for s in report["shared"]
        ]
        lines += [
            "",
            tabulate(shared, headers=["shared", "shape", "bytes", "how"], tablefmt="simple"),
        ]
    if report["uncompressed"]:
        lines += ["", "uncompressed: " + ", ".join(report["uncompressed"])]
    return "\n".join(lines)
