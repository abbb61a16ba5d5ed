"""The shipped suites: they validate, pin the published configurations, and the 1TB twin runs.

The real datasets cannot be shipped, so each real suite's method grid is also checked against
a stand-in with the published table sizes (the synthetic generator at scale 1 for Criteo, a
table-only dataset for Avazu): every budget of the grid must be within its method's reach.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from torch import nn

from benchsuite import results
from benchsuite.api import TableSpec, full_table_bytes
from benchsuite.model import DLRM
from benchsuite.runner import run_suite
from benchsuite.suite import build_suite, load_suite
from benchsuite_plugins.datasets.profiles import KAGGLE_CARDINALITIES, TB_CARDINALITIES

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
SHIPPED = sorted(p.stem for p in SUITES.glob("*.yaml"))
REAL = ("avazu", "criteo-kaggle", "criteo-tb")  # each reads the dataset of the same name

# Avazu's 22 fields, unique values over the full training set (hour .. C21; sum 9,449,445).
AVAZU_CARDINALITIES = (
    240, 7, 7, 4737, 7745, 26, 8552, 559, 36, 2686408, 6729486, 8251, 5, 4,
    2626, 8, 9, 435, 4, 68, 172, 60,
)  # fmt: skip

AVAZU_SHAPE = f"""
    from benchsuite.api import Dataset, TableSpec
    from benchsuite.hookspecs import hookimpl

    class AvazuShape(Dataset):
        name = "avazu-shape"
        summary = "Avazu's table sizes and no dense features, without data (test)"

        @property
        def num_dense(self):
            return 0

        @property
        def tables(self):
            return [TableSpec(f"C{{i}}", n) for i, n in enumerate({AVAZU_CARDINALITIES!r})]

        def num_samples(self, split):
            return 0

        def batches(self, split, batch_size, *, epoch=0):
            return iter(())

        def fingerprint(self):
            return "avazu-shape"

    @hookimpl
    def benchsuite_register_datasets():
        return [AvazuShape]
"""

SMALL_CPU = """
    import torch
    from benchsuite.api import HardwareProfile
    from benchsuite.hookspecs import hookimpl

    class SixtyFour(HardwareProfile):
        name = "cpu-64gb"
        summary = "The host CPU, claiming 64 GB of free memory (test)"

        @property
        def device(self):
            return torch.device("cpu")

        def fingerprint(self):
            return {"profile": self.name}

        def memory_capacity(self):
            return 64 * 10**9

    @hookimpl
    def benchsuite_register_hardware():
        return [SixtyFour]
"""


def _raw(name: str) -> dict[str, Any]:
    return yaml.safe_load((SUITES / f"{name}.yaml").read_text())


def _layers(num_dense: int, features: int, model: dict[str, Any]) -> tuple[str, str]:
    """The bottom and top MLPs' layer sizes as DLRM's command line writes them."""
    dlrm = DLRM(
        nn.Identity(),
        num_dense=num_dense,
        num_features=features,
        dim=model["dim"],
        bottom_mlp=model["bottom_mlp"],
        top_mlp=model["top_mlp"],
    )

    def sizes(mlp: nn.Module | None) -> str:
        if mlp is None:
            return ""
        linear = [m for m in mlp if isinstance(m, nn.Linear)]
        return "-".join(str(n) for n in [linear[0].in_features, *(m.out_features for m in linear)])

    return sizes(dlrm.bottom), sizes(dlrm.top)


def _with_stand_in(name: str) -> dict[str, Any]:
    """The suite with its real dataset replaced by one of the same published table sizes."""
    data = _raw(name)
    data["dataset"] = {
        "criteo-kaggle": {"name": "synthetic", "params": {"profile": "criteo-kaggle", "scale": 1}},
        "criteo-tb": {"name": "synthetic", "params": {"profile": "criteo-tb", "scale": 1}},
        "avazu": {"name": "avazu-shape"},
    }[name]
    return data


# -- every shipped suite validates ----------------------------------------------------------------


def test_the_real_suites_and_the_twin_are_registered(builtin_host):
    assert {"criteo-kaggle", "criteo-tb", "avazu", "criteo-tb-synthetic"} <= set(
        builtin_host.suites
    )


@pytest.mark.parametrize("name", [s for s in SHIPPED if _raw(s)["dataset"]["name"] == "synthetic"])
def test_synthetic_suites_validate_fully(name, builtin_host):
    suite = load_suite(name, builtin_host)
    assert suite.cells()


@pytest.mark.parametrize("name", REAL)
def test_real_suites_validate_with_their_dataset_plugins(name, builtin_host):
    dataset = _raw(name)["dataset"]["name"]
    if dataset not in builtin_host.registry["datasets"]:
        pytest.skip(f"the {dataset!r} dataset plugin is not installed")
    assert load_suite(name, builtin_host).cells()


@pytest.mark.parametrize("name", REAL)
def test_real_suite_grids_are_within_reach_at_the_published_table_sizes(
    name, write_plugin, host_with
):
    write_plugin("avazu_shape", AVAZU_SHAPE)
    suite = build_suite(_with_stand_in(name), host_with(), where=f"{name}.yaml")
    cells = suite.cells()
    methods = {"full", "hashing", "qr", "md", "robe", "lma", "lhf", "memrec"}
    assert {c.method for c in cells} == methods
    assert all(c.seed in (0, 1) for c in cells)


def test_real_suites_leave_the_data_path_to_the_dataset_plugin():
    for name in REAL:
        dataset = _raw(name)["dataset"]
        assert dataset["name"] == name
        assert "path" not in dataset.get("params", {})


# -- the published configurations ------------------------------------------------------------------


def test_criteo_kaggle_is_the_dlrm_reference_configuration():
    raw = _raw("criteo-kaggle")
    assert raw["model"]["dim"] == 16
    assert _layers(13, 26, raw["model"]) == ("13-512-256-64-16", "367-512-256-1")
    train = raw["train"]
    assert (train["optimizer"], train["lr"], train["batch_size"], train["epochs"]) == (
        "sgd",
        0.1,
        128,
        1,
    )
    assert "samples" not in train
    assert max(raw["inference"]["batch_sizes"]) == 16384  # --test-mini-batch-size


def test_criteo_tb_is_the_mlperf_dlrm_v1_reference():
    raw = _raw("criteo-tb")
    assert raw["model"]["dim"] == 128
    assert _layers(13, 26, raw["model"]) == ("13-512-256-128", "479-1024-1024-512-256-1")
    train = raw["train"]
    assert (train["optimizer"], train["lr"], train["batch_size"], train["epochs"]) == (
        "sgd",
        1.0,
        2048,
        1,
    )
    assert train["target_auc"] == 0.8025
    assert train["stop_at_target"] is True
    assert train["eval_every"] == 102_400 * 2048 == 209_715_200  # --test-freq, in iterations
    assert 4_195_197_692 // train["eval_every"] == 20  # evaluations per epoch
    assert max(raw["inference"]["batch_sizes"]) == 16384
    assert raw["mlperf_logging"] is True


def test_criteo_tb_grid_is_the_papers_budgets():
    raw = _raw("criteo-tb")
    entries = {m["method"]: m["budgets"] for m in raw["methods"] if isinstance(m, dict)}
    assert entries["robe"] == ["100MB"]
    assert entries["memrec"] == ["2900x"]
    assert raw["budgets"] == ["16x", "64x", "256x", "1000x"]
    assert "full" in raw["methods"]
    assert raw["seeds"] == [0]


def test_avazu_has_no_bottom_mlp_and_follows_the_kaggle_recipe():
    raw, kaggle = _raw("avazu"), _raw("criteo-kaggle")
    assert raw["model"]["bottom_mlp"] == []
    assert _layers(0, 22, raw["model"]) == ("", "231-512-256-1")
    for key in ("optimizer", "lr", "batch_size", "epochs"):
        assert raw["train"][key] == kaggle["train"][key]


# -- the synthetic 1TB twin ------------------------------------------------------------------------


def test_twin_has_the_40m_capped_1tb_tables(builtin_host):
    suite = load_suite("criteo-tb-synthetic", builtin_host)
    spec = suite.config["dataset"]
    tables = builtin_host.get("datasets", spec["name"]).cls(**spec["params"]).tables
    assert [t.rows for t in tables] == list(TB_CARDINALITIES)
    assert sum(t.rows for t in tables) == 187_767_399
    assert full_table_bytes(tables, suite.config["model"]["dim"]) == 96_136_908_288


def test_twin_equals_criteo_tb_but_for_data_and_length():
    twin, tb = _raw("criteo-tb-synthetic"), _raw("criteo-tb")
    assert twin["model"] == tb["model"]
    for key in ("optimizer", "lr", "batch_size"):
        assert twin["train"][key] == tb["train"][key]
    assert twin["inference"]["batch_sizes"] == tb["inference"]["batch_sizes"]
    assert (twin["methods"], twin["budgets"], twin["seeds"]) == (
        tb["methods"],
        tb["budgets"],
        tb["seeds"],
    )
    assert twin["mlperf_logging"] is True


def test_twin_runs_a_compressed_cell_while_full_is_infeasible_below_96_gb(
    write_plugin, host_with, tmp_path
):
    """A hashing cell at 1000x trains on the 1TB-sized tables; full never allocates its 96 GB."""
    write_plugin("cpu_64gb", SMALL_CPU)
    data = copy.deepcopy(_raw("criteo-tb-synthetic"))
    data.pop("mlperf_logging")
    data["hardware"] = "cpu-64gb"
    data["dataset"]["params"].update(
        train_samples=4096, validation_samples=4096, test_samples=4096, chunk_size=4096
    )
    data["train"].update(samples=4096, eval_every=None, warmup_steps=0)
    data["inference"] = {"batch_sizes": [2048], "batches": 1}
    data["methods"], data["budgets"] = ["full", "hashing"], ["1000x"]
    suite = build_suite(data, host_with(), where="criteo-tb-synthetic.yaml")

    run_suite(suite, out_dir=tmp_path / "out")
    records = {r["cell"]["method"]: r for r in results.load_records(tmp_path / "out")}

    assert records["full"]["status"] == "infeasible"
    assert records["full"]["error"].startswith("full needs 96.1 GB of embedding")
    assert records["full"]["error"].endswith("but the cpu-64gb device has 64 GB available")
    hashing = records["hashing"]
    assert hashing["status"] == "ok", hashing["error"]
    assert hashing["metrics"]["full_bytes"] == 96_136_908_288
    assert hashing["metrics"]["embedding_bytes"] <= 96_136_908
    assert hashing["metrics"]["train_samples"] == 4096


# -- docs ------------------------------------------------------------------------------------------


def test_docs_list_every_shipped_suite():
    text = (ROOT / "docs" / "suites.md").read_text().split("## Shipped suites")[1]
    for name in SHIPPED:
        assert f"| `{name}` |" in text, f"docs/suites.md does not list the {name} suite"


def test_kaggle_stand_in_has_the_published_kaggle_tables(builtin_host):
    data = _with_stand_in("criteo-kaggle")
    suite = build_suite(data, builtin_host, where="criteo-kaggle.yaml")
    spec = suite.config["dataset"]
    tables: list[TableSpec] = builtin_host.get("datasets", "synthetic").cls(**spec["params"]).tables
    assert [t.rows for t in tables] == list(KAGGLE_CARDINALITIES)
