"""Base class of the resource namespaces (``client.surveys``, ``client.groups``, …).

A resource is short declarative code: each method names its endpoint template and its
types, and calls one of the helpers below, which fill the path (every id percent-encoded
as one segment), accept a typed model or a plain dict as the body, and go through the
client's one request pipeline. No resource builds URLs or decodes JSON itself.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from qualtrics_async._sansio import build_path
from qualtrics_async.errors import ConfigurationError

if TYPE_CHECKING:
    from qualtrics_async._client import QualtricsClient
    from qualtrics_async._session import QueryParams

T = TypeVar("T")

Body = msgspec.Struct | Mapping[str, Any]
"""A request body: a typed model (``qualtrics_async.models``) or a plain dict of wire names."""


def wire_body(body: Body | None) -> Any:
    """The JSON-serialisable form of a body (models keep their camelCase wire names)."""
    if body is None or isinstance(body, msgspec.Struct):
        return body
    if isinstance(body, Mapping):
        return dict(body)
    raise ConfigurationError(f"a request body must be a model or a dict, got {type(body).__name__}")


class Resource:
    """A family of endpoints. Holds the client, never the other way round."""

    __slots__ = ("_client",)

    def __init__(self, client: QualtricsClient) -> None:
        self._client = client

    async def _get(
        self, template: str, result_type: type[T] | Any = Any, *, params: QueryParams | None = None, **ids: str
    ) -> T:
        """``GET`` one item."""
        result: T = await self._client.request(
            "GET", build_path(template, **ids), params=params, result_type=result_type
        )
        return result

    def _list(
        self, template: str, item_type: type[T] | Any = Any, *, params: QueryParams | None = None, **ids: str
    ) -> AsyncGenerator[T, None]:
        """Every element of a paginated collection, page by page."""
        return self._client.paginate(build_path(template, **ids), params, item_type=item_type)

    async def _send(
        self,
        method: str,
        path: str,
        body: Body | None = None,
        result_type: type[T] | Any = Any,
        *,
        params: QueryParams | None = None,
        idempotent: bool | None = None,
    ) -> T:
        """``POST``/``PUT``/``DELETE`` to a built ``path`` with an optional body; returns the
        decoded ``result`` (``None`` when Qualtrics answers with ``meta`` only)."""
        result: T = await self._client.request(
            method, path, params=params, json=wire_body(body), result_type=result_type, idempotent=idempotent
        )
        return result

    async def _create(self, template: str, body: Body, result_type: type[T] | Any = Any, **ids: str) -> T:
        """``POST`` a new item; returns what Qualtrics answers (usually its id)."""
        return await self._send("POST", build_path(template, **ids), body, result_type)

    async def _update(self, template: str, body: Body, **ids: str) -> None:
        """``PUT`` changes to an item."""
        await self._send("PUT", build_path(template, **ids), body)

    async def _delete(self, template: str, **ids: str) -> None:
        """``DELETE`` an item."""
        await self._send("DELETE", build_path(template, **ids))


__all__ = ["Body", "Resource", "wire_body"]
