"""Energy and bandwidth in records and the leaderboard: joules per million samples, the reasons
behind blank energy cells, the energy block's validation, the bandwidth probe and the lookup
roofline."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from benchsuite import results
from benchsuite.api import BenchsuiteError
from benchsuite.bandwidth import METHOD, copy_bandwidth, device_bandwidth
from benchsuite.cli import main
from benchsuite.host import Host
from benchsuite.report.leaderboard import (
    COLUMNS,
    ENERGY_NOTE,
    INFER,
    INFER_ENERGY,
    ROOFLINE,
    TRAIN_ENERGY,
    WATTS,
    leaderboard_frame,
    render,
)

# A hardware profile on the CPU whose meter returns READING for every window, whose memory
# bandwidth is BANDWIDTH, and which appends "start"/"stop" to LOG as windows open and close.
FAKE_PROFILE = """
    import pathlib
    import torch
    from benchsuite.api import EnergyMeter, HardwareProfile
    from benchsuite.hookspecs import hookimpl

    LOG = pathlib.Path({log!r})

    class Meter(EnergyMeter):
        def start(self):
            with LOG.open("a") as f:
                f.write("start\\n")

        def stop(self):
            with LOG.open("a") as f:
                f.write("stop\\n")
            return dict({reading!r})

    class Fake(HardwareProfile):
        name = "fake"
        summary = "The CPU with a fixed energy meter (test)"

        @property
        def device(self):
            return torch.device("cpu")

        def fingerprint(self):
            return {{"profile": "fake"}}

        def memory_bandwidth(self):
            return {bandwidth!r}

        def energy_meter(self):
            return Meter()

    @hookimpl
    def benchsuite_register_hardware():
        return [Fake]
"""

CRASHING_METHOD = """
    from torch import nn
    from benchsuite.api import Method
    from benchsuite.hookspecs import hookimpl

    class Crashing(Method):
        name = "crashing"
        summary = "Raises in forward (test)"

        def build(self, tables, dim, budget, stats, seed):
            class Boom(nn.Module):
                def forward(self, ids):
                    raise RuntimeError("kernel exploded")
            return Boom()

    @hookimpl
    def benchsuite_register_methods():
        return [Crashing]
"""

MEASURED = {
    "joules": 3.0,
    "seconds": 2.0,
    "average_watts": 1.5,
    "peak_watts": 2.5,
    "method": "fixed-test-meter",
    "sampling_period_s": None,
    "resolution_j": 0.001,
    "domains": ["package-0"],
    "alternatives": {},
    "disagreement": None,
}
BANDWIDTH = 2.0e10
UNMEASURED_REASON = "no energy counter on this test device"


def board_record(
    label: str = "hashing", budget: str = "16x", seed: int = 0, status: str = "ok", **metrics: Any
) -> dict[str, Any]:
    """A minimal valid record for one cell, with ``metrics`` added."""
    return {
        "schema": results.SCHEMA,
        "suite": {"name": "quickstart", "hash": "0" * 64},
        "cell": {"key": f"{label}@{budget}#{seed}", "method": label, "label": label,
                 "params": {}, "budget": budget, "seed": seed},
        "config": {},
        "config_hash": "c" * 64,
        "environment": {"hardware": {"profile": "cpu"}},
        "started_at": "2026-11-22T10:00:00+00:00",
        "finished_at": "2026-11-22T10:01:00+00:00",
        "status": status,
        "error": None,
        "metrics": {
            "test_auc": 0.77, "full_bytes": 16_000_000, "embedding_bytes": 1_000_000,
            "inference_samples_per_s": {"16384": 90_000.0}, **metrics,
        },
    }  # fmt: skip


def _run_fake(
    write_suite, write_plugin, plugins_dir: Path, tmp_path: Path, reading: dict[str, Any],
    methods: tuple[str, ...] = ("full",),
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Run the tiny suite on the fake profile; the records by cell key."""
    log = tmp_path / "meter.log"
    write_plugin("fake", FAKE_PROFILE.format(log=str(log), reading=reading, bandwidth=BANDWIDTH))
    out = tmp_path / "out"
    suite = write_suite({"hardware": "fake", "methods": list(methods)})
    main(["run", "--suite", str(suite), "--out", str(out), "--quiet", "--plugins-dir",
          str(plugins_dir)])  # fmt: skip
    return {r["cell"]["key"]: r for r in results.load_records(out)}


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def test_measured_windows_get_joules_per_million_of_the_samples_they_processed(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    record = _run_fake(write_suite, write_plugin, plugins_dir, tmp_path, MEASURED)["full@1x#0"]
    assert record["status"] == "ok"
    metrics = record["metrics"]
    train, inference = metrics["energy"]["train"], metrics["energy"]["inference"]
    assert train["samples"] == metrics["train_samples"] == 8192
    assert train["joules_per_million_samples"] == 3.0 / 8192 * 1e6
    # batch size 512, 2 timed batches after 2 warm-up batches: 4 forward passes of 512.
    assert inference["samples"] == 4 * 512
    assert inference["joules_per_million_samples"] == 3.0 / 2048 * 1e6
    for window in (train, inference):
        assert window["average_watts"] == 1.5  # the meter's own figure, kept
        assert window["method"] == "fixed-test-meter"
        assert window["resolution_j"] == 0.001 and window["domains"] == ["package-0"]


def test_average_power_is_derived_when_the_meter_gives_none(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    reading = {"joules": 6.0, "seconds": 4.0, "method": "fixed-test-meter"}
    record = _run_fake(write_suite, write_plugin, plugins_dir, tmp_path, reading)["full@1x#0"]
    assert record["metrics"]["energy"]["train"]["average_watts"] == 1.5


def test_unmeasured_windows_keep_only_their_reason(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    reading = {"unmeasured": UNMEASURED_REASON}
    record = _run_fake(write_suite, write_plugin, plugins_dir, tmp_path, reading)["full@1x#0"]
    assert record["metrics"]["energy"] == {"train": reading, "inference": reading}


def test_malformed_meter_reading_fails_the_cell_naming_the_plugin(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    reading = {"joules": "lots", "method": "broken"}
    record = _run_fake(write_suite, write_plugin, plugins_dir, tmp_path, reading)["full@1x#0"]
    assert record["status"] == "failed"
    assert "hardware profile 'fake' energy meter" in record["error"]
    assert "'metrics.energy.train.joules' must be a number" in record["error"]


def test_a_window_whose_measurement_fails_is_still_closed(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    write_plugin("crashing", CRASHING_METHOD)
    records = _run_fake(
        write_suite, write_plugin, plugins_dir, tmp_path, MEASURED, methods=("crashing",)
    )
    assert records["crashing@4x#0"]["status"] == "failed"
    assert (tmp_path / "meter.log").read_text().split() == ["start", "stop"]


def test_bandwidth_and_lookup_traffic_are_recorded_per_cell(
    write_suite, write_plugin, plugins_dir, tmp_path, builtin_host: Host
):
    record = _run_fake(write_suite, write_plugin, plugins_dir, tmp_path, MEASURED)["full@1x#0"]
    metrics = record["metrics"]
    assert metrics["memory_bandwidth"] == {"bytes_per_s": BANDWIDTH, "method": METHOD}
    dataset = builtin_host.get("datasets", "synthetic").cls(**record["dataset"]["params"])
    features, dim = len(dataset.tables), record["config"]["model"]["dim"]
    assert metrics["lookup_bytes_per_sample"] == 2 * features * dim * 4  # read + write


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _with_energy(train: Any) -> dict[str, Any]:
    record = board_record()
    record["metrics"]["energy"] = {"train": train, "inference": {"unmeasured": "no RAPL"}}
    return record


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"joules": "12", "method": "rapl"}, r"'metrics\.energy\.train\.joules' must be a number"),
        ({"joules": 12.0}, r"missing key 'metrics\.energy\.train\.method'"),
        ({"joules": -1.0, "method": "rapl"}, r"'metrics\.energy\.train\.joules' must not be neg"),
        ({"method": "rapl"}, r"'metrics\.energy\.train' has neither 'joules' nor 'unmeasured'"),
        ({"unmeasured": ""}, r"'metrics\.energy\.train\.unmeasured' must be the reason"),
        (
            {"unmeasured": "x", "joules": 1.0},
            r"'metrics\.energy\.train' has both 'joules' and 'unmeasured'",
        ),
        ("12 J", r"'metrics\.energy\.train' must be an object, got string"),
        (
            {"joules": 1.0, "method": "rapl", "domains": [0]},
            r"'metrics\.energy\.train\.domains\.0' must be a string",
        ),
        (
            {"joules": 1.0, "method": "rapl", "alternatives": {"nvml": "1 J"}},
            r"'metrics\.energy\.train\.alternatives\.nvml' must be a number or null",
        ),
        (
            {"joules": 1.0, "method": "rapl", "joules_per_million_samples": "9"},
            r"'metrics\.energy\.train\.joules_per_million_samples' must be a number or null",
        ),
    ],
)
def test_malformed_energy_block_is_rejected_naming_file_and_field(train, message) -> None:
    with pytest.raises(BenchsuiteError, match=r"^cell\.json: " + message):
        results.validate_record(_with_energy(train), "cell.json")


def test_well_formed_energy_blocks_are_accepted() -> None:
    results.validate_record(_with_energy(dict(MEASURED, samples=10)), "cell.json")
    results.validate_record(_with_energy({"unmeasured": "no RAPL"}), "cell.json")


def test_corrupt_energy_block_in_a_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(_with_energy({"joules": True, "method": "rapl"})))
    with pytest.raises(BenchsuiteError, match=rf"{path}: 'metrics\.energy\.train\.joules'"):
        results.load_record(path)


# ---------------------------------------------------------------------------------------------
# Leaderboard
# ---------------------------------------------------------------------------------------------


def _energy(j_train: float, j_inf: float, watts: float) -> dict[str, Any]:
    return {
        "train": dict(MEASURED, joules_per_million_samples=j_train, average_watts=watts),
        "inference": dict(MEASURED, joules_per_million_samples=j_inf),
    }


ROOT_ONLY = {"unmeasured": "RAPL is root-only"}
UNMEASURED = {"train": ROOT_ONLY, "inference": ROOT_ONLY}


def test_energy_columns_average_the_ok_seeds() -> None:
    frame = leaderboard_frame(
        [
            board_record("hashing", seed=0, energy=_energy(100.0, 10.0, 40.0)),
            board_record("hashing", seed=1, energy=_energy(200.0, 30.0, 60.0)),
            board_record("hashing", seed=2, status="failed", energy=_energy(9e9, 9e9, 9e9)),
        ]
    )
    row = frame.iloc[0]
    assert row[TRAIN_ENERGY] == pytest.approx(150.0)
    assert row[INFER_ENERGY] == pytest.approx(20.0)
    assert row[WATTS] == pytest.approx(50.0)
    assert row[ENERGY_NOTE] is None
    assert tuple(frame.columns) == COLUMNS


def test_unmeasured_row_is_blank_with_its_reason_once_below_the_table() -> None:
    frame = leaderboard_frame(
        [
            board_record("full", "1x", energy=_energy(100.0, 10.0, 40.0)),
            board_record("hashing", energy=UNMEASURED),
            board_record("qr", energy=UNMEASURED),
        ]
    )
    text = render(frame, "md")
    lines = text.splitlines()
    header = lines[0]
    assert TRAIN_ENERGY in header and INFER_ENERGY in header and WATTS in header
    hashing = next(line for line in lines if line.startswith("| hashing"))
    assert hashing.count("–¹") == 3
    assert text.count("RAPL is root-only") == 1
    assert "¹ Energy unmeasured: RAPL is root-only" in lines  # a note below the table
    full = next(line for line in lines if line.startswith("| full"))
    assert "| 100 " in full and "| 40.0 " in full and "¹" not in full


def test_csv_and_json_give_null_energy_and_the_reason_column() -> None:
    frame = leaderboard_frame(
        [board_record("full", "1x", energy=_energy(100.0, 10.0, 40.0)),
         board_record("hashing", energy=UNMEASURED)]
    )  # fmt: skip
    rows = {row["method"]: row for row in json.loads(render(frame, "json"))["rows"]}
    assert rows["hashing"][TRAIN_ENERGY] is None and rows["hashing"][WATTS] is None
    assert rows["hashing"][ENERGY_NOTE] == "RAPL is root-only"
    assert rows["full"][TRAIN_ENERGY] == 100.0 and rows["full"][ENERGY_NOTE] is None
    parsed = pd.read_csv(io.StringIO(render(frame, "csv")))
    hashing = parsed[parsed["method"] == "hashing"].iloc[0]
    assert math.isnan(hashing[INFER_ENERGY]) and hashing[ENERGY_NOTE] == "RAPL is root-only"


def test_windows_unmeasured_for_different_reasons_name_each_window() -> None:
    energy = {
        "train": dict(MEASURED, joules_per_million_samples=5.0),
        "inference": {"unmeasured": "window shorter than the counter's update period"},
    }
    row = leaderboard_frame([board_record(energy=energy)]).iloc[0]
    assert row[TRAIN_ENERGY] == 5.0 and math.isnan(row[INFER_ENERGY])
    assert row[ENERGY_NOTE] == "inference: window shorter than the counter's update period"


def test_energy_columns_are_left_out_when_nothing_was_measured(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    reading = {"unmeasured": UNMEASURED_REASON}
    records = _run_fake(write_suite, write_plugin, plugins_dir, tmp_path, reading)
    text = render(leaderboard_frame(list(records.values())), "md")
    assert TRAIN_ENERGY not in text.splitlines()[0]
    assert f"Energy unmeasured: {UNMEASURED_REASON}" in text.splitlines()


def test_html_notes_are_escaped() -> None:
    energy = {"train": {"unmeasured": "<b>no</b>"}, "inference": {"unmeasured": "<b>no</b>"}}
    text = render(leaderboard_frame([board_record(energy=energy)]), "html")
    assert "<p>Energy unmeasured: &lt;b&gt;no&lt;/b&gt;</p>" in text and "<b>" not in text


# ---------------------------------------------------------------------------------------------
# Bandwidth probe and roofline
# ---------------------------------------------------------------------------------------------


def test_copy_bandwidth_on_cpu_is_a_positive_rate() -> None:
    rate = copy_bandwidth("cpu", size_bytes=16 * 2**20, repeats=2)
    assert 1e8 < rate < 1e13  # between 100 MB/s and 10 TB/s: a memory system, not a clock bug


def test_copy_bandwidth_rejects_an_empty_probe() -> None:
    with pytest.raises(BenchsuiteError, match="size_bytes must be at least 4"):
        copy_bandwidth("cpu", size_bytes=0)


def test_device_bandwidth_is_measured_once_per_process() -> None:
    first = device_bandwidth("cpu")
    assert first is not None and first > 0
    assert device_bandwidth("cpu") == first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_copy_bandwidth_on_cuda_is_a_positive_rate() -> None:
    assert copy_bandwidth("cuda") > 1e10  # any CUDA GPU moves more than 10 GB/s


def test_roofline_is_lookup_traffic_at_inference_throughput_over_bandwidth(
    write_suite, write_plugin, plugins_dir, tmp_path
):
    records = list(_run_fake(write_suite, write_plugin, plugins_dir, tmp_path, MEASURED).values())
    metrics = records[0]["metrics"]
    expected = (
        metrics["inference_samples_per_s"]["512"] * metrics["lookup_bytes_per_sample"] / BANDWIDTH
    )
    row = leaderboard_frame(records).iloc[0]
    assert row[ROOFLINE] == pytest.approx(expected, rel=1e-12)
    assert row[INFER] == pytest.approx(metrics["inference_samples_per_s"]["512"])
    assert ROOFLINE in render(leaderboard_frame(records), "md").splitlines()[0]


def test_roofline_is_blank_without_a_recorded_bandwidth() -> None:
    frame = leaderboard_frame([board_record()])
    assert math.isnan(frame.iloc[0][ROOFLINE])
    assert ROOFLINE not in render(frame, "md")
