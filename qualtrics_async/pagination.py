"""Streaming every element of a paginated collection, page by page.

Qualtrics list endpoints answer ``result.elements`` plus ``result.nextPage``: an absolute
URL (with an ``offset`` or a ``skipToken`` inside) or ``null`` on the last page. It is
followed verbatim, never rebuilt. A ``nextPage`` seen before raises
:class:`~qualtrics_async.errors.PaginationError` instead of looping forever, and one on
another origin raises :class:`~qualtrics_async.errors.UnsafeURLError` instead of sending
the token there. A ``nextPage`` that keeps changing while the pages stay empty is a loop
too: after :data:`MAX_EMPTY_PAGES` empty pages in a row the walk stops with
:class:`~qualtrics_async.errors.PaginationError` (docs/pagination.md).

Each page is one call through the whole request pipeline (rate-limited, retried,
deadline-bound) and is read completely before its elements are yielded, so breaking out
of ``async for`` leaves no response open.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from qualtrics_async._decoding import ListResult, page_decoder
from qualtrics_async._session import QueryParams, Session
from qualtrics_async.errors import PaginationError

T = TypeVar("T")

MAX_EMPTY_PAGES = 25
"""Empty pages in a row, each naming a new ``nextPage``, after which a walk is taken for a
loop. Qualtrics may answer an empty page before the last one (a filtered listing); it has
never been seen to answer dozens in a row."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a collection.

    Attributes:
        elements: the page's items.
        next_page: the URL of the next page, or ``None`` on the last one. Save it to resume
            an interrupted walk later with ``client.paginate(next_page)``.
        request_id: Qualtrics' ``requestId`` of this page.
    """

    elements: list[T]
    next_page: str | None
    request_id: str | None


async def iter_pages(
    session: Session, path: str, params: QueryParams | None = None, *, item_type: Any = Any
) -> AsyncGenerator[Page[Any], None]:
    """Yield the pages of ``path``, following ``nextPage`` until it is null."""
    decoder = page_decoder(item_type)
    first = session.target(path, params)
    seen = {str(first.url)}
    target: str | None = path
    page_params = params
    empty_run = 0
    while target is not None:
        if page_params is None and target is not path:
            session.next_page_target(target)  # a server's nextPage that may not be asked: UnsafeURLError
        answer = await session.call("GET", target, params=page_params, decoder=decoder)
        page: ListResult[Any] = answer.result
        request_id = answer.meta.requestId if answer.meta else None
        next_page = page.nextPage or None
        if next_page is not None:
            looping = None
            if next_page in seen:
                looping = f"nextPage repeats a page already fetched ({len(seen)} pages in)"
            seen.add(next_page)
            empty_run = 0 if page.elements else empty_run + 1
            if empty_run >= MAX_EMPTY_PAGES:
                looping = f"{empty_run} empty pages in a row, each naming a new nextPage"
            if looping is not None:
                raise PaginationError(
                    f"{looping}: the server seems to loop, so the walk stops here; the pages so far were "
                    "delivered, resume later from the last next_page of client.pages(), and report the "
                    "requestId to Qualtrics if it recurs",
                    method="GET",
                    path=session.next_page_target(next_page).path,
                    request_id=request_id,
                )
        yield Page(page.elements, next_page, request_id)
        target, page_params = next_page, None


async def iter_items(
    session: Session, path: str, params: QueryParams | None = None, *, item_type: Any = Any
) -> AsyncGenerator[Any, None]:
    """Yield every element of every page of ``path``."""
    async for page in iter_pages(session, path, params, item_type=item_type):
        for element in page.elements:
            yield element
