"""The plugin contract: every hook benchsuite calls, with what it receives and returns.

A plugin is a module (or object) with functions marked ``@hookimpl`` whose names match the
hooks below. Plugins load from the ``benchsuite`` entry-point group and from ``.py`` files in
the plugin directory (``--plugins-dir`` or ``BENCHSUITE_PLUGINS_DIR``). Registration hooks are
called once, each implementation on its own, so one broken plugin never hides the others.
Event hooks are called around every cell; an exception in one is reported, never fatal. An
implementation may take fewer arguments than its hook declares (pluggy's rule), so a hook can
gain arguments without breaking older plugins.
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
def benchsuite_cell_start(cell: Cell, config: dict[str, Any], run_dir: Path) -> None:
    """Called before a cell trains, with its resolved configuration.

    ``run_dir`` is the folder the cell's result record goes to; a logger names its files after
    the record's (``benchsuite.results.record_path(run_dir, cell.key)``) so they sit beside it.
    """


@hookspec
def benchsuite_evaluation(cell: Cell, point: dict[str, Any], run_dir: Path) -> None:
    """Called after each validation pass.

    ``point`` holds samples, seconds (training clock), auc and logloss as in the record's
    curve, plus epoch (samples over the training split's size), train_split_samples and
    validation_split_samples (the splits' sizes), and the wall-clock times (Unix seconds)
    train_start_time, eval_start_time and eval_end_time.
    """


@hookspec
def benchsuite_cell_end(cell: Cell, record: dict[str, Any], run_dir: Path) -> None:
    """Called once the cell's result record is final, just before it is written to
    ``run_dir``; an implementation may add keys (such as ``artifacts``) to ``record``."""
