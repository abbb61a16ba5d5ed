"""Which rows are beaten on quality and memory: the leaderboard's dominated mark and the frontier
the plots draw.

The mark is strict, as a reader takes "beaten": another row has a strictly higher AUC *and*
embeddings smaller by more than 1%, so a tie in either is never called a loss. Methods that fill
the same budget differ by a few bytes of rounding; ranks within a budget already order those,
and calling them "dominated" would only repeat the rank.

The frontier is the usual Pareto set: rows that no other row matches or beats on both and beats
on one, so of two rows of equal size only the better is on it. Rows without an AUC or a size
take no part in either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["MEMORY_MARGIN", "dominators", "frontier"]


def _usable(auc: float, size: float) -> bool:
    return not (math.isnan(auc) or math.isnan(size))


#: How much smaller another row's embeddings must be to beat a row on memory (the strict mark).
MEMORY_MARGIN = 0.01


def _beats(a: tuple[float, float], b: tuple[float, float], strict: bool) -> bool:
    """Whether row ``a`` (auc, size) dominates row ``b``."""
    if strict:
        return a[0] > b[0] and a[1] < b[1] * (1 - MEMORY_MARGIN)
    return a[0] >= b[0] and a[1] <= b[1] and a != b


def dominators(
    aucs: Sequence[float], sizes: Sequence[float], *, strict: bool = True
) -> list[list[int]]:
    """For each row, the rows that dominate it, best AUC first."""
    if len(aucs) != len(sizes):
        raise ValueError(f"{len(aucs)} AUCs for {len(sizes)} sizes")
    points = list(zip(aucs, sizes, strict=True))
    usable = [_usable(*point) for point in points]
    result: list[list[int]] = []
    for i, point in enumerate(points):
        beaten_by = [
            j
            for j, other in enumerate(points)
            if usable[i] and usable[j] and _beats(other, point, strict)
        ]
        beaten_by.sort(key=lambda j: (-aucs[j], sizes[j], j))
        result.append(beaten_by)
    return result


def frontier(aucs: Sequence[float], sizes: Sequence[float]) -> list[int]:
    """The Pareto-optimal rows by increasing size (the line a plot draws); of rows with the same
    AUC and size, the first."""
    beaten = dominators(aucs, sizes, strict=False)
    kept: list[int] = []
    for i in range(len(aucs)):
        duplicate = any((aucs[j], sizes[j]) == (aucs[i], sizes[i]) for j in kept)
        if _usable(aucs[i], sizes[i]) and not beaten[i] and not duplicate:
            kept.append(i)
    return sorted(kept, key=lambda i: (sizes[i], aucs[i]))
