"""``lma``: LSH-based memory allocation, LMA / SCMA (Desai, Pan, Sun, Chou, Shrivastava,
arXiv 2103.06124, 2021).

Paper: "Semantically Constrained Memory Allocation (SCMA) for Embedding in Efficient
Recommendation Systems". Reference code: yanzhoupan/dlrm_ssm (``tricks/lsh_pp_pretaining.py``,
``tricks/min_hash_generator*.py``, ``tricks/lsh_embedding_bag.py``: a precomputed location table)
and apd10/universal_memory_allocation ``hmode="lma_hash"`` (``lma_hash_func_e2``: locations
computed on the fly from a 64-bit signature per id).

**Idea.** As in ROBE, every embedding is read from **one** learnable 1-D fp32 array ``M`` shared
by all features, in ``d/Z`` blocks of ``Z`` contiguous floats. Where ROBE hashes the id, LMA
hashes an LSH signature of the id's *context*: the MinHash of the set of (sampled) training
rows the id occurs in. Two ids whose row sets have Jaccard similarity ``J`` agree in one
MinHash value with probability ``J``, so when ``K`` values are combined into a location they
share that block with probability ``≈ J^K`` (plus the chance collision every hash has):
semantically similar ids share memory, unrelated ones rarely do.

**Per-id code.** Id ``x`` of feature ``f`` has the global id ``v = x + off_f``
(``off_f = Σ_{f'<f} n_{f'}``). A *coded* id keeps a code word of ``codes`` (default 4) small
integers of ``bits`` (default 16) bits each, one per MinHash column of its signature::

    code_k(v) = ((sig_k(v) · 2654435761) mod 2^32) >> (32 − bits)        k < codes

(Fibonacci hashing: the top ``bits`` bits of a multiplicative hash, so the small-biased minimum
of a large set still spreads over all codes). The codes are packed into one integer word of
``codes·bits`` bits (int8/16/32/64, the narrowest that holds them); the word ``−1`` (all ones)
is reserved for "no code" (a real word equal to −1 is stored as −2, one bit off).

**Locations, computed on the fly.** Block ``c = j // Z`` of a coded id combines the ``K``
(``num_hash``, default 2 as the reference's NUM_HASH) codes ``s_{c,k} = (c·K + k) mod codes``
(Horner in base ``2^bits``, modulo ``P``), then hashes the combination with the block index
(``P = 2,038,074,743``, apd10's prime)::

    x_c    ≡ (…(code_{s_{c,0}} · 2^bits + code_{s_{c,1}}) · 2^bits + …) (mod P)
    key_c  = (x_c · A_s + c · B + C) mod P
    s_c    = key_c mod (|M| − Z + 1)                      # block start, no wrap-around
    e_v[j] = M[s_{j//Z} + j mod Z]

The key depends on ``x_c mod P`` only, so the Horner sum is reduced mod P only where it could
reach 2^32 (never for ``K·bits ≤ 32``, the default): every product stays below 2^63.

An id without a code (never seen in the signature sample, or not among the coded ids below)
falls back to random placement, ROBE's hash of its global id:
``key_c = (v · A_r + c · B + C) mod P``. ``A_s, A_r, B, C`` are drawn from ``[1, P)`` by a
``torch.Generator`` seeded with the cell's seed (or the ``seed`` parameter).

With ``codes ≥ K · d/Z`` (the default at dim 16: 4 = 2 · 16/8) the blocks use disjoint codes,
so an id pair shares each block independently with probability ``≈ J^K``, as the PoC's
independent MinHash groups per coordinate; with fewer codes the blocks reuse codes in turn and
their sharing is correlated.

**Budget.** Memory is tight: at dim 16 the full table is 64 bytes per id, so at ``64x`` there
is one byte per id, less than any per-id code. Codes are therefore kept only for the most
frequent ids that have a signature, within ``code_share`` (default 0.25) of the budget:

- candidates: ids whose signature is not NO_SIGNATURE, ranked over all features by training
  frequency (most frequent first, ties by global id);
- a feature whose top ``m_f`` candidates are coded keeps them either *sparse* (sorted global
  ids, int32 — int64 above 2^31 ids — plus the code words, found by ``searchsorted``:
  ``m_f · (4 + w)`` bytes, w = word bytes) or *dense* (a code word for every one of its ids,
  −1 for those without a signature: ``n_f · w`` bytes), whichever is smaller; a dense feature
  codes all its candidates at no extra cost;
- the number ``m`` of top-ranked candidates coded is the largest whose cost fits
  ``min(code_share · budget, budget − buffers − 4·Z)`` (bisection; the cost is monotone in m),
  so every candidate is coded when that fits and the rest of the bytes go to ``M``;
- a forward pass finds the word of an id of a dense feature at ``dense_words[dense_off_f + x]``
  and of a sparse feature by ``searchsorted`` of v in the sorted ids (``dense_off_f`` is −1
  for a sparse feature and −2 for one without codes, so only sparse features are searched);
- ``|M| = (budget − buffers − code bytes) // 4``, capped at ``P + Z − 1`` (block starts are
  ``key mod (|M| − Z + 1)`` with ``key < P``). Buffers: the 4 hash constants and, per feature,
  the id count, offset and dense-table offset (int64 each).

``plan()`` reports the array and each kind of code as ``SharedPlan`` entries and per table how
many ids are coded; it shares :func:`lma_layout` with ``build()`` (both rank the candidates:
a sort of at most sample-rows × features values, fast). The smallest budget is the buffers plus
one block (no codes).

**Statistics.** ``needs = (frequencies, signatures[rows, hashes=codes])``: the first ``codes``
MinHash columns of each id's set of sampled rows, and the training frequencies to rank ids.
With ``code_share: 0`` nothing is coded (every id is placed at random: ROBE-Z) and nothing is
requested.

**Parameters.**

- ``num_hash`` (K, default 2): codes combined per block location (the reference's NUM_HASH);
  higher K makes sharing rarer and more selective (J^K).
- ``codes`` (default 4): MinHash values kept per coded id (the signature columns requested).
- ``bits`` (default 16, 1..32): bits per code; ``codes · bits ≤ 64``. ``K · bits`` bits of
  entropy enter each location: with fewer bits unrelated frequent ids collide through their
  truncated codes (probability 2^−(K·bits) per block) more than a random hash would make them.
- ``block`` (Z, default 8): floats per block; must divide the dimension.
- ``code_share`` (default 0.25, in [0, 1)): the largest share of the budget spent on codes.
- ``rows`` (default 125,000, the reference's NUM_PT): sampled training rows for the signatures.
- ``gradient`` (``auto``/``sparse``/``dense``, default auto): M's gradient is a scatter-add of
  the output gradient, sparse COO or dense; ``auto`` is dense while |M| ≤ 16 × the floats a
  batch reads (as the ``robe`` plugin).
- ``seed`` (default null: the cell's seed): fixes the hash constants and the initialisation.

**Speed.** Per lookup LMA adds to ROBE's hash a binary search over the sparse codes, two
gathers and the code arithmetic: on one CPU thread (batch 2048, dim 16, Kaggle-shaped tables at
scale 0.1) the forward took about 2.7× ROBE's time (≈ 3.5 ms vs 1.3 ms) and forward+backward
about 1.3× (≈ 7 ms vs 5 ms), where the backward (a scatter-add into M) dominates.

**Initialisation.** ``M ~ U(±sqrt(1/max_f n_f))``, as the reference (``create_emb``).

**What the reference does differently (and why this deviates).**

- The PoC (yanzhoupan/dlrm_ssm) precomputes an int64 ``N × d`` location table (8·N·d bytes:
  twice the full fp32 table) with ``loc = sig_j(v) mod |M|`` per *coordinate*, each ``sig_j`` a
  universal hash of ``K`` MinHash values from its own cubic hash family over the sampled doc
  ids. Here locations are computed on the fly from a compact code, per *block* of Z (fewer
  hashes, contiguous reads), only the most frequent signed ids keep a code, and every byte of
  it counts in the budget. ``|M|`` follows from the budget, not from ``N·d·rate``.
- The MinHash values come from the host (``min_t ((a_k·(t+1) + b_k) mod p)``, one linear hash
  per column) rather than the PoC's cubic family, and are truncated to ``bits`` bits.
- The PoC gives an unseen id a random one-element row set ``{r}`` (it then shares locations
  with ids that occur in that row only); here an unseen or uncoded id is hashed by its global
  id (ROBE), which the issue asks for.
- apd10's ``lma_hash`` keeps a 64-bit signature of 15 4-bit codes, selects ``keys_to_use``
  (8) codes per block with a hash (repeats possible) and combines them by shifts and XOR; here
  the ``K`` codes of block c are chosen round-robin (no repeats within a block, disjoint blocks
  when there are enough codes) and combined by Horner mod P. How apd10's signatures are built
  is not in its repository.
- The feature does not enter a coded id's location (as in both references: ids of different
  features with the same row set share memory); it does enter the random fallback through v.
- Ids are checked: an id outside [0, n_f) raises IndexError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from benchsuite.api import (
    NO_SIGNATURE,
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
from benchsuite.layers import GRADIENT_MODES as GRADIENTS
from benchsuite.layers import check_ids, gather_blocks

#: apd10's prime (``random_numbers[0]``), as the ``robe`` plugin.
PRIME = 2_038_074_743
#: Knuth's multiplicative constant: codes are the top bits of ``sig · FIB mod 2^32``.
FIB = 2_654_435_761
#: The code word of an id without a code.
NO_CODE = -1
#: ``dense_offsets`` of a feature whose codes are sparse (searched), and of one without codes.
SPARSE, UNCODED = -1, -2
_FLOAT = 4
_INT64 = 8
_INT64_MAX = 2**63 - 1
_CONSTANTS = 4  # A_s, A_r, B, C
_BUFFERS_PER_TABLE = 3  # id count, offset, dense-table offset
_WORD_DTYPES = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_NP_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_NP_SIGNED = {1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}


# -- allocation (shared by plan() and build()) ---------------------------------------------------


@dataclass(frozen=True)
class LmaLayout:
    """How a budget is spent: the array, and per feature the ids given a code and how stored."""

    array: int  # |M|, floats
    block: int  # Z
    word_bytes: int  # bytes of one code word
    key_bytes: int  # bytes of one sorted global id (sparse codes)
    rows: tuple[int, ...]  # n_f
    candidates: tuple[int, ...]  # ids of each feature with a signature
    coded: tuple[int, ...]  # ids of each feature given a code
    dense: tuple[bool, ...]  # whether feature f keeps a dense code table

    @property
    def array_bytes(self) -> int:
        return self.array * _FLOAT

    @property
    def sparse_ids(self) -> int:
        return sum(c for c, d in zip(self.coded, self.dense, strict=True) if not d)

    @property
    def dense_rows(self) -> int:
        return sum(n for n, d in zip(self.rows, self.dense, strict=True) if d)

    @property
    def sparse_bytes(self) -> int:
        return self.sparse_ids * (self.key_bytes + self.word_bytes)

    @property
    def dense_bytes(self) -> int:
        return self.dense_rows * self.word_bytes

    @property
    def buffer_bytes(self) -> int:
        return fixed_bytes(len(self.rows))

    @property
    def total_bytes(self) -> int:
        return self.array_bytes + self.sparse_bytes + self.dense_bytes + self.buffer_bytes


def fixed_bytes(num_tables: int) -> int:
    """Bytes of the hash constants and the per-feature int64 buffers."""
    return (_CONSTANTS + _BUFFERS_PER_TABLE * num_tables) * _INT64


def word_bytes(codes: int, bits: int) -> int:
    """Bytes of the narrowest signed integer holding ``codes · bits`` bits."""
    need = codes * bits
    return next(b for b in (1, 2, 4, 8) if 8 * b >= need)


def check_block(block: int, dim: int) -> None:
    """Raise ParamError unless the block size Z divides ``dim``."""
    if block < 1 or block > dim or dim % block:
        divisors = ", ".join(str(z) for z in range(1, dim + 1) if dim % z == 0)
        raise ParamError(
            f"lma: 'block' must divide the embedding dimension {dim}; "
            f"allowed: {divisors}, got {block!r}"
        )


def check_hash_range(tables: Sequence[TableSpec], dim: int) -> None:
    """Raise Infeasible when the random-placement hash could overflow int64."""
    ids = sum(t.rows for t in tables)
    if (ids + dim) * (PRIME - 1) + PRIME > _INT64_MAX:
        raise Infeasible(f"lma: {ids:,} ids overflow the int64 hash (v·A must stay < 2^63)")


def candidates(
    tables: Sequence[TableSpec], stats: DataStats | None, codes: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per feature: the ids with a signature (ascending) and their training frequencies."""
    if stats is None or stats.signatures is None or stats.frequencies is None:
        raise BenchsuiteError(
            "lma: needs the MinHash signatures and the id frequencies of the training split "
            "(stats.signatures, stats.frequencies), but they were not given; the host computes "
            "them from the method's `needs`"
        )
    if len(stats.signatures) != len(tables) or len(stats.frequencies) != len(tables):
        raise BenchsuiteError(
            f"lma: statistics for {len(stats.signatures)} signature and "
            f"{len(stats.frequencies)} frequency tables, but there are {len(tables)} features"
        )
    out = []
    for f, t in enumerate(tables):
        sig, freq = stats.signatures[f], stats.frequencies[f]
        if sig.dim() != 2 or sig.shape[0] != t.rows or sig.shape[1] < codes:
            raise BenchsuiteError(
                f"lma: signatures of feature {f} ({t.name}) have shape {tuple(sig.shape)}; "
                f"expected [{t.rows}, >= {codes}] (codes={codes} MinHash columns)"
            )
        if freq.numel() != t.rows:
            raise BenchsuiteError(
                f"lma: frequencies of feature {f} ({t.name}) hold {freq.numel()} counts for a "
                f"table of {t.rows} ids"
            )
        ids = torch.nonzero(sig[:, 0] != NO_SIGNATURE).flatten()
        out.append((ids, freq[ids].to(torch.int64)))
    return out


def _coded_counts(cands: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Per feature: the global ranks (frequency desc, global id asc) of its candidates, sorted."""
    freqs = torch.cat([fr for _, fr in cands]) if cands else torch.empty(0, dtype=torch.int64)
    order = torch.sort(-freqs, stable=True).indices  # features concatenated in global id order
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    out, start = [], 0
    for ids, _ in cands:
        out.append(rank[start : start + ids.numel()].sort().values)
        start += ids.numel()
    return out


def lma_layout(
    tables: Sequence[TableSpec],
    dim: int,
    budget: int,
    params: dict,
    stats: DataStats | None,
) -> LmaLayout:
    """The array size and the coded ids for ``budget`` bytes, codes and buffers included."""
    block = params["block"]
    check_block(block, dim)
    check_hash_range(tables, dim)
    rows = tuple(t.rows for t in tables)
    fixed = fixed_bytes(len(tables))
    if budget - fixed < block * _FLOAT:
        raise Infeasible(
            f"lma: a budget of {budget:,} bytes leaves {max((budget - fixed) // _FLOAT, 0)} "
            f"floats for the array after {fixed:,} bytes of hash constants and offsets; "
            f"block={block} needs at least {block} floats ({fixed + block * _FLOAT:,} bytes)"
        )
    wb = word_bytes(params["codes"], params["bits"])
    kb = 4 if sum(rows) <= 2**31 - 1 else _INT64
    none = tuple(0 for _ in tables)
    if params["code_share"] <= 0:
        coded, dense, cand = none, tuple(False for _ in tables), none
    else:
        cands = candidates(tables, stats, params["codes"])
        cand = tuple(int(ids.numel()) for ids, _ in cands)
        ranks = _coded_counts(cands)
        limit = min(int(params["code_share"] * budget), budget - fixed - block * _FLOAT)

        def counts(m: int) -> list[int]:
            return [int(torch.searchsorted(r, m)) for r in ranks]

        def cost(m: int) -> int:
            return sum(
                min(n * wb, k * (kb + wb)) if k else 0 for n, k in zip(rows, counts(m), strict=True)
            )

        lo, hi = 0, sum(cand)  # cost(lo) <= limit; find the largest such m
        if cost(hi) <= limit:
            lo = hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if cost(mid) <= limit else (lo, mid)
        picked = counts(lo)
        dense = tuple(k > 0 and n * wb <= k * (kb + wb) for n, k in zip(rows, picked, strict=True))
        coded = tuple(c if d else k for c, k, d in zip(cand, picked, dense, strict=True))
    layout = LmaLayout(0, block, wb, kb, rows, cand, coded, dense)
    spent = layout.total_bytes
    floats = min((budget - spent) // _FLOAT, PRIME + block - 1)
    return LmaLayout(int(floats), block, wb, kb, rows, cand, coded, dense)


def code_words(signatures: torch.Tensor, codes: int, bits: int) -> torch.Tensor:
    """Pack the first ``codes`` MinHash columns, truncated to ``bits`` bits, into signed words."""
    sig = signatures[:, :codes].cpu().numpy().astype(np.uint64)
    mixed = ((sig * np.uint64(FIB)) & np.uint64(0xFFFFFFFF)) >> np.uint64(32 - bits)
    shifts = (np.arange(codes, dtype=np.uint64) * np.uint64(bits))[None, :]
    words = np.bitwise_or.reduce(mixed << shifts, axis=1)
    wb = word_bytes(codes, bits)
    signed = words.astype(_NP_UNSIGNED[wb]).view(_NP_SIGNED[wb])
    signed = np.where(signed == NO_CODE, NO_CODE - 1, signed).astype(_NP_SIGNED[wb])
    return torch.from_numpy(signed)


def coded_ids(ids: torch.Tensor, freq: torch.Tensor, count: int) -> torch.Tensor:
    """The ``count`` most frequent of ``ids`` (ties: smallest id), in ascending id order."""
    order = torch.sort(-freq, stable=True).indices[:count]
    return ids[order].sort().values


# -- the module ----------------------------------------------------------------------------------


class LmaEmbedding(nn.Module):
    """LMA: blocks of Z read from one shared array at locations hashed from MinHash codes."""

    def __init__(
        self,
        tables: Sequence[TableSpec],
        dim: int,
        layout: LmaLayout,
        cands: Sequence[tuple[torch.Tensor, torch.Tensor]] | None,
        signatures: Sequence[torch.Tensor] | None,
        *,
        num_hash: int,
        codes: int,
        bits: int,
        gradient: str,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        sizes = torch.tensor([t.rows for t in tables], dtype=torch.int64)
        offsets = torch.cumsum(sizes, 0) - sizes
        self.register_buffer("cardinalities", sizes)
        self.register_buffer("offsets", offsets)
        # A_s (codes), A_r (random fallback), B (block), C.
        self.register_buffer(
            "hash", torch.randint(1, PRIME, (_CONSTANTS,), generator=generator, dtype=torch.int64)
        )
        word_dtype = _WORD_DTYPES[layout.word_bytes]
        key_dtype = torch.int32 if layout.key_bytes == 4 else torch.int64
        keys, sparse_words, dense_words, dense_offsets = [], [], [], []
        dense_start = 0
        for f, t in enumerate(tables):
            if not layout.coded[f]:
                dense_offsets.append(UNCODED)
                continue
            assert cands is not None and signatures is not None
            ids, freq = cands[f]
            chosen = coded_ids(ids, freq, layout.coded[f])
            words = code_words(signatures[f][chosen], codes, bits)
            if layout.dense[f]:
                table = torch.full((t.rows,), NO_CODE, dtype=word_dtype)
                table[chosen] = words
                dense_words.append(table)
                dense_offsets.append(dense_start)
                dense_start += t.rows
            else:
                keys.append((chosen + int(offsets[f])).to(key_dtype))
                sparse_words.append(words)
                dense_offsets.append(SPARSE)
        self.register_buffer("dense_offsets", torch.tensor(dense_offsets, dtype=torch.int64))
        self.register_buffer("keys", _cat(keys, key_dtype))
        self.register_buffer("sparse_words", _cat(sparse_words, word_dtype))
        self.register_buffer("dense_words", _cat(dense_words, word_dtype))
        bound = math.sqrt(1.0 / max(t.rows for t in tables))
        self.array = nn.Parameter(torch.empty(layout.array))
        with torch.no_grad():
            self.array.uniform_(-bound, bound, generator=generator)
        self.dim = dim
        self.block = layout.block
        self.num_hash = num_hash
        self.codes = codes
        self.bits = bits
        self.gradient = gradient

    def words(self, ids: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Each id's code word as int64 ``[B, T]``; NO_CODE (−1) for ids without a code."""
        word = torch.full_like(v, NO_CODE)
        if self.keys.numel():
            # Search only the features whose codes are sparse (dense_offsets == SPARSE).
            cols = torch.nonzero(self.dense_offsets == SPARSE).flatten()
            key = v[:, cols].to(self.keys.dtype)
            pos = torch.searchsorted(self.keys, key).clamp_(max=self.keys.numel() - 1)
            found = self.sparse_words[pos].to(torch.int64)
            word[:, cols] = torch.where(self.keys[pos] == key, found, NO_CODE)
        if self.dense_words.numel():
            dense = self.dense_offsets >= 0
            index = torch.where(dense, ids + self.dense_offsets, 0)
            word = torch.where(dense, self.dense_words[index].to(torch.int64), word)
        return word

    def combined(self, word: torch.Tensor) -> torch.Tensor:
        """``x_c ≡ Σ_k code_{s_{c,k}} · 2^(bits·(K−1−k)) (mod P)`` per block, ``[…, d/Z]``.

        Only ``x_c mod P`` matters (the location is ``(x_c·A_s + …) mod P``), so the Horner
        sum is reduced mod P only where it could otherwise reach 2^32 (never for K·bits ≤ 32):
        every value stays below 2^32, keeping ``x_c·A_s`` below 2^63.
        """
        device, bits, k = word.device, self.bits, self.num_hash
        blocks = torch.arange(self.dim // self.block, device=device)
        slot = (blocks[:, None] * k + torch.arange(k, device=device)) % self.codes
        shifts = slot * bits  # [d/Z, K]: where each chosen code sits in the word
        mask = (1 << bits) - 1
        w = word[..., None]
        x = (w >> shifts[:, 0]) & mask
        bound = 1 << bits  # x < bound
        for i in range(1, k):
            if bound << bits > 2**32:
                x = x.remainder_(PRIME)
                bound = PRIME
            x = x.mul_(1 << bits).add_((w >> shifts[:, i]) & mask)
            bound = bound << bits
        return x.remainder_(PRIME) if bound > 2**32 else x

    def block_starts(self, ids: torch.Tensor) -> torch.Tensor:
        """Start in M of each block, ``[B, T, d/Z]``, for (in-range) ids ``[B, T]``."""
        a_s, a_r, b, c = self.hash[0], self.hash[1], self.hash[2], self.hash[3]
        v = ids + self.offsets
        chunk = torch.arange(self.dim // self.block, device=ids.device) * b + c
        random_key = (v * a_r).unsqueeze(-1)
        if self.keys.numel() or self.dense_words.numel():
            word = self.words(ids, v)
            coded = (word != NO_CODE).unsqueeze(-1)
            key = torch.where(coded, self.combined(word) * a_s, random_key) + chunk
        else:
            key = random_key + chunk
        return key.remainder_(PRIME).remainder_(self.array.shape[0] - self.block + 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_ids(ids, self.cardinalities)
        return gather_blocks(self.array, self.block_starts(ids), self.block, self.gradient)

    def extra_repr(self) -> str:
        return (
            f"array={self.array.shape[0]}, dim={self.dim}, block={self.block}, "
            f"num_hash={self.num_hash}, codes={self.codes}x{self.bits}b, "
            f"sparse_coded={self.keys.numel()}, dense_rows={self.dense_words.numel()}"
        )


def _cat(parts: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    return torch.cat(parts).contiguous() if parts else torch.empty(0, dtype=dtype)


# -- the method ----------------------------------------------------------------------------------


class Lma(Method):
    name = "lma"
    summary = (
        "LMA/SCMA: shared array at locations hashed from MinHash context signatures "
        "(Desai, Pan, Sun, Chou, Shrivastava, arXiv 2103.06124, 2021)"
    )
    defaults = {
        "num_hash": 2,
        "codes": 4,
        "bits": 16,
        "block": 8,
        "code_share": 0.25,
        "rows": 125_000,
        "gradient": "auto",
        "seed": None,
    }

    def validate(self) -> None:
        p = self.params
        if p["num_hash"] < 1:
            raise ParamError(
                f"lma: 'num_hash' (K, codes combined per location) must be an integer >= 1, "
                f"got {p['num_hash']!r}"
            )
        if p["codes"] < p["num_hash"]:
            raise ParamError(
                f"lma: 'codes' (MinHash values kept per id) must be an integer >= num_hash "
                f"({p['num_hash']}), got {p['codes']!r}"
            )
        if not 1 <= p["bits"] <= 32:
            raise ParamError(f"lma: 'bits' must be an integer in 1..32, got {p['bits']!r}")
        if p["codes"] * p["bits"] > 64:
            raise ParamError(
                f"lma: 'codes' x 'bits' must be at most 64 (one 64-bit code word per id), "
                f"got {p['codes']} x {p['bits']} = {p['codes'] * p['bits']}"
            )
        if p["block"] < 1:
            raise ParamError(
                f"lma: 'block' must be an integer >= 1 that divides the embedding dimension "
                f"(e.g. 1, 8, 16 at dim 16), got {p['block']!r}"
            )
        if not 0.0 <= p["code_share"] < 1.0:
            raise ParamError(
                f"lma: 'code_share' must be a number in [0, 1) (the largest share of the budget "
                f"spent on codes), got {p['code_share']!r}"
            )
        if p["rows"] < 1:
            raise ParamError(
                f"lma: 'rows' (sampled rows for the signatures) must be an integer >= 1, "
                f"got {p['rows']!r}"
            )
        if p["gradient"] not in GRADIENTS:
            raise ParamError(
                f"lma: 'gradient' must be one of {', '.join(GRADIENTS)}, got {p['gradient']!r}"
            )
        if p["seed"] is not None and (
            not isinstance(p["seed"], int) or isinstance(p["seed"], bool) or p["seed"] < 0
        ):
            raise ParamError(
                f"lma: 'seed' must be a non-negative integer or null, got {p['seed']!r}"
            )
        self.needs = (
            (
                StatRequest("frequencies"),
                StatRequest("signatures", {"rows": p["rows"], "hashes": p["codes"]}),
            )
            if p["code_share"] > 0
            else ()
        )

    def layout(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats | None
    ) -> LmaLayout:
        return lma_layout(tables, dim, budget, self.params, stats)

    def build(
        self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats, seed: int
    ) -> nn.Module:
        layout = self.layout(tables, dim, budget, stats)
        p = self.params
        cands = candidates(tables, stats, p["codes"]) if any(layout.coded) else None
        h_seed = seed if p["seed"] is None else p["seed"]
        return LmaEmbedding(
            tables,
            dim,
            layout,
            cands,
            stats.signatures if cands is not None else None,
            num_hash=p["num_hash"],
            codes=p["codes"],
            bits=p["bits"],
            gradient=p["gradient"],
            generator=torch.Generator().manual_seed(h_seed),
        )

    def plan(self, tables: Sequence[TableSpec], dim: int, budget: int, stats: DataStats) -> Plan:
        layout = self.layout(tables, dim, budget, stats)
        z, wb, kb = layout.block, layout.word_bytes, layout.key_bytes
        blocks = dim // z
        per_table = []
        for f, t in enumerate(tables):
            coded, signed = layout.coded[f], layout.candidates[f]
            if layout.dense[f]:
                how = f"dense codes ({t.rows:,} x {wb} B) for all {coded:,} signed ids"
            elif coded:
                how = f"codes for the top {coded:,} of {signed:,} signed ids ({kb + wb} B each)"
            else:
                how = f"no codes ({signed:,} signed ids)"
            per_table.append(
                TablePlan(
                    t.name,
                    t.rows,
                    0,
                    dim,
                    0,
                    compressed=True,
                    detail=f"{blocks} block(s) of {z}; {how}; others at random",
                )
            )
        word = f"{self.params['codes']} x {self.params['bits']}-bit codes in an int{8 * wb}"
        shared = (
            SharedPlan(
                "LMA array M",
                (layout.array,),
                layout.array_bytes,
                f"fp32, shared by all {len(tables)} tables, U(±sqrt(1/max n))",
            ),
            SharedPlan(
                "sparse codes",
                (layout.sparse_ids,),
                layout.sparse_bytes,
                f"sorted global ids (int{8 * kb}) + {word}",
            ),
            SharedPlan("dense codes", (layout.dense_rows,), layout.dense_bytes, word),
            SharedPlan("hash constants", (_CONSTANTS,), _CONSTANTS * _INT64, "A_s, A_r, B, C"),
            SharedPlan(
                "id counts and offsets",
                (_BUFFERS_PER_TABLE, len(tables)),
                _BUFFERS_PER_TABLE * len(tables) * _INT64,
                "int64: id counts, offsets, dense-code offsets",
            ),
        )
        return Plan(tuple(per_table), shared)

    def min_bytes(self, tables: Sequence[TableSpec], dim: int) -> int:
        check_block(self.params["block"], dim)
        check_hash_range(tables, dim)
        return fixed_bytes(len(tables)) + self.params["block"] * _FLOAT


@hookimpl
def benchsuite_register_methods() -> list[type[Method]]:
    return [Lma]
