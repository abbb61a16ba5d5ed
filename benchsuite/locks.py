"""One lock per cell, so several ``benchsuite run`` processes can share a results folder.

A cell is run only by the process holding ``OUT/.locks/<record stem>.lock``, an exclusive
``flock`` taken without waiting: another process finds it held and skips the cell. The kernel
releases a flock when its holder's last file descriptor closes, so a process that was killed
never leaves a cell locked (its lock file stays, unlocked, until the cell next runs).

A holder removes its lock file, and the folder once empty, before it unlocks, so a results
folder holds nothing but records between runs. A process that opened the file just before it
was removed may then lock a file no longer in the folder; so after locking, the file at the
path must still be the one locked, else the attempt starts again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from benchsuite.api import BenchsuiteError

LOCKS_FOLDER = ".locks"
#: Attempts at locking a cell whose lock file other processes keep removing meanwhile.
_ATTEMPTS = 20


def lock_path(record_path: Path) -> Path:
    """The lock file of the cell whose record is ``record_path``."""
    record_path = Path(record_path)
    return record_path.parent / LOCKS_FOLDER / f"{record_path.stem}.lock"


class CellLock:
    """The exclusive, non-blocking lock of one cell's record."""

    def __init__(self, record_path: Path):
        self.path = lock_path(record_path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def fileno(self) -> int:
        """The locked descriptor: a child process given it keeps the cell locked while it runs,
        even if this process dies first."""
        if self._fd is None:
            raise BenchsuiteError(f"{self.path}: the lock is not held")
        return self._fd

    def acquire(self) -> bool:
        """Take the lock and write this process's pid into it; False when another holds it."""
        if self._fd is not None:
            return True
        for _ in range(_ATTEMPTS):
            fd = self._open()
            if fd is None:  # the folder was removed between creating it and opening the file
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    return False
                raise BenchsuiteError(
                    f"{self.path}: cannot lock the cell ({exc.strerror or exc})"
                ) from None
            if not self._is_current(fd):  # locked a file its last holder had just removed
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            self._fd = fd
            return True
        raise BenchsuiteError(
            f"{self.path}: could not lock the cell in {_ATTEMPTS} attempts; other processes "
            "keep removing its lock file"
        )

    def _open(self) -> int | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BenchsuiteError(
                f"{self.path}: cannot create the cell's lock file ({exc.strerror or exc})"
            ) from None

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is the file now at :attr:`path`."""
        try:
            here, there = os.fstat(fd), os.stat(self.path)
        except FileNotFoundError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def holder(self) -> int | None:
        """The pid written by the process holding the lock, when it can be read."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        """Remove the lock file (and the folder, once empty), then unlock."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # already gone, or another cell's lock is there
            self.path.unlink()
            self.path.parent.rmdir()
        with contextlib.suppress(OSError):  # closing the descriptor unlocks in any case
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> CellLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
