"""The qr method: complementary partitions, budget solving, whole small tables, exact lookups."""

import math
import time

import numpy as np
import pytest
import torch

from benchsuite.api import DataStats, Infeasible, ParamError, TableSpec
from benchsuite.measure.memory import module_bytes
from benchsuite.testing import assert_conforms
from benchsuite_plugins.datasets.profiles import PROFILES
from benchsuite_plugins.methods.qr import QR, partition_dims, partition_rows

DIM = 8
TABLES = [
    TableSpec("tiny", 3),
    TableSpec("small", 150),
    TableSpec("medium", 5_000),
    TableSpec("large", 60_000),
    TableSpec("edge", 201),
]
FULL = sum(t.rows for t in TABLES) * DIM * 4


def _build(budget=FULL // 16, seed=0, tables=TABLES, dim=DIM, **params):
    return QR(**params).build(tables, dim, budget, DataStats(), seed)


def _ids(tables=TABLES, batch=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.stack([torch.randint(0, t.rows, (batch,), generator=g) for t in tables], dim=1)
    ids[0] = torch.tensor([t.rows - 1 for t in tables])
    ids[1] = 0
    return ids


# -- formulas -------------------------------------------------------------------------------------


def test_quotient_uses_integer_floor_division_above_2_to_the_24():
    n = 16_777_220
    module = _build(budget=10**8, tables=[TableSpec("big", n)], dim=1, collisions=4)
    remainder, quotient = module.digits(torch.tensor([[16_777_219]]))
    assert int(quotient) == 4_194_304 and int(remainder) == 3
    # the reference's float32 quotient is one off here
    assert int((torch.tensor([16_777_219]) / 4).long()) == 4_194_305
    out = module(torch.tensor([[16_777_219]]))
    q_row = module.weights[0][module.offsets[1, 0] + 4_194_304]
    r_row = module.weights[1][module.offsets[0, 0] + 3]
    assert torch.equal(out[0, 0], q_row * r_row)


@pytest.mark.parametrize("partitions", [2, 3, 4])
def test_complementary_partitions_give_distinct_rows_to_distinct_ids(partitions):
    n = 5_000
    module = _build(budget=10**7, tables=[TableSpec("t", n)], partitions=partitions, collisions=7)
    ids = torch.arange(n)[:, None]
    digits = torch.stack([d[:, 0] for d in module.digits(ids)], dim=1)
    assert len({tuple(row) for row in digits.tolist()}) == n
    rows = partition_rows(n, 7, partitions)
    assert (digits >= 0).all() and (digits < torch.tensor(rows)).all()
    assert all((digits[:, j] == rows[j] - 1).any() for j in range(partitions))


def test_partition_rows_are_mixed_radix_sizes():
    assert partition_rows(1000, 4, 2) == [4, 250]  # remainder c, quotient ⌈n/c⌉
    assert partition_rows(1001, 4, 2) == [4, 251]
    assert partition_rows(1000, 10, 3) == [10, 10, 10]
    assert partition_rows(50, 10, 3) == [10, 5, 1]  # a digit that cannot reach m needs fewer
    assert partition_rows(7, 10, 3) == [7, 1, 1]


def test_concat_splits_dim_giving_the_quotient_the_larger_part():
    assert partition_dims(16, 2, "concat") == [8, 8]
    assert partition_dims(15, 2, "concat") == [7, 8]  # remainder 7, quotient ⌈15/2⌉
    assert partition_dims(16, 3, "concat") == [5, 5, 6]
    assert partition_dims(16, 3, "mult") == [16, 16, 16]
    for dim in (8, 7):
        out = _build(dim=dim, budget=FULL // 8, operation="concat")(_ids())
        assert out.shape == (64, len(TABLES), dim)


def _naive(module, ids, operation, partitions):
    """The definition, feature by feature, from the weights and the radix buffer."""
    weights = [w.detach().clone().requires_grad_(True) for w in module.weights]
    outs = []
    for f in range(ids.shape[1]):
        x, m = ids[:, f], int(module.radix[f])
        off = module.offsets[:, f]
        if operation == "concat":
            if m == 1:
                digits = [x] * partitions
            else:
                digits = [(x // m**j) % m for j in range(partitions - 1)]
                digits.append(x // m ** (partitions - 1))
            w = [weights[0]] * partitions if len(weights) == 1 else weights
            parts = [w[j][off[j] + digits[j]] for j in range(partitions)]
            outs.append(torch.cat(parts, dim=-1))
            continue
        if m == 1:  # whole: its plain row
            outs.append(weights[0][off[-1] + x])
            continue
        digits = [(x // m**j) % m for j in range(partitions - 1)]
        vectors = [weights[1][off[j] + digits[j]] for j in range(partitions - 1)]
        vectors.append(weights[0][off[-1] + x // m ** (partitions - 1)])
        outs.append(math.prod(vectors) if operation == "mult" else sum(vectors))
    return torch.stack(outs, dim=1), weights


@pytest.mark.parametrize("operation", ["mult", "add", "concat"])
@pytest.mark.parametrize("partitions", [2, 3, 4])
@pytest.mark.parametrize("sparse", [True, False])
def test_lookup_and_gradients_match_the_definition(operation, partitions, sparse):
    module = _build(operation=operation, partitions=partitions, sparse=sparse, fill=False)
    ids = _ids()
    out = module(ids)
    expected, weights = _naive(module, ids, operation, partitions)
    assert torch.allclose(out, expected, rtol=1e-6, atol=1e-7)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    for w, (param, reference) in enumerate(zip(module.weights, weights, strict=True)):
        grad = param.grad.to_dense() if param.grad.is_sparse else param.grad
        assert param.grad.is_sparse == sparse
        if w == 1 and operation != "concat":  # the last row is the gradient sink, never read
            grad, expected_grad = grad[:-1], reference.grad[:-1]
            assert not expected_grad[-1].any()  # the identity row gets none
        else:
            expected_grad = reference.grad
        assert torch.allclose(grad, expected_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("params", [{}, {"operation": "add"}, {"partitions": 3}])
def test_inference_mode_gives_the_training_output(params):
    module = _build(**params)
    ids = _ids()
    with torch.inference_mode():
        inferred = module(ids)
    assert torch.equal(inferred, module(ids))


def test_identity_row_of_whole_features_never_changes_under_sgd():
    module = _build()
    identity = module.weights[1][-2].detach().clone()
    assert torch.equal(identity, torch.ones(DIM))
    for seed in range(3):
        module(_ids(seed=seed)).pow(2).sum().backward()
        with torch.no_grad():
            for param in module.parameters():  # an SGD step on the sparse gradients
                param.add_(param.grad, alpha=-1.0)
                param.grad = None
    assert torch.equal(module.weights[1][-2], identity)
    assert not torch.equal(module.weights[1][-1], identity)  # the sink took the updates


# -- the budget -----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["mult", "add", "concat"])
@pytest.mark.parametrize("partitions", [2, 3])
def test_module_fits_every_budget_and_plan_matches_built_bytes(operation, partitions):
    method = QR(operation=operation, partitions=partitions)
    for budget in (FULL // 4, FULL // 16, FULL // 64, 60_000):
        if budget < method.min_bytes(TABLES, DIM):  # 64x is below what 2 partitions reach
            assert (budget, partitions) == (FULL // 64, 2)
            with pytest.raises(Infeasible, match="does not fit"):
                method.build(TABLES, DIM, budget, DataStats(), 0)
            continue
        module = method.build(TABLES, DIM, budget, DataStats(), 0)
        used = module_bytes(module)
        assert used <= budget
        plan = method.plan(TABLES, DIM, budget, DataStats())
        assert plan.total_bytes == used
        assert [t.table for t in plan.tables] == [t.name for t in TABLES]


def test_radix_is_the_smallest_that_fits():
    method = QR(fill=False)
    for budget in (FULL // 4, FULL // 16, FULL // 32):
        radix = method.allocate(TABLES, DIM, budget).radix
        assert radix is not None and radix >= 2
        if radix > 2:
            with pytest.raises(Infeasible):
                QR(collisions=radix - 1).allocate(TABLES, DIM, budget)


def test_search_agrees_with_brute_force_over_every_radix():
    rng = np.random.default_rng(0)
    dim = 4
    for _ in range(4):
        sizes = [int(n) for n in rng.integers(2, 3000, 6)]
        tables = [TableSpec(f"t{i}", n) for i, n in enumerate(sizes)]
        for ratio in (3, 8, 20):
            budget = sum(sizes) * dim * 4 // ratio
            floats = (budget - 8 * len(tables) * 4) // 4  # int64 buffers: [2 + k, T]

            def total(c, sizes=sizes):
                cost = [min(n, sum(partition_rows(n, c, 2))) if n > 200 else n for n in sizes]
                identity = any(x < n for x, n in zip(cost, sizes, strict=True))
                return (sum(cost) + identity) * dim

            fitting = [c for c in range(2, max(sizes) + 2) if total(c) <= floats]
            try:
                radix = QR(fill=False).allocate(tables, dim, budget).radix
            except Infeasible:
                radix = None
            assert radix == (fitting[0] if fitting else None)


def test_small_tables_stay_whole_with_plain_rows():
    module = _build()
    plan = QR().plan(TABLES, DIM, FULL // 16, DataStats())
    assert [t.compressed for t in plan.tables][:2] == [False, False]
    assert "threshold 200" in plan.tables[0].detail
    ids = _ids()
    out = module(ids)
    for f in (0, 1):
        rows = module.weights[0][module.offsets[-1, f] + ids[:, f]]
        assert torch.equal(out[:, f], rows)
    bigger = QR(threshold=10, fill=False).plan(TABLES, DIM, FULL // 16, DataStats())
    assert bigger.tables[1].compressed


def test_table_whose_compression_saves_nothing_stays_whole():
    # 201 ids at c=200: ⌈201/200⌉ + 200 = 202 rows > 201
    plan = QR(collisions=200).plan(TABLES, DIM, FULL, DataStats())
    edge = plan.tables[4]
    assert not edge.compressed and "would not save memory" in edge.detail
    assert plan.tables[3].compressed


def test_budget_holding_the_full_tables_compresses_nothing():
    plan = QR().plan(TABLES, DIM, FULL + 10_000, DataStats())
    assert not any(t.compressed for t in plan.tables)
    module = _build(budget=FULL + 10_000)
    assert len(module.weights) == 1


def test_fill_keeps_smallest_compressed_tables_whole_with_leftover_bytes():
    budget = FULL // 8
    filled = QR().plan(TABLES, DIM, budget, DataStats())
    plain = QR(fill=False).plan(TABLES, DIM, budget, DataStats())
    assert [t.compressed for t in plain.tables] == [False, False, True, True, True]
    assert [t.compressed for t in filled.tables] == [False, False, True, True, False]
    assert "left over" in filled.tables[4].detail
    assert plain.total_bytes < filled.total_bytes <= budget


def test_collisions_parameter_is_used_everywhere_or_infeasible():
    plan = QR(collisions=16).plan(TABLES, DIM, FULL, DataStats())
    details = [t.detail for t in plan.tables if t.compressed]
    assert details and all("(c=16)" in d for d in details)
    with pytest.raises(Infeasible, match="collisions=16"):
        QR(collisions=16).build(TABLES, DIM, FULL // 64, DataStats(), 0)


def test_min_bytes_is_the_smallest_feasible_budget():
    for params in ({}, {"partitions": 3}, {"operation": "concat"}):
        smallest = QR(**params).min_bytes(TABLES, DIM)
        assert module_bytes(_build(budget=smallest, **params)) <= smallest
        with pytest.raises(Infeasible):
            _build(budget=smallest - 1, **params)


def test_plan_is_instant_for_criteo_tb():
    tables = [TableSpec(f"C{i}", n) for i, n in enumerate(PROFILES["criteo-tb"].cardinalities)]
    full = sum(t.rows for t in tables) * 128 * 4
    start = time.perf_counter()
    plan = QR().plan(tables, 128, full // 64, DataStats())
    QR().min_bytes(tables, 128)
    assert time.perf_counter() - start < 2.0
    assert plan.total_bytes <= full // 64


# -- initialisation -------------------------------------------------------------------------------


def test_symmetric_init_gives_products_the_variance_of_a_full_table():
    n = 60_000
    module = _build(budget=10**7, tables=[TableSpec("t", n)], collisions=16, dim=64)
    out = module(torch.randint(0, n, (4096, 1), generator=torch.Generator().manual_seed(0)))
    assert out.std().item() == pytest.approx(math.sqrt(1 / (3 * n)), rel=0.1)
    assert (module.weights[0] < 0).any()


def test_reference_init_is_all_positive_in_compressed_tables():
    module = _build(init="reference", operation="add")
    n = TABLES[3].rows
    start, rows = int(module.offsets[-1, 3]), -(-n // int(module.radix[3]))
    quotients = module.weights[0][start : start + rows]
    assert quotients.min() >= math.sqrt(1 / n) and quotients.max() <= 1
    tiny = module.weights[0][int(module.offsets[-1, 0]) : int(module.offsets[-1, 0]) + 3]
    assert tiny.abs().max() <= math.sqrt(1 / 3)  # whole tables keep DLRM's U(±sqrt(1/n))


# -- contract -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"operation": "foo"}, "'operation' must be one of mult, add, concat, got 'foo'"),
        ({"partitions": 1}, "'partitions' must be an integer >= 2"),
        ({"collisions": 1}, "'collisions' must be null .* or an integer >= 2, got 1"),
        ({"collisions": "4"}, "'collisions' must be null .* or an integer >= 2, got '4'"),
        ({"threshold": -1}, "'threshold' must be an integer >= 0"),
        ({"init": "normal"}, "'init' must be one of symmetric, reference, got 'normal'"),
        ({"fill": "yes"}, "'fill'"),
    ],
)
def test_bad_parameters_are_rejected_naming_method_parameter_and_values(params, message):
    with pytest.raises(ParamError, match=message) as excinfo:
        QR(**params)
    assert "qr" in str(excinfo.value)


def test_concat_needs_at_least_one_column_per_partition():
    with pytest.raises(ParamError, match="partitions <= dim"):
        _build(dim=2, operation="concat", partitions=3)


def test_out_of_range_ids_are_rejected():
    module = _build()
    with pytest.raises(IndexError, match="id 60000 of feature 3 is out of range"):
        module(torch.tensor([[0, 0, 0, 60_000, 0]]))
    with pytest.raises(IndexError, match="id -1 of feature 0"):
        module(torch.tensor([[-1, 0, 0, 0, 0]]))


def test_same_seed_same_module_other_seed_other_weights():
    a, b, c = _build(seed=1), _build(seed=1), _build(seed=2)
    ids = _ids()
    assert torch.equal(a(ids), b(ids))
    assert not torch.equal(a.weights[0], c.weights[0])


@pytest.mark.parametrize("params", [{}, {"operation": "concat", "partitions": 3}])
def test_conforms_to_the_method_contract(params):
    assert_conforms(QR(**params))
