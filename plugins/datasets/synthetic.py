"""Criteo-shaped synthetic click data whose best possible AUC is known.

Rows are drawn in independent chunks: chunk ``c`` of a split comes from its own random stream
``(seed, split, c)``, so any chunk can be regenerated alone and a split streams in constant
memory, whatever the batch size. Per feature, ids follow a truncated power law over the table,
passed through a keyed permutation so that popular ids are scattered over ``[1, rows)``; id 0 is
the "missing" id, as Criteo preprocessing gives the empty string its own index.

Labels come from a teacher: per-id biases, low-rank pairwise interactions of per-id latent
vectors (a factorisation machine, the dense features acting as one more field) and linear dense
effects. Each id belongs to a latent group; its vector is the group's centre plus an id-specific
deviation. Bias and deviation are hashed from ``(seed, feature, id)`` when needed, the group is
computed from the id's popularity rank (below), nothing is stored per id, so 40-million-row tables
cost nothing. The teacher's click probability is known for every row, which gives the
Bayes-optimal AUC of each split.

**Row contexts: ids co-occur, by latent group.** In real logs a user's or site's context makes
certain ids of many features appear together; semantic methods (LMA's MinHash of the rows an id
occurs in, learned hashes) find their structure there. Here each row draws a latent *context
position* ``w``, uniform in ``[0, 1)``; its *context* is ``k = floor(w · contexts)``. Each feature
of the row is *tied* to the context with probability ``cooccurrence`` (independently per feature
and row), else drawn freely as before. The construction lives on the quantile axis of each
feature's power law, so that ties change which ids appear together but never how often an id
appears:

- a free draw takes a rank from a uniform ``u`` as before (``rank = floor(F⁻¹(u))``, ``F`` the
  power law's CDF). ``u``'s axis is cut into ``M = 32`` *periods* of equal probability, each cut
  into ``contexts`` equal *slots*, so ``u = (period + (slot + z) / contexts) / M`` with ``z`` the
  place within the slot's stripe;
- a tied draw reads ``u`` off the row's position: writing ``w = (k + (period + z) / M) /
  contexts``, the feature uses ``u = (period + (σ_f(k) + z) / contexts) / M``, where ``σ_f`` is a
  keyed permutation of the contexts per feature (a table of ``contexts`` entries), so which slots
  of two features meet is random. This maps uniform ``w`` to uniform ``u``: every feature's
  marginal stays exactly the power law of independent draws, whatever ``contexts`` and
  ``cooccurrence``;
- all tied features of a row read the same ``w``: an id occupies an interval of ``w`` as long as
  its probability ``p`` (split over several contexts when ``p`` exceeds a stripe, ``1 / (M ·
  contexts)``), and ids of two features whose intervals overlap appear together. Their row sets
  overlap in up to ``cooccurrence²`` of their rows (Jaccard up to ``c² / (2 - c²)`` for ids of
  equal probability at the same place), at every popularity: the structure is multi-scale, as
  real co-occurrence is. The rows of one period hold ids of that period in every feature:
  popular ids come with popular ids;
- the latent group of a rank is read off the same axis: with ``q`` the quantile of the rank's
  middle and ``y = frac(q · M)`` its place within its period, ``group = floor(y · groups)``.
  Groups and slots cut ``y`` alike, so a group lies within one or two contexts (with fewer
  groups than contexts, it spans ``contexts / groups`` of them) across all ``M`` periods, up to
  ids straddling a boundary. Ids of one group therefore share their contexts, and appear with
  ids of the same groups of the other features (those at the same ``k`` and ``z``); since the
  teacher derives latent vectors from groups, ids that appear in the same contexts are
  semantically similar.
  Spanning every period keeps group sizes even: their coefficient of variation is about 0.1 at
  1k rows, 0.2 at 100k and 0.4 at 10M rows (exponent 1.1), against 0.2 to 0.02 for hashed groups.

``contexts: 0`` or ``cooccurrence: 0`` switches the mechanism off: every id is an independent draw.
Labels depend on the ids and dense values only, never on the context, so the teacher's
probability stays the Bayes-optimal score. One id per feature and row means two ids of the same
feature never share a row: row-set similarity (LMA) relates ids of different features only.
:meth:`SyntheticDataset.positions` and :meth:`SyntheticDataset.ids_at` expose where an id sits on
the context axis and which ids of another table appear with it.

The group of an id needs its rank: the generator knows it; callers holding only ids (such as
:meth:`SyntheticDataset.teacher_probability`) invert the keyed permutation, whose rounds are each
invertible (cycle walking is undone by walking the inverse permutation).
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
GENERATOR_VERSION = 2

SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}
_CALIBRATION_STREAM = 3  # the pilot rows that calibrate the intercept to the click rate
_EPOCH_STREAM = 4  # chunk order of training epochs after the first
_TEACHER_STREAM = 5  # the teacher's small per-feature tables and keys
_CONTEXT_STREAM = 6  # each feature's placement of the contexts on its slots
_PERIODS = 32  # periods of the quantile axis, each cut into one slot per context
_MAX_CONTEXTS = 1 << 16  # each feature keeps a table of one float64 per context
_PILOT_PIECES, _PILOT_PIECE_ROWS = 8, 8192  # 65536 pilot rows, drawn a piece at a time
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
_S27, _S30, _S31 = (np.uint64(s) for s in (27, 30, 31))
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
    Each round is invertible (xor, odd multiplier, xorshift by at least half the bits, addition),
    so :meth:`inverse` undoes it, walking the inverse cycle until the value lands in range.
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
        self.inv1, self.inv2 = (np.int64(pow(int(m), -1, mask + 1)) for m in (self.mul1, self.mul2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Permute int64 values in ``[0, n)``; returns a new array."""
        y = self._round(x.astype(np.int64, copy=True))
        out = np.flatnonzero(y >= self.n)
        while out.size:
            y[out] = self._round(y[out])
            out = out[y[out] >= self.n]
        return y

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """The values ``x`` in ``[0, n)`` with ``self(x) == y``, for int64 ``y`` in ``[0, n)``."""
        x = self._unround(y.astype(np.int64, copy=True))
        out = np.flatnonzero(x >= self.n)
        while out.size:
            x[out] = self._unround(x[out])
            out = out[x[out] >= self.n]
        return x

    def _unround(self, y: np.ndarray) -> np.ndarray:
        y -= self.add_key
        y &= self.mask
        y ^= y >> self.shift  # a xorshift by at least half the bits is its own inverse
        y *= self.inv2
        y &= self.mask
        y ^= y >> self.shift
        y *= self.inv1
        y &= self.mask
        y ^= self.xor_key
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
    permutation: Bijection  # rank -> id - 1
    uniform: bool  # ids drawn uniformly, not by the power law
    exponent: float  # the power law's exponent
    slots: np.ndarray | None  # float64 [contexts]: each context's slot (None: no contexts)
    keys: np.ndarray  # uint64: [bias hash, deviation hashes...]
    centres: np.ndarray  # float32 [groups, rank]: scaled group centres
    centres_shifted: np.ndarray  # centres minus the deviation bytes' mean contribution
    deviation_scale: float  # per byte of deviation hash
    group_bias: np.ndarray  # float32 [groups]
    group_bias_shifted: np.ndarray  # group bias minus the id bias's mean contribution
    id_bias_scale: float  # per unit of the id bias's 32-bit draw

    @property
    def groups(self) -> int:
        return len(self.group_bias)

    def period_position(self, ranks: np.ndarray) -> np.ndarray:
        """``frac(q·M)`` for the quantile ``q`` of each rank's middle: where the rank sits within
        its period of the quantile axis (float32, in ``[0, 1]``).

        float32 is ample: ``M·groups`` is at most a few hundred thousand intervals, and a group
        is a deterministic function of the rank whatever the rounding."""
        real = self.rows - 1
        a = 1.0 - self.exponent
        if self.uniform or abs(a - 1.0) < 1e-12:  # uniform ranks: q = (rank + 1/2) / real
            x = np.add(ranks, np.float32(0.5), dtype=np.float32)
            x *= np.float32(_PERIODS / real)
        elif abs(a) < 1e-9:  # draw_ranks' x of the rank's middle is rank + 1.5
            x = np.add(ranks, np.float32(1.5), dtype=np.float32)
            np.log(x, out=x)
            x *= np.float32(_PERIODS / math.log(real + 1.0))
        else:
            x = np.add(ranks, np.float32(1.5), dtype=np.float32)
            np.power(x, np.float32(a), out=x)
            scale = np.float32(_PERIODS / ((real + 1.0) ** a - 1.0))
            x *= scale
            x -= scale
        x -= np.floor(x)
        return x

    def groups_of_ranks(self, ranks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The latent group of each rank, ``floor(frac(q·M) · groups)``, into ``out`` (int64)."""
        position = self.period_position(ranks)
        position *= np.float32(self.groups)
        if out is None:
            out = np.empty(position.shape, np.int64)
        np.copyto(out, position, casting="unsafe")  # truncation: the floor of a non-negative
        return np.minimum(out, self.groups - 1, out=out)

    def ranks_of_ids(self, ids: np.ndarray) -> np.ndarray:
        """The power-law rank of each id (int64; -1 for the missing id 0)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.rows):
            raise BenchsuiteError(f"ids must lie in [0, {self.rows}) for this feature")
        ranks = self.permutation.inverse(np.maximum(ids - 1, 0))
        np.putmask(ranks, ids == 0, -1)
        return ranks

    def ranks_at(self, positions: np.ndarray) -> np.ndarray:
        """The ranks that rows tied to their context at ``positions`` (context positions ``w``
        in ``[0, 1)``) draw, as the generator draws them."""
        contexts = len(self.slots)
        context, within = np.divmod(np.asarray(positions, np.float64) * contexts, 1.0)
        within *= _PERIODS
        t = np.floor(within)
        t *= contexts - 1
        t += within
        t += self.slots.take(context.astype(np.intp))
        return self.draw(t, 1.0 / (contexts * _PERIODS))

    def positions_of_ranks(self, ranks: np.ndarray) -> np.ndarray:
        """The context position ``w`` at which tied rows draw the middle of each rank: the
        inverse of :meth:`ranks_at` (float64)."""
        real, a = self.rows - 1, 1.0 - self.exponent
        x = np.asarray(ranks, np.float64)
        if self.uniform or abs(a - 1.0) < 1e-12:
            q = (x + 0.5) / real
        elif abs(a) < 1e-9:
            q = np.log(x + 1.5) / math.log(real + 1.0)
        else:
            q = ((x + 1.5) ** a - 1.0) / ((real + 1.0) ** a - 1.0)
        contexts = len(self.slots)
        stripe, within = np.divmod(q * (contexts * _PERIODS), 1.0)
        period, slot = np.divmod(stripe, contexts)
        context = np.argsort(self.slots).take(slot.astype(np.intp))
        return (context + (period + within) / _PERIODS) / contexts

    def draw(self, u: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Ranks from uniforms ``u * scale``: power-law or uniform as the feature's ids are."""
        real = self.rows - 1
        if self.uniform:
            ranks = (u * (real * scale)).astype(np.int64)
            return np.minimum(ranks, real - 1, out=ranks)
        return draw_ranks(u, real, self.exponent, scale)

    def groups_of_ids(self, ids: np.ndarray) -> np.ndarray:
        """The latent group of each id (the missing id 0 is in group 0)."""
        ranks = self.ranks_of_ids(ids)
        groups = self.groups_of_ranks(np.maximum(ranks, 0))
        np.putmask(groups, ranks < 0, 0)
        return groups


class Teacher:
    """The known labelling function: ``logit = b0 + biases + FM interactions + dense effects``.

    Per-id values are hashed from ``(seed, feature, id)`` at each call and groups computed from
    ranks; the only tables are per group (centres, biases), per context (slots) and per dense
    feature, built once from the seed.
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

    def logit(
        self,
        dense: np.ndarray,
        ids: np.ndarray,
        *,
        per_id: bool = True,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        """Logit without the intercept for rows ``dense [n, 13]``, ``ids [n, 26]`` (float64).

        ``per_id=False`` drops the id-specific deviations and biases, leaving what the latent
        groups alone explain: a weaker scorer, for comparison. ``groups`` (``[26, n]``, as the
        generator knows them) saves recovering each id's group from its id. Rows are processed in
        blocks small enough for the working arrays to stay in cache.
        """
        columns = np.ascontiguousarray(ids.T)  # no copy when ids is a transposed [26, n] array
        out = np.empty(len(dense))
        for rows in _blocks(len(out)):
            block_groups = None if groups is None else groups[:, rows]
            out[rows] = self._block_logit(dense[rows], columns[:, rows], block_groups, per_id)
        return out

    def groups(self, feature: int, ids: np.ndarray) -> np.ndarray:
        """The latent group of each id of feature ``feature`` (the missing id 0: group 0)."""
        return self.features[feature].groups_of_ids(ids)

    def _block_logit(
        self,
        dense: np.ndarray,
        columns: np.ndarray,
        groups: np.ndarray | None = None,
        per_id: bool = True,
    ) -> np.ndarray:
        n = len(dense)
        total = np.zeros((n, self.rank), np.float32)  # sum of the fields' latent vectors
        squares = np.zeros((n, self.rank), np.float32)  # sum of their elementwise squares
        scratch = np.empty((n, self.rank), np.float32)
        bias = np.zeros(n, np.float32)
        for f, (feature, column) in enumerate(zip(self.features, columns, strict=True)):
            group = feature.groups_of_ids(column) if groups is None else groups[f]
            vectors = self._feature_terms(feature, column, group, bias, per_id)
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
        self, feature: _Feature, ids: np.ndarray, groups: np.ndarray, bias: np.ndarray, per_id: bool
    ) -> np.ndarray:
        """Add the feature's biases to ``bias`` and return its latent vectors ``[n, rank]``.

        The ids' ``groups`` give the centres and group biases; one 64-bit hash of the id gives its
        bias (low half), each further hash 8 bytes of its deviation from the group's centre.
        """
        if not per_id:
            bias += feature.group_bias.take(groups)
            return feature.centres.take(groups, axis=0)
        base = ids.view(np.uint64) * _GOLDEN  # ids are non-negative int64
        h = mix64(base + feature.keys[0])
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
    contexts = int(params["contexts"]) if float(params["cooccurrence"]) > 0 else 0
    slots = None
    if contexts:
        slots = _rng(seed, _CONTEXT_STREAM, f).permutation(contexts).astype(np.float64)
    return _Feature(
        rows=rows,
        missing=missing,
        permutation=Bijection(rows - 1, [int(k) for k in keys[:4]]),
        uniform=params["ids"] == "uniform",
        exponent=float(params["zipf"]),
        slots=slots,
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


def draw_ranks(u: np.ndarray, n: int, exponent: float, scale: float = 1.0) -> np.ndarray:
    """Ranks in ``[0, n)`` from uniforms ``u * scale``: the floored inverse CDF of
    ``x**-exponent`` on ``[1, n + 1)``, a truncated Zipf law that costs one power per draw."""
    a = 1.0 - exponent
    if abs(a) < 1e-9:
        x = np.power(float(n + 1) ** scale, u)
    else:
        x = u * (scale * ((n + 1) ** a - 1.0))
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
        "Criteo-shaped synthetic clicks: power-law ids in latent groups that co-occur through "
        "row contexts, labels from a known low-rank teacher, so each split's Bayes-optimal AUC "
        "is known"
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
        "contexts": 256,  # latent row contexts tying ids of groups together (0: independent ids)
        "cooccurrence": 0.5,  # chance that a feature's id follows the row's context (0: never)
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
        _check(
            p,
            "contexts",
            0 <= p["contexts"] <= _MAX_CONTEXTS,
            f"must be in [0, {_MAX_CONTEXTS}] (0: no contexts)",
        )
        _check(p, "cooccurrence", 0 <= p["cooccurrence"] <= 1, "must be in [0, 1]")
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

    def batches_from(
        self, split: str, batch_size: int, *, epoch: int = 0, offset: int = 0
    ) -> Iterator[Batch]:
        """:meth:`batches` after its first ``offset`` rows, generating only the chunks from
        the one holding row ``offset`` on: the same rows and, for an ``offset`` that is a
        multiple of ``batch_size``, the same batches as the uninterrupted epoch."""
        if batch_size < 1:
            raise BenchsuiteError(f"batch_size must be >= 1, got {batch_size}")
        if epoch < 0:
            raise BenchsuiteError(f"epoch must be >= 0, got {epoch}")
        if not 0 <= offset <= self.num_samples(split):
            raise BenchsuiteError(
                f"offset must lie in [0, {self.num_samples(split)}] for split {split!r}, "
                f"got {offset}"
            )
        order = self._chunk_order(split, epoch)
        size = int(self.params["chunk_size"])
        rows = np.minimum(size, self.num_samples(split) - order * size)  # the last may be short
        ends = np.cumsum(rows)
        first = int(np.searchsorted(ends, offset, side="right"))  # the chunk holding row offset
        skip = offset - (int(ends[first - 1]) if first else 0)

        def chunks() -> Iterator[Batch]:
            for position in range(first, len(order)):
                batch = self.chunk(split, int(order[position])).batch()
                yield _rows(batch, skip, len(batch)) if position == first else batch

        return _rebatch(chunks(), batch_size)

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
        dense, ids, logit = self._draw_rows(rng, rows)
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
                self._pilot_logit(_rng(seed, _CALIBRATION_STREAM, i)) for i in range(_PILOT_PIECES)
            ]
            self._intercept = _calibrate(np.concatenate(logits), self.ctr)
        return self._intercept

    def groups(self, feature: int, ids: np.ndarray) -> np.ndarray:
        """The latent group of each id of table ``feature`` (the missing id 0: group 0)."""
        return self.teacher.groups(feature, np.asarray(ids))

    def positions(self, feature: int, ids: np.ndarray) -> np.ndarray:
        """Where on the row contexts' axis ``[0, 1)`` tied rows draw (the middle of) each id of
        table ``feature``: ``floor(w · contexts)`` is the context the id is tied to, and ids of
        two tables at the same position appear together. NaN for the missing id 0; an error
        without contexts."""
        f = self._tied_feature(feature)
        ranks = f.ranks_of_ids(np.asarray(ids))
        out = f.positions_of_ranks(np.maximum(ranks, 0))
        out[ranks < 0] = np.nan
        return out

    def ids_at(self, feature: int, positions: np.ndarray) -> np.ndarray:
        """The id of table ``feature`` that rows tied to their context at ``positions`` draw
        (those rows that are not missing it): ``ids_at(g, positions(f, x))`` are the ids of
        table ``g`` that appear with ids ``x`` of table ``f``."""
        f = self._tied_feature(feature)
        return f.permutation(f.ranks_at(np.asarray(positions, np.float64))) + 1

    def _tied_feature(self, feature: int) -> _Feature:
        f = self.teacher.features[feature]
        if f.slots is None:
            raise BenchsuiteError("synthetic ids have no context positions without contexts")
        return f

    def _pilot_logit(self, rng: np.random.Generator) -> np.ndarray:
        return self._draw_rows(rng, _PILOT_PIECE_ROWS)[2]

    def teacher_probability(self, batch: Batch, *, per_id: bool = True) -> np.ndarray:
        """The teacher's click probability for the rows of ``batch`` (float64 ``[n]``).

        ``per_id=False`` keeps only the latent groups' share: the best a model that knows the
        groups but not the ids could score. Each id's group is recovered from the id (inverting
        the keyed permutation), so this equals the generator's probability for its own rows.
        """
        dense = batch.dense.cpu().numpy().astype(np.float32, copy=False)
        ids = batch.ids.cpu().numpy()
        logit = self.teacher.logit(dense, ids, per_id=per_id) + self.intercept
        return 1.0 / (1.0 + np.exp(-logit))

    def _draw_rows(
        self, rng: np.random.Generator, rows: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``rows`` rows: dense values ``[rows, 13]``, ids ``[rows, 26]`` (a transposed view
        of a feature-major array, the layout the teacher reads fastest) and the teacher's logit
        without the intercept ``[rows]``.

        A block of rows at a time: its ids are drawn, and their groups (known from their ranks)
        handed straight to the teacher while they are in cache.
        """
        dense = self._dense(rng.random((rows, NUM_DENSE), dtype=np.float32))
        tied = self.teacher.features[0].slots is not None  # whether there are contexts at all
        position = rng.random(rows) if tied else None  # each row's context position w
        ids = np.empty((NUM_CATEGORICAL, rows), np.int64)
        groups = np.empty((NUM_CATEGORICAL, min(rows, _BLOCK)), np.int64)
        logit = np.empty(rows)
        for block in _blocks(rows):
            n = block.stop - block.start
            self._draw_block(rng, ids[:, block], groups[:, :n], position, block)
            logit[block] = self.teacher._block_logit(dense[block], ids[:, block], groups[:, :n])
        return dense, ids.T, logit

    def _draw_block(
        self,
        rng: np.random.Generator,
        ids: np.ndarray,
        groups: np.ndarray,
        position: np.ndarray | None,
        block: slice,
    ) -> None:
        """Fill a block's ids and groups ``[26, n]`` given the rows' context positions."""
        n = ids.shape[1]
        uniforms = rng.random((NUM_CATEGORICAL, n))
        tie = None
        if position is not None:
            contexts = int(self.params["contexts"])
            context, within = np.divmod(position[block] * contexts, 1.0)
            within *= _PERIODS  # period and place in it: stripe = period * contexts + slot
            base = np.floor(within)
            base *= contexts - 1
            base += within  # the stripe coordinate, less the slot
            context = context.astype(np.intp)
            share = round(float(self.params["cooccurrence"]) * 65536)  # in 1/65536ths
            tied = None  # whether each feature of each row follows the context (None: all do)
            if share < 65536:
                draws = rng.bit_generator.random_raw(-(-NUM_CATEGORICAL * n // 4))
                draws = draws.view(np.uint16)[: NUM_CATEGORICAL * n].reshape(NUM_CATEGORICAL, n)
                tied = draws < np.uint16(share)
                free = draws >= np.uint16(share)
        for f, feature in enumerate(self.teacher.features):
            if position is not None:
                follow = None if tied is None else (tied[f], free[f])
                tie = (base, feature.slots.take(context), follow)
            self._draw_ids(feature, uniforms[f], ids[f], groups[f], tie)

    def _draw_ids(
        self,
        feature: _Feature,
        u: np.ndarray,
        out: np.ndarray,
        groups: np.ndarray,
        tie: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None] | None,
    ) -> None:
        """Write one feature's ids and their groups from uniforms into ``out`` and ``groups``.

        Below the missing rate the id is the missing id 0 (group 0), else a power-law rank (or a
        uniform one) over ``[1, rows)``, drawn from the uniform's remainder above the missing
        rate, or, for a row tied to its context, from the context position; then permuted.
        ``tie``: the rows' stripe coordinate less the slot, their contexts' slots in this
        feature, and which rows follow their context and which do not (None: all follow).
        """
        missing = None
        if feature.missing > 0:
            missing = u < feature.missing
            u = (u - feature.missing) * (1.0 / (1.0 - feature.missing))
            np.maximum(u, 0.0, out=u)
        scale = 1.0  # of u
        if tie is not None:
            base, slots, follow = tie
            stripes = len(feature.slots) * _PERIODS
            scale = 1.0 / stripes
            t = np.add(base, slots)  # the tied rows' stripe coordinate
            if follow is not None:  # else u * stripes; exact, and faster than a masked copy
                tied, free = follow
                u = u * stripes
                u *= free
                t *= tied
                t += u
            u = t
        ranks = feature.draw(u, scale)
        np.add(feature.permutation(ranks), 1, out=out)
        feature.groups_of_ranks(ranks, out=groups)
        if missing is not None:
            np.putmask(out, missing, 0)
            np.putmask(groups, missing, 0)

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
