"""Energy readings: integrating sampled power, comparing two methods, and the result dict.

Part of the public API: hardware-profile plugins import these helpers so every energy figure
in a record has the same shape and the same rules, whichever meter produced it. A meter's
:meth:`benchsuite.api.EnergyMeter.stop` returns either ``unmeasured(reason)`` or
``energy_result(...)``:

``{"joules", "seconds", "average_watts", "peak_watts", "method", "sampling_period_s",
"resolution_j", "domains", "alternatives", "disagreement"}`` and, when two methods measured the
same window and differ by more than :data:`DISAGREEMENT_LIMIT`, a ``"warning"``.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from benchsuite.api import BenchsuiteError

#: Two methods measuring the same window are flagged when they differ by more than this share.
DISAGREEMENT_LIMIT = 0.10

Sample = tuple[float, float]  # (seconds on a monotonic clock, watts)


def integrate_power(
    samples: Sequence[Sample], start: float | None = None, end: float | None = None
) -> float:
    """Joules under a power trace: the trapezoid rule between samples.

    ``start`` and ``end`` bound the window when given: power is linear between samples, held at
    the first sample's value before it and at the last sample's value after it, and the
    integral runs over exactly ``[start, end]`` (a sample taken just outside the window counts
    only for the part inside; a single sample gives ``watts × (end − start)``). Without them,
    the sampled span counts.
    """
    points = _checked(samples)
    if start is not None and end is not None and end < start:
        raise BenchsuiteError(f"energy window ends ({end}) before it starts ({start})")
    if not points:
        if start is not None and end is not None and end > start:
            raise BenchsuiteError("no power sample in the energy window: nothing to integrate")
        return 0.0
    lo = points[0][0] if start is None else start
    hi = points[-1][0] if end is None else end
    inside = [(t, w) for t, w in points if lo < t < hi]
    trace = [(lo, _power_at(points, lo)), *inside, (hi, _power_at(points, hi))]
    return sum((t1 - t0) * (w0 + w1) / 2.0 for (t0, w0), (t1, w1) in pairwise(trace))


def _power_at(points: list[Sample], t: float) -> float:
    """Power at ``t``: linear between the samples around it, held beyond the first and last."""
    if t <= points[0][0]:
        return points[0][1]
    if t >= points[-1][0]:
        return points[-1][1]
    i = bisect.bisect_right([p[0] for p in points], t)
    (t0, w0), (t1, w1) = points[i - 1], points[i]
    return w0 if t1 == t0 else w0 + (w1 - w0) * (t - t0) / (t1 - t0)


def peak_power(samples: Sequence[Sample]) -> float | None:
    """The highest sampled power in watts, or None without samples."""
    points = _checked(samples)
    return max(w for _, w in points) if points else None


def average_power(joules: float, seconds: float) -> float | None:
    """Mean watts over a window: energy over duration (None for an empty window)."""
    return joules / seconds if seconds > 0 else None


def disagreement(a: float, b: float) -> float:
    """``|a − b| / max(a, b)``: the relative gap between two energy figures (0 when both are 0)."""
    if a < 0 or b < 0 or not (math.isfinite(a) and math.isfinite(b)):
        raise BenchsuiteError(f"energy figures must be finite and non-negative, got {a} and {b}")
    top = max(a, b)
    return abs(a - b) / top if top > 0 else 0.0


def unmeasured(reason: str) -> dict[str, Any]:
    """The reading of a window that was not measured, with the reason (never an estimate)."""
    return {"unmeasured": reason}


def energy_result(
    *,
    joules: float,
    seconds: float,
    method: str,
    domains: Sequence[str],
    peak_watts: float | None = None,
    sampling_period_s: float | None = None,
    resolution_j: float | None = None,
    alternatives: Mapping[str, float] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A measured window's reading, with its provenance and the comparison with alternatives.

    ``disagreement`` is the largest relative gap between ``joules`` and any alternative figure
    (None without alternatives); above :data:`DISAGREEMENT_LIMIT` the reading gains a
    ``warning`` naming both figures. ``extra`` adds method-specific details.
    """
    if not (math.isfinite(joules) and joules >= 0):
        raise BenchsuiteError(f"{method}: energy must be finite and non-negative, got {joules}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise BenchsuiteError(f"{method}: window length must be non-negative, got {seconds}")
    alts = {name: float(value) for name, value in (alternatives or {}).items()}
    gaps = {name: disagreement(joules, value) for name, value in alts.items()}
    worst = max(gaps, key=gaps.__getitem__) if gaps else None
    result: dict[str, Any] = {
        "joules": float(joules),
        "seconds": float(seconds),
        "average_watts": average_power(joules, seconds),
        "peak_watts": peak_watts,
        "method": method,
        "sampling_period_s": sampling_period_s,
        "resolution_j": resolution_j,
        "domains": list(domains),
        "alternatives": alts,
        "disagreement": gaps[worst] if worst is not None else None,
    }
    if worst is not None and gaps[worst] > DISAGREEMENT_LIMIT:
        result["warning"] = (
            f"{method} measured {joules:.3f} J but {worst} measured {alts[worst]:.3f} J over the "
            f"same window: they disagree by {gaps[worst]:.0%} (more than "
            f"{DISAGREEMENT_LIMIT:.0%})"
        )
    if extra:
        result.update(extra)
    return result


class PowerSampler:
    """Reads power every ``period_s`` seconds on a background thread.

    ``read_watts`` returns the current power draw. A sample is taken when the sampler starts
    and another when it stops, so the trace spans the whole window. A reading that raises ends
    the sampling; the error is kept in :attr:`error` and the samples taken so far are kept.
    """

    def __init__(
        self,
        read_watts: Callable[[], float],
        period_s: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not (period_s > 0 and math.isfinite(period_s)):
            raise BenchsuiteError(f"power sampling period must be positive, got {period_s!r}")
        self.read_watts, self.period_s, self.clock = read_watts, period_s, clock
        self.samples: list[Sample] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Take the first sample now, then one every period until :meth:`stop`."""
        if not self._sample():
            return
        self._thread = threading.Thread(
            target=self._run, name="benchsuite-power-sampler", daemon=True
        )
        self._thread.start()

    def stop(self) -> list[Sample]:
        """Stop the thread, take a last sample and return the trace."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is None:
            self._sample()
        return self.samples

    def _run(self) -> None:
        t0 = self.clock()
        k = 1
        while not self._stop.wait(max(0.0, t0 + k * self.period_s - self.clock())):
            if not self._sample():
                return
            # Skip missed ticks rather than bursting to catch up after a stall.
            k = max(k + 1, math.floor((self.clock() - t0) / self.period_s) + 1)

    def _sample(self) -> bool:
        try:
            watts = float(self.read_watts())
        except Exception as exc:
            self.error = exc
            return False
        self.samples.append((self.clock(), watts))
        return True


def _checked(samples: Sequence[Sample]) -> list[Sample]:
    points = [(float(t), float(w)) for t, w in samples]
    for (t0, _), (t1, _) in pairwise(points):
        if t1 < t0:
            raise BenchsuiteError(f"power samples out of time order ({t1} after {t0})")
    for t, w in points:
        if not (math.isfinite(t) and math.isfinite(w)) or w < 0:
            raise BenchsuiteError(f"power sample ({t}, {w}) is not a finite, non-negative reading")
    return points
