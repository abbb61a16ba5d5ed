"""The cuda hardware profile: parameters, what it says without a GPU, how its NVML meter chooses
between the energy counter and sampled power, real measurements on a GPU, and
the pinned data path."""

from __future__ import annotations

import sys
import time
import types
from typing import Any

import pytest
import torch

from benchsuite.api import Batch, BenchsuiteError, ParamError
from benchsuite.training import prefetch
from benchsuite_plugins.hardware import cuda as cuda_plugin
from benchsuite_plugins.hardware.cuda import COUNTER, SAMPLING, Cuda, NvmlEnergyMeter

HAS_GPU = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")


def _nvml_starts() -> bool:
    nvml, _ = cuda_plugin._nvml_init()
    if nvml is not None:
        nvml.nvmlShutdown()
    return nvml is not None


# -- parameters and availability (any machine) ------------------------------------------------


def test_device_defaults_to_gpu_zero_and_sampling_to_a_tenth_of_a_second():
    profile = Cuda()
    assert profile.params == {"device": 0, "sampling_period_s": 0.1}
    assert profile.indices == [0]
    assert profile.device == torch.device("cuda", 0)


def test_device_accepts_a_list_and_the_model_runs_on_the_first():
    profile = Cuda(device=[2, 1])
    assert profile.params["device"] == [2, 1]
    assert profile.devices == [torch.device("cuda", 2), torch.device("cuda", 1)]
    assert profile.device == torch.device("cuda", 2)


def test_default_profile_is_labelled_plainly_and_a_gpu_list_names_itself():
    from benchsuite.runner import hardware_label

    assert hardware_label(Cuda()) == "cuda"
    assert hardware_label(Cuda(device=[0, 1])) == "cuda[device=[0, 1]]"


@pytest.mark.parametrize("bad", [-1, True, "0", [], [0, 0], [0, -2], 1.5])
def test_bad_device_is_refused_naming_the_value(bad):
    with pytest.raises(ParamError, match="'device'"):
        Cuda(device=bad)


@pytest.mark.parametrize("bad", [0, -0.1, 0.0001, 120.0])
def test_sampling_period_out_of_range_is_refused(bad):
    with pytest.raises(ParamError, match="sampling_period_s"):
        Cuda(sampling_period_s=bad)


@pytest.mark.skipif(HAS_GPU, reason="checks the answer on a machine without a GPU")
def test_without_a_gpu_the_profile_is_unavailable_and_says_why():
    ok, why = Cuda.available()
    assert not ok
    assert torch.__version__ in why
    assert "CUDA" in why or "GPU" in why


@pytest.mark.skipif(HAS_GPU, reason="checks the answer on a machine without a GPU")
def test_auto_falls_back_to_cpu_without_a_gpu(builtin_host):
    from benchsuite.runner import select_hardware

    assert select_hardware(builtin_host, "auto").name == "cpu"


@pytest.mark.skipif(HAS_GPU, reason="checks the answer on a machine without a GPU")
def test_selecting_cuda_without_a_gpu_is_a_clear_error(builtin_host):
    from benchsuite.runner import select_hardware

    with pytest.raises(BenchsuiteError, match="'cuda' is not available here"):
        select_hardware(builtin_host, "cuda")


@pytest.mark.skipif(_nvml_starts(), reason="NVML works here; checks the answer without it")
def test_without_nvml_the_meter_reports_unmeasured_with_nvmls_reason():
    meter = NvmlEnergyMeter([0], 0.1)
    meter.start()
    reading = meter.stop()
    assert list(reading) == ["unmeasured"]
    assert reading["unmeasured"].startswith("NVML is not usable here: ")
    assert "NVMLError" in reading["unmeasured"] or "not installed" in reading["unmeasured"]


def test_a_meter_stopped_without_starting_is_unmeasured():
    assert NvmlEnergyMeter([0], 0.1).stop() == {"unmeasured": "the energy window was never started"}


# -- the meter's choice of method, with a fake NVML library ----------------------------------


class _FakeNvml(types.ModuleType):
    """Just enough of pynvml for the meter's control flow: a GPU drawing ``watts`` steadily."""

    def __init__(self, watts: float, *, counter: bool = True, power: bool = True) -> None:
        super().__init__("pynvml")

        class NVMLError(Exception):
            pass

        class NVMLError_NotSupported(NVMLError):
            pass

        self.NVMLError, self.NVMLError_NotSupported = NVMLError, NVMLError_NotSupported
        self.watts, self.counter, self.power = watts, counter, power
        self.t0 = time.perf_counter()
        self.open = 0

    def nvmlInit(self) -> None:
        self.open += 1

    def nvmlShutdown(self) -> None:
        self.open -= 1

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        if not self.counter:
            raise self.NVMLError_NotSupported("Not Supported")
        return int(1e9 + self.watts * (time.perf_counter() - self.t0) * 1000)

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        if not self.power:
            raise self.NVMLError_NotSupported("Not Supported")
        return int(self.watts * 1000)


@pytest.fixture
def fake_nvml(monkeypatch):
    def install(**kwargs: Any) -> _FakeNvml:
        fake = _FakeNvml(**kwargs)
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        monkeypatch.setattr(cuda_plugin, "_nvml_handle", lambda nvml, index: index)
        return fake

    return install


def _window(meter: NvmlEnergyMeter, seconds: float = 0.25) -> dict[str, Any]:
    meter.start()
    time.sleep(seconds)
    return meter.stop()


def test_counter_is_the_main_figure_and_sampling_its_alternative(fake_nvml):
    fake = fake_nvml(watts=200.0)
    reading = _window(NvmlEnergyMeter([0, 1], 0.02))
    assert reading["method"] == COUNTER
    assert reading["domains"] == ["cuda:0", "cuda:1"]
    assert reading["resolution_j"] == 0.001
    assert reading["sampling_period_s"] is None
    assert reading["joules"] == pytest.approx(2 * 200.0 * reading["seconds"], rel=0.05)
    assert reading["alternatives"][SAMPLING] == pytest.approx(reading["joules"], rel=0.05)
    assert reading["peak_watts"] == pytest.approx(400.0)
    assert reading["disagreement"] < 0.10 and "warning" not in reading
    assert reading["sampling"]["period_s"] == 0.02 and reading["sampling"]["samples"] >= 3
    assert fake.open == 0  # NVML released


def test_stopping_twice_returns_the_same_reading(fake_nvml):
    fake = fake_nvml(watts=50.0)
    meter = NvmlEnergyMeter([0], 0.02)
    first = _window(meter, seconds=0.05)
    assert meter.stop() == first
    assert fake.open == 0


def test_without_the_counter_the_sampled_power_stands_alone(fake_nvml):
    fake_nvml(watts=75.0, counter=False)
    reading = _window(NvmlEnergyMeter([0], 0.02))
    assert reading["method"] == SAMPLING
    assert reading["sampling_period_s"] == 0.02
    assert reading["resolution_j"] is None
    assert reading["alternatives"] == {} and reading["disagreement"] is None
    assert reading["joules"] == pytest.approx(75.0 * reading["seconds"], rel=0.01)
    assert reading["average_watts"] == pytest.approx(75.0, rel=0.01)
    assert "Volta" in reading["counter_unavailable"]


def test_without_counter_or_power_the_window_is_unmeasured_with_both_reasons(fake_nvml):
    fake_nvml(watts=75.0, counter=False, power=False)
    reading = _window(NvmlEnergyMeter([0], 0.02), seconds=0.05)
    assert list(reading) == ["unmeasured"]
    assert "Volta" in reading["unmeasured"]
    assert "power sampling failed" in reading["unmeasured"]


def test_nvml_failing_to_start_is_unmeasured_with_its_error(fake_nvml):
    fake = fake_nvml(watts=1.0)

    def refuse() -> None:
        raise fake.NVMLError("Driver Not Loaded")

    fake.nvmlInit = refuse
    reading = _window(NvmlEnergyMeter([0], 0.1), seconds=0.0)
    assert reading == {"unmeasured": "NVML is not usable here: NVMLError: Driver Not Loaded"}


# -- real measurements on a GPU ---------------------------------------------------------------


@needs_gpu
def test_fingerprint_names_the_gpu_driver_cuda_and_torch():
    profile = Cuda()
    profile.setup()
    fp = profile.fingerprint()
    assert fp["gpu"] == torch.cuda.get_device_name(0)
    assert fp["gpus"][0]["memory_bytes"] > 0
    assert fp["cuda"] == torch.version.cuda and fp["torch"] == torch.__version__
    assert fp["driver"][0].isdigit(), fp["driver"]


@needs_gpu
def test_setup_refuses_a_gpu_index_torch_does_not_see():
    with pytest.raises(BenchsuiteError, match="no GPU with index"):
        Cuda(device=torch.cuda.device_count()).setup()


@needs_gpu
def test_peak_memory_sees_an_allocation_and_resets():
    profile = Cuda()
    profile.setup()
    profile.reset_peak_memory()
    block = torch.empty(64 * 2**20, dtype=torch.uint8, device=profile.device)
    peak = profile.peak_memory()
    assert peak["bytes"] >= block.numel()
    assert peak["reserved_bytes"] >= peak["bytes"]
    del block
    torch.cuda.empty_cache()
    profile.reset_peak_memory()
    assert profile.peak_memory()["bytes"] < 64 * 2**20


@needs_gpu
def test_nvml_meter_measures_a_busy_gpu():
    profile = Cuda(sampling_period_s=0.05)
    profile.setup()
    a = torch.randn(4096, 4096, device=profile.device)
    meter = profile.energy_meter()
    meter.start()
    deadline = time.perf_counter() + 1.5
    while time.perf_counter() < deadline:
        for _ in range(20):
            a = torch.tanh(a @ a)
        profile.synchronize()
    reading = meter.stop()
    assert "unmeasured" not in reading, reading
    assert reading["method"] in (COUNTER, SAMPLING)
    assert reading["seconds"] >= 1.5
    assert 5.0 < reading["average_watts"] < 5000.0
    assert reading["peak_watts"] is not None and reading["peak_watts"] > 0
    if reading["method"] == COUNTER:
        assert SAMPLING in reading["alternatives"]
        assert reading["disagreement"] is not None


@needs_gpu
def test_a_tiny_suite_runs_on_the_gpu_with_energy_and_device_memory(write_suite, tmp_path):
    from benchsuite import results
    from benchsuite.cli import main

    out = tmp_path / "out"
    assert main(["run", "--suite", str(write_suite()), "--out", str(out), "--quiet",
                 "--hardware", "cuda"]) == 0  # fmt: skip
    records = results.load_records(out)
    assert records and all(r["status"] == "ok" for r in records)
    for r in records:
        assert r["environment"]["hardware"]["profile"] == "cuda"
        m = r["metrics"]
        assert "reserved_bytes" in m["peak_memory"]
        for window in ("train", "inference"):
            assert "unmeasured" not in m["energy"][window], m["energy"][window]
            assert m["energy"][window]["joules"] >= 0


# -- the data path ------------------------------------------------------------------------------


def _batches(n: int) -> list[Batch]:
    return [
        Batch(torch.randn(8, 13), torch.randint(0, 100, (8, 4)), torch.rand(8)) for _ in range(n)
    ]


def test_prefetch_without_pinning_hands_over_the_batches_themselves():
    source = _batches(3)
    got = list(prefetch(iter(source)))
    assert all(a is b for a, b in zip(got, source, strict=True))


@needs_gpu
def test_prefetch_pins_batches_for_asynchronous_copies_to_the_gpu():
    source = _batches(3)
    got = list(prefetch(iter(source), pin_memory=True))
    assert all(t.is_pinned() for b in got for t in b)
    for a, b in zip(got, source, strict=True):
        on_gpu = a.to(torch.device("cuda", 0))
        assert on_gpu.ids.is_cuda
        assert torch.equal(on_gpu.ids.cpu(), b.ids) and torch.equal(on_gpu.dense.cpu(), b.dense)
