"""The robe method: one shared array read in hashed blocks, sized from the budget."""

import time

import pytest
import torch

from benchsuite.api import Budget, DataStats, Infeasible, ParamError, TableSpec
from benchsuite.layers import sparse_gradient
from benchsuite.measure.memory import module_bytes
from benchsuite.suite import SuiteError, _check_feasible
from benchsuite.testing import assert_conforms
from benchsuite_plugins.methods.robe import PRIME, Robe, robe_layout

TABLES = [TableSpec("a", 10), TableSpec("b", 5000), TableSpec("c", 100_000), TableSpec("d", 3)]
DIM = 8
FULL = sum(t.rows for t in TABLES) * DIM * 4
OFFSETS = [0, 10, 5010, 105_010]


def _build(budget=FULL // 16, seed=0, **params):
    return Robe(**params).build(TABLES, DIM, budget, DataStats(), seed)


def _ids(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    cols = [torch.randint(0, t.rows, (n,), generator=g) for t in TABLES]
    return torch.stack(cols, dim=1)


def _expected(module, ids):
    """The embedding from the formulas, in Python integers (no int64 arithmetic)."""
    size, z = module.array.numel(), module.block
    a, b, c = (int(x) for x in module.hash[:3])
    out = torch.empty(*ids.shape, DIM)
    for row in range(ids.shape[0]):
        for f in range(ids.shape[1]):
            v = int(ids[row, f]) + OFFSETS[f]
            for j in range(DIM):
                key = (v * a + (j // z) * b + c) % PRIME
                value = module.array[key % (size - z + 1) + j % z]
                if module.sign:
                    ag, bg, cg = (int(x) for x in module.hash[3:])
                    value = value * (2 * (((v * ag + j * bg + cg) % PRIME) % 2) - 1)
                out[row, f, j] = value
    return out


def _reference_grad(module, ids, weights):
    """scatter_add of the output gradient into M at the positions the formulas read."""
    size, z = module.array.numel(), module.block
    a, b, c = (int(x) for x in module.hash[:3])
    positions, values = [], []
    for row in range(ids.shape[0]):
        for f in range(ids.shape[1]):
            v = int(ids[row, f]) + OFFSETS[f]
            for j in range(DIM):
                key = (v * a + (j // z) * b + c) % PRIME
                positions.append(key % (size - z + 1) + j % z)
                values.append(float(weights[row, f, j]))
    grad = torch.zeros(size, dtype=torch.float64)
    return grad.scatter_add_(0, torch.tensor(positions), torch.tensor(values, dtype=torch.float64))


@pytest.mark.parametrize("params", [{}, {"block": 1}, {"block": DIM, "sign": True}])
@pytest.mark.parametrize("budget", [FULL // 4, FULL // 16, FULL // 64, 12_345])
def test_module_fits_budget_and_plan_equals_built_bytes(params, budget):
    module = _build(budget, **params)
    plan = Robe(**params).plan(TABLES, DIM, budget, DataStats())
    assert module_bytes(module) <= budget
    assert plan.total_bytes == module_bytes(module)
    assert budget - module_bytes(module) < 4  # the array takes every float left
    assert [t.table for t in plan.tables] == ["a", "b", "c", "d"]


def test_array_size_is_budget_minus_buffers_over_four():
    # 3 hash constants + offsets and id counts of 4 tables = 11 int64 = 88 bytes.
    assert _build(10_000).array.numel() == (10_000 - 88) // 4
    # The sign hash keeps 3 more constants.
    assert _build(10_000, sign=True).array.numel() == (10_000 - 112) // 4
    assert [b.numel() for b in _build(10_000).buffers()] == [4, 4, 3]


def test_array_is_capped_where_block_starts_cannot_reach():
    layout = robe_layout(TABLES, DIM, 10**12, 8, False)
    assert layout.array == PRIME + 8 - 1


def test_criteo_tb_sized_tables_plan_instantly_and_hash_without_overflow():
    tb = [TableSpec(f"t{i}", 187_767_399 // 26) for i in range(25)]
    tb.append(TableSpec("t25", 187_767_399 - 25 * (187_767_399 // 26)))
    start = time.perf_counter()
    plan = Robe(block=32).plan(tb, 128, 96_000_000_000 // 1000, DataStats())
    assert time.perf_counter() - start < 0.5
    assert plan.total_bytes <= 96_000_000
    # The largest global id with the largest constants, in int64, against exact integers.
    module = _build()
    module.hash.fill_(PRIME - 1)
    v, size, z = 187_767_398, module.array.numel(), module.block
    starts = module.block_starts(torch.tensor([[v]]))[0, 0].tolist()
    c = PRIME - 1
    assert starts == [((v * c + k * c + c) % PRIME) % (size - z + 1) for k in range(DIM // z)]


@pytest.mark.parametrize("block", [1, 2, 4, 8])
def test_embedding_reads_blocks_of_z_at_hashed_offsets(block):
    module = _build(block=block)
    ids = _ids(6)
    ids[0] = torch.tensor([t.rows - 1 for t in TABLES])
    assert torch.equal(module(ids).detach(), _expected(module, ids))


def test_block_is_a_contiguous_window_of_the_array():
    module = _build(block=4)
    out = module(_ids(4)).detach().view(4, 4, 2, 4)
    flat = module.array.detach()
    for window in out.reshape(-1, 4):
        starts = (flat.unfold(0, 4, 1) == window).all(dim=1).nonzero()
        assert starts.numel() >= 1


def test_sign_hash_multiplies_by_plus_minus_one_per_coordinate():
    module = _build(sign=True)
    ids = _ids(6)
    out = module(ids).detach()
    assert torch.equal(out, _expected(module, ids))
    unsigned = _build(sign=True)
    unsigned.sign = False
    ratio = out / unsigned(ids).detach()
    assert set(ratio.flatten().tolist()) == {-1.0, 1.0}


def test_feature_enters_the_hash_through_its_offset():
    module = _build()
    same_id = torch.tensor([[2, 2, 2, 2]])
    out = module(same_id)[0].detach()
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[1], out[3])


@pytest.mark.parametrize("gradient", ["sparse", "dense", "auto"])
@pytest.mark.parametrize("sign", [False, True])
def test_gradient_matches_scatter_add_with_overlapping_windows(gradient, sign):
    # 30 floats for 64×4 embeddings of 2 blocks of 4: windows overlap everywhere.
    budget = 30 * 4 + (6 if sign else 3) * 8 + 2 * 4 * 8
    module = _build(budget, block=4, sign=sign, gradient=gradient)
    assert module.array.numel() == 30
    ids = _ids(64)
    weights = torch.randn(64, 4, DIM, generator=torch.Generator().manual_seed(3))
    (module(ids) * weights).sum().backward()
    grad = module.array.grad
    assert grad.is_sparse == (gradient == "sparse")
    if sign:
        weights = weights * module.signs(ids + module.offsets)
    reference = _reference_grad(module, ids, weights)
    assert torch.allclose(grad.to_dense().double(), reference, atol=1e-5)


def test_auto_gradient_is_sparse_only_for_an_array_much_larger_than_a_batch_reads():
    assert not sparse_gradient("auto", 16 * 1000, 1000)
    assert sparse_gradient("auto", 16 * 1000 + 1, 1000)
    assert sparse_gradient("sparse", 10, 1000) and not sparse_gradient("dense", 10**9, 1)
    module = _build(FULL // 4)  # ~84k floats; a batch of 2 reads 2·4·8 = 64
    module(_ids(2)).sum().backward()
    assert module.array.grad.is_sparse


def test_sgd_step_is_the_same_with_sparse_and_dense_gradients():
    ids, weights = _ids(32), torch.randn(32, 4, DIM)
    arrays = []
    for gradient in ("sparse", "dense"):
        module = _build(gradient=gradient)
        optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
        (module(ids) * weights).sum().backward()
        optimizer.step()
        arrays.append(module.array.detach())
    assert torch.allclose(arrays[0], arrays[1], atol=1e-6)


def test_init_is_uniform_within_sqrt_one_over_largest_table():
    array = _build().array.detach()
    bound = (1 / 100_000) ** 0.5
    assert array.abs().max() <= bound and array.abs().max() > 0.9 * bound


def test_same_seed_same_state_other_seed_other_constants():
    a, b, c = _build(seed=1), _build(seed=1), _build(seed=2)
    ids = _ids()
    assert torch.equal(a(ids), b(ids)) and torch.equal(a.hash, b.hash)
    assert not torch.equal(a.hash, c.hash) and not torch.equal(a.array, c.array)
    assert all(1 <= int(x) < PRIME for x in _build(sign=True).hash)


def test_seed_parameter_overrides_cell_seed():
    first = Robe(seed=5).build(TABLES, DIM, FULL // 8, DataStats(), 1)
    second = Robe(seed=5).build(TABLES, DIM, FULL // 8, DataStats(), 2)
    assert torch.equal(first.hash, second.hash) and torch.equal(first.array, second.array)


def test_sign_flag_does_not_change_the_array_or_block_constants():
    plain, signed = _build(), _build(sign=True)
    assert torch.equal(plain.hash, signed.hash[:3])
    assert torch.equal(plain.array[:1000], signed.array[:1000])


def test_out_of_range_id_is_rejected_naming_the_feature():
    module = _build()
    with pytest.raises(IndexError, match="id 5000 of feature 1 is out of range"):
        module(torch.tensor([[0, 5000, 0, 0]]))
    with pytest.raises(IndexError, match="id -1 of feature 3 is out of range"):
        module(torch.tensor([[0, 0, 0, -1]]))


def test_every_table_reads_from_the_shared_array_none_kept_whole():
    plan = Robe().plan(TABLES, DIM, FULL // 16, DataStats())
    assert all(t.compressed and t.bytes == 0 for t in plan.tables)
    assert plan.shared[0].name == "ROBE array M" and plan.shared[0].shape == (
        _build().array.numel(),
    )


def test_min_bytes_is_one_block_and_smallest_feasible_budget():
    smallest = Robe(block=4).min_bytes(TABLES, DIM)
    assert smallest == 11 * 8 + 4 * 4
    assert _build(smallest, block=4).array.numel() == 4
    with pytest.raises(Infeasible, match="block=4 needs at least 4 floats"):
        _build(smallest - 1, block=4)


@pytest.mark.parametrize("block", [3, 16])
def test_block_not_dividing_dim_fails_before_training(block):
    message = r"robe: 'block' must divide the embedding dimension 8; allowed: 1, 2, 4, 8"
    with pytest.raises(ParamError, match=message):
        Robe(block=block).min_bytes(TABLES, DIM)
    with pytest.raises(ParamError, match=message):
        Robe(block=block).plan(TABLES, DIM, FULL, DataStats())
    with pytest.raises(ParamError, match=message):
        _build(block=block)
    with pytest.raises(SuiteError, match="robe: 'block' must divide"):
        _check_feasible(Robe(block=block), Budget.parse("16x"), TABLES, DIM, FULL, "robe")


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"block": 0}, "robe: 'block' must be an integer >= 1"),
        ({"block": -8}, "robe: 'block' must be an integer >= 1"),
        ({"block": "8"}, "'robe' parameter 'block' must be int"),
        ({"gradient": "coo"}, "robe: 'gradient' must be one of auto, sparse, dense, got 'coo'"),
        ({"sign": 1}, "'robe' parameter 'sign' must be bool"),
        ({"seed": -1}, "robe: 'seed' must be a non-negative integer or null"),
        ({"seed": "x"}, "robe: 'seed' must be a non-negative integer or null"),
        ({"chunk": 8}, "has no parameter 'chunk'; allowed: block, gradient, seed, sign"),
    ],
)
def test_bad_parameters_are_rejected_naming_parameter_and_allowed_values(params, fragment):
    with pytest.raises(ParamError, match=fragment):
        Robe(**params)


def test_conforms_to_the_method_contract():
    assert_conforms(Robe())
    assert_conforms(Robe(block=1, sign=True, gradient="dense"))
