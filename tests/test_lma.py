"""The lma method: blocks of a shared array placed by MinHash codes of the ids' contexts."""

import pytest
import torch

from benchsuite.api import (
    NO_SIGNATURE,
    BenchsuiteError,
    Budget,
    DataStats,
    Infeasible,
    ParamError,
    StatRequest,
    TableSpec,
    full_table_bytes,
)
from benchsuite.measure.memory import module_bytes
from benchsuite.suite import SuiteError, _check_feasible
from benchsuite.testing import assert_conforms, synthetic_stats
from benchsuite_plugins.methods.lma import (
    FIB,
    NO_CODE,
    PRIME,
    Lma,
    code_words,
    fixed_bytes,
    lma_layout,
    word_bytes,
)

TABLES = [TableSpec("a", 10), TableSpec("b", 5000), TableSpec("c", 100_000), TableSpec("d", 3)]
DIM = 16
FULL = full_table_bytes(TABLES, DIM)
OFFSETS = [0, 10, 5010, 105_010]
STATS = synthetic_stats(TABLES)


def _budget(label):
    return Budget.parse(label).bytes_for(FULL)


def _build(budget=None, seed=0, stats=STATS, tables=TABLES, **params):
    budget = FULL // 16 if budget is None else budget
    return Lma(**params).build(tables, DIM, budget, stats, seed)


def _ids(n=64, seed=0, tables=TABLES):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, t.rows, (n,), generator=g) for t in tables], dim=1)


def _starts(module, ids):
    return module.block_starts(ids)


def _two_tables(signatures, rows=4000):
    """Tables ``x`` (with the given signatures for its first ids) and ``y`` (unseen)."""
    tables = [TableSpec("x", rows), TableSpec("y", 50)]
    sig = torch.full((rows, 4), NO_SIGNATURE, dtype=torch.int32)
    sig[: signatures.shape[0]] = signatures
    freq = torch.zeros(rows, dtype=torch.int64)
    freq[: signatures.shape[0]] = 5
    stats = DataStats(
        frequencies=[freq, torch.zeros(50, dtype=torch.int64)],
        signatures=[sig, torch.full((50, 4), NO_SIGNATURE, dtype=torch.int32)],
    )
    return tables, stats


def _code(sig, bits=16):
    return ((int(sig) * FIB) % 2**32) >> (32 - bits)


def _expected_start(module, v, sig_row, c):
    """Block c's start from the formulas, in Python integers (None signature: random)."""
    a_s, a_r, b, cc = (int(x) for x in module.hash)
    size, z = module.array.numel(), module.block
    if sig_row is None:
        key = (v * a_r + c * b + cc) % PRIME
    else:
        k, codes, bits = module.num_hash, module.codes, module.bits
        x = 0
        for i in range(k):
            x = x * 2**bits + _code(sig_row[(c * k + i) % codes], bits)
        key = (x * a_s + c * b + cc) % PRIME
    return key % (size - z + 1)


# -- budget ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"code_share": 0.0},
        {"block": 1, "num_hash": 3, "codes": 8, "bits": 8},
        {"block": 16, "codes": 2, "bits": 32, "code_share": 0.9},
    ],
)
@pytest.mark.parametrize("budget", ["4x", "16x", "64x", "123456"])
def test_module_fits_budget_and_plan_equals_built_bytes(params, budget):
    limit = int(budget) if budget.isdigit() else _budget(budget)
    module = _build(limit, **params)
    plan = Lma(**params).plan(TABLES, DIM, limit, STATS)
    used = module_bytes(module)
    assert used <= limit
    assert plan.total_bytes == used
    assert limit - used < 4  # the array takes every float left
    assert [t.table for t in plan.tables] == ["a", "b", "c", "d"]


def test_codes_stay_within_their_share_and_the_array_takes_the_rest():
    limit = _budget("64x")
    layout = lma_layout(TABLES, DIM, limit, Lma().params, STATS)
    codes = layout.sparse_bytes + layout.dense_bytes
    assert 0 < codes <= 0.25 * limit
    assert layout.array == (limit - codes - fixed_bytes(4)) // 4
    plan = Lma().plan(TABLES, DIM, limit, STATS)
    shared = {s.name: s.bytes for s in plan.shared}
    assert shared["sparse codes"] + shared["dense codes"] == codes
    assert shared["LMA array M"] == 4 * layout.array


def test_every_signed_id_is_coded_when_the_share_allows_and_the_rest_goes_to_the_array():
    limit = _budget("4x")
    layout = lma_layout(TABLES, DIM, limit, Lma().params, STATS)
    assert layout.coded == layout.candidates
    assert layout.sparse_bytes + layout.dense_bytes < 0.25 * limit


def test_at_a_tight_budget_the_most_frequent_signed_ids_get_the_codes():
    limit = _budget("64x")
    layout = lma_layout(TABLES, DIM, limit, Lma().params, STATS)
    c = 2  # the large table: sparse codes for its top ids only
    assert not layout.dense[c] and 0 < layout.coded[c] < layout.candidates[c]
    module = _build(limit)
    sig, freq = STATS.signatures[c], STATS.frequencies[c]
    coded = module.keys[(module.keys >= OFFSETS[c]) & (module.keys < OFFSETS[c] + 100_000)]
    coded = coded.long() - OFFSETS[c]
    assert coded.numel() == layout.coded[c]
    signed = torch.nonzero(sig[:, 0] != NO_SIGNATURE).flatten()
    rest = signed[~torch.isin(signed, coded)]
    assert int(freq[coded].min()) >= int(freq[rest].max())
    assert bool((sig[coded, 0] != NO_SIGNATURE).all())


def test_small_tables_keep_dense_codes_large_ones_sparse_sorted_ids():
    limit = _budget("64x")
    layout = lma_layout(TABLES, DIM, limit, Lma().params, STATS)
    assert layout.dense == (True, False, False, True)
    module = _build(limit)
    assert module.keys.dtype == torch.int32 and module.sparse_words.dtype == torch.int64
    assert bool((module.keys[1:] > module.keys[:-1]).all())
    assert module.dense_words.numel() == 10 + 3
    # Dense tables hold NO_CODE for ids without a signature.
    unseen = STATS.signatures[0][:, 0] == NO_SIGNATURE
    assert bool((module.dense_words[:10][unseen] == NO_CODE).all())


def test_array_is_capped_where_block_starts_cannot_reach():
    layout = lma_layout(TABLES, DIM, 10**11, Lma().params, STATS)
    assert layout.array == PRIME + 8 - 1


def test_min_bytes_is_one_block_without_codes_and_smaller_budgets_are_infeasible():
    smallest = Lma(block=4).min_bytes(TABLES, DIM)
    assert smallest == (4 + 3 * 4) * 8 + 4 * 4
    module = _build(smallest, block=4)
    assert module.array.numel() == 4 and module.keys.numel() == 0
    with pytest.raises(Infeasible, match="block=4 needs at least 4 floats"):
        _build(smallest - 1, block=4)


@pytest.mark.parametrize("block", [3, 32])
def test_block_not_dividing_dim_fails_before_training(block):
    message = r"lma: 'block' must divide the embedding dimension 16; allowed: 1, 2, 4, 8, 16"
    with pytest.raises(ParamError, match=message):
        Lma(block=block).min_bytes(TABLES, DIM)
    with pytest.raises(ParamError, match=message):
        Lma(block=block).plan(TABLES, DIM, FULL, STATS)
    with pytest.raises(SuiteError, match="lma: 'block' must divide"):
        _check_feasible(Lma(block=block), Budget.parse("16x"), TABLES, DIM, FULL, "lma")


# -- the mechanism ---------------------------------------------------------------------------


def test_ids_with_identical_signatures_share_every_block_across_features():
    sig = torch.randint(0, NO_SIGNATURE, (5, 4), dtype=torch.int32)
    stats = synthetic_stats(TABLES, hashes=4)
    stats.signatures[2][:5] = sig[:5]
    stats.signatures[2][5:10] = sig[:5]  # ids 5..9 share ids 0..4's row sets
    stats.signatures[1][:5] = sig[:5]  # and so do ids 0..4 of another feature
    for f in (1, 2):
        stats.frequencies[f][:10] = 10**7
    module = _build(stats=stats)
    ids = torch.zeros(5, 4, dtype=torch.int64)
    ids[:, 2] = torch.arange(5)
    other = ids.clone()
    other[:, 2] += 5
    a, b = _starts(module, ids), _starts(module, other)
    assert torch.equal(a[:, 2], b[:, 2])
    ids[:, 1] = torch.arange(5)
    assert torch.equal(_starts(module, ids)[:, 1], a[:, 2])
    assert torch.equal(module(ids)[:, 1], module(other)[:, 2])


def test_unrelated_ids_rarely_share_a_block():
    g = torch.Generator().manual_seed(1)
    sig = torch.randint(0, NO_SIGNATURE, (4000, 4), generator=g, dtype=torch.int32)
    tables, stats = _two_tables(sig)
    module = Lma().build(tables, DIM, 2_000_000, stats, 0)
    assert module.dense_words.numel() == 4000  # every id of x has a code
    ids = torch.stack([torch.arange(4000), torch.zeros(4000, dtype=torch.int64)], 1)
    starts = _starts(module, ids)[:, 0]  # [4000, 2]
    for c in range(2):
        distinct = starts[:, c].unique().numel()
        assert distinct > 0.97 * 4000  # about what a random hash into |M| gives


@pytest.mark.parametrize("jaccard", [0.3, 0.6, 0.9])
def test_sharing_probability_is_about_jaccard_to_the_k(jaccard):
    # Pairs (2i, 2i+1) whose signature columns agree independently with probability J.
    g = torch.Generator().manual_seed(2)
    pairs = 1500
    first = torch.randint(0, NO_SIGNATURE, (pairs, 4), generator=g, dtype=torch.int32)
    other = torch.randint(0, NO_SIGNATURE, (pairs, 4), generator=g, dtype=torch.int32)
    agree = torch.rand(pairs, 4, generator=g) < jaccard
    second = torch.where(agree, first, other)
    sig = torch.stack([first, second], 1).reshape(2 * pairs, 4)
    tables, stats = _two_tables(sig)
    module = Lma().build(tables, DIM, 2_000_000, stats, 0)
    ids = torch.stack([torch.arange(2 * pairs), torch.zeros(2 * pairs, dtype=torch.int64)], 1)
    starts = _starts(module, ids)[:, 0].reshape(pairs, 2, 2)
    shared = (starts[:, 0] == starts[:, 1]).float()  # [pairs, blocks]
    # Block 0 combines codes 0 and 1, block 1 codes 2 and 3: each shared w.p. J^2.
    expected = jaccard**2
    assert abs(float(shared.mean()) - expected) < 0.04
    assert torch.equal(shared[:, 0].bool(), agree[:, 0] & agree[:, 1])
    assert torch.equal(shared[:, 1].bool(), agree[:, 2] & agree[:, 3])


@pytest.mark.parametrize(
    "params", [{}, {"num_hash": 3, "codes": 5, "bits": 12}, {"bits": 32, "codes": 2}]
)
def test_coded_locations_follow_the_formula(params):
    p = dict(Lma.defaults, **params)
    codes = p["codes"]
    g = torch.Generator().manual_seed(3)
    sig = torch.randint(0, NO_SIGNATURE, (300, codes), generator=g, dtype=torch.int32)
    tables = [TableSpec("x", 300)]
    stats = DataStats(frequencies=[torch.ones(300, dtype=torch.int64)], signatures=[sig])
    module = Lma(**params).build(tables, DIM, 300 * DIM * 4, stats, 0)
    assert module.keys.numel() + module.dense_words.numel() == 300
    ids = torch.arange(300)[:, None]
    starts = _starts(module, ids)
    blocks = DIM // p["block"]
    for x in range(0, 300, 7):
        row = [int(s) for s in sig[x]]
        want = [_expected_start(module, x, row, c) for c in range(blocks)]
        assert starts[x, 0].tolist() == want


def test_unseen_ids_fall_back_to_a_random_hash_of_the_global_id():
    module = _build()
    ids = _ids(40)
    sig = [STATS.signatures[f][ids[:, f]] for f in range(4)]
    starts = _starts(module, ids)
    words = module.words(ids, ids + module.offsets)
    checked = 0
    for row in range(40):
        for f in range(4):
            v = int(ids[row, f]) + OFFSETS[f]
            coded = int(words[row, f]) != NO_CODE
            seen = int(sig[f][row, 0]) != NO_SIGNATURE
            assert coded <= seen  # an unseen id never has a code
            row_sig = [int(s) for s in sig[f][row]] if coded else None
            want = [_expected_start(module, v, row_sig, c) for c in range(2)]
            assert starts[row, f].tolist() == want
            checked += not coded
    assert checked > 10


def test_uncoded_signed_ids_beyond_the_budget_also_hash_randomly():
    module = _build(_budget("64x"))
    sig, freq = STATS.signatures[2], STATS.frequencies[2]
    signed = torch.nonzero(sig[:, 0] != NO_SIGNATURE).flatten()
    rarest = signed[torch.argsort(freq[signed])[:20]]
    ids = torch.zeros(20, 4, dtype=torch.int64)
    ids[:, 2] = rarest
    words = module.words(ids, ids + module.offsets)
    assert bool((words[:, 2] == NO_CODE).all())
    starts = _starts(module, ids)
    for row, x in enumerate(rarest.tolist()):
        want = [_expected_start(module, x + OFFSETS[2], None, c) for c in range(2)]
        assert starts[row, 2].tolist() == want


def test_embedding_reads_contiguous_blocks_at_the_starts():
    module = _build(block=4)
    ids = _ids(8)
    out = module(ids).detach().reshape(8, 4, 4, 4)
    starts = _starts(module, ids)
    flat = module.array.detach()
    window = flat[starts.unsqueeze(-1) + torch.arange(4)]
    assert torch.equal(out, window)


def test_code_words_pack_truncated_multiplicative_hashes():
    sig = torch.tensor([[1, 2, 3, 4], [NO_SIGNATURE - 1, 0, 77, 123456789]], dtype=torch.int32)
    words = code_words(sig, 4, 16)
    assert words.dtype == torch.int64
    for r in range(2):
        want = sum(_code(sig[r, k]) << (16 * k) for k in range(4))
        assert int(words[r]) % 2**64 == want
    assert code_words(sig, 2, 8).dtype == torch.int16
    assert word_bytes(4, 16) == 8 and word_bytes(3, 8) == 4 and word_bytes(1, 8) == 1


def test_a_real_code_word_never_equals_no_code():
    # Find a signature value whose 8-bit code is 255: one code of 8 bits -> int8 word -1.
    value = next(s for s in range(10**6) if _code(s, 8) == 255)
    words = code_words(torch.tensor([[value]], dtype=torch.int32), 1, 8)
    assert int(words[0]) == NO_CODE - 1


def test_needs_frequencies_and_codes_signature_columns_of_the_sampled_rows():
    assert Lma().needs == (
        StatRequest("frequencies"),
        StatRequest("signatures", {"rows": 125_000, "hashes": 4}),
    )
    assert Lma(codes=6, bits=8, rows=1000).needs[1].params == {"rows": 1000, "hashes": 6}
    assert Lma(code_share=0.0).needs == ()


def test_without_codes_it_builds_without_statistics_and_places_every_id_at_random():
    module = _build(stats=DataStats(), code_share=0.0)
    ids = _ids(10)
    starts = _starts(module, ids)
    for row in range(10):
        for f in range(4):
            v = int(ids[row, f]) + OFFSETS[f]
            assert starts[row, f].tolist() == [
                _expected_start(module, v, None, c) for c in range(2)
            ]


def test_missing_or_mismatched_statistics_are_reported():
    with pytest.raises(BenchsuiteError, match="lma: needs the MinHash signatures"):
        _build(stats=DataStats())
    short = synthetic_stats(TABLES, hashes=2)
    with pytest.raises(BenchsuiteError, match=r"expected \[10, >= 4\]"):
        _build(stats=short)


# -- training, determinism, ids --------------------------------------------------------------


@pytest.mark.parametrize("gradient", ["sparse", "dense", "auto"])
def test_gradient_is_a_scatter_add_of_the_output_gradient(gradient):
    module = _build(fixed_bytes(4) + 30 * 4 + 0, gradient=gradient, block=4, code_share=0.5)
    ids = _ids(64)
    weights = torch.randn(64, 4, DIM, generator=torch.Generator().manual_seed(3))
    (module(ids) * weights).sum().backward()
    grad = module.array.grad
    assert grad.is_sparse == (gradient == "sparse")
    positions = (_starts(module, ids).unsqueeze(-1) + torch.arange(4)).reshape(-1)
    reference = torch.zeros(module.array.numel(), dtype=torch.float64)
    reference.index_add_(0, positions, weights.reshape(-1).double())
    assert torch.allclose(grad.to_dense().double(), reference, atol=1e-5)


def test_init_is_uniform_within_sqrt_one_over_largest_table():
    array = _build().array.detach()
    bound = (1 / 100_000) ** 0.5
    assert array.abs().max() <= bound and array.abs().max() > 0.9 * bound


def test_same_seed_same_state_other_seed_other_constants_same_codes():
    a, b, c = _build(seed=1), _build(seed=1), _build(seed=2)
    ids = _ids()
    assert torch.equal(a(ids), b(ids)) and torch.equal(a.hash, b.hash)
    assert not torch.equal(a.hash, c.hash) and not torch.equal(a.array, c.array)
    assert torch.equal(a.keys, c.keys) and torch.equal(a.sparse_words, c.sparse_words)
    assert all(1 <= int(x) < PRIME for x in a.hash)


def test_seed_parameter_overrides_cell_seed():
    first = Lma(seed=5).build(TABLES, DIM, FULL // 8, STATS, 1)
    second = Lma(seed=5).build(TABLES, DIM, FULL // 8, STATS, 2)
    assert torch.equal(first.hash, second.hash) and torch.equal(first.array, second.array)


def test_out_of_range_id_is_rejected_naming_the_feature():
    module = _build()
    with pytest.raises(IndexError, match="id 5000 of feature 1 is out of range"):
        module(torch.tensor([[0, 5000, 0, 0]]))
    with pytest.raises(IndexError, match="id -1 of feature 3 is out of range"):
        module(torch.tensor([[0, 0, 0, -1]]))


# -- parameters and contract -----------------------------------------------------------------


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"num_hash": 0}, "lma: 'num_hash' .* must be an integer >= 1"),
        ({"codes": 1}, r"lma: 'codes' .* must be an integer >= num_hash \(2\)"),
        ({"bits": 0}, "lma: 'bits' must be an integer in 1..32"),
        ({"bits": 33}, "lma: 'bits' must be an integer in 1..32"),
        ({"codes": 5, "bits": 16}, "'codes' x 'bits' must be at most 64"),
        ({"block": 0}, "lma: 'block' must be an integer >= 1"),
        ({"code_share": 1.0}, r"lma: 'code_share' must be a number in \[0, 1\)"),
        ({"code_share": -0.1}, r"lma: 'code_share' must be a number in \[0, 1\)"),
        ({"rows": 0}, "lma: 'rows' .* must be an integer >= 1"),
        ({"gradient": "coo"}, "lma: 'gradient' must be one of auto, sparse, dense"),
        ({"seed": -1}, "lma: 'seed' must be a non-negative integer or null"),
        ({"bits": "16"}, "'lma' parameter 'bits' must be int"),
        ({"k": 2}, "has no parameter 'k'; allowed: bits, block, code_share, codes, gradient"),
    ],
)
def test_bad_parameters_are_rejected_naming_parameter_and_allowed_values(params, fragment):
    with pytest.raises(ParamError, match=fragment):
        Lma(**params)


def test_plan_reports_codes_and_array_and_every_table():
    plan = Lma().plan(TABLES, DIM, _budget("64x"), STATS)
    names = [s.name for s in plan.shared]
    assert names[:3] == ["LMA array M", "sparse codes", "dense codes"]
    assert "dense codes" in plan.tables[0].detail
    assert "codes for the top" in plan.tables[2].detail
    assert all(t.compressed and t.bytes == 0 for t in plan.tables)


def test_conforms_to_the_method_contract():
    assert_conforms(Lma())
    assert_conforms(Lma(block=1, num_hash=3, codes=6, bits=8, gradient="dense", code_share=0.5))
    assert_conforms(Lma(code_share=0.0))
