"""Facts about where a result came from: versions and the git commit of the code that ran."""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import benchsuite


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the benchsuite source tree, with ``+dirty`` when it has local changes."""
    root = Path(benchsuite.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment(hardware: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchsuite_version": benchsuite.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "hardware": hardware,
    }
