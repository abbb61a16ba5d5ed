"""Shared fixtures: throwaway plugins and suites written by the test, so each test states only
what it checks."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchsuite.host import Host

# A suite small enough to train in about a second per cell on two CPU cores.
TINY_SUITE: dict[str, Any] = {
    "name": "tiny",
    "description": "A tiny synthetic suite for tests",
    "dataset": {
        "name": "synthetic",
        "params": {
            "profile": "criteo-kaggle",
            "scale": 0.0002,
            "train_samples": 8192,
            "validation_samples": 4096,
            "test_samples": 4096,
            "chunk_size": 4096,
        },
    },
    "model": {"dim": 8, "bottom_mlp": [16], "top_mlp": [16]},
    "train": {
        "optimizer": "sgd",
        "lr": 0.1,
        "batch_size": 512,
        "samples": 8192,
        "eval_every": 4096,
        "target_auc": 0.55,
        "warmup_steps": 2,
    },
    "inference": {"batch_sizes": [512], "batches": 2},
    "methods": ["full", "hashing"],
    "budgets": ["4x"],
    "seeds": [0],
}


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    return folder


@pytest.fixture
def write_plugin(plugins_dir: Path) -> Callable[[str, str], Path]:
    """Write ``source`` (dedented) as ``<name>.py`` in a fresh plugin directory."""

    def write(name: str, source: str) -> Path:
        path = plugins_dir / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    return write


def tiny_suite_file(path: Path, overrides: dict[str, Any], *, drop: tuple[str, ...] = ()) -> Path:
    """Write TINY_SUITE to ``path`` without its top-level keys ``drop`` and with top-level or
    dotted-key ``overrides`` (``{"train.lr": 0.5}``)."""
    data = yaml.safe_load(yaml.safe_dump(TINY_SUITE))
    for key in drop:
        del data[key]
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node[p]
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write TINY_SUITE with top-level or dotted-key overrides (``{"train.lr": 0.5}``)."""

    def write(
        overrides: dict[str, Any] | None = None, *, text: str | None = None, name: str = "tiny.yaml"
    ) -> Path:
        path = tmp_path / name
        if text is not None:
            path.write_text(textwrap.dedent(text))
            return path
        return tiny_suite_file(path, overrides or {})

    return write


@pytest.fixture(scope="session")
def builtin_host() -> Host:
    return Host()


@pytest.fixture
def host_with(plugins_dir: Path) -> Callable[[], Host]:
    """A host that loads the entry points plus the test's plugin directory."""
    return lambda: Host(plugins_dir)


@pytest.fixture(autouse=True)
def _statistics_cache(tmp_path_factory, monkeypatch):
    """Keep the statistics cache of every test away from the user's cache folder."""
    monkeypatch.setenv("BENCHSUITE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "stats"))
