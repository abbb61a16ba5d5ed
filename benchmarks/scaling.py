"""Training throughput of one cell on 1 process against N data-parallel processes (torchrun).

Runs the cell with ``benchsuite run --only CELL`` as one process with T threads and as N
torchrun processes of T/N threads each (the same cores in all), each into a fresh results
folder, then prints each run's global training samples/s, every rank's samples/s, the ratio to
the one-process run, the test AUC and what one step's all-reduce moved. Ratios are measured in
the same invocation, one run after the other, so they compare like with like on a shared machine.

    python benchmarks/scaling.py --suite quickstart --only 'hashing@8x#0' --processes 1,2
    python benchmarks/scaling.py --suite criteo-tb-synthetic --only 'robe@100MB#0' \
        --train-samples 40960

``--train-samples N`` shortens the cell (the suite is copied with ``train.samples`` and a
synthetic dataset's ``train_samples`` set to N, evaluation at the end only).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchsuite.host import Host
from benchsuite.suite import resolve_suite_path


def shortened(suite: str, samples: int, folder: Path) -> str:
    """A copy of ``suite`` training ``samples`` samples, evaluated once at the end."""
    data = yaml.safe_load(resolve_suite_path(suite, Host(None)).read_text())
    data["train"].update(samples=samples, eval_every=None, epochs=None)
    params = data["dataset"].setdefault("params", {})
    if data["dataset"]["name"] == "synthetic":
        params["train_samples"] = max(samples, 1)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(suite: str, cell: str, processes: int, threads: int, out: Path) -> dict[str, Any]:
    """One run of ``cell`` on ``processes`` processes of ``threads`` threads; its record."""
    hardware = f"cpu[threads={threads}]"
    args = ["run", "--suite", suite, "--only", cell, "--out", str(out), "--quiet"]
    args += ["--hardware", hardware]
    if processes == 1:
        command = [sys.executable, "-m", "benchsuite", *args]
    else:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(processes), "-m", "benchsuite", *args,
        ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
    (record,) = [json.loads(p.read_text()) for p in out.glob("*.json")]
    return record


def _shape(item: str, cores: int) -> tuple[int, int]:
    """``P`` (P processes sharing ``cores``) or ``PxT`` as (processes, threads each)."""
    processes, _, threads = item.strip().partition("x")
    n = int(processes)
    return n, int(threads) if threads else max(1, cores // n)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quickstart", help="a suite name or YAML path")
    parser.add_argument(
        "--only", required=True, metavar="CELL", help="the cell key, e.g. hashing@8x#0"
    )
    parser.add_argument(
        "--processes",
        default="1,2",
        help="runs to compare: process counts sharing --cores, or PxT for P processes of T "
        "threads each, e.g. 1x1,1x2,2x1",
    )
    parser.add_argument(
        "--cores", type=int, default=os.cpu_count() or 1, help="threads shared by the processes"
    )
    parser.add_argument("--train-samples", type=int, metavar="N", help="shorten the cell to N")
    args = parser.parse_args(argv)
    runs = [_shape(item, args.cores) for item in args.processes.split(",")]
    name = args.suite + (f" ({args.train_samples:,} samples)" if args.train_samples else "")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.train_samples:
            args.suite = shortened(args.suite, args.train_samples, Path(tmp))
        for n, threads in runs:
            record = run(args.suite, args.only, n, threads, Path(tmp) / f"p{n}x{threads}")
            rows.append((n, threads, record))
    base = rows[0][2]["metrics"]["train_samples_per_s"]
    print(f"cell {args.only} of {name}, {args.cores} cores shared by the processes\n")
    header = ("processes × threads", "train samples/s", "ratio", "per-rank samples/s")
    print("| " + " | ".join((*header, "test AUC", "all-reduce MB/step")) + " |")
    print("|---" * 6 + "|")
    for n, threads, record in rows:
        speed = record["metrics"]["train_samples_per_s"]
        section = record.get("distributed", {})
        ranks = ", ".join(f"{v:,.0f}" for v in section.get("rank_samples_per_s", [])) or "–"
        volume = section.get("allreduce_bytes_per_step")
        moved = f"{volume / 1e6:.2f}" if volume else "–"
        cells = (f"{n} × {threads}", f"{speed:,.0f}", f"{speed / base:.2f}x", ranks)
        print("| " + " | ".join((*cells, f"{record['metrics']['test_auc']:.5f}", moved)) + " |")


if __name__ == "__main__":
    main()
