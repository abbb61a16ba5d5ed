"""Energy helpers: the power integrator on known traces, the disagreement rule, the result dict,
and the sampling thread."""

from __future__ import annotations

import itertools
import time

import pytest

from benchsuite.api import BenchsuiteError
from benchsuite.energy import (
    DISAGREEMENT_LIMIT,
    PowerSampler,
    average_power,
    disagreement,
    energy_result,
    integrate_power,
    peak_power,
    unmeasured,
)


def test_constant_power_integrates_to_watts_times_seconds():
    trace = [(t / 10, 250.0) for t in range(0, 51)]  # 250 W for 5 s, every 0.1 s
    assert integrate_power(trace) == pytest.approx(1250.0)


def test_linear_ramp_integrates_exactly_with_the_trapezoid_rule():
    trace = [(t, 100.0 + 20.0 * t) for t in range(0, 11)]  # 100 W → 300 W over 10 s
    assert integrate_power(trace) == pytest.approx(2000.0)  # mean 200 W × 10 s


def test_uneven_sampling_weights_each_interval_by_its_length():
    trace = [(0.0, 100.0), (0.1, 100.0), (2.1, 300.0), (2.2, 300.0)]
    expected = 0.1 * 100 + 2.0 * 200 + 0.1 * 300
    assert integrate_power(trace) == pytest.approx(expected)


def test_a_single_sample_is_held_over_the_whole_window():
    assert integrate_power([(1.0, 80.0)], start=0.5, end=3.0) == pytest.approx(200.0)


def test_a_single_sample_without_a_window_spans_no_time():
    assert integrate_power([(1.0, 80.0)]) == 0.0


def test_window_edges_hold_the_nearest_sample():
    trace = [(1.0, 100.0), (2.0, 200.0)]
    # 0.5 s held at 100 W before, 150 J between, 1 s held at 200 W after.
    assert integrate_power(trace, start=0.5, end=3.0) == pytest.approx(50 + 150 + 200)


def test_samples_outside_the_window_count_only_inside_it():
    trace = [(0.0, 100.0), (2.0, 300.0), (4.0, 300.0)]  # 100 W → 300 W over 2 s, then flat
    # Over [1, 3]: 200 W → 300 W for 1 s (250 J), then 300 W for 1 s.
    assert integrate_power(trace, start=1.0, end=3.0) == pytest.approx(250 + 300)


def test_a_window_inside_one_interval_interpolates_both_edges():
    trace = [(0.0, 0.0), (10.0, 100.0)]
    assert integrate_power(trace, start=2.0, end=4.0) == pytest.approx(2 * 30.0)


def test_samples_out_of_time_order_are_refused():
    with pytest.raises(BenchsuiteError, match="out of time order"):
        integrate_power([(1.0, 10.0), (0.5, 10.0)])


def test_negative_or_non_finite_power_is_refused():
    with pytest.raises(BenchsuiteError, match="non-negative"):
        integrate_power([(0.0, -5.0), (1.0, 10.0)])
    with pytest.raises(BenchsuiteError, match="non-negative"):
        integrate_power([(0.0, float("nan")), (1.0, 10.0)])


def test_a_window_without_samples_cannot_be_integrated():
    with pytest.raises(BenchsuiteError, match="no power sample"):
        integrate_power([], start=0.0, end=1.0)


def test_peak_and_average_power():
    trace = [(0.0, 90.0), (1.0, 310.0), (2.0, 120.0)]
    assert peak_power(trace) == 310.0
    assert peak_power([]) is None
    assert average_power(500.0, 2.0) == 250.0
    assert average_power(0.0, 0.0) is None


def test_disagreement_is_the_gap_over_the_larger_figure():
    assert disagreement(90.0, 100.0) == pytest.approx(0.10)
    assert disagreement(100.0, 90.0) == pytest.approx(0.10)
    assert disagreement(0.0, 0.0) == 0.0
    assert disagreement(0.0, 5.0) == 1.0
    with pytest.raises(BenchsuiteError):
        disagreement(-1.0, 5.0)


def test_result_carries_provenance_and_average_power():
    r = energy_result(
        joules=120.0,
        seconds=4.0,
        method="nvml-energy-counter",
        domains=["cuda:0"],
        peak_watts=45.0,
        resolution_j=0.001,
    )
    assert r == {
        "joules": 120.0,
        "seconds": 4.0,
        "average_watts": 30.0,
        "peak_watts": 45.0,
        "method": "nvml-energy-counter",
        "sampling_period_s": None,
        "resolution_j": 0.001,
        "domains": ["cuda:0"],
        "alternatives": {},
        "disagreement": None,
    }


def test_result_within_ten_percent_records_the_disagreement_without_a_warning():
    r = energy_result(
        joules=100.0,
        seconds=1.0,
        method="nvml-energy-counter",
        domains=["cuda:0"],
        alternatives={"nvml-power-sampling": 95.0},
    )
    assert r["alternatives"] == {"nvml-power-sampling": 95.0}
    assert r["disagreement"] == pytest.approx(0.05)
    assert "warning" not in r


def test_result_exactly_at_the_limit_is_not_flagged():
    r = energy_result(joules=100.0, seconds=1.0, method="a", domains=[], alternatives={"b": 90.0})
    assert r["disagreement"] == pytest.approx(DISAGREEMENT_LIMIT)
    assert "warning" not in r


def test_result_over_ten_percent_warns_naming_both_methods():
    r = energy_result(
        joules=100.0,
        seconds=1.0,
        method="nvml-energy-counter",
        domains=["cuda:0"],
        alternatives={"nvml-power-sampling": 80.0},
    )
    assert r["disagreement"] == pytest.approx(0.20)
    assert "nvml-energy-counter" in r["warning"] and "nvml-power-sampling" in r["warning"]
    assert "20%" in r["warning"]


def test_result_compares_with_the_furthest_of_several_alternatives():
    r = energy_result(
        joules=100.0, seconds=1.0, method="a", domains=[], alternatives={"b": 98.0, "c": 70.0}
    )
    assert r["disagreement"] == pytest.approx(0.30)
    assert "c measured 70.000 J" in r["warning"]


def test_result_refuses_negative_energy():
    with pytest.raises(BenchsuiteError, match="rapl"):
        energy_result(joules=-1.0, seconds=1.0, method="rapl", domains=["package-0"])


def test_result_extra_fields_are_kept():
    r = energy_result(
        joules=1.0,
        seconds=1.0,
        method="nvml-power-sampling",
        domains=["cuda:0"],
        sampling_period_s=0.1,
        extra={"counter_unavailable": "no counter"},
    )
    assert r["sampling_period_s"] == 0.1
    assert r["counter_unavailable"] == "no counter"


def test_unmeasured_carries_only_the_reason():
    assert unmeasured("no NVML") == {"unmeasured": "no NVML"}


def test_sampler_spans_the_window_at_its_period():
    sampler = PowerSampler(lambda: 50.0, period_s=0.02)
    t0 = time.perf_counter()
    sampler.start()
    time.sleep(0.3)
    samples = sampler.stop()
    t1 = time.perf_counter()
    times = [t for t, _ in samples]
    assert times == sorted(times)
    assert times[0] >= t0 and times[-1] <= t1
    # One at start, one at stop, and about one per period between (a loaded machine may miss
    # ticks, never add them).
    assert 3 <= len(samples) <= 0.3 / 0.02 + 3
    assert integrate_power(samples, t0, t1) == pytest.approx(50.0 * (t1 - t0))


def test_sampler_keeps_the_error_of_a_failing_reading():
    calls = itertools.count(1)

    def flaky() -> float:
        if next(calls) == 3:  # the third reading fails
            raise RuntimeError("sensor gone")
        return 10.0

    sampler = PowerSampler(flaky, period_s=0.01)
    sampler.start()
    time.sleep(0.1)
    samples = sampler.stop()
    assert isinstance(sampler.error, RuntimeError)
    assert len(samples) == 2


def test_sampler_that_cannot_read_at_start_starts_no_thread():
    def broken() -> float:
        raise OSError("not supported")

    sampler = PowerSampler(broken, period_s=0.01)
    sampler.start()
    assert sampler.stop() == []
    assert isinstance(sampler.error, OSError)


def test_sampler_refuses_a_non_positive_period():
    with pytest.raises(BenchsuiteError, match="period"):
        PowerSampler(lambda: 1.0, period_s=0.0)
