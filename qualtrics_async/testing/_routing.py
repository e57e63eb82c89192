"""What an API family of the emulator is made of: routes, errors, stored items and pages.

Each family (administration, surveys, XM Directory, ...) is a *route provider*: an object
built with a :class:`FamilyContext` whose ``routes()`` lists :class:`RouteSpec` entries. The
emulator runs every route through the same pipeline (auth, rate limit, faults, OAuth scope,
envelope), so a provider only answers the request.

:class:`Collection` is the in-memory store most families need (ids in Qualtrics' style,
insertion order) and :func:`offset_page` / :func:`skip_page` are the two pagination styles
of qualtrics-api.md §3, so no family re-implements paging.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import string
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from aiohttp import web
from multidict import MultiMapping

from qualtrics_async.testing._data import EmulatorData
from qualtrics_async.testing._faults import Reply

Json = dict[str, Any]
Handler = Callable[[web.BaseRequest, dict[str, str]], "Json | Reply | Awaitable[Json | Reply | None] | None"]
"""A route: returns the ``result`` object (wrapped in the envelope), a whole :class:`Reply`,
or ``None`` for an answer with ``meta`` only (a write that returns nothing)."""

_ALNUM = string.ascii_letters + string.digits


class ApiError(Exception):
    """A 4xx answer in the Qualtrics error envelope (``headers`` are added to it)."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "BRE_0.1") -> ApiError:
    """A 400 naming what is wrong."""
    return ApiError(400, message, code)


def not_found(kind: str, item_id: str) -> ApiError:
    """A 404 for an unknown id."""
    return ApiError(404, f"{kind} {item_id} was not found.", "RNF_0.1")


def survey_not_found() -> ApiError:
    """The 404 of an unknown survey id (recorded: ``GSI_2`` "Survey not found.")."""
    return ApiError(404, "Survey not found.", "GSI_2")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route of a family: method, path template (``{name}`` segments), handler, and the
    OAuth scope family it needs (``read:<scope>`` for GET, ``manage:<scope>`` otherwise)."""

    method: str
    template: str
    handler: Handler
    scope: str | None = None


class RouteProvider(Protocol):
    """An API family of the emulator."""

    def routes(self) -> Iterable[RouteSpec]: ...


@dataclass(eq=False)
class FamilyContext:
    """What a family gets from the emulator: its seed and data, page tokens, a lock."""

    seed: int
    data: EmulatorData
    skip_tokens: SkipTokens
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rng(self, family: str) -> random.Random:
        """A random generator of its own for ``family`` (same seed, same data)."""
        return random.Random(f"{self.seed}:{family}")  # noqa: S311 - test data, not cryptography


# --- request bodies ----------------------------------------------------------------------------


async def json_body(request: web.BaseRequest, *, required: Iterable[str] = ()) -> Json:
    """The request's JSON object body; 400 when it is not one or lacks a required field.

    A body sent with another ``Content-Type`` (a form, say) is a 400 ``RP_0.1`` naming both
    types, as recorded; a request without a ``Content-Type`` header is read as JSON.
    """
    raw = await request.read()
    declared = request.headers.get("Content-Type")
    if raw and declared is not None:
        media = request.content_type
        if media != "application/json" and not media.endswith("+json"):
            raise bad_request(f"Invalid Content-Type. expected=application/json found={media}", "RP_0.1")
    try:
        body = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    missing = [name for name in required if body.get(name) in (None, "")]
    if missing:
        raise bad_request(f"Missing required field(s): {', '.join(missing)}.")
    return body


def check_fields(body: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """400 for a field the endpoint does not take (names are case-sensitive, §2.2)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_request(f"Unknown field(s): {', '.join(unknown)}. Field names are case-sensitive.")


# --- stored items ------------------------------------------------------------------------------


class Collection:
    """Items of one kind keyed by id, in insertion order (thread-safe).

    Ids look like Qualtrics' (``prefix + "_" + 15 alphanumerics``), drawn from a seeded rng.
    """

    def __init__(self, kind: str, prefix: str, rng: random.Random, *, id_field: str = "id") -> None:
        self.kind = kind
        self.prefix = prefix
        self.id_field = id_field
        self._rng = rng
        self._items: dict[str, Json] = {}
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return f"{self.prefix}_" + "".join(self._rng.choice(_ALNUM) for _ in range(15))

    def add(self, item: Json) -> Json:
        """Store ``item`` (with an id assigned unless it has one); return it."""
        with self._lock:
            item_id = item.get(self.id_field) or self.new_id()
            item[self.id_field] = item_id
            self._items[item_id] = item
            return item

    def get(self, item_id: str) -> Json:
        """The item, or a 404 naming the kind."""
        item = self._items.get(item_id)
        if item is None:
            raise not_found(self.kind, item_id)
        return item

    def find(self, item_id: str) -> Json | None:
        return self._items.get(item_id)

    def update(self, item_id: str, fields: Mapping[str, Any]) -> Json:
        with self._lock:
            item = self.get(item_id)
            item.update(fields)
            return item

    def delete(self, item_id: str) -> Json:
        with self._lock:
            item = self.get(item_id)
            del self._items[item_id]
            return item

    def values(self) -> list[Json]:
        with self._lock:
            return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items


# --- pages -------------------------------------------------------------------------------------


class SkipTokens:
    """Opaque, tamper-evident ``skipToken`` values: base64url of ``offset:signature``."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"qualtrics-emulator-skiptoken:{seed}".encode()).digest()

    def _sign(self, scope: str, offset: int) -> str:
        return hmac.new(self._key, f"{scope}\0{offset}".encode(), hashlib.sha256).hexdigest()[:16]

    def encode(self, scope: str, offset: int) -> str:
        raw = f"{offset}:{self._sign(scope, offset)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, scope: str, token: str, *, limit: int) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            offset_text, signature = raw.split(":", 1)
            offset = int(offset_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            offset, signature = -1, ""
        if not 0 <= offset <= limit or not hmac.compare_digest(signature, self._sign(scope, offset)):
            raise ApiError(400, "Invalid skipToken: pass the nextPage URL unchanged.", "BRE_0.3")
        return offset


def int_query(query: MultiMapping[str], name: str, *, default: int, minimum: int) -> int:
    """An integer query parameter, 400 when malformed or below ``minimum``."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise bad_request(f"Invalid value for {name!r}: {raw!r} (expected an integer >= {minimum}).")
    return value


def page_size(query: MultiMapping[str], maximum: int, *, reject_larger: bool, default: int | None = None) -> int:
    """``pageSize``: clamped to ``maximum``, or 400 above it when ``reject_larger``."""
    size = int_query(query, "pageSize", default=maximum if default is None else default, minimum=1)
    if size > maximum:
        if reject_larger:
            raise ApiError(400, f"pageSize must be between 1 and {maximum}, got {size}.", "BRE_0.2")
        size = maximum
    return size


def offset_page(request: web.BaseRequest, items: list[Json], maximum: int = 100) -> Json:
    """One page in the ``offset`` style (``/surveys``, ``/users``, ``/groups``, ...)."""
    query = request.query
    size = page_size(query, maximum, reject_larger=False)
    offset = int_query(query, "offset", default=0, minimum=0)
    page = items[offset : offset + size]
    end = offset + len(page)
    next_page = str(request.url.update_query({"offset": end})) if end < len(items) else None
    return {"elements": page, "nextPage": next_page}


def skip_page(
    request: web.BaseRequest,
    tokens: SkipTokens,
    scope: str,
    items: list[Json],
    maximum: int = 100,
    *,
    reject_larger: bool = False,
    default_size: int | None = None,
) -> Json:
    """One page in the ``skipToken`` style (XM Directory, links, history, ...)."""
    query = request.query
    size = page_size(query, maximum, reject_larger=reject_larger, default=default_size)
    token = query.get("skipToken", "")
    offset = tokens.decode(scope, token, limit=len(items)) if token else 0
    page = items[offset : offset + size]
    end = offset + len(page)
    next_page = None
    if end < len(items):
        next_page = str(request.url.update_query({"skipToken": tokens.encode(scope, end)}))
    return {"elements": page, "nextPage": next_page}


__all__ = [
    "ApiError",
    "Collection",
    "FamilyContext",
    "Handler",
    "Json",
    "RouteProvider",
    "RouteSpec",
    "SkipTokens",
    "bad_request",
    "check_fields",
    "int_query",
    "json_body",
    "not_found",
    "offset_page",
    "page_size",
    "skip_page",
    "survey_not_found",
]
