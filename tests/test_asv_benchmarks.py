"""The asv benchmarks: parameters follow the registered plugins, the short run is shared, and a
broken method fails only its own parameter. No asv run happens here."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import TINY_SUITE

from benchsuite.host import PLUGINS_DIR_ENV, Host

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"

BROKEN = """
    from benchsuite.api import Method
    from benchsuite.hookspecs import hookimpl

    class Broken(Method):
        name = "broken"
        summary = "Raises in build (test plugin)"
        defaults = {}

        def build(self, tables, dim, budget, stats, seed):
            raise RuntimeError("broken on purpose")

    @hookimpl
    def benchsuite_register_methods():
        return [Broken]
"""

# TINY_SUITE's data and model for the short run: about a second per cell.
TINY_RUN: dict[str, Any] = {
    **{k: v for k, v in TINY_SUITE.items() if k not in ("methods", "budgets", "description")},
    "name": "asv-short-run-test",
    "train": {**TINY_SUITE["train"], "stop_at_target": False},
    "hardware": "cpu",
}


def load(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` afresh, as asv does in each benchmark process."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def with_broken(
    write_plugin: Callable[[str, str], Path], plugins_dir: Path, monkeypatch
) -> ModuleType:
    write_plugin("broken", BROKEN)
    monkeypatch.setenv(PLUGINS_DIR_ENV, str(plugins_dir))
    return load("asv_methods")


def benchmark_classes(module: ModuleType) -> list[type]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and hasattr(cls, "params")
    ]


def test_parameters_list_every_registered_method_and_budget():
    module = load("asv_methods")
    methods = sorted(Host().registry["methods"])
    assert [methods, list(module.BUDGETS)] == module.PARAMS
    classes = benchmark_classes(module)
    assert {c.__name__ for c in classes} == {"Lookup", "TrainStep", "ShortRun"}
    for cls in classes:
        assert cls.params == module.PARAMS
        assert cls.param_names == ["method", "budget"]


def test_a_new_method_plugin_is_tracked_without_editing_the_benchmarks(with_broken):
    assert "broken" in with_broken.PARAMS[0]
    assert "broken" in with_broken.ShortRun.params[0]


def test_every_family_is_present_with_units_on_tracks():
    module = load("asv_methods")
    names = {
        f"{cls.__name__}.{n}" for cls in benchmark_classes(module) for n in vars(cls) if "_" in n
    }
    for wanted in (
        "Lookup.time_forward",
        "Lookup.time_forward_backward",
        "Lookup.track_compression_ratio",
        "Lookup.track_embedding_bytes",
        "TrainStep.time_step",
        "TrainStep.peakmem_build_and_step",
        "ShortRun.track_test_auc",
        "ShortRun.track_auc_gap_to_bayes",
        "ShortRun.track_samples_to_target",
    ):
        assert wanted in names
    for cls in benchmark_classes(module):
        for name, fn in vars(cls).items():
            if name.startswith("track_"):
                assert getattr(fn, "unit", ""), f"{cls.__name__}.{name} has no unit"


def test_lookup_and_step_run_for_a_method_and_report_its_compression():
    module = load("asv_methods")
    bench = module.Lookup()
    bench.setup("hashing", "8x")
    bench.time_forward("hashing", "8x")
    bench.time_forward_backward("hashing", "8x")
    assert bench.track_compression_ratio("hashing", "8x") == pytest.approx(8, rel=0.01)
    full = sum(t.rows for t in module.TABLES) * module.DIM * 4
    assert bench.track_embedding_bytes("hashing", "8x") <= full / 8
    step = module.TrainStep()
    step.setup("hashing", "8x")
    before = [p.detach().clone() for p in step.model.parameters()]
    step.time_step("hashing", "8x")
    after = list(step.model.parameters())
    assert any(not (a == b.detach()).all() for a, b in zip(before, after, strict=True))


def test_the_uncompressed_baseline_runs_once_whatever_the_budget():
    module = load("asv_methods")
    module.Lookup().setup("full", module.BUDGETS[0])
    with pytest.raises(NotImplementedError, match="ignores the budget"):
        module.Lookup().setup("full", module.BUDGETS[1])


def test_an_infeasible_budget_skips_only_that_parameter():
    module = load("asv_methods")
    with pytest.raises(NotImplementedError, match="infeasible"):
        module.Lookup().setup("md", "1000000x")


def test_the_short_run_happens_once_and_every_track_reads_it(tmp_path, monkeypatch):
    module = load("asv_methods")
    monkeypatch.setattr(module, "SHORT_RUN", TINY_RUN)
    monkeypatch.setenv(module.CACHE_ENV, str(tmp_path))
    calls: list[str] = []
    real = module.run_suite

    def counting(suite, **kwargs):
        calls.append(suite.name)
        return real(suite, **kwargs)

    monkeypatch.setattr(module, "run_suite", counting)
    values = {}
    for track in (
        "track_test_auc",
        "track_auc_gap_to_bayes",
        "track_test_logloss",
        "track_samples_to_target",
    ):
        bench = module.ShortRun()  # asv: a fresh instance (and process) per benchmark
        bench.setup("hashing", "4x")
        values[track] = getattr(bench, track)("hashing", "4x")
    assert len(calls) == 1
    assert len(list(tmp_path.glob("*-hashing-4x-*.json"))) == 1
    assert 0.5 < values["track_test_auc"] < 1
    metrics = module.short_run("hashing", "4x")["metrics"]
    assert values["track_auc_gap_to_bayes"] == pytest.approx(
        metrics["bayes_auc"] - metrics["test_auc"]
    )
    assert 0 < values["track_samples_to_target"] <= TINY_RUN["train"]["samples"] + 1


def test_the_short_run_cache_is_keyed_by_commit(tmp_path, monkeypatch):
    module = load("asv_methods")
    monkeypatch.setenv("ASV_COMMIT", "a" * 40)
    first = module.run_key("hashing", "4x", TINY_RUN)
    monkeypatch.setenv("ASV_COMMIT", "b" * 40)
    assert module.run_key("hashing", "4x", TINY_RUN) != first
    assert module.run_key("hashing", "8x", TINY_RUN) != module.run_key("hashing", "4x", TINY_RUN)


def test_a_failing_method_fails_only_its_own_parameter(with_broken, tmp_path, monkeypatch):
    monkeypatch.setattr(with_broken, "SHORT_RUN", TINY_RUN)
    monkeypatch.setenv(with_broken.CACHE_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="broken on purpose"):
        with_broken.Lookup().setup("broken", "8x")
    with pytest.raises(RuntimeError, match=r"broken at 4x: short run failed.*broken on purpose"):
        with_broken.ShortRun().setup("broken", "4x")
    ok = with_broken.ShortRun()
    ok.setup("hashing", "4x")
    assert 0.5 < ok.track_test_auc("hashing", "4x") < 1
    with_broken.Lookup().setup("hashing", "8x")


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_every_benchmark_module_imports_without_running_anything(path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["asv"])
    load(path.stem)
    assert capsys.readouterr().out == ""
