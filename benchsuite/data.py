"""The public API for datasets read from prepared files (Criteo, Avazu and plugins like them).

A plugin subclasses :class:`PreparedDataset`, says what its raw files look like in a
:class:`~benchsuite.preparation.Recipe`, and gets ``benchsuite data prepare`` and a
memory-mapped reader for free. Everything a dataset plugin needs is importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from benchsuite.api import Batch, BenchsuiteError, Dataset, TableSpec
from benchsuite.preparation import (
    BAD_ROW_POLICIES,
    BlockStream,
    Recipe,
    Report,
    Source,
    prepare,
    text_reader,
)
from benchsuite.prepared import FORMAT, MANIFEST, PreparedData, fingerprint_of
from benchsuite.textparse import (
    DENSE,
    HEX,
    LABEL,
    MISSING,
    SKIP,
    STRING,
    ParsedBlock,
    TextLayout,
    parse_block,
)

__all__ = [
    "BAD_ROW_POLICIES",
    "DENSE",
    "FORMAT",
    "HEX",
    "LABEL",
    "MANIFEST",
    "MISSING",
    "SKIP",
    "STRING",
    "BlockStream",
    "ParsedBlock",
    "PreparedData",
    "PreparedDataset",
    "Recipe",
    "Report",
    "Source",
    "TextLayout",
    "data_dir",
    "fingerprint_of",
    "halves",
    "parse_block",
    "prepare",
    "seeded_split",
    "text_reader",
]


def data_dir(name: str) -> Path:
    """Where a dataset is prepared by default: ``$BENCHSUITE_DATA_DIR/<name>`` (``data/``)."""
    return Path(os.environ.get("BENCHSUITE_DATA_DIR") or "data") / name


def halves(rows: int) -> tuple[int, int]:
    """Rows of the first and second half of ``rows`` (the first takes the odd row), as
    ``numpy.array_split`` cuts the evaluation day into test and validation."""
    first = (rows + 1) // 2
    return first, rows - first


class PreparedDataset(Dataset):
    """A dataset read from a folder made by ``benchsuite data prepare``.

    Until the data is prepared, :attr:`tables` are the published table sizes
    (``published_rows``), so suites validate and budgets are checked on any machine;
    :meth:`prepare` then fails before training with the command that prepares the data.
    """

    defaults: ClassVar[dict[str, Any]] = {"path": "", "shuffle_window": 262144}
    provides = ("frequencies", "sample", "signatures", "pretrained")
    #: Published rows per table, for validation before the data is prepared.
    published_rows: ClassVar[tuple[int, ...]] = ()
    feature_names: ClassVar[tuple[str, ...]] = ()
    dense_count: ClassVar[int] = 0
    #: Where to get the raw files, for the message shown when the data is missing.
    download: ClassVar[str] = ""
    #: ``benchsuite data prepare`` settings for this dataset, with defaults.
    preparation: ClassVar[dict[str, Any] | None] = {}

    def validate(self) -> None:
        if int(self.params["shuffle_window"]) < 1:
            raise BenchsuiteError("shuffle_window must be a positive number of rows")
        self._data: PreparedData | None = None

    @property
    def root(self) -> Path:
        return Path(self.params["path"]) if self.params["path"] else data_dir(self.name)

    @property
    def data(self) -> PreparedData:
        if self._data is None:
            self._data = PreparedData(self.root, self.name, prepare_hint=self.prepare_hint())
        return self._data

    def prepare_hint(self) -> str:
        return (
            f"get the raw files from {self.download} and run: benchsuite data prepare "
            f"{self.name} --raw {self.raw_hint()} --out {self.root}"
        )

    def raw_hint(self) -> str:
        return "FILE"

    def prepare(self) -> None:
        self.data  # noqa: B018 - opening it checks the manifest and every file

    def _prepared(self) -> bool:
        return (self.root / MANIFEST).exists()

    @property
    def num_dense(self) -> int:
        return self.dense_count

    @property
    def tables(self) -> list[TableSpec]:
        if self._prepared():
            return self.data.tables
        return [
            TableSpec(name, rows)
            for name, rows in zip(self.feature_names, self.published_rows, strict=True)
        ]

    def num_samples(self, split: str) -> int:
        return self.data.num_samples(split)

    def batches(self, split: str, batch_size: int, *, epoch: int = 0) -> Iterator[Batch]:
        return self.shard(split, batch_size, rank=0, world=1, epoch=epoch)

    def batches_from(
        self, split: str, batch_size: int, *, epoch: int = 0, offset: int = 0
    ) -> Iterator[Batch]:
        """Seeks: the windows before ``offset`` are skipped unread."""
        return self.shard(split, batch_size, rank=0, world=1, epoch=epoch, offset=offset)

    def shard(
        self, split: str, batch_size: int, *, rank: int, world: int, epoch: int = 0,
        offset: int = 0,
    ) -> Iterator[Batch]:  # fmt: skip
        """Reads only this process's rows of each window (row ranges of the batched stream);
        training rows are shuffled within windows, reproducibly per epoch."""
        return self.data.batches(
            split,
            batch_size,
            shuffle=split == "train",
            window=int(self.params["shuffle_window"]),
            seed=epoch,
            offset=offset,
            rank=rank,
            world=world,
        )

    def fingerprint(self) -> str:
        if not self._prepared():
            return "unprepared"
        return self.data.fingerprint

    def frequencies(self) -> list[torch.Tensor] | None:
        return self.data.frequencies()

    @classmethod
    def recipe(cls, raw: list[Path], settings: dict[str, Any]) -> Recipe:
        """The preparation of ``raw`` files with ``settings``: subclasses say how."""
        raise NotImplementedError

    @classmethod
    def prepare_raw(
        cls, raw: list[Path], out: Path, settings: dict[str, Any], *, force: bool = False,
        report: Report | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        full = {**(cls.preparation or {}), **settings}
        return prepare(cls.recipe(raw, full), out, force=force, report=report)


def seeded_split(rows: int, shares: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Row numbers of a random split with exact shares (the last takes the remainder)."""
    order = np.random.default_rng(seed).permutation(rows)
    cuts = np.floor(np.cumsum(shares[:-1]) * rows).astype(np.int64)
    return [np.sort(piece) for piece in np.split(order, cuts)]
