"""Credentials as a type that never shows its value, and a log filter that masks leaks."""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Final

_MASK: Final = "***"


class Secret:
    """A credential string whose ``repr``/``str`` never reveal it.

    Call :meth:`reveal` at the one place the value is sent (an HTTP header or form body).
    Every secret is also registered with :class:`RedactingFilter`, so a value that reaches
    a log record anyway is masked.
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        _registry.add(self)

    def reveal(self) -> str:
        """The plain value. Only for putting it on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        raise TypeError("Secret values cannot be pickled")


class _Registry:
    """The values of live secrets, consulted by the log filter and by errors.

    Counted per :class:`Secret` object, not per value: secrets compare equal by value, so a
    set of them would keep one entry for two clients sharing a token, and lose it when the
    first client's secret is collected while the second is still in use.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, secret: Secret) -> None:
        value = secret.reveal()
        if len(value) < 4:  # masking 1-3 character strings would garble every log line
            return
        with self._lock:
            self._counts[value] = self._counts.get(value, 0) + 1
        weakref.finalize(secret, self._drop, value)

    def _drop(self, value: str) -> None:
        with self._lock:
            left = self._counts.get(value, 0) - 1
            if left > 0:
                self._counts[value] = left
            else:
                self._counts.pop(value, None)

    def values(self) -> list[str]:
        with self._lock:
            return list(self._counts)


_registry = _Registry()


def redact(text: str) -> str:
    """Replace every live secret value in ``text`` by ``***``."""
    for value in sorted(_registry.values(), key=len, reverse=True):  # a secret may contain another
        if value in text:
            text = text.replace(value, _MASK)
    return text


def redact_and_cut(text: str, limit: int) -> str:
    """``text`` masked, then cut to ``limit`` characters (``…`` marks a cut).

    Masking comes first, so a secret straddling the cut is not left half visible; a cut
    that ends inside a secret's first characters hides that tail too.
    """
    text = redact(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for value in _registry.values():
        for size in range(min(len(value), len(cut)), 3, -1):
            if cut.endswith(value[:size]):
                cut = cut[:-size] + _MASK
                break
    return cut + "…"


class RedactingFilter(logging.Filter):
    """Masks credential values in log records (message, arguments and exception text).

    Installed on the ``qualtrics_async`` logger. The client never logs headers or bodies
    with credentials; this filter is the second line of defence.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if redact(text) != text:
                record.exc_text = redact(text)
                record.exc_info = None
        return True
