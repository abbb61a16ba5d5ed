"""Disabling plugins: BENCHSUITE_DISABLE_PLUGINS and ``-p no:NAME`` keep a plugin from loading
at all, `benchsuite plugins` says what disabled it, and a name that no plugin has is a warning
in the environment variable but an error on the command line."""

from __future__ import annotations

import types
from importlib import metadata

import pytest

from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.host import DISABLE_ENV, Host


@pytest.fixture(autouse=True)
def _no_selection_from_the_caller(monkeypatch):
    """Each test sets the variable itself, whatever the shell running the tests has set."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)


def listed_methods(out: str) -> set[str]:
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def loaded_entry_points(monkeypatch) -> list[str]:
    """The names of the entry points the host imports, in order."""
    loaded: list[str] = []
    original = metadata.EntryPoint.load

    def load(self):
        loaded.append(self.name)
        return original(self)

    monkeypatch.setattr(metadata.EntryPoint, "load", load)
    return loaded


def test_environment_variable_disables_an_entry_point_before_it_is_imported(
    monkeypatch, loaded_entry_points
):
    monkeypatch.setenv(DISABLE_ENV, " robe , mlperf,")
    host = Host()
    assert "robe" not in loaded_entry_points and "mlperf" not in loaded_entry_points
    assert "hashing" in loaded_entry_points
    assert {d.name: d.by for d in host.disabled} == {"robe": DISABLE_ENV, "mlperf": DISABLE_ENV}
    assert "robe" not in host.registry["methods"] and "hashing" in host.registry["methods"]
    assert not {"robe", "mlperf"} & {p.name for p in host.plugins}
    assert host.failures == [] and host.warnings == []


def test_cli_option_disables_a_plugin_before_it_is_imported(loaded_entry_points, capsys):
    assert main(["-p", "no:robe", "list", "methods"]) == 0
    methods = listed_methods(capsys.readouterr().out)
    assert "robe" not in methods and {"full", "hashing", "qr"} <= methods
    assert "robe" not in loaded_entry_points


def test_cli_option_is_repeatable_before_and_after_the_command(capsys):
    assert main(["-p", "no:robe", "list", "methods", "-p", "no:qr", "-p", "no:md"]) == 0
    methods = listed_methods(capsys.readouterr().out)
    assert not {"robe", "qr", "md"} & methods and "hashing" in methods


def test_cli_option_disables_a_plugin_directory_file_without_running_it(write_plugin, tmp_path):
    marker = tmp_path / "ran"
    path = write_plugin("sideeffect", f"open({str(marker)!r}, 'w').close()\n")
    host = Host(path.parent, disable={"sideeffect": "-p no:sideeffect"})
    assert not marker.exists()
    [disabled] = host.disabled
    assert (disabled.name, disabled.source, disabled.by) == (
        "sideeffect",
        str(path),
        "-p no:sideeffect",
    )
    assert host.failures == []


def test_plugins_command_lists_what_disabled_each_plugin(monkeypatch, capsys):
    monkeypatch.setenv(DISABLE_ENV, "qr,robe")
    assert main(["plugins", "-p", "no:robe", "-p", "no:lma"]) == 0
    out = capsys.readouterr().out
    loaded, disabled = out.split("\ndisabled:\n")
    assert not {"qr", "robe", "lma"} & {line.split()[0] for line in loaded.splitlines()[2:]}
    lines = {line.split()[0]: line for line in disabled.strip().splitlines()}
    assert lines["qr"].endswith(f"disabled by {DISABLE_ENV}")
    assert lines["robe"].endswith(f"disabled by {DISABLE_ENV} and -p no:robe")
    assert lines["lma"].endswith("disabled by -p no:lma")
    assert "entry point benchsuite_plugins.methods.robe" in lines["robe"]


def test_unknown_name_in_the_environment_is_a_warning_naming_the_known_plugins(monkeypatch, capsys):
    monkeypatch.setenv(DISABLE_ENV, "robe,not_a_plugin")
    assert main(["list", "methods"]) == 0
    captured = capsys.readouterr()
    assert "robe" not in listed_methods(captured.out)
    [warning] = [line for line in captured.err.splitlines() if "not_a_plugin" in line]
    assert warning.startswith("benchsuite: warning: BENCHSUITE_DISABLE_PLUGINS names")
    assert "known plugins: avazu, cpu" in warning and "robe" in warning


def test_unknown_name_on_the_command_line_is_an_error_naming_the_known_plugins(capsys):
    assert main(["-p", "no:robo", "list", "methods"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "benchsuite: error: -p no:robo: no such plugin; known plugins: avazu" in captured.err
    assert "robe" in captured.err and "Traceback" not in captured.err


def test_unknown_name_given_to_the_host_is_an_error_before_anything_loads(loaded_entry_points):
    with pytest.raises(BenchsuiteError, match="no:robo: no such plugin; known plugins: avazu"):
        Host(disable={"robo": "no:robo"})
    assert loaded_entry_points == []


def test_p_without_no_prefix_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["-p", "robe", "list", "methods"])
    assert exit_info.value.code == 2
    assert "-p takes no:NAME to disable plugin NAME, not 'robe'" in capsys.readouterr().err


def test_a_plugin_given_in_python_can_be_disabled():
    module = types.ModuleType("embedded_plugin")
    host = Host(plugins={"embedded": module}, disable={"embedded": "the test"})
    assert [(d.name, d.source, d.by) for d in host.disabled] == [
        ("embedded", "module embedded_plugin", "the test")
    ]
    assert "embedded" not in {p.name for p in host.plugins}


def test_suite_using_a_disabled_method_fails_cleanly_at_load(write_suite, tmp_path, capsys):
    suite = write_suite({"methods": ["full", "robe"]})
    code = main(["-p", "no:robe", "run", "--suite", str(suite), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown method 'robe'; available: full, hashing" in err
    assert "plugin 'robe' is disabled by -p no:robe" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_mlperf_check_refuses_to_run_with_the_mlperf_plugin_disabled(tmp_path, capsys):
    code = main(["-p", "no:mlperf", "mlperf", "check", str(tmp_path / "cell.mllog")])
    assert code == 2
    err = capsys.readouterr().err
    assert "`mlperf check` needs plugin 'mlperf', disabled by -p no:mlperf" in err
