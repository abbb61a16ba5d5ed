"""The hook reference checker: it must catch a hook without a heading, a heading whose
signature differs from the hook's, and a heading for a hook that does not exist."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from hookdocs import hook_doc_problems, signature_heading

from benchsuite import hookspecs

ROOT = Path(__file__).resolve().parent.parent

FAKE_SPECS = """
    from __future__ import annotations

    from pathlib import Path
    from typing import Any

    from benchsuite.hookspecs import hookspec


    @hookspec
    def benchsuite_register_things() -> list[Path]:
        "Return things."


    @hookspec
    def benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 3) -> None:
        "Called when a thing is done."


    def benchsuite_helper(x):
        "Not a hook: no @hookspec."
"""

GOOD_DOC = """
# Hooks

## Registration

### benchsuite_register_things() -> list[Path]

Returns things.

### benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 3) -> None

Called when a thing is done.
"""


def fake_hookspecs(source: str = FAKE_SPECS) -> ModuleType:
    module = ModuleType("fake_hookspecs")
    exec(textwrap.dedent(source), module.__dict__)
    return module


def test_a_reference_with_every_exact_signature_passes():
    assert hook_doc_problems(fake_hookspecs(), GOOD_DOC) == []


def test_signature_heading_shows_annotations_and_defaults_as_written():
    function = fake_hookspecs().benchsuite_thing_done
    assert signature_heading("benchsuite_thing_done", function) == (
        "benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 3) -> None"
    )


def test_a_hook_without_a_heading_is_reported_with_the_heading_expected():
    doc = GOOD_DOC.replace("### benchsuite_register_things() -> list[Path]", "### Things")
    [problem] = hook_doc_problems(fake_hookspecs(), doc)
    assert "no heading for hook benchsuite_register_things" in problem
    assert "benchsuite_register_things() -> list[Path]" in problem


@pytest.mark.parametrize(
    "documented",
    [
        "benchsuite_thing_done(cell, point, limit)",  # names only, as the old reference had
        "benchsuite_thing_done(cell: Cell, point: dict, limit: int = 3) -> None",  # annotation
        "benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 4) -> None",
        "benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int) -> None",
        "benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 3)",  # return
        "benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 3) -> bool",
        "benchsuite_thing_done(cell: Cell, data: dict[str, Any], limit: int = 3) -> None",
        "benchsuite_thing_done(cell: Cell, point: dict[str, Any]) -> None",  # one missing
    ],
)
def test_a_heading_whose_signature_differs_from_the_hook_is_reported(documented):
    heading = "benchsuite_thing_done(cell: Cell, point: dict[str, Any], limit: int = 3) -> None"
    doc = GOOD_DOC.replace(heading, documented)
    [problem] = hook_doc_problems(fake_hookspecs(), doc)
    assert f"documents {documented} but the hook's signature is {heading}" in problem


def test_a_changed_hook_makes_the_unchanged_reference_fail():
    changed = FAKE_SPECS.replace("limit: int = 3", "limit: int = 3, strict: bool = False")
    [problem] = hook_doc_problems(fake_hookspecs(changed), GOOD_DOC)
    assert "strict: bool = False" in problem


def test_a_heading_for_a_hook_that_does_not_exist_is_reported():
    doc = GOOD_DOC + "\n### benchsuite_gone(cell: Cell) -> None\n\nRemoved long ago.\n"
    assert hook_doc_problems(fake_hookspecs(), doc) == [
        "docs/hooks.md documents benchsuite_gone, which is not a hook"
    ]


def test_a_function_without_the_hookspec_marker_is_not_a_hook():
    doc = GOOD_DOC + "\n### benchsuite_helper(x)\n"
    assert hook_doc_problems(fake_hookspecs(), doc) == [
        "docs/hooks.md documents benchsuite_helper, which is not a hook"
    ]


def test_a_hook_documented_twice_is_reported():
    doc = GOOD_DOC + "\n### benchsuite_register_things() -> list[Path]\n"
    assert hook_doc_problems(fake_hookspecs(), doc) == [
        "docs/hooks.md has 2 headings for hook benchsuite_register_things"
    ]


def test_the_real_reference_fails_when_a_hook_heading_is_removed():
    text = (ROOT / "docs" / "hooks.md").read_text()
    heading = "### " + signature_heading("benchsuite_cell_end", hookspecs.benchsuite_cell_end)
    assert heading in text
    [problem] = hook_doc_problems(hookspecs, text.replace(heading, "### The end of a cell"))
    assert "no heading for hook benchsuite_cell_end" in problem
