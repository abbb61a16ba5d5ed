"""The statistics pass: what methods declare in ``Method.needs``, computed by streaming the
training split once, never loading it whole.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from benchsuite.api import (
    FREQUENCIES,
    SAMPLE,
    Batch,
    BenchsuiteError,
    Dataset,
    DataStats,
    StatRequest,
)

KNOWN_KINDS = (FREQUENCIES, SAMPLE)
DEFAULT_SAMPLE_ROWS = 100_000


def compute_stats(
    dataset: Dataset, needs: Sequence[StatRequest], *, seed: int = 0, batch_size: int = 65_536
) -> DataStats:
    """Compute every requested statistic in one pass over the training split."""
    unknown = sorted({n.kind for n in needs} - set(KNOWN_KINDS))
    if unknown:
        raise BenchsuiteError(
            f"unknown statistic {unknown[0]!r} requested; known: {', '.join(KNOWN_KINDS)}"
        )
    kinds = {n.kind for n in needs}
    if not kinds:
        return DataStats()
    started = time.perf_counter()
    tables = dataset.tables
    sizes = torch.tensor([t.rows for t in tables], dtype=torch.int64)
    offsets = torch.cumsum(sizes, 0) - sizes
    counts = torch.zeros(int(sizes.sum()), dtype=torch.int64) if FREQUENCIES in kinds else None

    total = dataset.num_samples("train")
    want = (
        min(
            total,
            max(int(n.params.get("rows", DEFAULT_SAMPLE_ROWS)) for n in needs if n.kind == SAMPLE),
        )
        if SAMPLE in kinds
        else 0
    )
    gen = torch.Generator().manual_seed(seed)
    positions = torch.sort(torch.randperm(total, generator=gen)[:want]).values if want else None
    picked: list[Batch] = []

    start = 0
    for batch in dataset.batches("train", batch_size):
        n = len(batch)
        if counts is not None:
            counts += torch.bincount((batch.ids + offsets).reshape(-1), minlength=counts.numel())
        if positions is not None:
            lo, hi = torch.searchsorted(positions, torch.tensor([start, start + n])).tolist()
            if hi > lo:
                local = positions[lo:hi] - start
                picked.append(Batch(*(t[local] for t in batch)))
        start += n

    stats = DataStats()
    if counts is not None:
        stats.frequencies = list(torch.split(counts, sizes.tolist()))
    if positions is not None:
        stats.sample = Batch(*(torch.cat(parts) for parts in zip(*picked, strict=True)))
    stored = (counts.numel() * 8 if counts is not None else 0) + (
        sum(t.numel() * t.element_size() for t in stats.sample) if stats.sample else 0
    )
    stats.cost = {"seconds": time.perf_counter() - started, "bytes": float(stored)}
    return stats
