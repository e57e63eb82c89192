"""An exclusive, crash-safe run lock next to a state file (incremental exports, import checkpoints)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from qualtrics_async.errors import ConfigurationError


@contextlib.contextmanager
def exclusive(state_path: Path, busy: str) -> Iterator[None]:
    """Hold the lock of ``state_path`` while the block runs; ``busy`` is the error message if
    another run holds it.

    An advisory ``flock`` on ``state_path + ".lock"``, released by the OS if the process
    dies, so a crash never leaves a stale lock. The lock file is removed when the block
    ends. (No-op where ``fcntl`` does not exist.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = state_path.with_name(state_path.name + ".lock")
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigurationError(busy) from None
        # The holder before us unlinks the file before it lets go; a lock on an unlinked
        # file guards nothing, so take the one now at the path instead.
        if _same_file(fd, lock_path):
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock_path.unlink()
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        at_path = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (at_path.st_dev, at_path.st_ino)


__all__ = ["exclusive"]
