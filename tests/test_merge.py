"""Merging result folders: new records land once, duplicates are counted, conflicts and hostile
files are reported and left out, and the merged folder is one a leaderboard can read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_results import make_record

from benchsuite import results
from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.merge import merge_results
from benchsuite.report.leaderboard import AUC, leaderboard_frame
from benchsuite.results import load_record, load_records, record_path, write_record


def put(folder: Path, record: dict[str, Any], name: str | None = None) -> Path:
    """Write ``record`` into ``folder`` as the runner would (or under ``name``)."""
    path = folder / name if name else record_path(folder, record["cell"]["key"])
    write_record(path, record)
    return path


def raw(folder: Path, name: str, content: str | bytes) -> Path:
    """A file written byte for byte, for records no writer would produce."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def in_suite(record: dict[str, Any], suite: str) -> dict[str, Any]:
    record["suite"]["name"] = suite
    return record


def merged_files(into: Path) -> list[str]:
    return sorted(str(p.relative_to(into)) for p in results.record_files(into))


@pytest.fixture
def machines(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two machines' result folders (seeds 0 and 1 of two methods) and an empty target."""
    a, b = tmp_path / "machine-a", tmp_path / "machine-b"
    for seed, folder in ((0, a), (1, b)):
        put(folder, make_record("full", budget="1x", seed=seed, test_auc=0.78 + seed / 100))
        put(folder, make_record("hashing", seed=seed, test_auc=0.76 + seed / 100))
    return a, b, tmp_path / "merged"


# ---------------------------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------------------------


def test_records_of_two_machines_land_once_each_under_their_suite(machines) -> None:
    a, b, into = machines
    report = merge_results([a, b], into)
    assert report.clean
    assert (len(report.merged), report.duplicates, report.conflicts, report.rejected) == (
        4,
        [],
        [],
        [],
    )
    expected = [
        f"quickstart/{record_path(Path(), key).name}"
        for key in ("full@1x#0", "full@1x#1", "hashing@16x#0", "hashing@16x#1")
    ]
    assert merged_files(into) == sorted(expected)
    for entry in report.merged:
        assert load_record(entry.written) == load_record(entry.source)


def test_merged_folder_builds_a_leaderboard(machines) -> None:
    a, b, into = machines
    merge_results([a, b], into)
    frame = leaderboard_frame(load_records(into / "quickstart"))
    hashing = frame[frame["method"] == "hashing"].iloc[0]
    assert hashing["seeds"] == 2
    assert hashing[AUC] == pytest.approx(0.765)


def test_records_of_each_suite_go_to_their_own_folder(tmp_path: Path) -> None:
    source = tmp_path / "in"
    put(source / "x", in_suite(make_record(), "criteo-kaggle"))
    put(source / "y", in_suite(make_record(), "avazu"))
    report = merge_results([source], tmp_path / "out")
    assert report.clean
    assert [p.split("/")[0] for p in merged_files(tmp_path / "out")] == ["avazu", "criteo-kaggle"]


def test_same_record_twice_is_kept_once_and_counted(tmp_path: Path) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    first = put(a, make_record())
    second = raw(b, "copy.json", json.dumps(make_record()))  # other name, other layout
    report = merge_results([a, b], into)
    assert report.clean
    assert [m.source for m in report.merged] == [first]
    [duplicate] = report.duplicates
    assert (duplicate.kept, duplicate.duplicate) == (first, second)
    assert len(load_records(into)) == 1


def test_conflict_is_reported_with_both_paths_and_what_differs_and_the_first_is_kept(
    tmp_path: Path,
) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    first = put(a, make_record(test_auc=0.77))
    other = make_record(test_auc=0.7)
    other["config_hash"] = "b" * 64
    second = put(b, other)
    report = merge_results([a, b], into)
    assert not report.clean
    [conflict] = report.conflicts
    assert (conflict.identity, conflict.kept, conflict.left_out) == (
        ("quickstart", "hashing@16x#0"),
        first,
        second,
    )
    assert conflict.differences == (
        f'config_hash: "{"a" * 36}... vs "{"b" * 36}...',
        "metrics.test_auc: 0.77 vs 0.7",
    )
    assert conflict.reason == "kept the first"
    [merged] = report.merged
    assert load_record(merged.written)["metrics"]["test_auc"] == 0.77


def test_record_already_in_into_wins_a_conflict_and_is_left_untouched(tmp_path: Path) -> None:
    source, into = tmp_path / "in", tmp_path / "into"
    existing = put(into / "quickstart", make_record(status="failed"))
    before = existing.read_bytes()
    incoming = put(source, make_record())
    report = merge_results([source], into)
    [conflict] = report.conflicts
    assert (conflict.kept, conflict.left_out) == (existing, incoming)
    assert conflict.reason == "kept the one already in INTO"
    assert conflict.differences[0] == 'status: "failed" vs "ok"'
    assert report.merged == [] and report.existing == 1
    assert existing.read_bytes() == before


def test_conflict_differences_are_compared_as_json_so_1_and_1_0_differ(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    put(a, make_record(compression_ratio=16))
    put(b, make_record(compression_ratio=16.0))
    [conflict] = merge_results([a, b], tmp_path / "into").conflicts
    assert conflict.differences == ("metrics.compression_ratio: 16 vs 16.0",)


def test_prefer_newer_keeps_the_record_that_finished_later(tmp_path: Path) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    older, newer = make_record(test_auc=0.7), make_record(test_auc=0.8)
    newer["finished_at"] = "2026-11-23T09:00:00+00:00"
    put(a, older)
    late = put(b, newer)
    report = merge_results([a, b], into, prefer="newer")
    [conflict] = report.conflicts
    assert conflict.kept == late
    assert conflict.reason == "kept the one that finished later"
    assert conflict.differences == (
        "metrics.test_auc: 0.8 vs 0.7",
        'finished_at: "2026-11-23T09:00:00+00:00" vs "2026-11-22T10:01:00+00:00"',
    )
    assert [r["metrics"]["test_auc"] for r in load_records(into)] == [0.8]


def test_prefer_newer_replaces_into_s_own_file_instead_of_adding_a_second(tmp_path: Path) -> None:
    source, into = tmp_path / "in", tmp_path / "into"
    existing = put(into, make_record(test_auc=0.7), name="old-layout.json")
    newer = make_record(test_auc=0.8)
    newer["finished_at"] = "2026-11-23T09:00:00+00:00"
    put(source, newer)
    report = merge_results([source], into, prefer="newer")
    assert [m.written for m in report.merged] == [existing]
    assert merged_files(into) == ["old-layout.json"]
    assert load_record(existing)["metrics"]["test_auc"] == 0.8


def test_prefer_newer_keeps_the_first_when_the_other_is_not_later(tmp_path: Path) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    first = put(a, make_record(test_auc=0.7))
    unknown = make_record(test_auc=0.8)
    unknown["finished_at"] = None
    put(b, unknown)
    [conflict] = merge_results([a, b], into, prefer="newer").conflicts
    assert conflict.kept == first
    assert [r["metrics"]["test_auc"] for r in load_records(into)] == [0.7]


def test_records_already_in_into_at_another_path_are_not_doubled(tmp_path: Path) -> None:
    source, into = tmp_path / "in", tmp_path / "into"
    existing = put(into, make_record(), name="flat.json")
    put(source, make_record())
    report = merge_results([source], into)
    assert report.clean and report.merged == []
    assert [d.kept for d in report.duplicates] == [existing]
    assert merged_files(into) == ["flat.json"]


def test_merging_again_writes_nothing_and_counts_every_record_as_a_duplicate(machines) -> None:
    a, b, into = machines
    merge_results([a, b], into)
    before = {p: p.read_bytes() for p in results.record_files(into)}
    report = merge_results([a, b], into)
    assert report.clean
    assert (len(report.merged), len(report.duplicates), report.existing) == (0, 4, 4)
    assert {p: p.read_bytes() for p in results.record_files(into)} == before


def test_interrupted_merge_keeps_what_it_wrote_and_a_second_run_finishes_it(
    machines, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, into = machines
    written: list[Path] = []

    def write_then_interrupt(path: Path, record: dict[str, Any]) -> None:
        if written:
            raise KeyboardInterrupt
        write_record(path, record)
        written.append(path)

    monkeypatch.setattr(results, "write_record", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        merge_results([a, b], into)
    monkeypatch.undo()
    assert [p.name for p in results.record_files(into)] == [written[0].name]
    assert load_records(into)  # what was written is whole

    report = merge_results([a, b], into)
    assert (len(report.merged), len(report.duplicates)) == (3, 1)
    assert len(load_records(into)) == 4


def test_hidden_files_and_other_extensions_are_not_records(tmp_path: Path) -> None:
    source = tmp_path / "in"
    put(source, make_record())
    raw(source, ".r.json.abc.tmp", "{half")
    raw(source, ".hidden.json", "{half")
    raw(source / ".git", "x.json", "{}")
    raw(source, "notes.txt", "not a record")
    report = merge_results([source], tmp_path / "into")
    assert report.clean and len(report.merged) == 1


# ---------------------------------------------------------------------------------------------
# Hostile or broken files
# ---------------------------------------------------------------------------------------------


def _other_schema() -> str:
    record = make_record(seed=9)
    record["schema"] = "benchsuite.result/2"
    return json.dumps(record)


def _missing_field() -> str:
    record = make_record(seed=9)
    del record["cell"]["key"]
    return json.dumps(record)


HOSTILE: dict[str, tuple[Any, str]] = {
    "schema": (_other_schema, r"schema 'benchsuite\.result/2' is not supported"),
    "missing": (_missing_field, r"missing key 'cell\.key'"),
    "nan": (
        lambda: json.dumps(make_record(seed=9)).replace("0.45", "NaN"),
        r"not valid JSON \(NaN is not allowed",
    ),
    "html": (
        lambda: json.dumps(make_record("<script>alert(1)</script>", seed=9)),
        r"'cell\.method' must be a name of letters",
    ),
    "auc": (
        lambda: json.dumps(make_record(seed=9, test_auc=1.7)),
        r"'metrics\.test_auc' must be in \[0, 1\], got 1\.7",
    ),
    "huge": (
        lambda: json.dumps(make_record(seed=9)) + " " * results.MAX_RECORD_BYTES,
        r"[\d,]+ bytes is over the [\d,]+-byte limit",
    ),
    "not-json": (lambda: "this is not JSON", r"not valid JSON \(line 1, column 1"),
    "not-utf8": (lambda: b'{"schema": "\xff\xfe"}', r"not UTF-8 text"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_file_is_rejected_with_its_path_and_reason_and_good_ones_land(
    machines, case: str
) -> None:
    a, b, into = machines
    make, reason = HOSTILE[case]
    bad = raw(b / "sub", f"{case}.json", make())
    report = merge_results([a, b], into)
    [rejected] = report.rejected
    assert rejected.path == bad
    assert re.match(reason, rejected.reason), rejected.reason
    assert len(report.merged) == 4
    assert len(load_records(into)) == 4


def test_all_hostile_files_at_once_are_listed_and_the_rest_merged(machines) -> None:
    a, b, into = machines
    bad = {raw(b / "bad", f"{case}.json", make()) for case, (make, _) in HOSTILE.items()}
    report = merge_results([a, b], into)
    assert {r.path for r in report.rejected} == bad
    assert len(report.merged) == 4 and not report.clean
    assert all(r["cell"]["seed"] in (0, 1) for r in load_records(into))


def test_corrupt_file_in_into_is_reported_and_never_overwritten(tmp_path: Path) -> None:
    source, into = tmp_path / "in", tmp_path / "into"
    record = make_record()
    corrupt = raw(into / "quickstart", record_path(Path(), record["cell"]["key"]).name, "{half")
    incoming = put(source, record)
    report = merge_results([source], into)
    reasons = {r.path: r.reason for r in report.rejected}
    assert reasons[corrupt].startswith("not valid JSON")
    assert reasons[incoming] == f"not merged: {corrupt} exists and holds another record"
    assert corrupt.read_text() == "{half"


def test_two_files_of_one_cell_already_in_into_are_reported(tmp_path: Path) -> None:
    into = tmp_path / "into"
    first = put(into, make_record(), name="a.json")
    second = put(into, make_record(), name="b.json")
    (tmp_path / "in").mkdir()
    [rejected] = merge_results([tmp_path / "in"], into).rejected
    assert rejected.path == second
    assert rejected.reason == (
        f"INTO already holds cell 'hashing@16x#0' of suite 'quickstart' in {first}; "
        "remove one of the two files"
    )


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "into", "message"),
    [
        (["missing"], "into", r"missing: no such folder"),
        (["a"], "file.json", r"--into .*file\.json: is a file, not a folder"),
        (["a"], "a", r"a: is the --into folder itself"),
        (["a", "a/../a"], "into", r"a/\.\./a: given twice \(also as .*a\)"),
        (["a"], "a/merged", r"a: overlaps the --into folder"),
        (["into/a"], "into", r"into/a: overlaps the --into folder"),
        (["file.json"], "into", r"file\.json: not a folder of result records"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_read(
    tmp_path: Path, sources: list[str], into: str, message: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "into" / "a").mkdir(parents=True)
    (tmp_path / "file.json").write_text("{}")
    with pytest.raises(BenchsuiteError, match=message):
        merge_results([tmp_path / s for s in sources], tmp_path / into)


def test_no_source_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchsuiteError, match="at least one folder"):
        merge_results([], tmp_path / "into")


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def merge_cli(*args: Path | str) -> int:
    return main(["results", "merge", *map(str, args)])


def test_cli_exits_0_and_prints_the_summary_when_everything_merged(machines, capsys) -> None:
    a, b, into = machines
    assert merge_cli(a, b, "--into", into) == 0
    out, err = capsys.readouterr()
    assert out.startswith("merged 4, duplicates 0, conflicts 0, rejected 0 (into ")
    assert err == ""
    assert merge_cli(a, b, "--into", into) == 0  # only duplicates the second time
    assert capsys.readouterr().out.startswith("merged 0, duplicates 4, conflicts 0, rejected 0")


def test_cli_exits_1_listing_rejected_files_on_stderr_and_still_writes(machines, capsys) -> None:
    a, b, into = machines
    bad = raw(b, "broken.json", "{half")
    assert merge_cli(a, b, "--into", into) == 1
    out, err = capsys.readouterr()
    assert "merged 4, duplicates 0, conflicts 0, rejected 1" in out
    assert err.startswith(f"rejected {bad}: not valid JSON (line 1, column 2")
    assert len(load_records(into)) == 4


def test_cli_exits_1_listing_a_conflict_with_both_paths_and_differences(tmp_path, capsys) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    first = put(a, make_record(test_auc=0.77))
    second = put(b, make_record(test_auc=0.7))
    assert merge_cli(a, b, "--into", into) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"conflict: cell 'hashing@16x#0' of suite 'quickstart': kept {first}, left out "
        f"{second} (kept the first); they differ in:",
        "  metrics.test_auc: 0.77 vs 0.7",
    ]


def test_cli_prefer_newer(tmp_path, capsys) -> None:
    a, b, into = tmp_path / "a", tmp_path / "b", tmp_path / "into"
    put(a, make_record(test_auc=0.7))
    newer = make_record(test_auc=0.8)
    newer["finished_at"] = "2026-11-23T09:00:00+00:00"
    put(b, newer)
    assert merge_cli(a, b, "--into", into, "--prefer", "newer") == 1
    assert "(kept the one that finished later)" in capsys.readouterr().err
    assert [r["metrics"]["test_auc"] for r in load_records(into)] == [0.8]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing", "--into", "into"], "missing: no such folder"),
        (["a", "--into", "file.json"], "is a file, not a folder"),
        (["a", "--into", "a"], "is the --into folder itself"),
    ],
)
def test_cli_exits_2_on_bad_arguments(tmp_path, monkeypatch, capsys, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "file.json").write_text("{}")
    assert merge_cli(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("benchsuite: error: ") and message in err


def test_cli_without_into_is_a_usage_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        merge_cli(tmp_path)
    assert exited.value.code == 2
    assert "--into" in capsys.readouterr().err


def test_help_lists_the_results_command(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "results          combine result folders" in capsys.readouterr().out
