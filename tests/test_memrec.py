"""The memrec method: Bloom-hashed token and weight tables, pooled over features or per feature."""

import math
import random
import time

import pytest
import torch

from benchsuite.api import DataStats, Infeasible, ParamError, TableSpec
from benchsuite.measure.memory import module_bytes
from benchsuite.model import DLRM
from benchsuite.testing import assert_conforms
from benchsuite_plugins.methods.memrec import (
    ID_BITS,
    MAX_ROWS,
    Memrec,
    memrec_layout,
    mix64,
)

TABLES = [TableSpec("a", 10), TableSpec("b", 5000), TableSpec("c", 200_000), TableSpec("d", 3)]
DIM = 8
FULL = sum(t.rows for t in TABLES) * DIM * 4
U64 = 2**64


def _build(budget=FULL // 16, seed=0, **params):
    return Memrec(**params).build(TABLES, DIM, budget, DataStats(), seed)


def _ids(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    cols = [torch.randint(0, t.rows, (n,), generator=g) for t in TABLES]
    ids = torch.stack(cols, dim=1)
    ids[0] = torch.tensor([t.rows - 1 for t in TABLES])
    return ids


def _buffers(k=1, kw=1):
    """Bytes of the int64 buffers: seeds and moduli per hash, keys and id counts per table."""
    return 8 * (2 * (k + kw) + 2 * len(TABLES))


# -- the hash, in exact Python integers -----------------------------------------------------------


def _py_mix64(z: int) -> int:
    z ^= z >> 30
    z = z * 0xBF58476D1CE4E5B9 % U64
    z ^= z >> 27
    z = z * 0x94D049BB133111EB % U64
    return z ^ (z >> 31)


def _py_index(feature: int, x: int, seed: int, rows: int) -> int:
    """Row of (feature, x) under the hash with seed ``seed`` (int64 bits), in [0, rows)."""
    h = _py_mix64(((feature << ID_BITS) + x) ^ (seed % U64))
    return ((h % 2**32) * rows) >> 32


def _expected_indices(module, ids):
    """Token indices [B, T, k] and weight indices [B, T, kw] from the formulas."""
    k, seeds = module.k, [int(s) for s in module.seeds]
    d = module.tokens.shape[0]
    dw = 0 if module.weights is None else module.weights.shape[0]
    tok = [
        [[_py_index(f, int(x), s, d) for s in seeds[:k]] for f, x in enumerate(row)] for row in ids
    ]
    wt = [
        [[_py_index(f, int(x), s, dw) for s in seeds[k:]] for f, x in enumerate(row)] for row in ids
    ]
    return tok, wt


def test_mix64_is_splitmix64_on_uint64_bits_despite_signed_int64_ops():
    rng = random.Random(0)
    values = [rng.getrandbits(64) for _ in range(2000)] + [0, 1, 2**63 - 1, 2**63, U64 - 1]
    signed = torch.tensor([v - U64 if v >= 2**63 else v for v in values], dtype=torch.int64)
    got = [v % U64 for v in mix64(signed.clone()).tolist()]
    assert got == [_py_mix64(v) for v in values]


def test_mix64_is_a_bijection_on_a_dense_range_of_keys():
    keys = torch.arange(200_000, dtype=torch.int64)
    assert torch.unique(mix64(keys.clone())).numel() == 200_000


@pytest.mark.parametrize("params", [{}, {"pooled": False}, {"k": 3, "kw": 2, "dw_ratio": 0.3}])
def test_indices_are_64_bit_hashes_of_feature_and_id(params):
    module = _build(**params)
    ids = _ids(8)
    tok, wt = module.indices(ids)
    exp_tok, exp_wt = _expected_indices(module, ids)
    assert tok.tolist() == exp_tok and wt.tolist() == exp_wt


def test_ids_65536_apart_do_not_share_rows_no_16_bit_truncation():
    # The reference encoder keeps only the low 16 bits of the id: x and x + 2^16 always collide.
    module = _build(FULL)  # D ≈ 180k rows
    x = torch.arange(0, 1000, dtype=torch.int64)
    ids = torch.zeros(2000, len(TABLES), dtype=torch.int64)
    ids[:1000, 2], ids[1000:, 2] = x, x + 2**16
    tok, _ = module.indices(ids)
    same = (tok[:1000, 2] == tok[1000:, 2]).float().mean().item()
    assert same < 0.01


def test_same_id_in_different_features_hashes_to_different_rows():
    module = _build(FULL)
    tok, wt = module.indices(torch.full((1, len(TABLES)), 2, dtype=torch.int64))
    assert len(set(tok[0, :, 0].tolist())) == len(TABLES)
    assert len(set(wt[0, :, 0].tolist())) == len(TABLES)


def test_token_and_weight_tables_have_separate_sizes_d_and_dw():
    module = _build(FULL // 4, dw_ratio=0.1)
    d, dw = module.tokens.shape[0], module.weights.shape[0]
    assert dw == int(0.1 * d) and module.moduli.tolist() == [d, dw]
    ids = torch.zeros(50_000, len(TABLES), dtype=torch.int64)
    ids[:, 2] = torch.arange(50_000)  # 50,000 distinct keys of feature c
    tok, wt = module.indices(ids)
    assert int(wt.max()) < dw <= int(tok.max()) < d  # weights reduced into [0, dw), not [0, D)
    assert int(tok.min()) >= 0 and int(wt.min()) >= 0
    # Every weight row is reachable: the hash spreads over the whole of [0, dw).
    assert torch.unique(wt).numel() > 0.9 * dw


def test_each_hash_has_its_own_seed_and_seeds_are_64_bit():
    module = _build(k=4, kw=3)
    seeds = module.seeds.tolist()
    assert module.seeds.dtype == torch.int64 and len(set(seeds)) == 7
    assert max(abs(s) for s in seeds) > 2**40  # drawn over 64 bits, not a small range


# -- the embedding ------------------------------------------------------------------------------


def test_pooled_output_is_weight_sum_times_token_sum_over_all_features():
    module = _build(k=2, kw=2)
    ids = _ids(6)
    out = module(ids).detach()
    assert out.shape == (6, DIM) and module.out_features == DIM
    tok, wt = _expected_indices(module, ids)
    tokens, weights = module.tokens.detach(), module.weights.detach()[:, 0]
    for row in range(6):
        t = sum(tokens[i] for feature in tok[row] for i in feature)
        w = sum(weights[i] for feature in wt[row] for i in feature)
        assert torch.allclose(out[row], w * t, atol=1e-7)


def test_per_feature_output_is_each_features_own_weight_sum_times_token_sum():
    module = _build(pooled=False, k=3, kw=2)
    ids = _ids(5)
    out = module(ids).detach()
    assert out.shape == (5, len(TABLES), DIM) and not hasattr(module, "out_features")
    tok, wt = _expected_indices(module, ids)
    tokens, weights = module.tokens.detach(), module.weights.detach()[:, 0]
    for row in range(5):
        for f in range(len(TABLES)):
            t = sum(tokens[i] for i in tok[row][f])
            w = sum(weights[i] for i in wt[row][f])
            assert torch.allclose(out[row, f], w * t, atol=1e-7)


def test_width_sets_the_pooled_vector_size_default_is_the_dim():
    assert _build()(_ids(4)).shape == (4, DIM)
    module = _build(width=24)
    assert module.tokens.shape[1] == 24 and module.out_features == 24
    assert module(_ids(4)).shape == (4, 24)


def test_without_weight_hashes_the_output_is_the_token_sum():
    module = _build(kw=0, k=2)
    assert module.weights is None and module.moduli.numel() == 2
    ids = _ids(4)
    tok, _ = _expected_indices(module, ids)
    expected = torch.stack([sum(module.tokens[i] for f in row for i in f) for row in tok])
    assert torch.allclose(module(ids), expected)


def test_output_kind_is_an_instance_attribute_set_by_pooled():
    assert Memrec.output == "pooled"
    assert Memrec().output == "pooled"
    assert Memrec(pooled=False).output == "per_feature"
    assert Memrec.output == "pooled"  # the class attribute is untouched


@pytest.mark.parametrize("pooled", [True, False])
def test_dlrm_takes_either_variant(pooled):
    method = Memrec(pooled=pooled)
    model = DLRM(
        _build(pooled=pooled),
        num_dense=3,
        num_features=len(TABLES),
        dim=DIM,
        bottom_mlp=[8],
        top_mlp=[8],
        output=method.output,
    )
    top_in = model.top[0].in_features
    assert top_in == (2 * DIM if pooled else DIM + 5 * 4 // 2)  # 5 vectors: 10 pairs
    logits = model(torch.randn(7, 3), _ids(7))
    assert logits.shape == (7,)
    logits.sum().backward()
    assert model.embedding.tokens.grad is not None


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("params", [{}, {"pooled": False, "k": 3, "kw": 2}])
def test_gradient_is_the_scatter_add_of_the_output_gradient(sparse, params):
    module = _build(400, sparse=sparse, **params)  # few rows: indices repeat within the batch
    ids = _ids(32)
    out = module(ids)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * g).sum().backward()
    assert module.tokens.grad.is_sparse == sparse and module.weights.grad.is_sparse == sparse
    ref = _build(400, sparse=sparse, **params)
    tokens = module.tokens.detach().clone().requires_grad_()
    weights = module.weights.detach().clone().requires_grad_()
    tok, wt = ref.indices(ids)
    bags = ids.shape[0] if module.pooled else ids.numel()
    t = tokens[tok.reshape(bags, -1)].sum(1)
    w = weights[wt.reshape(bags, -1)].sum(1)
    ((t * w).view(out.shape) * g).sum().backward()
    assert torch.allclose(module.tokens.grad.to_dense(), tokens.grad, atol=1e-6)
    assert torch.allclose(module.weights.grad.to_dense(), weights.grad, atol=1e-6)


def test_sgd_step_is_the_same_with_sparse_and_dense_gradients():
    ids = _ids(32)
    states = []
    for sparse in (True, False):
        module = _build(sparse=sparse, pooled=False)
        optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
        module(ids).pow(2).sum().backward()
        optimizer.step()
        states.append(module.state_dict())
    assert all(torch.allclose(states[0][k], states[1][k], atol=1e-6) for k in states[0])


def test_both_tables_init_uniform_within_sqrt_one_over_d():
    module = _build(FULL // 4)
    bound = math.sqrt(1 / module.tokens.shape[0])
    for table in (module.tokens, module.weights):
        assert table.abs().max() <= bound and table.abs().max() > 0.9 * bound


# -- budget ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{}, {"pooled": False}, {"kw": 0}, {"k": 3, "kw": 2, "dw_ratio": 0.5}, {"width": 32}],
)
@pytest.mark.parametrize("budget", [FULL // 4, FULL // 16, FULL // 64, 12_345])
def test_module_fits_budget_and_plan_equals_built_bytes(params, budget):
    module = _build(budget, **params)
    plan = Memrec(**params).plan(TABLES, DIM, budget, DataStats())
    used = module_bytes(module)
    assert used <= budget and plan.total_bytes == used
    width = params.get("width", DIM)
    one_more_row = 4 * (width + params.get("dw_ratio", 1.0) * (params.get("kw", 1) > 0)) + 4
    assert budget - used < one_more_row  # D is the largest that fits
    assert [t.table for t in plan.tables] == ["a", "b", "c", "d"]


def test_d_and_dw_from_the_budget_formula():
    budget = 100_000
    free = budget - _buffers()
    # dw = D: 4·D·(m + 1) <= free.
    module = _build(budget)
    assert module.tokens.shape == (free // (4 * (DIM + 1)), DIM)
    assert module.weights.shape == (module.tokens.shape[0], 1)
    # No weight table: 4·D·m <= free.
    assert _build(budget, kw=0).tokens.shape[0] == (budget - _buffers(kw=0)) // (4 * DIM)
    # dw = ⌊D/4⌋.
    quarter = _build(budget, dw_ratio=0.25)
    d = quarter.tokens.shape[0]
    assert quarter.weights.shape[0] == d // 4
    assert 4 * (d * DIM + d // 4) <= free < 4 * ((d + 1) * DIM + (d + 1) // 4)


def test_plan_lists_tables_shared_memory_and_buffers():
    plan = Memrec().plan(TABLES, DIM, FULL // 16, DataStats())
    module = _build()
    assert all(t.compressed and t.bytes == 0 for t in plan.tables)
    names = [s.name for s in plan.shared]
    assert names == [
        "token table T",
        "weight table W",
        "hash seeds and moduli",
        "feature keys and id counts",
    ]
    assert plan.shared[0].shape == tuple(module.tokens.shape)
    assert plan.shared[1].shape == tuple(module.weights.shape)
    assert "weight table W" not in [
        s.name for s in Memrec(kw=0).plan(TABLES, DIM, 9999, None).shared
    ]


def test_min_bytes_is_one_row_each_and_the_smallest_feasible_budget():
    smallest = Memrec().min_bytes(TABLES, DIM)
    assert smallest == _buffers() + 4 * (DIM + 1)
    module = _build(smallest)
    assert module.tokens.shape == (1, DIM) and module.weights.shape == (1, 1)
    with pytest.raises(Infeasible, match=r"memrec: a budget of .* cannot hold one token row"):
        _build(smallest - 1)
    assert Memrec(kw=0, width=4).min_bytes(TABLES, DIM) == _buffers(kw=0) + 16


def test_criteo_tb_sized_tables_plan_instantly():
    tb = [TableSpec(f"t{i}", 40_000_000) for i in range(26)]
    start = time.perf_counter()
    plan = Memrec(width=128).plan(tb, 128, 38_700_000, DataStats())
    assert time.perf_counter() - start < 0.1
    assert plan.total_bytes <= 38_700_000
    assert plan.shared[0].shape == (plan.shared[1].shape[0], 128)  # D = dw, about 75k
    assert 74_000 < plan.shared[0].shape[0] < 76_000


def test_rows_are_capped_where_fast_range_stays_exact():
    layout = memrec_layout(TABLES, 1, 10**12, 1, 1, 2.0)
    assert layout.rows == MAX_ROWS and layout.weight_rows == MAX_ROWS
    # The largest D times the largest low half stays below 2^63 and maps into [0, D).
    assert ((2**32 - 1) * MAX_ROWS) >> 32 == MAX_ROWS - 1


def test_ids_that_do_not_fit_the_64_bit_key_are_infeasible():
    with pytest.raises(Infeasible, match="ids below 2\\^40"):
        Memrec().plan([TableSpec("x", 2**40 + 1)], DIM, 10**6, DataStats())


# -- contract ------------------------------------------------------------------------------------


def test_out_of_range_id_is_rejected_naming_the_feature():
    module = _build()
    with pytest.raises(IndexError, match="id 5000 of feature 1 is out of range"):
        module(torch.tensor([[0, 5000, 0, 0]]))
    with pytest.raises(IndexError, match="id -1 of feature 3 is out of range"):
        _build(pooled=False)(torch.tensor([[0, 0, 0, -1]]))


def test_same_seed_same_state_other_seed_other_hashes():
    a, b, c = _build(seed=1), _build(seed=1), _build(seed=2)
    ids = _ids()
    assert torch.equal(a(ids), b(ids)) and torch.equal(a.seeds, b.seeds)
    assert not torch.equal(a.seeds, c.seeds) and not torch.equal(a.tokens, c.tokens)
    assert not torch.equal(a.indices(ids)[0], c.indices(ids)[0])


def test_seed_parameter_overrides_cell_seed():
    first = Memrec(seed=5).build(TABLES, DIM, FULL // 8, DataStats(), 1)
    second = Memrec(seed=5).build(TABLES, DIM, FULL // 8, DataStats(), 2)
    assert torch.equal(first.seeds, second.seeds) and torch.equal(first.tokens, second.tokens)


def test_needs_no_statistics():
    assert Memrec.needs == () and Memrec(pooled=False).needs == ()
    module = Memrec().build(TABLES, DIM, FULL // 16, None, 0)
    assert module(_ids(2)).shape == (2, DIM)


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"k": 0}, r"memrec: 'k' \(token hashes\) must be an integer in 1..64, got 0"),
        ({"k": 65}, r"memrec: 'k' \(token hashes\) must be an integer in 1..64"),
        ({"kw": -1}, r"memrec: 'kw' \(weight hashes\) must be an integer in 0..64, got -1"),
        ({"dw_ratio": 0}, "memrec: 'dw_ratio' .* must be a finite number > 0, got 0.0"),
        ({"dw_ratio": float("inf")}, "memrec: 'dw_ratio' .* must be a finite number > 0"),
        ({"width": 0}, "memrec: 'width' must be a positive integer or null"),
        ({"width": "16"}, "memrec: 'width' must be a positive integer or null"),
        ({"width": 16, "pooled": False}, "memrec: 'width' applies only with pooled: true"),
        ({"pooled": 1}, "'memrec' parameter 'pooled' must be bool"),
        ({"sparse": "yes"}, "'memrec' parameter 'sparse' must be bool"),
        ({"k": "9"}, "'memrec' parameter 'k' must be int"),
        ({"seed": -1}, "memrec: 'seed' must be a non-negative integer or null"),
        ({"D": 75000}, "has no parameter 'D'; allowed: dw_ratio, k, kw, pooled, seed, sparse"),
    ],
)
def test_bad_parameters_are_rejected_naming_parameter_and_allowed_values(params, fragment):
    with pytest.raises(ParamError, match=fragment):
        Memrec(**params)


def test_conforms_to_the_method_contract():
    assert_conforms(Memrec())
    assert_conforms(Memrec(pooled=False))
    assert_conforms(Memrec(k=3, kw=0, width=8, sparse=False, seed=3))
    assert_conforms(Memrec(pooled=False, k=2, kw=2, dw_ratio=0.25, sparse=False))
