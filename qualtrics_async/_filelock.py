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
    dies, so a crash never leaves a stale lock. (No-op where ``fcntl`` does not exist.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = state_path.with_name(state_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(busy) from None
        yield
    finally:
        os.close(fd)  # releases the lock


__all__ = ["exclusive"]
