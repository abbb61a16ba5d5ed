"""Hook tracing: `plugins --trace`, `--trace-hooks` and BENCHSUITE_TRACE_HOOKS print each hook
call with its arguments and its result on stderr, shortened and indented by nesting."""

from __future__ import annotations

import io
import re

import pytest

from benchsuite.cli import main
from benchsuite.host import TRACE_ENV, HookTracer, Host


@pytest.fixture(autouse=True)
def _no_tracing_from_the_caller(monkeypatch):
    """Each test turns tracing on itself, whatever the shell running the tests has set."""
    monkeypatch.delenv(TRACE_ENV, raising=False)


def hook_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[hook] ")]


def test_plugins_trace_shows_each_registration_call_and_its_result(capsys):
    assert main(["plugins", "--trace"]) == 0
    captured = capsys.readouterr()
    lines = hook_lines(captured.err)
    assert hook_lines(captured.out) == []
    call = lines.index("[hook] hashing.benchsuite_register_methods()")
    assert lines[call + 1] == (
        "[hook] hashing.benchsuite_register_methods -> "
        "[<class 'benchsuite_plugins.methods.hashing.Hashing'>]"
    )
    assert "[hook] synthetic.benchsuite_register_datasets()" in lines
    assert "[hook] cpu.benchsuite_register_hardware()" in lines
    suites = next(
        ln for ln in lines if ln.startswith("[hook] suites.benchsuite_register_suites ->")
    )
    assert "PosixPath(" in suites and "avazu.yaml" in suites


def test_without_tracing_nothing_is_traced(capsys):
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert hook_lines(captured.err) == [] and hook_lines(captured.out) == []


@pytest.mark.parametrize("value, traced", [("1", True), ("0", False), ("", False)])
def test_environment_variable_turns_tracing_on_for_any_command(value, traced, monkeypatch, capsys):
    monkeypatch.setenv(TRACE_ENV, value)
    assert main(["list", "methods"]) == 0
    lines = hook_lines(capsys.readouterr().err)
    assert ("[hook] robe.benchsuite_register_methods()" in lines) is traced


def test_trace_hooks_shows_the_event_hooks_of_a_run(
    write_suite, write_plugin, plugins_dir, tmp_path, capsys
):
    write_plugin(
        "noisy",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_cell_end(cell, record):
            raise ValueError("logger down")
        """,
    )
    suite = write_suite({"methods": ["hashing"]})
    args = ["--trace-hooks", "run", "--suite", str(suite), "--out", str(tmp_path / "out")]
    with pytest.warns(RuntimeWarning, match="logger down"):
        code = main([*args, "--quiet", "--plugins-dir", str(plugins_dir)])
    assert code == 0
    lines = hook_lines(capsys.readouterr().err)
    events = [ln for ln in lines if "register_" not in ln]
    cell = r"cell=Cell\(method='hashing'.*"
    expected = [
        rf"\[hook\] mlperf\.benchsuite_cell_start\({cell}config=\{{'cell': .*run_dir=PosixPath\(",
        r"\[hook\] mlperf\.benchsuite_cell_start -> None$",
        rf"\[hook\] mlperf\.benchsuite_evaluation\({cell}point=\{{'auc': 0\.\d+.*run_dir=",
        r"\[hook\] mlperf\.benchsuite_evaluation -> None$",
        rf"\[hook\] mlperf\.benchsuite_evaluation\({cell}point=\{{'auc': 0\.\d+.*run_dir=",
        r"\[hook\] mlperf\.benchsuite_evaluation -> None$",
        rf"\[hook\] mlperf\.benchsuite_cell_end\({cell}record=\{{'cell': .*run_dir=",
        r"\[hook\] mlperf\.benchsuite_cell_end -> None$",
        rf"\[hook\] noisy\.benchsuite_cell_end\({cell}record=\{{'cell': ",
        r"\[hook\] noisy\.benchsuite_cell_end raised ValueError: logger down$",
    ]
    assert len(events) == len(expected), events
    for line, pattern in zip(events, expected, strict=True):
        assert re.match(pattern, line), (pattern, line)
    # an implementation receives, and the trace shows, only the arguments it names
    assert "run_dir=" not in events[-2]


def test_nested_hook_calls_are_indented_by_depth():
    out = io.StringIO()
    tracer = HookTracer(out)
    inner = lambda x: x * 2  # noqa: E731
    outer = lambda: tracer.call("inner", "benchsuite_b", inner, {"x": 21})  # noqa: E731
    assert tracer.call("outer", "benchsuite_a", outer, {}) == 42
    assert out.getvalue().splitlines() == [
        "[hook] outer.benchsuite_a()",
        "[hook]   inner.benchsuite_b(x=21)",
        "[hook]   inner.benchsuite_b -> 42",
        "[hook] outer.benchsuite_a -> 42",
    ]


def test_an_exception_is_traced_and_raised_and_the_depth_recovers():
    out = io.StringIO()
    tracer = HookTracer(out)

    def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        tracer.call("p", "benchsuite_a", broken, {})
    tracer.call("p", "benchsuite_b", lambda: None, {})
    assert out.getvalue().splitlines() == [
        "[hook] p.benchsuite_a()",
        "[hook] p.benchsuite_a raised KeyError: 'missing'",
        "[hook] p.benchsuite_b()",
        "[hook] p.benchsuite_b -> None",
    ]


def test_values_are_shortened_so_each_line_stays_readable():
    out = io.StringIO()
    tracer = HookTracer(out, width=120)
    big = {"rows": list(range(100_000)), "text": "x" * 10_000, "nested": {"a": {"b": {"c": 1}}}}
    tracer.call("p", "benchsuite_a", lambda data, name: "y" * 10_000, {"data": big, "name": "n"})
    call, result = out.getvalue().splitlines()
    assert len(call) < 2 * 120 + 40 and len(result) < 120 + 40
    assert "[0, 1, 2, 3, ...]" in call and "name='n'" in call
    assert result.startswith("[hook] p.benchsuite_a -> 'yyy") and "..." in result


def test_a_value_whose_repr_fails_does_not_break_the_call():
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    out = io.StringIO()
    assert HookTracer(out).call("p", "benchsuite_a", lambda v: 1, {"v": Unprintable()}) == 1
    assert "[hook] p.benchsuite_a(v=<Unprintable instance at 0x" in out.getvalue()


def test_a_host_traces_to_the_stream_it_is_given(write_plugin, plugins_dir, tmp_path):
    write_plugin(
        "listener",
        """
        from benchsuite.hookspecs import hookimpl

        @hookimpl
        def benchsuite_evaluation(point):
            return point["auc"]
        """,
    )
    out = io.StringIO()
    host = Host(plugins_dir, entry_points=False, trace=out)
    out.truncate(0)
    out.seek(0)
    host.notify("benchsuite_evaluation", cell=None, point={"auc": 0.75}, run_dir=tmp_path)
    assert "[hook] listener.benchsuite_evaluation(point={'auc': 0.75})" in out.getvalue()
    assert "[hook] listener.benchsuite_evaluation -> 0.75" in out.getvalue()
