"""The built-in suites: every ``*.yaml`` beside this file, registered by its stem."""

from __future__ import annotations

from pathlib import Path

from benchsuite.hookspecs import hookimpl


@hookimpl
def benchsuite_register_suites() -> list[Path]:
    return sorted(Path(__file__).parent.glob("*.yaml"))
