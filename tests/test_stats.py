"""The statistics pass: what a method declares in ``needs`` reaches its ``build``."""

from __future__ import annotations

import json

import pytest
import torch

from benchsuite.api import (
    FREQUENCIES,
    NO_SIGNATURE,
    PRETRAINED,
    SAMPLE,
    SIGNATURES,
    Batch,
    Dataset,
    StatRequest,
    TableSpec,
)
from benchsuite.host import Host
from benchsuite.stats import StatsCache, compute_stats

PARAMS = {
    "scale": 0.0002,
    "train_samples": 5000,
    "validation_samples": 1000,
    "test_samples": 1000,
    "chunk_size": 2048,
}


def _dataset():
    return Host().get("datasets", "synthetic").cls(**PARAMS)


def test_frequencies_count_every_id_of_the_training_split():
    ds = _dataset()
    stats = compute_stats(ds, [StatRequest(FREQUENCIES)], batch_size=999)
    ids = torch.cat([b.ids for b in ds.batches("train", 4096)])
    for f, table in enumerate(ds.tables):
        expected = torch.bincount(ids[:, f], minlength=table.rows)
        assert torch.equal(stats.frequencies[f], expected)
    assert stats.cost["seconds"] > 0 and stats.cost["bytes"] > 0


def test_sample_is_reproducible_and_made_of_training_rows():
    ds = _dataset()
    a = compute_stats(ds, [StatRequest(SAMPLE, {"rows": 300})], seed=1)
    b = compute_stats(ds, [StatRequest(SAMPLE, {"rows": 300})], seed=1, batch_size=777)
    assert len(a.sample) == 300
    assert all(torch.equal(x, y) for x, y in zip(a.sample, b.sample, strict=True))
    train = {tuple(r) for r in torch.cat([bt.ids for bt in ds.batches("train", 4096)]).tolist()}
    assert all(tuple(r) in train for r in a.sample.ids.tolist())


def test_method_needing_statistics_receives_them(write_plugin, plugins_dir, write_suite, tmp_path):
    write_plugin(
        "needy",
        """
        import json
        from torch import nn
        from benchsuite.api import Method, StatRequest
        from benchsuite.hookspecs import hookimpl

        class Needy(Method):
            name = "needy"
            summary = "Records what statistics it got (test)"
            needs = (StatRequest("frequencies"), StatRequest("sample", {"rows": 64}))

            def build(self, tables, dim, budget, stats, seed):
                seen = {"tables": len(stats.frequencies), "sample": len(stats.sample),
                        "total": int(sum(f.sum() for f in stats.frequencies))}
                (__import__("pathlib").Path(__file__).parent / "seen.json").write_text(
                    json.dumps(seen))
                return nn.Embedding(sum(t.rows for t in tables) // 8, dim)

        @hookimpl
        def benchsuite_register_methods():
            return [Needy]
    """,
    )
    from benchsuite.cli import main

    main(
        [
            "run",
            "--suite",
            str(write_suite({"methods": ["needy"]})),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
            "--plugins-dir",
            str(plugins_dir),
        ]
    )
    seen = json.loads((plugins_dir / "seen.json").read_text())
    assert seen == {"tables": 26, "sample": 64, "total": 26 * 8192}
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    assert record["metrics"]["stats_cost"]["seconds"] > 0


class Listed(Dataset):
    """Rows given as a list, for statistics with known answers."""

    name = "listed"
    summary = "In-memory rows (test)"
    defaults: dict = {}
    rows: list[list[int]] = []
    num_dense = 0

    @property
    def tables(self):
        return [TableSpec("a", 10), TableSpec("b", 10)]

    def num_samples(self, split):
        return len(self.rows)

    def batches(self, split, batch_size, *, epoch=0):
        ids = torch.tensor(self.rows, dtype=torch.int64)
        for i in range(0, len(ids), batch_size):
            part = ids[i : i + batch_size]
            yield Batch(torch.zeros(len(part), 0), part, torch.zeros(len(part)))

    def fingerprint(self):
        return "listed-" + str(hash(str(self.rows)) & 0xFFFF)


def _listed(rows):
    return type("L", (Listed,), {"rows": rows})()


def test_signatures_agree_for_ids_in_the_same_rows_and_mark_unseen_ids():
    # id 1 of feature a and id 5 of feature b occur in exactly rows {0, 3}; id 9 of b in none
    ds = _listed([[1, 5], [2, 6], [3, 7], [1, 5], [2, 6]])
    feature_a, feature_b = compute_stats(ds, [StatRequest(SIGNATURES, {"hashes": 32})]).signatures
    assert feature_b.dtype == torch.int32 and feature_b.shape == (10, 32)
    assert torch.equal(feature_a[1], feature_b[5])
    assert not torch.equal(feature_a[1], feature_a[2])
    assert (feature_b[9] == NO_SIGNATURE).all() and (feature_b[7] < NO_SIGNATURE).all()


def test_signature_agreement_estimates_jaccard_similarity():
    # id 1 occurs in rows 0..99, id 2 in rows 50..149: Jaccard 50/150 = 1/3
    ds = _listed([[1 if i < 100 else 0, 2 if i >= 50 else 0] for i in range(150)])
    stats = compute_stats(ds, [StatRequest(SIGNATURES, {"hashes": 512, "rows": 150})])
    a, b = stats.signatures[0][1], stats.signatures[1][2]
    agreement = (a == b).float().mean().item()
    assert abs(agreement - 1 / 3) < 0.08


def test_pretrained_embeddings_have_one_row_per_id_and_move_seen_ids():
    ds = _dataset()
    req = StatRequest(PRETRAINED, {"dim": 4, "samples": 2048})
    trained = compute_stats(ds, [req]).embeddings
    again = compute_stats(ds, [req]).embeddings
    assert [e.shape for e in trained] == [(t.rows, 4) for t in ds.tables]
    assert all(torch.equal(x, y) for x, y in zip(trained, again, strict=True))


def test_second_computation_comes_from_the_disk_cache(tmp_path):
    ds, cache = _dataset(), StatsCache(tmp_path)
    first = compute_stats(ds, [StatRequest(FREQUENCIES)], cache=cache)
    second = compute_stats(ds, [StatRequest(FREQUENCIES)], cache=cache)
    assert first.cost["cached"] == 0.0 and second.cost["cached"] == 1.0
    assert second.cost["seconds"] == first.cost["seconds"]  # the price paid once, recorded
    assert all(
        torch.equal(x, y) for x, y in zip(first.frequencies, second.frequencies, strict=True)
    )


def test_corrupt_cache_entry_is_recomputed_with_a_warning(tmp_path):
    warnings: list[str] = []
    ds, cache = _dataset(), StatsCache(tmp_path, warn=warnings.append)
    compute_stats(ds, [StatRequest(FREQUENCIES)], cache=cache)
    [data] = list(tmp_path.rglob("*.pt"))
    data.write_bytes(data.read_bytes()[:-10] + b"0123456789")
    again = compute_stats(ds, [StatRequest(FREQUENCIES)], cache=cache)
    assert again.cost["cached"] == 0.0
    assert len(warnings) == 1 and "checksum does not match" in warnings[0]


def test_cache_entry_of_other_data_is_not_used(tmp_path):
    warnings: list[str] = []
    ds, cache = _dataset(), StatsCache(tmp_path, warn=warnings.append)
    compute_stats(ds, [StatRequest(FREQUENCIES)], cache=cache)
    [manifest] = list(tmp_path.rglob("*.json"))
    text = manifest.read_text().replace(ds.fingerprint(), "0" * 16)
    manifest.write_text(text)
    assert compute_stats(ds, [StatRequest(FREQUENCIES)], cache=cache).cost["cached"] == 0.0
    assert "other data or parameters" in warnings[0]


NEEDS_PLUGIN = """
    from torch import nn
    from benchsuite.api import Method, StatRequest
    from benchsuite.hookspecs import hookimpl

    class Wants(Method):
        name = "wants"
        summary = "Needs a statistic (test)"
        needs = (StatRequest("{kind}"),)

        def build(self, tables, dim, budget, stats, seed):
            return nn.Embedding(1, dim)

    @hookimpl
    def benchsuite_register_methods():
        return [Wants]
"""


def test_unknown_statistic_fails_suite_validation(write_plugin, host_with, write_suite):
    from benchsuite.suite import SuiteError, load_suite

    write_plugin("wants", NEEDS_PLUGIN.replace("{kind}", "telepathy"))
    with pytest.raises(SuiteError, match="wants needs unknown statistic 'telepathy'"):
        load_suite(write_suite({"methods": ["wants"]}), host_with())


def test_statistic_the_dataset_cannot_provide_fails_validation(
    write_plugin, host_with, write_suite, monkeypatch
):
    from benchsuite.suite import SuiteError, load_suite

    write_plugin("wants", NEEDS_PLUGIN.replace("{kind}", "pretrained"))
    host = host_with()
    monkeypatch.setattr(host.get("datasets", "synthetic").cls, "provides", ("frequencies",))
    with pytest.raises(SuiteError, match="cannot provide"):
        load_suite(write_suite({"methods": ["wants"]}), host)
