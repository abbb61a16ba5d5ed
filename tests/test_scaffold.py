"""``benchsuite new-plugin``: the package it writes installs, passes the checks and reaches the
leaderboard as it is, and bad names and existing folders are refused with a clear message."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from conftest import TINY_SUITE
from plugin_env import PluginEnv

from benchsuite import scaffold
from benchsuite.api import BenchsuiteError
from benchsuite.cli import main
from benchsuite.host import Host
from benchsuite.suite import load_suite

RUFF = importlib.util.find_spec("ruff") is not None


def _new(name: str, parent: Path, capsys) -> tuple[int, str]:
    code = main(["new-plugin", "--dir", str(parent), "--", name])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.fixture(scope="module")
def sketch(tmp_path_factory) -> Path:
    """A package scaffolded once for the tests that only read it or run its tests."""
    parent = tmp_path_factory.mktemp("scaffold")
    folder, _ = scaffold.new_plugin("sketch", parent, Host())
    return folder


def test_new_plugin_writes_the_package_files(tmp_path, capsys):
    code, out = _new("sketch", tmp_path, capsys)
    assert code == 0, out
    folder = tmp_path / "benchsuite-sketch"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == ["README.md", "benchsuite_sketch.py", "pyproject.toml", "tests/test_sketch.py"]
    for name in files:
        assert f"  {folder / name}" in out
    assert [p.name for p in tmp_path.iterdir()] == ["benchsuite-sketch"]  # no staging left


def test_pyproject_registers_the_method_module_under_the_methods_name(sketch):
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((sketch / "pyproject.toml").read_text())["project"]
    assert project["name"] == "benchsuite-sketch"
    assert project["entry-points"]["benchsuite"] == {"sketch": "benchsuite_sketch"}
    assert any(re.fullmatch(r"benchsuite>=[\d.]+", d) for d in project["dependencies"])


def test_generated_package_passes_its_own_tests(sketch):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=sketch,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


@pytest.mark.skipif(not RUFF, reason="ruff is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize("name", ["sketch", "My-Method_2"])
def test_generated_code_is_ruff_clean_under_its_own_settings(name, tmp_path):
    folder, _ = scaffold.new_plugin(name, tmp_path, Host())
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=folder, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_names_with_hyphens_and_capitals_give_valid_python_names():
    names = scaffold.Names.of("My-Method_2")
    assert names.dist == "benchsuite-my-method-2"
    assert names.module == "benchsuite_my_method_2"
    assert names.cls == "MyMethod2"
    assert names.module.isidentifier() and names.cls.isidentifier()


def test_readme_suite_is_a_valid_suite_with_the_method(sketch, tmp_path):
    readme = (sketch / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
    path = tmp_path / "my-suite.yaml"
    path.write_text(block)
    spec = importlib.util.spec_from_file_location(
        "benchsuite_sketch", sketch / "benchsuite_sketch.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    suite = load_suite(path, Host(plugins={"sketch": module}))
    assert "sketch" in {cell.method for cell in suite.cells()}


def test_new_plugin_refuses_an_existing_folder_and_leaves_it_alone(tmp_path, capsys):
    existing = tmp_path / "benchsuite-sketch"
    existing.mkdir()
    (existing / "mine.py").write_text("kept = True\n")
    code, out = _new("sketch", tmp_path, capsys)
    assert code == 2
    assert f"{existing} already exists" in out
    assert [p.name for p in existing.iterdir()] == ["mine.py"]
    assert [p.name for p in tmp_path.iterdir()] == ["benchsuite-sketch"]


@pytest.mark.parametrize("name", ["1x", "my method", "x-", "-x", "_x", "é", "a.b", ""])
def test_new_plugin_rejects_a_name_that_is_not_a_plugin_name(name, tmp_path, capsys):
    code, out = _new(name, tmp_path, capsys)
    assert code == 2
    assert f"{name!r} is not a valid plugin name" in out
    assert "Traceback" not in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "name, message",
    [
        ("hashing", "a method named 'hashing' is already registered by plugin 'hashing'"),
        ("cpu", "a plugin named 'cpu' is already loaded"),
    ],
)
def test_new_plugin_rejects_a_name_taken_by_an_installed_plugin(name, message, tmp_path, capsys):
    code, out = _new(name, tmp_path, capsys)
    assert code == 2
    assert message in out
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_rejects_a_method_from_the_plugin_directory(
    write_plugin, plugins_dir, tmp_path, capsys
):
    write_plugin(
        "mine",
        """
        from benchsuite.api import Method
        from benchsuite.hookspecs import hookimpl

        class Taken(Method):
            name = "taken"
            summary = "A method the scaffold must not shadow (test)"
            def build(self, tables, dim, budget, stats, seed):
                raise NotImplementedError

        @hookimpl
        def benchsuite_register_methods():
            return [Taken]
        """,
    )
    out = tmp_path / "out"
    code = main(["new-plugin", "taken", "--dir", str(out), "--plugins-dir", str(plugins_dir)])
    assert code == 2
    err = capsys.readouterr().err
    assert "a method named 'taken' is already registered by plugin 'mine'" in err
    assert not out.exists()


def test_a_failure_while_writing_leaves_no_folder(tmp_path, monkeypatch):
    real = scaffold.template_files

    def broken(names):
        return {**real(names), "extra.txt": scaffold.TEMPLATES / "missing.tmpl"}

    monkeypatch.setattr(scaffold, "template_files", broken)
    with pytest.raises(FileNotFoundError):
        scaffold.new_plugin("sketch", tmp_path, Host())
    assert list(tmp_path.iterdir()) == []


def test_a_template_with_an_unknown_placeholder_is_an_error():
    with pytest.raises(BenchsuiteError, match=r"unknown \{\{nme\}\}"):
        scaffold.render("name = {{nme}}", {"name": "x"}, "method.py.tmpl")


def test_scaffolded_plugin_from_install_to_leaderboard_and_uninstalled(tmp_path):
    """What a user does: scaffold, install, list, check, run a suite with it, uninstall."""
    env = PluginEnv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    env.benchsuite("new-plugin", "sketch", cwd=work)
    package = work / "benchsuite-sketch"
    env.pip("install", "--no-deps", "--no-build-isolation", package, cwd=work)

    methods = env.benchsuite("list", "methods", cwd=work).stdout
    assert re.search(r"^sketch +Hashing trick into one shared table .*\[sketch\]$", methods, re.M)
    plugins = env.benchsuite("plugins", cwd=work).stdout
    row = re.search(
        r"^sketch +0\.1\.0 +entry point benchsuite_sketch .*register_methods", plugins, re.M
    )
    assert row, plugins
    check = env.benchsuite("check", "sketch", cwd=work).stdout
    assert "FAIL" not in check and check.rstrip().endswith("all checks passed")

    suite = yaml.safe_load(yaml.safe_dump(TINY_SUITE))
    suite["methods"] = ["hashing", "sketch"]
    (work / "tiny.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    run = env.benchsuite("run", "--suite", "tiny.yaml", "--quiet", cwd=work).stdout
    row = r"^\| sketch +\| 4x +\| \d +\| 1 +\| ok +\|"  # method, budget, rank, seeds, status
    assert re.search(row, run, re.M), run
    assert re.search(row, (work / "reports/tiny/leaderboard.md").read_text(), re.M)

    env.pip("uninstall", "-y", "benchsuite-sketch", cwd=work)
    assert "sketch" not in env.benchsuite("list", "methods", cwd=work).stdout
    gone = env.benchsuite("check", "sketch", cwd=work, expect=2)
    assert "unknown method 'sketch'" in gone.stderr
    with pytest.raises(metadata.PackageNotFoundError):  # never installed here
        metadata.distribution("benchsuite-sketch")
