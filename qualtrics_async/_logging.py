"""The package logger. Every module logs through this one logger so its redaction filter applies."""

from __future__ import annotations

import logging

from qualtrics_async._secret import RedactingFilter

logger = logging.getLogger("qualtrics_async")
logger.addFilter(RedactingFilter())

_warned: set[str] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log a warning the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(message, *args)
