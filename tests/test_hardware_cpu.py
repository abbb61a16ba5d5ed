"""The cpu hardware profile: RAPL energy on fake sysfs trees, threads, `auto` selection, the
`--hardware` / `hardware:` choices and the `benchsuite hardware` listing."""

from __future__ import annotations

import gc
import json
import os
import pathlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from benchsuite import results
from benchsuite.api import BenchsuiteError, ParamError
from benchsuite.cli import main
from benchsuite.runner import select_hardware
from benchsuite_plugins.hardware import cpu
from benchsuite_plugins.hardware.cuda import Cuda

MAX_UJ = 262_143_328_850  # a real package's max_energy_range_uj


def _domain(folder: Path, name: str, energy_uj: int, max_uj: int = MAX_UJ) -> Path:
    folder.mkdir(parents=True)
    (folder / "name").write_text(name + "\n")
    (folder / "energy_uj").write_text(f"{energy_uj}\n")
    (folder / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return folder


@pytest.fixture
def rapl(tmp_path: Path) -> Path:
    """A two-socket powercap tree: packages with subdomains, an MMIO duplicate and psys."""
    root = tmp_path / "powercap"
    _domain(root / "intel-rapl:0", "package-0", 1_000_000)
    _domain(root / "intel-rapl:0" / "intel-rapl:0:0", "core", 500_000)
    _domain(root / "intel-rapl:0" / "intel-rapl:0:1", "dram", 100_000)
    _domain(root / "intel-rapl:1", "package-1", 7_000_000)
    _domain(root / "intel-rapl:1" / "intel-rapl:1:0", "core", 0)
    _domain(root / "intel-rapl:2", "psys", 0)
    _domain(root / "intel-rapl-mmio:0", "package-0", 0)
    return root


def _set(root: Path, domain: str, energy_uj: int) -> None:
    """Replace a counter atomically, as sysfs reads are: a polling thread must never see the
    empty file a plain rewrite leaves between truncating and writing."""
    target = root / domain / "energy_uj"
    staged = target.with_name("energy_uj.new")
    staged.write_text(f"{energy_uj}\n")
    os.replace(staged, target)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the polling thread never sampled"
        time.sleep(0.005)


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Leave torch's thread count as the test found it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# RAPL on fake sysfs trees


def test_rapl_sums_package_counters_and_ignores_subdomains_psys_and_mmio(rapl):
    meter = cpu.RaplMeter(rapl, poll_s=60)
    meter.start()
    _set(rapl, "intel-rapl:0", 3_500_000)  # +2.5 J
    _set(rapl, "intel-rapl:1", 8_000_000)  # +1.0 J
    _set(rapl, "intel-rapl:0/intel-rapl:0:0", 9_000_000)  # inside package 0: not added
    _set(rapl, "intel-rapl:2", 50_000_000)  # psys includes the packages: not added
    _set(rapl, "intel-rapl-mmio:0", 50_000_000)
    reading = meter.stop()
    assert reading["joules"] == pytest.approx(3.5)
    assert reading["method"] == "rapl"
    assert reading["domains"] == ["intel-rapl:0 (package-0)", "intel-rapl:1 (package-1)"]
    assert reading["seconds"] > 0
    assert reading["average_watts"] == pytest.approx(3.5 / reading["seconds"])
    assert reading["peak_watts"] is None  # no full poll interval in the window
    assert reading["sampling_period_s"] == 60 and reading["disagreement"] is None
    results.check_energy_reading(reading, "metrics.energy.train", "test")


def test_rapl_counter_that_went_down_wrapped_once(tmp_path):
    root = tmp_path / "powercap"
    _domain(root / "intel-rapl:0", "package-0", 990_000, max_uj=1_000_000)
    meter = cpu.RaplMeter(root, poll_s=60)
    meter.start()
    _set(root, "intel-rapl:0", 40_000)
    assert meter.stop()["joules"] == pytest.approx((1_000_000 - 990_000 + 40_000) / 1e6)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(100, 250, 150), (900, 100, 200), (500, 500, 0), (0, 1000, 1000)],
)
def test_counter_delta_handles_wrap_past_the_maximum(start, end, expected):
    assert cpu.counter_delta(start, end, 1000) == expected


def test_rapl_polling_thread_catches_a_wrap_the_window_ends_would_miss(tmp_path):
    root = tmp_path / "powercap"
    _domain(root / "intel-rapl:0", "package-0", 900, max_uj=1000)
    meter = cpu.RaplMeter(root, poll_s=0.01)
    meter.start()
    _set(root, "intel-rapl:0", 100)  # wrapped: +200
    _wait_for(lambda: meter._domains[0].last_uj == 100)
    _set(root, "intel-rapl:0", 50)  # wrapped again: +950
    _wait_for(lambda: meter._domains[0].last_uj == 50)
    _set(root, "intel-rapl:0", 60)  # +10
    reading = meter.stop()
    # the two ends alone (900 -> 60) would say 160 µJ
    assert reading["joules"] == pytest.approx(1160 / 1e6)
    assert reading["peak_watts"] is not None and reading["peak_watts"] > 0


def test_rapl_reports_a_peak_over_full_poll_intervals(tmp_path):
    root = tmp_path / "powercap"
    _domain(root / "intel-rapl:0", "package-0", 0)
    meter = cpu.RaplMeter(root, poll_s=0.05)
    meter.start()
    time.sleep(0.06)
    _set(root, "intel-rapl:0", 2_000_000)
    time.sleep(0.06)
    meter.sample()
    reading = meter.stop()
    # 2 J reached the counter in one interval of at least half a period
    assert reading["peak_watts"] >= reading["average_watts"] > 0


def test_rapl_unreadable_counter_is_unmeasured_naming_the_path(rapl, monkeypatch):
    blocked = rapl / "intel-rapl:1" / "energy_uj"
    real = pathlib.Path.read_text

    def read_text(self: Path, *args, **kwargs) -> str:
        if self == blocked:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", read_text)
    meter = cpu.RaplMeter(rapl, poll_s=60)
    meter.start()
    reading = meter.stop()
    assert set(reading) == {"unmeasured"}
    assert str(blocked) in reading["unmeasured"]
    assert "permission denied" in reading["unmeasured"]
    results.check_energy_reading(reading, "metrics.energy.train", "test")


def test_rapl_absent_tree_is_unmeasured_naming_the_root(tmp_path):
    meter = cpu.RaplMeter(tmp_path / "no-powercap")
    meter.start()
    reading = meter.stop()
    assert set(reading) == {"unmeasured"}
    assert str(tmp_path / "no-powercap") in reading["unmeasured"]
    assert "does not exist" in reading["unmeasured"]


def test_rapl_tree_without_a_package_domain_is_unmeasured(tmp_path):
    root = tmp_path / "powercap"
    _domain(root / "intel-rapl:0", "psys", 0)
    _domain(root / "intel-rapl-mmio:0", "package-0", 0)
    meter = cpu.RaplMeter(root)
    meter.start()
    assert "no RAPL package domain" in meter.stop()["unmeasured"]


def test_rapl_counter_that_vanishes_mid_window_makes_the_window_unmeasured(rapl):
    meter = cpu.RaplMeter(rapl, poll_s=60)
    meter.start()
    counter = rapl / "intel-rapl:0" / "energy_uj"
    counter.unlink()
    reading = meter.stop()
    assert set(reading) == {"unmeasured"} and str(counter) in reading["unmeasured"]


def test_rapl_counter_that_is_not_a_number_is_unmeasured(rapl):
    _set(rapl, "intel-rapl:1", 0)
    (rapl / "intel-rapl:1" / "energy_uj").write_text("n/a\n")
    meter = cpu.RaplMeter(rapl)
    meter.start()
    assert "does not hold a whole number" in meter.stop()["unmeasured"]


def test_rapl_meter_never_started_says_so():
    assert "never started" in cpu.RaplMeter().stop()["unmeasured"]


def test_rapl_polling_thread_ends_when_an_abandoned_meter_is_collected(rapl):
    meter = cpu.RaplMeter(rapl, poll_s=0.01)
    meter.start()
    thread = meter._thread
    assert thread is not None and thread.is_alive()
    del meter
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_cpu_profile_meters_energy_with_rapl_from_sysfs():
    meter = cpu.Cpu().energy_meter()
    assert isinstance(meter, cpu.RaplMeter) and meter.root == Path("/sys/class/powercap")


# threads and fingerprint


def test_threads_setting_is_applied_in_setup(torch_threads):
    profile = cpu.Cpu(threads=1)
    profile.setup()
    assert torch.get_num_threads() == 1
    fingerprint = profile.fingerprint()
    assert fingerprint["torch_threads"] == 1 and fingerprint["threads_setting"] == 1


def test_threads_zero_restores_torchs_default(torch_threads):
    cpu.Cpu(threads=1).setup()
    cpu.Cpu().setup()
    assert torch.get_num_threads() == cpu._DEFAULT_THREADS


@pytest.mark.parametrize("value", [-1, "four", True, 1.5])
def test_threads_must_be_a_non_negative_integer(value):
    with pytest.raises(ParamError, match="threads"):
        cpu.Cpu(threads=value)


def test_fingerprint_names_the_cpu_model_memory_and_torch():
    fingerprint = cpu.Cpu().fingerprint()
    assert fingerprint["profile"] == "cpu"
    assert fingerprint["cpu"] and fingerprint["cpu"] != "unknown"
    assert fingerprint["logical_cpus"] >= 1
    assert fingerprint["memory_bytes"] > 0
    assert fingerprint["torch"] == torch.__version__


# selection


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_auto_picks_cpu_without_a_gpu(builtin_host):
    assert select_hardware(builtin_host, "auto").name == "cpu"


def test_auto_prefers_cuda_when_it_is_available(builtin_host, monkeypatch):
    monkeypatch.setattr(Cuda, "available", classmethod(lambda cls: (True, "")))
    assert select_hardware(builtin_host, "auto").name == "cuda"


def test_auto_falls_back_to_cpu_when_cuda_is_not_available(builtin_host, monkeypatch):
    monkeypatch.setattr(Cuda, "available", classmethod(lambda cls: (False, "no GPU (test)")))
    assert select_hardware(builtin_host, "auto").name == "cpu"


def test_a_named_profile_takes_parameters(builtin_host):
    profile = select_hardware(builtin_host, "cpu[threads=2]")
    assert profile.name == "cpu" and profile.params["threads"] == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("auto[threads=2]", "'auto' takes no parameters"),
        ("cpu[cores=2]", "has no parameter 'cores'"),
        ("nosuch", "unknown hardware 'nosuch'"),
    ],
)
def test_bad_hardware_choices_say_what_is_wrong(builtin_host, spec, message):
    with pytest.raises(BenchsuiteError, match=message):
        select_hardware(builtin_host, spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_choosing_cuda_without_a_gpu_says_why(builtin_host):
    with pytest.raises(BenchsuiteError, match="'cuda' is not available here: torch"):
        select_hardware(builtin_host, "cuda")


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", "--suite", str(suite), "--out", str(out), "--quiet", *extra])


def test_run_with_hardware_option_records_the_profile_and_its_threads(
    write_suite, tmp_path, torch_threads
):
    out = tmp_path / "out"
    suite = write_suite({"methods": ["full"]})
    assert _run(suite, out, "--hardware", "cpu[threads=1]") == 0
    (record,) = results.load_records(out)
    assert record["config"]["hardware"] == "cpu[threads=1]"
    assert record["environment"]["hardware"]["torch_threads"] == 1
    energy = record["metrics"]["energy"]
    for window in ("train", "inference"):
        reading = energy[window]
        assert ("unmeasured" in reading and "RAPL" in reading["unmeasured"]) or (
            reading["method"] == "rapl" and reading["joules"] >= 0
        )


def test_suite_hardware_key_selects_a_profile_with_parameters(write_suite, tmp_path, torch_threads):
    out = tmp_path / "out"
    assert _run(write_suite({"methods": ["full"], "hardware": "cpu[threads=1]"}), out) == 0
    (record,) = results.load_records(out)
    assert record["config"]["hardware"] == "cpu[threads=1]"
    assert record["environment"]["hardware"]["profile"] == "cpu"


def test_default_cpu_profile_keeps_the_plain_name_in_the_config(write_suite, tmp_path):
    out = tmp_path / "out"
    assert _run(write_suite({"methods": ["full"], "hardware": "cpu"}), out) == 0
    (record,) = results.load_records(out)
    assert record["config"]["hardware"] == "cpu"


@pytest.mark.parametrize(
    ("hardware", "message"),
    [
        ("cpu[threads=-2]", "hardware: cpu: 'threads' must be 0"),
        ("auto[threads=2]", "hardware: 'auto' takes no parameters"),
        ("gpu9000", "hardware: unknown hardware 'gpu9000'"),
    ],
)
def test_bad_suite_hardware_key_is_a_suite_error(write_suite, tmp_path, capsys, hardware, message):
    assert _run(write_suite({"hardware": hardware}), tmp_path / "out") == 2
    assert message in capsys.readouterr().err


# benchsuite hardware


def _rapl_here() -> dict:
    meter = cpu.RaplMeter()
    meter.start()
    return meter.stop()


def test_hardware_command_lists_cpu_as_available_with_what_it_measures(capsys):
    assert main(["hardware"]) == 0
    text = capsys.readouterr().out
    block = re.search(r"\ncpu  \[\w+\]  available\n(.*?)(\n\n|$)", text, flags=re.S)
    assert block, text
    block = block.group(1)
    assert "timing:  wall clock (time.perf_counter)" in block
    assert "memory:  process RSS high-water mark (VmHWM" in block
    assert "can be allocated now" in block
    energy = next(line for line in block.splitlines() if line.startswith("  energy:"))
    here = _rapl_here()
    if "unmeasured" in here:
        assert energy == f"  energy:  unmeasured: {here['unmeasured']}"
    else:
        assert energy.startswith("  energy:  rapl over intel-rapl:0 (package-0)")
    if not torch.cuda.is_available():
        assert text.startswith("auto (the default) picks: cpu\n")
        assert re.search(r"\ncuda  \[\w+\]  not available here: torch", text)


@pytest.mark.skipif(Path("/sys/class/powercap").exists(), reason="this machine has powercap")
def test_hardware_command_says_why_energy_is_unmeasured_here(capsys):
    assert main(["hardware"]) == 0
    assert "energy:  unmeasured: RAPL: /sys/class/powercap does not exist" in (
        capsys.readouterr().out
    )


def test_hardware_command_json_has_every_profile(capsys, builtin_host):
    assert main(["hardware", "--format", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in listing["profiles"]}
    assert set(by_name) == set(builtin_host.registry["hardware"])
    assert by_name["cpu"]["available"] and by_name["cpu"]["fingerprint"]["profile"] == "cpu"
    assert by_name["cpu"]["energy"]
    if not torch.cuda.is_available():
        assert listing["auto"] == "cpu"
        assert not by_name["cuda"]["available"] and by_name["cuda"]["why_not"]
