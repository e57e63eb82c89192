"""msgspec types for the Qualtrics envelope, and cached decoders/encoders.

One place decodes JSON: the envelope around every answer (``result`` + ``meta``), list
pages (``result.elements`` + ``result.nextPage``) and error bodies.
"""

from __future__ import annotations

import functools
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


class ErrorInfo(msgspec.Struct, frozen=True):
    """``meta.error``: Qualtrics' code and message for a failed call."""

    errorMessage: str | None = None
    errorCode: str | None = None
    instanceId: str | None = None


class Meta(msgspec.Struct, frozen=True):
    """``meta``: the status line, the request id, and optional notice or error."""

    httpStatus: str | None = None
    requestId: str | None = None
    notice: str | None = None
    error: ErrorInfo | None = None


class Envelope(msgspec.Struct, Generic[T]):
    """Every Qualtrics answer: ``{"result": ..., "meta": {...}}``."""

    result: T | msgspec.UnsetType = msgspec.UNSET
    meta: Meta | None = None


class ListResult(msgspec.Struct, Generic[T]):
    """The ``result`` of a list endpoint: one page of elements and the next page's URL."""

    elements: list[T]
    nextPage: str | None = None


class ErrorEnvelope(msgspec.Struct):
    """An error answer; only ``meta`` matters."""

    meta: Meta | None = None


@functools.cache
def envelope_decoder(result_type: Any) -> msgspec.json.Decoder[Envelope[Any]]:
    """The cached decoder of ``Envelope[result_type]``."""
    return msgspec.json.Decoder(Envelope[result_type])


@functools.cache
def page_decoder(item_type: Any) -> msgspec.json.Decoder[Envelope[ListResult[Any]]]:
    """The cached decoder of a list page whose elements are ``item_type``."""
    return msgspec.json.Decoder(Envelope[ListResult[item_type]])


error_decoder = msgspec.json.Decoder(ErrorEnvelope)
json_encoder = msgspec.json.Encoder()
