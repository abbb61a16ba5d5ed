"""The prepared-dataset format and its reader: memory-mapped parts, splits and a manifest.

A prepared dataset is a folder::

    manifest.json        what was prepared from what (sources with sizes and checksums, row
                         counts, settings, tables, splits, bad and duplicate rows, format)
    parts/<part>/        labels.u8 [rows], dense.f32 [rows, num_dense], ids.i32 [rows, features]
    splits/<split>.npy   sorted row numbers, for splits that are not row ranges
    frequencies.npz      per-feature id counts over the training split

The manifest's hash (without timings) is the dataset's fingerprint, stored in every result
record. :class:`PreparedData` reads it by memory map and yields batches, shuffling training rows
within a window so reading stays sequential.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchsuite.api import Batch, BenchsuiteError, TableSpec

FORMAT = "benchsuite.prepared/1"
MANIFEST = "manifest.json"
_VOLATILE = ("seconds", "rows_per_second", "fingerprint")


def fingerprint_of(manifest: dict[str, Any]) -> str:
    """A short hash of everything in the manifest that decides the data's content (not the
    timings, nor where the raw files were or what they were called)."""
    content = {k: v for k, v in manifest.items() if k not in _VOLATILE}
    content["sources"] = [
        {k: v for k, v in s.items() if k != "source"} for s in content.get("sources", [])
    ]
    canonical = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


_DAMAGED = "the prepared data is incomplete or damaged: prepare it again"


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Refuse a manifest whose structure the reader relies on is missing or wrong, naming the
    key, so a damaged or hand-edited file never surfaces as a KeyError or a numpy error."""

    def fail(key: str, what: str) -> None:
        raise BenchsuiteError(f"{path}: '{key}' must be {what}; {_DAMAGED}")

    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62

    features = manifest.get("features")
    if not isinstance(features, list) or not all(
        isinstance(f, dict) and isinstance(f.get("name"), str) and count(f.get("rows"))
        for f in features
    ):
        fail("features", "a list of {name, rows}")
    if not count(manifest.get("num_dense")):
        fail("num_dense", "a non-negative integer")
    parts = manifest.get("parts")
    if not isinstance(parts, list) or not all(
        isinstance(p, dict) and _safe_name(p.get("name")) and count(p.get("rows")) for p in parts
    ):
        fail("parts", "a list of {name, rows} with plain folder names")
    rows = {p["name"]: p["rows"] for p in parts}
    splits, split_rows = manifest.get("splits"), manifest.get("split_rows")
    if not isinstance(splits, dict) or not isinstance(split_rows, dict):
        fail("splits", "an object, with 'split_rows' beside it")
    for name, spec in splits.items():
        key = f"splits.{name}"
        if not count(split_rows.get(name)):
            fail(f"split_rows.{name}", "a non-negative integer")
        if not isinstance(spec, dict):
            fail(key, "an object with 'ranges' or 'index'")
        if "ranges" in spec:
            ranges = spec["ranges"]
            if not isinstance(ranges, list) or not all(
                isinstance(r, list) and len(r) == 3 and r[0] in rows and count(r[1])
                and count(r[2]) and r[1] <= r[2] <= rows[r[0]]
                for r in ranges
            ):  # fmt: skip
                fail(f"{key}.ranges", "a list of [part, start, stop] within the parts")
            if sum(r[2] - r[1] for r in ranges) != split_rows[name]:
                fail(f"split_rows.{name}", "the number of rows its ranges hold")
        elif "index" in spec:
            index = spec["index"]
            if not (
                isinstance(index, str)
                and index
                and not Path(index).is_absolute()
                and all(_safe_name(piece) for piece in Path(index).parts)
            ):
                fail(f"{key}.index", "a file inside the prepared folder")
        else:
            fail(key, "an object with 'ranges' or 'index'")
    if not isinstance(manifest.get("fingerprint"), str):
        fail("fingerprint", "a string")


def _safe_name(name: Any) -> bool:
    """A single path component that stays inside its folder."""
    return (
        isinstance(name, str)
        and bool(name)
        and name not in (".", "..")
        and not any(c in name for c in "/\\\0")
    )


def _load_index(path: Path, total: int, manifest: dict[str, Any], split: str) -> np.ndarray:
    """A split's sorted row numbers, checked to be row numbers of this dataset."""
    try:
        index = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise BenchsuiteError(f"{path}: not a row index ({exc}); {_DAMAGED}") from None
    ok = (
        isinstance(index, np.ndarray)
        and index.ndim == 1
        and np.issubdtype(index.dtype, np.integer)
        and index.shape[0] == manifest["split_rows"][split]
    )
    if ok and index.shape[0]:
        values = np.asarray(index)
        ok = bool(values[0] >= 0 and values[-1] < total and np.all(values[1:] >= values[:-1]))
    if not ok:
        raise BenchsuiteError(
            f"{path}: not the {manifest['split_rows'][split]:,} sorted row numbers below "
            f"{total:,} of split {split!r}; {_DAMAGED}"
        )
    return index


class PreparedData:
    """A prepared dataset opened for reading; every check happens here, before training."""

    def __init__(self, root: Path, dataset: str, *, prepare_hint: str = "") -> None:
        self.root = root
        path = root / MANIFEST
        if not path.exists():
            raise BenchsuiteError(
                f"dataset {dataset!r} is not prepared in {root} (no {MANIFEST})"
                + (f"; {prepare_hint}" if prepare_hint else "")
            )
        try:
            manifest = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:  # JSON and UTF-8 errors are ValueErrors
            raise BenchsuiteError(f"{path}: not a readable manifest ({exc})") from None
        except RecursionError:
            raise BenchsuiteError(f"{path}: not a readable manifest (nested too deeply)") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BenchsuiteError(
                f"{path}: format {manifest.get('format') if isinstance(manifest, dict) else None!r}"
                f" is not {FORMAT!r}; prepare the data again with this benchsuite"
            )
        if manifest.get("dataset") != dataset:
            raise BenchsuiteError(
                f"{path}: holds dataset {manifest.get('dataset')!r}, not {dataset!r}"
            )
        _check_manifest(manifest, path)
        self.manifest = manifest
        self.features = len(manifest["features"])
        self.num_dense = int(manifest["num_dense"])
        self._parts = {p["name"]: int(p["rows"]) for p in manifest["parts"]}
        self._starts: dict[str, int] = {}
        start = 0
        for name, rows in self._parts.items():
            self._starts[name] = start
            start += rows  # after the loop: the rows of all parts
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, rows in self._parts.items():
            self._arrays[name] = self._open_part(name, rows)
        self._index: dict[str, np.ndarray] = {}
        for split, spec in manifest["splits"].items():
            if "index" in spec:
                index_path = root / spec["index"]
                if not index_path.exists():
                    raise BenchsuiteError(f"{index_path}: missing; prepare the data again")
                self._index[split] = _load_index(index_path, start, manifest, split)

    def _open_part(self, name: str, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        folder = self.root / "parts" / name
        shapes = {
            "labels.u8": (np.uint8, (rows,)),
            "dense.f32": (np.float32, (rows, self.num_dense)),
            "ids.i32": (np.int32, (rows, self.features)),
        }
        arrays = []
        for file, (dtype, shape) in shapes.items():
            path = folder / file
            expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
            size = path.stat().st_size if path.exists() else -1
            if size != expected:
                found = "missing" if size < 0 else f"{size:,} bytes"
                raise BenchsuiteError(
                    f"{path}: {found}, expected {expected:,} bytes; the prepared data is "
                    "incomplete or damaged: prepare it again"
                )
            arrays.append(
                np.memmap(path, dtype=dtype, mode="r", shape=shape)
                if expected
                else np.zeros(shape, dtype=dtype)
            )
        labels, dense, ids = arrays
        return labels, dense, ids

    # -- what the Dataset contract needs -------------------------------------------------------

    @property
    def tables(self) -> list[TableSpec]:
        return [TableSpec(f["name"], int(f["rows"])) for f in self.manifest["features"]]

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.manifest["splits"])

    def num_samples(self, split: str) -> int:
        return int(self.manifest["split_rows"][self._check(split)])

    def frequencies(self) -> list[torch.Tensor]:
        """Training-split id counts per feature, as counted at preparation."""
        path = self.root / "frequencies.npz"
        try:
            with np.load(path) as counts:
                out = [counts[t.name].astype(np.int64) for t in self.tables]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise BenchsuiteError(f"{path}: {_DAMAGED} ({type(exc).__name__}: {exc})") from None
        for table, counts in zip(self.tables, out, strict=True):
            if counts.shape != (table.rows,):
                raise BenchsuiteError(
                    f"{path}: {table.name} has {counts.shape} counts for {table.rows} rows; "
                    + _DAMAGED
                )
        return [torch.from_numpy(counts) for counts in out]

    def _check(self, split: str) -> str:
        if split not in self.manifest["splits"]:
            raise BenchsuiteError(
                f"prepared data in {self.root} has no {split!r} split "
                f"(it has {', '.join(self.manifest['splits'])})"
            )
        return split

    def batches(
        self, split: str, batch_size: int, *, shuffle: bool = False, window: int = 1 << 18,
        seed: int = 0, offset: int = 0, rank: int = 0, world: int = 1,
    ) -> Iterator[Batch]:  # fmt: skip
        """The split in batches; with ``shuffle``, rows are permuted within windows of
        ``window`` consecutive rows (reproducibly for ``seed``), windows stay in order.

        ``offset`` starts after the first ``offset`` rows of that order (a resumed cell): the
        windows before it are not read, only their permutations drawn again, so the rows from
        ``offset`` on are those of the uninterrupted read, batched from there.

        ``rank`` of ``world`` yields that process's part of each batch (rows ``[rank * g //
        world, (rank + 1) * g // world)`` of a batch of ``g``; :meth:`Dataset.shard`) and reads
        only those rows of each window.
        """
        if offset < 0:
            raise BenchsuiteError(f"offset must be >= 0, got {offset}")
        if not 0 <= rank < world:
            raise BenchsuiteError(f"rank must lie in [0, {world}), got {rank}")
        split = self._check(split)
        gen = np.random.default_rng(seed)
        pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        have = 0
        skip = offset
        position = 0  # rows of the batched stream (from ``offset`` on) before this window
        mine = _Ownership(self.num_samples(split) - offset, batch_size, rank, world)
        sizes = mine.sizes()
        want = next(sizes, None)
        for rows, read in self._pieces(split, window):
            if skip >= rows:
                skip -= rows
                if shuffle and rows > 1:
                    gen.permutation(rows)  # drawn all the same: later windows keep their order
                continue
            order = gen.permutation(rows) if shuffle and rows > 1 else None
            if world == 1:
                labels, dense, ids = read(None)
                if order is not None:
                    labels, dense, ids = labels[order], dense[order], ids[order]
                if skip:
                    labels, dense, ids = labels[skip:], dense[skip:], ids[skip:]
            else:  # only this process's rows of the window are read
                order = (np.arange(rows) if order is None else order)[skip:]
                labels, dense, ids = read(order[mine.owned(position, len(order))])
                position += len(order)
            skip = 0
            pending.append((labels, dense, ids))
            have += labels.shape[0]
            while want is not None and have >= want:
                chunk, pending, have = _take(pending, want, have)
                yield _batch(chunk) if chunk else self._empty()
                want = next(sizes, None)
        if have:
            chunk, pending, have = _take(pending, have, have)
            yield _batch(chunk)
        while want is not None:  # parts left empty by a last batch smaller than the world
            yield self._empty()
            want = next(sizes, None)

    def _empty(self) -> Batch:
        """A batch of no rows, shaped as this data's batches."""
        return Batch(
            torch.zeros((0, self.num_dense)),
            torch.zeros((0, self.features), dtype=torch.int64),
            torch.zeros(0),
        )

    def _pieces(
        self, split: str, window: int
    ) -> Iterator[tuple[int, Callable[[np.ndarray | None], _Arrays]]]:
        """The split's windows in order: each one's row count, and how to read its rows, all
        (None) or some (positions within the window), so a skipped window costs nothing to
        read and a process of a data-parallel world reads only its own rows."""
        spec = self.manifest["splits"][split]
        if "ranges" in spec:
            for part, lo, hi in spec["ranges"]:
                arrays = self._arrays[part]
                for a in range(lo, hi, window):
                    b = min(hi, a + window)
                    yield b - a, partial(_slice, arrays, a, b)
            return
        index = self._index[split]
        for a in range(0, index.shape[0], window):
            rows = np.asarray(index[a : a + window])
            for part, start in self._starts.items():
                end = start + self._parts[part]
                lo, hi = np.searchsorted(rows, [start, end])
                if hi > lo:
                    yield int(hi - lo), partial(_gather, self._arrays[part], rows[lo:hi] - start)


_Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def _slice(arrays: _Arrays, a: int, b: int, rows: np.ndarray | None) -> _Arrays:
    """Rows ``[a, b)`` of a part, or only ``rows`` of them (positions within the range)."""
    labels, dense, ids = arrays
    if rows is None:
        return np.array(labels[a:b]), np.array(dense[a:b]), np.array(ids[a:b])
    rows = rows + a
    return labels[rows], dense[rows], ids[rows]


def _gather(arrays: _Arrays, local: np.ndarray, rows: np.ndarray | None) -> _Arrays:
    """The rows ``local`` of a part, or only the positions ``rows`` of that list."""
    labels, dense, ids = arrays
    if rows is not None:
        local = local[rows]
    return labels[local], dense[local], ids[local]


class _Ownership:
    """Which rows of a batched stream belong to one process of a data-parallel world.

    The stream (``total`` rows) is cut into batches of ``batch_size`` (the last may be
    smaller); of a batch of ``g`` rows, process ``rank`` of ``world`` owns rows
    ``[rank * g // world, (rank + 1) * g // world)``.
    """

    def __init__(self, total: int, batch_size: int, rank: int, world: int) -> None:
        self.total, self.batch_size, self.rank, self.world = total, batch_size, rank, world

    def sizes(self) -> Iterator[int]:
        """The owned part's size in each batch, in order."""
        for start in range(0, self.total, self.batch_size):
            g = min(self.batch_size, self.total - start)
            yield (self.rank + 1) * g // self.world - self.rank * g // self.world

    def owned(self, position: int, count: int) -> np.ndarray:
        """Which of the stream rows ``[position, position + count)`` this process owns."""
        at = np.arange(position, position + count, dtype=np.int64)
        batch, within = np.divmod(at, self.batch_size)
        g = np.minimum(self.batch_size, self.total - batch * self.batch_size)
        lo, hi = self.rank * g // self.world, (self.rank + 1) * g // self.world
        return (within >= lo) & (within < hi)


def _take(pending: list, count: int, have: int) -> tuple[list, list, int]:
    """The first ``count`` rows of the pending windows, and what is left."""
    out, left = [], count
    while left:
        labels, dense, ids = pending[0]
        n = labels.shape[0]
        if n <= left:
            out.append(pending.pop(0))
            left -= n
        else:
            out.append((labels[:left], dense[:left], ids[:left]))
            pending[0] = (labels[left:], dense[left:], ids[left:])
            left = 0
    return out, pending, have - count


def _batch(chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Batch:
    if len(chunks) == 1:
        labels, dense, ids = chunks[0]
    else:
        labels, dense, ids = (np.concatenate(c) for c in zip(*chunks, strict=True))
    return Batch(
        torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32)),
        torch.from_numpy(ids.astype(np.int64)),
        torch.from_numpy(labels.astype(np.float32)),
    )
