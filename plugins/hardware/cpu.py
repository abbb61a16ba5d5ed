"""``cpu``: run on the host CPU; peak memory from the process's resident-set high-water mark.

Memory capacity is what the kernel says can be allocated without swapping (``MemAvailable``),
lowered to the room left under the process's cgroup memory limit when one is set (containers
see the host's ``/proc/meminfo``).

Energy comes from the RAPL counters the kernel's powercap driver exposes under
``/sys/class/powercap`` (:class:`RaplMeter`). Where they are absent or unreadable, every
energy figure says so and why; it is never estimated from a TDP constant.
"""

from __future__ import annotations

import os
import platform
import re
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from benchsuite.api import EnergyMeter, HardwareProfile, ParamError
from benchsuite.energy import energy_result, unmeasured
from benchsuite.hookspecs import hookimpl

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MEMINFO = Path("/proc/meminfo")
_CGROUP = Path("/sys/fs/cgroup")
_NO_LIMIT = 2**60  # cgroup v1 reports "no limit" as a number near 2**63
#: Where the kernel's powercap driver exposes RAPL; :class:`RaplMeter` takes another root.
RAPL_ROOT = Path("/sys/class/powercap")
_PACKAGE_DIR = re.compile(r"intel-rapl:(\d+)")
#: torch's own thread count, read before any profile changes it: what ``threads=0`` restores.
_DEFAULT_THREADS = torch.get_num_threads()


class Cpu(HardwareProfile):
    name = "cpu"
    summary = "Host CPU: torch threads, RSS high-water mark for peak memory, RAPL energy"
    defaults = {"threads": 0}

    def validate(self) -> None:
        t = self.params["threads"]
        if t is None:  # a suite's `threads: null` means the default, as 0 does
            self.params["threads"] = t = 0
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise ParamError(f"cpu: 'threads' must be 0 (torch's default) or more, got {t!r}")

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def setup(self) -> None:
        """Set torch's intra-op threads; 0 restores torch's own default (set_num_threads is
        process-wide, so a profile run earlier in the process may have changed it)."""
        torch.set_num_threads(self.params["threads"] or _DEFAULT_THREADS)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "profile": self.name,
            "cpu": _cpu_model(),
            "logical_cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "threads_setting": self.params["threads"],
            "memory_bytes": _total_memory(),
            "torch": torch.__version__,
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
        return RaplMeter()


class RaplUnreadable(Exception):
    """A RAPL file that is absent or cannot be read; its message names the path and why."""


@dataclass
class _Domain:
    """One RAPL package counter and what has been added up from it during a window."""

    folder: Path
    label: str
    max_uj: int
    last_uj: int
    total_uj: int = 0


def counter_delta(start_uj: int, end_uj: int, max_uj: int) -> int:
    """Microjoules between two readings of a counter that wraps to 0 after ``max_uj``.

    A reading lower than the previous one wrapped once; two wraps between readings cannot be
    told from one, which is why :class:`RaplMeter` reads often.
    """
    if end_uj >= start_uj:
        return end_uj - start_uj
    return max_uj - start_uj + end_uj


def rapl_packages(root: Path = RAPL_ROOT) -> list[tuple[Path, str]]:
    """The top-level RAPL package domains under ``root``: ``(folder, name)`` by index.

    Only ``intel-rapl:N`` folders count. Their subdomains (``intel-rapl:N:M``: cores, uncore,
    DRAM) are parts of a package and already inside its counter, so adding them would count
    their energy twice; a top-level ``psys`` domain (the whole platform, packages included) and
    the ``intel-rapl-mmio`` duplicates are left out for the same reason. AMD processors expose
    their package counters through the same interface.
    """
    if not root.is_dir():
        raise RaplUnreadable(
            f"{root} does not exist (no powercap RAPL driver here, or not exposed to this "
            "container)"
        )
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise RaplUnreadable(f"cannot list {root}: {exc.strerror or exc}") from None
    found: list[tuple[int, Path, str]] = []
    for folder in entries:
        match = _PACKAGE_DIR.fullmatch(folder.name)
        if not match:
            continue
        try:
            name = (folder / "name").read_text().strip()
        except OSError:
            name = f"package-{match.group(1)}"  # older kernels and some drivers omit `name`
        if name.startswith("package"):
            found.append((int(match.group(1)), folder, name))
    if not found:
        raise RaplUnreadable(f"no RAPL package domain (intel-rapl:N with a package name) in {root}")
    return [(folder, name) for _, folder, name in sorted(found)]


def _read_uj(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except PermissionError:
        raise RaplUnreadable(
            f"cannot read {path}: permission denied (RAPL energy counters are readable only "
            "by root on kernels patched for CVE-2020-8694; an administrator can grant read "
            "access)"
        ) from None
    except OSError as exc:
        raise RaplUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return int(text)
    except ValueError:
        raise RaplUnreadable(
            f"{path} does not hold a whole number of microjoules: {text!r}"
        ) from None


class RaplMeter(EnergyMeter):
    """CPU package energy from the RAPL counters (``energy_uj``), summed over packages.

    Each package's counter is read at :meth:`start`, every ``poll_s`` seconds by a background
    thread, and at :meth:`stop`; the differences are added up, a reading below the previous one
    having wrapped once past ``max_energy_range_uj``. The counters wrap after a few minutes to
    hours depending on the package's power, so reading every second catches every wrap, where
    differencing only the two ends of a long window could not tell how many wraps happened.
    The joules are the counter's, whatever the poll period; ``peak_watts`` is the highest
    average over one poll interval (``sampling_period_s``), intervals shorter than half a
    period left out. Where the counters are absent or unreadable, :meth:`stop` returns
    ``{"unmeasured": reason}`` naming the path.
    """

    def __init__(self, root: Path = RAPL_ROOT, poll_s: float = 1.0) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be positive, got {poll_s}")
        self.root = root
        self.poll_s = poll_s
        self._domains: list[_Domain] = []
        self._error: str | None = "the meter was never started"
        self._thread: threading.Thread | None = None
        self._t0 = self._last_t = 0.0
        self._peak_w: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._error = None
        self._stop = threading.Event()
        try:
            self._domains = []
            for folder, name in rapl_packages(self.root):
                max_uj = _read_uj(folder / "max_energy_range_uj")
                self._domains.append(
                    _Domain(
                        folder, f"{folder.name} ({name})", max_uj, _read_uj(folder / "energy_uj")
                    )
                )
        except RaplUnreadable as exc:
            self._error = str(exc)
            return
        self._t0 = self._last_t = time.perf_counter()
        self._peak_w = None
        self._thread = threading.Thread(
            target=_poll, args=(weakref.ref(self), self._stop, self.poll_s), daemon=True
        )
        self._thread.start()

    def sample(self) -> None:
        """Read every counter once and add what each gained since its last reading."""
        with self._lock:
            if self._error is not None:
                return
            try:
                readings = [_read_uj(d.folder / "energy_uj") for d in self._domains]
            except RaplUnreadable as exc:
                self._error = str(exc)
                return
            now = time.perf_counter()
            gained = 0
            for domain, value in zip(self._domains, readings, strict=True):
                delta = counter_delta(domain.last_uj, value, domain.max_uj)
                domain.total_uj += delta
                domain.last_uj = value
                gained += delta
            interval = now - self._last_t
            if interval >= self.poll_s / 2:
                watts = gained / 1e6 / interval
                self._peak_w = watts if self._peak_w is None else max(self._peak_w, watts)
            self._last_t = now

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sample()
        if self._error is not None:
            return unmeasured(f"RAPL: {self._error}")
        return energy_result(
            joules=sum(d.total_uj for d in self._domains) / 1e6,
            seconds=self._last_t - self._t0,
            method="rapl",
            domains=[d.label for d in self._domains],
            peak_watts=self._peak_w,
            sampling_period_s=self.poll_s,
            resolution_j=None,  # sysfs counts microjoules; the hardware's own unit is not exposed
        )


def _poll(meter_ref: weakref.ref[RaplMeter], stop: threading.Event, period: float) -> None:
    """Sample a meter every ``period`` seconds until stopped, or until the meter is gone (a
    window abandoned by an exception is never stopped; a weak reference lets the thread end)."""
    while not stop.wait(period):
        meter = meter_ref()
        if meter is None:
            return
        meter.sample()
        if meter._error is not None:
            return
        del meter


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
