"""Checks a hook reference against a hookspec module, as datasette's docs test does for its
plugin hooks: every hook has a heading with its exact signature, formatted as
``inspect.signature`` formats it, and no heading names a hook that does not exist."""

from __future__ import annotations

import inspect
import re
from types import ModuleType
from typing import Any

from benchsuite import hookspecs

#: A heading (any level) whose text starts with a hook-like name, e.g.
#: ``### benchsuite_cell_end(cell: Cell, record: dict[str, Any], run_dir: Path) -> None``.
HEADING = re.compile(r"^#+[ \t]+(?P<text>(?P<name>benchsuite_\w+).*?)[ \t]*$", re.M)


class _AsWritten:
    """An annotation shown as the source spells it: ``inspect`` quotes the string annotations
    of a module with ``from __future__ import annotations``, and a heading does not."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _as_written(annotation: Any) -> Any:
    if annotation is inspect.Parameter.empty:
        return annotation
    if isinstance(annotation, str):
        return _AsWritten(annotation)
    return _AsWritten(inspect.formatannotation(annotation))


def hooks(module: ModuleType) -> dict[str, Any]:
    """The hooks a module declares: its functions marked with benchsuite's ``@hookspec``."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: obj
        for name, obj in sorted(vars(module).items())
        if callable(obj) and hasattr(obj, marker)
    }


def signature_heading(name: str, function: Any) -> str:
    """``name(param: annotation = default, …) -> return``, as a heading of the reference."""
    sig = inspect.signature(function)
    sig = sig.replace(
        parameters=[
            p.replace(annotation=_as_written(p.annotation)) for p in sig.parameters.values()
        ],
        return_annotation=_as_written(sig.return_annotation),
    )
    return f"{name}{sig}"


def documented(markdown: str) -> list[tuple[str, str]]:
    """(hook name, heading text) of every heading naming a hook, in order."""
    return [(m["name"], m["text"]) for m in HEADING.finditer(markdown)]


def hook_doc_problems(module: ModuleType, markdown: str, doc: str = "docs/hooks.md") -> list[str]:
    """What is wrong with ``markdown`` as the reference of ``module``'s hooks; empty when
    every hook has exactly one heading with its exact signature and nothing else is there."""
    declared = hooks(module)
    headings: dict[str, list[str]] = {}
    for name, text in documented(markdown):
        headings.setdefault(name, []).append(text)
    problems = []
    for name, function in declared.items():
        expected = signature_heading(name, function)
        found = headings.get(name, [])
        if not found:
            problems.append(f"{doc} has no heading for hook {name}; expected: {expected}")
        elif len(found) > 1:
            problems.append(f"{doc} has {len(found)} headings for hook {name}")
        elif found[0] != expected:
            problems.append(f"{doc} documents {found[0]} but the hook's signature is {expected}")
    for name in headings:
        if name not in declared:
            problems.append(f"{doc} documents {name}, which is not a hook")
    return problems
