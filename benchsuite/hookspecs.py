"""The plugin contract: every hook benchsuite calls, with what it receives and returns.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match the
hooks below. Plugins load from the ``benchsuite`` entry-point group and from ``.py`` files in
the plugin directory (``--plugins-dir`` or ``BENCHSUITE_PLUGINS_DIR``). Registration hooks are
called once, each implementation on its own, so one broken plugin never hides the others.
Event hooks are called around every cell; an exception in one is reported, never fatal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from benchsuite.api import Dataset, HardwareProfile, Method
    from benchsuite.suite import Cell

PROJECT = "benchsuite"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def benchsuite_register_methods() -> list[type[Method]]:
    """Return the embedding compression methods this plugin provides (``Method`` subclasses)."""


@hookspec
def benchsuite_register_datasets() -> list[type[Dataset]]:
    """Return the datasets this plugin provides (``Dataset`` subclasses)."""


@hookspec
def benchsuite_register_hardware() -> list[type[HardwareProfile]]:
    """Return the hardware profiles this plugin provides (``HardwareProfile`` subclasses)."""


@hookspec
def benchsuite_register_suites() -> list[Path]:
    """Return paths of suite YAML files this plugin ships; each is runnable by its file stem."""


@hookspec
def benchsuite_cell_start(cell: Cell, config: dict[str, Any]) -> None:
    """Called before a cell trains, with its resolved configuration."""


@hookspec
def benchsuite_evaluation(cell: Cell, point: dict[str, Any]) -> None:
    """Called after each validation pass: ``point`` holds samples, seconds, auc and logloss."""


@hookspec
def benchsuite_cell_end(cell: Cell, record: dict[str, Any]) -> None:
    """Called once the cell's result record is final, just before it is written."""
