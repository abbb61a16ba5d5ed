"""The plugin host: discovery, isolation of broken plugins, listings."""

from __future__ import annotations

import pytest

from benchsuite.cli import main
from benchsuite.host import Host

METHOD_PLUGIN = """
    from torch import nn
    from benchsuite.api import Method
    from benchsuite.hookspecs import hookimpl

    __version__ = "1.2.3"

    class Tiny(Method):
        name = "tiny_method"
        summary = "A test method (Nobody et al. 2026)"

        def build(self, tables, dim, budget, stats, seed):
            return nn.Embedding(sum(t.rows for t in tables), dim)

    @hookimpl
    def benchsuite_register_methods():
        return [Tiny]
"""


def test_builtins_register_through_entry_points(builtin_host: Host) -> None:
    sources = {p.name: p.source for p in builtin_host.plugins}
    assert sources["hashing"].startswith("entry point benchsuite_plugins.methods.hashing")
    assert {"full", "hashing"} <= set(builtin_host.registry["methods"])
    assert "synthetic" in builtin_host.registry["datasets"]
    assert "cpu" in builtin_host.registry["hardware"]
    assert "quickstart" in builtin_host.suites
    assert builtin_host.failures == []


def test_plugin_directory_is_discovered_with_its_version(write_plugin, host_with) -> None:
    path = write_plugin("mine", METHOD_PLUGIN)
    host = host_with()
    info = next(p for p in host.plugins if p.name == "mine")
    assert info.source == str(path)
    assert info.version == "1.2.3"
    assert info.hooks == ["benchsuite_register_methods"]
    assert host.registry["methods"]["tiny_method"].plugin is info


def test_plugin_directory_from_environment_variable(write_plugin, plugins_dir, monkeypatch):
    write_plugin("mine", METHOD_PLUGIN)
    monkeypatch.setenv("BENCHSUITE_PLUGINS_DIR", str(plugins_dir))
    assert "tiny_method" in Host().registry["methods"]


def test_plugin_that_fails_to_import_is_reported_and_others_load(write_plugin, host_with):
    write_plugin("broken", "import not_a_module_anywhere\n")
    write_plugin("mine", METHOD_PLUGIN)
    host = host_with()
    [failure] = host.failures
    assert failure.plugin == "broken"
    assert "ModuleNotFoundError" in failure.reason and "not_a_module_anywhere" in failure.reason
    assert {"tiny_method", "full", "hashing"} <= set(host.registry["methods"])


def test_registering_a_non_method_is_reported_by_plugin_name(write_plugin, host_with):
    write_plugin(
        "wrong",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_register_methods():
            return [object]
    """,
    )
    host = host_with()
    [failure] = host.failures
    assert failure.plugin == "wrong"
    assert "not a subclass of benchsuite.api.Method" in failure.reason


def test_method_without_build_or_summary_breaks_the_contract(write_plugin, host_with):
    write_plugin(
        "lazy",
        """
        from benchsuite.api import Method
        from benchsuite.hookspecs import hookimpl

        class NoBuild(Method):
            name = "nobuild"
            summary = "Forgets build"

        class NoSummary(Method):
            name = "nosummary"
            def build(self, tables, dim, budget, stats, seed):
                return None

        @hookimpl
        def benchsuite_register_methods():
            return [NoBuild, NoSummary]
    """,
    )
    reasons = sorted(f.reason for f in host_with().failures)
    assert any("does not implement `build`" in r for r in reasons)
    assert any("needs a one-line `summary`" in r for r in reasons)


def test_hook_that_raises_is_isolated(write_plugin, host_with):
    write_plugin(
        "raiser",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_register_datasets():
            raise RuntimeError("boom")
    """,
    )
    host = host_with()
    assert [f.plugin for f in host.failures] == ["raiser"]
    assert "RuntimeError: boom" in host.failures[0].reason
    assert "synthetic" in host.registry["datasets"]


def test_duplicate_method_name_is_refused(write_plugin, host_with):
    write_plugin("dupe", METHOD_PLUGIN.replace('"tiny_method"', '"hashing"'))
    host = host_with()
    assert any("already registered" in f.reason for f in host.failures)
    assert host.registry["methods"]["hashing"].plugin.name == "hashing"


def test_unknown_hook_name_is_reported(write_plugin, host_with):
    write_plugin(
        "typo",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_register_method():
            return []
    """,
    )
    [failure] = host_with().failures
    assert "unknown hook" in failure.reason and "benchsuite_register_method" in failure.reason


def test_event_hook_failure_is_a_warning_not_an_error(write_plugin, host_with, tmp_path):
    write_plugin(
        "noisy",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_cell_start(cell, config):
            raise ValueError("logger down")
    """,
    )
    host = host_with()
    with pytest.warns(RuntimeWarning, match="logger down"):
        problems = host.notify("benchsuite_cell_start", cell=None, config={}, run_dir=tmp_path)
    assert problems and "noisy" in problems[0]


def test_plugins_command_lists_source_version_and_hooks(write_plugin, plugins_dir, capsys):
    write_plugin("mine", METHOD_PLUGIN)
    write_plugin("broken", "raise ImportError('missing dependency foo')\n")
    assert main(["plugins", "--plugins-dir", str(plugins_dir)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("mine"))
    assert "1.2.3" in line and "register_methods" in line and "mine.py" in line
    assert "broken" in out and "missing dependency foo" in out


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("methods", "hashing"),
        ("datasets", "synthetic"),
        ("hardware", "cpu"),
        ("suites", "quickstart"),
    ],
)
def test_list_prints_one_line_per_registered_item(kind, expected, capsys):
    assert main(["list", kind]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    line = next(ln for ln in lines if ln.split()[0] == expected)
    assert len(line.split()) > 1  # name followed by its summary


def test_missing_plugin_directory_is_a_clear_cli_error(tmp_path, capsys):
    assert main(["list", "methods", "--plugins-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "--plugins-dir" in err and "is not a directory" in err
