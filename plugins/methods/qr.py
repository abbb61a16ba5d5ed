"""``qr``: compositional embeddings from complementary partitions (quotient-remainder trick).

Shi, Mudigere, Naumov, Yang, "Compositional Embeddings Using Complementary Partitions for
Memory-Efficient Recommendation Systems", KDD 2020 (arXiv 1909.02107); reference code
facebookresearch/dlrm ``tricks/qr_embedding_bag.py``.

Method
------
A feature with ``n`` ids and ``c`` collisions stores a quotient table of ``⌈n/c⌉`` rows and a
remainder table of ``c`` rows; id ``x`` gets ``combine(Q[x // c], R[x mod c])``. The two
partitions are complementary: distinct ids give distinct ``(x // c, x mod c)`` pairs, so no two
ids share both rows. ``operation`` is ``mult`` (elementwise product, default), ``add`` (sum) or
``concat``.

``partitions = k`` generalises this (the paper's k complementary partitions, Hetu's
``compo_hash``) to a mixed-radix decomposition with radix ``m``: partition ``j`` of id ``x`` is
``(x // m^j) mod m`` for ``j < k-1`` and the last is ``x // m^(k-1)``. Partition ``j < k-1`` stores
``min(m, ⌈n/m^j⌉)`` rows (a digit that can never reach ``m`` needs fewer), the last ``⌈n/m^(k-1)⌉``.
For ``k = 2`` that is exactly the quotient (``⌈n/c⌉`` rows) and remainder (``c`` rows) with
``m = c``. ``mult`` multiplies the k vectors, ``add`` sums them, ``concat`` concatenates them.

Dimensions: ``mult``/``add`` tables have ``dim`` columns. ``concat`` must still return ``dim``
values per feature (our DLRM needs one width for every feature), so ``dim`` is split into k parts,
``d_j = ⌊dim/k⌋`` plus one for the last ``dim mod k`` partitions: the quotient (the most
significant digit, the partition with most rows) gets the larger part, e.g. ``d_q = ⌈dim/2⌉``,
``d_r = ⌊dim/2⌋`` for k = 2. ``concat`` needs ``dim >= partitions``.

Budget
------
Only tables with more than ``threshold`` ids (default 200, the reference's ``--qr-threshold``)
are compressed; smaller ones stay whole (one plain row per id, identity map). One radix ``m``
(the collisions ``c`` for k = 2) is shared by all compressed tables, as in Hetu's
``CompoEmbTrainer``:

- ``collisions: null`` (default): when the full tables fit the budget nothing is compressed.
  Otherwise ``m`` is the *smallest* integer ``>= 2`` (fewest collisions) for which
  ``Σ_f cost_f(m)`` fits, where a table above the threshold costs
  ``min(n·dim, Σ_j rows_j(m)·d_j)`` floats (it stays whole where compressing would not save
  memory) and a table at or below it ``n·dim``. The total is not monotone in ``m`` (small tables
  grow with ``m`` while big ones shrink), so instead of Hetu's binary search every ``m`` in
  ``[2, ⌈√n_max⌉]`` is evaluated at once (numpy, no tensors: 6,325 values for the 40M-row
  Criteo TB tables, a few milliseconds). No larger ``m`` is ever needed: above ``√n`` every
  table's cost is non-decreasing in ``m``.
  Then, with ``fill: true`` (default), the bytes left over at that ``m`` keep compressed tables
  whole, smallest extra cost first (the reference compresses every table above the threshold;
  ``fill: false`` does too): a shared ``m`` moves in coarse steps (``m = 2`` already halves
  every table), and the slack would otherwise be wasted.
- ``collisions: c`` uses ``m = c`` for every table above the threshold (where it saves memory),
  never fills, and raises :class:`Infeasible` when that does not fit the budget.

The budget also pays for the int64 buffers (id counts and radix ``[T]``, row offsets ``[k, T]``)
and, for mult/add, the identity row (below).

Initialisation
--------------
``init: symmetric`` (default) draws every stored value from a symmetric uniform law chosen so that
the *combined* vector has the variance ``1/(3n)`` of DLRM's full-table ``U(±√(1/n))`` (n = the
feature's id count), whatever the operation:

- ``mult``: every partition ``U(±b)``, ``b = √3·(3n)^(-1/(2k))``. The product of k independent
  ``U(±b)`` values has variance ``(b²/3)^k = 1/(3n)``. ``U(±√(1/n))`` per factor would give a
  product ``√(3n)`` times smaller than a full table's values (std 3e-8 instead of 2e-4 for a
  10M-row table), and ``U(±√(1/rows_j))`` per partition a tiny quotient factor next to a large
  remainder one. Equal bounds also give each factor, whose gradient is scaled by the others,
  the same start.
- ``add``: every partition ``U(±√(1/(k·n)))`` (the sum of k has variance ``1/(3n)``).
- ``concat``: every partition ``U(±√(1/n))`` (each column is distributed as in a full table).

``init: reference`` reproduces the reference ``QREmbeddingBag.reset_parameters``:
``nn.init.uniform_(w, sqrt(1/n))`` sets ``a = √(1/n), b = 1``, i.e. ``U(√(1/n), 1)``, all
positive, for every partition and operation. Whole tables are ``U(±√(1/n))`` in both modes, as
DLRM's ``create_emb`` gives its plain tables.

Layout and speed
----------------
Feature f's id x has the mixed-radix digits of x in base ``radix[f]`` (one exact integer
division per partition boundary, on int32 when every id and row index fits, else int64; a whole
feature has radix 1: digits 0, last digit x), and partition j's row is
``offsets[j, f] + digit_j``. All features share the weights, so a lookup is one gather per
weight, never a loop over features:

- ``mult``/``add``: ``weights[0]`` holds the last partition (quotients) of every compressed table
  and every whole table; ``weights[1]`` the other partitions (remainders), then an identity row
  (ones for mult, zeros for add) that whole features read there, so their output is their plain
  row, then a sink row that takes their gradient instead (never read): the identity row never
  changes, for one int add on the backward indices rather than a float pass zeroing gradients.
  Two gathers and one product or sum, written as one autograd function that works in place
  where it can (on CPU every fresh ``[B, T, dim]`` tensor costs page faults): under
  ``inference_mode``/``no_grad`` the product is taken in place; when training (k = 2) too, and
  backward gathers the remainder rows again from their small, cached table.
- ``concat``: with equal widths (``k`` divides ``dim``) every partition lives in ``weights[0]`` of
  width ``dim/k``, and one gather of ``[B, T, k]`` rows is ``[B, T, dim]`` without a copy;
  otherwise partition j lives in ``weights[j]`` and the parts are concatenated. A whole table
  stores its n rows in every partition (row ``x`` in each): exactly a full table cut into column
  blocks, the same bytes.

Gradients are sparse by default (``sparse: true``; dense with ``false``). The identity and sink
rows cost ``2·dim`` floats (mult/add, once any table is compressed). SGD and Adagrad leave the
identity row alone since its gradient is zero; an optimizer with weight decay would not.

Deviations from the reference code
----------------------------------
- Integer floor division (``torch.div(x, m, rounding_mode="floor")`` on int64) for the quotient.
  The reference's ``(x / c).long()`` divides in float32 and is off by one above 2^24
  (16,777,219 // 4 gives 4,194,305 instead of 4,194,304).
- Symmetric initialisation by default (above); the reference's all-positive
  ``U(√(1/n), 1)`` is ``init: reference``.
- ``concat`` splits ``dim`` between the partitions; the reference gives each partition ``dim``
  columns and makes DLRM's bottom MLP output ``2·dim``.
- The collisions are solved from the budget (Hetu's approach, with an exhaustive search since the
  total is not monotone) instead of the fixed ``--qr-collisions 4``; a table above the threshold
  whose compression would not save memory stays whole (the reference compresses it anyway), a
  budget that holds the full tables compresses nothing, and leftover bytes keep the smallest
  compressed tables whole (``fill``).
- One id per feature and no bags: the reference pools each partition before combining, which is
  only exact for one-hot features; here the combination is per id.
- The k-partition generalisation is not in the reference DLRM code; it follows the paper and
  Hetu's mixed-radix ``compo_hash``, with non-last partitions cut to the digits they can hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchsuite.api import (
    DataStats,
    Infeasible,
    Method,
    ParamError,
    Plan,
    SharedPlan,
    TablePlan,
    TableSpec,
)
from benchsuite.hookspecs import hookimpl
from benchsuite.layers import check_ids

_FLOAT = 4
_INT64 = 8
_OPERATIONS = ("mult", "add", "concat")
_INITS = ("symmetric", "reference")
_SEARCH_CHUNK = 1 << 14  # radix values evaluated at once in the budget search


# ---------------------------------------------------------------------------------------------
# Allocation: pure arithmetic, shared by plan() and build()
# ---------------------------------------------------------------------------------------------


def partition_dims(dim: int, partitions: int, operation: str) -> list[int]:
    """Columns of each partition: ``dim`` each, or ``dim`` split with the extra to the last."""
    if operation != "concat":
        return [dim] * partitions
    base, extra = divmod(dim, partitions)
    return [base + (1 if j >= partitions - extra else 0) for j in range(partitions)]


def partition_rows(n: int, m: int, partitions: int) -> list[int]:
    """Rows of each partition of a table of ``n`` ids at radix ``m``, least significant first.

    ``min(m, ⌈n/m^j⌉)`` for ``j < k-1`` and ``⌈n/m^(k-1)⌉`` for the last: for k = 2 the
    remainder ``[m]`` (when ``m <= n``) and the quotient ``⌈n/m⌉``.
    """
    rows, q = [], n  # q = ⌈n / m^j⌉
    for j in range(partitions):
        rows.append(q if j == partitions - 1 else min(m, q))
        q = -(-q // m)
    return rows


@dataclass(frozen=True)
class Allocation:
    """Per table: partition rows (None = whole); the shared radix m (None = nothing compressed)."""

    radix: int | None
    rows: tuple[tuple[int, ...] | None, ...]
    reasons: tuple[str, ...]  # why a whole table is whole ("" for compressed)
    dims: tuple[int, ...]


def _identity_floats(dims: Sequence[int], operation: str) -> int:
    """mult/add keep an identity row (whole features' other partitions) and a gradient-sink row
    once any table is compressed."""
    return 0 if operation == "concat" else 2 * dims[0]


def _buffer_bytes(num_tables: int, partitions: int) -> int:
    """int64 buffers: id counts and radix ``[T]``, row offsets ``[k, T]``."""
    return num_tables * _INT64 * (2 + partitions)


def _costs(ns: np.ndarray, radices: np.ndarray, dims: Sequence[int]) -> np.ndarray:
    """Floats of each compressed table ``[M, T]`` at each radix, vectorised ``partition_rows``."""
    m = radices[:, None]
    q = np.broadcast_to(ns[None, :], (len(radices), len(ns))).astype(np.int64)
    cost = np.zeros_like(q)
    k = len(dims)
    for j, d in enumerate(dims):
        cost += (q if j == k - 1 else np.minimum(m, q)) * d
        q = -(-q // m)
    return cost


class QR(Method):
    name = "qr"
    summary = (
        "Quotient-remainder compositional embeddings from complementary partitions "
        "(Shi, Mudigere, Naumov, Yang, KDD'20)"
    )
    defaults = {
        "operation": "mult",
        "partitions": 2,
        "collisions": None,
        "threshold": 200,
        "init": "symmetric",
        "fill": True,
        "sparse": True,
    }

    def validate(self) -> None:
        p = self.params
        if p["operation"] not in _OPERATIONS:
            raise ParamError(
                f"qr: 'operation' must be one of {', '.join(_OPERATIONS)}, got {p['operation']!r}"
            )
        if p["partitions"] < 2:
            raise ParamError(
                f"qr: 'partitions' must be an integer >= 2 (2 = quotient and remainder), "
                f"got {p['partitions']!r}"
            )
        c = p["collisions"]
        if c is not None and (not isinstance(c, int) or isinstance(c, bool) or c < 2):
            raise ParamError(
                "qr: 'collisions' must be null (solve from the budget) or an integer >= 2, "
                f"got {c!r}"
            )
        if p["threshold"] < 0:
            raise ParamError(
                f"qr: 'threshold' must be an integer >= 0 (tables with more ids are "
                f"compressed), got {p['threshold']!r}"
            )
        if p["init"] not in _INITS:
            raise ParamError(f"qr: 'init' must be one of {', '.join(_INITS)}, got {p['init']!r}")
        if not isinstance(p["fill"], bool):
            raise ParamError(f"qr: 'fill' must be true or false, got {p['fill']!r}")
        if not isinstance(p["sparse"], bool):
            raise ParamError(f"qr: 'sparse' must be true or false, got {p['sparse']!r}")

    # -- the allocation ------------------------------------------------------------------------

    @property
    def _op(self) -> str:
        return self.params["operation"]

    def _dims(self, dim: int) -> list[int]:
        k, op = self.params["partitions"], self.params["operation"]
        if op == "concat" and dim < k:
            raise ParamError(
                f"qr: 'operation' concat splits dim {dim} into 'partitions' {k} parts; "
                f"it needs partitions <= dim"
            )
        return partition_dims(dim, k, op)

    def _search(
        self, tables: Sequence[TableSpec], dim: int
    ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Compressible sizes, their whole costs, the fixed cost of the rest, and max radix."""
        threshold = self.params["threshold"]
        ns = np.array([t.rows for t in tables if t.rows > threshold], dtype=np.int64)
        fixed = sum(t.rows for t in tables if t.rows <= threshold) * dim
        top = max(2, math.isqrt(int(ns.max()) - 1) + 1) if len(ns) else 2  # ⌈√n_max⌉
        return ns, ns * dim, fixed, top

    def _totals(self, tables, dim, radices: np.ndarray) -> np.ndarray:
        """Floats of all weights at each radix (whole where compressing saves nothing)."""
        ns, whole, fixed, _ = self._search(tables, dim)
        if not len(ns):
            return np.full(len(radices), fixed, dtype=np.int64)
        dims = self._dims(dim)
        costs = _costs(ns, radices, dims)
        identity = (costs < whole[None, :]).any(axis=1) * _identity_floats(dims, self._op)
        return np.minimum(costs, whole[None, :]).sum(axis=1) + fixed + identity

    def _radices(self, tables, dim):
        """Candidate radices, in increasing order, a chunk at a time."""
        c = self.params["collisions"]
        if c is not None:
            yield np.array([c], dtype=np.int64)
            return
        top = self._search(tables, dim)[3]
        for start in range(2, top + 1, _SEARCH_CHUNK):
            yield np.arange(start, min(top, start + _SEARCH_CHUNK - 1) + 1, dtype=np.int64)

    def allocate(self, tables: Sequence[TableSpec], dim: int, budget: int) -> Allocation:
        """Partition rows per table for ``budget`` bytes (buffers included)."""
        k = self.params["partitions"]
        dims = self._dims(dim)
        buffers = _buffer_bytes(len(tables), k)
        floats = (budget - buffers) // _FLOAT
        full = sum(t.rows for t in tables) * dim
        radix = None
        if self.params["collisions"] is not None or full > floats:
            best = None
            for radices in self._radices(tables, dim):
                totals = self._totals(tables, dim, radices)
                fits = np.flatnonzero(totals <= floats)
                if len(fits):
                    radix = int(radices[fits[0]])
                    break
                i = int(totals.argmin())
                if best is None or totals[i] < best[1]:
                    best = (int(radices[i]), int(totals[i]))
            if radix is None:
                assert best is not None
                if not any(t.rows > self.params["threshold"] for t in tables):
                    raise Infeasible(
                        f"qr: a budget of {budget:,} bytes does not fit: no table has more than "
                        f"threshold={self.params['threshold']} ids, and whole they take "
                        f"{full * _FLOAT + buffers:,} bytes"
                    )
                how = (
                    f"collisions={self.params['collisions']}"
                    if self.params["collisions"] is not None
                    else f"the best radix ({best[0]})"
                )
                raise Infeasible(
                    f"qr: a budget of {budget:,} bytes does not fit: with {how} the tables take "
                    f"{best[1] * _FLOAT + buffers:,} bytes ({buffers:,} of them index buffers)"
                )
        threshold = self.params["threshold"]
        rows: list[tuple[int, ...] | None] = []
        reasons: list[str] = []
        for t in tables:
            parts = tuple(partition_rows(t.rows, radix, k)) if radix is not None else None
            if t.rows <= threshold:
                rows.append(None)
                reasons.append(f"whole: {t.rows} ids <= threshold {threshold}")
            elif parts is None:
                rows.append(None)
                reasons.append("whole: the budget holds the full tables")
            elif sum(r * d for r, d in zip(parts, dims, strict=True)) >= t.rows * dim:
                rows.append(None)
                reasons.append(f"whole: compressing at radix {radix} would not save memory")
            else:
                rows.append(parts)
                reasons.append("")
        if radix is not None and self.params["collisions"] is None and self.params["fill"]:
            slack = floats - _floats(tables, dim, dims, rows, self._op)
            _fill(tables, dim, dims, rows, reasons, slack)
        alloc = Allocation(radix, tuple(rows), tuple(reasons), tuple(dims))
        used = _floats(tables, dim, dims, rows, self._op) * _FLOAT + buffers
        assert used <= budget, f"qr: allocation of {used} bytes exceeds budget {budget}"
        return alloc

    # -- the Method API ------------------------------------------------------------------------

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        return QREmbedding(
            tables,
            self.allocate(tables, dim, budget),
            operation=self.params["operation"],
            init=self.params["init"],
            sparse=self.params["sparse"],
            generator=torch.Generator().manual_seed(seed),
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        alloc = self.allocate(tables, dim, budget)
        k, op = self.params["partitions"], self.params["operation"]
        per_table = []
        for t, parts, reason in zip(tables, alloc.rows, alloc.reasons, strict=True):
            if parts is None:
                per_table.append(
                    TablePlan(t.name, t.rows, t.rows, dim, t.rows * dim * _FLOAT, False, reason)
                )
                continue
            shapes = [f"{r}x{d}" for r, d in zip(parts, alloc.dims, strict=True)]
            if k == 2:
                how = f"quotient {shapes[1]} + remainder {shapes[0]}, {op} (c={alloc.radix})"
            else:
                how = f"{k} partitions {' + '.join(shapes)}, {op} (m={alloc.radix})"
            floats = sum(r * d for r, d in zip(parts, alloc.dims, strict=True))
            per_table.append(
                TablePlan(t.name, t.rows, sum(parts), max(alloc.dims), floats * _FLOAT, True, how)
            )
        buffers = SharedPlan(
            "id counts and radix per table; row offsets per partition",
            (2 + k, len(tables)),
            _buffer_bytes(len(tables), k),
            "int64",
        )
        shared = [buffers]
        if op != "concat" and any(p is not None for p in alloc.rows):
            shared.append(
                SharedPlan(
                    "identity and sink rows",
                    (2, dim),
                    _identity_floats(alloc.dims, op) * _FLOAT,
                    "identity (1 mult, 0 add) read by whole features; sink takes its gradient",
                )
            )
        return Plan(tuple(per_table), tuple(shared))

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        best = min(int(self._totals(tables, dim, r).min()) for r in self._radices(tables, dim))
        return best * _FLOAT + _buffer_bytes(len(tables), self.params["partitions"])


def _floats(tables: Sequence[TableSpec], dim: int, dims: Sequence[int], rows, op: str) -> int:
    """Floats of all weights: ``n·dim`` per whole table, ``Σ_j rows_j·d_j`` per compressed one,
    and the identity row (mult, add) when any table is compressed."""
    identity = _identity_floats(dims, op) if any(p is not None for p in rows) else 0
    return identity + sum(
        t.rows * dim if parts is None else sum(r * d for r, d in zip(parts, dims, strict=True))
        for t, parts in zip(tables, rows, strict=True)
    )


def _fill(tables, dim, dims, rows: list, reasons: list, slack: int) -> None:
    """Keep compressed tables whole with the floats left over, smallest extra cost first."""
    extra = {
        f: t.rows * dim - sum(r * d for r, d in zip(parts, dims, strict=True))
        for f, (t, parts) in enumerate(zip(tables, rows, strict=True))
        if parts is not None
    }
    for f in sorted(extra, key=lambda f: (extra[f], f)):
        if extra[f] > slack:
            break
        slack -= extra[f]
        rows[f] = None
        reasons[f] = "whole: the bytes left over at the shared radix hold it whole"


# ---------------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------------


class QREmbedding(nn.Module):
    """Compositional embeddings for ids ``[B, T]`` → ``[B, T, dim]`` (see the module docstring).

    Feature f's id x has the mixed-radix digits ``digit_j`` in base ``radix[f]`` (1 for a whole
    feature: digits 0 and last digit x); partition j's row is ``offsets[j, f] + digit_j``, and
    for a whole feature under concat ``offsets[j, f] + x`` in every partition.

    ``mult``/``add``: ``weights[0]`` holds the last partition (quotients) of every compressed
    feature and the rows of every whole one, ``weights[1]`` (when any feature is compressed) the
    other partitions (remainders), then the identity row that whole features read in every
    partition but the last (ones for mult, zeros for add; never updated) and the sink row that
    takes their gradient in its place (never read).
    ``concat``: with equal partition widths every partition lives in ``weights[0]`` of width
    ``dim/k``, and one gather returns ``[B, T, k, dim/k]``, i.e. ``[B, T, dim]`` without a copy;
    otherwise partition j lives in ``weights[j]``.
    """

    def __init__(
        self,
        tables: Sequence[TableSpec],
        alloc: Allocation,
        *,
        operation: str,
        init: str,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        k, dims, T = len(alloc.dims), alloc.dims, len(tables)
        self.operation = operation
        self.sparse = sparse
        concat = operation == "concat"
        shared = concat and len(set(dims)) == 1  # concat in one weight of width dim/k
        # the weight each partition lives in
        slot = [0 if shared else j for j in range(k)] if concat else [1] * (k - 1) + [0]
        offsets = [[0] * T for _ in range(k)]
        blocks: list[tuple[int, int, int, float, float]] = []  # weight, start, rows, low, high
        sizes = [0] * (max(slot) + 1)
        for f, (t, parts) in enumerate(zip(tables, alloc.rows, strict=True)):
            low, high = _init_range(init, operation, t.rows, k, parts is None)
            if parts is None:  # whole: every partition under concat, else the last one only
                parts = tuple(t.rows if concat or j == k - 1 else 0 for j in range(k))
            for j, rows in enumerate(parts):
                if rows:
                    offsets[j][f] = sizes[slot[j]]
                    blocks.append((slot[j], sizes[slot[j]], rows, low, high))
                    sizes[slot[j]] += rows
        if not concat and sizes[1] == 0:  # nothing compressed: a plain table
            sizes = sizes[:1]
        elif not concat:
            # The identity row, which whole features read in every partition but the last, and
            # after it the sink row, which takes their gradient instead (never read).
            for f, parts in enumerate(alloc.rows):
                if parts is None:
                    for j in range(k - 1):
                        offsets[j][f] = sizes[1]
            identity = 1.0 if operation == "mult" else 0.0
            blocks.append((1, sizes[1], 2, identity, identity))
            sizes[1] += 2
        radix = [1 if parts is None else alloc.radix for parts in alloc.rows]
        self.register_buffer("cardinalities", torch.tensor([t.rows for t in tables]))
        self.register_buffer("radix", torch.tensor(radix, dtype=torch.int64))
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.int64))
        widths = dims[:1] if shared else dims
        #: int32 index arithmetic when every id and every row index fits (fixed by the tables)
        self.int32_indices = max([t.rows for t in tables] + sizes) < 2**31
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(n, widths[w])) for w, n in enumerate(sizes)]
        )
        with torch.no_grad():
            for w, start, rows, low, high in blocks:
                block = self.weights[w][start : start + rows]
                if low == high:
                    block.fill_(low)
                else:
                    block.uniform_(low, high, generator=generator)

    def digits(self, ids: torch.Tensor) -> list[torch.Tensor]:
        """Mixed-radix digits of each id, least significant first: k tensors ``[B, T]``.

        Exact integer floor division (never float): on int32 when every id and row index fits,
        which halves the cost of the division on CPU, else on int64.
        """
        dtype = torch.int32 if self.int32_indices else torch.int64
        radix = self.radix.to(dtype)
        digits, rest = [], ids.to(dtype)
        for _ in range(self.offsets.shape[0] - 1):
            quotient = torch.div(rest, radix, rounding_mode="floor")
            digits.append(torch.addcmul(rest, quotient, radix, value=-1))  # rest mod radix
            rest = quotient
        return [*digits, rest]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        index = self.digits(ids)
        offsets = self.offsets.to(index[0].dtype)
        whole = self.radix == 1
        for j, digit in enumerate(index):
            digit.add_(offsets[j])
        if self.operation == "concat":
            if len(index) > 1:  # whole features: row x in every partition
                stride = whole.to(index[0].dtype)
                x = ids.to(index[0].dtype)
                for digit in index[:-1]:
                    digit.addcmul_(x, stride)
            if len(self.weights) == 1:  # [B, T, k] -> [B, T, k, dim/k] -> [B, T, dim]
                e = F.embedding(torch.stack(index, dim=-1), self.weights[0], sparse=self.sparse)
                return e.flatten(2)
            parts = [
                F.embedding(i, w, sparse=self.sparse)
                for i, w in zip(index, self.weights, strict=True)
            ]
            return torch.cat(parts, dim=-1)
        if len(self.weights) == 1:  # nothing compressed: a plain table
            return F.embedding(index[-1], self.weights[0], sparse=self.sparse)
        small = index[0] if len(index) == 2 else torch.stack(index[:-1], dim=2)
        if not torch.is_grad_enabled():  # inference: combine in place, nothing to save
            out = F.embedding(index[-1], self.weights[0])
            e = F.embedding(small, self.weights[1])
            if e.dim() == 4:
                e = _reduce(e, self.operation == "mult")
            return out.mul_(e) if self.operation == "mult" else out.add_(e)
        # whole features send their small-row gradient one row on, to the sink row
        sink = whole.to(small.dtype) if small.dim() == 2 else whole.to(small.dtype)[:, None]
        return _Lookup.apply(
            self.weights[0],
            self.weights[1],
            index[-1],
            small,
            sink,
            self.operation,
            self.sparse,
        )


class _Lookup(torch.autograd.Function):
    """Gather and combine for mult/add, with the fewest passes over the ``[B, T, dim]`` batch.

    ``big`` rows come from ``weight`` (last partition, whole tables), ``small`` rows from
    ``small_weight`` (the other partitions; ``[B, T]`` or ``[B, T, k-1]`` indices). Whole
    features read the identity row (ones for mult, zeros for add) as their small rows, so their
    output is their ``big`` row. Their gradient to it goes to the next row, the sink, which
    nothing reads (``sink`` adds 1 to their backward index): the identity row never changes,
    at the cost of one int add on the indices instead of a float pass zeroing gradients.
    Sparse or dense gradients.
    """

    @staticmethod
    def forward(ctx, weight, small_weight, index, small_index, sink, operation, sparse):
        mult = operation == "mult"
        big = F.embedding(index, weight)
        parts = F.embedding(small_index, small_weight)
        small = parts
        if parts.dim() == 4:  # k > 2: [B, T, k-1, dim]
            small = _reduce(parts, mult)
        ctx.mult, ctx.sparse, ctx.regather = mult, sparse, False
        ctx.sizes = (weight.shape[0], small_weight.shape[0])
        if not mult:
            ctx.save_for_backward(index, small_index, sink)
            return big.add_(small)
        if parts.dim() == 3:
            # k = 2: multiply in place; backward gathers the small rows again (a small, cached
            # table) instead of keeping a copy. Saving small_weight makes autograd check that
            # it did not change in between.
            ctx.regather = True
            ctx.save_for_backward(index, small_index, sink, big, small_weight)
            return small.mul_(big)
        ctx.save_for_backward(index, small_index, sink, big, small, parts)
        return big * small

    @staticmethod
    def backward(ctx, grad):
        if ctx.regather:
            index, small_index, sink, big, small_weight = ctx.saved_tensors
            # big is dead after this: reuse its memory. (A second backward through a retained
            # graph fails autograd's version check instead of reading it.)
            grad_small = big.mul_(grad)
            grad_big = F.embedding(small_index, small_weight).mul_(grad)
        elif ctx.mult:  # k > 2: d(Π_i e_i)/d e_j = Π_{i≠j} e_i
            index, small_index, sink, big, small, parts = ctx.saved_tensors
            grad_big, grad_combined = grad * small, big.mul_(grad)
            grad_small = torch.empty_like(parts)
            k1 = parts.shape[2]
            for j in range(k1):
                others = [parts[:, :, i] for i in range(k1) if i != j]
                torch.mul(grad_combined, others[0], out=grad_small[:, :, j])
                for other in others[1:]:
                    grad_small[:, :, j].mul_(other)
        else:
            index, small_index, sink = ctx.saved_tensors
            grad_big = grad_small = grad
            if small_index.dim() == 3:
                grad_small = grad.unsqueeze(2).expand(*small_index.shape, -1)
        grad_weight = torch.ops.aten.embedding_backward(
            grad_big, index, ctx.sizes[0], -1, False, ctx.sparse
        )
        grad_small_weight = torch.ops.aten.embedding_backward(
            grad_small, small_index + sink, ctx.sizes[1], -1, False, ctx.sparse
        )
        return grad_weight, grad_small_weight, None, None, None, None, None


def _reduce(parts: torch.Tensor, mult: bool) -> torch.Tensor:
    """Product or sum of ``[B, T, k-1, dim]`` over the partitions (faster than prod/sum(dim=2))."""
    out = parts[:, :, 0].clone()
    for j in range(1, parts.shape[2]):
        out.mul_(parts[:, :, j]) if mult else out.add_(parts[:, :, j])
    return out


def _init_range(init: str, operation: str, n: int, k: int, whole: bool) -> tuple[float, float]:
    """Uniform bounds for every partition of a table of ``n`` ids."""
    if whole:  # DLRM's plain tables, in both modes
        return -math.sqrt(1.0 / n), math.sqrt(1.0 / n)
    if init == "reference":  # nn.init.uniform_(w, sqrt(1/n)): a = sqrt(1/n), b = 1
        return math.sqrt(1.0 / n), 1.0
    if operation == "mult":  # product of k U(±b) has variance (b²/3)^k = 1/(3n)
        bound = math.sqrt(3.0) * (3.0 * n) ** (-1.0 / (2 * k))
    elif operation == "add":  # sum of k U(±b) has variance k·b²/3 = 1/(3n)
        bound = math.sqrt(1.0 / (k * n))
    else:  # concat: each column as in a full table
        bound = math.sqrt(1.0 / n)
    return -bound, bound


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [QR]
