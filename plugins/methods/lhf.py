"""``lhf``: learned hash functions (Ghaemmaghami, Ozdal, Komuravelli, Korchev, Mudigere, Nair,
Naumov, "Learning to Collide: Recommendation System Model Compression with Learned Hash
Functions", arXiv 2203.15837, 2022).

Instead of a random hash, each id of a compressed table is sent to a row chosen from data, so
that the ids forced to share a row are ones that behave alike. The paper's best mapping uses
"access frequency and a learned low dimension embedding". The paper has no public code; this is
the two-phase reconstruction of methods.md §6, with every open choice stated below.

**Phase one (statistics, computed by the host).** ``needs`` asks for the training id counts
(``StatRequest("frequencies")``) and for low-dimensional id embeddings from a short full-table
DLRM pre-training (``StatRequest("pretrained", {"dim": pretrained_dim, "samples":
pretrained_samples})``).

**The mapping (built once, then frozen).** For a compressed feature f with ``n_f`` ids, of which
``s_f`` were seen in training (count > 0), and ``m_f`` rows:

- *hot ids*: the ``h_f = min(floor(hot_share·m_f), m_f − 1)`` most frequent ids (ties: smaller
  id first) get a row of their own, rows ``[0, h_f)``. When every seen id fits (``s_f ≤ m_f``),
  all of them are hot (``h_f = s_f``). A table of one row keeps no map at all.
- *clustered ids*: seen ids that are not hot and whose pre-trained embedding is trained enough
  to mean something (below) are *candidates*; the ``K_f`` mapped ones (the budget may not allow
  all of them, see below) are clustered by k-means on their pre-trained embeddings into the
  ``c_f = m_f − h_f`` remaining rows: ids of one cluster share one row. When ``K_f ≤ c_f`` no
  clustering is needed: each mapped candidate gets a row of its own, in frequency order.
- *everything else* (unseen ids, count 0; seen ids not clustered) is hashed,
  ``row = base_f + ((a_f·x + b_f) mod P) mod r_f`` with P = 2^31 − 1 and ``a_f ∈ [1, P)``,
  ``b_f ∈ [0, P)`` from the seeded generator: into the cluster rows ``[h_f, m_f)`` when the
  candidates were clustered, into the rows no mapped id holds ``[h_f + K_f, m_f)`` when the
  candidates got rows of their own and some are left, and into all ``m_f`` rows when the hot ids
  fill the table.

**Phase two (training, done by the host).** The module is a ``[Σ m_f, dim]`` table, each
feature's block initialised ``U(±sqrt(1/m_f))`` as DLRM, looked up through the frozen map:
``e(x) = W[row_f(x)]``. Only W is learned (sparse gradients by default).

**How the map is stored (and counted).** A dense int32 id→row array costs 4 bytes per id; at
dim 16 the full table is 64 bytes per id, so at 16x (4 bytes per id) that map alone would eat
the whole budget. Instead only the ids that need a row are stored, as sorted int32 global ids
(``offset_f + x``), looked up with ``searchsorted``:

- hot ids: ``hot_keys`` (4 bytes per id); a hot id's row is its position in the sorted array
  shifted by a per-feature constant (``hot_shift``), so no row needs storing;
- clustered ids: ``cluster_keys`` + ``cluster_rows`` (8 bytes per id; the rows are global);
- hashed ids: nothing (hash constants only).

Tables kept whole use the identity (``a_f = 1, b_f = 0, r_f = n_f``) and no map; only the
features with a map are searched (``mapped_features``), which keeps lookups cheap when most
tables are small. ``plan()`` reports, per table, the map bytes next to the table bytes.

**Budget → sizes.** Buffers first: 6 int64 per feature (id counts, global id offsets, a, b,
hash bases, hash ranges) and 2 more per feature with a map (its index and hot shift). The rows
follow the cap rule of ``hashing``: the largest cap c (found by bisection) for which

    m_f = n_f                  if n_f ≤ c   (whole: identity, no map)
    m_f = min(c, max(1, s_f))  otherwise    (ids never seen get no rows of their own)

together with the map fits the budget. The map is ``4·Σ h_f`` (hot keys, always kept) plus
``8·K`` for the clustered ids, where the clustered keys may take at most ``map_share`` of the
budget left after the per-feature buffers B′, less the hot keys:
``K = min(Σ candidates, (map_share·B′ − 4·Σ h_f) // 8)``. When the map budget does not hold
every candidate, the most frequent candidates are mapped first, over all features at once
(counts of different features are comparable: each training row holds one id per feature;
ties: feature order, then frequency rank); the rest are hashed. Budget the map does not use
goes to rows. The bisection assumes bytes grow with the cap (a table turning whole at
``c = n_f`` can break that slightly; then a slightly smaller cap is chosen, never an
over-budget one). Below one row per table (plus buffers) the budget is ``Infeasible``.

**k-means (per table, vectorised torch).** Lloyd iterations (``iterations``, default 10) with
squared Euclidean distances computed as ``|c|² − 2·x·cᵀ`` by matmul in chunks. Initialisation:
k-means++ (default; D²-sampling, frequency-weighted when ``weighted``, batched: k/64 centres
drawn per round, so at most 64 rounds instead of k sequential draws) or ``random`` (k distinct
points drawn by the seeded generator). With ``weighted`` (default) centroids are count-weighted
means, so they follow where the accesses are (the access-weighted distortion is what a
collision costs). Centroids are fitted on at most ``max(fit_points, k)`` points (a seeded
uniform subsample); then every mapped id is assigned to its nearest centroid in chunks. An
empty cluster keeps its centroid. For many clusters (``k > 1024``) the k-means is two-level:
``ceil(sqrt(k))`` coarse clusters first, then each coarse group is split by its own k-means
into a share of the k rows proportional to its number of ids (largest remainders, at least one
per non-empty group, at most one per id), recursively; this keeps the distance work about
``n·sqrt(k)`` instead of ``n·k``. All randomness comes from ``torch.Generator().manual_seed(s)``
(s = the cell seed, or the ``seed`` parameter); the resulting map is kept in buffers.

**Cost.** ``build`` sorts every table's counts (``plan`` too) and runs the k-means; on two CPU
cores, Kaggle-shaped tables at scale 0.1 build in well under a second when few ids are
clustered, and in about 20 s when 3 million ids are clustered into 190,000 rows. A lookup is a
hash of every id plus two ``searchsorted`` over the keys for the features with a map: several
times the cost of a plain gather (see the method's report), but no Python loop.

**Parameters.**

- ``hot_share`` (0.5): share of each compressed table's rows reserved for the most frequent ids;
  the rest are cluster rows. 0 = clustering only; 1 = frequency hashing (one row is always
  left for the rest).
- ``map_share`` (0.5): at most this share of the budget (after buffers) is spent on the id map
  (hot keys + clustered keys and rows); 0 = hot ids only, the rest hashed.
- ``pretrained_dim`` (8), ``pretrained_samples`` (200,000): parameters of the "pretrained"
  statistic (d′ and the training rows of the pre-training run; the paper leaves both open).
- ``min_pretrain_hits`` (1.0): an id is clustered only when it is expected to occur at least
  this often in the pre-training sample, ``count·min(1, samples/rows_f) ≥ min_pretrain_hits``
  (``rows_f`` = Σ counts of the feature, i.e. the training rows). Rarer ids kept (almost) their
  random initialisation, which is near the origin: clustered, they would pile up in the few
  clusters near it; they are hashed instead. 0 clusters every seen id.
- ``iterations`` (10), ``init`` (``kmeans++`` | ``random``), ``fit_points`` (65,536),
  ``weighted`` (true): the k-means, above.
- ``seed`` (null: the cell's seed), ``sparse`` (true: sparse gradients for the table).

**Choices the paper leaves open, and deviations.** Everything above is inferred: the hot/cluster
split, k-means on the phase-one embeddings, frequency weighting, the hash fallback for unseen and
rare ids, the eligibility rule for clustering, the row allocation (cap rule over seen ids), the
sparse map storage and its budget share (methods.md's recipe assumes a dense ``4·n`` int32 map,
which does not fit at 16x and beyond at dim 16), and the two-level k-means for large k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from benchsuite.api import (
    BenchsuiteError,
    DataStats,
    Infeasible,
    Method,
    ParamError,
    Plan,
    SharedPlan,
    StatRequest,
    TablePlan,
    TableSpec,
)
from benchsuite.hookspecs import hookimpl
from benchsuite.layers import check_ids

_FLOAT = 4
_INT32 = 4
_INT64 = 8
#: int64 buffers per feature: id counts, global id offsets, a, b, hash bases, hash ranges.
_BUFFERS_PER_TABLE = 6
#: int64 buffers per feature with a map: its index and its hot shift.
_BUFFERS_PER_MAPPED = 2
#: The hash prime (2^31 − 1): a·x < 2^62 for ids x < 2^31.
PRIME = 2_147_483_647
#: Above this many clusters the k-means is two-level (coarse, then per coarse group).
FLAT_K = 1024
#: k-means++ draws its k centres in at most this many rounds (k / KPP_ROUNDS per round).
KPP_ROUNDS = 64
#: Distance scores computed at once when assigning points (floats).
_CHUNK = 1 << 22
_INITS = ("kmeans++", "random")


# -- the layout (shared by plan() and build()) ---------------------------------------------------


@dataclass(frozen=True)
class TableLayout:
    """Feature f's share: ``rows`` (m), ``hot`` (h) own rows, ``mapped`` (K) clustered-or-own
    mapped ids, and the hash range ``[hash_start, hash_start + hash_rows)`` of the rest."""

    ids: int
    seen: int
    rows: int
    hot: int
    candidates: int
    mapped: int
    hash_start: int
    hash_rows: int

    @property
    def whole(self) -> bool:
        return self.rows == self.ids

    @property
    def clusters(self) -> int:
        """Rows shared by clustered ids (0 when the mapped ids have rows of their own)."""
        return self.rows - self.hot if self.mapped > self.rows - self.hot else 0

    @property
    def map_bytes(self) -> int:
        return _INT32 * self.hot + 2 * _INT32 * self.mapped


@dataclass(frozen=True)
class Layout:
    tables: tuple[TableLayout, ...]
    dim: int
    cap: int
    orders: tuple[torch.Tensor | None, ...]  # ids by count, most frequent first (None: whole)

    @property
    def mapped_features(self) -> list[int]:
        """Features searched in the map: those with hot ids or clustering candidates."""
        return [f for f, t in enumerate(self.tables) if t.hot or t.candidates]

    @property
    def buffer_bytes(self) -> int:
        return _INT64 * (
            _BUFFERS_PER_TABLE * len(self.tables) + _BUFFERS_PER_MAPPED * len(self.mapped_features)
        )

    def table_bytes(self, t: TableLayout) -> int:
        return _FLOAT * self.dim * t.rows

    @property
    def total_bytes(self) -> int:
        return self.buffer_bytes + sum(self.table_bytes(t) + t.map_bytes for t in self.tables)


@dataclass(frozen=True)
class _Ranked:
    """One feature's counts sorted (most frequent first) and what they allow."""

    ids: int
    seen: int
    eligible: int  # ids with count >= the clustering threshold (a prefix of the ranking)
    order: torch.Tensor | None
    counts: torch.Tensor | None


def _rows_hot(ids: int, seen: int, cap: int, hot_share: float) -> tuple[int, int]:
    """Rows and hot ids of one feature under cap ``cap``."""
    if ids <= cap:
        return ids, 0
    rows = min(cap, max(1, seen))
    if rows == 1:
        return 1, 0
    if seen <= rows:
        return rows, seen
    return rows, min(math.floor(hot_share * rows), rows - 1)


def _table_layout(r: _Ranked, cap: int, hot_share: float, mapped: int | None) -> TableLayout:
    rows, hot = _rows_hot(r.ids, r.seen, cap, hot_share)
    candidates = 0 if rows == r.ids or rows == 1 else max(0, r.eligible - hot)
    k = candidates if mapped is None else mapped
    if rows == r.ids:
        start, span = 0, rows
    elif hot + k < rows:  # mapped ids all own a row; hash into the rows nobody holds
        start, span = hot + k, rows - hot - k
    elif hot < rows:  # cluster rows
        start, span = hot, rows - hot
    else:
        start, span = 0, rows
    return TableLayout(r.ids, r.seen, rows, hot, candidates, k, start, span)


# -- k-means -------------------------------------------------------------------------------------


def nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid (squared Euclidean) of every point, in chunks."""
    c2 = (centroids * centroids).sum(1)
    step = max(1, _CHUNK // max(1, centroids.shape[0]))
    out = torch.empty(points.shape[0], dtype=torch.int64)
    ct = centroids.t().contiguous()
    for lo in range(0, points.shape[0], step):
        scores = torch.addmm(c2, points[lo : lo + step], ct, alpha=-2.0)
        out[lo : lo + step] = scores.min(1).indices  # faster than argmin on CPU
    return out


def _init_centroids(
    points: torch.Tensor, weights: torch.Tensor, k: int, init: str, g: torch.Generator
) -> torch.Tensor:
    n = points.shape[0]
    if init == "random":
        return points[torch.randperm(n, generator=g)[:k]].clone()
    # k-means++ (D² sampling: next centres drawn with probability ∝ weight · D² to the chosen
    # ones), batched: k/KPP_ROUNDS centres per round, so there are at most KPP_ROUNDS rounds.
    sq = (points * points).sum(1)

    def dist2(idx: torch.Tensor) -> torch.Tensor:
        """Squared distance of every point to the nearest of ``points[idx]``."""
        d = torch.addmm(sq[idx][None, :], points, points[idx].t(), alpha=-2.0)
        return d.add_(sq[:, None]).amin(1).clamp_min_(0)

    def draw(p: torch.Tensor, count: int) -> torch.Tensor:
        """``count`` draws ∝ p (inverting the cumulative sum), duplicates merged."""
        cum = torch.cumsum(p.double(), 0)
        u = torch.rand(count, generator=g, dtype=torch.float64) * cum[-1]
        return torch.searchsorted(cum, u, right=True).clamp_(max=n - 1).unique()

    per_round = max(1, math.ceil(k / KPP_ROUNDS))
    chosen = draw(weights, 1)
    d2 = dist2(chosen)
    while chosen.numel() < k:
        p = d2 * weights  # zero at the chosen points: never drawn twice
        if not bool(p.sum() > 0):  # every point sits on a centre: any unchosen one will do
            p = weights.clone()
            p[chosen] = 0
        new = draw(p, min(per_round, k - chosen.numel()))
        chosen = torch.cat([chosen, new])
        d2 = torch.minimum(d2, dist2(new))
    return points[chosen].clone()


def kmeans(
    points: torch.Tensor,
    weights: torch.Tensor,
    k: int,
    *,
    iterations: int,
    init: str,
    fit_points: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """``k`` centroids fitted by weighted Lloyd iterations on a subsample of ``points``."""
    n = points.shape[0]
    size = min(n, max(fit_points, k))
    if size < n:
        pick = torch.randperm(n, generator=generator)[:size]
        points, weights = points[pick], weights[pick]
    centroids = _init_centroids(points, weights, k, init, generator)
    weighted = points * weights[:, None]
    for _ in range(iterations):
        labels = nearest(points, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, labels, weighted)
        mass = torch.zeros(k, dtype=points.dtype).index_add_(0, labels, weights)
        filled = mass > 0
        centroids = torch.where(filled[:, None], sums / mass.clamp_min(1e-30)[:, None], centroids)
    return centroids


def share_clusters(sizes: torch.Tensor, k: int) -> list[int]:
    """Split ``k`` clusters over groups of ``sizes`` points: proportional (largest remainders),
    at least 1 per non-empty group, at most one per point. Needs ``k <= sizes.sum()``."""
    n = int(sizes.sum())
    quota = sizes.double() * k / n
    share = quota.floor().long().clamp(max=sizes)
    share = torch.where(sizes > 0, share.clamp(min=1), share)
    rest = quota - quota.floor()
    while int(share.sum()) != k:
        diff = k - int(share.sum())
        if diff > 0:
            room = share < sizes
            key = torch.where(room, rest, torch.full_like(rest, -1.0))
            take = torch.argsort(key, descending=True, stable=True)[: min(diff, int(room.sum()))]
            share[take] += 1
        else:
            room = share > 1
            key = torch.where(room, rest, torch.full_like(rest, 2.0))
            take = torch.argsort(key, stable=True)[: min(-diff, int(room.sum()))]
            share[take] -= 1
        rest = torch.zeros_like(rest)  # later rounds: plain order
    return share.tolist()


def cluster(
    points: torch.Tensor,
    weights: torch.Tensor,
    k: int,
    *,
    iterations: int,
    init: str,
    fit_points: int,
    generator: torch.Generator,
    flat_k: int = FLAT_K,
) -> torch.Tensor:
    """A cluster label in ``[0, k)`` for every point (k < number of points)."""
    kw = {"iterations": iterations, "init": init, "fit_points": fit_points, "generator": generator}
    if k <= flat_k:
        return nearest(points, kmeans(points, weights, k, **kw))
    coarse = min(math.ceil(math.sqrt(k)), flat_k)
    group = nearest(points, kmeans(points, weights, coarse, **kw))
    sizes = torch.bincount(group, minlength=coarse)
    shares = share_clusters(sizes, k)
    order = torch.argsort(group, stable=True)
    labels = torch.empty(points.shape[0], dtype=torch.int64)
    first, base = 0, 0
    for size, share in zip(sizes.tolist(), shares, strict=True):
        idx = order[first : first + size]
        first += size
        if share == 0:
            continue
        if share >= size:
            sub = torch.arange(size)
        else:
            sub = cluster(points[idx], weights[idx], share, flat_k=flat_k, **kw)
        labels[idx] = base + sub
        base += share
    return labels


# -- the module ----------------------------------------------------------------------------------


class LearnedHashTables(nn.Module):
    """Per-feature tables in one ``[Σ m_f, dim]`` weight, reached through a frozen learned map.

    Row of id x of feature f (global id ``v = id_offsets[f] + x``): ``pos + hot_shift[j]`` when v
    is ``hot_keys[pos]`` (f = ``mapped_features[j]``); ``cluster_rows[pos]`` when v is
    ``cluster_keys[pos]``; otherwise ``hash_base[f] + ((a[f]·x + b[f]) mod P) mod hash_rows[f]``.
    """

    def __init__(
        self,
        layout: Layout,
        *,
        hot_keys: torch.Tensor,
        hot_shift: torch.Tensor,
        cluster_keys: torch.Tensor,
        cluster_rows: torch.Tensor,
        a: torch.Tensor,
        b: torch.Tensor,
        weight: torch.Tensor,
        sparse: bool,
    ) -> None:
        super().__init__()
        ids = torch.tensor([t.ids for t in layout.tables], dtype=torch.int64)
        rows = torch.tensor([t.rows for t in layout.tables], dtype=torch.int64)
        starts = torch.tensor([t.hash_start for t in layout.tables], dtype=torch.int64)
        self.register_buffer("cardinalities", ids)
        self.register_buffer("id_offsets", torch.cumsum(ids, 0) - ids)
        mapped = layout.mapped_features
        self.register_buffer("mapped_features", torch.tensor(mapped, dtype=torch.int64))
        self.register_buffer("hot_shift", hot_shift[mapped].clone())
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        self.register_buffer("hash_base", torch.cumsum(rows, 0) - rows + starts)
        self.register_buffer(
            "hash_rows", torch.tensor([t.hash_rows for t in layout.tables], dtype=torch.int64)
        )
        self.register_buffer("hot_keys", hot_keys)
        self.register_buffer("cluster_keys", cluster_keys)
        self.register_buffer("cluster_rows", cluster_rows)
        self.weight = nn.Parameter(weight)
        self.sparse = sparse

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Global row of every id, int64 ``[B, T]`` (ids assumed in range)."""
        rows = ids * self.a
        rows.add_(self.b).remainder_(PRIME).remainder_(self.hash_rows).add_(self.hash_base)
        if not self.mapped_features.numel():
            return rows
        # Only the features with a map are searched (whole tables and one-row tables have none).
        mf = self.mapped_features
        v = (ids.index_select(1, mf) + self.id_offsets[mf]).to(torch.int32)
        sub = rows.index_select(1, mf)
        if self.hot_keys.numel():
            pos = torch.searchsorted(self.hot_keys, v).clamp_(max=self.hot_keys.numel() - 1)
            sub = torch.where(self.hot_keys[pos] == v, pos + self.hot_shift, sub)
        if self.cluster_keys.numel():
            last = self.cluster_keys.numel() - 1
            pos = torch.searchsorted(self.cluster_keys, v).clamp_(max=last)
            sub = torch.where(self.cluster_keys[pos] == v, self.cluster_rows[pos].long(), sub)
        return rows.index_copy_(1, mf, sub)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        return F.embedding(self.rows(ids), self.weight, sparse=self.sparse)

    def extra_repr(self) -> str:
        return (
            f"rows={self.weight.shape[0]}, dim={self.weight.shape[1]}, "
            f"hot_keys={self.hot_keys.numel()}, cluster_keys={self.cluster_keys.numel()}"
        )


# -- the method ----------------------------------------------------------------------------------


class LHF(Method):
    name = "lhf"
    summary = (
        "Learned hash functions: hot ids own rows, the rest k-means-clustered by pre-trained "
        "embeddings (Ghaemmaghami et al., arXiv 2203.15837, 2022)"
    )
    defaults = {
        "hot_share": 0.5,
        "map_share": 0.5,
        "pretrained_dim": 8,
        "pretrained_samples": 200_000,
        "min_pretrain_hits": 1.0,
        "iterations": 10,
        "init": "kmeans++",
        "fit_points": 65_536,
        "weighted": True,
        "seed": None,
        "sparse": True,
    }
    needs = (
        StatRequest("frequencies"),
        StatRequest("pretrained", {"dim": 8, "samples": 200_000}),
    )

    def validate(self) -> None:
        p = self.params
        for key in ("hot_share", "map_share"):
            if not 0.0 <= p[key] <= 1.0:
                raise ParamError(f"lhf: {key!r} must be a number in [0, 1], got {p[key]!r}")
        for key in ("pretrained_dim", "pretrained_samples", "iterations", "fit_points"):
            if p[key] < 1:
                raise ParamError(f"lhf: {key!r} must be an integer >= 1, got {p[key]!r}")
        if p["min_pretrain_hits"] < 0:
            raise ParamError(
                f"lhf: 'min_pretrain_hits' must be a number >= 0, got {p['min_pretrain_hits']!r}"
            )
        if p["init"] not in _INITS:
            raise ParamError(f"lhf: 'init' must be one of {', '.join(_INITS)}, got {p['init']!r}")
        for key in ("weighted", "sparse"):
            if not isinstance(p[key], bool):
                raise ParamError(f"lhf: {key!r} must be true or false, got {p[key]!r}")
        if p["seed"] is not None and (
            not isinstance(p["seed"], int) or isinstance(p["seed"], bool) or p["seed"] < 0
        ):
            raise ParamError(
                f"lhf: 'seed' must be a non-negative integer or null, got {p['seed']!r}"
            )
        self.needs = (
            StatRequest("frequencies"),
            StatRequest(
                "pretrained", {"dim": p["pretrained_dim"], "samples": p["pretrained_samples"]}
            ),
        )

    # -- layout ---------------------------------------------------------------------------------

    def _ranked(self, tables: Sequence[TableSpec], stats: DataStats | None) -> list[_Ranked]:
        if stats is None or stats.frequencies is None:
            raise BenchsuiteError(
                "lhf: needs the training id frequencies (stats.frequencies), but none were "
                "given; the host computes them from the method's `needs`"
            )
        if len(stats.frequencies) != len(tables):
            raise BenchsuiteError(
                f"lhf: frequencies for {len(stats.frequencies)} features, "
                f"but there are {len(tables)} tables"
            )
        samples, hits = self.params["pretrained_samples"], self.params["min_pretrain_hits"]
        ranked = []
        for f, t in enumerate(tables):
            freq = stats.frequencies[f]
            if freq.numel() != t.rows:
                raise BenchsuiteError(
                    f"lhf: frequencies of feature {f} ({t.name}) hold {freq.numel()} counts for "
                    f"a table of {t.rows} ids"
                )
            counts, order = torch.sort(freq.to(torch.int64), descending=True, stable=True)
            seen = int((counts > 0).sum())
            total = int(counts.sum())
            # count · min(1, samples/total) >= hits, and count >= 1
            threshold = max(1.0, hits * max(1.0, total / samples))
            eligible = int((counts.double() >= threshold).sum())
            ranked.append(_Ranked(t.rows, seen, eligible, order, counts))
        return ranked

    def layout(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats | None
    ) -> Layout:
        """Rows, hot ids and mapped ids of every feature for ``budget`` bytes (no allocation)."""
        if sum(t.rows for t in tables) >= 2**31:
            raise Infeasible("lhf: the int32 id keys hold at most 2**31 - 1 ids in all")
        ranked = self._ranked(tables, stats)
        hot_share = self.params["hot_share"]
        buffers = _BUFFERS_PER_TABLE * _INT64 * len(tables)  # and 16 B per mapped feature
        map_budget = math.floor(self.params["map_share"] * max(0, budget - buffers))

        def sized(cap: int) -> tuple[list[TableLayout], int]:
            """Layouts (all candidates mapped) and the clustered ids the map budget allows."""
            lay = [_table_layout(r, cap, hot_share, None) for r in ranked]
            hot = sum(t.hot for t in lay)
            room = max(0, (map_budget - _INT32 * hot) // (2 * _INT32))
            return lay, min(sum(t.candidates for t in lay), room)

        def total(cap: int) -> int:
            lay, k = sized(cap)
            per_table = sum(
                _FLOAT * dim * t.rows
                + _INT32 * t.hot
                + (_BUFFERS_PER_MAPPED * _INT64 if t.hot or t.candidates else 0)
                for t in lay
            )
            return buffers + per_table + 2 * _INT32 * k

        least = total(1)
        if least > budget:
            raise Infeasible(
                f"lhf: a budget of {budget:,} bytes is below the {least:,} bytes of one row of "
                f"dim {dim} per table plus {buffers:,} bytes of buffers"
            )
        lo, hi = 1, max(t.rows for t in tables)
        while lo < hi:  # largest cap whose bytes fit (bytes grow with the cap, nearly always)
            mid = (lo + hi + 1) // 2
            if total(mid) <= budget:
                lo = mid
            else:
                hi = mid - 1
        lay, k = sized(lo)
        mapped = self._most_frequent(ranked, lay, k)
        final = tuple(
            _table_layout(r, lo, hot_share, m) for r, m in zip(ranked, mapped, strict=True)
        )
        orders = tuple(None if t.whole else r.order for r, t in zip(ranked, final, strict=True))
        result = Layout(final, dim, lo, orders)
        assert result.total_bytes == total(lo) <= budget
        return result

    @staticmethod
    def _most_frequent(ranked: Sequence[_Ranked], lay: Sequence[TableLayout], k: int) -> list[int]:
        """How many candidates of each feature are among the ``k`` most frequent of all."""
        wanted = [t.candidates for t in lay]
        if k >= sum(wanted):
            return wanted
        if k == 0:
            return [0] * len(lay)
        parts = [r.counts[t.hot : t.hot + t.candidates] for r, t in zip(ranked, lay, strict=True)]
        counts = torch.cat(parts)
        feature = torch.repeat_interleave(torch.arange(len(lay)), torch.tensor(wanted))
        top = torch.sort(counts, descending=True, stable=True).indices[:k]
        return torch.bincount(feature[top], minlength=len(lay)).tolist()

    # -- the API --------------------------------------------------------------------------------

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        layout = self.layout(tables, dim, budget, stats)
        p = self.params
        g = torch.Generator().manual_seed(seed if p["seed"] is None else p["seed"])
        n = len(tables)
        whole = torch.tensor([t.whole for t in layout.tables])
        a = torch.randint(1, PRIME, (n,), generator=g, dtype=torch.int64)
        b = torch.randint(0, PRIME, (n,), generator=g, dtype=torch.int64)
        a = torch.where(whole, torch.ones_like(a), a)  # identity for whole tables
        b = torch.where(whole, torch.zeros_like(b), b)
        weight = torch.empty(sum(t.rows for t in layout.tables), dim)
        row_offsets, start = [], 0
        for t in layout.tables:
            bound = math.sqrt(1.0 / t.rows)
            weight[start : start + t.rows].uniform_(-bound, bound, generator=g)
            row_offsets.append(start)
            start += t.rows

        need_embeddings = any(t.clusters for t in layout.tables)
        if need_embeddings and stats.embeddings is None:
            raise BenchsuiteError(
                "lhf: needs pre-trained id embeddings (stats.embeddings) to cluster ids, but "
                "none were given; the host computes them from the method's `needs`"
            )
        id_offset = 0
        hot_keys, hot_shift, cluster_keys, cluster_rows = [], [], [], []
        hot_start = 0
        for f, t in enumerate(layout.tables):
            order = layout.orders[f]
            hot_shift.append(row_offsets[f] - hot_start)
            if order is not None and t.hot:
                hot_keys.append(torch.sort(order[: t.hot]).values + id_offset)
                hot_start += t.hot
            if order is not None and t.mapped:
                ids = order[t.hot : t.hot + t.mapped]
                if t.clusters:
                    points = stats.embeddings[f]
                    if points.shape[0] != t.ids:
                        raise BenchsuiteError(
                            f"lhf: embeddings of feature {f} ({tables[f].name}) hold "
                            f"{points.shape[0]} rows for a table of {t.ids} ids"
                        )
                    weights = (
                        stats.frequencies[f][ids].to(torch.float32)
                        if p["weighted"]
                        else torch.ones(ids.numel())
                    )
                    rows = cluster(
                        points[ids].to(torch.float32).contiguous(),
                        weights,
                        t.clusters,
                        iterations=p["iterations"],
                        init=p["init"],
                        fit_points=p["fit_points"],
                        generator=g,
                    )
                else:
                    rows = torch.arange(t.mapped)
                keys, perm = torch.sort(ids + id_offset)
                cluster_keys.append(keys)
                cluster_rows.append(rows[perm] + t.hot + row_offsets[f])
            id_offset += t.ids

        def cat32(parts: list[torch.Tensor]) -> torch.Tensor:
            if not parts:
                return torch.zeros(0, dtype=torch.int32)
            return torch.cat(parts).to(torch.int32)

        return LearnedHashTables(
            layout,
            hot_keys=cat32(hot_keys),
            hot_shift=torch.tensor(hot_shift, dtype=torch.int64),
            cluster_keys=cat32(cluster_keys),
            cluster_rows=cat32(cluster_rows),
            a=a,
            b=b,
            weight=weight,
            sparse=p["sparse"],
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        layout = self.layout(tables, dim, budget, stats)
        per_table = []
        for spec, t in zip(tables, layout.tables, strict=True):
            table = layout.table_bytes(t)
            if t.whole:
                detail = "whole (identity), no map"
            else:
                parts = [f"{t.hot} hot ids own rows"] if t.hot else []
                if t.clusters:
                    parts.append(f"{t.mapped} ids k-means-clustered into {t.clusters} rows")
                elif t.mapped:
                    parts.append(f"{t.mapped} clustering candidates own rows")
                hashed = (
                    "unseen ids"
                    if t.seen - t.hot - t.mapped <= 0
                    else (f"unseen and {t.seen - t.hot - t.mapped} seen ids")
                )
                parts.append(f"{hashed} hashed into {t.hash_rows} rows")
                detail = "; ".join(parts) + f"; map {t.map_bytes:,} B vs table {table:,} B"
            per_table.append(
                TablePlan(
                    spec.name,
                    t.ids,
                    t.rows,
                    dim,
                    table + t.map_bytes,
                    compressed=not t.whole,
                    detail=detail,
                )
            )
        mapped = layout.mapped_features
        map_bytes = sum(t.map_bytes for t in layout.tables)
        table_bytes = sum(layout.table_bytes(t) for t in layout.tables)
        shared = (
            SharedPlan(
                "id counts, id offsets, hash a, b, bases, ranges; mapped features, hot shifts",
                (_BUFFERS_PER_TABLE * len(tables) + _BUFFERS_PER_MAPPED * len(mapped),),
                layout.buffer_bytes,
                f"int64; cap {layout.cap} rows; all maps {map_bytes:,} B vs tables "
                f"{table_bytes:,} B",
            ),
        )
        plan = Plan(tuple(per_table), shared)
        assert plan.total_bytes == layout.total_bytes
        return plan

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        """One row per table (a one-row table keeps no map) plus the buffers."""
        return len(tables) * (dim * _FLOAT + _BUFFERS_PER_TABLE * _INT64)


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [LHF]
