"""The memory-bandwidth probe: a large device copy, timed, that gives a profile its roofline.

``dst.copy_(src)`` over two 256 MiB buffers reads 256 MiB and writes 256 MiB, so the figure is
``2 × size / seconds``: bytes read plus bytes written per second, the traffic a streaming kernel
sustains on the device. The best of a few repeats is kept (after one warm-up copy that faults the
pages in), since slower repeats only measure interference. The leaderboard divides embedding
lookup traffic by it (``docs/measurements.md``, "Roofline").
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from benchsuite.api import BenchsuiteError

__all__ = ["COPY_BYTES", "METHOD", "REPEATS", "copy_bandwidth", "device_bandwidth"]

#: Size of each of the two buffers: large enough to overflow any cache (an H200's L2 is 60 MB,
#: server CPUs' L3 a few hundred MB at most), small enough for any device that trains a model.
COPY_BYTES = 256 * 2**20
REPEATS = 3
#: How the figure in a record was measured.
METHOD = f"device copy of {COPY_BYTES // 2**20} MiB, best of {REPEATS}, bytes read + written"

_CACHE: dict[tuple[str, int], float] = {}


def copy_bandwidth(
    device: torch.device | str,
    *,
    size_bytes: int = COPY_BYTES,
    repeats: int = REPEATS,
    synchronize: Callable[[], None] | None = None,
) -> float:
    """Bytes read plus written per second by the fastest of ``repeats`` copies of ``size_bytes``.

    Each copy is timed between two waits for the device (``torch.cuda.synchronize`` on a CUDA
    device, then ``synchronize`` when given: a profile's own), so the clock covers the copy.
    """
    if size_bytes < 4 or repeats < 1:
        raise BenchsuiteError(
            f"bandwidth probe: size_bytes must be at least 4 and repeats at least 1, "
            f"got {size_bytes} and {repeats}"
        )
    device = torch.device(device)
    sync = _synchronizer(device, synchronize)
    numel = size_bytes // 4
    src = torch.ones(numel, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # warm-up: first touch of the destination's pages, kernel launch set-up
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        sync()
        best = min(best, time.perf_counter() - start)
    del src, dst
    if best <= 0:
        raise BenchsuiteError(f"bandwidth probe: the clock did not advance over a copy on {device}")
    return 2 * numel * 4 / best


def device_bandwidth(
    device: torch.device | str, synchronize: Callable[[], None] | None = None
) -> float | None:
    """:func:`copy_bandwidth` with the defaults, measured once per device and CPU thread count
    in this process (a CPU copy runs on torch's threads); None when the probe cannot run there
    (the device has no room for the two buffers)."""
    device = torch.device(device)
    key = (str(device), torch.get_num_threads())
    if key not in _CACHE:
        try:
            _CACHE[key] = copy_bandwidth(device, synchronize=synchronize)
        except (RuntimeError, BenchsuiteError):  # torch's out-of-memory errors are RuntimeErrors
            return None
    return _CACHE[key]


def _synchronizer(device: torch.device, extra: Callable[[], None] | None) -> Callable[[], None]:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if extra is not None:
            extra()

    return sync
