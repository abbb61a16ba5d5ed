"""``cpu``: run on the host CPU; peak memory from the process's resident-set high-water mark.

Memory capacity is what the kernel says can be allocated without swapping (``MemAvailable``),
lowered to the room left under the process's cgroup memory limit when one is set (containers
see the host's ``/proc/meminfo``).

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
_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")
_NO_LIMIT = 2**60  # cgroup v1 reports "no limit" as a number near 2**63


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

    def memory_capacity(self) -> int | None:
        available = _meminfo_bytes("MemAvailable")
        if available is None:
            available = _sysconf_available()
        room = _cgroup_room(_CGROUP)
        if room is not None:
            available = room if available is None else min(available, room)
        return available

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


def _meminfo_bytes(field: str, path: Path = _MEMINFO) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _sysconf_available() -> int | None:
    """Free physical pages: a lower bound of what can be allocated (no page cache counted)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room(root: Path) -> int | None:
    """Bytes left under this process's cgroup memory limit (v2, else v1); None without a limit.

    The cgroup's usage counts reclaimable page cache; its inactive part is added back, as
    container runtimes do when they compute a working set.
    """
    for limit_file, usage_file, inactive_key, folder in (
        ("memory.max", "memory.current", "inactive_file", root),
        (
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            "total_inactive_file",
            root / "memory",
        ),
    ):
        try:
            limit_text = (folder / limit_file).read_text().strip()
            usage = int((folder / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or not limit_text.isdigit() or int(limit_text) >= _NO_LIMIT:
            return None
        inactive = 0
        try:
            for line in (folder / "memory.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == inactive_key:
                    inactive = int(value)
        except (OSError, ValueError):
            pass
        return max(0, int(limit_text) - usage + inactive)
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
