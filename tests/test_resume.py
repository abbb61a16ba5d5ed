"""Resumable cells: checkpoints written during training; a run killed with SIGKILL (or a damaged
checkpoint) ends, once run again, with the metrics of an uninterrupted run for the same seed.

On CPU the same operations run on the same values after a resume (the data, the parameters, the
optimizer state and every random state are restored): counts and positions must match exactly,
AUC and log loss to float rounding (see `_assert_same_quality`).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TINY_SUITE, tiny_suite_file

from benchsuite import checkpoint, results, runner
from benchsuite.api import Batch, BenchsuiteError, Dataset
from benchsuite.cli import main
from benchsuite_plugins.datasets.synthetic import SyntheticDataset

# Long enough to be killed at several points; 7000 training rows is not a multiple of the batch
# (each epoch ends on a short batch, and the 2904-row chunk moves when later epochs reshuffle),
# 16384 samples cross two epoch boundaries; Adagrad has state that must be restored.
RESUME = {
    "dataset.params.train_samples": 7000,
    "train.optimizer": "adagrad",
    "train.samples": 16384,
    "train.checkpoint_every": 1024,
    "train.checkpoint_minutes": None,
}
CELLS = {"full@1x#0", "hashing@4x#0"}


def _suite_file(path: Path, overrides: dict[str, Any]) -> Path:
    return tiny_suite_file(path, overrides)


def _command(suite: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "benchsuite", "run", "--suite", str(suite), "--out", str(out)]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "BENCHSUITE_CACHE_DIR": str(cache)}


def _quality(record: dict[str, Any]) -> dict[str, Any]:
    """What a resume must reproduce exactly (timings naturally differ)."""
    m = record["metrics"]
    keys = ("test_auc", "test_logloss", "best_val_auc", "train_samples", "target_reached",
            "samples_to_target", "embedding_bytes", "optimizer_state_bytes")  # fmt: skip
    return {
        "status": record["status"],
        **{k: m.get(k) for k in keys},
        "curve": [(p["samples"], p["auc"], p["logloss"]) for p in record["curve"]],
    }


def _assert_same_quality(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Counts, statuses and sample positions exactly; AUC and log loss to float rounding.

    Most resumes are bit-identical. Restored tensors can land at another memory alignment,
    which lets vectorised kernels sum in another order: differences of about 1e-7 were seen
    once in many runs, never more.
    """
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key == "curve":
            assert [p[0] for p in got[key]] == [p[0] for p in value]
            assert [p[1:] for p in got[key]] == [pytest.approx(p[1:], rel=1e-6) for p in value], key
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert got[key] == value, key


def _by_cell(out: Path) -> dict[str, dict[str, Any]]:
    return {r["cell"]["key"]: r for r in results.load_records(out)}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """The resume suite run without checkpoints, in its own process as the killed runs are."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    suite = _suite_file(
        folder / "tiny.yaml",
        {**RESUME, "train.checkpoint_every": None, "train.checkpoint_minutes": None},
    )
    done = subprocess.run(
        [*_command(suite, folder / "out"), "--quiet"],
        env=_env(folder / "cache"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    records = _by_cell(folder / "out")
    assert set(records) == CELLS and not (folder / "out" / checkpoint.FOLDER).exists()
    return {key: _quality(r) for key, r in records.items()}


# -- kill -9 during a run ------------------------------------------------------------------------


def _signature(folder: Path) -> set[tuple[str, int, int]]:
    if not folder.is_dir():
        return set()
    out = set()
    for path in folder.glob("*.pt"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # replaced meanwhile
            continue
        out.add((path.name, stat.st_ino, stat.st_mtime_ns))
    return out


def _wait_for_new_checkpoint(proc: subprocess.Popen, folder: Path, before: set) -> None:
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _signature(folder) - before:
            return
        time.sleep(0.01)


def _assert_every_record_file_loads(out: Path) -> None:
    for path in out.glob("*.json"):
        results.load_record(path)  # raises on a partial or damaged record


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_runs_killed_at_random_points_resume_to_the_uninterrupted_metrics(
    uninterrupted, tmp_path, seed
):
    rng = random.Random(seed)
    suite = _suite_file(tmp_path / "tiny.yaml", RESUME)
    out, folder = tmp_path / "out", tmp_path / "out" / checkpoint.FOLDER
    resumed_at: dict[str, set[int]] = {}  # cell -> samples of the checkpoints left by kills
    kills = 0
    # Killed at least twice (the second time while resuming), each time just after a randomly
    # chosen checkpoint of the run: a delay measured in seconds would, on an idle machine, often
    # outlast the tiny cells, leaving nothing to resume.
    for attempt in range(6):
        if attempt >= 2 and resumed_at:
            break
        proc = subprocess.Popen(
            [*_command(suite, out), "--quiet"],
            env=_env(tmp_path / "cache"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(rng.randint(1, 12)):
            _wait_for_new_checkpoint(proc, folder, _signature(folder))
        time.sleep(rng.uniform(0.0, 0.02))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
        _assert_every_record_file_loads(out)
        done = {r["cell"]["key"] for r in results.load_records(out)}
        for path in folder.glob("*.pt"):
            saved = torch.load(path, weights_only=True)
            if saved["cell"] not in done:
                resumed_at.setdefault(saved["cell"], set()).add(saved["train"]["samples"])
    assert kills >= 1 and resumed_at, "no run was killed with a checkpoint to resume from"

    finish = subprocess.run(
        [*_command(suite, out), "--quiet"], env=_env(tmp_path / "cache"), capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert finish.returncode == 0, finish.stderr
    records = _by_cell(out)
    assert set(records) == CELLS  # no record lost
    _assert_every_record_file_loads(out)
    for key, record in records.items():
        _assert_same_quality(_quality(record), uninterrupted[key])
        if key in resumed_at:
            resumed = record["resumed"]
            assert resumed_at[key] <= set(resumed["from_samples"])
            assert resumed["segments"] == len(resumed["from_samples"]) + 1
            assert "summed" in resumed["timings"] or "add up" in resumed["timings"]
            assert record["metrics"]["train_seconds"] > 0
        else:
            assert "resumed" not in record
    assert not folder.exists()  # every checkpoint removed with its cell's record


# -- kill while a record is written --------------------------------------------------------------

# Runs the suite with json.dump stalled halfway through the second record (after writing half of
# it to the temporary file), touching a marker so the test knows when to kill.
STALL_SECOND_RECORD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from benchsuite import results
    from benchsuite.cli import main

    marker = Path(sys.argv[1])
    real_dump = json.dump
    records = []

    def dump(obj, handle, **kwargs):
        if isinstance(obj, dict) and obj.get("schema") == results.SCHEMA:
            records.append(obj)
            if len(records) == 2:
                text = json.dumps(obj, **kwargs)
                handle.write(text[: len(text) // 2])
                handle.flush()
                marker.touch()
                time.sleep(600)
        return real_dump(obj, handle, **kwargs)

    json.dump = dump
    sys.exit(main(sys.argv[2:]))
    """
)


def test_kill_while_a_record_is_written_leaves_no_partial_record(uninterrupted, tmp_path):
    suite = _suite_file(tmp_path / "tiny.yaml", RESUME)
    out, marker = tmp_path / "out", tmp_path / "stalled"
    proc = subprocess.Popen(
        [sys.executable, "-c", STALL_SECOND_RECORD, str(marker), *_command(suite, out)[3:],
         "--quiet"],
        env=_env(tmp_path / "cache"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), proc.stderr.read().decode() if proc.poll() is not None else "timeout"
    proc.kill()
    proc.wait()
    proc.stderr.close()

    partial = list(out.glob(".*.json.*.tmp"))
    assert len(partial) == 1  # the half-written record, under its hidden temporary name
    with pytest.raises(BenchsuiteError, match="not valid JSON"):
        results.load_record(partial[0])
    assert set(_by_cell(out)) == {"full@1x#0"}  # only the finished record reads as one
    _assert_every_record_file_loads(out)
    last = torch.load(checkpoint.checkpoint_path(out, "hashing@4x#0"), weights_only=True)
    assert last["train"]["samples"] > 14000  # the cell's last checkpoint, near its end

    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    records = _by_cell(out)
    assert set(records) == CELLS
    _assert_every_record_file_loads(out)
    for key, record in records.items():
        _assert_same_quality(_quality(record), uninterrupted[key])
    assert records["hashing@4x#0"]["resumed"]["from_samples"] == [last["train"]["samples"]]
    assert not list(out.glob(".*.tmp"))  # the killed write's leftover is cleaned up


# -- damaged, foreign or hostile checkpoints ------------------------------------------------------


def _keep_checkpoints(monkeypatch) -> None:
    """Leave each cell's last checkpoint behind, as a run killed just before its record would."""
    monkeypatch.setattr(checkpoint, "discard", lambda out, key: None)


@pytest.fixture(scope="module")
def checkpoint_template(tmp_path_factory) -> tuple[Path, Path]:
    """A results folder holding both cells' last checkpoints (at 12632 samples: the first batch
    end past 2 × 6144, in the second epoch) and no records, and its suite."""
    folder = tmp_path_factory.mktemp("template")
    suite = _suite_file(folder / "tiny.yaml", {**RESUME, "train.checkpoint_every": 6144})
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        _keep_checkpoints(patch)
        assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    for path in results.record_files(out):
        path.unlink()
    for key in CELLS:
        saved = torch.load(checkpoint.checkpoint_path(out, key), weights_only=True)
        assert saved["train"]["samples"] == 12632
    return suite, out


@pytest.fixture
def checkpointed(checkpoint_template, tmp_path) -> tuple[Path, Path]:
    """A fresh copy of the template folder, and its suite."""
    suite, template = checkpoint_template
    out = tmp_path / "out"
    shutil.copytree(template, out)
    return suite, out


def _rerun(suite: Path, out: Path, capsys) -> tuple[dict[str, dict[str, Any]], str]:
    capsys.readouterr()
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    return _by_cell(out), capsys.readouterr().err


def test_an_intact_checkpoint_is_resumed_in_process_too(uninterrupted, checkpointed, capsys):
    records, err = _rerun(*checkpointed, capsys)
    for key, record in records.items():
        assert record["resumed"]["from_samples"] == [12632]
        _assert_same_quality(_quality(record), uninterrupted[key])
    assert "warning" not in err
    assert not (checkpointed[1] / checkpoint.FOLDER).exists()


def test_force_starts_an_unfinished_cell_over_instead_of_resuming(
    uninterrupted, checkpointed, capsys
):
    suite, out = checkpointed
    capsys.readouterr()
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet", "--force"]) == 0
    for key, record in _by_cell(out).items():
        assert "resumed" not in record
        _assert_same_quality(_quality(record), uninterrupted[key])
    assert not (out / checkpoint.FOLDER).exists()


def _truncate(path: Path, out: Path, suite: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path, out: Path, suite: Path) -> None:
    path.write_bytes(random.Random(0).randbytes(path.stat().st_size))


def _other_cell(path: Path, out: Path, suite: Path) -> None:
    other = checkpoint.checkpoint_path(out, "full@1x#0")
    other.replace(path)  # full's checkpoint, renamed to hashing's


def _other_format(path: Path, out: Path, suite: Path) -> None:
    saved = torch.load(path, weights_only=True)
    saved["format"] = "benchsuite.checkpoint/0"
    torch.save(saved, path)


def _other_shape(path: Path, out: Path, suite: Path) -> None:
    saved = torch.load(path, weights_only=True)
    name = next(iter(saved["model"]))
    saved["model"][name] = torch.zeros(3, 3)
    torch.save(saved, path)


def _other_config(path: Path, out: Path, suite: Path) -> None:
    """A genuine checkpoint of the same cell, written by a suite with another learning rate."""
    other_suite = _suite_file(
        out.with_name("other.yaml"), {**RESUME, "train.lr": 0.05, "train.checkpoint_every": 6144}
    )
    other_out = out.with_name("other-out")
    assert main(["run", "--suite", str(other_suite), "--out", str(other_out), "--quiet",
                 "--methods", "hashing"]) == 0  # fmt: skip
    # discard is patched out by the test: the other run's checkpoint stays
    checkpoint.checkpoint_path(other_out, "hashing@4x#0").replace(path)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate, "is unreadable"),
        (_garbage, "is unreadable"),
        (_other_cell, "belongs to cell 'full@1x#0', not 'hashing@4x#0'"),
        (_other_format, "has format 'benchsuite.checkpoint/0'"),
        (_other_shape, "does not fit this model"),
        (_other_config, "another configuration of this cell"),
    ],
    ids=["truncated", "garbage", "other-cell", "other-format", "other-shape", "other-config"],
)
def test_bad_checkpoint_restarts_the_cell_from_scratch_with_a_warning(
    uninterrupted, checkpointed, monkeypatch, capsys, damage, reason
):
    suite, out = checkpointed
    target = checkpoint.checkpoint_path(out, "hashing@4x#0")
    with monkeypatch.context() as patch:
        _keep_checkpoints(patch)
        damage(target, out, suite)
    records, err = _rerun(suite, out, capsys)
    hashing = records["hashing@4x#0"]
    assert "resumed" not in hashing
    assert reason in err and "starting the cell from scratch" in err
    assert any(reason in w and "from scratch" in w for w in hashing["warnings"])
    _assert_same_quality(_quality(hashing), uninterrupted["hashing@4x#0"])
    _assert_same_quality(_quality(records["full@1x#0"]), uninterrupted["full@1x#0"])
    assert not (out / checkpoint.FOLDER).exists()


class _Touch:
    """Pickles to a call of ``Path.touch``: loading it without weights_only creates the file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_checkpoint_holding_an_arbitrary_object_is_refused_unloaded(
    uninterrupted, tmp_path, capsys
):
    suite = _suite_file(tmp_path / "tiny.yaml", RESUME)
    out, marker = tmp_path / "out", tmp_path / "code-ran"
    reference = tmp_path / "reference"  # a finished run of the cell gives its configuration hash
    assert main(["run", "--suite", str(suite), "--out", str(reference), "--quiet",
                 "--methods", "hashing"]) == 0  # fmt: skip
    config_hash = _by_cell(reference)["hashing@4x#0"]["config_hash"]
    path = checkpoint.checkpoint_path(out, "hashing@4x#0")
    path.parent.mkdir(parents=True)
    torch.save(
        {"format": checkpoint.FORMAT, "cell": "hashing@4x#0", "config_hash": config_hash,
         "model": _Touch(marker)},
        path,
    )  # fmt: skip

    records, err = _rerun(suite, out, capsys)
    assert not marker.exists()  # the object was never built
    assert "is unreadable (UnpicklingError" in err and "from scratch" in err
    hashing = records["hashing@4x#0"]
    assert "resumed" not in hashing and any("UnpicklingError" in w for w in hashing["warnings"])
    _assert_same_quality(_quality(hashing), uninterrupted["hashing@4x#0"])
    # the control: the same bytes do run code when loaded without weights_only
    torch.save({"model": _Touch(marker)}, tmp_path / "hostile.pt")
    torch.load(tmp_path / "hostile.pt", weights_only=False)
    assert marker.exists()


NOISY_METHOD = """
    import random

    import numpy as np
    import torch
    from torch import nn
    from benchsuite.api import Method
    from benchsuite.hookspecs import hookimpl

    class NoisyTables(nn.Module):
        def __init__(self, rows, dim):
            super().__init__()
            self.tables = nn.ModuleList(nn.Embedding(n, dim) for n in rows)

        def forward(self, ids):
            out = torch.stack([t(ids[:, i]) for i, t in enumerate(self.tables)], dim=1)
            if self.training:  # draws from torch's, numpy's and Python's generators
                scale = 0.05 * (1 + np.random.rand() + random.random())
                out = out + scale * torch.randn_like(out)
            return out

    class Noisy(Method):
        name = "noisy"
        summary = "Full tables with noise from every random generator in training (test)"
        compresses = False

        def build(self, tables, dim, budget, stats, seed):
            return NoisyTables([t.rows for t in tables], dim)

    @hookimpl
    def benchsuite_register_methods():
        return [Noisy]
"""


@pytest.mark.parametrize("restore_rng", [True, False], ids=["restored", "not-restored"])
def test_random_states_are_restored_so_noisy_training_resumes_exactly(
    write_suite, write_plugin, plugins_dir, tmp_path, monkeypatch, restore_rng
):
    write_plugin("noisy", NOISY_METHOD)
    suite = write_suite({"methods": ["noisy"], "train.checkpoint_every": 2048})
    out = tmp_path / "out"
    run = ["run", "--suite", str(suite), "--out", str(out), "--quiet", "--plugins-dir",
           str(plugins_dir)]  # fmt: skip
    with monkeypatch.context() as patch:
        _keep_checkpoints(patch)
        assert main(run) == 0  # uninterrupted, leaving its last checkpoint (6144 samples)
    (first,) = results.load_records(out)
    results.record_path(out, "noisy@1x#0").unlink()
    if not restore_rng:  # the control: the same resume without the random states differs
        monkeypatch.setattr(checkpoint, "_set_rng", lambda state: None)
    assert main(run) == 0
    (again,) = results.load_records(out)
    assert again["resumed"]["from_samples"] == [6144]
    assert (_quality(again) == _quality(first)) is restore_rng


# -- cadence and configuration -------------------------------------------------------------------


def test_time_based_checkpoints_leave_the_metrics_unchanged(uninterrupted, tmp_path, capsys):
    suite = _suite_file(
        tmp_path / "tiny.yaml",
        {**RESUME, "train.checkpoint_every": None, "train.checkpoint_minutes": 0.0001},
    )
    records, _ = _rerun(suite, tmp_path / "out", capsys)
    for key, record in records.items():
        assert record["checkpoints"]["written"] >= 1
        assert record["checkpoints"]["minutes"] == 0.0001
        assert record["checkpoints"]["seconds"] > 0
        _assert_same_quality(_quality(record), uninterrupted[key])
        assert "resumed" not in record
    assert not (tmp_path / "out" / checkpoint.FOLDER).exists()


def test_checkpoint_settings_are_not_part_of_the_configuration(write_suite, tmp_path, capsys):
    out = tmp_path / "out"
    first = write_suite({"train.checkpoint_every": 2048})
    assert main(["run", "--suite", str(first), "--out", str(out), "--quiet"]) == 0
    assert all(r["checkpoints"]["written"] == 3 for r in _by_cell(out).values())
    assert all("checkpoint_every" not in r["config"]["train"] for r in _by_cell(out).values())
    before = {path: path.read_bytes() for path in results.record_files(out)}
    second = write_suite({"train.checkpoint_every": None, "train.checkpoint_minutes": None},
                         name="second.yaml")  # fmt: skip
    assert main(["run", "--suite", str(second), "--out", str(out), "--quiet"]) == 0
    assert {path: path.read_bytes() for path in results.record_files(out)} == before  # skipped


def test_default_checkpoints_every_ten_minutes_so_short_cells_write_none(write_suite, tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--suite", str(write_suite()), "--out", str(out), "--quiet"]) == 0
    for record in _by_cell(out).values():
        assert "checkpoints" not in record and "resumed" not in record


@pytest.mark.parametrize(
    ("key", "value"),
    [("checkpoint_every", 0), ("checkpoint_minutes", -1), ("checkpoint_every", 1.5)],
)
def test_bad_checkpoint_setting_is_a_suite_error(write_suite, tmp_path, capsys, key, value):
    suite = write_suite({f"train.{key}": value})
    assert main(["run", "--suite", str(suite), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert f"train.'{key}'" in capsys.readouterr().err


# -- data position -------------------------------------------------------------------------------


def _rows(batches) -> list[Batch]:
    return list(batches)


def _same_batches(a: list[Batch], b: list[Batch]) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(x, y) for x, y in zip(p, q, strict=True)) for p, q in zip(a, b, strict=True)
    )


def _synthetic() -> SyntheticDataset:
    return SyntheticDataset(**{**TINY_SUITE["dataset"]["params"], "train_samples": 7000})


@pytest.mark.parametrize("epoch", [0, 1, 2])
@pytest.mark.parametrize("offset", [0, 512, 3584, 4096, 6656, 6999])
def test_synthetic_data_restarts_exactly_at_an_offset(epoch, offset):
    data = _synthetic()
    whole = _rows(data.batches("train", 512, epoch=epoch))
    rest = _rows(data.batches_from("train", 512, epoch=epoch, offset=offset))
    if offset % 512 == 0:
        assert _same_batches(rest, whole[offset // 512 :])
    flat = [torch.cat(ts) for ts in zip(*whole, strict=True)]
    tail = [torch.cat(ts) for ts in zip(*rest, strict=True)]
    assert all(torch.equal(f[offset:], t) for f, t in zip(flat, tail, strict=True))


def test_synthetic_offset_outside_the_split_is_an_error():
    with pytest.raises(BenchsuiteError, match="offset must lie in"):
        _synthetic().batches_from("train", 512, offset=7001)


def test_default_batches_from_skips_forward_to_the_same_batches():
    data = _synthetic()
    for epoch, offset in ((0, 1024), (1, 4608), (2, 6656)):
        generic = _rows(Dataset.batches_from(data, "train", 512, epoch=epoch, offset=offset))
        exact = _rows(data.batches_from("train", 512, epoch=epoch, offset=offset))
        assert _same_batches(generic, exact)


@pytest.mark.parametrize("start", [512, 6656, 7000, 7512, 14000, 17584])
def test_training_batches_resume_at_any_sample_across_epochs(start):
    data = _synthetic()
    whole = runner._epochs(data, 512)
    consumed = 0
    while consumed < start:  # the batches an uninterrupted run consumed before the checkpoint
        consumed += len(next(whole))
    assert consumed == start
    resumed = runner._epochs(data, 512, start)
    assert _same_batches([next(resumed) for _ in range(20)], [next(whole) for _ in range(20)])


def test_prepared_data_restarts_exactly_at_an_offset(tmp_path):
    from benchsuite_plugins.datasets.criteo import CriteoKaggle
    from benchsuite_plugins.datasets.fakelogs import criteo_lines, write_lines

    raw = write_lines(tmp_path / "k.txt", criteo_lines(1400, seed=5))
    CriteoKaggle.prepare_raw([raw], tmp_path / "prepared", {})
    data = CriteoKaggle(path=str(tmp_path / "prepared"), shuffle_window=300)
    rows = data.num_samples("train")
    for epoch in (0, 3):
        whole = _rows(data.batches("train", 64, epoch=epoch))
        for offset in (64, 320, 640, (rows // 64) * 64):
            rest = _rows(data.batches_from("train", 64, epoch=epoch, offset=offset))
            assert _same_batches(rest, whole[offset // 64 :])
