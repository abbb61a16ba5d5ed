"""The prefetcher: a closed one leaves no producer thread behind, whatever it was doing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import torch

from benchsuite.api import Batch
from benchsuite.training import prefetch


def _producers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "benchsuite-prefetch"]


def _slow_batches() -> Iterator[Batch]:
    """Endless batches, each taking a while: the producer is mid-batch when the consumer stops."""
    while True:
        time.sleep(0.05)
        yield Batch(torch.randn(8, 13), torch.randint(0, 100, (8, 4)), torch.rand(8))


def test_closing_a_prefetcher_midway_joins_its_producer():
    batches = prefetch(_slow_batches(), depth=2)
    next(batches)
    next(batches)
    batches.close()
    assert _producers() == []


def test_closing_with_a_full_queue_does_not_leave_the_producer_blocked():
    batches = prefetch(iter([Batch(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1))] * 50))
    next(batches)
    time.sleep(0.2)  # the producer fills the queue and waits for room
    batches.close()
    assert _producers() == []


def test_an_error_in_the_source_reaches_the_consumer_and_the_producer_ends():
    def broken() -> Iterator[Batch]:
        yield Batch(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1))
        raise ValueError("row 7 is bad")

    batches = prefetch(broken())
    next(batches)
    try:
        next(batches)
    except ValueError as exc:
        assert "row 7" in str(exc)
    else:
        raise AssertionError("the source's error was lost")
    assert _producers() == []
