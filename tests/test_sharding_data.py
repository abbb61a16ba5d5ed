"""Data-parallel parts of batches: every rank's part of each global batch, and nothing else."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from benchsuite.api import Batch, BenchsuiteError, Dataset
from benchsuite.distributed import from_environment, part_bounds
from benchsuite_plugins.datasets.criteo import CriteoKaggle
from benchsuite_plugins.datasets.fakelogs import criteo_lines, write_lines
from benchsuite_plugins.datasets.synthetic import SyntheticDataset


def _union_matches(parts_by_rank: list[list[Batch]], whole: list[Batch]) -> None:
    """Step k's parts, concatenated in rank order, are global batch k, row for row."""
    assert all(len(parts) == len(whole) for parts in parts_by_rank)
    for step, batch in enumerate(whole):
        pieces = [parts[step] for parts in parts_by_rank]
        for name, column in zip(Batch._fields, batch, strict=True):
            joined = torch.cat([getattr(p, name) for p in pieces])
            assert torch.equal(joined, column.to(joined.dtype)), (step, name)
        for rank, piece in enumerate(pieces):
            lo, hi = part_bounds(len(batch), rank, len(pieces))
            assert len(piece) == hi - lo


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> CriteoKaggle:
    folder = tmp_path_factory.mktemp("prepared")
    raw = write_lines(folder / "k.txt", criteo_lines(2300, seed=3))
    CriteoKaggle.prepare_raw([raw], folder / "out", {})
    return CriteoKaggle(path=str(folder / "out"), shuffle_window=300)


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("epoch", [0, 2])
def test_prepared_ranks_read_disjoint_rows_that_make_up_each_batch(prepared, world, epoch):
    whole = list(prepared.batches("train", 64, epoch=epoch))
    assert len(whole[-1]) < 64  # the split's last batch is short: its parts still add up
    parts = [
        list(prepared.shard("train", 64, rank=r, world=world, epoch=epoch)) for r in range(world)
    ]
    _union_matches(parts, whole)


def test_prepared_parts_resume_at_an_offset_as_the_whole_batches_do(prepared):
    offset = 64 * 7
    whole = list(prepared.batches_from("train", 64, epoch=1, offset=offset))
    parts = [
        list(prepared.shard("train", 64, rank=r, world=2, epoch=1, offset=offset)) for r in (0, 1)
    ]
    _union_matches(parts, whole)


def test_prepared_evaluation_split_is_covered_once_by_the_ranks(prepared):
    whole = list(prepared.batches("test", 100))
    parts = [list(prepared.shard("test", 100, rank=r, world=4)) for r in range(4)]
    _union_matches(parts, whole)


def test_a_last_batch_smaller_than_the_world_leaves_some_parts_empty(tmp_path):
    raw = write_lines(tmp_path / "k.txt", criteo_lines(700, seed=1))
    CriteoKaggle.prepare_raw([raw], tmp_path / "out", {})
    data = CriteoKaggle(path=str(tmp_path / "out"))
    rows = data.num_samples("train")
    batch = rows - 2  # two batches: a full one, then one of 2 rows for 3 ranks
    whole = list(data.batches("train", batch))
    assert [len(b) for b in whole] == [batch, 2]
    parts = [list(data.shard("train", batch, rank=r, world=3)) for r in range(3)]
    _union_matches(parts, whole)
    assert len(parts[0][1]) == 0 and parts[0][1].ids.shape[1] == 26


def test_default_shard_cuts_every_batch_of_a_plugin_dataset():
    data = SyntheticDataset(scale=0.0005, train_samples=3000, chunk_size=700)
    whole = list(data.batches("train", 256, epoch=1))
    parts = [list(Dataset.shard(data, "train", 256, rank=r, world=2, epoch=1)) for r in (0, 1)]
    _union_matches(parts, whole)


def test_shard_refuses_a_rank_outside_the_world(prepared):
    with pytest.raises(BenchsuiteError, match="rank must lie in"):
        next(iter(prepared.shard("train", 64, rank=2, world=2)))
    with pytest.raises(BenchsuiteError, match="rank must lie in"):
        next(Dataset.shard(SyntheticDataset(scale=0.0005), "train", 64, rank=-1, world=2))


def test_torchrun_environment_gives_rank_world_and_local_rank():
    env = {
        "RANK": "1",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "h",
        "MASTER_PORT": "1",
    }
    assert from_environment(env) == (1, 4, 1)


def test_no_torchrun_or_a_world_of_one_runs_as_a_single_process():
    assert from_environment({}) is None
    assert from_environment({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a number"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "must lie in"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, "MASTER_ADDR and MASTER_PORT unset"),
    ],
)
def test_a_broken_torchrun_environment_is_one_clear_error(env, message):
    with pytest.raises(BenchsuiteError, match=message):
        from_environment(env)


def test_part_bounds_split_a_batch_into_contiguous_pieces_that_cover_it():
    for rows in (0, 1, 5, 64, 1000):
        for size in (1, 2, 3, 8):
            bounds = [part_bounds(rows, r, size) for r in range(size)]
            assert bounds[0][0] == 0 and bounds[-1][1] == rows
            assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_sharding_unprepared_data_says_how_to_prepare_it(tmp_path: Path):
    with pytest.raises(BenchsuiteError, match="not prepared"):
        CriteoKaggle(path=str(tmp_path / "missing")).shard("train", 8, rank=0, world=2)
