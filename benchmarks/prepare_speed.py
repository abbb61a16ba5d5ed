"""Preparation throughput against pandas merely reading the same file, and its peak memory.

The goal: ``benchsuite data prepare criteo-kaggle`` (parse, log-transform, number the
categories, write, split, count) at least 1.5x faster than ``pandas.read_csv(engine="pyarrow")``
only reading the same TSV into a DataFrame, measured side by side on a generated file of a
million rows; and a peak memory that does not grow with the file.

Each side runs in its own process, alternately, ``--repeats`` times, and reports three times:

- ``first_call``: the file is the first thing the process reads, so the libraries' one-time
  start-up is included (for benchsuite about 0.3 s of numba loading its compiled kernels);
- the main figure: the libraries started on a ten-line file first, then the file is read, as
  any file after the first in a process would be;
- ``repeat``: the same file again in the same process, whose memory the first read already
  touched (pandas reuses it; preparation reuses its buffers either way).

The best times are compared. Needs pandas and pyarrow (``pip install -e '.[bench]'``).

    python benchmarks/prepare_speed.py --rows 1000000 --repeats 3 --memory-check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchsuite_plugins.datasets.fakelogs import criteo_lines, write_lines

# argv: the file, a ten-line file of the same layout (, the output folder): prints the times of
# the big file first, after the small one, and again, then (prepare) the peak memory.
_PANDAS = """
import sys, time, pandas as pd
def read(path):
    t = time.perf_counter()
    frame = pd.read_csv(path, sep="\\t", header=None, engine="pyarrow")
    return time.perf_counter() - t
first = read(sys.argv[1])
read(sys.argv[2])
print(first, read(sys.argv[1]), read(sys.argv[1]))
"""

_PREPARE = """
import sys, time
from pathlib import Path
from benchsuite_plugins.datasets.criteo import CriteoKaggle
def prepare(path, out):
    t = time.perf_counter()
    CriteoKaggle.prepare_raw([Path(path)], Path(out), {}, force=True)
    return time.perf_counter() - t
first = prepare(sys.argv[1], sys.argv[3])
prepare(sys.argv[2], sys.argv[3] + "-small")
times = [first, prepare(sys.argv[1], sys.argv[3]), prepare(sys.argv[1], sys.argv[3])]
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(*times, peak)
"""


def generated_file(folder: Path, rows: int) -> Path:
    """A Criteo-layout file of ``rows`` rows, written once and reused."""
    path = folder / f"criteo-{rows}.tsv"
    if not path.exists():
        lines: list[str] = []
        for start in range(0, rows, 200_000):
            lines += criteo_lines(min(200_000, rows - start), seed=start)
        write_lines(path, lines)
    return path


def _run(code: str, *args: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    ).stdout
    return [float(x) for x in out.split()]


def measure(rows: int, repeats: int, folder: Path) -> dict:
    raw = generated_file(folder, rows)
    small = folder / "criteo-10.tsv"
    write_lines(small, criteo_lines(10, seed=1))
    out = folder / "prepared"
    _run(_PREPARE, str(raw), str(small), str(out))  # compiles and caches the kernels
    pandas: list[list[float]] = []
    prepare: list[list[float]] = []
    peaks = []
    for _ in range(repeats):
        pandas.append(_run(_PANDAS, str(raw), str(small)))
        *times, peak = _run(_PREPARE, str(raw), str(small), str(out))
        prepare.append(times)
        peaks.append(peak)
    best_pandas = [min(t[i] for t in pandas) for i in range(3)]
    best_prepare = [min(t[i] for t in prepare) for i in range(3)]
    return {
        "rows": rows,
        "file_bytes": raw.stat().st_size,
        "pandas_read_s": best_pandas[1],
        "prepare_s": best_prepare[1],
        "speedup": best_pandas[1] / best_prepare[1],
        "first_call_pandas_read_s": best_pandas[0],
        "first_call_prepare_s": best_prepare[0],
        "first_call_speedup": best_pandas[0] / best_prepare[0],
        "repeat_pandas_read_s": best_pandas[2],
        "repeat_prepare_s": best_prepare[2],
        "repeat_speedup": best_pandas[2] / best_prepare[2],
        "prepare_rows_per_s": rows / best_prepare[1],
        "prepare_peak_bytes": min(peaks),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--memory-check",
        action="store_true",
        help="also measure a file twice as large: peak memory and the cost of more rows",
    )
    parser.add_argument("--dir", type=Path, help="folder for the generated files (default: tmp)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.gettempdir()) / "benchsuite-prepare-bench"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = measure(args.rows, args.repeats, folder)
    if args.memory_check:
        double = measure(2 * args.rows, args.repeats, folder)
        result["peak_ratio_at_double_size"] = (
            double["prepare_peak_bytes"] / result["prepare_peak_bytes"]
        )
        # What the second million rows costs each side: start-up cancels out.
        more_pandas = double["pandas_read_s"] - result["pandas_read_s"]
        more_prepare = double["prepare_s"] - result["prepare_s"]
        result["marginal_speedup"] = more_pandas / more_prepare
        result["double_size"] = double
    result["benchmark_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
