"""Avazu click-through logs (Kaggle, 10 days, 40.4M rows), prepared from the training CSV.

24 comma-separated columns: ``id`` (ignored), ``click`` (the label) and 22 categorical fields,
``hour`` among them as a category (the usual practice); there are no dense features, so the
model has no bottom MLP. A header row is recognised and skipped; files without one are read the
same. Categories are strings, hashed to 64 bits and given contiguous ids per feature in order of
first sight (two distinct strings sharing a 64-bit hash is a one-in-10^6 event for the whole
dataset). The split is the usual random 8:1:1 (train, validation, test) with a fixed seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from benchsuite.api import BenchsuiteError
from benchsuite.data import (
    LABEL,
    SKIP,
    STRING,
    PreparedDataset,
    Recipe,
    Source,
    TextLayout,
    seeded_split,
)
from benchsuite.hookspecs import hookimpl

COLUMNS = (
    "id", "click", "hour", "C1", "banner_pos", "site_id", "site_domain", "site_category",
    "app_id", "app_domain", "app_category", "device_id", "device_ip", "device_model",
    "device_type", "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
)  # fmt: skip
FEATURES = COLUMNS[2:]
LAYOUT = TextLayout((SKIP, LABEL, *([STRING] * len(FEATURES))), delimiter=",")
# Distinct values per feature in the full training file (methods.md, Hetu's 9,449,445 total).
PUBLISHED_ROWS = (
    240, 7, 7, 4737, 7745, 26, 8552, 559, 36, 2686408, 6729486, 8251, 5, 4,
    2626, 8, 9, 435, 4, 68, 172, 60,
)  # fmt: skip
SHARES = (0.8, 0.1, 0.1)


def random_splits(parts: dict[str, int], settings: dict[str, Any]) -> dict[str, Any]:
    """Train, validation and test rows drawn 8:1:1 by a seeded permutation of all rows."""
    rows = sum(parts.values())
    train, validation, test = seeded_split(rows, SHARES, int(settings.get("seed") or 0))
    return {"train": train, "validation": validation, "test": test}


class Avazu(PreparedDataset):
    name = "avazu"
    summary = "Avazu click-through logs (40.4M rows, 22 categorical fields), random 8:1:1 split"
    published_rows = PUBLISHED_ROWS
    feature_names = FEATURES
    dense_count = 0
    download = "https://www.kaggle.com/c/avazu-ctr-prediction/data (train.gz)"
    preparation: ClassVar[dict[str, Any]] = {
        "bad_rows": "error", "min_count": 1, "seed": 0, "threads": 0, "block_mb": 8,
    }  # fmt: skip

    def raw_hint(self) -> str:
        return "train.gz"

    @classmethod
    def recipe(cls, raw: list[Path], settings: dict[str, Any]) -> Recipe:
        if len(raw) != 1:
            raise BenchsuiteError(
                f"avazu is prepared from one file (train or train.gz); got {len(raw)}"
            )
        return Recipe(
            dataset=cls.name,
            layout=LAYOUT,
            features=list(FEATURES),
            dense=[],
            sources=[Source(raw[0], "train")],
            splits=random_splits,
            settings=settings,
            header=b"id,",
        )


@hookimpl
def benchsuite_register_datasets() -> list[type]:
    return [Avazu]
