"""The docs stay in step with the code: every hook, suite key and command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hookdocs import hook_doc_problems

from benchsuite import hookspecs
from benchsuite.cli import _parser
from benchsuite.suite import SCHEMA

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name in dir(hookspecs) if name.startswith("benchsuite_")]


def test_hooks_md_gives_every_hook_its_exact_signature_and_documents_no_other():
    assert hook_doc_problems(hookspecs, (ROOT / "docs" / "hooks.md").read_text()) == []


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring(hook):
    assert (getattr(hookspecs, hook).__doc__ or "").strip()


def test_every_suite_key_is_documented():
    text = (ROOT / "docs" / "suites.md").read_text()
    for section, keys in SCHEMA.items():
        for key in keys:
            if not section and key in SCHEMA:
                continue  # a section: its keys are checked one by one
            dotted = f"{section}.{key}" if section else key
            assert f"| `{dotted}` |" in text, f"docs/suites.md does not document {dotted}"


def test_readme_lists_every_command():
    commands = set(_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    readme = (ROOT / "README.md").read_text().split("## The command line in brief")[1]
    documented = set(re.findall(r"^benchsuite (\w[\w-]*)", readme, flags=re.M))
    assert commands == documented


def test_every_leaderboard_column_is_documented_with_its_unit_and_direction():
    from benchsuite.report.schema import SCHEMA

    text = (ROOT / "docs" / "leaderboards.md").read_text()
    for column in SCHEMA:
        row = f"| {column.name} | {column.unit or '–'} | {column.better or '–'} |"
        assert row in text, f"docs/leaderboards.md does not document {column.name!r} as {row}"
