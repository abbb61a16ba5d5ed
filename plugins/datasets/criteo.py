"""Criteo Kaggle (Display Advertising Challenge) and Criteo 1TB click logs, prepared.

Both are 40 TAB-separated fields: the click label, 13 integer counts (dense features,
``log(1 + max(x, 0))``, empty as 0) and 26 categories written as 8 hexadecimal digits (empty is
missing, which is a category of its own). Splits follow the references:

- **criteo-kaggle** (facebookresearch/dlrm ``getCriteoAdData(days=7)``): the file is cut into 7
  consecutive parts of equal size (the first ``rows % 7`` parts take one extra row); parts 0–5
  train; part 6 is halved, the first half is test and the second validation. Categories get
  contiguous ids per feature in order of first sight; ``min_count`` folds ids seen fewer times
  in training into id 0, ``cap`` hashes them modulo a table size first.
- **criteo-tb** (MLPerf DLRM v1): ``day_0`` … ``day_23``, plain or gzip, categories taken
  ``% 40,000,000`` before contiguous ids (which gives MLPerf's row counts); every day but the
  last given one trains and the last (day 23 in the full set) is halved into test then
  validation. ``days`` picks a subset for smaller runs. Days are prepared one at a time and a
  finished day is kept when an interrupted preparation is run again. The per-day ``.npy``
  layout of the MLPerf/torchrec preprocessing (``day_N_dense.npy``, ``day_N_sparse.npy``,
  ``day_N_labels.npy``) is read directly: its dense ``log(x + 3)`` is converted to this
  project's ``log(1 + max(x, 0))`` and its int32 categories are read as the unsigned hex values
  they hold.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any, ClassVar

import numba
import numpy as np

from benchsuite.api import BenchsuiteError
from benchsuite.data import (
    DENSE,
    HEX,
    LABEL,
    BlockStream,
    ParsedBlock,
    PreparedDataset,
    Recipe,
    Source,
    TextLayout,
    halves,
)
from benchsuite.hookspecs import hookimpl
from benchsuite_plugins.datasets.profiles import KAGGLE_CARDINALITIES, TB_CARDINALITIES

DENSE_NAMES = tuple(f"I{i}" for i in range(1, 14))
CATEGORY_NAMES = tuple(f"C{i}" for i in range(1, 27))
LAYOUT = TextLayout((LABEL, *([DENSE] * 13), *([HEX] * 26)), delimiter="\t")
MLPERF_CAP = 40_000_000
_COMMON = {"bad_rows": "error", "min_count": 1, "threads": 0, "block_mb": 8}


def kaggle_splits(parts: dict[str, int], settings: dict[str, Any]) -> dict[str, Any]:
    """DLRM's split of Kaggle ``train.txt``: 7 equal consecutive parts, 0–5 train, 6 halved."""
    ((part, rows),) = parts.items()
    size, extra = divmod(rows, 7)
    sizes = [size + (1 if d < extra else 0) for d in range(7)]
    train_end = sum(sizes[:6])
    test, _ = halves(sizes[6])
    return {
        "train": [[part, 0, train_end]],
        "validation": [[part, train_end + test, rows]],
        "test": [[part, train_end, train_end + test]],
    }


def day_splits(parts: dict[str, int], settings: dict[str, Any]) -> dict[str, Any]:
    """MLPerf's split of the 1TB logs: all days but the last train; the last is halved."""
    names = list(parts)
    if len(names) < 2:
        raise BenchsuiteError(
            "criteo-tb needs at least two days: the training days and a last day to evaluate on"
        )
    last = names[-1]
    test, _ = halves(parts[last])
    return {
        "train": [[name, 0, parts[name]] for name in names[:-1] if parts[name]],
        "validation": [[last, test, parts[last]]],
        "test": [[last, 0, test]],
    }


class CriteoKaggle(PreparedDataset):
    name = "criteo-kaggle"
    summary = "Criteo Kaggle Display Advertising Challenge (45.8M rows), prepared from train.txt"
    published_rows = KAGGLE_CARDINALITIES
    feature_names = CATEGORY_NAMES
    dense_count = 13
    download = (
        "https://ailab.criteo.com/ressources/ (criteo-research-kaggle-display-advertising-"
        "challenge-dataset.tar.gz)"
    )
    preparation: ClassVar[dict[str, Any]] = {**_COMMON, "cap": 0}

    def raw_hint(self) -> str:
        return "train.txt"

    @classmethod
    def recipe(cls, raw: list[Path], settings: dict[str, Any]) -> Recipe:
        if len(raw) != 1:
            raise BenchsuiteError(
                f"criteo-kaggle is prepared from one file (train.txt); got {len(raw)}"
            )
        return Recipe(
            dataset=cls.name,
            layout=LAYOUT,
            features=list(CATEGORY_NAMES),
            dense=list(DENSE_NAMES),
            sources=[Source(raw[0], "train")],
            splits=kaggle_splits,
            settings=settings,
        )


_DAY = re.compile(r"day_(\d+)(?:\.gz|\.txt|\.tsv)?$")
_NPY_DAY = re.compile(r"day_(\d+)_(dense|sparse|labels)\.npy$")


def parse_days(spec: str) -> list[int]:
    """``"0-3,23"`` → ``[0, 1, 2, 3, 23]``."""
    days: set[int] = set()
    for piece in str(spec).split(","):
        piece = piece.strip()
        if not piece:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", piece)
        if not m:
            raise BenchsuiteError(f"--days: {piece!r} is not a day or a range like 0-22")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo or hi > 23:
            raise BenchsuiteError(f"--days: {piece!r} is outside days 0-23")
        days.update(range(lo, hi + 1))
    return sorted(days)


class CriteoTB(PreparedDataset):
    name = "criteo-tb"
    summary = "Criteo 1TB click logs (24 days, 4.4B rows), MLPerf DLRM v1 conventions"
    published_rows = TB_CARDINALITIES
    feature_names = CATEGORY_NAMES
    dense_count = 13
    download = (
        "https://ailab.criteo.com/ressources/ (criteo-1tb-click-logs-dataset: day_0 … day_23)"
    )
    preparation: ClassVar[dict[str, Any]] = {**_COMMON, "cap": MLPERF_CAP, "days": ""}

    def raw_hint(self) -> str:
        return "day_0.gz … day_23.gz"

    @classmethod
    def recipe(cls, raw: list[Path], settings: dict[str, Any]) -> Recipe:
        files: list[Path] = []
        for path in raw:
            files.extend(sorted(path.iterdir()) if path.is_dir() else [path])
        text = {int(m[1]): f for f in files if (m := _DAY.search(f.name))}
        npy: dict[int, dict[str, Path]] = {}
        for f in files:
            if m := _NPY_DAY.search(f.name):
                npy.setdefault(int(m[1]), {})[m[2]] = f
        if text and npy:
            raise BenchsuiteError(
                "criteo-tb: give either day_N text files or day_N_*.npy, not both"
            )
        unknown = [f.name for f in files if not _DAY.search(f.name) and not _NPY_DAY.search(f.name)]
        if unknown:
            raise BenchsuiteError(
                f"criteo-tb: {', '.join(unknown[:3])} not named day_N, day_N.gz or day_N_*.npy"
            )
        found = sorted(text or npy)
        wanted = parse_days(settings.get("days") or "") or found
        missing = [d for d in wanted if d not in found]
        if missing:
            raise BenchsuiteError(f"criteo-tb: no file for day(s) {missing} among --raw")
        for day in wanted:
            if npy and set(npy[day]) != {"dense", "sparse", "labels"}:
                raise BenchsuiteError(
                    f"criteo-tb: day {day} needs day_{day}_dense.npy, day_{day}_sparse.npy and "
                    f"day_{day}_labels.npy"
                )
        sources = [Source(text[d] if text else npy[d]["sparse"], f"day_{d}") for d in wanted]
        notes = {"layout": "mlperf-npy"} if npy else {}
        return Recipe(
            dataset=cls.name,
            layout=LAYOUT,
            features=list(CATEGORY_NAMES),
            dense=list(DENSE_NAMES),
            sources=sources,
            splits=day_splits,
            settings={**settings, "days": ",".join(map(str, wanted))},
            reader=_npy_reader(npy, settings) if npy else None,
            notes=notes,
        )


@numba.njit(nogil=True, cache=True)
def _row_hashes(labels, raw_dense, cats, out):
    for r in range(labels.shape[0]):
        h = np.uint64(0xCBF29CE484222325)
        h = (h ^ np.uint64(labels[r])) * np.uint64(0x9E3779B97F4A7C15)
        for j in range(raw_dense.shape[1]):
            h = (h ^ np.uint64(raw_dense[r, j])) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
        for j in range(cats.shape[1]):
            h = (h ^ cats[r, j]) * np.uint64(0x9E3779B97F4A7C15)
            h ^= h >> np.uint64(29)
        out[r] = h


def _npy_reader(days: dict[int, dict[str, Path]], settings: dict[str, Any]):
    rows_per_block = 1 << 20

    def read(source: Source) -> BlockStream:
        files = days[int(source.part.split("_")[1])]
        arrays = {}
        for kind, path in files.items():
            try:
                arrays[kind] = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise BenchsuiteError(f"{path}: not a readable .npy file ({exc})") from None
        labels, dense, sparse = arrays["labels"], arrays["dense"], arrays["sparse"]
        labels = labels.reshape(-1)
        n = labels.shape[0]
        for kind, arr, cols in (("dense", dense, 13), ("sparse", sparse, 26)):
            if arr.ndim != 2 or arr.shape != (n, cols):
                raise BenchsuiteError(
                    f"{files[kind]}: shape {arr.shape}, expected ({n:,}, {cols}) to match "
                    f"{files['labels'].name}"
                )

        crcs = dict.fromkeys(files, 0)

        def blocks():
            for a in range(0, n, rows_per_block):
                b = min(n, a + rows_per_block)
                lab = np.asarray(labels[a:b])
                if ((lab != 0) & (lab != 1)).any():
                    row = a + int(np.flatnonzero((lab != 0) & (lab != 1))[0])
                    raise BenchsuiteError(f"{files['labels']}: row {row}: label is not 0 or 1")
                for kind, arr in (("labels", labels), ("dense", dense), ("sparse", sparse)):
                    crcs[kind] = zlib.crc32(np.ascontiguousarray(arr[a:b]), crcs[kind])
                stream.checksum = ",".join(f"{k}:crc32:{crcs[k]:08x}" for k in sorted(crcs))
                d = np.asarray(dense[a:b], dtype=np.float64)
                raw_dense = np.rint(np.exp(d) - 3.0).astype(np.int64)  # torchrec: log(x + 3)
                cats = np.asarray(sparse[a:b]).astype(np.int64) & 0xFFFFFFFF
                block = ParsedBlock(
                    labels=lab.astype(np.uint8),
                    dense=np.log1p(np.maximum(raw_dense, 0)).astype(np.float32),
                    categories=cats.astype(np.uint64),
                    row_hash=np.empty(b - a, dtype=np.uint64),
                    status=np.zeros(b - a, dtype=np.int8),
                    field=np.zeros(b - a, dtype=np.int16),
                )
                _row_hashes(block.labels, raw_dense, block.categories, block.row_hash)
                yield block, a, files["sparse"].stat().st_size * b // max(n, 1)

        stream = BlockStream(blocks())
        return stream

    return read


@hookimpl
def benchsuite_register_datasets() -> list[type]:
    return [CriteoKaggle, CriteoTB]
