"""asv benchmarks of every registered method plugin, parameterised by method and budget.

The parameter lists come from the plugin host when asv imports this module, so a new method
plugin is tracked without editing anything here. Families:

- ``Lookup``: ``time_`` forward and forward+backward of the embedding on fixed small tables;
  ``track_`` its compression ratio and bytes.
- ``TrainStep``: ``time_`` one Adagrad step of a small DLRM; ``peakmem_`` of building it and
  taking one step.
- ``ShortRun``: ``track_`` test AUC, gap to the Bayes-optimal AUC, log loss and samples to
  the target AUC of one short fixed-seed synthetic run per (method, budget) through the real
  runner. The run happens once per commit and environment: its record is cached on disk
  (keyed by commit, installed source, method, budget and configuration) and every ``track_``
  reads the same record, because asv tracks one number per function.

A method whose budget is infeasible is skipped for that parameter (asv's NotImplementedError in
``setup``); a method that raises anything else fails that parameter only.

asv compares ``lower is better``: ``track_test_auc`` is there for the history graphs, while
``track_auc_gap_to_bayes`` and ``track_test_logloss`` move the right way for gating.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchsuite.api import Budget, DataStats, Infeasible, Method, TableSpec, full_table_bytes
from benchsuite.host import Host
from benchsuite.measure.memory import module_bytes
from benchsuite.model import DLRM
from benchsuite.results import write_record
from benchsuite.runner import run_suite
from benchsuite.suite import build_suite
from benchsuite.testing import synthetic_stats
from benchsuite.training import make_optimizer

#: Budgets every compressing method is measured at; ``full`` ignores the budget and runs once.
BUDGETS: tuple[str, ...] = ("8x", "64x")

#: Fixed small tables for the lookup and step benchmarks (from a handful of rows to 100k).
TABLES: tuple[TableSpec, ...] = (
    TableSpec("t0", 3),
    TableSpec("t1", 150),
    TableSpec("t2", 5_000),
    TableSpec("t3", 40_000),
    TableSpec("t4", 100_000),
)
DIM = 16
BATCH = 2048
NUM_DENSE = 13
SEED = 0

#: The short run: a quickstart-shaped cell on a quarter of its data, stopping nowhere early.
SHORT_RUN: dict[str, Any] = {
    "name": "asv-short-run",
    "dataset": {
        "name": "synthetic",
        "params": {
            "profile": "criteo-kaggle",
            "scale": 0.002,
            "train_samples": 150_000,
            "validation_samples": 20_000,
            "test_samples": 50_000,
        },
    },
    "model": {"dim": 16, "bottom_mlp": [64, 32], "top_mlp": [64, 32]},
    "train": {
        "optimizer": "adagrad",
        "lr": 0.05,
        "batch_size": 1024,
        "samples": 150_000,
        "eval_every": 25_000,
        "target_auc": 0.72,
        "stop_at_target": False,
    },
    "inference": {"batch_sizes": [1024], "batches": 2},
    "hardware": "cpu",
    "seeds": [0],
}

#: Environment variable naming the folder of cached short-run records (default: see cache_dir).
CACHE_ENV = "BENCHSUITE_ASV_CACHE"


def method_names(host: Host | None = None) -> list[str]:
    """Every registered method plugin, sorted: the ``method`` parameter of each benchmark."""
    return sorted((host or Host()).registry["methods"])


_HOST = Host()
PARAMS: list[list[str]] = [method_names(_HOST), list(BUDGETS)]
PARAM_NAMES = ["method", "budget"]


def make_method(name: str, budget: str, host: Host | None = None) -> Method:
    """The method with its default parameters; skips budgets a non-compressing method ignores."""
    cls = (host or _HOST).registry["methods"][name].cls
    if not cls.compresses and budget != BUDGETS[0]:
        raise NotImplementedError(f"{name} ignores the budget; it is tracked at {BUDGETS[0]}")
    return cls()


def build_embedding(
    name: str, budget: str, tables: Sequence[TableSpec] = TABLES, host: Host | None = None
) -> tuple[Method, nn.Module]:
    """Build ``name`` on ``tables`` at ``budget``; an infeasible budget skips the parameter."""
    method = make_method(name, budget, host)
    full = full_table_bytes(tables, DIM)
    limit = Budget.parse(budget).bytes_for(full) if method.compresses else full
    stats: DataStats = synthetic_stats(tables, SEED) if method.needs else DataStats()
    try:
        module = method.build(tables, DIM, limit, stats, SEED)
    except Infeasible as exc:
        raise NotImplementedError(f"{name} at {budget}: infeasible: {exc}") from None
    return method, module


def fixed_batch(
    tables: Sequence[TableSpec] = TABLES, batch: int = BATCH
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense features, power-law-ish ids and labels, the same on every commit."""
    g = torch.Generator().manual_seed(SEED)
    cols = []
    for t in tables:
        u = torch.rand(batch, generator=g)
        cols.append((t.rows * u.pow(3)).long().clamp_(max=t.rows - 1))
    ids = torch.stack(cols, dim=1)
    dense = torch.rand(batch, NUM_DENSE, generator=g)
    labels = (torch.rand(batch, generator=g) < 0.25).float()
    return dense, ids, labels


def make_model(method: Method, embedding: nn.Module, tables: Sequence[TableSpec]) -> DLRM:
    return DLRM(
        embedding,
        num_dense=NUM_DENSE,
        num_features=len(tables),
        dim=DIM,
        bottom_mlp=[64, 32],
        top_mlp=[64, 32],
        output=method.output,
    )


class Lookup:
    """Embedding lookup speed, size and compression on the fixed tables."""

    params = PARAMS
    param_names = PARAM_NAMES
    warmup_time = 0.2
    repeat = (5, 20, 10.0)
    timeout = 120

    def setup(self, method: str, budget: str) -> None:
        torch.manual_seed(SEED)
        self.method, self.module = build_embedding(method, budget)
        _, self.ids, _ = fixed_batch()
        self.weights = torch.randn(self.module(self.ids).shape)

    def time_forward(self, method: str, budget: str) -> None:
        with torch.no_grad():
            self.module(self.ids)

    def time_forward_backward(self, method: str, budget: str) -> None:
        self.module.zero_grad(set_to_none=True)
        (self.module(self.ids) * self.weights).sum().backward()

    def track_compression_ratio(self, method: str, budget: str) -> float:
        return full_table_bytes(TABLES, DIM) / module_bytes(self.module)

    track_compression_ratio.unit = "x"  # type: ignore[attr-defined]

    def track_embedding_bytes(self, method: str, budget: str) -> int:
        return module_bytes(self.module)

    track_embedding_bytes.unit = "bytes"  # type: ignore[attr-defined]


def train_step(model: DLRM, optimizer: torch.optim.Optimizer, batch: tuple) -> None:
    dense, ids, labels = batch
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.binary_cross_entropy_with_logits(model(dense, ids), labels)
    loss.backward()
    optimizer.step()


class TrainStep:
    """One training step of the small DLRM around each method's embedding."""

    params = PARAMS
    param_names = PARAM_NAMES
    warmup_time = 0.2
    repeat = (5, 20, 10.0)
    timeout = 120

    def setup(self, method: str, budget: str) -> None:
        torch.manual_seed(SEED)
        self.batch = fixed_batch()
        m, embedding = build_embedding(method, budget)
        self.model = make_model(m, embedding, TABLES)
        self.optimizer = make_optimizer("adagrad", self.model.parameters(), 0.05)

    def time_step(self, method: str, budget: str) -> None:
        train_step(self.model, self.optimizer, self.batch)

    def peakmem_build_and_step(self, method: str, budget: str) -> None:
        torch.manual_seed(SEED)
        m, embedding = build_embedding(method, budget)
        model = make_model(m, embedding, TABLES)
        train_step(model, make_optimizer("adagrad", model.parameters(), 0.05), self.batch)


# -- the short run, computed once per commit and environment -------------------------------------


def source_hash() -> str:
    """A digest of the installed host and built-in plugins: a working-tree edit changes it."""
    import benchsuite
    import benchsuite_plugins

    digest = hashlib.sha256()
    for package in (benchsuite, benchsuite_plugins):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where short-run records live: $BENCHSUITE_ASV_CACHE, else asv's environment folder for
    environments asv built, else the temporary directory."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if os.environ.get("ASV_ENV_DIR") and os.environ.get("ASV_ENV_TYPE") != "existing":
        return Path(os.environ["ASV_ENV_DIR"]) / "benchsuite-short-runs"
    return Path(tempfile.gettempdir()) / "benchsuite-asv-short-runs"


def run_key(method: str, budget: str, config: dict[str, Any]) -> str:
    """Commit (asv's ASV_COMMIT), installed source, method, budget and configuration."""
    blob = json.dumps(config, sort_keys=True).encode()
    commit = os.environ.get("ASV_COMMIT", "no-commit")[:12]
    config_digest = hashlib.sha256(blob).hexdigest()[:12]
    return f"{commit}-{source_hash()}-{method}-{budget}-{config_digest}"


def short_run(
    method: str,
    budget: str,
    *,
    config: dict[str, Any] | None = None,
    folder: Path | None = None,
    host: Host | None = None,
) -> dict[str, Any]:
    """The record of the short run of ``method`` at ``budget``: read from the cache, or run once
    and cached. Infeasible skips the parameter; any other status than ok fails it."""
    host = host or _HOST
    config = config or SHORT_RUN
    instance = make_method(method, budget, host)  # skips budgets a non-compressing one ignores
    _skip_if_infeasible(instance, budget, config, host)
    path = (folder or cache_dir()) / f"{run_key(method, budget, config)}.json"
    if path.exists():
        record = json.loads(path.read_text())
    else:
        suite_config = json.loads(json.dumps(config))
        suite_config.update(methods=[method], budgets=[budget])
        suite = build_suite(suite_config, host, where=f"asv short run of {method} at {budget}")
        with tempfile.TemporaryDirectory() as out:
            [outcome] = run_suite(suite, out_dir=Path(out), force=True)
        record = outcome.record
        assert record is not None
        write_record(path, record)
    status = record["status"]
    if status == "infeasible":
        raise NotImplementedError(f"{method} at {budget}: {record['error']}")
    if status != "ok":
        raise RuntimeError(f"{method} at {budget}: short run {status}: {record['error']}")
    return record


def _skip_if_infeasible(method: Method, budget: str, config: dict[str, Any], host: Host) -> None:
    """Skip a budget below the method's minimum for the run's tables, as the suite would refuse."""
    if not method.compresses:
        return
    dataset = host.registry["datasets"][config["dataset"]["name"]].cls(
        **config["dataset"]["params"]
    )
    dim = config["model"]["dim"]
    limit = Budget.parse(budget).bytes_for(full_table_bytes(dataset.tables, dim))
    need = method.min_bytes(dataset.tables, dim)
    if need > limit:
        raise NotImplementedError(
            f"{method.name} at {budget}: infeasible: needs {need:,} bytes, budget {limit:,}"
        )


class ShortRun:
    """Quality of a short fixed-seed synthetic run, one run shared by every ``track_``."""

    params = PARAMS
    param_names = PARAM_NAMES
    timeout = 600

    def setup(self, method: str, budget: str) -> None:
        self.metrics = short_run(method, budget)["metrics"]

    def track_test_auc(self, method: str, budget: str) -> float:
        return float(self.metrics["test_auc"])

    track_test_auc.unit = "AUC"  # type: ignore[attr-defined]

    def track_auc_gap_to_bayes(self, method: str, budget: str) -> float:
        return float(self.metrics["bayes_auc"] - self.metrics["test_auc"])

    track_auc_gap_to_bayes.unit = "AUC below Bayes-optimal"  # type: ignore[attr-defined]

    def track_test_logloss(self, method: str, budget: str) -> float:
        return float(self.metrics["test_logloss"])

    track_test_logloss.unit = "nats"  # type: ignore[attr-defined]

    def track_samples_to_target(self, method: str, budget: str) -> float:
        reached = self.metrics["samples_to_target"]
        # Not reaching the target is worse than any sample count: the run's length plus one.
        return float(reached if reached is not None else self.metrics["train_samples"] + 1)

    track_samples_to_target.unit = "samples"  # type: ignore[attr-defined]
