"""The synthetic dataset: deterministic, chunk-independent, Criteo-shaped, with a known teacher."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pluggy
import pytest
import torch

from benchsuite import hookspecs
from benchsuite.api import Batch, BenchsuiteError, ParamError, StatRequest
from benchsuite.measure.metrics import roc_auc
from benchsuite.stats import compute_stats
from benchsuite_plugins.datasets import synthetic
from benchsuite_plugins.datasets.profiles import KAGGLE_CARDINALITIES, TB_CARDINALITIES
from benchsuite_plugins.datasets.synthetic import Bijection, SyntheticDataset, table_rows

SMALL = {
    "scale": 0.001,
    "train_samples": 20_000,
    "validation_samples": 10_000,
    "test_samples": 10_000,
    "chunk_size": 3000,
}


def make(**params: object) -> SyntheticDataset:
    return SyntheticDataset(**{**SMALL, **params})


def collect(dataset: SyntheticDataset, split: str, batch_size: int = 4096, epoch: int = 0) -> Batch:
    parts = list(dataset.batches(split, batch_size, epoch=epoch))
    return Batch(*(torch.cat(ts) for ts in zip(*parts, strict=True)))


def assert_same(a: Batch, b: Batch) -> None:
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def row_keys(batch: Batch) -> set[bytes]:
    rows = np.concatenate([batch.dense.numpy().view(np.int32), batch.ids.numpy().view(np.int32)], 1)
    return {row.tobytes() for row in rows}


def top_share(ids: np.ndarray, rows: int, fraction: float = 0.01) -> float:
    """Share of occurrences carried by the most frequent ``fraction`` of a table's rows."""
    counts = np.sort(np.bincount(ids, minlength=rows))[::-1]
    return counts[: max(1, int(rows * fraction))].sum() / counts.sum()


def row_sets(column: np.ndarray) -> dict[int, np.ndarray]:
    """The rows each id of one table occurs in."""
    order = np.argsort(column, kind="stable")
    values, starts = np.unique(column[order], return_index=True)
    return dict(zip(values.tolist(), np.split(order, starts[1:]), strict=True))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    both = np.intersect1d(a, b, assume_unique=True).size
    return both / (a.size + b.size - both)


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) of two paired discrete samples."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    independent = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    seen = joint > 0
    return float((joint[seen] * np.log(joint[seen] / independent[seen])).sum())


def test_registers_through_the_dataset_hook() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(synthetic)
    assert manager.hook.benchsuite_register_datasets() == [[SyntheticDataset]]
    assert SyntheticDataset.name == "synthetic" and SyntheticDataset.summary


def test_same_seed_gives_the_same_stream_and_another_seed_a_different_one() -> None:
    first, again, other = (collect(make(seed=s), "train") for s in (3, 3, 4))
    assert_same(first, again)
    assert not torch.equal(first.ids, other.ids)
    assert not torch.equal(first.labels, other.labels)


def test_batches_concatenate_to_the_same_rows_whatever_the_batch_size() -> None:
    dataset = make()
    small, large = collect(dataset, "train", 1000), collect(dataset, "train", 4096)
    assert_same(small, large)
    sizes = [len(b) for b in dataset.batches("train", 4096)]
    assert sizes == [4096] * 4 + [20_000 - 4 * 4096]


def test_a_chunk_regenerated_alone_equals_its_rows_in_the_stream() -> None:
    stream = collect(make(), "validation", 1000)
    alone = make().chunk("validation", 2).batch()
    assert_same(alone, Batch(*(t[6000:9000] for t in stream)))


def test_shapes_dtypes_and_ids_within_each_table() -> None:
    dataset = make()
    batch = collect(dataset, "test")
    assert dataset.num_dense == 13
    assert [t.name for t in dataset.tables] == [f"C{i}" for i in range(1, 27)]
    assert batch.dense.shape == (10_000, 13) and batch.dense.dtype == torch.float32
    assert batch.ids.shape == (10_000, 26) and batch.ids.dtype == torch.int64
    assert batch.labels.shape == (10_000,) and batch.labels.dtype == torch.float32
    assert set(batch.labels.unique().tolist()) == {0.0, 1.0}
    rows = torch.tensor([t.rows for t in dataset.tables])
    assert bool((batch.ids >= 0).all()) and bool((batch.ids < rows).all())
    assert bool((batch.dense >= 0).all())


def test_scale_shrinks_tables_but_keeps_tiny_ones_and_cardinalities_override_the_profile() -> None:
    assert table_rows(10131227, 0.001) == 10132
    assert table_rows(1460, 0.001) == 4
    assert table_rows(3, 0.001) == 3
    rows = [t.rows for t in make(scale=1.0).tables]
    assert rows == list(KAGGLE_CARDINALITIES)
    custom = make(scale=1.0, cardinalities=[7] * 26)
    assert [t.rows for t in custom.tables] == [7] * 26
    assert int(collect(custom, "test").ids.max()) <= 6


@pytest.mark.parametrize(
    ("params", "target", "tolerance"),
    [
        ({}, 0.25, 0.012),
        ({"profile": "criteo-tb"}, 0.03, 0.006),
        ({"ctr": 0.1}, 0.1, 0.01),
    ],
)
def test_click_rate_matches_the_target(params: dict, target: float, tolerance: float) -> None:
    dataset = make(train_samples=60_000, chunk_size=20_000, **params)
    assert dataset.ctr == target
    rate = float(collect(dataset, "train", 20_000).labels.mean())
    assert abs(rate - target) < tolerance


def test_zipf_ids_are_skewed_and_uniform_ids_are_flat() -> None:
    feature = 9  # C10: 932 rows at scale 0.01, never missing
    zipf = make(scale=0.01)
    uniform = make(scale=0.01, ids="uniform")
    rows = zipf.tables[feature].rows
    assert top_share(collect(zipf, "train").ids[:, feature].numpy(), rows) > 0.3
    assert top_share(collect(uniform, "train").ids[:, feature].numpy(), rows) < 0.03


def test_popular_ids_are_scattered_over_the_table_not_the_smallest_ids() -> None:
    ids = collect(make(scale=0.01), "train").ids[:, 9].numpy()
    popular = np.argsort(np.bincount(ids))[::-1][:10]
    assert popular.max() > 100


def test_missing_ids_appear_at_the_configured_rate() -> None:
    feature = 21  # C22: about 81% empty in Criteo Kaggle
    full, half = make(), make(missing=0.5)
    assert abs(float((collect(full, "train").ids[:, feature] == 0).float().mean()) - 0.81) < 0.02
    assert abs(float((collect(half, "train").ids[:, feature] == 0).float().mean()) - 0.405) < 0.02
    assert not bool((collect(make(missing=0.0), "train").ids == 0).any())


def test_splits_share_no_rows() -> None:
    dataset = make()
    train, validation, test = (row_keys(collect(dataset, s)) for s in dataset.splits)
    assert len(train) == 20_000 and len(validation) == 10_000 and len(test) == 10_000
    assert not train & validation and not train & test and not validation & test


def test_later_training_epochs_reorder_chunks_reproducibly() -> None:
    dataset = make()
    first, second = collect(dataset, "train", 1000), collect(dataset, "train", 1000, epoch=1)
    assert not torch.equal(first.ids, second.ids)
    assert_same(second, collect(dataset, "train", 4096, epoch=1))
    assert row_keys(first) == row_keys(second)
    assert_same(collect(dataset, "test", epoch=0), collect(dataset, "test", epoch=3))


def test_bayes_auc_is_the_teachers_auc_and_beats_weaker_scorers() -> None:
    dataset = make(validation_samples=40_000)
    bayes = dataset.bayes_auc("validation")
    assert 0.5 < bayes < 1
    batch = collect(dataset, "validation")
    assert roc_auc(batch.labels, torch.from_numpy(dataset.teacher_probability(batch))) == bayes
    groups_only = dataset.teacher_probability(batch, per_id=False)
    assert 0.5 < roc_auc(batch.labels, torch.from_numpy(groups_only)) < bayes - 0.01
    design = np.c_[batch.dense.numpy(), np.ones(len(batch))]
    weights = np.linalg.lstsq(design[:20_000], batch.labels.numpy()[:20_000], rcond=None)[0]
    dense_only = roc_auc(batch.labels[20_000:], torch.from_numpy(design[20_000:] @ weights))
    assert 0.5 < dense_only < bayes - 0.05


def test_bayes_auc_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = make()
    first = dataset.bayes_auc("test")

    def fail(*args: object) -> None:
        raise AssertionError("regenerated the split")

    monkeypatch.setattr(dataset, "chunk", fail)
    assert dataset.bayes_auc("test") == first


def test_criteo_tb_at_full_scale_builds_instantly_without_per_id_tables() -> None:
    tracemalloc.start()
    try:
        start = time.perf_counter()
        dataset = make(profile="criteo-tb", scale=1.0, chunk_size=4096)
        built = time.perf_counter() - start
        batch = next(dataset.batches("train", 4096))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [t.rows for t in dataset.tables] == list(TB_CARDINALITIES)
    assert built < 1.0
    assert len(batch) == 4096 and int(batch.ids[:, 19].max()) < TB_CARDINALITIES[19]
    assert peak < max(TB_CARDINALITIES) * 4 / 8  # an eighth of one fp32 value per id


def test_bijection_permutes_every_table_size() -> None:
    for n in (1, 2, 3, 4, 5, 63, 64, 65, 1000, 4097):
        image = Bijection(n, [11, 22, 33, 44])(np.arange(n))
        assert np.array_equal(np.sort(image), np.arange(n))


def test_bijection_inverse_undoes_it() -> None:
    for n in (1, 2, 3, 5, 64, 65, 1000, 4097, 100_003):
        for keys in ([11, 22, 33, 44], [2**64 - 1, 5, 2**40 + 7, 12345]):
            permutation, x = Bijection(n, keys), np.arange(n)
            assert np.array_equal(permutation.inverse(permutation(x)), x)


def test_the_teacher_recovers_each_ids_group_from_the_id_alone() -> None:
    dataset = make()
    chunk = dataset.chunk("train", 1)  # the generator hands the teacher groups from the ranks
    assert np.array_equal(dataset.teacher_probability(chunk.batch()), chunk.probs)
    groups = dataset.groups(2, chunk.ids[:, 2])
    assert groups.min() >= 0 and groups.max() < dataset.teacher.features[2].groups


@pytest.mark.parametrize(
    "params",
    [
        {"contexts": 0},
        {"cooccurrence": 1.0},
        {"contexts": 7, "cooccurrence": 0.3},
        {"ids": "uniform", "contexts": 100},
        {"zipf": 1.0, "missing": 0.0},
    ],
)
def test_any_context_setting_keeps_ids_in_range_and_chunks_reproducible(params: dict) -> None:
    dataset = make(**params)
    stream = collect(dataset, "validation", 1000)
    rows = torch.tensor([t.rows for t in dataset.tables])
    assert bool((stream.ids >= 0).all()) and bool((stream.ids < rows).all())
    assert_same(stream, collect(make(**params), "validation", 4096))
    assert_same(
        make(**params).chunk("validation", 2).batch(), Batch(*(t[6000:9000] for t in stream))
    )


def test_contexts_leave_every_ids_frequency_unchanged() -> None:
    feature = 2  # C3: 10132 rows at scale 0.001
    counts = []
    for params in ({"contexts": 0}, {"cooccurrence": 1.0}):  # independent ids; all tied
        dataset = make(train_samples=40_000, chunk_size=20_000, **params)
        ids = collect(dataset, "train", 20_000).ids[:, feature].numpy()
        counts.append(np.bincount(ids, minlength=dataset.tables[feature].rows))
        assert top_share(ids, dataset.tables[feature].rows) > 0.3
    free, tied = counts
    frequent = free + tied >= 40
    assert frequent.sum() > 50
    free, tied = free[frequent], tied[frequent]
    chi2 = (free - tied) ** 2 / (free + tied)  # about 1 when the laws agree
    assert chi2.mean() < 1.5


def test_ids_at_the_same_context_position_share_rows_across_tables() -> None:
    f, g = 2, 3  # C3 and C4
    linker = make()
    jaccards = {}
    for name, params in (("contexts", {}), ("independent", {"contexts": 0})):
        ids = collect(make(**params), "train").ids.numpy()
        rows_f, rows_g = row_sets(ids[:, f]), row_sets(ids[:, g])
        frequent = np.array([x for x, rows in rows_f.items() if x and rows.size >= 10])
        others = np.array([y for y, rows in rows_g.items() if y and rows.size >= 10])
        linked = linker.ids_at(g, linker.positions(f, frequent))
        random = np.random.default_rng(0).choice(others, frequent.size)
        jaccards[name] = [
            np.mean([jaccard(rows_f[x], rows_g.get(y, np.empty(0, int))) for x, y in pairs])
            for pairs in (zip(frequent, linked, strict=True), zip(frequent, random, strict=True))
        ]
    linked, random = jaccards["contexts"]
    assert linked > 0.01 and linked > 10 * random
    linked_off, random_off = jaccards["independent"]
    assert linked_off < linked / 5 and random_off < 0.002


def test_groups_of_two_tables_co_occur_only_with_contexts() -> None:
    f, g = 2, 3  # C3 (101 groups) and C4 (47 groups)
    excess = {}
    for name, params in (("contexts", {}), ("independent", {"contexts": 0})):
        dataset = make(**params)
        ids = collect(dataset, "train").ids.numpy()
        both = (ids[:, f] > 0) & (ids[:, g] > 0)
        groups_f, groups_g = dataset.groups(f, ids[both, f]), dataset.groups(g, ids[both, g])
        shuffled = np.random.default_rng(0).permutation(groups_g)  # the estimator's own bias
        excess[name] = mutual_information(groups_f, groups_g) - mutual_information(
            groups_f, shuffled
        )
    assert excess["contexts"] > 0.05
    assert abs(excess["independent"]) < 0.02


def test_ids_of_a_group_are_tied_to_the_same_few_contexts() -> None:
    dataset = make()
    feature = 2  # C3: 10132 rows, 101 groups for 256 contexts
    ids = np.arange(1, dataset.tables[feature].rows)
    positions = dataset.positions(feature, ids)
    assert np.array_equal(dataset.ids_at(feature, positions), ids)
    contexts = np.floor(positions * 256).astype(np.int64)
    groups = dataset.groups(feature, ids)
    spans = [np.unique(contexts[groups == group]).size for group in np.unique(groups)]
    assert np.mean(spans) < 256 / 101 + 2  # hashed groups of ~100 ids would span ~80
    assert np.isnan(dataset.positions(feature, np.array([0])))[0]
    with pytest.raises(BenchsuiteError, match="without contexts"):
        make(contexts=0).positions(feature, ids)


def test_minhash_signatures_of_ids_that_co_occur_agree() -> None:
    f, g = 2, 3  # C3 and C4
    dataset = make(chunk_size=20_000)
    need = [StatRequest("frequencies"), StatRequest("signatures", {"rows": 20_000, "hashes": 32})]
    stats = compute_stats(dataset, need)
    counts_f, counts_g = (stats.frequencies[t].numpy() for t in (f, g))
    frequent = np.flatnonzero(counts_f >= 5)[1:]  # not the missing id 0
    others = np.flatnonzero(counts_g >= 5)[1:]
    linked = dataset.ids_at(g, dataset.positions(f, frequent))
    random = np.random.default_rng(0).choice(others, frequent.size)
    sig_f, sig_g = stats.signatures[f].numpy(), stats.signatures[g].numpy()
    agree_linked, agree_random = ((sig_f[frequent] == sig_g[y]).mean() for y in (linked, random))
    assert agree_linked > 0.01 and agree_linked > 10 * agree_random


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("profile", "criteo-mini"),
        ("scale", 0.0),
        ("scale", -1.0),
        ("seed", -1),
        ("train_samples", -5),
        ("validation_samples", -1),
        ("ids", "gaussian"),
        ("zipf", -0.5),
        ("ctr", 0.0),
        ("ctr", 1.5),
        ("ctr", "high"),
        ("groups", -1),
        ("rank", 0),
        ("sigma", -0.1),
        ("missing", -1.0),
        ("contexts", -1),
        ("contexts", 1 << 17),
        ("cooccurrence", -0.1),
        ("cooccurrence", 1.5),
        ("chunk_size", 0),
        ("cardinalities", [100] * 3),
        ("cardinalities", [1] * 26),
        ("scale", "big"),
        ("no_such_parameter", 1),
    ],
)
def test_bad_parameters_raise_param_error_naming_the_parameter(key: str, value: object) -> None:
    with pytest.raises(ParamError, match=repr(key)):
        SyntheticDataset(**{key: value})


def test_unknown_split_raises_naming_the_allowed_splits() -> None:
    with pytest.raises(BenchsuiteError, match="train, validation, test"):
        make().num_samples("dev")
    with pytest.raises(BenchsuiteError, match="allowed"):
        next(make().batches("eval", 10))


def test_bad_batch_size_epoch_or_chunk_index_raise_clear_errors() -> None:
    dataset = make()
    with pytest.raises(BenchsuiteError, match="batch_size"):
        dataset.batches("train", 0)
    with pytest.raises(BenchsuiteError, match="epoch"):
        dataset.batches("train", 10, epoch=-1)
    with pytest.raises(BenchsuiteError, match="no chunk 7"):
        dataset.chunk("train", 7)
    with pytest.raises(BenchsuiteError, match="empty"):
        make(test_samples=0).bayes_auc("test")
