"""Preparation of the small real Criteo and Avazu samples in ../shared/data, and a suite run on
prepared data. The samples are read where they are and never copied into the project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.data import PreparedData
from benchsuite_plugins.datasets.avazu import Avazu
from benchsuite_plugins.datasets.criteo import CriteoKaggle, CriteoTB
from benchsuite_plugins.datasets.fakelogs import criteo_lines, write_lines

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_samples = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"the real data samples are not here ({SHARED} is absent)"
)


def labels_of(data: PreparedData) -> np.ndarray:
    return np.concatenate([np.asarray(a[0]) for a in data._arrays.values()])


@needs_samples
def test_kaggle_sample_has_the_published_distinct_values_per_feature(tmp_path: Path) -> None:
    CriteoKaggle.prepare_raw([SHARED / "criteo_kaggle_train_head900.tsv"], tmp_path / "k", {})
    data = PreparedData(tmp_path / "k", "criteo-kaggle")
    expected = [50, 180, 611, 518, 22, 7, 638, 26, 2, 492, 560, 588, 513,
                15, 489, 562, 9, 341, 114, 4, 574, 6, 12, 386, 29, 289]  # fmt: skip
    assert [t.rows for t in data.tables] == expected
    assert data.manifest["rows"] == 900
    assert labels_of(data).mean() == pytest.approx(0.1956, abs=1e-4)
    dense = np.asarray(data._arrays["train"][1])
    assert dense.min() == 0.0  # I2 goes down to -2 and is clamped


@needs_samples
def test_kaggle_rows_from_the_middle_of_the_file_prepare(tmp_path: Path) -> None:
    CriteoKaggle.prepare_raw([SHARED / "paddlerec_criteo_sample_train100.tsv"], tmp_path / "p", {})
    data = PreparedData(tmp_path / "p", "criteo-kaggle")
    assert data.manifest["rows"] == 100
    assert labels_of(data).mean() == pytest.approx(0.29, abs=1e-6)


@needs_samples
def test_kaggle_test_file_without_labels_is_rejected_at_line_one(tmp_path: Path) -> None:
    raw = SHARED / "criteo_kaggle_test_head100_unlabeled.tsv"
    with pytest.raises(BenchsuiteError, match=f"{raw}:1: expected 40 fields, found 39"):
        CriteoKaggle.prepare_raw([raw], tmp_path / "t", {})


@needs_samples
def test_terabyte_sample_prepares_as_two_days(tmp_path: Path) -> None:
    lines = (SHARED / "criteo_1tb_sample1000_hillview.tsv").read_text().splitlines()
    days = tmp_path / "days"
    days.mkdir()
    write_lines(days / "day_0", lines[:600])
    write_lines(days / "day_1.gz", lines[600:])
    CriteoTB.prepare_raw([days], tmp_path / "tb", {})
    data = PreparedData(tmp_path / "tb", "criteo-tb")
    assert data.manifest["split_rows"] == {"train": 600, "validation": 200, "test": 200}
    assert labels_of(data).mean() == pytest.approx(0.021, abs=1e-3)


@needs_samples
def test_avazu_samples_with_and_without_header_prepare(tmp_path: Path) -> None:
    Avazu.prepare_raw([SHARED / "shawroad_avazu_train.csv"], tmp_path / "a", {})
    data = PreparedData(tmp_path / "a", "avazu")
    rows = {t.name: t.rows for t in data.tables}
    assert (rows["hour"], rows["site_id"], rows["app_id"]) == (4, 408, 256)
    assert (rows["device_id"], rows["device_ip"], rows["device_model"]) == (1119, 5156, 964)
    assert labels_of(data).mean() == pytest.approx(0.1745, abs=1e-4)
    Avazu.prepare_raw([SHARED / "deepctr_avazu_sample100.csv"], tmp_path / "b", {})
    assert PreparedData(tmp_path / "b", "avazu").manifest["rows"] == 100


def test_a_suite_trains_on_prepared_data_and_records_its_fingerprint(
    tmp_path: Path, write_suite, capsys
) -> None:
    raw = write_lines(tmp_path / "train.txt", criteo_lines(7000, seed=3))
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "criteo-kaggle", "--raw", str(raw), "--out", str(out)]) == 0
    suite = write_suite(
        {
            "dataset": {"name": "criteo-kaggle", "params": {"path": str(out)}},
            "train.samples": 4096,
            "train.eval_every": 2048,
        }
    )
    results = tmp_path / "results"
    assert main(["run", "--suite", str(suite), "--out", str(results), "--quiet"]) == 0
    records = [json.loads(p.read_text()) for p in sorted(results.glob("*.json"))]
    assert {r["status"] for r in records} == {"ok"}
    fingerprint = json.loads((out / "manifest.json").read_text())["fingerprint"]
    assert {r["dataset"]["fingerprint"] for r in records} == {fingerprint}


def test_running_a_suite_on_unprepared_data_fails_before_training(
    tmp_path: Path, write_suite, capsys
) -> None:
    suite = write_suite({"dataset": {"name": "avazu", "params": {"path": str(tmp_path / "no")}}})
    rc = main(["run", "--suite", str(suite), "--out", str(tmp_path / "results"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "dataset 'avazu' is not prepared" in err
    assert f"benchsuite data prepare avazu --raw train.gz --out {tmp_path / 'no'}" in err
    assert not list((tmp_path / "results").glob("*.json"))
