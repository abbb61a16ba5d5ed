"""Result records for tests of what reads them: leaderboards, plots, the site, compare."""

from __future__ import annotations

from typing import Any

from benchsuite.results import SCHEMA

FULL_BYTES = 16_000_000


def record(
    label: str = "hashing",
    budget: str = "16x",
    seed: int = 0,
    auc: float | None = 0.77,
    status: str = "ok",
    suite: str = "quickstart",
    hardware: dict[str, Any] | None = None,
    suite_hash: str = "0" * 64,
    config_hash: str | None = None,
    **metrics: Any,
) -> dict[str, Any]:
    """A result record for one cell; the method is the label up to its first '['."""
    method = label.split("[", 1)[0]
    ratio = 1.0 if method == "full" else float(budget.rstrip("x")) if budget.endswith("x") else 4.0
    base: dict[str, Any] = {
        "test_auc": auc,
        "target_auc": 0.76,
        "target_reached": auc is not None and auc >= 0.76,
        "samples_to_target": 40_000 if auc is not None and auc >= 0.76 else None,
        "seconds_to_target": 4.0 if auc is not None and auc >= 0.76 else None,
        "train_samples_per_s": 10_000.0,
        "bayes_auc": 0.80,
        "inference_samples_per_s": {"1024": 50_000.0, "16384": 90_000.0},
        "full_bytes": FULL_BYTES,
        "embedding_bytes": int(FULL_BYTES / ratio),
        "compression_ratio": ratio,
    }
    if status != "ok":
        base = {"full_bytes": FULL_BYTES}
    base.update(metrics)
    key = f"{label}@{budget}#{seed}"
    return {
        "schema": SCHEMA,
        "suite": {"name": suite, "path": f"/s/{suite}.yaml", "hash": suite_hash},
        "cell": {
            "key": key,
            "method": method,
            "label": label,
            "params": {},
            "budget": budget,
            "seed": seed,
        },
        "config": {},
        "config_hash": config_hash or f"config of {key}",
        "environment": {"hardware": hardware or {"profile": "cpu", "cpu": "Test CPU"}},
        "started_at": "2026-11-22T10:00:00+00:00",
        "finished_at": "2026-11-22T10:01:00+00:00",
        "status": status,
        "error": None if status == "ok" else "reason",
        "metrics": base,
    }
