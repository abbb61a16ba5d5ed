"""Share of training time spent waiting for prepared data, in the quickstart-sized model.

Prepares a generated Criteo Kaggle-layout file (or uses ``--prepared DIR``), trains the `full`
method with the quickstart suite's model and batch size on it, and reports the record's
``data_wait_share`` (time the training loop waited for a batch over its steady-state time),
plus the reader's own rows/s against the training rows/s. The goal is a share under 10%.

    python benchmarks/loader_share.py --rows 600000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml

from benchsuite.host import Host
from benchsuite.runner import run_suite
from benchsuite.suite import build_suite
from benchsuite_plugins.datasets.criteo import CriteoKaggle
from benchsuite_plugins.datasets.fakelogs import criteo_lines, write_lines


def prepared_dir(folder: Path, rows: int) -> Path:
    out = folder / f"prepared-{rows}"
    if not (out / "manifest.json").exists():
        lines: list[str] = []
        for start in range(0, rows, 200_000):
            lines += criteo_lines(min(200_000, rows - start), seed=start)
        raw = write_lines(folder / f"train-{rows}.txt", lines)
        CriteoKaggle.prepare_raw([raw], out, {}, force=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--prepared", type=Path, help="a prepared criteo-kaggle folder")
    parser.add_argument("--method", default="full")
    args = parser.parse_args(argv)
    folder = Path(tempfile.gettempdir()) / "benchsuite-loader-bench"
    folder.mkdir(parents=True, exist_ok=True)
    data = args.prepared or prepared_dir(folder, args.rows)
    quickstart = yaml.safe_load(
        (Path(__file__).parents[1] / "suites" / "quickstart.yaml").read_text()
    )
    config = {
        **quickstart,
        "name": "loader-share",
        "dataset": {"name": "criteo-kaggle", "params": {"path": str(data)}},
        "methods": [args.method],
        "budgets": ["1x"],
        "seeds": [0],
    }
    config["train"] = {**quickstart["train"], "samples": None, "epochs": 1, "eval_every": None}
    suite = build_suite(config, Host(), where="loader-share")
    dataset = CriteoKaggle(path=str(data))
    start = time.perf_counter()
    rows = sum(len(b) for b in dataset.batches("train", config["train"]["batch_size"]))
    reader_rate = rows / (time.perf_counter() - start)
    (outcome,) = run_suite(suite, out_dir=folder / "results", force=True)
    metrics = outcome.record["metrics"]
    print(
        json.dumps(
            {
                "train_rows": rows,
                "reader_rows_per_s": round(reader_rate),
                "train_samples_per_s": round(metrics["train_samples_per_s"]),
                "reader_to_training_ratio": reader_rate / metrics["train_samples_per_s"],
                "data_wait_share": metrics["data_wait_share"],
                "status": outcome.record["status"],
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
