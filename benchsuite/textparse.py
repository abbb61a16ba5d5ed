"""Compiled parsers for delimited click logs: one pass over the bytes, no Python per row.

A :class:`TextLayout` says what each field of a line is (label, dense integer, hexadecimal or
string category, ignored). :func:`parse_block` turns a block of whole lines into a label vector,
log-transformed dense features, 64-bit raw category values and a per-row hash, and flags each
bad row with a reason code instead of stopping, so the caller can report the exact line or
skip it. The kernels are compiled with numba and release the GIL, so threads parse halves of a
block on separate cores.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from dataclasses import dataclass

import numba
import numpy as np

SKIP, LABEL, DENSE, HEX, STRING = 0, 1, 2, 3, 4

#: Raw value of an empty category field; real values never take it.
MISSING = np.uint64(2**64 - 1)

# Row status codes (one per line; 0 is a good row).
OK = 0
WRONG_FIELDS = 1
BAD_LABEL = 2
BAD_DENSE = 3
BAD_CATEGORY = 4

#: What each status means, as the manifest and messages name it.
PROBLEMS = {
    WRONG_FIELDS: "wrong_field_count",
    BAD_LABEL: "bad_label",
    BAD_DENSE: "non_integer_dense",
    BAD_CATEGORY: "bad_category",
}

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_DENSE_MISSING_HASH = np.int64(-(2**63))


@dataclass(frozen=True)
class TextLayout:
    """The fields of one line, left to right, and the byte between them."""

    kinds: tuple[int, ...]
    delimiter: str = "\t"

    @property
    def num_dense(self) -> int:
        return self.kinds.count(DENSE)

    @property
    def num_categorical(self) -> int:
        return sum(k in (HEX, STRING) for k in self.kinds)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Field kinds and each field's column among its kind's outputs, for the kernel."""
        kinds = np.asarray(self.kinds, dtype=np.int8)
        slots = np.zeros(len(kinds), dtype=np.int16)
        dense = cat = 0
        for i, k in enumerate(self.kinds):
            if k == DENSE:
                slots[i], dense = dense, dense + 1
            elif k in (HEX, STRING):
                slots[i], cat = cat, cat + 1
        return kinds, slots


@dataclass
class ParsedBlock:
    """One block's rows; ``status[i] != OK`` marks line i bad (``field[i]`` says where)."""

    labels: np.ndarray  # uint8 [n]
    dense: np.ndarray  # float32 [n, num_dense]
    categories: np.ndarray  # uint64 [n, num_categorical], MISSING when empty
    row_hash: np.ndarray  # uint64 [n]
    status: np.ndarray  # int8 [n]
    field: np.ndarray  # int16 [n]: 1-based field at fault, or the field count found

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def select(self, keep: np.ndarray) -> ParsedBlock:
        return ParsedBlock(
            self.labels[keep],
            self.dense[keep],
            self.categories[keep],
            self.row_hash[keep],
            self.status[keep],
            self.field[keep],
        )


_HEX_DIGITS = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_DIGITS[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_DIGITS[_c] = 10 + _i


@numba.njit(nogil=True, cache=True, inline="always")
def _mix(h, v):
    h = (h ^ v) * _MIX
    return h ^ (h >> np.uint64(29))


@numba.njit(nogil=True, cache=True)
def _parse_lines(
    buf, pos, end, row0, nrows, kinds, slots, delim, labels, dense, cats, rhash, status, field
):
    """Parse ``nrows`` lines from ``buf[pos:end]`` into rows ``row0…``; return the end offset."""
    hexd = _HEX_DIGITS
    nfields = kinds.shape[0]
    for r in range(row0, row0 + nrows):
        h = _FNV_OFFSET
        st = 0
        fld = 0
        f = 0
        while True:
            kind = kinds[f] if f < nfields else 0
            p = pos
            if kind == 3:  # hexadecimal category of 1-8 digits
                v = -1
                if p + 8 < end and (buf[p + 8] == delim or buf[p + 8] == 10):
                    v = (
                        (hexd[buf[p]] << 28) | (hexd[buf[p + 1]] << 24) | (hexd[buf[p + 2]] << 20)
                        | (hexd[buf[p + 3]] << 16) | (hexd[buf[p + 4]] << 12)
                        | (hexd[buf[p + 5]] << 8) | (hexd[buf[p + 6]] << 4) | hexd[buf[p + 7]]
                    )  # fmt: skip
                bad = False
                if v >= 0:  # the common case: exactly 8 hex digits
                    p += 8
                else:
                    v = 0
                    while p < end and buf[p] != delim and buf[p] != 10:
                        d = hexd[buf[p]]
                        if d < 0:
                            bad = True
                        v = (v << 4) | d
                        p += 1
                    bad = bad or p - pos > 8
                if p == pos:
                    cats[r, slots[f]] = MISSING
                    h = _mix(h, MISSING)
                elif bad:
                    if st == 0:
                        st, fld = BAD_CATEGORY, f + 1
                else:
                    cats[r, slots[f]] = np.uint64(v)
                    h = _mix(h, np.uint64(v))
            elif kind == 2:  # dense integer -> log(1 + max(x, 0)); empty is 0
                neg = p < end and buf[p] == 45
                if neg:
                    p += 1
                digits = p
                v = 0
                bad = False
                while p < end and buf[p] != delim and buf[p] != 10:
                    c = np.int64(buf[p]) - 48
                    if c < 0 or c > 9:
                        bad = True
                    v = v * 10 + c
                    p += 1
                if p == pos:
                    dense[r, slots[f]] = 0.0
                    h = _mix(h, np.uint64(_DENSE_MISSING_HASH))
                elif bad or p == digits or p - digits > 18:
                    if st == 0:
                        st, fld = BAD_DENSE, f + 1
                else:
                    if neg:
                        v = -v
                    h = _mix(h, np.uint64(v))
                    dense[r, slots[f]] = math.log1p(v) if v > 0 else 0.0
            elif kind == 4:  # any string, FNV-1a 64-bit
                s = _FNV_OFFSET
                while p < end and buf[p] != delim and buf[p] != 10:
                    s = (s ^ np.uint64(buf[p])) * _FNV_PRIME
                    p += 1
                if p == pos:
                    s = MISSING
                elif s == MISSING:
                    s = MISSING - np.uint64(1)
                cats[r, slots[f]] = s
                h = _mix(h, s)
            elif kind == 0:  # ignored, but part of the line: hashed so duplicates are exact
                s = _FNV_OFFSET
                while p < end and buf[p] != delim and buf[p] != 10:
                    s = (s ^ np.uint64(buf[p])) * _FNV_PRIME
                    p += 1
                h = _mix(h, s)
            else:
                while p < end and buf[p] != delim and buf[p] != 10:
                    p += 1
                if kind == 1:  # label: 0 or 1
                    if p - pos == 1 and (buf[pos] == 48 or buf[pos] == 49):
                        labels[r] = buf[pos] - 48
                        h = _mix(h, np.uint64(buf[pos]))
                    elif st == 0:
                        st, fld = BAD_LABEL, f + 1
            f += 1
            if p >= end or buf[p] == 10:
                pos = p + 1
                break
            pos = p + 1
        if f != nfields:  # misaligned fields make any other verdict meaningless
            st, fld = WRONG_FIELDS, f
        status[r] = st
        field[r] = fld
        rhash[r] = h
    return pos


def _without_carriage_returns(buf: np.ndarray) -> np.ndarray:
    """CRLF line ends become LF (rare input; the fast path assumes LF)."""
    cr = np.flatnonzero(buf[:-1] == 13)
    cr = cr[buf[cr + 1] == 10]
    if buf.shape[0] and buf[-1] == 13:
        cr = np.append(cr, buf.shape[0] - 1)
    return np.delete(buf, cr) if cr.size else buf


class BlockBuffers:
    """Output arrays reused from block to block. Fresh memory costs a page fault on first
    touch, which on virtual machines takes longer than parsing the bytes that fill it."""

    def __init__(self, layout: TextLayout) -> None:
        self.layout = layout
        self.capacity = -1

    def get(self, n: int) -> ParsedBlock:
        if n > self.capacity:
            cap = max(n, int(self.capacity * 1.25))
            self._labels = np.zeros(cap, dtype=np.uint8)
            self._dense = np.zeros((cap, self.layout.num_dense), dtype=np.float32)
            self._cats = np.empty((self.layout.num_categorical, cap), dtype=np.uint64)
            self._hash = np.empty(cap, dtype=np.uint64)
            self._status = np.zeros(cap, dtype=np.int8)
            self._field = np.zeros(cap, dtype=np.int16)
            self.capacity = cap
        return ParsedBlock(
            labels=self._labels[:n],
            dense=self._dense[:n],
            # [n, features] with each feature's column contiguous: vocabularies read by column
            categories=self._cats[:, :n].T,
            row_hash=self._hash[:n],
            status=self._status[:n],
            field=self._field[:n],
        )


def split_lines(buf: bytes | bytearray, size: int, parts: int) -> list[tuple[int, int, int]]:
    """(start byte, first row, rows) of ``parts`` pieces of ``buf[:size]`` cut at line ends
    near equal byte offsets (a reader thread computes them ahead of parsing)."""
    pieces = []
    pos = row = 0
    parts = max(1, parts) if size > (1 << 20) else 1
    last_open = 1 if size and buf[size - 1] != 10 else 0  # a last line without its newline
    for k in range(1, parts + 1):
        cut = size if k == parts else buf.find(b"\n", size * k // parts, size) + 1 or size
        rows = buf.count(b"\n", pos, cut) + (last_open if cut == size else 0)
        pieces.append((pos, row, rows))
        pos, row = cut, row + rows
    return pieces


def parse_block(
    buf: bytes | bytearray, layout: TextLayout, *, size: int | None = None,
    pool: Executor | None = None, threads: int = 1, buffers: BlockBuffers | None = None,
    pieces: list[tuple[int, int, int]] | None = None,
) -> ParsedBlock:  # fmt: skip
    """Parse every line of ``buf[:size]`` (whole lines; the last may lack its newline), cut
    into ``threads`` pieces (or the :func:`split_lines` ``pieces`` given) parsed at once on
    ``pool``, into ``buffers`` when given (the result is valid until their next use)."""
    size = len(buf) if size is None else size
    if buf.find(b"\r", 0, size) >= 0:
        buf = _without_carriage_returns(np.frombuffer(buf, dtype=np.uint8, count=size)).tobytes()
        size = len(buf)
        pieces = None
    if pieces is None:
        pieces = split_lines(buf, size, threads if pool is not None else 1)
    n = sum(rows for _, _, rows in pieces)
    arr = np.frombuffer(buf, dtype=np.uint8, count=size) if size else np.zeros(1, np.uint8)
    kinds, slots = layout.arrays()
    block = (buffers or BlockBuffers(layout)).get(n)
    delim = ord(layout.delimiter)

    def run(piece: tuple[int, int, int]) -> None:
        start, first, rows = piece
        _parse_lines(
            arr, start, size, first, rows, kinds, slots, delim, block.labels, block.dense,
            block.categories, block.row_hash, block.status, block.field,
        )  # fmt: skip

    if len(pieces) == 1:
        run(pieces[0])
    else:
        list(pool.map(run, pieces))  # type: ignore[union-attr]
    return block


@numba.njit(nogil=True, cache=True)
def _fold_hashes(hashes, state, first):
    for i in range(hashes.shape[0]):
        state = _mix(state + np.uint64(first + i + 1), hashes[i])
    return state


def fold_hashes(hashes: np.ndarray, state: int, first_row: int) -> int:
    """A running checksum of row hashes in file order: the content of a file, cheaply."""
    return int(_fold_hashes(hashes, np.uint64(state), np.uint64(first_row)))
