"""Files replaced whole or not at all: records and checkpoints both need it.

A write goes to a hidden temporary file beside the target (``.NAME.<random>.tmp``), is flushed
and fsynced, then renamed over the target, and the folder is fsynced so the rename survives a
crash. A reader, or a run killed meanwhile, sees the previous file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["remove_temporaries", "write_atomically"]

_TEMP_SUFFIX = ".tmp"


def write_atomically(path: Path, write: Callable[[IO[Any]], None], *, binary: bool) -> None:
    """Call ``write`` with an open temporary file, then put that file in place at ``path``."""
    path = Path(path)
    for attempt in range(3):  # another process may remove an emptied folder meanwhile
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, temp = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX
            )
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    try:
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8"}
        with os.fdopen(fd, **mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


def remove_temporaries(path: Path) -> int:
    """Remove what interrupted writes of ``path`` left behind; the count removed.

    Only for a caller that owns ``path`` (the runner holds the cell's lock), since a temporary
    file may be another process's write in progress.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return 0
    removed = 0
    for stale in path.parent.glob(f".{path.name}.*{_TEMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed += 1
    return removed


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
