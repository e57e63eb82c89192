"""msgspec types for the Qualtrics envelope, and cached decoders/encoders.

One place decodes JSON: the envelope around every answer (``result`` + ``meta``), list
pages (``result.elements`` + ``result.nextPage``) and error bodies. Models of user-authored
content (:class:`~qualtrics_async._wire.WireObject`) are built through the ``dec_hook``.
"""

from __future__ import annotations

import functools
from typing import Any, Generic, TypeVar

import msgspec

from qualtrics_async._wire import decode_wire_object

T = TypeVar("T")


class ErrorInfo(msgspec.Struct, frozen=True):
    """``meta.error``: Qualtrics' code and message for a failed call."""

    errorMessage: str | None = None
    errorCode: str | None = None
    instanceId: str | None = None


class Meta(msgspec.Struct, frozen=True):
    """``meta``: the status line, the request id, and optional notice or error.

    Answers recorded before 2016 carry the error in ``meta`` itself (``status: "Error"``,
    ``errorMessage``, ``internalErrorCode``, ``errorId``); :attr:`error_info` reads both forms.
    """

    httpStatus: str | None = None
    requestId: str | None = None
    notice: str | None = None
    error: ErrorInfo | None = None
    errorMessage: str | None = None
    internalErrorCode: str | None = None
    errorId: str | None = None

    @property
    def error_info(self) -> ErrorInfo | None:
        """The error, in the current form (``meta.error``) or the legacy one."""
        if self.error is not None:
            return self.error
        if self.errorMessage is None and self.internalErrorCode is None:
            return None
        return ErrorInfo(errorMessage=self.errorMessage, errorCode=self.internalErrorCode)

    @property
    def request_id(self) -> str | None:
        """``requestId``, or the legacy ``errorId`` of an old error answer."""
        return self.requestId or self.errorId


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
    """The cached decoder of ``Envelope[result_type]`` (:class:`~qualtrics_async._wire.WireObject`
    models inside it are built by their ``from_wire``)."""
    return msgspec.json.Decoder(Envelope[result_type], dec_hook=decode_wire_object)


@functools.cache
def page_decoder(item_type: Any) -> msgspec.json.Decoder[Envelope[ListResult[Any]]]:
    """The cached decoder of a list page whose elements are ``item_type``."""
    return msgspec.json.Decoder(Envelope[ListResult[item_type]], dec_hook=decode_wire_object)


error_decoder = msgspec.json.Decoder(ErrorEnvelope)
json_encoder = msgspec.json.Encoder()


class NestingTooDeepError(msgspec.DecodeError):
    """JSON nested deeper than the decoder can follow (msgspec raises ``RecursionError``)."""


def decode(decoder: msgspec.json.Decoder[T], data: bytes | bytearray | memoryview | str) -> T:
    """``decoder.decode(data)``, with a body nested too deeply reported as a ``DecodeError``.

    msgspec follows nesting on the C stack and raises ``RecursionError`` past Python's
    recursion limit (a 10 KB body of 5,000 ``[`` is enough); every JSON body from the
    network is decoded through here so that becomes a library error, not a crash.
    """
    try:
        return decoder.decode(data)
    except RecursionError:
        raise NestingTooDeepError("JSON nested too deeply to decode (more levels than the recursion limit)") from None


_ANY_DECODER = msgspec.json.Decoder()


def decode_any(data: bytes | bytearray | memoryview | str) -> Any:
    """Plain JSON values from ``data`` (see :func:`decode` for nesting)."""
    return decode(_ANY_DECODER, data)
