"""The statistics pass: what a method declares in ``needs`` reaches its ``build``."""

from __future__ import annotations

import json

import torch

from benchsuite.api import FREQUENCIES, SAMPLE, StatRequest
from benchsuite.host import Host
from benchsuite.stats import compute_stats

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
