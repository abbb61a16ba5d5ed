"""Result records: atomic writes, validation with messages naming the file, the long table."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchsuite import results
from benchsuite.api import BenchsuiteError
from benchsuite.results import (
    SCHEMA,
    STATUSES,
    load_record,
    load_records,
    record_path,
    records_frame,
    validate_record,
    write_record,
)


def make_record(
    method: str = "hashing",
    params: dict[str, Any] | None = None,
    budget: str = "16x",
    seed: int = 0,
    status: str = "ok",
    **metrics: Any,
) -> dict[str, Any]:
    """A complete, valid record; keyword arguments override metrics."""
    params = {} if params is None else params
    label = method + ("[" + ",".join(f"{k}={v}" for k, v in sorted(params.items())) + "]")
    label = label if params else method
    key = f"{label}@{budget}#{seed}"
    base_metrics: dict[str, Any] = {
        "test_auc": 0.77,
        "test_logloss": 0.45,
        "bayes_auc": 0.80,
        "best_val_auc": 0.771,
        "target_auc": 0.76,
        "target_reached": True,
        "samples_to_target": 40_000,
        "seconds_to_target": 4.5,
        "train_samples": 100_000,
        "train_seconds": 10.0,
        "train_samples_per_s": 10_000.0,
        "data_wait_share": 0.1,
        "inference_samples_per_s": {"1024": 50_000.0, "16384": 90_000.0},
        "embedding_bytes": 1_000_000,
        "full_bytes": 16_000_000,
        "budget_bytes": 1_000_000,
        "compression_ratio": 16.0,
        "optimizer_state_bytes": 1_000_000,
        "peak_memory": {"bytes": 123_456_789, "method": "ru_maxrss"},
        "energy": {
            "train": {"joules": 12.5, "method": "rapl"},
            "inference": {"unmeasured": "no RAPL"},
        },
    }
    base_metrics.update(metrics)
    return {
        "schema": SCHEMA,
        "suite": {"name": "quickstart", "path": "/abs/suites/quickstart.yaml", "hash": "f" * 64},
        "cell": {
            "key": key,
            "method": method,
            "label": label,
            "params": params,
            "budget": budget,
            "seed": seed,
        },
        "config": {"dataset": {"name": "synthetic"}, "train": {"batch_size": 1024}},
        "config_hash": "a" * 64,
        "plugin": {"name": method, "plugin": "benchsuite_plugins.methods.x", "version": "0.1.0"},
        "dataset": {"name": "synthetic", "params": {}, "fingerprint": "ab12"},
        "environment": {
            "benchsuite_version": "0.1.0",
            "git_commit": "abc123",
            "python": "3.11.7",
            "torch": "2.13.0+cpu",
            "platform": "Linux",
            "hardware": {"profile": "cpu", "cores": 16},
        },
        "started_at": "2026-11-22T10:00:00+00:00",
        "finished_at": "2026-11-22T10:01:00+00:00",
        "status": status,
        "error": None if status == "ok" else f"{status}: reason",
        "metrics": base_metrics,
        "curve": [
            {"samples": 20_000, "seconds": 2.0, "auc": 0.74, "logloss": 0.5},
            {"samples": 40_000, "seconds": 4.5, "auc": 0.765, "logloss": 0.47},
        ],
    }


def infeasible_record(seed: int = 0) -> dict[str, Any]:
    """What the runner writes for a cell that never trained: almost no metrics."""
    record = make_record(seed=seed, status="infeasible")
    record["metrics"] = {"full_bytes": 16_000_000, "budget_bytes": 1_000_000}
    record["curve"] = []
    return record


# ---------------------------------------------------------------------------------------------
# Writing and reading
# ---------------------------------------------------------------------------------------------


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    record = make_record()
    path = tmp_path / "r.json"
    write_record(path, record)
    assert load_record(path) == record


def test_write_creates_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "results" / "quickstart" / "r.json"
    write_record(path, make_record())
    assert path.is_file()


def test_written_json_is_indented_with_sorted_keys(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_record(path, make_record())
    text = path.read_text()
    assert text.startswith('{\n  "cell"')
    assert text.endswith("}\n")


def test_write_does_not_modify_the_given_record(tmp_path: Path) -> None:
    record = make_record(test_logloss=float("nan"))
    before = copy.deepcopy(record)
    write_record(tmp_path / "r.json", record)
    assert math.isnan(record["metrics"]["test_logloss"])
    record["metrics"]["test_logloss"] = before["metrics"]["test_logloss"] = 0.0
    assert record == before


@pytest.mark.parametrize("interruption", [OSError("disk full"), KeyboardInterrupt()])
def test_write_failing_midway_keeps_old_record_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interruption: BaseException
) -> None:
    path = tmp_path / "r.json"
    old = make_record(seed=0)
    write_record(path, old)

    def half_dump(obj: Any, handle: Any, **kwargs: Any) -> None:
        text = json.dumps(obj, **kwargs)
        handle.write(text[: len(text) // 2])
        handle.flush()
        raise interruption

    monkeypatch.setattr(results.json, "dump", half_dump)
    with pytest.raises(type(interruption)):
        write_record(path, make_record(seed=1))
    monkeypatch.undo()

    assert load_record(path) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert load_records(tmp_path) == [old]


def test_write_rejects_an_invalid_record_and_writes_nothing(tmp_path: Path) -> None:
    record = make_record()
    del record["cell"]["seed"]
    path = tmp_path / "r.json"
    with pytest.raises(BenchsuiteError, match=r"r\.json: missing key 'cell\.seed'"):
        write_record(path, record)
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_values_that_are_not_json(tmp_path: Path) -> None:
    record = make_record()
    record["config"]["model"] = {"activation": object()}
    with pytest.raises(BenchsuiteError, match=r"cannot write 'config\.model\.activation'"):
        write_record(tmp_path / "r.json", record)


def test_non_finite_floats_are_written_as_null_and_listed(tmp_path: Path) -> None:
    record = make_record(status="diverged", test_logloss=float("nan"), test_auc=float("-inf"))
    record["curve"][1]["logloss"] = float("inf")
    path = tmp_path / "r.json"
    write_record(path, record)

    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = load_record(path)
    assert loaded["metrics"]["test_logloss"] is None
    assert loaded["metrics"]["test_auc"] is None
    assert loaded["curve"][1]["logloss"] is None
    assert loaded["non_finite"] == {
        "metrics.test_logloss": "nan",
        "metrics.test_auc": "-inf",
        "curve.1.logloss": "inf",
    }


def test_ok_record_whose_auc_is_nan_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(BenchsuiteError, match=r"status is 'ok' but 'metrics\.test_auc'"):
        write_record(tmp_path / "r.json", make_record(test_auc=float("nan")))


def test_numpy_scalars_and_integer_keys_are_written_as_plain_json(tmp_path: Path) -> None:
    record = make_record(
        test_auc=np.float32(0.75),
        train_samples=np.int64(7),
        inference_samples_per_s={1024: np.float64(5.0)},
    )
    path = tmp_path / "r.json"
    write_record(path, record)
    metrics = load_record(path)["metrics"]
    assert metrics["test_auc"] == pytest.approx(0.75)
    assert metrics["train_samples"] == 7 and type(metrics["train_samples"]) is int
    assert metrics["inference_samples_per_s"] == {"1024": 5.0}


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def write_raw(path: Path, record: Any) -> Path:
    path.write_text(json.dumps(record))
    return path


def test_corrupt_json_names_the_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{\n  "schema": "benchsuite.result/1",\n  "suite": \n}')
    with pytest.raises(BenchsuiteError, match=r"x\.json: not valid JSON \(line 4, column 1: "):
        load_record(path)


def test_nan_literal_in_a_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(make_record()).replace("0.45", "NaN"))
    with pytest.raises(BenchsuiteError, match=r"x\.json: not valid JSON \(NaN is not allowed"):
        load_record(path)


def test_missing_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    record = make_record()
    del record["metrics"]
    path = write_raw(tmp_path / "x.json", record)
    with pytest.raises(BenchsuiteError, match=r"x\.json: missing key 'metrics'$"):
        load_record(path)


def test_unknown_status_names_the_file_and_the_allowed_statuses(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "x.json", make_record(status="exploded"))
    with pytest.raises(BenchsuiteError, match=r"x\.json: unknown status 'exploded'; allowed: ok,"):
        load_record(path)


def test_other_schema_version_is_named(tmp_path: Path) -> None:
    record = make_record()
    record["schema"] = "benchsuite.result/2"
    path = write_raw(tmp_path / "x.json", record)
    with pytest.raises(
        BenchsuiteError, match=r"x\.json: schema 'benchsuite.result/2' is not supported"
    ):
        load_record(path)


def test_file_without_schema_is_not_a_record(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "x.json", {"name": "package.json"})
    with pytest.raises(BenchsuiteError, match=r"x\.json: missing key 'schema'"):
        load_record(path)


def test_top_level_list_is_not_a_record(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "x.json", [1, 2])
    with pytest.raises(BenchsuiteError, match=r"x\.json: not a result record \(top level is list"):
        load_record(path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seed", "0", r"'cell\.seed' must be an integer, got string '0'"),
        ("seed", True, r"'cell\.seed' must be an integer, got boolean True"),
        ("train_samples", 1.5, r"'metrics\.train_samples' must be an integer or null"),
        ("test_logloss", "low", r"'metrics\.test_logloss' must be a number or null"),
        (
            "inference",
            {"large": 1.0},
            r"'metrics\.inference_samples_per_s' key 'large' is not a batch size",
        ),
    ],
)
def test_wrong_type_names_the_file_field_and_value(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    record = make_record()
    if field == "seed":
        record["cell"]["seed"] = value
    elif field == "inference":
        record["metrics"]["inference_samples_per_s"] = value
    else:
        record["metrics"][field] = value
    with pytest.raises(BenchsuiteError, match=r"^x\.json: " + message):
        validate_record(record, "x.json")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ([2], r"'distributed' must be an object"),
        ({"world_size": "2"}, r"'distributed\.world_size' must be an integer, got string '2'"),
        ({"rank_samples_per_s": 3.0}, r"'distributed\.rank_samples_per_s' must be a list"),
    ],
)
def test_a_malformed_distributed_section_names_the_field(section: Any, message: str) -> None:
    record = make_record()
    record["distributed"] = section
    with pytest.raises(BenchsuiteError, match=r"^x\.json: " + message):
        validate_record(record, "x.json")


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(BenchsuiteError, match=r"missing\.json: cannot read"):
        load_record(tmp_path / "missing.json")


def test_record_without_metrics_of_a_cell_that_never_trained_is_valid() -> None:
    validate_record(infeasible_record(), "x.json")


def test_unknown_extra_keys_are_allowed() -> None:
    record = make_record()
    record["notes"] = "added by a later runner"
    validate_record(record, "x.json")


def test_every_status_is_accepted() -> None:
    for status in STATUSES:
        validate_record(make_record(status=status), "x.json")


# ---------------------------------------------------------------------------------------------
# Untrusted records: size, names, displayed text, plausible ranges
# ---------------------------------------------------------------------------------------------


def padded_record_file(path: Path, size: int) -> Path:
    """A valid record padded with trailing spaces to exactly ``size`` bytes."""
    text = json.dumps(make_record())
    path.write_text(text + " " * (size - len(text.encode())))
    assert path.stat().st_size == size
    return path


def test_file_over_the_size_limit_is_refused_naming_its_size_and_the_limit(tmp_path: Path) -> None:
    limit = results.MAX_RECORD_BYTES
    path = padded_record_file(tmp_path / "x.json", limit + 1)
    with pytest.raises(BenchsuiteError) as caught:
        load_record(path)
    assert str(caught.value) == (
        f"{path}: {limit + 1:,} bytes is over the {limit:,}-byte limit for a result record"
    )


def test_file_of_exactly_the_size_limit_loads(tmp_path: Path) -> None:
    path = padded_record_file(tmp_path / "x.json", results.MAX_RECORD_BYTES)
    assert load_record(path) == make_record()


def test_oversized_file_is_refused_without_being_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = padded_record_file(tmp_path / "x.json", results.MAX_RECORD_BYTES + 1)

    def no_open(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_open)
    monkeypatch.setattr(Path, "read_text", no_open)
    monkeypatch.setattr(Path, "read_bytes", no_open)
    with pytest.raises(BenchsuiteError, match=r"x\.json: .* bytes is over the"):
        load_record(path)


def test_file_that_is_not_utf8_names_the_file_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    data = b'{"schema": "benchsuite.result/1", "suite": "\xff"}'
    path.write_bytes(data)
    offset = data.index(b"\xff")
    with pytest.raises(BenchsuiteError, match=rf"x\.json: not UTF-8 text \(.* at byte {offset}\)"):
        load_record(path)


def test_number_too_large_for_a_float_is_rejected_like_an_infinity_literal(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps(make_record()).replace("0.45", "1e999"))
    with pytest.raises(BenchsuiteError, match=r"x\.json: .*'1e999' is out of range"):
        load_record(path)


def test_json_nested_too_deeply_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(BenchsuiteError, match=r"x\.json: not a result record \(JSON nested too"):
        load_record(path)


def _set(record: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node: Any = record
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return record


@pytest.mark.parametrize(
    ("dotted", "value"),
    [
        ("cell.method", "<script>alert(1)</script>"),
        ("cell.method", "hashing trick"),
        ("cell.method", "2hash"),
        ("cell.method", ""),
        ("suite.name", "../../etc"),
        ("suite.name", "quick start"),
        ("suite.name", "<b>quickstart</b>"),
    ],
)
def test_names_must_be_plugin_style(dotted: str, value: str) -> None:
    record = _set(make_record(), dotted, value)
    with pytest.raises(
        BenchsuiteError, match=rf"^x\.json: '{re.escape(dotted)}' must be a name of letters, "
    ):
        validate_record(record, "x.json")


def test_html_in_a_method_name_is_rejected_naming_the_file_and_field(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "x.json", _set(make_record(), "cell.method", "<img src=x>"))
    with pytest.raises(BenchsuiteError) as caught:
        load_record(path)
    assert str(caught.value).startswith(f"{path}: 'cell.method' must be a name")


def test_names_with_dashes_and_underscores_are_accepted() -> None:
    record = make_record(method="my_method-2")
    record["suite"]["name"] = "criteo-tb_small"
    validate_record(record, "x.json")


@pytest.mark.parametrize(
    ("dotted", "value", "bad"),
    [
        ("cell.label", "hashing[op=<b>]", "'<'"),
        ("cell.label", "hashing[op=a>b]", "'>'"),
        ("cell.key", "hashing[op=a&b]@16x#0", "'&'"),
        ("cell.key", 'hashing[op="x"]@16x#0', "'\"'"),
        ("cell.budget", "16x'", '"\'"'),
        ("config.hardware", "cpu`rm`", "'`'"),
        ("cell.label", "hashing\nok", r"'\\n'"),
        ("cell.budget", "16x\x00", r"'\\x00'"),
        ("cell.label", "hashing\u202eevil", r"'\\u202e'"),
    ],
)
def test_displayed_text_must_not_contain_html_or_control_characters(
    dotted: str, value: str, bad: str
) -> None:
    record = _set(make_record(), dotted, value)
    with pytest.raises(
        BenchsuiteError, match=rf"^x\.json: '{re.escape(dotted)}' must not contain {bad} \(no <"
    ):
        validate_record(record, "x.json")


def test_hardware_label_must_be_text_when_present() -> None:
    record = _set(make_record(), "config.hardware", ["cpu"])
    with pytest.raises(BenchsuiteError, match=r"'config\.hardware' must be a string, got list"):
        validate_record(record, "x.json")


@pytest.mark.parametrize(
    ("dotted", "value", "bounds"),
    [
        ("metrics.test_auc", 1.7, r"in \[0, 1\]"),
        ("metrics.test_auc", -0.1, r"in \[0, 1\]"),
        ("metrics.best_val_auc", 1.2, r"in \[0, 1\]"),
        ("metrics.bayes_auc", 2, r"in \[0, 1\]"),
        ("metrics.target_auc", 1.5, r"in \[0, 1\]"),
        ("curve.1.auc", 1.01, r"in \[0, 1\]"),
        ("metrics.test_logloss", -0.5, ">= 0"),
        ("curve.0.logloss", -1e-9, ">= 0"),
        ("metrics.train_seconds", -1.0, ">= 0"),
        ("metrics.seconds_to_target", -0.5, ">= 0"),
        ("curve.0.seconds", -2.0, ">= 0"),
        ("metrics.train_samples_per_s", -10.0, ">= 0"),
        ("metrics.inference_samples_per_s.1024", 0.0, "> 0"),
        ("metrics.inference_samples_per_s.16384", -5.0, "> 0"),
        ("metrics.compression_ratio", 0.0, "> 0"),
        ("metrics.compression_ratio", -16.0, "> 0"),
        ("metrics.memory_bandwidth.bytes_per_s", 0, "> 0"),
        ("metrics.data_wait_share", 1.2, r"in \[0, 1\]"),
        ("metrics.data_wait_share", -0.01, r"in \[0, 1\]"),
        ("metrics.embedding_bytes", -1, ">= 0"),
        ("metrics.full_bytes", -16, ">= 0"),
        ("metrics.budget_bytes", -1, ">= 0"),
        ("metrics.optimizer_state_bytes", -1, ">= 0"),
        ("metrics.lookup_bytes_per_sample", -8, ">= 0"),
        ("metrics.peak_memory.bytes", -1, ">= 0"),
        ("metrics.train_samples", -5, ">= 0"),
        ("metrics.samples_to_target", -1, ">= 0"),
        ("curve.0.samples", -1, ">= 0"),
        ("cell.seed", -1, ">= 0"),
    ],
)
def test_number_outside_its_plausible_range_names_field_value_and_range(
    dotted: str, value: float, bounds: str
) -> None:
    record = make_record(memory_bandwidth={"bytes_per_s": 1e10, "method": "copy"})
    _set(record, dotted, value)
    with pytest.raises(BenchsuiteError) as caught:
        validate_record(record, "x.json")
    assert re.fullmatch(
        rf"x\.json: '{re.escape(dotted)}' must be {bounds}, got {value!r}", str(caught.value)
    )


def test_auc_of_1_7_in_a_file_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "x.json", make_record(test_auc=1.7))
    with pytest.raises(BenchsuiteError) as caught:
        load_record(path)
    assert str(caught.value) == f"{path}: 'metrics.test_auc' must be in [0, 1], got 1.7"


def test_nan_given_in_memory_is_outside_every_range() -> None:
    record = make_record(status="failed", data_wait_share=float("nan"))
    with pytest.raises(BenchsuiteError, match=r"'metrics\.data_wait_share' must be in \[0, 1\]"):
        validate_record(record, "x.json")


def test_range_bounds_and_nulls_are_accepted() -> None:
    validate_record(
        make_record(
            test_auc=1,
            best_val_auc=0.0,
            data_wait_share=1.0,
            train_samples_per_s=0.0,
            test_logloss=0.0,
            seconds_to_target=None,
            samples_to_target=None,
            compression_ratio=None,
            bayes_auc=None,
            target_auc=None,
            embedding_bytes=0,
            inference_samples_per_s={"1024": None, "1": 1e-6},
            memory_bandwidth={"bytes_per_s": None, "method": "copy"},
        ),
        "x.json",
    )
    validate_record(make_record(status="failed", test_auc=None, test_logloss=None), "x.json")


def test_write_refuses_what_load_would_reject_and_writes_nothing(tmp_path: Path) -> None:
    for bad in (make_record(test_auc=1.7), make_record(method="<b>x</b>")):
        with pytest.raises(BenchsuiteError, match=r"r\.json: 'cell\.method'|'metrics\.test_auc'"):
            write_record(tmp_path / "r.json", bad)
    assert list(tmp_path.iterdir()) == []


def test_a_run_that_ends_at_its_last_warm_up_step_writes_a_record_that_loads(
    write_suite: Any, tmp_path: Path
) -> None:
    """Training 16 steps with 16 warm-up steps times no steady samples: 0 samples/s is real."""
    from benchsuite.cli import main

    suite = write_suite({"train.warmup_steps": 16, "methods": ["hashing"]})
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out), "--quiet"]) == 0
    [record] = load_records(out)
    assert record["status"] == "ok"
    assert record["metrics"]["train_samples_per_s"] == 0.0


# ---------------------------------------------------------------------------------------------
# Folders and file names
# ---------------------------------------------------------------------------------------------


def test_load_records_reads_every_record_and_skips_hidden_files(tmp_path: Path) -> None:
    first, second = make_record(seed=0), make_record(seed=1)
    write_record(record_path(tmp_path, first["cell"]["key"]), first)
    write_record(record_path(tmp_path / "sub", second["cell"]["key"]), second)
    (tmp_path / ".r.json.abc.tmp").write_text("{half")
    (tmp_path / ".hidden.json").write_text("{half")
    (tmp_path / "notes.txt").write_text("not a record")
    loaded = load_records(tmp_path)
    assert sorted(r["cell"]["seed"] for r in loaded) == [0, 1]


def test_load_records_raises_on_a_corrupt_file_naming_it(tmp_path: Path) -> None:
    write_record(tmp_path / "good.json", make_record())
    (tmp_path / "bad.json").write_text("{half")
    with pytest.raises(BenchsuiteError, match=r"bad\.json: not valid JSON"):
        load_records(tmp_path)


def test_load_records_rejects_two_files_for_one_cell(tmp_path: Path) -> None:
    write_record(tmp_path / "a.json", make_record())
    write_record(tmp_path / "b.json", make_record())
    with pytest.raises(BenchsuiteError, match=r"b\.json: cell 'hashing@16x#0' .* in .*a\.json"):
        load_records(tmp_path)


def test_load_records_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert load_records(tmp_path / "nothing-yet") == []


def test_record_path_is_distinct_for_keys_differing_only_in_punctuation(tmp_path: Path) -> None:
    keys = [
        "hashing[seed=3]@16x#0",
        "hashing[seed-3]@16x#0",
        "hashing(seed=3)@16x#0",
        "hashing[seed=3]@16x.0",
        "hashing seed 3 16x 0",
    ]
    paths = [record_path(tmp_path, key) for key in keys]
    assert len(set(paths)) == len(keys)


def test_record_path_is_a_readable_safe_name_in_the_folder(tmp_path: Path) -> None:
    path = record_path(tmp_path, "robe[block=8,seed=3]@0.5MB#1")
    assert path.parent == tmp_path
    assert path.name.startswith("robe-block-8-seed-3-0.5MB-1-")
    assert path.suffix == ".json"
    assert all(c.isalnum() or c in "._-" for c in path.name)


def test_record_path_is_stable_and_never_hidden(tmp_path: Path) -> None:
    assert record_path(tmp_path, ".x#0") == record_path(tmp_path, ".x#0")
    assert not record_path(tmp_path, ".x#0").name.startswith(".")
    assert not record_path(tmp_path, "[]").name.startswith(".")


# ---------------------------------------------------------------------------------------------
# The long table
# ---------------------------------------------------------------------------------------------


def test_records_frame_has_one_flat_row_per_record() -> None:
    frame = records_frame([make_record(params={"seed": 3}, seed=0), make_record(seed=1)])
    assert len(frame) == 2
    row = frame.iloc[0]
    assert row["suite"] == "quickstart"
    assert row["method"] == "hashing"
    assert row["label"] == "hashing[seed=3]"
    assert row["params"] == '{"seed":3}'
    assert row["budget"] == "16x"
    assert row["status"] == "ok"
    assert row["test_auc"] == 0.77
    assert row["inference_samples_per_s@1024"] == 50_000.0
    assert row["inference_samples_per_s@16384"] == 90_000.0
    assert row["peak_memory_bytes"] == 123_456_789
    assert row["hardware_profile"] == "cpu"
    assert row["git_commit"] == "abc123"
    assert row["torch_version"] == "2.13.0+cpu"
    assert row["dataset_fingerprint"] == "ab12"
    assert row["config_hash"] == "a" * 64
    assert row["energy_train_joules"] == 12.5
    assert row["started_at"] == "2026-11-22T10:00:00+00:00"


def test_records_frame_orders_throughput_columns_by_batch_size() -> None:
    record = make_record(inference_samples_per_s={"16384": 2.0, "1024": 1.0, "256": 0.5})
    columns = [c for c in records_frame([record]).columns if c.startswith("inference")]
    assert columns == [
        "inference_samples_per_s@256",
        "inference_samples_per_s@1024",
        "inference_samples_per_s@16384",
    ]


def test_records_frame_keeps_missing_metrics_missing() -> None:
    frame = records_frame([make_record(), infeasible_record(seed=1)])
    assert str(frame["train_samples"].dtype) == "Int64"
    assert str(frame["target_reached"].dtype) == "boolean"
    row = frame.iloc[1]
    assert row["status"] == "infeasible"
    assert math.isnan(row["test_auc"])
    assert row["train_samples"] is pd.NA
    assert row["full_bytes"] == 16_000_000


def test_records_frame_of_no_records_has_the_columns() -> None:
    frame = records_frame([])
    assert frame.empty
    assert {"suite", "label", "budget", "seed", "status", "test_auc"} <= set(frame.columns)
