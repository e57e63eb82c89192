"""The package's loggers, each with the redaction filter.

A filter on a logger applies only to records created through that very logger, not to
records of its children that propagate through it: a filter on ``qualtrics_async`` alone
would let ``qualtrics_async.contact_import`` write a secret. So every logger of the package
comes from :func:`get_logger`, which installs the filter on it (docs/errors.md).
"""

from __future__ import annotations

import logging

from qualtrics_async._secret import RedactingFilter

_FILTER = RedactingFilter()


def get_logger(name: str = "qualtrics_async") -> logging.Logger:
    """The logger ``name`` (``qualtrics_async`` or a child of it), with the redaction filter."""
    if name != "qualtrics_async" and not name.startswith("qualtrics_async."):
        raise ValueError(f"{name!r} is not a logger of this package")
    named = logging.getLogger(name)
    if _FILTER not in named.filters:
        named.addFilter(_FILTER)
    return named


logger = get_logger()

_warned: set[str] = set()


def warn_once(key: str, message: str, *args: object) -> None:
    """Log a warning the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    logger.warning(message, *args)
