"""Suite validation: every mistake is one message naming the file, the key and what is allowed,
found before any training, with exit code 2 from the command line."""

from __future__ import annotations

import pytest

from benchsuite.api import Budget
from benchsuite.cli import main
from benchsuite.suite import SuiteError, load_suite


def _error(path, host, **overrides) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite(path, host, **overrides)
    return str(info.value)


def test_valid_suite_expands_to_cells(write_suite, builtin_host):
    suite = load_suite(write_suite({"budgets": ["4x", "16x"], "seeds": [0, 1]}), builtin_host)
    keys = [c.key for c in suite.cells()]
    # the baseline runs once per seed at 1x; the compressed method at every budget
    assert keys == [
        "full@1x#0",
        "full@1x#1",
        "hashing@4x#0",
        "hashing@4x#1",
        "hashing@16x#0",
        "hashing@16x#1",
    ]


def test_parameter_lists_are_grid_axes(write_suite, builtin_host):
    methods = [{"method": "hashing", "params": {"seed": [1, 2]}, "budgets": ["8x"]}]
    suite = load_suite(write_suite({"methods": methods}), builtin_host)
    assert [c.key for c in suite.cells()] == ["hashing[seed=1]@8x#0", "hashing[seed=2]@8x#0"]


def test_cli_overrides_replace_methods_budgets_and_seeds(write_suite, builtin_host):
    suite = load_suite(
        write_suite(), builtin_host, methods="hashing[seed=3]", budgets="2x,100KB", seeds="5"
    )
    assert [c.key for c in suite.cells()] == ["hashing[seed=3]@2x#5", "hashing[seed=3]@100KB#5"]


def test_unknown_key_names_file_key_and_allowed_keys(write_suite, builtin_host):
    path = write_suite({"train.learning_rate": 0.1})
    message = _error(path, builtin_host)
    assert str(path) in message
    assert "'learning_rate'" in message and "train." in message
    assert "allowed in train:" in message and "lr" in message


def test_unknown_top_level_key(write_suite, builtin_host):
    message = _error(write_suite({"seed": 1}), builtin_host)
    assert "unknown key 'seed'" in message and "seeds" in message


def test_wrong_type_names_key_and_expectation(write_suite, builtin_host):
    message = _error(write_suite({"train.batch_size": "big"}), builtin_host)
    assert "'batch_size' must be a positive integer, got 'big'" in message


def test_unknown_method_lists_available(write_suite, builtin_host):
    message = _error(write_suite({"methods": ["full", "nosuch"]}), builtin_host)
    assert "methods[1]" in message and "unknown method 'nosuch'" in message
    assert "hashing" in message


def test_unknown_dataset_lists_available(write_suite, builtin_host):
    message = _error(write_suite({"dataset.name": "criteo"}), builtin_host)
    assert "dataset.name" in message and "unknown dataset 'criteo'" in message
    assert "synthetic" in message


def test_bad_method_parameter_names_entry_and_parameter(write_suite, builtin_host):
    message = _error(write_suite({"methods": ["hashing[buckets=3]"]}), builtin_host)
    assert "methods[0]" in message and "'buckets'" in message and "allowed:" in message


def test_bad_dataset_parameter(write_suite, builtin_host):
    message = _error(write_suite({"dataset.params.scale": "tiny"}), builtin_host)
    assert "dataset.params" in message and "scale" in message


@pytest.mark.parametrize(
    "budget, fragment",
    [
        ("fast", "is not a ratio"),
        ("0x", "must be positive"),
        ("0.5x", "below 1x"),
        ("10parsecs", "unknown unit"),
    ],
)
def test_malformed_budget(write_suite, builtin_host, budget, fragment):
    message = _error(write_suite({"budgets": [budget]}), builtin_host)
    assert "budgets" in message and fragment in message


def test_impossible_budget_fails_before_training(write_suite, builtin_host):
    message = _error(write_suite({"budgets": ["10B"]}), builtin_host)
    assert "budget 10B allows 10 bytes" in message and "needs at least" in message


def test_missing_required_key(write_suite, builtin_host):
    path = write_suite(text="dataset: {name: synthetic}\nmethods: [full]\n")
    assert "missing required key 'train'" in _error(path, builtin_host)


def test_samples_or_epochs_exactly_one(write_suite, builtin_host):
    message = _error(write_suite({"train.epochs": 2}), builtin_host)
    assert "exactly one of 'samples' or 'epochs'" in message


def test_invalid_yaml_gives_line_and_column(write_suite, builtin_host):
    path = write_suite(text="train: {lr: [1, 2\nmethods: [full]\n")
    message = _error(path, builtin_host)
    assert "not valid YAML" in message and "line" in message


def test_unknown_suite_name_lists_registered_suites(builtin_host):
    message = _error("no-such-suite", builtin_host)
    assert "unknown suite 'no-such-suite'" in message and "quickstart" in message


def test_cli_reports_suite_error_with_exit_code_2(write_suite, capsys, tmp_path):
    path = write_suite({"model.dim": -4})
    code = main(["run", "--suite", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "'dim' must be a positive integer" in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_cli_rejects_bad_override_with_exit_code_2(write_suite, capsys):
    assert main(["run", "--suite", str(write_suite()), "--seeds", "a,b", "--quiet"]) == 2
    assert "--seeds" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, size",
    [("100MB", 100 * 10**6), ("2GiB", 2 * 2**30), ("512KiB", 512 * 1024), ("1.5GB", 1_500_000_000)],
)
def test_size_budgets(text, size):
    assert Budget.parse(text).bytes_for(10**12) == size


def test_ratio_budget_divides_full_bytes():
    assert Budget.parse("16x").bytes_for(1600) == 100


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ("robe[block=0]", ["robe", "'block'"]),
        ("robe[block=3]", ["robe", "'block'", "divide", "allowed: 1, 2, 4, 8"]),
        ("qr[operation=foo]", ["qr", "'operation'", "mult, add, concat", "'foo'"]),
        ("md[alpha=2.0]", ["md", "'alpha'"]),
        ("hashing[allocation=greedy]", ["hashing", "'allocation'", "cap", "proportional"]),
    ],
)
def test_bad_method_parameters_fail_validation_naming_method_and_allowed_values(
    write_suite, builtin_host, spec, fragments
):
    message = _error(write_suite({"methods": [spec]}), builtin_host)
    assert "methods[0]" in message
    for fragment in fragments:
        assert fragment in message


def test_suite_named_by_a_file_name_records_cannot_use_is_refused_before_running(
    write_suite, builtin_host
):
    path = write_suite(name="tiny.v2.yaml")
    path.write_text(path.read_text().replace("name: tiny\n", "", 1))
    message = _error(path, builtin_host)
    assert "'tiny.v2'" in message and "from its file name" in message


def test_suite_name_with_markup_is_refused(write_suite, builtin_host):
    message = _error(write_suite({"name": "<b>tiny</b>"}), builtin_host)
    assert "name must be a name of letters" in message


def test_a_valid_name_key_overrides_an_unusable_file_name(write_suite, builtin_host):
    suite = load_suite(write_suite({"name": "tiny-v2"}, name="tiny.v2.yaml"), builtin_host)
    assert suite.name == "tiny-v2"


@pytest.mark.parametrize("text", ["1e400MB", "1e400x", "1e30GiB"])
def test_budget_too_large_for_any_number_of_bytes_is_an_error_not_an_overflow(text):
    from benchsuite.api import BenchsuiteError

    with pytest.raises(BenchsuiteError, match="too large"):
        Budget.parse(text)


def test_command_line_budget_too_large_exits_2_with_the_reason(capsys):
    assert main(["check", "hashing", "--budgets", "1e400MB"]) == 2
    assert "budget '1e400MB' is too large" in capsys.readouterr().err
