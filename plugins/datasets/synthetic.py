"""Criteo-shaped synthetic click data whose best possible AUC is known.

Rows are drawn in independent chunks: chunk ``c`` of a split comes from its own random stream
``(seed, split, c)``, so any chunk can be regenerated alone and a split streams in constant
memory, whatever the batch size. Per feature, ids follow a truncated power law over the table,
passed through a keyed permutation so that popular ids are scattered over ``[1, rows)``; id 0 is
the "missing" id, as Criteo preprocessing gives the empty string its own index.

Labels come from a teacher: per-id biases, low-rank pairwise interactions of per-id latent
vectors (a factorisation machine, the dense features acting as one more field) and linear dense
effects. Each id belongs to a latent group; its vector is the group's centre plus an id-specific
deviation. Group, bias and deviation are hashed from ``(seed, feature, id)`` when needed, never
stored per id, so 40-million-row tables cost nothing. The teacher's click probability is known for
every row, which gives the Bayes-optimal AUC of each split.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch

from benchsuite.api import Batch, BenchsuiteError, Dataset, ParamError, TableSpec
from benchsuite.hookspecs import hookimpl
from benchsuite.measure.metrics import roc_auc

from .profiles import NUM_CATEGORICAL, NUM_DENSE, PROFILES, Profile

#: Bump whenever the same parameters would generate different data.
GENERATOR_VERSION = 1

SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}
_CALIBRATION_STREAM = 3  # the pilot rows that calibrate the intercept to the click rate
_EPOCH_STREAM = 4  # chunk order of training epochs after the first
_TEACHER_STREAM = 5  # the teacher's small per-feature tables and keys
_PILOT_PIECES, _PILOT_PIECE_ROWS = 4, 16384  # 65536 pilot rows, drawn a piece at a time
_BLOCK = 16384  # rows processed at a time, so that working arrays stay in cache

# Spread of the teacher's logit components (over the teacher's randomness), in logit units:
# large enough that the Bayes AUC sits well above what a model learns from a sample.
_BIAS_STD = 1.0
_INTERACTION_STD = 1.5
_DENSE_STD = 0.5
_IMPORTANCE_STD = 0.5  # log-normal spread of how much each feature matters

_MASK32 = np.uint64(0xFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = (np.uint64(s) for s in (27, 30, 31, 32))
_BYTE_MEAN = 127.5
_BYTE_STD = math.sqrt((256**2 - 1) / 12)  # a uniform byte's standard deviation
_UNIFORM_STD = math.sqrt(1 / 12)


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on uint64: a cheap hash whose output bits look random."""
    z ^= z >> _S30
    z *= _MIX1
    z ^= z >> _S27
    z *= _MIX2
    z ^= z >> _S31
    return z


class Bijection:
    """A keyed pseudo-random permutation of ``[0, n)``, computed on the fly.

    Two xor-multiply-xorshift rounds permute the smallest power-of-two domain holding ``n``;
    values that land outside ``[0, n)`` walk the cycle until they land inside (cycle walking),
    which keeps the map a bijection of ``[0, n)`` at under two rounds per value on average.
    """

    def __init__(self, n: int, keys: Sequence[int]) -> None:
        bits = max(1, (n - 1).bit_length())
        mask = (1 << bits) - 1
        # int64 arithmetic: every value is masked below 2**63, so shifts are logical, and
        # products wrap modulo 2**64, which leaves their low ``bits`` bits exact.
        self.n, self.mask = np.int64(n), np.int64(mask)
        self.shift = np.int64(max(1, (bits + 1) // 2))
        self.xor_key, self.add_key = (np.int64(k & mask) for k in keys[:2])
        self.mul1, self.mul2 = (np.int64((k & mask) | 1) for k in keys[2:4])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Permute int64 values in ``[0, n)``; returns a new array."""
        y = self._round(x.astype(np.int64, copy=True))
        out = np.flatnonzero(y >= self.n)
        while out.size:
            y[out] = self._round(y[out])
            out = out[y[out] >= self.n]
        return y

    def _round(self, y: np.ndarray) -> np.ndarray:
        y ^= self.xor_key
        y *= self.mul1
        y &= self.mask
        y ^= y >> self.shift
        y *= self.mul2
        y &= self.mask
        y ^= y >> self.shift
        y += self.add_key
        y &= self.mask
        return y


class Chunk(NamedTuple):
    """One independently generated block of rows, with the teacher's click probabilities."""

    dense: np.ndarray  # float32 [n, 13]
    ids: np.ndarray  # int64 [n, 26]
    labels: np.ndarray  # float32 [n]
    probs: np.ndarray  # float64 [n]

    def batch(self) -> Batch:
        """The rows as torch tensors sharing this chunk's memory."""
        return Batch(*(torch.from_numpy(a) for a in (self.dense, self.ids, self.labels)))


@dataclass
class _Feature:
    """The teacher's constants for one categorical feature; a few kB even for 40M rows."""

    rows: int
    missing: float
    permutation: Bijection
    keys: np.ndarray  # uint64: [group-and-bias hash, deviation hashes...]
    centres: np.ndarray  # float32 [groups, rank]: scaled group centres
    centres_shifted: np.ndarray  # centres minus the deviation bytes' mean contribution
    deviation_scale: float  # per byte of deviation hash
    group_bias: np.ndarray  # float32 [groups]
    group_bias_shifted: np.ndarray  # group bias minus the id bias's mean contribution
    id_bias_scale: float  # per unit of the id bias's 32-bit draw


class Teacher:
    """The known labelling function: ``logit = b0 + biases + FM interactions + dense effects``.

    Per-id values are hashed from ``(seed, feature, id)`` at each call; the only tables are per
    group (centres, biases) and per dense feature, built once from the seed.
    """

    def __init__(self, seed: int, rows: Sequence[int], profile: Profile, params: dict[str, Any]):
        self.rank = int(params["rank"])
        rng = _rng(seed, _TEACHER_STREAM)
        importance = np.exp(rng.normal(0.0, _IMPORTANCE_STD, size=len(rows)))
        weights = importance**2
        bias_norm = _BIAS_STD / math.sqrt(weights.sum())
        field_weights = np.append(weights, 1.0)  # the dense features act as one more field
        pair_sum = (field_weights.sum() ** 2 - (field_weights**2).sum()) / 2
        self.interaction_scale = _INTERACTION_STD / math.sqrt(self.rank * pair_sum)
        self.features = [
            _make_feature(seed, f, n, profile, params, importance[f], bias_norm)
            for f, n in enumerate(rows)
        ]
        self.dense_mean = np.asarray(profile.dense_log_mean, np.float32)
        self.dense_std = np.asarray(profile.dense_log_std, np.float32)
        spread = 1 / math.sqrt(NUM_DENSE)  # standardised dense features sum to unit variance
        self.dense_weights = (rng.normal(size=NUM_DENSE) * _DENSE_STD * spread).astype(np.float32)
        self.dense_latent = (rng.normal(size=(NUM_DENSE, self.rank)) * spread).astype(np.float32)

    def logit(self, dense: np.ndarray, ids: np.ndarray, *, per_id: bool = True) -> np.ndarray:
        """Logit without the intercept for rows ``dense [n, 13]``, ``ids [n, 26]`` (float64).

        ``per_id=False`` drops the id-specific deviations and biases, leaving what the latent
        groups alone explain: a weaker scorer, for comparison. Rows are processed in blocks small
        enough for the working arrays to stay in cache.
        """
        columns = np.ascontiguousarray(ids.T)  # no copy when ids is a transposed [26, n] array
        out = np.empty(len(dense))
        for rows in _blocks(len(out)):
            out[rows] = self._block_logit(dense[rows], columns[:, rows], per_id)
        return out

    def _block_logit(self, dense: np.ndarray, columns: np.ndarray, per_id: bool) -> np.ndarray:
        n = len(dense)
        total = np.zeros((n, self.rank), np.float32)  # sum of the fields' latent vectors
        squares = np.zeros((n, self.rank), np.float32)  # sum of their elementwise squares
        scratch = np.empty((n, self.rank), np.float32)
        bias = np.zeros(n, np.float32)
        for feature, column in zip(self.features, columns, strict=True):
            vectors = self._feature_terms(feature, column, bias, per_id)
            total += vectors
            squares += np.multiply(vectors, vectors, out=scratch)
        scaled = (dense - self.dense_mean) / self.dense_std
        latent = scaled @ self.dense_latent
        total += latent
        squares += np.multiply(latent, latent, out=scratch)
        total *= total
        pairs = 0.5 * (total - squares).sum(axis=1, dtype=np.float64)
        return bias + self.interaction_scale * pairs + scaled @ self.dense_weights

    def _feature_terms(
        self, feature: _Feature, ids: np.ndarray, bias: np.ndarray, per_id: bool
    ) -> np.ndarray:
        """Add the feature's biases to ``bias`` and return its latent vectors ``[n, rank]``.

        One 64-bit hash of the id gives its group (high half) and bias (low half); each further
        hash gives 8 bytes of its deviation from the group's centre.
        """
        base = ids.view(np.uint64) * _GOLDEN  # ids are non-negative int64
        h = mix64(base + feature.keys[0])
        groups = h >> _S32
        groups *= np.uint64(len(feature.group_bias))
        groups >>= _S32
        groups = groups.view(np.int64)
        if not per_id:
            bias += feature.group_bias.take(groups)
            return feature.centres.take(groups, axis=0)
        bias += feature.group_bias_shifted.take(groups)
        h &= _MASK32
        bias += h.astype(np.float32) * np.float32(feature.id_bias_scale)
        hashes = [mix64(base + key) for key in feature.keys[1:]]
        stacked = hashes[0] if len(hashes) == 1 else np.stack(hashes, axis=1)
        stacked = stacked.astype("<u8", copy=False)  # the same bytes on any platform
        deviation_bytes = stacked.view(np.uint8).reshape(len(ids), -1)[:, : self.rank]
        vectors = feature.centres_shifted.take(groups, axis=0)
        vectors += deviation_bytes * np.float32(feature.deviation_scale)
        return vectors


def _make_feature(
    seed: int,
    f: int,
    rows: int,
    profile: Profile,
    params: dict[str, Any],
    importance: float,
    bias_norm: float,
) -> _Feature:
    """Build one feature's group tables and hash keys from ``(seed, feature)``."""
    rank, sigma = int(params["rank"]), float(params["sigma"])
    n_groups = _groups(rows, int(params["groups"]))
    rng = _rng(seed, _TEACHER_STREAM, f)
    keys = rng.integers(0, 2**64, size=5 + math.ceil(rank / 8), dtype=np.uint64)
    share = 1 / math.sqrt(1 + sigma**2)  # group and id parts split the unit variance
    centres = (rng.normal(size=(n_groups, rank)) * importance * share).astype(np.float32)
    deviation_scale = importance * share * sigma / _BYTE_STD
    group_bias = (rng.normal(size=n_groups) * importance * share * bias_norm).astype(np.float32)
    id_bias_scale = importance * share * sigma * bias_norm / _UNIFORM_STD / 2**32
    missing = min(0.99, profile.categorical_missing[f] * float(params["missing"]))
    return _Feature(
        rows=rows,
        missing=missing,
        permutation=Bijection(rows - 1, [int(k) for k in keys[:4]]),
        keys=keys[4:],
        centres=centres,
        centres_shifted=centres - np.float32(deviation_scale * _BYTE_MEAN),
        deviation_scale=deviation_scale,
        group_bias=group_bias,
        group_bias_shifted=group_bias - np.float32(id_bias_scale * 2**31),
        id_bias_scale=id_bias_scale,
    )


def _groups(rows: int, groups: int) -> int:
    """Latent groups of a feature: ``groups`` when set, else about sqrt(rows)."""
    wanted = groups if groups > 0 else math.ceil(math.sqrt(rows))
    return max(1, min(rows, wanted))


def _blocks(n: int) -> Iterator[slice]:
    return (slice(start, min(start + _BLOCK, n)) for start in range(0, n, _BLOCK))


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def draw_ranks(u: np.ndarray, n: int, exponent: float) -> np.ndarray:
    """Ranks in ``[0, n)`` from uniforms: the floored inverse CDF of ``x**-exponent`` on
    ``[1, n + 1)``, a truncated Zipf law that costs one power per draw."""
    a = 1.0 - exponent
    if abs(a) < 1e-9:
        x = np.power(float(n + 1), u)
    else:
        x = u * ((n + 1) ** a - 1.0)
        x += 1.0
        np.power(x, 1.0 / a, out=x)
    x -= 1.0  # x >= 1 for every u in [0, 1), so ranks are never negative
    ranks = x.astype(np.int64)
    return np.minimum(ranks, n - 1, out=ranks)


def table_rows(cardinality: int, scale: float) -> int:
    """Rows of a table scaled by ``scale``; tiny tables keep a few rows so they stay tables."""
    return max(min(cardinality, 4), math.ceil(round(cardinality * scale, 6)))


class SyntheticDataset(Dataset):
    """Criteo-shaped synthetic clicks from a known teacher (see the module docstring)."""

    name: ClassVar[str] = "synthetic"
    summary: ClassVar[str] = (
        "Criteo-shaped synthetic clicks: power-law ids in latent groups, labels from a known "
        "low-rank teacher, so each split's Bayes-optimal AUC is known"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "profile": "criteo-kaggle",  # table sizes, click rate and missing rates to imitate
        "scale": 0.01,  # multiplies every table's rows
        "cardinalities": [],  # 26 table sizes replacing the profile's; empty: the profile's
        "seed": 0,
        "train_samples": 1_000_000,
        "validation_samples": 100_000,
        "test_samples": 100_000,
        "ids": "zipf",  # "zipf": power-law ids; "uniform": ids drawn uniformly
        "zipf": 1.1,  # power-law exponent of id popularity
        "ctr": None,  # click rate; None: the profile's
        "groups": 0,  # latent groups per feature; 0: ceil(sqrt(rows))
        "rank": 8,  # latent dimension of the teacher's interactions
        "sigma": 0.5,  # spread of ids around their group's centre (0: groups say everything)
        "missing": 1.0,  # multiplies the profile's missing rates, capped at 0.99 (0: none)
        "chunk_size": 65536,  # rows per independently generated chunk
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.profile = PROFILES[self.params["profile"]]
        base = self.params["cardinalities"] or self.profile.cardinalities
        rows = [table_rows(int(n), float(self.params["scale"])) for n in base]
        self._tables = [TableSpec(f"C{f + 1}", n) for f, n in enumerate(rows)]
        self.teacher = Teacher(int(self.params["seed"]), rows, self.profile, self.params)
        self._intercept: float | None = None
        self._bayes: dict[str, float] = {}

    # -- parameters -------------------------------------------------------------------------

    def validate(self) -> None:
        p = self.params
        if p["profile"] not in PROFILES:
            raise ParamError(
                f"synthetic parameter 'profile' is {p['profile']!r}; allowed: {', '.join(PROFILES)}"
            )
        if p["ids"] not in ("zipf", "uniform"):
            raise ParamError(f"synthetic parameter 'ids' is {p['ids']!r}; allowed: zipf, uniform")
        _check(p, "scale", p["scale"] > 0, "must be > 0")
        _check(p, "seed", p["seed"] >= 0, "must be >= 0")
        for split in self.splits:
            _check(p, f"{split}_samples", p[f"{split}_samples"] >= 0, "must be >= 0")
        _check(p, "zipf", 0 <= p["zipf"] <= 10, "must be in [0, 10]")
        _check(p, "groups", p["groups"] >= 0, "must be >= 0 (0: about sqrt(rows))")
        _check(p, "rank", 1 <= p["rank"] <= 256, "must be in [1, 256]")
        _check(p, "sigma", p["sigma"] >= 0, "must be >= 0")
        _check(p, "missing", p["missing"] >= 0, "must be >= 0")
        _check(p, "chunk_size", p["chunk_size"] >= 1, "must be >= 1")
        ctr = p["ctr"]
        ok = ctr is None or (isinstance(ctr, (int, float)) and not isinstance(ctr, bool))
        _check(p, "ctr", ok and (ctr is None or 0 < ctr < 1), "must be a number in (0, 1) or None")
        cards = p["cardinalities"]
        ok = len(cards) in (0, NUM_CATEGORICAL) and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 2 for n in cards
        )
        _check(p, "cardinalities", ok, f"must be empty or {NUM_CATEGORICAL} integers >= 2")

    # -- the Dataset contract ---------------------------------------------------------------

    @property
    def num_dense(self) -> int:
        return NUM_DENSE

    @property
    def tables(self) -> list[TableSpec]:
        return list(self._tables)

    @property
    def ctr(self) -> float:
        """The click rate the intercept is calibrated to."""
        ctr = self.params["ctr"]
        return self.profile.ctr if ctr is None else float(ctr)

    def num_samples(self, split: str) -> int:
        return int(self.params[f"{self._check_split(split)}_samples"])

    def num_chunks(self, split: str) -> int:
        return -(-self.num_samples(split) // int(self.params["chunk_size"]))

    def batches(self, split: str, batch_size: int, *, epoch: int = 0) -> Iterator[Batch]:
        """Yield the split's chunks cut into batches; a batch may straddle two chunks.

        Epoch 0 (and every epoch of validation and test) reads chunks in order; later training
        epochs read them in an order shuffled reproducibly from ``(seed, epoch)``. Rows are
        independent draws, so only the order changes.
        """
        if batch_size < 1:
            raise BenchsuiteError(f"batch_size must be >= 1, got {batch_size}")
        if epoch < 0:
            raise BenchsuiteError(f"epoch must be >= 0, got {epoch}")
        order = self._chunk_order(split, epoch)
        return _rebatch((self.chunk(split, c).batch() for c in order), batch_size)

    def fingerprint(self) -> str:
        payload = {"name": self.name, "params": self.params, "version": GENERATOR_VERSION}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def prepare(self) -> None:
        """Calibrate the click rate now, so no measured window pays for it."""
        _ = self.intercept

    def bayes_auc(self, split: str) -> float:
        """AUC of the teacher's click probability against the split's labels (cached)."""
        self._check_split(split)
        if split not in self._bayes:
            if self.num_samples(split) == 0:
                raise BenchsuiteError(f"synthetic split {split!r} is empty: it has no AUC")
            labels, probs = [], []
            for index in range(self.num_chunks(split)):  # keep only labels and probabilities
                chunk = self.chunk(split, index)
                labels.append(chunk.labels)
                probs.append(chunk.probs)
            self._bayes[split] = roc_auc(
                torch.from_numpy(np.concatenate(labels)), torch.from_numpy(np.concatenate(probs))
            )
        return self._bayes[split]

    # -- generation -------------------------------------------------------------------------

    def chunk(self, split: str, index: int) -> Chunk:
        """Generate chunk ``index`` of ``split`` from its own stream ``(seed, split, index)``."""
        size = int(self.params["chunk_size"])
        rows = min(size, self.num_samples(split) - index * size)
        if index < 0 or rows <= 0:
            raise BenchsuiteError(
                f"synthetic split {split!r} has {self.num_chunks(split)} chunks: no chunk {index}"
            )
        rng = _rng(int(self.params["seed"]), SPLIT_CODES[split], index)
        dense, ids = self._draw_features(rng, rows)
        logit = self.teacher.logit(dense, ids)
        logit += self.intercept
        probs = 1.0 / (1.0 + np.exp(-logit))
        labels = (rng.random(rows) < probs).astype(np.float32)
        return Chunk(dense, np.ascontiguousarray(ids), labels, probs)

    @property
    def intercept(self) -> float:
        """``b0`` such that the mean click probability on pilot rows equals :attr:`ctr`.

        Found by bisection on a fixed pilot stream, so it is deterministic and independent of
        ``chunk_size``; computed on first use, so construction stays instant, and a block at a
        time, so it costs no more memory than a small chunk.
        """
        if self._intercept is None:
            seed = int(self.params["seed"])
            logits = [
                self.teacher.logit(*self._draw_features(rng, _PILOT_PIECE_ROWS))
                for rng in (_rng(seed, _CALIBRATION_STREAM, i) for i in range(_PILOT_PIECES))
            ]
            self._intercept = _calibrate(np.concatenate(logits), self.ctr)
        return self._intercept

    def teacher_probability(self, batch: Batch, *, per_id: bool = True) -> np.ndarray:
        """The teacher's click probability for the rows of ``batch`` (float64 ``[n]``).

        ``per_id=False`` keeps only the latent groups' share: the best a model that knows the
        groups but not the ids could score.
        """
        dense = batch.dense.cpu().numpy().astype(np.float32, copy=False)
        ids = batch.ids.cpu().numpy()
        logit = self.teacher.logit(dense, ids, per_id=per_id) + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def _draw_features(self, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``rows`` rows of dense values ``[rows, 13]`` and ids ``[rows, 26]`` (the ids a
        transposed view of a feature-major array, the layout the teacher reads fastest)."""
        uniforms = rng.random((NUM_CATEGORICAL, rows))
        dense = self._dense(rng.random((rows, NUM_DENSE), dtype=np.float32))
        ids = np.empty((NUM_CATEGORICAL, rows), np.int64)
        for block in _blocks(rows):
            for f, feature in enumerate(self.teacher.features):
                self._draw_ids(feature, uniforms[f, block], ids[f, block])
        return dense, ids.T

    def _draw_ids(self, feature: _Feature, u: np.ndarray, out: np.ndarray) -> None:
        """Write one feature's ids from uniforms into ``out``: below the missing rate the missing
        id 0, else a power-law rank (or a uniform id) over ``[1, rows)``, reusing the uniform's
        remainder above the missing rate."""
        real = feature.rows - 1
        missing = None
        if feature.missing > 0:
            missing = u < feature.missing
            u = (u - feature.missing) * (1.0 / (1.0 - feature.missing))
            np.maximum(u, 0.0, out=u)
        if self.params["ids"] == "uniform":
            ids = (u * real).astype(np.int64)
            np.minimum(ids, real - 1, out=ids)
        else:
            ids = feature.permutation(draw_ranks(u, real, float(self.params["zipf"])))
        np.add(ids, 1, out=out)
        if missing is not None:
            np.putmask(out, missing, 0)

    def _dense(self, u: np.ndarray) -> np.ndarray:
        """Count-like dense values from uniforms ``[rows, 13]``, written as DLRM preprocessing
        writes Criteo's counts: ``log(1 + count)``; below the missing rate 0.

        ``count = floor(exp(X))`` with X logistic (an inverse CDF that costs one log, where a
        normal draw costs far more) of the profile's mean and standard deviation.
        """
        p = self.profile
        rate = np.minimum(0.99, np.asarray(p.dense_missing) * float(self.params["missing"]))
        present = u >= rate.astype(np.float32)
        u -= rate.astype(np.float32)  # the uniform's remainder above the missing rate
        u *= (1.0 / (1.0 - rate)).astype(np.float32)
        np.clip(u, 1e-7, 1 - 1e-7, out=u)
        x = np.log(u / (1 - u))
        x *= np.asarray(p.dense_log_std, np.float32) * np.float32(math.sqrt(3) / math.pi)
        x += np.asarray(p.dense_log_mean, np.float32)
        np.exp(x, out=x)
        np.floor(x, out=x)
        x += 1
        np.log(x, out=x)
        x *= present
        return x

    def _chunk_order(self, split: str, epoch: int) -> np.ndarray:
        n = self.num_chunks(split)
        if split != "train" or epoch == 0:
            return np.arange(n)
        return _rng(int(self.params["seed"]), _EPOCH_STREAM, epoch).permutation(n)

    def _check_split(self, split: str) -> str:
        if split not in SPLIT_CODES:
            raise BenchsuiteError(
                f"synthetic dataset has no split {split!r}; allowed: {', '.join(self.splits)}"
            )
        return split


def _check(params: dict[str, Any], key: str, ok: bool, rule: str) -> None:
    if not ok:
        raise ParamError(f"synthetic parameter {key!r} {rule}, got {params[key]!r}")


def _calibrate(logit: np.ndarray, ctr: float, iterations: int = 60) -> float:
    """The intercept ``b`` with ``mean(sigmoid(logit + b)) == ctr``, by bisection."""
    lo, hi = -40.0, 40.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logit + mid)))) < ctr:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _rebatch(chunks: Iterator[Batch], batch_size: int) -> Iterator[Batch]:
    """Cut a stream of chunks into batches of ``batch_size``, carrying leftovers across chunks."""
    pending: list[Batch] = []
    have = 0
    for chunk in chunks:
        start, n = 0, len(chunk)
        if have:
            start = min(batch_size - have, n)
            pending.append(_rows(chunk, 0, start))
            have += start
            if have == batch_size:
                yield _concat(pending)
                pending, have = [], 0
        while n - start >= batch_size:
            yield _rows(chunk, start, start + batch_size)
            start += batch_size
        if start < n:
            pending.append(_rows(chunk, start, n))
            have += n - start
    if have:
        yield _concat(pending)


def _rows(batch: Batch, start: int, stop: int) -> Batch:
    return Batch(*(t[start:stop] for t in batch))


def _concat(parts: list[Batch]) -> Batch:
    if len(parts) == 1:
        return parts[0]
    return Batch(*(torch.cat(ts) for ts in zip(*parts, strict=True)))


@hookimpl
def benchsuite_register_datasets() -> list[type[Dataset]]:
    return [SyntheticDataset]
