"""The md method: the power rule, budgets met exactly as planned, whole small tables, blocks."""

import math
import time

import pytest
import torch

from benchsuite.api import (
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
from benchsuite.testing import assert_conforms, synthetic_stats
from benchsuite_plugins.datasets.profiles import KAGGLE_CARDINALITIES, TB_CARDINALITIES
from benchsuite_plugins.methods.md import MD, Block, block_dim, blocks_from_frequencies

TABLES = [
    TableSpec("tiny", 3),
    TableSpec("small", 150),
    TableSpec("medium", 5_000),
    TableSpec("large", 60_000),
    TableSpec("huge", 250_000),
]
DIM = 16
FULL = full_table_bytes(TABLES, DIM)
STATS = synthetic_stats(TABLES)


def _budget(label):
    return Budget.parse(label).bytes_for(FULL)


def _build(budget, seed=0, stats=STATS, **params):
    return MD(**params).build(TABLES, DIM, budget, stats, seed)


def _dims(module):
    """Stored dimension per feature of a one-block-per-table module."""
    dims, col = {}, 0
    for g in module.groups:
        for f in module.feature_order[col : col + g.starts.numel()].tolist():
            dims[f] = g.weight.shape[1]
        col += g.starts.numel()
    return [dims[f] for f in range(len(TABLES))]


def _expected_row(module, feature, x):
    """Feature ``feature``'s vector for id ``x``, read off the weights by hand."""
    col = 0
    for g in module.groups:
        members = module.feature_order[col : col + g.starts.numel()].tolist()
        col += g.starts.numel()
        if feature in members:
            k = members.index(feature)
            row = g.weight[int(g.starts[k]) + x]
            return row if g.proj is None else row @ g.proj[k]
    raise AssertionError(feature)


@pytest.mark.parametrize("params", [{}, {"solve": "alpha"}, {"round_dims": True}, {"blocks": 3}])
@pytest.mark.parametrize("budget", ["2x", "4x", "6x", "3MB"])
def test_module_fits_the_budget_and_plan_equals_built_bytes(params, budget):
    limit = _budget(budget)
    method = MD(**params)
    module = method.build(TABLES, DIM, limit, STATS, 0)
    used = module_bytes(module)
    assert used <= limit
    assert method.plan(TABLES, DIM, limit, STATS).total_bytes == used


def test_lambda_is_the_largest_that_fits():
    method, limit = MD(), _budget("4x")
    blocks, _ = method._blocks(TABLES, STATS)
    alloc = method.allocate(TABLES, DIM, limit, blocks)
    assert alloc.total_bytes <= limit
    assert alloc.dims == tuple(block_dim(b, alloc.lam, 0.3, DIM, False) for b in blocks)
    nudged = method.allocate(TABLES, DIM, 10**12, blocks)  # everything at the base dim
    assert nudged.dims == (DIM,) * len(TABLES)
    larger = [block_dim(b, alloc.lam * (1 + 1e-9), 0.3, DIM, False) for b in blocks]
    cost = sum(
        4 * (b.rows * d + (d * DIM if d < DIM else 0)) for b, d in zip(blocks, larger, strict=True)
    )
    assert cost + 24 * len(TABLES) > limit  # one step more of lambda would overflow


def test_power_rule_rounds_clamps_and_drops_unprofitable_projections():
    big = Block(0, 0, 10_000, 1 / 10_000, whole=False)
    assert block_dim(big, 100.0, 0.3, DIM, False) == round(100 * 10_000**-0.3) == 6
    assert block_dim(big, 100.0, 0.3, DIM, True) == 8  # 2^round(log2 6.3)
    assert block_dim(big, 1e9, 0.3, DIM, False) == DIM  # clamped at the base dim
    assert block_dim(big, 0.0, 0.3, DIM, False) == 1  # and at 1
    assert block_dim(big, 1e9, 0.3, 12, True) == 12  # a power of two never exceeds dim
    # 20 rows x 15 + projection 15x16 costs more than 20 x 16: no projection, base dim.
    assert block_dim(Block(0, 0, 20, 1 / 20, whole=False), 15 * 20**0.3, 0.3, DIM, False) == DIM
    assert block_dim(Block(0, 0, 3, 1 / 3, whole=True), 0.0, 0.3, DIM, False) == DIM


def test_larger_tables_never_get_larger_dimensions():
    for label in ("2x", "4x", "8x"):
        dims = _dims(_build(_budget(label)))
        compressed = dims[2:]  # medium, large, huge in increasing size
        assert compressed == sorted(compressed, reverse=True)
        assert min(compressed) < DIM


def test_small_tables_keep_the_base_dimension_and_read_their_row_directly():
    module = _build(_budget("8x"))
    dims = _dims(module)
    assert dims[0] == dims[1] == DIM  # 3 and 150 ids <= threshold 200
    assert _dims(_build(_budget("8x"), threshold=0))[1] < DIM  # 150 ids compressed without it
    ids = torch.tensor([[2, 149, 4999, 59_999, 0]])
    out = module(ids)[0]
    for f in range(len(TABLES)):
        assert torch.allclose(out[f], _expected_row(module, f, int(ids[0, f])), atol=1e-6)


def test_projection_follows_the_lookup_as_a_bias_free_linear():
    module = _build(_budget("8x"))
    g = next(g for g in module.groups if g.proj is not None)
    d = g.weight.shape[1]
    assert g.proj.shape[1:] == (d, DIM)
    limit = math.sqrt(6 / (d + DIM))  # xavier_uniform of Linear(d, dim)
    assert float(g.proj.detach().abs().max()) <= limit
    assert float(g.weight.detach().abs().max()) <= math.sqrt(1 / 5_000)  # U(±sqrt(1/n)), n >= 5000


def test_solve_alpha_anchors_the_smallest_compressed_table_at_the_base_dim():
    method, limit = MD(solve="alpha"), _budget("4x")
    blocks, _ = method._blocks(TABLES, STATS)
    alloc = method.allocate(TABLES, DIM, limit, blocks)
    assert 0 < alloc.alpha < 1
    assert alloc.lam == pytest.approx(DIM * 5_000**alloc.alpha)
    assert alloc.dims[2] == DIM and alloc.dims[4] < DIM
    with pytest.raises(Infeasible, match="even alpha=1"):
        method.build(TABLES, DIM, _budget("13x"), STATS, 0)  # lambda reaches it
    assert module_bytes(_build(_budget("13x"))) <= _budget("13x")


def test_reference_anchoring_would_shrink_large_kaggle_tables_but_the_budget_solve_does_not():
    tables = [TableSpec(f"C{i + 1}", n) for i, n in enumerate(KAGGLE_CARDINALITIES)]
    full = full_table_bytes(tables, DIM)
    plan = MD().plan(tables, DIM, full // 4, DataStats())
    assert full / plan.total_bytes == pytest.approx(4, rel=0.02)
    smallest = min(KAGGLE_CARDINALITIES)
    reference = [max(1, round(DIM * smallest**0.3 * n**-0.3)) for n in KAGGLE_CARDINALITIES]
    large = [i for i, n in enumerate(KAGGLE_CARDINALITIES) if n > 100_000]
    assert max(reference[i] for i in large) <= 3  # the quirk of methods.md §(e)
    assert min(plan.tables[i].dim for i in large) >= 3
    assert sum(plan.tables[i].dim for i in large) > sum(reference[i] for i in large)


def test_md_cannot_compress_by_dim_times_and_min_bytes_is_exact():
    least = MD().min_bytes(TABLES, DIM)
    assert least > FULL // DIM
    for label in ("16x", "64x"):
        with pytest.raises(Infeasible, match="every compressed block at dimension 1"):
            _build(_budget(label))
    assert module_bytes(_build(least)) == least
    with pytest.raises(Infeasible):
        _build(least - 1)
    alpha = MD(solve="alpha")
    assert module_bytes(alpha.build(TABLES, DIM, alpha.min_bytes(TABLES, DIM), STATS, 0)) == (
        alpha.min_bytes(TABLES, DIM)
    )
    assert MD(blocks=4).min_bytes(TABLES, DIM) <= module_bytes(
        MD(blocks=4).build(TABLES, DIM, _budget("6x"), STATS, 0)
    )


def test_higher_ratios_fit_at_a_wider_base_dimension():
    full = full_table_bytes(TABLES, 64)
    for ratio in (16, 32):
        module = MD().build(TABLES, 64, full // ratio, STATS, 0)
        assert module_bytes(module) <= full // ratio
        assert MD().plan(TABLES, 64, full // ratio, STATS).total_bytes == module_bytes(module)
    with pytest.raises(Infeasible):
        MD().build(TABLES, 64, full // 64, STATS, 0)


def test_round_dims_gives_powers_of_two():
    dims = _dims(_build(_budget("4x"), round_dims=True))
    assert all(d & (d - 1) == 0 for d in dims)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 1.5}, r"md: 'alpha' must be a number in \[0, 1\], got 1.5"),
        ({"alpha": -0.1}, r"md: 'alpha' must be a number in \[0, 1\]"),
        ({"solve": "beta"}, r"md: 'solve' must be one of lambda, alpha, got 'beta'"),
        ({"threshold": -1}, r"md: 'threshold' must be an integer >= 0"),
        ({"blocks": -2}, r"md: 'blocks' must be an integer >= 0 \(0 = one block per table\)"),
        ({"round_dims": "yes"}, r"'md' parameter 'round_dims' must be bool"),
        ({"colour": 1}, r"'md' has no parameter 'colour'"),
    ],
)
def test_bad_parameters_are_rejected_naming_method_parameter_and_allowed_values(params, message):
    with pytest.raises(ParamError, match=message):
        MD(**params)


def test_frequencies_are_requested_only_by_the_block_variant():
    assert MD().needs == ()
    assert MD(blocks=4).needs == (StatRequest("frequencies"),)
    assert MD.needs == ()  # the class attribute is untouched
    with pytest.raises(BenchsuiteError, match="blocks=4 needs the training id frequencies"):
        MD(blocks=4).build(TABLES, DIM, _budget("4x"), DataStats(), 0)
    with pytest.raises(BenchsuiteError, match="needs the training id frequencies"):
        MD(blocks=4).plan(TABLES, DIM, _budget("4x"), DataStats())


def test_frequency_blocks_cut_the_ranking_at_geometric_boundaries():
    freq = torch.tensor([5, 0, 9, 9, 1, 7] + [1] * 994)
    blocks, order = blocks_from_frequencies(freq, 0, 3)
    assert [(b.first, b.rows) for b in blocks] == [(0, 10), (10, 90), (100, 900)]
    assert order[:4].tolist() == [2, 3, 5, 0]  # by count, ties by id
    pops = [b.popularity for b in blocks]
    assert pops == sorted(pops, reverse=True)
    total = int(freq.sum())
    assert pops[0] == pytest.approx((9 + 9 + 7 + 5 + 1 + 1 + 1 + 1 + 1 + 1) / (10 * total))


def test_frequency_blocks_give_hot_ids_wider_rows_and_map_every_id():
    module = _build(_budget("4x"), blocks=3)
    assert module.id_map.dtype == torch.int32 and module.id_map.numel() == sum(
        t.rows for t in TABLES
    )
    plan = MD(blocks=3).plan(TABLES, DIM, _budget("4x"), STATS)
    huge = plan.tables[4]
    assert "3 frequency blocks" in huge.detail and "int32 id map" in huge.detail
    assert huge.bytes >= 4 * 250_000
    # the hottest id of "huge" gets a wider vector than the coldest
    freq = STATS.frequencies[4]
    hot, cold = int(torch.argmax(freq)), int(torch.argmin(freq))
    width = {}
    first = 0
    for g in module.groups:
        for x in (hot, cold):
            v = int(module.id_map[int(module.id_offsets[4]) + x])
            if first <= v < first + g.weight.shape[0]:
                width[x] = g.weight.shape[1]
                block = int(torch.searchsorted(g.starts, torch.tensor(v), right=True)) - 1
                row = g.weight[v - first]
                expected = row if g.proj is None else row @ g.proj[block]
                ids = torch.zeros(1, len(TABLES), dtype=torch.int64)
                ids[0, 4] = x
                assert torch.allclose(module(ids)[0, 4], expected, atol=1e-6)
        first += g.weight.shape[0]
    assert width[hot] > width[cold]


@pytest.mark.parametrize("params", [{}, {"blocks": 3}])
def test_out_of_range_ids_are_rejected_naming_the_feature(params):
    module = _build(_budget("4x"), **params)
    with pytest.raises(IndexError, match="id 250000 of feature 4 is out of range"):
        module(torch.tensor([[0, 0, 0, 0, 250_000]]))
    with pytest.raises(IndexError, match="id -1 of feature 2 is out of range"):
        module(torch.tensor([[0, 0, -1, 0, 0]]))


@pytest.mark.parametrize("params", [{}, {"blocks": 3}])
def test_same_seed_same_module_other_seed_other_weights_same_layout(params):
    a, b, c = (_build(_budget("4x"), seed=s, **params) for s in (1, 1, 2))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert [v.shape for v in sa.values()] == [v.shape for v in sc.values()]
    assert not torch.equal(sa["groups.0.weight"], sc["groups.0.weight"])


def test_conformance_kit_passes_with_and_without_blocks():
    assert_conforms(MD(), budgets=("4x", "8x"))
    assert_conforms(MD(blocks=3, round_dims=True), budgets=("4x",))


def test_plan_is_instant_on_criteo_terabyte_tables():
    tables = [TableSpec(f"C{i + 1}", n) for i, n in enumerate(TB_CARDINALITIES)]
    full = full_table_bytes(tables, 128)
    started = time.perf_counter()
    for method in (MD(), MD(solve="alpha"), MD(round_dims=True)):
        plan = method.plan(tables, 128, full // 16, DataStats())
        assert plan.total_bytes <= full // 16
    assert time.perf_counter() - started < 1.0
