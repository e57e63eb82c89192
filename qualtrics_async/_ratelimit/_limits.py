"""`RateLimits`: the brand-wide limit plus the per-endpoint table, overridable per entry.

The client's limiter and the bundled emulator both read limits from here, so a limit is
written down exactly once (see ``_table.py`` for the data and its sources).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from qualtrics_async._config import API_PREFIX as _API_PREFIX
from qualtrics_async._ratelimit._table import BRAND_PER_MINUTE, ENDPOINT_LIMITS
from qualtrics_async.errors import ConfigurationError

_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
_KEY_RE = re.compile(r"^([A-Z]+) (/[^\s?#]*)$")


@dataclass(frozen=True, slots=True)
class Route:
    """The rate-limit route a concrete request falls under.

    ``key`` is ``"METHOD /path/{template}"`` when the request matches a row of the
    table, or ``None`` when only the brand-wide limit applies. Keys never contain ids,
    so the set of keys stays bounded.
    """

    key: str | None
    per_minute: float | None


def _split(path: str) -> tuple[str, ...]:
    return tuple(seg for seg in path.split("/") if seg)


def normalize_path(path: str) -> str:
    """Return the API-relative path: no query, no ``/API/v3`` prefix, no trailing slash."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if path.startswith(_API_PREFIX):
        path = path[len(_API_PREFIX) :]
    return "/" + "/".join(_split(path))


class Templates:
    """Matches concrete requests (``GET /surveys/SV_1``) to ``"METHOD /path/{template}"`` keys.

    A literal segment beats a placeholder at the same place, so
    ``/directories/{d}/contacts/optedOutContacts`` wins over ``/directories/{d}/contacts/{c}``.
    """

    __slots__ = ("_by_shape", "match")

    def __init__(self, keys: Iterable[str]) -> None:
        # (method, segment count) -> templates, most specific first.
        shapes: dict[tuple[str, int], list[tuple[str, tuple[str, ...]]]] = {}
        for key in keys:
            method, template = key.split(" ", 1)
            segs = _split(template)
            shapes.setdefault((method, len(segs)), []).append((key, segs))
        for candidates in shapes.values():
            candidates.sort(key=lambda item: tuple(not s.startswith("{") for s in item[1]), reverse=True)
        self._by_shape = shapes
        self.match = functools.lru_cache(maxsize=4096)(self._match)

    def _match(self, method: str, path: str) -> str | None:
        """The key ``method path`` falls under, or ``None``."""
        segs = _split(normalize_path(path))
        for key, template in self._by_shape.get((method.upper(), len(segs)), ()):
            if all(t.startswith("{") or t == s for t, s in zip(template, segs, strict=True)):
                return key
        return None


class RateLimits:
    """Requests-per-minute limits: one brand-wide ceiling plus per-endpoint rows.

    Args:
        brand_per_minute: the brand-wide ceiling (default 3000, the published figure).
            ``None`` disables the brand limit.
        endpoints: overrides keyed by ``"METHOD /path/{template}"`` (the spelling of the
            table, e.g. ``"POST /surveys/{surveyId}/export-responses"``). A number sets or
            adds the row; ``None`` removes it, so the endpoint falls under the brand limit.
        include_defaults: start from the published table (default) or from an empty one.
        window_seconds: the window the per-minute figures apply to. Leave it at 60 for
            Qualtrics; tests shrink it to run the same table faster.

    Every published row is UNCERTAIN (docs/rate-limits.md, "The table"): override any row you
    have confirmed differently for your brand.
    """

    __slots__ = ("_brand", "_rows", "_templates", "_window")

    def __init__(
        self,
        *,
        brand_per_minute: float | None = BRAND_PER_MINUTE,
        endpoints: Mapping[str, float | None] | None = None,
        include_defaults: bool = True,
        window_seconds: float = 60.0,
    ) -> None:
        if brand_per_minute is not None and brand_per_minute <= 0:
            raise ConfigurationError(f"brand_per_minute must be positive or None, got {brand_per_minute!r}")
        if window_seconds <= 0:
            raise ConfigurationError(f"window_seconds must be positive, got {window_seconds!r}")
        rows: dict[str, float] = {}
        if include_defaults:
            for method, template, limit, _conf in ENDPOINT_LIMITS:
                rows[f"{method} {template}"] = float(limit)
        for raw_key, value in (endpoints or {}).items():
            key = self._check_key(raw_key)
            if value is None:
                rows.pop(key, None)
            elif value <= 0:
                raise ConfigurationError(f"rate limit for {key!r} must be positive or None, got {value!r}")
            else:
                rows[key] = float(value)
        self._brand = None if brand_per_minute is None else float(brand_per_minute)
        self._rows = rows
        self._window = float(window_seconds)
        self._templates = Templates(rows)

    @classmethod
    def unlimited(cls) -> RateLimits:
        """No client-side limits at all (benchmarks, or a caller with its own limiter)."""
        return cls(brand_per_minute=None, include_defaults=False)

    @staticmethod
    def _check_key(key: str) -> str:
        match = _KEY_RE.match(key.strip())
        if not match or match.group(1) not in _METHODS:
            raise ConfigurationError(
                f"rate-limit key {key!r} is not of the form 'METHOD /path/{{template}}', "
                "e.g. 'GET /surveys/{surveyId}/export-responses/{exportProgressId}'"
            )
        return f"{match.group(1)} {normalize_path(match.group(2))}"

    @property
    def brand_per_minute(self) -> float | None:
        """The brand-wide ceiling, or ``None`` when disabled."""
        return self._brand

    @property
    def is_unlimited(self) -> bool:
        """True when no limit applies at all (no brand limit, no endpoint rows)."""
        return self._brand is None and not self._rows

    @property
    def window_seconds(self) -> float:
        """The window the per-minute figures apply to (60 s for Qualtrics)."""
        return self._window

    @property
    def endpoints(self) -> Mapping[str, float]:
        """A copy of the per-endpoint rows, keyed ``"METHOD /template"``."""
        return dict(self._rows)

    def per_minute(self, key: str) -> float | None:
        """The limit of one row (``"METHOD /template"``), or ``None`` when there is no such row."""
        return self._rows.get(key)

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(self._rows.items())

    def __len__(self) -> int:
        return len(self._rows)

    def route(self, method: str, path: str) -> Route:
        """The row a concrete request (``GET /surveys/SV_1/...``) falls under."""
        key = self._templates.match(method, path)
        return Route(None, None) if key is None else Route(key, self._rows[key])

    def __repr__(self) -> str:
        return (
            f"RateLimits(brand_per_minute={self._brand!r}, endpoints=<{len(self._rows)} rows>, "
            f"window_seconds={self._window!r})"
        )
