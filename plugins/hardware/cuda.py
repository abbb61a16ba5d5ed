"""``cuda``: run on NVIDIA GPUs; peak memory from the CUDA caching allocator, energy from NVML.

``device`` is one GPU index (default 0) or a list of them: the model and its batches live on
the first; the fingerprint, peak memory and energy cover every listed GPU.

Memory capacity is the device's free memory (``torch.cuda.mem_get_info``) plus what this
process's caching allocator holds reserved but unused, which a new allocation can reuse.

Energy over a window is measured two ways at once through NVML (``nvidia-ml-py``):
the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta and
newer) read at both ends of the window, and a thread sampling ``nvmlDeviceGetPowerUsage``
every ``sampling_period_s`` seconds, integrated with the trapezoid rule. The counter is the
main figure and the sampled one its alternative; without the counter (older GPUs) the sampled
figure stands alone; without NVML the window is unmeasured, with the reason.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import torch

from benchsuite.api import BenchsuiteError, EnergyMeter, HardwareProfile, ParamError
from benchsuite.energy import (
    PowerSampler,
    energy_result,
    integrate_power,
    peak_power,
    unmeasured,
)
from benchsuite.hookspecs import hookimpl

COUNTER = "nvml-energy-counter"
SAMPLING = "nvml-power-sampling"
COUNTER_RESOLUTION_J = 0.001  # the counter counts whole millijoules


class Cuda(HardwareProfile):
    name = "cuda"
    summary = "CUDA GPUs: synchronised timing, allocator peak memory, NVML energy"
    defaults = {"device": 0, "sampling_period_s": 0.1}

    def __init__(self, **params: Any) -> None:
        device = params.pop("device", 0)
        super().__init__(**params)
        self.indices = _device_indices(device)
        self.params["device"] = device if isinstance(device, int) else list(device)

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if torch.version.cuda is None:
            return False, f"torch {torch.__version__} is built without CUDA"
        if not torch.cuda.is_available():
            return False, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU"
        return True, ""

    def validate(self) -> None:
        period = self.params["sampling_period_s"]
        if not (math.isfinite(period) and 0.001 <= period <= 60):
            raise ParamError(
                f"cuda: 'sampling_period_s' must be between 0.001 and 60 seconds, got {period!r}"
            )

    @property
    def devices(self) -> list[torch.device]:
        return [torch.device("cuda", i) for i in self.indices]

    @property
    def device(self) -> torch.device:
        return self.devices[0]

    def setup(self) -> None:
        count = torch.cuda.device_count()
        missing = [i for i in self.indices if i >= count]
        if missing:
            raise BenchsuiteError(
                f"cuda: no GPU with index {missing[0]}; torch sees {count} "
                f"(indices 0 to {count - 1})"
            )
        torch.cuda.set_device(self.device)

    def synchronize(self) -> None:
        for d in self.devices:
            torch.cuda.synchronize(d)

    def fingerprint(self) -> dict[str, Any]:
        gpus = []
        for d in self.devices:
            props = torch.cuda.get_device_properties(d)
            gpus.append(
                {
                    "index": d.index,
                    "name": props.name,
                    "memory_bytes": props.total_memory,
                    "capability": f"{props.major}.{props.minor}",
                }
            )
        return {
            "profile": self.name,
            "gpu": gpus[0]["name"],
            "gpu_memory_bytes": gpus[0]["memory_bytes"],
            "capability": gpus[0]["capability"],
            "gpus": gpus,
            "gpu_count": torch.cuda.device_count(),
            "driver": driver_version(),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "torch": torch.__version__,
        }

    def reset_peak_memory(self) -> None:
        for d in self.devices:
            torch.cuda.reset_peak_memory_stats(d)

    def peak_memory(self) -> dict[str, Any]:
        allocated = [torch.cuda.max_memory_allocated(d) for d in self.devices]
        reserved = [torch.cuda.max_memory_reserved(d) for d in self.devices]
        reading: dict[str, Any] = {
            "bytes": sum(allocated),
            "reserved_bytes": sum(reserved),
            "method": "torch.cuda.max_memory_allocated / max_memory_reserved since cell start",
        }
        if len(self.devices) > 1:
            reading["per_device"] = {
                str(d): {"bytes": a, "reserved_bytes": r}
                for d, a, r in zip(self.devices, allocated, reserved, strict=True)
            }
        return reading

    def memory_capacity(self) -> int | None:
        free, _total = torch.cuda.mem_get_info(self.device)
        cached = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return int(free + max(0, cached))

    def energy_meter(self) -> EnergyMeter:
        return NvmlEnergyMeter(
            self.indices,
            self.params["sampling_period_s"],
            synchronize=self.synchronize,
        )


class NvmlEnergyMeter(EnergyMeter):
    """Energy of the listed GPUs over one window: NVML's counter and sampled power, both kept.

    ``synchronize`` runs at both ends so the window covers the work queued inside it.
    """

    def __init__(
        self,
        indices: Sequence[int],
        sampling_period_s: float,
        *,
        synchronize: Callable[[], None] = lambda: None,
    ) -> None:
        self.indices = list(indices)
        self.period = sampling_period_s
        self.synchronize = synchronize
        self.domains = [f"cuda:{i}" for i in self.indices]
        self._reason: str | None = "the energy window was never started"
        self._nvml: ModuleType | None = None
        self._handles: list[Any] = []
        self._before: list[int] | None = None
        self._counter_reason = ""
        self._sampler: PowerSampler | None = None
        self._t0 = 0.0
        self._result: dict[str, Any] | None = None

    def start(self) -> None:
        nvml, why = _nvml_init()
        if nvml is None:
            self._reason = f"NVML is not usable here: {why}"
            return
        self._reason, self._result = None, None
        self._nvml = nvml
        try:
            self._handles = [_nvml_handle(nvml, i) for i in self.indices]
        except (BenchsuiteError, nvml.NVMLError) as exc:
            self._reason = f"cannot find the GPU in NVML: {_describe(exc)}"
            self._shutdown()
            return
        self.synchronize()
        self._sampler = PowerSampler(self._read_watts, self.period)
        self._sampler.start()
        self._t0 = time.perf_counter()
        self._before = self._read_counters()

    def stop(self) -> dict[str, Any]:
        if self._reason is None:
            self._result = self._close()
            self._reason = "the energy window was already closed"
            return self._result
        return self._result if self._result is not None else unmeasured(self._reason)

    def _close(self) -> dict[str, Any]:
        self.synchronize()
        after = self._read_counters() if self._before is not None else None
        t1 = time.perf_counter()
        assert self._sampler is not None
        samples = self._sampler.stop()
        self._shutdown()
        seconds = t1 - self._t0

        counter_j: float | None = None
        if self._before is not None and after is not None:
            deltas = [a - b for a, b in zip(after, self._before, strict=True)]
            if min(deltas) < 0:
                self._counter_reason = "the NVML energy counter went backwards (driver reset?)"
            else:
                counter_j = sum(deltas) / 1000.0

        sampled_j: float | None = None
        if self._sampler.error is not None:
            sampling_reason = f"power sampling failed: {_describe(self._sampler.error)}"
        else:
            sampled_j = integrate_power(samples, self._t0, t1)
            sampling_reason = ""
        sampling = {"period_s": self.period, "samples": len(samples)}
        peak = peak_power(samples) if sampled_j is not None else None

        if counter_j is not None:
            return energy_result(
                joules=counter_j,
                seconds=seconds,
                method=COUNTER,
                domains=self.domains,
                peak_watts=peak,
                resolution_j=COUNTER_RESOLUTION_J,
                alternatives={SAMPLING: sampled_j} if sampled_j is not None else None,
                extra={"sampling": sampling}
                if sampled_j is not None
                else {"sampling_unavailable": sampling_reason},
            )
        if sampled_j is not None:
            return energy_result(
                joules=sampled_j,
                seconds=seconds,
                method=SAMPLING,
                domains=self.domains,
                peak_watts=peak,
                sampling_period_s=self.period,
                extra={"sampling": sampling, "counter_unavailable": self._counter_reason},
            )
        return unmeasured(f"{self._counter_reason}; {sampling_reason}")

    def _read_counters(self) -> list[int] | None:
        """Millijoules since the driver loaded, per GPU; None (with the reason) if unsupported."""
        nvml = self._nvml
        assert nvml is not None
        try:
            return [int(nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles]
        except nvml.NVMLError_NotSupported:
            self._counter_reason = (
                "this GPU has no NVML total-energy counter (it needs Volta or newer)"
            )
        except nvml.NVMLError as exc:
            self._counter_reason = f"reading the NVML energy counter failed: {_describe(exc)}"
        return None

    def _read_watts(self) -> float:
        nvml = self._nvml
        assert nvml is not None
        return sum(nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000.0

    def _shutdown(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None


def driver_version() -> str:
    """The NVIDIA driver's version from NVML, or why it is unknown."""
    nvml, why = _nvml_init()
    if nvml is None:
        return f"unknown ({why})"
    try:
        version = nvml.nvmlSystemGetDriverVersion()
        return version.decode() if isinstance(version, bytes) else str(version)
    except nvml.NVMLError as exc:
        return f"unknown ({_describe(exc)})"
    finally:
        nvml.nvmlShutdown()


def _device_indices(value: Any) -> list[int]:
    """``device`` as a list of distinct GPU indices; ParamError naming the bad value."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items or any(
        not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in items
    ) or len(set(items)) != len(items):  # fmt: skip
        raise ParamError(
            "cuda: 'device' must be a GPU index (a non-negative integer) or a list of distinct "
            f"indices, got {value!r}"
        )
    return items


def _nvml_init() -> tuple[ModuleType | None, str]:
    """NVML initialised (release it with ``nvmlShutdown``), or None and why it cannot start."""
    try:
        import pynvml
    except ImportError:
        return None, "the nvidia-ml-py package (module pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, _describe(exc)
    return pynvml, ""


def _nvml_handle(nvml: ModuleType, index: int) -> Any:
    """NVML's handle for torch's GPU ``index``, matched by UUID, else PCI bus id, else index.

    NVML numbers every GPU on the machine in PCI order; torch numbers those
    CUDA_VISIBLE_DEVICES leaves, in CUDA's order. The index is only the last resort.
    """
    props = torch.cuda.get_device_properties(index)
    uuid = getattr(props, "uuid", None)
    if uuid is not None:
        text = str(uuid)  # torch prints the bare UUID; NVML's has a "GPU-" prefix
        try:
            return nvml.nvmlDeviceGetHandleByUUID(
                text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"
            )
        except nvml.NVMLError:
            pass
    bus = getattr(props, "pci_bus_id", None)
    if bus is not None:
        domain, dev = getattr(props, "pci_domain_id", 0), getattr(props, "pci_device_id", 0)
        try:
            return nvml.nvmlDeviceGetHandleByPciBusId(f"{domain:08x}:{bus:02x}:{dev:02x}.0")
        except nvml.NVMLError:
            pass
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return nvml.nvmlDeviceGetHandleByIndex(index)
    listed = [v.strip() for v in visible.split(",")]
    if index < len(listed) and all(v.isdigit() for v in listed[: index + 1]):
        return nvml.nvmlDeviceGetHandleByIndex(int(listed[index]))
    raise BenchsuiteError(
        f"CUDA device {index} ({props.name}) matches no NVML device by UUID or PCI bus id"
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@hookimpl
def benchsuite_register_hardware() -> list[type[HardwareProfile]]:
    return [Cuda]
