"""The lhf method: hot ids own rows, look-alike ids share clusters, unseen ids hash, and the map
is counted in (and sized to) the budget."""

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
from benchsuite.testing import CHECK_TABLES, assert_conforms, synthetic_stats
from benchsuite_plugins.methods.lhf import LHF, PRIME, cluster, share_clusters

DIM = 16
STATS = synthetic_stats(CHECK_TABLES)
FULL = full_table_bytes(CHECK_TABLES, DIM)

# A hand-made feature: 4000 ids in 40 tight, far-apart groups (group = id % 40); counts fall
# with the id, the last 500 ids were never seen.
GROUPS, N, UNSEEN = 40, 4000, 500
HAND_TABLES = [TableSpec("small", 10), TableSpec("big", N)]


def _hand_stats() -> DataStats:
    g = torch.Generator().manual_seed(3)
    counts = torch.arange(N, 0, -1, dtype=torch.int64) * 10
    counts[N - UNSEEN :] = 0
    centres = torch.randn(GROUPS, 8, generator=g) * 10
    emb = centres[torch.arange(N) % GROUPS] + 0.01 * torch.randn(N, 8, generator=g)
    return DataStats(
        frequencies=[torch.full((10,), 5, dtype=torch.int64), counts],
        embeddings=[torch.randn(10, 8, generator=g), emb],
    )


HAND = _hand_stats()
# Room for 80 rows in the big table (40 hot + 40 clusters), every seen id mapped.
HAND_BUDGET = 2 * 7 * 8 + (10 + 80) * DIM * 4 + 4 * 40 + 8 * (N - UNSEEN - 40)
HAND_PARAMS = {"min_pretrain_hits": 0.0, "map_share": 1.0}


def _budget(label):
    return Budget.parse(label).bytes_for(FULL)


def _table_rows(module, feature, ids):
    """Global rows of ``ids`` of one feature, the other features' ids set to 0."""
    batch = torch.zeros(len(ids), module.cardinalities.numel(), dtype=torch.int64)
    batch[:, feature] = torch.as_tensor(ids)
    return module.rows(batch)[:, feature]


def test_conforms_with_defaults():
    assert_conforms(LHF())


def test_conforms_with_other_parameters():
    assert_conforms(
        LHF(
            hot_share=0.2,
            map_share=0.1,
            min_pretrain_hits=0.0,
            init="random",
            weighted=False,
            iterations=3,
            sparse=False,
        )
    )


@pytest.mark.parametrize("label", ["4x", "16x", "64x", "300KB"])
@pytest.mark.parametrize("hits", [1.0, 0.0])
def test_budget_respected_and_plan_equals_built_bytes(label, hits):
    method = LHF(min_pretrain_hits=hits)
    budget = Budget.parse(label).bytes_for(FULL)
    module = method.build(CHECK_TABLES, DIM, budget, STATS, 0)
    plan = method.plan(CHECK_TABLES, DIM, budget, STATS)
    assert module_bytes(module) <= budget
    assert plan.total_bytes == module_bytes(module)
    assert [t.table for t in plan.tables] == [t.name for t in CHECK_TABLES]


@pytest.mark.parametrize(
    "params",
    [
        {"hot_share": 0.0, "min_pretrain_hits": 0.0},
        {"hot_share": 1.0},
        {"map_share": 0.0, "min_pretrain_hits": 0.0},
        {"map_share": 1.0, "min_pretrain_hits": 0.0, "fit_points": 50, "init": "random"},
    ],
)
def test_extreme_shares_respect_budget_and_plan(params):
    method = LHF(**params)
    budget = _budget("64x")
    module = method.build(CHECK_TABLES, DIM, budget, STATS, 0)
    assert method.plan(CHECK_TABLES, DIM, budget, STATS).total_bytes == module_bytes(module)
    assert module_bytes(module) <= budget
    ids = torch.stack([torch.randint(0, t.rows, (32,)) for t in CHECK_TABLES], 1)
    assert torch.isfinite(module(ids)).all()


def test_plan_reports_map_bytes_next_to_table_bytes():
    plan = LHF(min_pretrain_hits=0.0).plan(CHECK_TABLES, DIM, _budget("64x"), STATS)
    huge = plan.tables[-1]
    assert huge.compressed and "map" in huge.detail and "vs table" in huge.detail
    assert "all maps" in plan.shared[0].detail


def test_top_ids_get_rows_of_their_own():
    module = LHF(**HAND_PARAMS).build(HAND_TABLES, DIM, HAND_BUDGET, HAND, 0)
    assert module.hot_keys.numel() == 40  # floor(0.5 * 80)
    rows = _table_rows(module, 1, torch.arange(N))
    hot = torch.arange(40)  # counts fall with the id: ids 0..39 are the most frequent
    others = rows[40:]
    for x in hot.tolist():
        assert int((rows == rows[x]).sum()) == 1, f"hot id {x} shares its row"
    assert not torch.isin(others, rows[:40]).any()


def test_clustered_ids_share_rows_with_their_cluster():
    module = LHF(**HAND_PARAMS).build(HAND_TABLES, DIM, HAND_BUDGET, HAND, 0)
    seen = torch.arange(40, N - UNSEEN)
    rows = _table_rows(module, 1, seen)
    assert rows.unique().numel() <= 40
    group = seen % GROUPS
    # Each row holds (nearly) one latent group: ids sharing a row look alike.
    pure = 0
    for r in rows.unique().tolist():
        members = group[rows == r]
        pure += int(torch.bincount(members).max())
    assert pure / seen.numel() > 0.9
    # Random hashing would put about 1/40 of a row's pairs in the same group.
    same_row = rows[:, None] == rows[None, :]
    same_group = group[:, None] == group[None, :]
    assert (same_row & ~same_group).float().mean() < 0.01


def test_unseen_ids_hash_into_the_cluster_rows():
    module = LHF(**HAND_PARAMS).build(HAND_TABLES, DIM, HAND_BUDGET, HAND, 0)
    unseen = torch.arange(N - UNSEEN, N)
    rows = _table_rows(module, 1, unseen)
    a, b = int(module.a[1]), int(module.b[1])
    expected = (unseen * a + b) % PRIME % 40 + 10 + 40  # after the small table and hot rows
    assert torch.equal(rows, expected)
    assert rows.unique().numel() > 30
    assert not torch.isin(unseen.to(torch.int32) + 10, module.cluster_keys).any()


def test_small_tables_stay_whole_with_identity_and_no_map():
    module = LHF(**HAND_PARAMS).build(HAND_TABLES, DIM, HAND_BUDGET, HAND, 0)
    assert torch.equal(_table_rows(module, 0, torch.arange(10)), torch.arange(10))
    assert not torch.isin(torch.arange(10, dtype=torch.int32), module.hot_keys).any()


def test_budget_of_the_full_tables_keeps_every_table_whole_without_a_map():
    buffers = 6 * 8 * len(CHECK_TABLES)
    module = LHF().build(CHECK_TABLES, DIM, FULL + buffers, STATS, 0)
    assert module.weight.shape[0] == sum(t.rows for t in CHECK_TABLES)
    assert module.mapped_features.numel() == 0 and module.hot_keys.numel() == 0
    ids = torch.tensor([[2, 149, 4999, 59_999, 249_999]])
    assert torch.equal(module.rows(ids)[0], ids[0] + module.id_offsets)


def test_tight_map_keeps_the_most_frequent_candidates():
    # map_share small: not every candidate fits; the mapped ones are the most frequent.
    method = LHF(min_pretrain_hits=0.0, map_share=0.3)
    layout = method.layout(HAND_TABLES, DIM, HAND_BUDGET, HAND)
    big = layout.tables[1]
    assert 0 < big.mapped < big.candidates
    module = method.build(HAND_TABLES, DIM, HAND_BUDGET, HAND, 0)
    expected = torch.arange(big.hot, big.hot + big.mapped) + 10  # ids ranked by count
    assert torch.equal(module.cluster_keys.long(), expected)
    assert module_bytes(module) <= HAND_BUDGET


def test_rarely_pretrained_ids_are_hashed_not_clustered():
    # ~79M training rows, 4,000 pre-training samples: an id is expected in the sample at least
    # once only when its count is >= 79M / 4,000 (about the most frequent half of the ids).
    layout = LHF(pretrained_samples=4000).layout(HAND_TABLES, DIM, HAND_BUDGET, HAND)
    big = layout.tables[1]
    counts = HAND.frequencies[1]
    eligible = int((counts >= int(counts.sum()) / 4000).sum())
    assert 0 < eligible < N - UNSEEN
    assert big.candidates == eligible - big.hot


def test_budget_below_one_row_per_table_is_infeasible():
    method = LHF()
    least = method.min_bytes(CHECK_TABLES, DIM)
    method.build(CHECK_TABLES, DIM, least, STATS, 0)
    with pytest.raises(Infeasible, match="one row of dim 16 per table"):
        method.build(CHECK_TABLES, DIM, least - 1, STATS, 0)


def test_needs_frequencies_and_pretrained_embeddings_with_parameters():
    assert LHF(pretrained_dim=4, pretrained_samples=1000).needs == (
        StatRequest("frequencies"),
        StatRequest("pretrained", {"dim": 4, "samples": 1000}),
    )


def test_missing_statistics_are_reported():
    with pytest.raises(BenchsuiteError, match="frequencies"):
        LHF().build(HAND_TABLES, DIM, HAND_BUDGET, DataStats(), 0)
    no_embeddings = DataStats(frequencies=HAND.frequencies)
    with pytest.raises(BenchsuiteError, match="embeddings"):
        LHF(**HAND_PARAMS).build(HAND_TABLES, DIM, HAND_BUDGET, no_embeddings, 0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hot_share": 1.5}, "'hot_share' must be a number in \\[0, 1\\]"),
        ({"map_share": -0.1}, "'map_share' must be a number in \\[0, 1\\]"),
        ({"pretrained_dim": 0}, "'pretrained_dim' must be an integer >= 1"),
        ({"iterations": 0}, "'iterations' must be an integer >= 1"),
        ({"fit_points": 0}, "'fit_points' must be an integer >= 1"),
        ({"min_pretrain_hits": -1.0}, "'min_pretrain_hits' must be a number >= 0"),
        ({"init": "forgy"}, "'init' must be one of kmeans\\+\\+, random"),
        ({"seed": -1}, "'seed' must be a non-negative integer or null"),
        ({"colour": 1}, "no parameter 'colour'"),
    ],
)
def test_parameters_are_validated(params, message):
    with pytest.raises(ParamError, match=message):
        LHF(**params)


def test_out_of_range_id_is_rejected_naming_the_feature():
    module = LHF().build(CHECK_TABLES, DIM, _budget("16x"), STATS, 0)
    ids = torch.zeros(1, len(CHECK_TABLES), dtype=torch.int64)
    ids[0, 4] = 250_000
    with pytest.raises(IndexError, match="id 250000 of feature 4 is out of range"):
        module(ids)


def test_same_seed_same_map_and_seed_parameter_overrides_cell_seed():
    def state(cell_seed, **params):
        method = LHF(**HAND_PARAMS, **params)
        return method.build(HAND_TABLES, DIM, HAND_BUDGET, HAND, cell_seed).state_dict()

    a, b, c = state(1), state(1), state(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["a"], c["a"])
    d, e = state(1, seed=9), state(2, seed=9)
    assert all(torch.equal(d[k], e[k]) for k in d)


def test_two_level_kmeans_keeps_groups_together_and_uses_every_row():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(60, 4, generator=g) * 10
    group = torch.arange(1200) % 60
    points = centres[group] + 0.01 * torch.randn(1200, 4, generator=g)
    labels = cluster(
        points,
        torch.ones(1200),
        60,
        iterations=10,
        init="kmeans++",
        fit_points=1000,
        generator=g,
        flat_k=8,
    )
    assert int(labels.min()) >= 0 and int(labels.max()) < 60
    assert labels.unique().numel() >= 54
    pure = sum(int(torch.bincount(group[labels == r]).max()) for r in labels.unique().tolist())
    assert pure / 1200 > 0.8


def test_cluster_shares_are_proportional_and_sum_to_k():
    sizes = torch.tensor([100, 0, 1, 50, 49])
    shares = share_clusters(sizes, 20)
    assert sum(shares) == 20
    assert shares[1] == 0 and shares[2] == 1
    assert all(0 <= s <= n for s, n in zip(shares, sizes.tolist(), strict=True))
    assert shares[0] > shares[3] >= shares[4] - 1
