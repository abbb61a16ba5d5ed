"""Harness overhead: benchsuite's training throughput against a bare PyTorch loop.

Both train the same DLRM with the ``full`` method on the same pre-generated batches (the
quickstart suite's data, model and optimizer); benchsuite runs a real cell through the runner,
reading the batches from an in-memory dataset plugin. Runs alternate so machine noise hits both
alike, and the ratio of medians is reported. The goal is a ratio of at least 0.95.

    python benchmarks/harness_overhead.py [--steps 300] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
import yaml
from torch import nn

from benchsuite.api import Batch, Dataset, DataStats, full_table_bytes
from benchsuite.hookspecs import hookimpl
from benchsuite.host import Host
from benchsuite.model import DLRM
from benchsuite.runner import run_suite
from benchsuite.suite import build_suite
from benchsuite.training import make_optimizer
from benchsuite_plugins.methods.full import Full

QUICKSTART = Path(__file__).resolve().parent.parent / "suites" / "quickstart.yaml"


def load_batches(steps: int) -> tuple[dict, list[Batch], Dataset]:
    """The quickstart configuration and ``steps`` of its training batches, generated once."""
    config = yaml.safe_load(QUICKSTART.read_text())
    host = Host()
    dataset = host.get("datasets", "synthetic").cls(**config["dataset"]["params"])
    bs = config["train"]["batch_size"]
    batches = []
    for batch in dataset.batches("train", bs):
        if len(batch) == bs:
            batches.append(batch)
        if len(batches) == steps:
            break
    return config, batches, dataset


def make_pregenerated(batches: list[Batch], source: Dataset) -> type[Dataset]:
    class Pregenerated(Dataset):
        name = "pregenerated"
        summary = "Batches held in memory (harness-overhead benchmark)"
        defaults = {}
        num_dense = source.num_dense
        tables = source.tables

        def num_samples(self, split: str) -> int:
            return sum(len(b) for b in batches)

        def batches(self, split: str, batch_size: int, *, epoch: int = 0):
            return iter(batches)

        def fingerprint(self) -> str:
            return "pregenerated"

    return Pregenerated


def bare_loop(config: dict, batches: list[Batch], source: Dataset, warmup: int) -> float:
    """Samples/s of the plainest loop that trains the same model on the same tensors."""
    torch.manual_seed(0)
    dim, m = config["model"]["dim"], config["model"]
    tables = source.tables
    emb = Full().build(tables, dim, full_table_bytes(tables, dim), DataStats(), 0)
    model = DLRM(
        emb,
        num_dense=source.num_dense,
        num_features=len(tables),
        dim=dim,
        bottom_mlp=m["bottom_mlp"],
        top_mlp=m["top_mlp"],
    )
    opt = make_optimizer(config["train"]["optimizer"], model.parameters(), config["train"]["lr"])
    loss_fn = nn.BCEWithLogitsLoss()
    start, counted = 0.0, 0
    for i, (dense, ids, labels) in enumerate(batches):
        if i == warmup:
            start, counted = time.perf_counter(), 0
        opt.zero_grad(set_to_none=True)
        loss_fn(model(dense, ids), labels).backward()
        opt.step()
        counted += len(labels)
    return counted / (time.perf_counter() - start)


def harness(config: dict, batches: list[Batch], source: Dataset, warmup: int) -> float:
    """Samples/s that benchsuite's runner records for the same training."""
    module = types.ModuleType("pregenerated_plugin")
    cls = make_pregenerated(batches, source)
    module.benchsuite_register_datasets = hookimpl(lambda: [cls])
    host = Host(plugins={"pregenerated": module})
    suite_dict = {
        "dataset": {"name": "pregenerated"},
        "model": config["model"],
        "train": {
            **config["train"],
            "samples": sum(len(b) for b in batches),
            "eval_every": None,
            "target_auc": None,
            "warmup_steps": warmup,
        },
        "inference": {"batch_sizes": [1024], "batches": 1},
        "methods": ["full"],
        "hardware": "cpu",
    }
    suite = build_suite(suite_dict, host, where="harness-overhead")
    with tempfile.TemporaryDirectory() as out:
        [outcome] = run_suite(suite, out_dir=Path(out), force=True)
    record = outcome.record
    assert record is not None and record["status"] == "ok", record and record["error"]
    return record["metrics"]["train_samples_per_s"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per run")
    parser.add_argument("--warmup", type=int, default=20, help="steps before the clock starts")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each")
    args = parser.parse_args(argv)
    config, batches, source = load_batches(args.steps)
    bare, ours = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(config, batches, source, args.warmup))
        ours.append(harness(config, batches, source, args.warmup))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"bare PyTorch loop : {b:,.0f} samples/s  (runs: {', '.join(f'{x:,.0f}' for x in bare)})")
    print(f"benchsuite runner : {o:,.0f} samples/s  (runs: {', '.join(f'{x:,.0f}' for x in ours)})")
    print(f"ratio (benchsuite / bare): {o / b:.3f}  (goal: >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
