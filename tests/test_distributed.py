"""One cell on two processes: torchrun, gloo, DDP; the same results as one process, one record.

Each test starts ``torchrun --standalone --nproc-per-node 2 -m benchsuite run`` as a user would.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist

from benchsuite import checkpoint, results
from benchsuite.cli import main
from benchsuite_plugins.datasets.criteo import CriteoKaggle
from benchsuite_plugins.datasets.fakelogs import criteo_lines, write_lines

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(),
    reason="torch is built without torch.distributed's gloo backend",
)

#: Seconds a two-process run of a tiny cell may take before the test calls it a hang.
HANG_S = 240

SYNTHETIC = """\
name: tiny
dataset:
  name: synthetic
  params: {scale: 0.001, train_samples: 30000, validation_samples: 6000, test_samples: 6000,
           chunk_size: 7000}
model: {dim: 8, bottom_mlp: [16], top_mlp: [16]}
train: {optimizer: adagrad, lr: 0.05, batch_size: 500, samples: 30000, eval_every: 15000,
        warmup_steps: 5}
inference: {batch_sizes: [500], batches: 2}
methods: [hashing]
budgets: [8x]
seeds: [0]
hardware: cpu
"""


def _torchrun(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "benchsuite", *args,
    ]  # fmt: skip
    run_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    return subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HANG_S,
        env={**run_env, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def _records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _single(tmp_path: Path, suite: Path, out: str) -> dict[str, Any]:
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / out), "--quiet"]) == 0
    (record,) = _records(tmp_path / out)
    return record


def _same_training(one: dict[str, Any], two: dict[str, Any]) -> None:
    """The two-process record trained on the same batches: same curve and test AUC."""
    assert two["status"] == one["status"] == "ok"
    assert abs(two["metrics"]["test_auc"] - one["metrics"]["test_auc"]) < 1e-5
    assert [p["samples"] for p in two["curve"]] == [p["samples"] for p in one["curve"]]
    for a, b in zip(one["curve"], two["curve"], strict=True):
        assert abs(a["auc"] - b["auc"]) < 1e-5
    assert two["metrics"]["train_samples"] == one["metrics"]["train_samples"]
    assert two["config_hash"] == one["config_hash"]


def test_two_processes_give_the_single_process_test_auc_and_one_record_of_world_size_2(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SYNTHETIC)
    one = _single(tmp_path, suite, "one")
    done = _torchrun(tmp_path, "run", "--suite", str(suite), "--out", "two", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    (two,) = _records(tmp_path / "two")
    _same_training(one, two)
    section = two["distributed"]
    assert section["world_size"] == 2 and section["backend"] == "gloo"
    assert len(section["rank_samples_per_s"]) == 2
    assert all(v > 0 for v in section["rank_samples_per_s"])
    assert section["allreduce_bytes_per_step"] > 0
    assert done.stdout.count("| hashing") == 1  # rank 0 alone prints the leaderboard


def test_prepared_data_on_two_processes_trains_the_full_baseline_as_one_process(tmp_path):
    raw = write_lines(tmp_path / "k.txt", criteo_lines(4000, seed=2))
    CriteoKaggle.prepare_raw([raw], tmp_path / "prepared", {})
    suite = tmp_path / "kaggle.yaml"
    suite.write_text(
        textwrap.dedent(f"""\
        name: kaggle-tiny
        dataset: {{name: criteo-kaggle, params: {{path: {tmp_path / "prepared"},
                  shuffle_window: 700}}}}
        model: {{dim: 4, bottom_mlp: [8], top_mlp: [8]}}
        train: {{optimizer: sgd, lr: 0.1, batch_size: 128, epochs: 2, eval_every: 1500,
                 warmup_steps: 3}}
        inference: {{batch_sizes: [64], batches: 1}}
        methods: [full]
        seeds: [0]
        hardware: cpu
        """)
    )
    one = _single(tmp_path, suite, "one")
    done = _torchrun(tmp_path, "run", "--suite", str(suite), "--out", "two", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    (two,) = _records(tmp_path / "two")
    _same_training(one, two)  # two epochs: the reshuffled second epoch is split alike too


FAILING_PLUGIN = '''
"""A method whose lookups fail on rank 1 at its fourth training step."""
import torch
import torch.distributed as dist
from torch import nn

from benchsuite.api import Method
from benchsuite.hookspecs import hookimpl
from benchsuite.layers import ConcatenatedTables


class Tables(ConcatenatedTables):
    calls = 0

    def forward(self, rows):
        if self.training:
            Tables.calls += 1
            if Tables.calls == 4 and dist.is_initialized() and dist.get_rank() == 1:
                raise RuntimeError("rank 1 lost its lookup")
        return super().forward(rows)


class Flaky(Method):
    name = "flaky"
    summary = "fails on one rank"
    compresses = False

    def build(self, tables, dim, budget, stats, seed):
        return Tables([t.rows for t in tables], dim, sparse=False)


@hookimpl
def benchsuite_register_methods():
    return [Flaky]
'''


def test_a_rank_failing_mid_training_writes_a_failed_record_and_stops_every_rank(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "flaky.py").write_text(FAILING_PLUGIN)
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SYNTHETIC.replace("methods: [hashing]", "methods: [flaky, hashing]"))
    done = _torchrun(
        tmp_path, "--plugins-dir", str(plugins), "run", "--suite", str(suite), "--out", "two",
        "--quiet",
    )  # fmt: skip
    assert done.returncode != 0
    assert "failed in the middle of distributed training" in done.stderr
    (record,) = _records(tmp_path / "two")  # the run stopped before the hashing cell
    assert record["cell"]["method"] == "flaky" and record["status"] == "failed"
    assert record["distributed"]["stopped_run"] is True
    assert "rank 1 lost its lookup" in done.stderr  # rank 1's own message
    assert "failed first" in record["error"]  # rank 0 saw the connection close, and says so


def test_reaching_the_target_stops_every_rank_at_the_same_evaluation(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(
        SYNTHETIC.replace(
            "warmup_steps: 5}", "warmup_steps: 5, target_auc: 0.51, stop_at_target: true}"
        )
    )
    done = _torchrun(tmp_path, "run", "--suite", str(suite), "--out", "two", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    (record,) = _records(tmp_path / "two")
    assert record["metrics"]["target_reached"] is True
    assert record["metrics"]["train_samples"] == 15000  # the first evaluation, on both ranks
    assert record["distributed"]["world_size"] == 2


def test_isolation_under_torchrun_is_refused_with_one_message(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SYNTHETIC)
    done = _torchrun(tmp_path, "run", "--suite", str(suite), "--out", "two", "--isolate")
    assert done.returncode != 0
    assert "cannot run under torchrun" in done.stderr
    assert not list((tmp_path / "two").glob("*.json")) if (tmp_path / "two").exists() else True


def test_only_runs_the_named_cell(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SYNTHETIC.replace("budgets: [8x]", "budgets: [8x, 64x]"))
    code = main(
        ["run", "--suite", str(suite), "--out", str(tmp_path / "out"), "--only", "hashing@64x#0",
         "--quiet"]
    )  # fmt: skip
    assert code == 0
    assert [r["cell"]["key"] for r in _records(tmp_path / "out")] == ["hashing@64x#0"]


def test_only_with_an_unknown_cell_lists_the_suite_cells_and_exits_2(tmp_path, capsys):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SYNTHETIC)
    assert main(["run", "--suite", str(suite), "--only", "hashing@9x#0"]) == 2
    err = capsys.readouterr().err
    assert "no such cell" in err and "hashing@8x#0" in err


def test_two_processes_resume_a_cell_from_its_checkpoint_to_the_uninterrupted_result(
    tmp_path, monkeypatch
):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(
        SYNTHETIC.replace("warmup_steps: 5}", "warmup_steps: 5, checkpoint_every: 10000}")
    )
    whole = _single(tmp_path, suite, "whole")
    with monkeypatch.context() as patch:  # leave the last checkpoint, as a run killed at the end
        patch.setattr(checkpoint, "discard", lambda out, key: None)
        _single(tmp_path, suite, "two")
    for path in results.record_files(tmp_path / "two"):
        path.unlink()
    (saved,) = (tmp_path / "two" / checkpoint.FOLDER).glob("*.pt")
    samples = torch.load(saved, weights_only=True)["train"]["samples"]
    done = _torchrun(tmp_path, "run", "--suite", str(suite), "--out", "two", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    (resumed,) = _records(tmp_path / "two")
    assert resumed["resumed"]["from_samples"] == [samples]
    assert resumed["distributed"]["world_size"] == 2
    _same_training(whole, resumed)
    assert not (tmp_path / "two" / checkpoint.FOLDER).exists() or not list(
        (tmp_path / "two" / checkpoint.FOLDER).glob("*.pt")
    )


def _torchrec_installed() -> bool:
    """torchrec and the fbgemm-gpu it needs are installed (found without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torchrec", "fbgemm_gpu"))


@pytest.mark.skipif(
    not _torchrec_installed(),
    reason="torchrec is not installed (an optional extra: see docs/distributed.md)",
)
def test_sharded_full_tables_on_two_processes_train_as_one_process(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(
        SYNTHETIC.replace("methods: [hashing]", 'methods: ["full[shard=true]"]').replace(
            "optimizer: adagrad, lr: 0.05", "optimizer: sgd, lr: 0.1"
        )
    )
    one = _single(tmp_path, suite, "one")
    done = _torchrun(tmp_path, "run", "--suite", str(suite), "--out", "two", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    (two,) = _records(tmp_path / "two")
    _same_training(one, two)
    section = two["distributed"]
    assert "sharded table-wise by torchrec" in section["gradient_sync"]
    tables_bytes = two["metrics"]["embedding_bytes"]
    assert section["allreduce_bytes_per_step"] < tables_bytes / 10  # the MLPs only
    assert two["metrics"]["inference_samples_per_s"]
