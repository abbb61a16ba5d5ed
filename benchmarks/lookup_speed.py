"""Lookup throughput of every registered method against ``full``, measured in one run.

Forward and forward+backward ids/s at one batch size on Criteo-Kaggle-shaped tables (the real
cardinalities, 33.8M ids) at one budget, with ids from the synthetic power-law stream. Methods
are timed in interleaved rounds so machine noise hits them alike; the median round counts.
A reference row times DLRM's original layout, one ``nn.EmbeddingBag`` per table.

    python benchmarks/lookup_speed.py [--budget 16x] [--batch 2048] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from benchsuite.api import Budget, Infeasible, full_table_bytes
from benchsuite.host import Host
from benchsuite.stats import compute_stats


class EmbeddingBags(nn.Module):
    """The DLRM reference layout: one EmbeddingBag per feature, looked up one by one."""

    def __init__(self, rows: list[int], dim: int) -> None:
        super().__init__()
        self.bags = nn.ModuleList(nn.EmbeddingBag(n, dim, mode="sum", sparse=True) for n in rows)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.stack([bag(ids[:, f : f + 1]) for f, bag in enumerate(self.bags)], dim=1)


def _time(fn: Callable[[], None], sync: Callable[[], None], repeat: int) -> float:
    fn()
    sync()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return (time.perf_counter() - start) / repeat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="16x")
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the Kaggle tables")
    parser.add_argument("--methods", default="", help="comma list (default: all registered)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20, help="batches per timing")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    host = Host()
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    dataset = host.get("datasets", "synthetic").cls(scale=args.scale, train_samples=args.batch * 4)
    tables = dataset.tables
    budget = Budget.parse(args.budget).bytes_for(full_table_bytes(tables, args.dim))
    ids = next(dataset.batches("train", args.batch)).ids.to(device)
    names = [m for m in args.methods.split(",") if m] or list(host.registry["methods"])
    if "full" not in names:
        names.insert(0, "full")

    modules: dict[str, nn.Module] = {}
    for name in names:
        method = host.get("methods", name).cls()
        stats = compute_stats(dataset, method.needs)
        limit = full_table_bytes(tables, args.dim) if not method.compresses else budget
        try:
            modules[name] = method.build(tables, args.dim, limit, stats, 0).to(device)
        except Infeasible as exc:
            print(f"{name}: infeasible at {args.budget}: {exc}")
    modules["EmbeddingBag×26 (reference)"] = EmbeddingBags([t.rows for t in tables], args.dim).to(
        device
    )

    def forward(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                m(ids)

        return run

    def backward(m: nn.Module) -> Callable[[], None]:
        def run() -> None:
            for p in m.parameters():
                p.grad = None
            m(ids).sum().backward()

        return run

    fwd: dict[str, list[float]] = {n: [] for n in modules}
    bwd: dict[str, list[float]] = {n: [] for n in modules}
    lookups = args.batch * len(tables)
    for _ in range(args.rounds):
        for name, m in modules.items():
            fwd[name].append(lookups / _time(forward(m), sync, args.repeat))
            bwd[name].append(lookups / _time(backward(m), sync, args.repeat))

    base_f, base_b = statistics.median(fwd["full"]), statistics.median(bwd["full"])
    print(
        f"lookup throughput, batch {args.batch}, dim {args.dim}, budget {args.budget}, "
        f"{sum(t.rows for t in tables):,} ids, device {device}, median of {args.rounds} rounds"
    )
    print(f"{'method':<28} {'forward ids/s':>15} {'ratio':>6} {'fwd+bwd ids/s':>15} {'ratio':>6}")
    for name in modules:
        f, b = statistics.median(fwd[name]), statistics.median(bwd[name])
        print(f"{name:<28} {f:>15,.0f} {f / base_f:>6.2f} {b:>15,.0f} {b / base_b:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
