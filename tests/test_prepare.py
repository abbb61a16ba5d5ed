"""Preparation of raw click logs: parsing, remapping, splits, bad rows, resuming, the reader."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.data import PreparedData, halves
from benchsuite_plugins.datasets.avazu import Avazu
from benchsuite_plugins.datasets.criteo import CriteoKaggle, CriteoTB, kaggle_splits
from benchsuite_plugins.datasets.fakelogs import (
    AVAZU_HEADER,
    avazu_lines,
    criteo_lines,
    write_lines,
)


def prepare_kaggle(tmp_path: Path, lines: list[str], name: str = "k", **settings) -> PreparedData:
    raw = write_lines(tmp_path / f"{name}.txt", lines)
    out = tmp_path / f"{name}-prepared"
    CriteoKaggle.prepare_raw([raw], out, settings)
    return PreparedData(out, "criteo-kaggle")


def all_rows(data: PreparedData, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    batches = list(data.batches(split, 64))
    return tuple(
        np.concatenate([getattr(b, k).numpy() for b in batches]) for k in ("labels", "dense", "ids")
    )  # type: ignore[return-value]


def test_kaggle_split_is_seven_parts_with_the_last_halved_test_first() -> None:
    splits = kaggle_splits({"train": 100}, {})
    # 100 = 7 * 14 + 2: parts 0 and 1 take one extra row
    assert splits["train"] == [["train", 0, 86]]
    assert splits["test"] == [["train", 86, 93]]
    assert splits["validation"] == [["train", 93, 100]]
    assert halves(7) == (4, 3)


def test_kaggle_rows_splits_and_order_are_kept(tmp_path: Path) -> None:
    lines = criteo_lines(700, seed=1)
    data = prepare_kaggle(tmp_path, lines)
    assert data.manifest["rows"] == 700
    assert data.manifest["split_rows"] == {"train": 600, "validation": 50, "test": 50}
    labels, _, _ = all_rows(data, "test")
    expected = [int(line.split("\t")[0]) for line in lines[600:650]]
    assert labels.astype(int).tolist() == expected


def test_dense_values_are_log1p_with_negatives_and_missing_as_zero(tmp_path: Path) -> None:
    fields = ["1", "-2", "", "0", "7", "123456789"] + ["3"] * 8 + ["0000000a"] * 26
    line = "\t".join(fields)
    data = prepare_kaggle(tmp_path, [line] * 7)
    _, dense, _ = all_rows(data, "train")
    assert dense[0, :5].tolist() == pytest.approx(
        [0.0, 0.0, 0.0, math.log1p(7), math.log1p(123456789)], rel=1e-6
    )


def test_categories_get_contiguous_ids_in_order_of_first_sight(tmp_path: Path) -> None:
    lines = criteo_lines(350, seed=2)
    data = prepare_kaggle(tmp_path, lines)
    ids = np.concatenate([data._arrays["train"][2][:]])
    for j in (0, 2, 21):  # C1, C3 and C22 (mostly missing)
        raw = [line.split("\t")[14 + j] for line in lines]
        first_sight: dict[str, int] = {}
        for value in raw:
            first_sight.setdefault(value, len(first_sight))
        assert ids[:, j].tolist() == [first_sight[v] for v in raw]
        assert data.tables[j].rows == len(first_sight)


def test_min_count_folds_ids_rare_in_training_into_id_zero(tmp_path: Path) -> None:
    lines = criteo_lines(700, seed=3)
    data = prepare_kaggle(tmp_path, lines, min_count=3)
    ids = np.asarray(data._arrays["train"][2])
    train_raw = [line.split("\t")[14] for line in lines[:600]]
    counts: dict[str, int] = {}
    for value in train_raw:
        counts[value] = counts.get(value, 0) + 1
    kept = [v for v in dict.fromkeys(train_raw) if counts[v] >= 3]
    column = ids[:, 0]
    for value, got in zip((line.split("\t")[14] for line in lines), column, strict=True):
        assert got == (kept.index(value) + 1 if value in kept else 0)
    assert data.tables[0].rows == len(kept) + 1
    freq = data.frequencies()[0].numpy()
    assert freq.sum() == 600
    assert freq[1:].tolist() == [counts[v] for v in kept]


def test_cap_takes_categories_modulo_before_numbering(tmp_path: Path) -> None:
    lines = criteo_lines(350, seed=4)
    data = prepare_kaggle(tmp_path, lines, cap=5)
    ids = np.asarray(data._arrays["train"][2])
    raw = [line.split("\t")[16] for line in lines]  # C3: large pool
    reduced = ["" if v == "" else int(v, 16) % 5 for v in raw]
    first_sight: dict = {}
    for value in reduced:
        first_sight.setdefault(value, len(first_sight))
    assert ids[:, 2].tolist() == [first_sight[v] for v in reduced]
    assert data.tables[2].rows <= 6  # five residues and missing


def test_frequencies_count_training_rows_only(tmp_path: Path) -> None:
    data = prepare_kaggle(tmp_path, criteo_lines(700, seed=5))
    _, _, ids = all_rows(data, "train")
    for j, counts in enumerate(data.frequencies()):
        expected = np.bincount(ids[:, j], minlength=data.tables[j].rows)
        assert counts.numpy().tolist() == expected.tolist()


def test_fingerprint_changes_with_settings_and_not_with_reruns(tmp_path: Path) -> None:
    lines = criteo_lines(140, seed=6)
    a = prepare_kaggle(tmp_path, lines, name="a").fingerprint
    again = prepare_kaggle(tmp_path, lines, name="b").fingerprint
    folded = prepare_kaggle(tmp_path, lines, name="c", min_count=2).fingerprint
    other = prepare_kaggle(tmp_path, criteo_lines(140, seed=7), name="d").fingerprint
    assert a == again
    assert len({a, folded, other}) == 3


def test_manifest_records_sources_with_size_and_checksum(tmp_path: Path) -> None:
    data = prepare_kaggle(tmp_path, criteo_lines(70, seed=8))
    (source,) = data.manifest["sources"]
    assert source["bytes"] == (tmp_path / "k.txt").stat().st_size
    assert source["checksum"].startswith("rows-fnv64:")
    assert source["rows"] == 70


def test_exact_duplicate_lines_are_counted_and_reported(tmp_path: Path, capsys) -> None:
    lines = criteo_lines(70, seed=9)
    lines[50] = lines[3]
    lines[60] = lines[3]
    raw = write_lines(tmp_path / "dup.txt", lines)
    rc = main(["data", "prepare", "criteo-kaggle", "--raw", str(raw), "--out", str(tmp_path / "o")])
    assert rc == 0
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["duplicate_rows"] == 2
    assert "2 rows repeat an earlier row exactly" in capsys.readouterr().err


BAD_LINES = {
    "wrong_field_count": lambda f: "\t".join(f[:-1]),
    "non_integer_dense": lambda f: "\t".join([f[0], "1.5", *f[2:]]),
    "bad_category": lambda f: "\t".join([*f[:14], "zz12ab34", *f[15:]]),
    "bad_label": lambda f: "\t".join(["2", *f[1:]]),
}
BAD_MESSAGES = {
    "wrong_field_count": "expected 40 fields, found 39",
    "non_integer_dense": "field 2: the dense value is not an integer",
    "bad_category": "field 15: the category is not a hexadecimal number",
    "bad_label": "field 1: the label is not 0 or 1",
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_bad_row_stops_preparation_naming_file_line_and_problem(tmp_path, capsys, kind) -> None:
    lines = criteo_lines(30, seed=10)
    lines[12] = BAD_LINES[kind](lines[12].split("\t"))
    raw = write_lines(tmp_path / "bad.txt", lines)
    rc = main(["data", "prepare", "criteo-kaggle", "--raw", str(raw), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{raw}:13: {BAD_MESSAGES[kind]}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o" / "manifest.json").exists()


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_skip_policy_drops_and_counts_each_kind_of_bad_row(tmp_path, capsys, kind) -> None:
    lines = criteo_lines(30, seed=11)
    for i in (4, 20):
        lines[i] = BAD_LINES[kind](lines[i].split("\t"))
    raw = write_lines(tmp_path / "bad.txt", lines)
    out = tmp_path / "o"
    rc = main(["data", "prepare", "criteo-kaggle", "--raw", str(raw), "--out", str(out),
               "--bad-rows", "skip"])  # fmt: skip
    assert rc == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["bad_rows"] == {kind: 2}
    assert manifest["rows"] == 28
    assert f"2 {kind.replace('_', ' ')}" in capsys.readouterr().err


def test_empty_file_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    raw = tmp_path / "train.txt"
    raw.write_bytes(b"")
    rc = main(["data", "prepare", "criteo-kaggle", "--raw", str(raw), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert f"{raw}: the file is empty" in capsys.readouterr().err


def test_truncated_gzip_is_an_error_naming_the_file(tmp_path: Path, capsys) -> None:
    data = gzip.compress(("\n".join(criteo_lines(300, seed=12)) + "\n").encode())
    raw = tmp_path / "train.txt.gz"
    raw.write_bytes(data[: len(data) // 2])
    rc = main(["data", "prepare", "criteo-kaggle", "--raw", str(raw), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"{raw}: the gzip stream is truncated or corrupt" in err


def test_skip_policy_keeps_the_rows_before_a_gzip_truncation_and_counts_it(tmp_path) -> None:
    lines = criteo_lines(3000, seed=12)
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    raw = tmp_path / "train.txt.gz"
    raw.write_bytes(data[: len(data) * 3 // 4])
    CriteoKaggle.prepare_raw([raw], tmp_path / "o", {"bad_rows": "skip", "block_mb": 0.05})
    manifest = PreparedData(tmp_path / "o", "criteo-kaggle").manifest
    assert manifest["bad_rows"]["truncated_gzip"] == 1
    assert 0 < manifest["rows"] < 3000


def test_gzip_and_plain_files_prepare_to_the_same_data(tmp_path: Path) -> None:
    lines = criteo_lines(210, seed=13)
    plain = prepare_kaggle(tmp_path, lines, name="plain")
    write_lines(tmp_path / "z.txt.gz", lines)
    CriteoKaggle.prepare_raw([tmp_path / "z.txt.gz"], tmp_path / "z", {})
    zipped = PreparedData(tmp_path / "z", "criteo-kaggle")
    assert np.array_equal(
        np.asarray(plain._arrays["train"][2]), np.asarray(zipped._arrays["train"][2])
    )
    assert plain.manifest["sources"][0]["checksum"] == zipped.manifest["sources"][0]["checksum"]


def test_blocks_smaller_than_the_file_give_the_same_result(tmp_path: Path) -> None:
    lines = criteo_lines(2000, seed=14)
    whole = prepare_kaggle(tmp_path, lines, name="whole")
    small = prepare_kaggle(tmp_path, lines, name="small", block_mb=0.01, threads=2)
    assert whole.fingerprint == small.fingerprint
    for a, b in zip(whole._arrays["train"], small._arrays["train"], strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_last_line_without_newline_and_crlf_line_ends_are_read(tmp_path: Path) -> None:
    lines = criteo_lines(14, seed=15)
    raw = tmp_path / "crlf.txt"
    raw.write_bytes("\r\n".join(lines).encode())
    CriteoKaggle.prepare_raw([raw], tmp_path / "o", {})
    assert PreparedData(tmp_path / "o", "criteo-kaggle").manifest["rows"] == 14


# -- criteo-tb: days, subsets, resuming, the MLPerf .npy layout -----------------------------------


def write_days(folder: Path, days: dict[int, int], *, gz: tuple[int, ...] = ()) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for day, rows in days.items():
        name = f"day_{day}.gz" if day in gz else f"day_{day}"
        paths.append(write_lines(folder / name, criteo_lines(rows, seed=100 + day, ctr=0.03)))
    return paths


def test_tb_trains_on_all_days_but_the_last_which_is_halved(tmp_path: Path) -> None:
    write_days(tmp_path / "raw", {0: 50, 1: 40, 2: 31}, gz=(1,))
    CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "o", {})
    data = PreparedData(tmp_path / "o", "criteo-tb")
    assert data.manifest["split_rows"] == {"train": 90, "validation": 15, "test": 16}
    assert data.manifest["splits"]["test"]["ranges"] == [["day_2", 0, 16]]
    assert data.manifest["settings"]["cap"] == 40_000_000


def test_tb_day_subset_prepares_only_those_days(tmp_path: Path) -> None:
    write_days(tmp_path / "raw", {0: 20, 1: 20, 2: 20, 3: 20})
    CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "o", {"days": "0,3"})
    data = PreparedData(tmp_path / "o", "criteo-tb")
    assert [p["name"] for p in data.manifest["parts"]] == ["day_0", "day_3"]
    assert data.manifest["split_rows"]["train"] == 20


def test_tb_caps_categories_at_forty_million_before_numbering(tmp_path: Path) -> None:
    line = "\t".join(["0"] + ["1"] * 13 + ["ffffffff"] + ["00000001"] * 25)
    other = "\t".join(["1"] + ["1"] * 13 + [f"{0xFFFFFFFF % 40_000_000:08x}"] + ["00000001"] * 25)
    folder = tmp_path / "raw"
    folder.mkdir()
    write_lines(folder / "day_0", [line, other])
    write_lines(folder / "day_1", [line, other])
    CriteoTB.prepare_raw([folder], tmp_path / "o", {})
    data = PreparedData(tmp_path / "o", "criteo-tb")
    assert data.tables[0].rows == 1  # both raw values are equal modulo 40M


def test_tb_interrupted_preparation_resumes_keeping_finished_days(tmp_path: Path) -> None:
    folder = tmp_path / "raw"
    write_days(folder, {0: 40, 1: 40, 2: 40})
    good = (folder / "day_2").read_bytes()
    (folder / "day_2").write_bytes(good.replace(b"\n", b"\nbroken\n", 1))
    with pytest.raises(BenchsuiteError, match="day_2:2: expected 40 fields"):
        CriteoTB.prepare_raw([folder], tmp_path / "o", {})
    finished = (tmp_path / "o" / "parts" / "day_1" / "ids.i32").stat().st_mtime_ns
    assert not (tmp_path / "o" / "manifest.json").exists()
    (folder / "day_2").write_bytes(good)
    CriteoTB.prepare_raw([folder], tmp_path / "o", {})
    assert (tmp_path / "o" / "parts" / "day_1" / "ids.i32").stat().st_mtime_ns == finished
    CriteoTB.prepare_raw([folder], tmp_path / "clean", {})
    resumed = PreparedData(tmp_path / "o", "criteo-tb")
    clean = PreparedData(tmp_path / "clean", "criteo-tb")
    assert resumed.fingerprint == clean.fingerprint
    for day in ("day_0", "day_1", "day_2"):
        assert np.array_equal(
            np.asarray(resumed._arrays[day][2]), np.asarray(clean._arrays[day][2])
        )


def test_preparing_other_settings_into_a_used_folder_needs_force(tmp_path: Path) -> None:
    write_days(tmp_path / "raw", {0: 20, 1: 20})
    CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "o", {})
    with pytest.raises(BenchsuiteError, match="pass --force to replace it"):
        CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "o", {"min_count": 2})
    CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "o", {"min_count": 2}, force=True)
    assert PreparedData(tmp_path / "o", "criteo-tb").manifest["settings"]["min_count"] == 2


def test_preparing_again_keeps_the_data_but_other_files_need_force(tmp_path: Path) -> None:
    raw = write_lines(tmp_path / "train.txt", criteo_lines(70, seed=30))
    first = CriteoKaggle.prepare_raw([raw], tmp_path / "o", {})
    assert CriteoKaggle.prepare_raw([raw], tmp_path / "o", {}) == first
    write_lines(raw, criteo_lines(80, seed=31))
    with pytest.raises(BenchsuiteError, match="prepared from other files"):
        CriteoKaggle.prepare_raw([raw], tmp_path / "o", {})


def test_skip_policy_counts_an_empty_day_and_goes_on(tmp_path: Path) -> None:
    write_days(tmp_path / "raw", {0: 30, 2: 20})
    (tmp_path / "raw" / "day_1").write_bytes(b"")
    CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "o", {"bad_rows": "skip"})
    manifest = PreparedData(tmp_path / "o", "criteo-tb").manifest
    assert manifest["bad_rows"] == {"empty_file": 1}
    assert manifest["split_rows"]["train"] == 30
    with pytest.raises(BenchsuiteError, match="day_1: the file is empty"):
        CriteoTB.prepare_raw([tmp_path / "raw"], tmp_path / "strict", {})


def test_mlperf_npy_days_prepare_like_the_text_days(tmp_path: Path) -> None:
    text = tmp_path / "text"
    write_days(text, {0: 30, 1: 20})
    npy = tmp_path / "npy"
    npy.mkdir()
    for day in (0, 1):
        rows = [line.split("\t") for line in (text / f"day_{day}").read_text().splitlines()]
        dense = np.array([[int(v or 0) for v in r[1:14]] for r in rows], dtype=np.int64)
        np.save(npy / f"day_{day}_dense.npy", np.log(np.maximum(dense, -2) + 3).astype(np.float32))
        sparse = np.array([[int(v or "0", 16) for v in r[14:]] for r in rows], dtype=np.int64)
        np.save(npy / f"day_{day}_sparse.npy", sparse.astype(np.uint32).view(np.int32))
        labels = np.array([[int(r[0])] for r in rows], dtype=np.int32)
        np.save(npy / f"day_{day}_labels.npy", labels)
    CriteoTB.prepare_raw([text], tmp_path / "from-text", {})
    CriteoTB.prepare_raw([npy], tmp_path / "from-npy", {})
    a = PreparedData(tmp_path / "from-text", "criteo-tb")
    b = PreparedData(tmp_path / "from-npy", "criteo-tb")
    assert b.manifest["rows"] == 50
    la, da, _ = all_rows(a, "train")
    lb, db, _ = all_rows(b, "train")
    assert np.array_equal(la, lb)
    assert np.allclose(da, db, atol=1e-4)
    # missing categories are 0 in the .npy layout, so ids agree where nothing is missing
    raw_a = np.asarray(a._arrays["day_0"][2])
    raw_b = np.asarray(b._arrays["day_0"][2])
    assert np.array_equal(raw_a[:, :2], raw_b[:, :2])


def test_npy_days_with_mismatched_rows_are_rejected(tmp_path: Path) -> None:
    npy = tmp_path / "npy"
    npy.mkdir()
    for day in (0, 1):
        np.save(npy / f"day_{day}_dense.npy", np.zeros((5, 13), dtype=np.float32))
        np.save(npy / f"day_{day}_sparse.npy", np.zeros((4, 26), dtype=np.int32))
        np.save(npy / f"day_{day}_labels.npy", np.zeros((5, 1), dtype=np.int32))
    with pytest.raises(BenchsuiteError, match=r"day_0_sparse.npy: shape \(4, 26\), expected"):
        CriteoTB.prepare_raw([npy], tmp_path / "o", {})


# -- avazu ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [True, False])
def test_avazu_reads_with_or_without_header_and_splits_8_1_1(tmp_path, header) -> None:
    lines = avazu_lines(1000, seed=1)
    raw = write_lines(tmp_path / "train.csv", lines, header=AVAZU_HEADER if header else None)
    Avazu.prepare_raw([raw], tmp_path / "o", {})
    data = PreparedData(tmp_path / "o", "avazu")
    assert data.manifest["split_rows"] == {"train": 800, "validation": 100, "test": 100}
    assert data.num_dense == 0
    assert len(data.tables) == 22
    batch = next(data.batches("test", 10))
    assert batch.dense.shape == (10, 0)
    hours = {line.split(",")[2] for line in lines}
    assert data.tables[0].rows == len(hours)


def test_avazu_split_depends_on_the_seed_only(tmp_path: Path) -> None:
    raw = write_lines(tmp_path / "train.csv", avazu_lines(300, seed=2))
    for name, seed in (("a", 0), ("b", 0), ("c", 5)):
        Avazu.prepare_raw([raw], tmp_path / name, {"seed": seed})
    split = {n: np.load(tmp_path / n / "splits" / "test.npy") for n in "abc"}
    assert np.array_equal(split["a"], split["b"])
    assert not np.array_equal(split["a"], split["c"])
    all_rows_ = np.concatenate([np.load(tmp_path / "a" / "splits" / f"{s}.npy")
                                for s in ("train", "validation", "test")])  # fmt: skip
    assert sorted(all_rows_.tolist()) == list(range(300))


# -- the reader ----------------------------------------------------------------------------------


def test_every_split_is_read_exactly_once_in_batches(tmp_path: Path) -> None:
    data = prepare_kaggle(tmp_path, criteo_lines(1400, seed=20))
    for split in ("train", "validation", "test"):
        batches = list(data.batches(split, 64, shuffle=split == "train", window=100))
        assert sum(len(b) for b in batches) == data.num_samples(split)
        assert all(len(b) == 64 for b in batches[:-1])


def test_training_shuffle_is_within_windows_and_reproducible(tmp_path: Path) -> None:
    data = prepare_kaggle(tmp_path, criteo_lines(1400, seed=21))
    ordered = np.concatenate([b.ids.numpy() for b in data.batches("train", 50)])
    one = np.concatenate([b.ids.numpy() for b in data.batches("train", 50, shuffle=True,
                                                              window=300, seed=1)])  # fmt: skip
    again = np.concatenate([b.ids.numpy() for b in data.batches("train", 50, shuffle=True,
                                                                window=300, seed=1)])  # fmt: skip
    other = np.concatenate([b.ids.numpy() for b in data.batches("train", 50, shuffle=True,
                                                                window=300, seed=2)])  # fmt: skip
    assert np.array_equal(one, again)
    assert not np.array_equal(one, other)
    assert not np.array_equal(one, ordered)
    for a in range(0, 1200, 300):  # rows never leave their window
        assert sorted(map(tuple, one[a : a + 300])) == sorted(map(tuple, ordered[a : a + 300]))


def test_damaged_prepared_files_are_reported_before_training(tmp_path: Path) -> None:
    data = prepare_kaggle(tmp_path, criteo_lines(70, seed=22))
    ids = data.root / "parts" / "train" / "ids.i32"
    ids.write_bytes(ids.read_bytes()[:-8])
    with pytest.raises(BenchsuiteError, match=r"ids.i32: .* bytes, expected .*prepare it again"):
        PreparedData(data.root, "criteo-kaggle")


def test_unprepared_dataset_validates_but_fails_before_training_with_the_command(
    tmp_path: Path,
) -> None:
    dataset = CriteoKaggle(path=str(tmp_path / "nowhere"))
    assert sum(t.rows for t in dataset.tables) == 33_762_577  # published sizes until prepared
    with pytest.raises(BenchsuiteError) as err:
        dataset.prepare()
    message = str(err.value)
    assert "is not prepared" in message
    assert (
        f"benchsuite data prepare criteo-kaggle --raw train.txt --out {tmp_path / 'nowhere'}"
        in message
    )
    assert "ailab.criteo.com" in message


def test_cli_rejects_a_setting_the_dataset_does_not_take(tmp_path: Path, capsys) -> None:
    raw = write_lines(tmp_path / "train.csv", avazu_lines(20))
    rc = main(["data", "prepare", "avazu", "--raw", str(raw), "--cap", "7"])
    assert rc == 2
    assert "dataset 'avazu' does not take --cap" in capsys.readouterr().err


def test_cli_info_prints_the_manifest_summary(tmp_path: Path, capsys) -> None:
    data = prepare_kaggle(tmp_path, criteo_lines(70, seed=23))
    capsys.readouterr()
    assert main(["data", "info", "criteo-kaggle", "--path", str(data.root)]) == 0
    out = capsys.readouterr().out
    assert data.fingerprint in out
    assert "train 60" in out
