"""The statistics pass: what methods declare in ``Method.needs``, computed from the training
split once and cached on disk.

Frequencies and the row sample come from one streaming pass (the split is never loaded whole);
MinHash signatures are computed from the sample; pre-trained embeddings from a short training
run of DLRM with full tables on the first rows of the split. Each statistic is cached under the
dataset's fingerprint and the statistic's parameters, with a manifest holding the file's
checksum: a stale or corrupt entry is recomputed with a warning, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from benchsuite.api import (
    FREQUENCIES,
    NO_SIGNATURE,
    PRETRAINED,
    SAMPLE,
    SIGNATURES,
    Batch,
    BenchsuiteError,
    Dataset,
    DataStats,
    StatRequest,
)

KNOWN_KINDS = (FREQUENCIES, SAMPLE, SIGNATURES, PRETRAINED)
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    FREQUENCIES: {},
    SAMPLE: {"rows": 100_000},
    SIGNATURES: {"rows": 100_000, "hashes": 16},
    PRETRAINED: {"dim": 8, "samples": 200_000, "lr": 0.05, "batch_size": 1024},
}
CACHE_ENV = "BENCHSUITE_CACHE_DIR"
CACHE_FORMAT = 1
_PRIME = NO_SIGNATURE  # 2**31 - 1: MinHash values lie in [0, prime), the sentinel outside

Notify = Callable[[str], None]


def normalise(request: StatRequest) -> StatRequest:
    """The request with every parameter filled in, so equal requests have equal cache keys."""
    if request.kind not in KNOWN_KINDS:
        raise BenchsuiteError(
            f"unknown statistic {request.kind!r}; known: {', '.join(KNOWN_KINDS)}"
        )
    defaults = DEFAULT_PARAMS[request.kind]
    unknown = sorted(set(request.params) - set(defaults))
    if unknown:
        raise BenchsuiteError(
            f"statistic {request.kind!r} has no parameter {unknown[0]!r}; "
            f"allowed: {', '.join(defaults) or 'none'}"
        )
    return StatRequest(request.kind, {**defaults, **request.params})


def default_cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "benchsuite" / "stats"


class StatsCache:
    """Statistics on disk: ``<root>/<fingerprint>/<key>.pt`` with a ``.json`` manifest."""

    def __init__(self, root: Path | None = None, *, warn: Notify | None = None) -> None:
        self.root = root or default_cache_dir()
        self.warn = warn or (lambda message: None)

    def _paths(self, fingerprint: str, key: str) -> tuple[Path, Path]:
        name = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = self.root / fingerprint
        return folder / f"{name}.pt", folder / f"{name}.json"

    def load(self, fingerprint: str, key: str) -> tuple[Any, dict[str, Any]] | None:
        data_path, manifest_path = self._paths(fingerprint, key)
        if not manifest_path.exists():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            problem = None
            if manifest.get("format") != CACHE_FORMAT:
                problem = f"cache format {manifest.get('format')!r}, expected {CACHE_FORMAT}"
            elif manifest.get("fingerprint") != fingerprint or manifest.get("key") != key:
                problem = "it was computed for other data or parameters"
            elif _sha256(data_path) != manifest.get("sha256"):
                problem = "its checksum does not match (corrupt or changed file)"
            if problem is None:
                return torch.load(data_path, weights_only=True), manifest
        except (OSError, ValueError, RuntimeError) as exc:  # unreadable JSON or tensor file
            problem = f"it cannot be read ({type(exc).__name__}: {exc})"
        self.warn(f"statistics cache {data_path}: {problem}; recomputing")
        return None

    def store(self, fingerprint: str, key: str, value: Any, cost: dict[str, float]) -> None:
        data_path, manifest_path = self._paths(fingerprint, key)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic(data_path, lambda f: torch.save(value, f))
        manifest = {
            "format": CACHE_FORMAT,
            "fingerprint": fingerprint,
            "key": key,
            "sha256": _sha256(data_path),
            **cost,
        }
        _atomic(manifest_path, lambda f: f.write(json.dumps(manifest, indent=1).encode()))


def compute_stats(
    dataset: Dataset,
    needs: Sequence[StatRequest],
    *,
    seed: int = 0,
    batch_size: int = 65_536,
    cache: StatsCache | None = None,
    notify: Notify | None = None,
) -> DataStats:
    """Every requested statistic, from the cache when a valid entry exists."""
    requests = list({r.key(): r for r in map(normalise, needs)}.values())
    stats = DataStats()
    if not requests:
        return stats
    if dataset.num_samples("train") == 0:
        raise BenchsuiteError(f"dataset {dataset.name!r} has no training rows for statistics")
    notify = notify or (lambda message: None)
    fingerprint = dataset.fingerprint()
    totals = {"seconds": 0.0, "bytes": 0.0, "cached": 1.0}
    for request in requests:
        key = f"{request.key()}|seed={seed}"
        hit = cache.load(fingerprint, key) if cache else None
        if hit is not None:
            value, manifest = hit
            seconds, size = float(manifest["seconds"]), float(manifest["bytes"])
        else:
            started = time.perf_counter()
            value = _COMPUTE[request.kind](dataset, request.params, seed, batch_size, notify)
            if isinstance(value, Batch):  # stored as a plain tuple: weights_only loads it
                value = tuple(value)
            seconds, size = time.perf_counter() - started, float(_nbytes(value))
            totals["cached"] = 0.0
            if cache:
                cache.store(fingerprint, key, value, {"seconds": seconds, "bytes": size})
        _assign(stats, request.kind, value)
        totals["seconds"] += seconds
        totals["bytes"] += size
        totals[f"{request.kind}_seconds"] = seconds
    stats.cost = totals
    return stats


# -- the statistics ------------------------------------------------------------------------------


def _offsets(dataset: Dataset) -> tuple[torch.Tensor, list[int]]:
    sizes = [t.rows for t in dataset.tables]
    offsets = torch.tensor([0, *sizes[:-1]], dtype=torch.int64).cumsum(0)
    return offsets, sizes


def _frequencies(dataset: Dataset, params: dict, seed: int, bs: int, notify: Notify) -> list:
    known = dataset.frequencies()
    if known is not None:
        return known
    offsets, sizes = _offsets(dataset)
    counts = torch.zeros(sum(sizes), dtype=torch.int64)
    total, seen = dataset.num_samples("train"), 0
    for batch in dataset.batches("train", bs):
        flat = (batch.ids + offsets).reshape(-1)  # in place: a full-size bincount per batch
        counts.index_add_(0, flat, torch.ones_like(flat))  # would cost O(all table rows)
        seen += len(batch)
        notify(f"statistics: id frequencies {seen:,}/{total:,} rows")
    return list(torch.split(counts, sizes))


def _sample(dataset: Dataset, params: dict, seed: int, bs: int, notify: Notify) -> Batch:
    """A uniform sample of ``rows`` training rows, reproducible for a seed, in split order."""
    total = dataset.num_samples("train")
    want = min(total, int(params["rows"]))
    gen = torch.Generator().manual_seed(seed)
    positions = torch.sort(torch.randperm(total, generator=gen)[:want]).values
    picked: list[Batch] = []
    start = 0
    for batch in dataset.batches("train", bs):
        n = len(batch)
        lo, hi = torch.searchsorted(positions, torch.tensor([start, start + n])).tolist()
        if hi > lo:
            picked.append(Batch(*(t[positions[lo:hi] - start] for t in batch)))
        start += n
        notify(f"statistics: sampling rows {start:,}/{total:,}")
        if hi == want:
            break
    return Batch(*(torch.cat(parts) for parts in zip(*picked, strict=True)))


def _signatures(dataset: Dataset, params: dict, seed: int, bs: int, notify: Notify) -> list:
    """MinHash of each id's set of sampled rows: ``min_t ((a_k·(t+1) + b_k) mod p)``."""
    sample = _sample(dataset, {"rows": params["rows"]}, seed, bs, notify)
    offsets, sizes = _offsets(dataset)
    rows, features = sample.ids.shape
    ids = (sample.ids + offsets).reshape(-1)
    docs = torch.arange(1, rows + 1, dtype=torch.int64).repeat_interleave(features)
    gen = torch.Generator().manual_seed(seed + 1)
    hashes = int(params["hashes"])
    a = torch.randint(1, _PRIME, (hashes,), generator=gen, dtype=torch.int64)
    b = torch.randint(0, _PRIME, (hashes,), generator=gen, dtype=torch.int64)
    out = torch.full((sum(sizes), hashes), _PRIME, dtype=torch.int32)
    for k in range(hashes):  # one scatter per hash function, vectorised over all rows
        values = torch.remainder(docs * a[k] + b[k], _PRIME)
        column = torch.full((sum(sizes),), _PRIME, dtype=torch.int64)
        column.scatter_reduce_(0, ids, values, reduce="amin")
        out[:, k] = column.to(torch.int32)
        notify(f"statistics: MinHash signatures {k + 1}/{hashes}")
    return list(torch.split(out, sizes))


def _pretrained(dataset: Dataset, params: dict, seed: int, bs: int, notify: Notify) -> list:
    """Embeddings of a DLRM with full tables at a low dimension, trained on the first rows."""
    from benchsuite.layers import ConcatenatedTables
    from benchsuite.model import DLRM
    from benchsuite.training import make_optimizer, train

    torch.manual_seed(seed)
    dim, sizes = int(params["dim"]), [t.rows for t in dataset.tables]
    tables = ConcatenatedTables(sizes, dim, generator=torch.Generator().manual_seed(seed))
    model = DLRM(
        tables,
        num_dense=dataset.num_dense,
        num_features=len(sizes),
        dim=dim,
        bottom_mlp=[32] if dataset.num_dense else [],
        top_mlp=[32],
    )
    optimizer = make_optimizer("adagrad", model.parameters(), float(params["lr"]))
    samples = min(int(params["samples"]), dataset.num_samples("train"))
    train(
        model,
        optimizer,
        iter(dataset.batches("train", int(params["batch_size"]))),
        samples=samples,
        device=torch.device("cpu"),
        warmup_steps=0,
        on_progress=lambda s, t: notify(f"statistics: pre-training {s:,}/{samples:,} rows"),
    )
    return [w.detach().clone() for w in torch.split(tables.weight, sizes)]


_COMPUTE: dict[str, Callable[[Dataset, dict, int, int, Notify], Any]] = {
    FREQUENCIES: _frequencies,
    SAMPLE: _sample,
    SIGNATURES: _signatures,
    PRETRAINED: _pretrained,
}


def _assign(stats: DataStats, kind: str, value: Any) -> None:
    field = {
        FREQUENCIES: "frequencies",
        SAMPLE: "sample",
        SIGNATURES: "signatures",
        PRETRAINED: "embeddings",
    }[kind]
    setattr(stats, field, Batch(*value) if kind == SAMPLE else list(value))


def _nbytes(value: Any) -> int:
    tensors = value if isinstance(value, (list, tuple)) else [value]
    return sum(t.numel() * t.element_size() for t in tensors)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
