"""The hashing method: rows chosen from the budget, small tables whole, hash reproducible."""

import pytest
import torch

from benchsuite.api import DataStats, Infeasible, TableSpec
from benchsuite.measure.memory import module_bytes
from benchsuite_plugins.methods.hashing import Hashing, cap_allocation, proportional_allocation

TABLES = [TableSpec("a", 10), TableSpec("b", 5000), TableSpec("c", 100_000), TableSpec("d", 3)]
FULL = sum(t.rows for t in TABLES) * 8 * 4


def _build(budget, seed=0, **params):
    return Hashing(**params).build(TABLES, 8, budget, DataStats(), seed)


def test_module_fits_every_budget():
    for ratio in (2, 16, 256, 4096):
        budget = FULL // ratio
        assert module_bytes(_build(budget)) <= budget


def test_small_tables_stay_whole_with_identity_map():
    module = _build(FULL // 16)
    assert module.tables.sizes.tolist()[0] == 10 and module.tables.sizes.tolist()[3] == 3
    ids = torch.tensor([[7, 0, 0, 2]])
    direct = module.tables.weight[module.tables.offsets + torch.tensor([7, 0, 0, 2])]
    out = module(ids)[0]
    assert torch.equal(out[0], direct[0]) and torch.equal(out[3], direct[3])


def test_cap_allocation_fills_budget_with_equal_cap():
    assert cap_allocation([10, 5000, 100_000, 3], 2013) == [10, 1000, 1000, 3]


def test_proportional_allocation_keeps_ratio():
    rows = proportional_allocation([1000, 10_000, 100_000], 11_100)
    assert sum(rows) <= 11_100 and rows[2] // rows[1] == 10


def test_same_seed_same_hash_other_seed_other_hash():
    ids = torch.randint(0, 100_000, (64, 4)) % torch.tensor([10, 5000, 100_000, 3])
    a, b, c = _build(FULL // 64, seed=1), _build(FULL // 64, seed=1), _build(FULL // 64, seed=2)
    assert torch.equal(a(ids), b(ids))
    assert not torch.equal(a.a, c.a)


def test_seed_parameter_overrides_cell_seed():
    first = Hashing(seed=5).build(TABLES, 8, FULL // 8, DataStats(), 1)
    second = Hashing(seed=5).build(TABLES, 8, FULL // 8, DataStats(), 2)
    assert torch.equal(first.a, second.a) and torch.equal(first.b, second.b)


def test_budget_below_one_row_per_table_is_infeasible():
    with pytest.raises(Infeasible, match="at least one row per table"):
        _build(100)


def test_out_of_range_id_is_rejected_naming_the_feature():
    with pytest.raises(IndexError, match="id 5000 of feature 1 is out of range"):
        _build(FULL // 16)(torch.tensor([[0, 5000, 0, 0]]))


def test_plan_matches_the_built_module_bytes():
    for ratio in (1, 4, 64):
        plan = Hashing().plan(TABLES, 8, FULL // ratio, DataStats())
        assert plan.total_bytes == module_bytes(_build(FULL // ratio))
        assert plan.tables[0].compressed is False
