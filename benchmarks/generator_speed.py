"""Samples per second of the synthetic generator's ``batches('train', ...)``.

The generator must outpace training by a wide margin (the design asks for 5x what DLRM training
consumes), so this measures it alone, on one thread, for any configuration:

    python benchmarks/generator_speed.py --profile criteo-kaggle --scale 0.01 --samples 1000000
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from benchsuite_plugins.datasets.synthetic import SyntheticDataset


def measure(
    samples: int = 1_000_000,
    batch_size: int = 4096,
    threads: int | None = 1,
    **params: Any,
) -> float:
    """Samples/s of streaming ``samples`` training rows in ``batch_size`` batches.

    ``params`` are the dataset's parameters (profile, scale, ids, chunk_size…). The intercept's
    one-off calibration runs before the clock starts, as it would before training. ``threads``
    sets torch's thread count for the measurement (None: leave it); the generator itself is
    numpy code on the calling thread.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        dataset = SyntheticDataset(train_samples=samples, **params)
        dataset.intercept  # noqa: B018  (calibrate outside the timed loop)
        start = time.perf_counter()
        seen = sum(len(batch) for batch in dataset.batches("train", batch_size))
        return seen / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)


def track_generator_samples_per_second() -> float:
    """asv: the default Kaggle-like configuration's generator speed, tracked over commits."""
    return measure(samples=500_000)


track_generator_samples_per_second.unit = "samples/s"  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="criteo-kaggle")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--ids", choices=("zipf", "uniform"), default="zipf")
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--chunk-size", type=int, default=65536)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--repeat", type=int, default=3, help="report the best of this many runs")
    args = parser.parse_args(argv)
    rates = [
        measure(
            samples=args.samples,
            batch_size=args.batch_size,
            threads=args.threads or None,
            profile=args.profile,
            scale=args.scale,
            ids=args.ids,
            chunk_size=args.chunk_size,
        )
        for _ in range(args.repeat)
    ]
    print(
        f"synthetic {args.profile} scale={args.scale:g} ids={args.ids} "
        f"chunk_size={args.chunk_size} batch_size={args.batch_size}: "
        f"{max(rates):,.0f} samples/s (best of {args.repeat}; runs: "
        + ", ".join(f"{r:,.0f}" for r in rates)
        + ")"
    )


if __name__ == "__main__":
    main()
