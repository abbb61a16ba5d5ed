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
from collections.abc import Iterator
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
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BenchsuiteError(f"{path}: not a readable manifest ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BenchsuiteError(
                f"{path}: format {manifest.get('format') if isinstance(manifest, dict) else None!r}"
                f" is not {FORMAT!r}; prepare the data again with this benchsuite"
            )
        if manifest.get("dataset") != dataset:
            raise BenchsuiteError(
                f"{path}: holds dataset {manifest.get('dataset')!r}, not {dataset!r}"
            )
        self.manifest = manifest
        self.features = len(manifest["features"])
        self.num_dense = int(manifest["num_dense"])
        self._parts = {p["name"]: int(p["rows"]) for p in manifest["parts"]}
        self._starts: dict[str, int] = {}
        start = 0
        for name, rows in self._parts.items():
            self._starts[name] = start
            start += rows
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, rows in self._parts.items():
            self._arrays[name] = self._open_part(name, rows)
        self._index: dict[str, np.ndarray] = {}
        for split, spec in manifest["splits"].items():
            if "index" in spec:
                index_path = root / spec["index"]
                if not index_path.exists():
                    raise BenchsuiteError(f"{index_path}: missing; prepare the data again")
                self._index[split] = np.load(index_path, mmap_mode="r")

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
        with np.load(self.root / "frequencies.npz") as counts:
            return [torch.from_numpy(counts[t.name].astype(np.int64)) for t in self.tables]

    def _check(self, split: str) -> str:
        if split not in self.manifest["splits"]:
            raise BenchsuiteError(
                f"prepared data in {self.root} has no {split!r} split "
                f"(it has {', '.join(self.manifest['splits'])})"
            )
        return split

    def batches(
        self, split: str, batch_size: int, *, shuffle: bool = False, window: int = 1 << 18,
        seed: int = 0,
    ) -> Iterator[Batch]:  # fmt: skip
        """The split in batches; with ``shuffle``, rows are permuted within windows of
        ``window`` consecutive rows (reproducibly for ``seed``), windows stay in order."""
        gen = np.random.default_rng(seed)
        pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        have = 0
        for labels, dense, ids in self._windows(self._check(split), window):
            if shuffle and labels.shape[0] > 1:
                order = gen.permutation(labels.shape[0])
                labels, dense, ids = labels[order], dense[order], ids[order]
            pending.append((labels, dense, ids))
            have += labels.shape[0]
            while have >= batch_size:
                chunk, pending, have = _take(pending, batch_size, have)
                yield _batch(chunk)
        if have:
            chunk, pending, have = _take(pending, have, have)
            yield _batch(chunk)

    def _windows(self, split: str, window: int) -> Iterator[tuple[np.ndarray, ...]]:
        spec = self.manifest["splits"][split]
        if "ranges" in spec:
            for part, lo, hi in spec["ranges"]:
                labels, dense, ids = self._arrays[part]
                for a in range(lo, hi, window):
                    b = min(hi, a + window)
                    yield np.array(labels[a:b]), np.array(dense[a:b]), np.array(ids[a:b])
            return
        index = self._index[split]
        for a in range(0, index.shape[0], window):
            rows = np.asarray(index[a : a + window])
            for part, start in self._starts.items():
                end = start + self._parts[part]
                lo, hi = np.searchsorted(rows, [start, end])
                if hi > lo:
                    local = rows[lo:hi] - start
                    labels, dense, ids = self._arrays[part]
                    yield labels[local], dense[local], ids[local]


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
