"""Per-cell locks: runs sharing a results folder never run a cell twice nor corrupt a record,
and a killed process never leaves a cell locked."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchsuite import results
from benchsuite.cli import main
from benchsuite.locks import CellLock, lock_path

HOLD = textwrap.dedent(
    """
    import sys, time
    from benchsuite.locks import CellLock
    lock = CellLock(sys.argv[1])
    print("locked" if lock.acquire() else "busy", flush=True)
    time.sleep(600)
    """
)

# Notes every cell start with the pid of the process that ran it; a second's pause per cell
# makes the two runs of the concurrency test overlap for certain.
SPY = """
    import os
    import time

    from benchsuite.hookspecs import hookimpl

    LOG = {log!r}


    @hookimpl
    def benchsuite_cell_start(cell):
        with open(LOG, "a") as handle:
            handle.write(f"{{os.getpid()}} {{cell.key}}\\n")
        time.sleep(1)
"""


@pytest.fixture
def holder():
    """Start a process that takes the lock of a record path and keeps it until killed."""
    started: list[subprocess.Popen[str]] = []

    def hold(record: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(record)], stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        return proc

    yield hold
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_lock_file_lives_in_a_hidden_folder_beside_the_records(tmp_path):
    record = results.record_path(tmp_path, "hashing[seed=3]@16x#0")
    assert lock_path(record) == tmp_path / ".locks" / f"{record.stem}.lock"


def test_a_held_lock_is_refused_to_another_process_which_learns_the_holders_pid(tmp_path, holder):
    record = tmp_path / "cell.json"
    proc = holder(record)
    other = CellLock(record)
    assert other.acquire() is False and not other.held
    assert other.holder() == proc.pid


def test_a_released_lock_can_be_taken_again(tmp_path):
    record = tmp_path / "cell.json"
    with CellLock(record) as first:
        assert first.acquire()
        assert CellLock(record).acquire() is False  # even within one process
    second = CellLock(record)
    assert second.acquire() and second.holder() == os.getpid()
    second.release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, holder):
    record = tmp_path / "cell.json"
    proc = holder(record)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = CellLock(record)
    assert lock.path.exists()  # the dead holder's file is still there...
    assert lock.acquire()  # ...but the kernel dropped its flock
    lock.release()
    assert not lock.path.parent.exists()  # and a release tidies up


def test_locking_a_file_its_holder_removed_meanwhile_starts_again(tmp_path, monkeypatch):
    record = tmp_path / "cell.json"
    real_open = os.open
    opened: list[int] = []

    def open_then_lose_the_race(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        if not opened:  # the previous holder releases between this open and the flock
            os.unlink(path)
        opened.append(fd)
        return fd

    monkeypatch.setattr("benchsuite.locks.os.open", open_then_lose_the_race)
    lock = CellLock(record)
    assert lock.acquire()
    assert len(opened) == 2  # the removed file was let go, the one at the path locked
    assert os.fstat(lock.fileno()).st_ino == lock.path.stat().st_ino
    lock.release()


def test_a_cell_running_elsewhere_is_skipped_and_a_killed_runs_lock_blocks_nothing(
    write_suite, tmp_path, holder, capsys
):
    suite, out = write_suite(), tmp_path / "out"
    proc = holder(results.record_path(out, "full@1x#0"))
    assert main(["run", "--suite", str(suite), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"full @ 1x seed 0: running in another process (pid {proc.pid}), skipped" in err
    assert "1 cell(s) were running in another process and were skipped" in err
    assert set(_records(out)) == {"hashing@4x#0"}

    proc.kill()  # the other run dies mid-cell: its cell runs next time
    proc.wait()
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    assert set(_records(out)) == {"full@1x#0", "hashing@4x#0"}
    assert "running in another process" not in capsys.readouterr().err


def test_two_concurrent_runs_run_every_cell_exactly_once(write_suite, write_plugin, tmp_path):
    log = tmp_path / "starts.txt"
    plugins = write_plugin("spy", SPY.format(log=str(log))).parent
    suite = write_suite({"train.samples": 2048, "inference.batches": 1, "seeds": [0, 1]})
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "benchsuite", "run", "--suite", str(suite), "--out", str(out),
        "--plugins-dir", str(plugins), "--quiet",
    ]  # fmt: skip
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    records = _records(out)  # every file validates: none is corrupt or half-written
    assert len(records) == 4 and all(r["status"] == "ok" for r in records.values())
    starts = collections.Counter(line.split()[1] for line in log.read_text().splitlines())
    assert starts == dict.fromkeys(records, 1)
    leftovers = [p.name for p in out.iterdir() if p.name.endswith((".tmp", ".corrupt"))]
    assert leftovers == []
    assert not (out / ".locks").exists()  # every lock was released and its file removed


def _records(out: Path) -> dict[str, dict]:
    return {r["cell"]["key"]: r for r in results.load_records(out)}
