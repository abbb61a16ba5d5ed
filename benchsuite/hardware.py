"""What each hardware profile can measure on this machine, for ``benchsuite hardware``.

Every line comes from asking the profile itself: its ``available()`` answer, a peak-memory
reading, its memory capacity and a short energy window opened and closed, so a meter that
cannot read its counters here says why, exactly as it would in a result.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from benchsuite.api import BenchsuiteError, HardwareProfile
from benchsuite.feasibility import human_bytes
from benchsuite.host import Host
from benchsuite.runner import select_hardware

#: Length of the probing energy window: long enough for counters to move, short for a command.
PROBE_SECONDS = 0.2


@dataclass
class ProfileReport:
    """One profile: whether it runs here, and how it measures timing, memory and energy."""

    name: str
    summary: str
    plugin: str
    available: bool
    why_not: str
    timing: str | None = None
    memory: str | None = None
    energy: str | None = None
    fingerprint: dict[str, Any] | None = None


def auto_choice(host: Host) -> str | None:
    """The profile ``auto`` selects on this machine, or None when none is available."""
    try:
        return select_hardware(host, "auto").name
    except BenchsuiteError:
        return None


def describe_hardware(host: Host) -> list[ProfileReport]:
    """A report per registered profile, probing only those available here."""
    reports = []
    for name, reg in host.registry["hardware"].items():
        ok, why = reg.cls.available()
        report = ProfileReport(name, reg.summary, reg.plugin.name, ok, "" if ok else why)
        if ok:
            _probe(reg.cls(), report)
        reports.append(report)
    return reports


def _probe(profile: HardwareProfile, report: ProfileReport) -> None:
    """Fill in what ``profile`` measures, each probe's failure reported in its own field."""
    try:
        profile.setup()
    except Exception as exc:  # a profile that cannot set up here says why, like the others
        report.timing = report.memory = report.energy = f"setup failed: {_why(exc)}"
        return
    synced = type(profile).synchronize is not HardwareProfile.synchronize
    report.timing = "wall clock (time.perf_counter)" + (
        ", device synchronised before each reading" if synced else ""
    )
    report.memory = _attempt(lambda: _memory(profile))
    report.energy = _attempt(lambda: _energy(profile))
    try:
        report.fingerprint = profile.fingerprint()
    except Exception as exc:
        report.fingerprint = {"error": _why(exc)}


def _memory(profile: HardwareProfile) -> str:
    profile.reset_peak_memory()
    peak = profile.peak_memory()
    text = f"unmeasured: {peak['unmeasured']}" if "unmeasured" in peak else peak["method"]
    capacity = profile.memory_capacity()
    if capacity is not None:
        text += f"; {human_bytes(capacity)} can be allocated now"
    return text


def _energy(profile: HardwareProfile) -> str:
    meter = profile.energy_meter()
    meter.start()
    time.sleep(PROBE_SECONDS)
    reading = meter.stop()
    if "unmeasured" in reading:
        return f"unmeasured: {reading['unmeasured']}"
    domains = ", ".join(reading.get("domains") or [])
    text = str(reading["method"]) + (f" over {domains}" if domains else "")
    if reading.get("alternatives"):
        text += "; also " + ", ".join(reading["alternatives"])
    return text + f" ({reading['joules']:.3g} J in a {reading['seconds']:.2g} s probe)"


def _attempt(probe: Any) -> str:
    try:
        return str(probe())
    except Exception as exc:  # a probe that raises is reported, not fatal to the listing
        return f"error: {_why(exc)}"


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def render_hardware(auto: str | None, reports: list[ProfileReport], fmt: str = "text") -> str:
    """The listing as text (one block per profile) or JSON."""
    if fmt == "json":
        return json.dumps(
            {"auto": auto, "profiles": [asdict(r) for r in reports]}, indent=2, default=str
        )
    lines = [f"auto (the default) picks: {auto or 'nothing: no profile is available here'}"]
    for r in reports:
        lines.append("")
        state = "available" if r.available else f"not available here: {r.why_not}"
        lines.append(f"{r.name}  [{r.plugin}]  {state}")
        lines.append(f"  {r.summary}")
        if not r.available:
            continue
        lines.append(f"  timing:  {r.timing}")
        lines.append(f"  memory:  {r.memory}")
        lines.append(f"  energy:  {r.energy}")
        if r.fingerprint:
            facts = ", ".join(f"{k}={v}" for k, v in r.fingerprint.items() if k != "profile")
            lines.append(f"  machine: {facts}")
    return "\n".join(lines)
