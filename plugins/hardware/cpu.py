"""``cpu``: run on the host CPU; peak memory from the process's resident-set high-water mark.

Energy is left to the hardware issue's RAPL meter; until then every energy figure says it was
not measured and why, never an estimate.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from benchsuite.api import EnergyMeter, HardwareProfile, ParamError
from benchsuite.hookspecs import hookimpl

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class Cpu(HardwareProfile):
    name = "cpu"
    summary = "Host CPU: torch threads, RSS high-water mark for peak memory"
    defaults = {"threads": None}

    def validate(self) -> None:
        t = self.params["threads"]
        if t is not None and (not isinstance(t, int) or isinstance(t, bool) or t < 1):
            raise ParamError(f"cpu: 'threads' must be a positive integer or null, got {t!r}")

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def setup(self) -> None:
        if self.params["threads"]:
            torch.set_num_threads(self.params["threads"])

    def fingerprint(self) -> dict[str, Any]:
        return {
            "profile": self.name,
            "cpu": _cpu_model(),
            "logical_cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "memory_bytes": _total_memory(),
            "machine": platform.machine(),
            "system": platform.system(),
        }

    def reset_peak_memory(self) -> None:
        try:  # writing 5 resets the kernel's VmHWM for this process (Linux >= 4.0)
            _CLEAR_REFS.write_text("5")
            self._reset = True
        except OSError:
            self._reset = False

    def peak_memory(self) -> dict[str, Any]:
        hwm = _status_kib("VmHWM")
        if hwm is None:
            return {"unmeasured": "/proc/self/status has no VmHWM on this system"}
        scope = "since cell start" if getattr(self, "_reset", False) else "since process start"
        return {"bytes": hwm * 1024, "method": f"process RSS high-water mark (VmHWM, {scope})"}

    def energy_meter(self) -> EnergyMeter:
        return EnergyMeter()


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _total_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


@hookimpl
def benchsuite_register_hardware() -> list[type[HardwareProfile]]:
    return [Cpu]
