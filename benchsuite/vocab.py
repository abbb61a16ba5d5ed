"""Per-feature vocabularies: raw category values to contiguous ids, in order of first sight.

Preparation streams a file once; each feature's :class:`Vocabulary` gives every new raw value
the next id (an open-addressing hash table compiled with numba), so ids do not depend on how the
file was cut into blocks. The values in id order are the vocabulary itself: they are saved as a
delta per prepared part, which is what makes preparation resumable and lets users map an id back
to the raw value. Rare values are folded afterwards with :func:`fold_rare`.
"""

from __future__ import annotations

import numba
import numpy as np

from benchsuite.api import BenchsuiteError
from benchsuite.textparse import MISSING

MAX_IDS = 2**31 - 1


@numba.njit(nogil=True, cache=True, inline="always")
def _slot(key: np.uint64, mask: np.uint64) -> np.uint64:
    h = key * np.uint64(0x9E3779B97F4A7C15)
    return (h ^ (h >> np.uint64(31))) & mask


@numba.njit(nogil=True, cache=True)
def _insert_all(keys, ids, values, size):
    """Fill an empty table from ``values`` (a slot holds id + 1; 0 is empty)."""
    mask = np.uint64(keys.shape[0] - 1)
    for i in range(size):
        k = values[i]
        s = _slot(k, mask)
        while ids[s] != 0:
            s = (s + np.uint64(1)) & mask
        keys[s] = k
        ids[s] = i + 1


@numba.njit(nogil=True, cache=True)
def _lookup_or_add(column, start, cap, keys, ids, values, size, limit, out):
    """Ids of ``column[start:]`` into ``out``; unseen values get the next id and join
    ``values``. Stops when the vocabulary reaches ``limit`` (the table must grow first);
    returns the new size and the row it stopped at."""
    mask = np.uint64(keys.shape[0] - 1)
    n = size
    for r in range(start, column.shape[0]):
        if n >= limit:
            return n, r
        k = column[r]
        if cap > 0 and k != MISSING:
            k = k % np.uint64(cap)
        s = _slot(k, mask)
        while True:
            i = ids[s]
            if i == 0:
                keys[s] = k
                ids[s] = n + 1
                values[n] = k
                out[r] = n
                n += 1
                break
            if keys[s] == k:
                out[r] = i - 1
                break
            s = (s + np.uint64(1)) & mask
    return n, column.shape[0]


class Vocabulary:
    """One feature's raw values in order of first sight, with a hash table to find them.

    The table grows by doubling when half full, so its memory follows the vocabulary, not the
    block size; slots are zero when empty, so an untouched part of it costs no memory."""

    def __init__(self, name: str, cap: int = 0) -> None:
        self.name = name
        self.cap = cap
        self.size = 0
        self.values = np.empty(1024, dtype=np.uint64)
        self._keys = np.zeros(2048, dtype=np.uint64)
        self._ids = np.zeros(2048, dtype=np.int64)

    def _grow(self, need: int) -> None:
        if need > MAX_IDS:
            raise BenchsuiteError(
                f"feature {self.name} has more than {MAX_IDS:,} distinct values; "
                "prepare with --cap to hash ids modulo a table size"
            )
        if need > self.values.shape[0]:
            grown = np.empty(max(need, 2 * self.values.shape[0]), dtype=np.uint64)
            grown[: self.size] = self.values[: self.size]
            self.values = grown
        if 2 * need > self._keys.shape[0]:
            slots = 1 << int(2 * need - 1).bit_length()
            self._keys = np.zeros(slots, dtype=np.uint64)
            self._ids = np.zeros(slots, dtype=np.int64)
            _insert_all(self._keys, self._ids, self.values, self.size)

    def encode(self, column: np.ndarray, out: np.ndarray) -> None:
        """Write the ids of raw ``column`` (uint64) into ``out`` (an int32 view)."""
        start = 0
        while start < column.shape[0]:
            limit = min(self.values.shape[0], self._keys.shape[0] // 2)
            self.size, start = _lookup_or_add(
                column, start, self.cap, self._keys, self._ids, self.values, self.size, limit,
                out,
            )  # fmt: skip
            if start < column.shape[0]:
                self._grow(2 * self.size)

    def extend(self, values: np.ndarray) -> None:
        """Add raw values known to be new, in order (restoring a saved vocabulary)."""
        self._grow(self.size + values.shape[0])
        self.values[self.size : self.size + values.shape[0]] = values
        self.size += values.shape[0]
        self._keys[:] = 0
        self._ids[:] = 0
        _insert_all(self._keys, self._ids, self.values, self.size)


def fold_rare(counts: np.ndarray, min_count: int) -> tuple[np.ndarray, int]:
    """Map first-sight ids to final ids: index 0 is shared by every id seen fewer than
    ``min_count`` times in training, the rest keep their order. ``min_count`` 1 folds nothing."""
    if min_count <= 1:
        return np.arange(counts.shape[0], dtype=np.int32), int(counts.shape[0])
    keep = counts >= min_count
    lut = np.zeros(counts.shape[0], dtype=np.int32)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    return lut, int(keep.sum()) + 1
