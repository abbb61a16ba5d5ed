"""The conformance kit: built-in methods pass it, and broken methods fail the right checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchsuite.api import Method
from benchsuite.cli import main
from benchsuite.host import Host
from benchsuite.testing import assert_conforms, check_method


class _Wrapping(nn.Module):
    """Wraps ids with modulo (no range check), keeps its salt in a plain attribute, draws its
    weights from the global RNG, and has a parameter no lookup uses."""

    def __init__(self, rows: int, dim: int, seed: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(rows, dim))
        self.salt = torch.randint(0, 1000, (1,), generator=torch.Generator().manual_seed(seed))
        self.unused = nn.Parameter(torch.zeros(3))

    def forward(self, ids):
        return self.table[(ids + self.salt) % self.table.shape[0]]


class Broken(Method):
    name = "broken"
    summary = "Breaks the contract on purpose (test)"

    def build(self, tables, dim, budget, stats, seed):
        return _Wrapping(budget // (dim * 4) + 1, dim, seed)  # one row over the budget


class WrongShape(Method):
    name = "wrong_shape"
    summary = "Returns one vector per sample without declaring a pooled output (test)"

    def build(self, tables, dim, budget, stats, seed):
        torch.manual_seed(seed)
        emb = nn.EmbeddingBag(10, dim, mode="sum")
        return _Bag(emb)


class _Bag(nn.Module):
    def __init__(self, bag):
        super().__init__()
        self.bag = bag

    def forward(self, ids):
        return self.bag(ids % 10)


def _failed(method: Method) -> set[str]:
    return {r.check for r in check_method(method, budgets=["16x"]) if not r.passed}


def test_broken_method_fails_exactly_the_checks_it_breaks():
    assert _failed(Broken()) == {
        "bytes within budget",
        "deterministic for a seed",
        "gradients reach every parameter",
        "state_dict round trip",
        "nothing hidden outside parameters and buffers",
        "out-of-range ids rejected",
    }


def test_failure_reasons_name_what_is_wrong():
    reasons = {r.check: r.reason for r in check_method(Broken(), budgets=["16x"])}
    assert "for a budget of" in reasons["bytes within budget"]
    assert "unused" in reasons["gradients reach every parameter"]
    assert "'salt'" in reasons["nothing hidden outside parameters and buffers"]
    assert "was accepted instead of rejected" in reasons["out-of-range ids rejected"]


def test_wrong_output_shape_is_caught():
    assert "output shape and dtype" in _failed(WrongShape())


@pytest.mark.parametrize("name", ["full", "hashing"])
def test_builtin_methods_conform(name):
    assert_conforms(Host().get("methods", name).cls())


def test_check_command_prints_a_line_per_check_and_exits_1_on_failure(
    write_plugin, plugins_dir, capsys
):
    write_plugin(
        "broken",
        """
        import torch
        from torch import nn
        from benchsuite.api import Method
        from benchsuite.hookspecs import hookimpl

        class Leaky(Method):
            name = "leaky"
            summary = "Over budget (test)"

            def build(self, tables, dim, budget, stats, seed):
                return nn.Embedding(budget // (dim * 4) * 2, dim)

        @hookimpl
        def benchsuite_register_methods():
            return [Leaky]
    """,
    )
    assert main(["check", "leaky", "hashing", "--plugins-dir", str(plugins_dir)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  bytes within budget @ 4x" in out
    assert "PASS  output shape and dtype [4x 16x 64x]" in out
    assert out.strip().endswith("check(s) failed")


def test_check_command_passes_builtins(capsys):
    assert main(["check", "full", "hashing[allocation=proportional]"]) == 0
    assert capsys.readouterr().out.strip().endswith("all checks passed")


def test_check_unknown_method_is_a_usage_error(capsys):
    assert main(["check", "nosuch"]) == 2
    assert "unknown method 'nosuch'" in capsys.readouterr().err


def test_methods_show_json_lists_every_table_and_fits(capsys):
    import json

    assert (
        main(
            [
                "methods",
                "show",
                "hashing",
                "--suite",
                "quickstart",
                "--budget",
                "64x",
                "--format",
                "json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "hashing" and report["budget"] == "64x"
    assert len(report["tables"]) == 26 and report["fits"] is True
    assert report["total_bytes"] == sum(t["bytes"] for t in report["tables"]) + sum(
        s["bytes"] for s in report["shared"]
    )
    assert report["compression_ratio"] >= 64
    assert set(report["uncompressed"]) == {
        t["table"] for t in report["tables"] if not t["compressed"]
    }


def test_methods_show_text_names_the_budget(capsys):
    assert main(["methods", "show", "full", "--suite", "quickstart", "--budget", "1x"]) == 0
    assert capsys.readouterr().out.startswith("full at 1x (dim 16)")
