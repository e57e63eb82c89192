"""Incremental (sans-I/O) decoders that turn an export file's bytes into response records.

A decoder is fed the file's (decompressed) bytes in order, in chunks that may split a record,
a line, a UTF-8 character or a JSON string anywhere, and returns the records each chunk
completes. It keeps only the unfinished record between calls, so memory stays at about one
chunk plus one record whatever the file's size. :func:`record_decoder` picks the decoder for
an export format.

One record is bounded (docs/exports.md, "Hostile export files"): a decoder that holds more
than ``record_bytes`` of an unfinished record (a CSV row or quoted field, an NDJSON line, a
JSON element or other top-level value) raises
:class:`~qualtrics_async.errors.ResponseTooLargeError` naming ``SizeLimits.record_bytes``,
so a file whose one field inflates to gigabytes costs that bound, not the field. JSON
nested deeper than msgspec can follow is a malformed file (:class:`ExportCorruptError`),
never a ``RecursionError``.
"""

from __future__ import annotations

import abc
import codecs
import csv
import functools
import io
import itertools
import re
from typing import Any, Final

import msgspec

from qualtrics_async._config import SizeLimits
from qualtrics_async._decoding import NestingTooDeepError, decode, decode_any
from qualtrics_async._logging import logger
from qualtrics_async._sansio import too_large
from qualtrics_async.errors import (
    ConfigurationError,
    ExportCorruptError,
    ResponseDecodeError,
    ResponseValidationError,
)
from qualtrics_async.exports._options import STREAMABLE_FORMATS

__all__ = [
    "STREAMABLE_FORMATS",
    "CsvRecordDecoder",
    "JsonRecordDecoder",
    "NdjsonRecordDecoder",
    "RecordDecoder",
    "record_decoder",
]


_RETRY: Final = "download the export file again"
_ROWS_PER_SLICE: Final = 256
_BOM: Final = codecs.BOM_UTF8


def record_decoder(format: str, *, type: Any = None, record_bytes: int | None = None) -> RecordDecoder:
    """A fresh incremental decoder for an export file of ``format``.

    Args:
        format: the export format, one of ``csv``, ``tsv``, ``json``, ``ndjson`` (any case).
        type: decode each record into this type with msgspec (a ``msgspec.Struct``, a
            ``TypedDict``, ``dict[str, str]``...); by default JSON records are plain
            dicts and CSV/TSV records are ``dict[str, str]`` keyed by column name.
        record_bytes: the most of one unfinished record the decoder holds
            (``SizeLimits.record_bytes``; its default when None).

    Raises:
        ConfigurationError: ``format`` is one that cannot be decoded record by record
            (``spss``, ``xml``).
    """
    kind = format.lower()
    if kind == "csv":
        return CsvRecordDecoder(",", type=type, record_bytes=record_bytes)
    if kind == "tsv":
        return CsvRecordDecoder("\t", type=type, record_bytes=record_bytes)
    if kind == "json":
        return JsonRecordDecoder(type=type, record_bytes=record_bytes)
    if kind == "ndjson":
        return NdjsonRecordDecoder(type=type, record_bytes=record_bytes)
    raise ConfigurationError(
        f"{format!r} exports cannot be streamed record by record: only {', '.join(STREAMABLE_FORMATS)} can; "
        "export in one of those, or download the file and read it with a tool for that format"
    )


class RecordDecoder(abc.ABC):
    """Turns the bytes of one export file, fed in order, into response records.

    Call :meth:`feed` with each chunk, then :meth:`finish` once at the end of the file.
    A decoder is single-use and raises the same error again once it has failed.

    ``record_bytes`` bounds the unfinished record held between chunks (the default is
    ``SizeLimits().record_bytes``); a record is refused as soon as more than that of it is
    held, so memory stays within the bound plus one chunk.

    Attributes:
        count: how many records were returned so far.
    """

    __slots__ = ("_done", "_failure", "_record_bytes", "count")

    def __init__(self, *, record_bytes: int | None = None) -> None:
        self.count = 0
        self._done = False
        self._failure: Exception | None = None
        self._record_bytes = SizeLimits().record_bytes if record_bytes is None else record_bytes

    def feed(self, data: bytes) -> list[Any]:
        """Take the next bytes of the file; return the records they complete (maybe none).

        Raises:
            ExportCorruptError: the bytes cannot be part of a well-formed export file.
            ResponseValidationError: a record does not have the shape of ``type``.
            ResponseTooLargeError: more than ``record_bytes`` of one record arrived without its end.
        """
        self._check_usable()
        try:
            return self._feed(data)
        except (ExportCorruptError, ResponseDecodeError) as exc:
            self._failure = exc
            raise

    def finish(self) -> list[Any]:
        """Signal the end of the file; return the last records.

        Raises:
            ExportCorruptError: the file ended in the middle of a record, a string, a
                quoted field or the document, so it is truncated.
            ResponseValidationError: a record does not have the shape of ``type``.
        """
        self._check_usable()
        self._done = True
        try:
            return self._finish()
        except (ExportCorruptError, ResponseDecodeError) as exc:
            self._failure = exc
            raise

    def _check_held(self, held: int, what: str) -> None:
        """Raise once ``held`` bytes of one unfinished record (``what``) exceed ``record_bytes``."""
        if held > self._record_bytes:
            raise too_large(what, self._record_bytes, "record_bytes")

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._done:
            raise RuntimeError(f"{type(self).__name__}.finish() was already called")

    @abc.abstractmethod
    def _feed(self, data: bytes) -> list[Any]:
        """The format's :meth:`feed`."""

    @abc.abstractmethod
    def _finish(self) -> list[Any]:
        """The format's :meth:`finish`."""


@functools.lru_cache(maxsize=64)
def _cached_decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(type_)


def _json_decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    try:
        return _cached_decoder(type_)
    except TypeError:  # an unhashable type annotation: build one that is not cached
        return msgspec.json.Decoder(type_)


def _decode_lines(decoder: msgspec.json.Decoder[Any], data: bytes | memoryview) -> list[Any]:
    """``decoder.decode_lines(data)``, with nesting too deep reported as a ``DecodeError`` (like
    :func:`qualtrics_async._decoding.decode`, which covers ``decode`` only)."""
    try:
        return decoder.decode_lines(data)
    except RecursionError:
        raise NestingTooDeepError("JSON nested too deeply to decode (more levels than the recursion limit)") from None


_STR_DECODER: Final = msgspec.json.Decoder(str)
_RAW_DECODER: Final = msgspec.json.Decoder(msgspec.Raw)


def _invalid_record(number: int, exc: msgspec.ValidationError) -> ResponseValidationError:
    return ResponseValidationError(
        f"Export record {number} does not have the shape of the requested type: {exc}; "
        "fix the type (or decode without one to see the raw record)"
    )


class NdjsonRecordDecoder(RecordDecoder):
    """NDJSON export: one JSON response object per line; blank lines are skipped.

    Complete lines are decoded in one ``msgspec.json.Decoder.decode_lines`` call per chunk;
    only the unfinished last line is kept (as a list of pieces, so a line longer than a
    chunk is joined once, not once per chunk), at most ``record_bytes`` of it.
    """

    __slots__ = ("_decoder", "_held", "_lines", "_parts")

    def __init__(self, *, type: Any = None, record_bytes: int | None = None) -> None:
        super().__init__(record_bytes=record_bytes)
        self._decoder = _json_decoder(Any if type is None else type)
        self._parts: list[bytes] = []
        self._held = 0  # bytes in _parts
        self._lines = 0  # complete lines decoded so far

    def _feed(self, data: bytes) -> list[Any]:
        end = data.rfind(b"\n") + 1
        if not end:
            if data:
                self._parts.append(bytes(data))
                self._held += len(data)
                self._check_line()
            return []
        if self._parts:
            self._parts.append(data[:end])
            batch: bytes | memoryview = b"".join(self._parts)
        else:
            batch = memoryview(data)[:end]
        self._parts = [bytes(data[end:])] if end < len(data) else []
        self._held = len(data) - end
        records = self._decode(batch, data.count(b"\n", 0, end), final=False)
        self._check_line()
        return records

    def _check_line(self) -> None:
        self._check_held(self._held, f"Line {self._lines + 1} of the NDJSON export")

    def _finish(self) -> list[Any]:
        rest = b"".join(self._parts)
        self._parts = []
        self._held = 0
        return self._decode(rest, 0, final=True) if rest.strip() else []

    def _decode(self, batch: bytes | memoryview, lines: int, *, final: bool) -> list[Any]:
        if not self._lines and bytes(batch[:3]) == _BOM:
            batch = batch[3:]
        try:
            records: list[Any] = _decode_lines(self._decoder, batch)
        except msgspec.DecodeError as exc:
            self._locate_error(bytes(batch), final=final)
            raise ExportCorruptError(
                f"The NDJSON export is malformed after line {self._lines} ({exc}); {_RETRY}."
            ) from None
        self._lines += lines
        self.count += len(records)
        return records

    def _locate_error(self, batch: bytes, *, final: bool) -> None:
        """Raise the error of the first line of ``batch`` that does not decode, with its number."""
        lines = batch.split(b"\n")
        for index, line in enumerate(lines):
            if not line.strip():
                continue
            number = self._lines + index + 1
            try:
                decode(self._decoder, line)
            except msgspec.ValidationError as exc:
                raise _invalid_record(number, exc) from None
            except msgspec.DecodeError as exc:
                if final and index == len(lines) - 1:
                    raise ExportCorruptError(
                        f"The NDJSON export ends in the middle of line {number} ({exc}): "
                        f"the file is truncated; {_RETRY}."
                    ) from None
                raise ExportCorruptError(f"Line {number} of the NDJSON export is not JSON ({exc}); {_RETRY}.") from None


# One match per structural character outside strings, jumping over strings and everything
# else in C: group 1 is ``{ } [ ]``; group 2 is the opening quote of a string that does not end
# in the buffer yet (rescanned from there when more bytes come); neither is the buffer's end.
# Possessive quantifiers keep a failing match from backtracking into what it already passed.
_STRUCTURE: Final = re.compile(
    rb'[^"{}\[\]]*+(?:"[^"\\]*+(?:\\.[^"\\]*+)*+"[^"{}\[\]]*+)*+(?:([{}\[\]])|(")|\Z)', re.DOTALL
)
# Top-level tokens (outside the responses array): a whole string, a punctuation character, or a scalar.
_TOKEN: Final = re.compile(rb'[ \t\r\n]*+(?:("(?:[^"\\]++|\\.)*+")|([{}\[\]:,])|([^ \t\r\n"{}\[\]:,]++))', re.DOTALL)
_NEXT_ELEMENT: Final = re.compile(rb"[ \t\r\n]*+,[ \t\r\n]*+\{")
_LEADING_GAP: Final = re.compile(rb"[ \t\r\n]*+")
_SEPARATOR_GAP: Final = re.compile(rb"[ \t\r\n]*+,[ \t\r\n]*+")
_WHITESPACE: Final = b" \t\r\n"
_OPEN: Final = (b"{", b"[")

# Where the JSON decoder is in the document.
_START, _TOP, _ARRAY, _SKIP, _END = range(5)
# What the top-level object expects next.
_FIRST_KEY, _KEY, _COLON, _VALUE, _COMMA = range(5)
# Why the array scan stopped.
_MORE, _CLOSED, _HANDOFF = range(3)


class JsonRecordDecoder(RecordDecoder):
    """JSON export: ``{"responses": [ {...}, {...}, ... ]}``, each element is a record.

    Other top-level keys may come before or after ``responses``; their values are checked
    to be JSON and ignored (but held in memory until they end). Elements should be objects,
    as Qualtrics writes them.

    Per chunk, the fast path guesses the last element boundary (a ``}`` followed by ``,{``)
    and decodes everything before it with one msgspec call; the decode proves the guess (see
    :meth:`_fast`), so no Python code looks at the bytes in between. When it cannot guess
    (a chunk smaller than a record, the array's end, an element shaped otherwise), a scan
    that stops only at ``{ } [ ]`` outside strings (a compiled regular expression jumps over
    strings and scalars) finds the elements; it resumes where it stopped, so each byte is
    scanned at most once, and it also locates errors to the record and byte.
    """

    __slots__ = (
        "_base",
        "_buf",
        "_depth",
        "_elements",
        "_expect",
        "_fast_misses",
        "_gap",
        "_item_decoder",
        "_key",
        "_list_decoder",
        "_mode",
        "_pos",
        "_seen_responses",
        "_value_start",
    )

    def __init__(self, *, type: Any = None, record_bytes: int | None = None) -> None:
        super().__init__(record_bytes=record_bytes)
        item = Any if type is None else type
        self._item_decoder = _json_decoder(item)
        self._list_decoder = _json_decoder(list[item])  # type: ignore[valid-type]
        self._buf = bytearray()
        self._base = 0  # offset of _buf[0] in the file
        self._pos = 0  # where scanning resumes, in _buf
        self._mode = _START
        self._expect = _FIRST_KEY
        self._depth = 0  # open objects and arrays at _pos
        self._key = b""
        self._value_start = -1  # start of the element (or skipped value) being scanned, in _buf
        self._gap = 0  # start of the text since the last element (or the array's '['), in _buf
        self._elements = 0  # elements started in the responses array
        self._seen_responses = False
        self._fast_misses = 0  # batches the fast path guessed wrong; it stops trying after 3

    def _feed(self, data: bytes) -> list[Any]:
        self._buf += data
        records = self._parse(final=False)
        self._compact()
        if len(self._buf) > self._record_bytes:  # all of it is one unfinished element or value
            what = {
                _ARRAY: f"Record {self.count + 1} of the JSON export",
                _SKIP: "A top-level value of the JSON export",
            }.get(self._mode, "A top-level key or value of the JSON export")
            self._check_held(len(self._buf), what)
        return records

    def _finish(self) -> list[Any]:
        records = self._parse(final=True)
        if self._mode == _START and not self._base + len(self._buf):
            raise ExportCorruptError(f"The JSON export is empty; {_RETRY}.")
        if self._mode != _END:
            where = {
                _START: "before the document starts",
                _TOP: "inside the top-level object",
                _ARRAY: f"inside the responses array, after {self.count} records",
                _SKIP: "inside a top-level value",
            }[self._mode]
            raise ExportCorruptError(f"The JSON export ends {where}: the file is truncated; {_RETRY}.")
        if not self._seen_responses:
            raise ExportCorruptError('The JSON export has no "responses" array; it is not a Qualtrics response export.')
        return records

    def _error(self, what: str, at: int) -> ExportCorruptError:
        return ExportCorruptError(f"The JSON export is malformed at byte {self._base + at}: {what}; {_RETRY}.")

    def _fast(self) -> list[Any] | None:
        """Decode every complete element of the buffer in one msgspec call, without scanning it.

        The cut is guessed at the last ``},{`` (whitespace allowed) and proven by decoding:
        if the elements up to that ``}``, bracketed, decode as one JSON array, the guess was
        an element boundary, since a prefix of a JSON text parses the same way as in the whole
        text (a guess inside a string or a nested object leaves that prefix unterminated).
        The unfinished element after the cut is left unscanned for the next chunk. None
        means no guess held: the caller scans (and reports any error precisely).
        """
        buf = self._buf
        gap = (_SEPARATOR_GAP if self._elements else _LEADING_GAP).match(buf, self._gap)
        if gap is None:
            return None
        first = gap.end()
        if buf[first : first + 1] != b"{":
            return None
        cut = len(buf)
        for _ in range(64):
            cut = buf.rfind(b"}", first, cut)
            if cut < 0:
                return None
            if _NEXT_ELEMENT.match(buf, cut + 1) is not None:
                break
        else:
            return None
        cut += 1
        try:
            records: list[Any] = decode(self._list_decoder, b"".join((b"[", memoryview(buf)[first:cut], b"]")))
        except msgspec.DecodeError:
            self._fast_misses += 1
            return None
        self._elements += len(records)
        self._pos = self._gap = cut
        self.count += len(records)
        return records

    def _parse(self, *, final: bool) -> list[Any]:
        records: list[Any] = []
        fast = self._fast_misses < 3  # the fast path is tried once per call, at the first element boundary
        while True:
            if fast and self._mode == _ARRAY and self._depth == 2:
                fast = False
                batch = self._fast()
                if batch is not None:
                    records += batch
                    if not final:
                        return records  # the unfinished element waits for the next chunk
            if self._mode in (_ARRAY, _SKIP):
                spans: list[tuple[int, int]] = []
                status = self._scan(spans, handoff=fast)
                if spans:
                    records += self._decode(spans)
                if status == _MORE:
                    return records
                if status == _CLOSED:
                    self._mode = _TOP
                    self._expect = _COMMA
            elif not self._step(final=final):
                return records

    def _scan(self, spans: list[tuple[int, int]], *, handoff: bool) -> int:
        """Advance over the array (or skipped value), collecting complete elements.

        Returns _CLOSED once the array or value closes, _MORE at the end of the buffer, and
        _HANDOFF after the first complete element when ``handoff`` is set (so the fast path
        can take the rest).
        """
        buf = self._buf
        depth = self._depth
        in_array = self._mode == _ARRAY
        start = self._value_start
        pos = self._pos
        status = _MORE
        for match in _STRUCTURE.finditer(buf, pos):
            char = match[1]
            if char is None:
                pos = match.start(2) if match[2] is not None else match.end()
                break
            pos = match.end()
            if char in _OPEN:
                if depth == 2 and in_array:
                    gap = _SEPARATOR_GAP if self._elements else _LEADING_GAP
                    if gap.fullmatch(buf, self._gap, pos - 1) is None:
                        raise self._error("expected a comma and an object between records", self._gap)
                    self._elements += 1
                    start = pos - 1
                depth += 1
                continue
            depth -= 1
            if depth == 2 and in_array:
                spans.append((start, pos))
                self._gap = pos
                if handoff:
                    status = _HANDOFF
                    break
            elif depth == 1:
                if in_array:
                    if char != b"]" or _LEADING_GAP.fullmatch(buf, self._gap, pos - 1) is None:
                        raise self._error("the responses array is not closed properly", pos - 1)
                else:
                    self._check_skipped(start, pos)
                status = _CLOSED
                break
        self._depth = depth
        self._pos = pos
        self._value_start = -1 if status == _CLOSED or (in_array and depth == 2) else start
        return status

    def _check_skipped(self, start: int, end: int) -> None:
        try:
            decode(_RAW_DECODER, memoryview(self._buf)[start:end])
        except msgspec.DecodeError as exc:
            raise self._error(f"a top-level value is not JSON ({exc})", start) from None

    def _decode(self, spans: list[tuple[int, int]]) -> list[Any]:
        first, last = spans[0][0], spans[-1][1]
        # The elements and the commas between them, bracketed, form one JSON array.
        batch = b"".join((b"[", memoryview(self._buf)[first:last], b"]"))
        try:
            records: list[Any] = decode(self._list_decoder, batch)
        except msgspec.DecodeError as exc:
            self._locate_error(spans)
            raise self._error(f"the records are not a JSON array ({exc})", first) from None
        self.count += len(records)
        return records

    def _locate_error(self, spans: list[tuple[int, int]]) -> None:
        for index, (start, end) in enumerate(spans):
            try:
                decode(self._item_decoder, memoryview(self._buf)[start:end])
            except msgspec.ValidationError as exc:
                raise _invalid_record(self.count + index + 1, exc) from None
            except msgspec.DecodeError as exc:
                raise self._error(f"record {self.count + index + 1} is not JSON ({exc})", start) from None

    def _step(self, *, final: bool) -> bool:
        """Read one top-level token; False when more bytes are needed (or the document ended)."""
        buf = self._buf
        if self._mode == _START:
            head = bytes(buf[self._pos : self._pos + 3])
            if head == _BOM:
                self._pos += 3
            elif len(head) < 3 and _BOM.startswith(head) and head and not final:
                return False
        match = _TOKEN.match(buf, self._pos)
        if match is None:
            # Only whitespace is left, or a string that does not end yet (truncated if final).
            if self._mode == _END and bytes(buf[self._pos :]).strip(_WHITESPACE):
                raise self._error("data after the end of the document", self._pos)
            return False
        string, punct, scalar = match.groups()
        if scalar is not None and match.end() == len(buf) and not final:
            return False  # the number or literal may go on in the next chunk
        self._pos = match.end()
        at = match.start(1 if string is not None else 2 if punct is not None else 3)
        if self._mode == _END:
            raise self._error("data after the end of the document", at)
        if self._mode == _START:
            if punct != b"{":
                raise self._error('the document does not start with "{"', at)
            self._mode, self._depth, self._expect = _TOP, 1, _FIRST_KEY
            return True
        expect = self._expect
        if expect in (_FIRST_KEY, _KEY) and string is not None:
            self._key, self._expect = string, _COLON
        elif punct == b"}" and expect in (_FIRST_KEY, _COMMA):
            self._mode, self._depth = _END, 0
        elif expect == _COMMA and punct == b",":
            self._expect = _KEY
        elif expect == _COLON and punct == b":":
            self._expect = _VALUE
        elif expect == _VALUE:
            self._value(string, punct, scalar, at)
        else:
            raise self._error(f"unexpected {(string or punct or scalar or b'')[:20]!r}", at)
        return True

    def _value(self, string: bytes | None, punct: bytes | None, scalar: bytes | None, at: int) -> None:
        key = self._key
        if key != b'"responses"':
            try:
                key = decode(_STR_DECODER, key).encode()
            except msgspec.DecodeError as exc:
                raise self._error(f"a key is not a JSON string ({exc})", at) from None
        else:
            key = b"responses"
        if key == b"responses":
            if punct != b"[":
                raise self._error('"responses" is not an array', at)
            if self._seen_responses:
                raise self._error('a second "responses" array', at)
            self._seen_responses = True
            self._mode, self._depth, self._gap, self._elements = _ARRAY, 2, at + 1, 0
        elif punct in _OPEN:
            self._mode, self._depth, self._value_start = _SKIP, 2, at
        elif punct is None:
            try:
                decode_any(string if string is not None else scalar or b"")
            except msgspec.DecodeError as exc:
                raise self._error(f"a top-level value is not JSON ({exc})", at) from None
            self._expect = _COMMA
        else:
            raise self._error(f"unexpected {punct!r}", at)

    def _compact(self) -> None:
        """Drop the bytes no longer needed: all but the unfinished element (or value) and gap."""
        keep = self._pos
        if self._value_start >= 0:
            keep = min(keep, self._value_start)
        if self._mode == _ARRAY:
            keep = min(keep, self._gap)
        if keep:
            del self._buf[:keep]
            self._base += keep
            self._pos -= keep
            self._gap -= keep
            if self._value_start >= 0:
                self._value_start -= keep


class CsvRecordDecoder(RecordDecoder):
    """CSV or TSV export: three header rows (two in the legacy format), then one record per row.

    The header rows are the column names (:attr:`columns`, the keys of each record), the
    question texts (:attr:`labels`) and the import ids (:attr:`import_ids`, one
    ``{"ImportId": "QID1"}`` JSON object per column, decoded; a cell that is not JSON is
    kept as text). A file whose third row is not import ids is the legacy two-row format
    (:attr:`import_ids` stays empty) and its third row is its first record. Records are
    ``dict[str, str]``, or ``type`` built from that dict with ``msgspec.convert(...,
    strict=False)``, which parses numbers and dates from text.

    Column names repeat in real exports (matrix questions without export tags, recorded:
    docs/exports.md); no column is dropped for that: every later occurrence of a name is
    keyed by its import id (``QID4030_4``), or by ``name.2``, ``name.3`` ... where there is
    none, and a warning names them once.

    The text is UTF-8 (a byte-order mark is skipped; a UTF-16 byte-order mark switches to
    UTF-16). Quoted fields may hold separators, doubled quotes and line breaks. Records are
    found without a Python loop per character: each chunk's text is cut after its last line
    break at which the number of ``"`` since the last cut is even (so not inside a quoted
    field), and the stdlib ``csv`` reader parses the lines before the cut. That relies on
    quotes appearing only in quoted fields, as the ``csv`` module and Qualtrics write them.
    Lines must end in LF or CRLF (a file with bare CR line ends is still decoded correctly,
    but only at :meth:`finish`, after holding the whole file).

    A row with a different number of fields than the header means a damaged file (Qualtrics
    rows are rectangular), so it raises :class:`ExportCorruptError` naming the record and
    line; blank lines are skipped, like ``csv.DictReader`` does. The unfinished record held
    between chunks is bounded by ``record_bytes``, counted in characters of text (each at
    least one byte of the file).

    Attributes:
        columns: the column names (first header row), once the header was read.
        labels: the column labels (second header row).
        import_ids: the decoded import ids (third header row).
    """

    HEADER_ROWS: Final = 3

    __slots__ = (
        "_delimiter",
        "_head",
        "_headers",
        "_held",
        "_lines",
        "_odd",
        "_parts",
        "_text",
        "_type",
        "columns",
        "import_ids",
        "labels",
    )

    def __init__(self, delimiter: str = ",", *, type: Any = None, record_bytes: int | None = None) -> None:
        super().__init__(record_bytes=record_bytes)
        if delimiter not in (",", "\t"):
            raise ConfigurationError(f"CSV exports are separated by ',' or a tab, not {delimiter!r}")
        self._delimiter = delimiter
        self._type = type
        self._head = b""  # the first bytes, until the encoding is known
        self._text: codecs.IncrementalDecoder | None = None
        self._parts: list[str] = []  # text of the unfinished record
        self._held = 0  # characters in _parts
        self._odd = False  # whether _parts holds an odd number of '"'
        self._lines = 0  # lines parsed so far
        self._headers: list[list[str]] = []
        self.columns: list[str] = []
        self.labels: list[str] = []
        self.import_ids: list[Any] = []

    @property
    def _format(self) -> str:
        return "CSV" if self._delimiter == "," else "TSV"

    def _feed(self, data: bytes) -> list[Any]:
        text = self._decode_text(data, final=False)
        records = self._take(text, final=False) if text else []
        if self._held > self._record_bytes:
            where = f"line {self._lines + 1}"
            if len(self._headers) < self.HEADER_ROWS:
                what = f"A header row ({where}) of the {self._format} export"
            else:
                what = f"Record {self.count + 1} ({where}) of the {self._format} export"
            self._check_held(self._held, what)
        return records

    def _finish(self) -> list[Any]:
        records = self._take(self._decode_text(b"", final=True), final=True)
        if _is_legacy_header(self._headers):  # a legacy export without responses
            self._headers.append([])
            self._read_headers([])
        if len(self._headers) < self.HEADER_ROWS:
            if not self._lines and not self._headers:
                raise ExportCorruptError(f"The {self._format} export is empty; {_RETRY}.")
            raise ExportCorruptError(
                f"The {self._format} export ends within its {self.HEADER_ROWS} header rows: "
                f"the file is truncated; {_RETRY}."
            )
        return records

    def _decode_text(self, data: bytes, *, final: bool) -> str:
        if self._text is None:
            head = self._head + data
            if len(head) < 3 and not final and (_BOM.startswith(head) or head[:1] in (b"\xff", b"\xfe")):
                self._head = head
                return ""
            self._head = b""
            encoding = "utf-8"
            if head.startswith(_BOM):
                head = head[3:]
            elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                encoding = "utf-16"  # its decoder reads the byte-order mark
            self._text = codecs.getincrementaldecoder(encoding)()
            data = head
        try:
            return self._text.decode(data, final)
        except UnicodeDecodeError as exc:
            raise ExportCorruptError(
                f"The {self._format} export is not valid text ({exc.reason}) after {self._lines} lines: "
                f"it is damaged or truncated; {_RETRY}."
            ) from None

    def _take(self, text: str, *, final: bool) -> list[Any]:
        """Parse the complete rows that ``text`` ends; keep the rest for the next chunk."""
        if final:
            batch = "".join(self._parts) + text
            self._parts = []
            self._held = 0
            if self._odd ^ bool(text.count('"') & 1):
                raise ExportCorruptError(
                    f"The {self._format} export ends inside a quoted field after line {self._lines}: "
                    f"the file is truncated; {_RETRY}."
                )
            return self._rows(batch) if batch else []
        cut = text.rfind("\n")
        odd = self._odd ^ bool(text.count('"', 0, cut) & 1) if cut >= 0 else True
        while odd and cut >= 0:
            # That line break is inside a quoted field: try the one before.
            before = text.rfind("\n", 0, cut)
            odd ^= bool(text.count('"', max(before, 0), cut) & 1)
            cut = before
        if odd or cut < 0:
            self._parts.append(text)
            self._held += len(text)
            self._odd ^= bool(text.count('"') & 1)
            return []
        cut += 1
        if self._parts:
            self._parts.append(text[:cut])
            batch = "".join(self._parts)
        else:
            batch = text[:cut]
        rest = text[cut:]
        self._parts = [rest] if rest else []
        self._held = len(rest)
        self._odd = bool(rest.count('"') & 1)
        return self._rows(batch)

    def _rows(self, batch: str) -> list[Any]:
        # The csv module's field limit is process-wide (128 KiB by default): it is raised to
        # the record bound, never lowered, so a long answer is not "malformed" and parsers in
        # other threads never see it shrink under them; the bound itself is enforced above,
        # on what is held between chunks (docs/exports.md).
        if csv.field_size_limit() < self._record_bytes:
            csv.field_size_limit(self._record_bytes)
        return self._parse_rows(batch)

    def _parse_rows(self, batch: str) -> list[Any]:
        reader = csv.reader(io.StringIO(batch, newline=""), delimiter=self._delimiter, strict=True)
        first_line = self._lines
        headers = len(self._headers)
        records: list[Any] = []
        # Rows are turned into records a slice at a time, so the rows of a big batch (a whole
        # inflated ZIP chunk) do not all live at once; that keeps the working set in cache.
        try:
            while rows := list(itertools.islice(reader, _ROWS_PER_SLICE)):
                if len(self._headers) < self.HEADER_ROWS:
                    rows = self._read_headers(rows)
                columns = self.columns
                if rows and set(map(len, rows)) != {len(columns)}:
                    self._check_widths(batch, first_line, sum(1 for h in self._headers[headers:] if h))
                    rows = [row for row in rows if row]  # only blank lines were off
                sliced: list[Any] = [dict(zip(columns, row, strict=False)) for row in rows]
                records += sliced if self._type is None or not sliced else self._convert(sliced, len(records))
        except csv.Error as exc:
            line = first_line + reader.line_num
            if "field limit" in str(exc):
                row = (
                    "a header row"
                    if len(self._headers) < self.HEADER_ROWS
                    else f"record {self.count + len(records) + 1}"
                )
                what = f"A field of {row} (line {line}) of the {self._format} export"
                raise too_large(what, self._record_bytes, "record_bytes") from None
            raise ExportCorruptError(
                f"Line {line} of the {self._format} export is malformed ({exc}); {_RETRY}."
            ) from None
        self._lines += reader.line_num
        self.count += len(records)
        return records

    def _read_headers(self, rows: list[list[str]]) -> list[list[str]]:
        taken = 0
        for row in rows:
            if len(self._headers) == self.HEADER_ROWS:
                break
            if len(self._headers) == self.HEADER_ROWS - 1 and row and not _is_import_id_row(row):
                self._headers.append([])  # the legacy format: no import-id row; this row is a record
                break
            taken += 1
            if row:
                self._headers.append(row)
        if len(self._headers) == self.HEADER_ROWS:
            names, labels, ids = self._headers
            if not len(names) == len(labels) == (len(ids) or len(names)):
                raise ExportCorruptError(
                    f"The {self._format} export's header rows have {len(names)}, {len(labels)} and {len(ids)} "
                    f"fields; they should have one per column; {_RETRY}."
                )
            self.labels = labels
            self.import_ids = [_import_id(cell) for cell in ids]
            self.columns = _unique_columns(names, self.import_ids)
        return rows[taken:]

    def _check_widths(self, batch: str, first_line: int, headers_left: int) -> None:
        """Raise for the first record of ``batch`` whose width is not the header's (blank rows aside)."""
        reader = csv.reader(io.StringIO(batch, newline=""), delimiter=self._delimiter)
        number = self.count
        for row in reader:
            if not row:
                continue
            if headers_left:
                headers_left -= 1
                continue
            number += 1
            if len(row) != len(self.columns):
                raise ExportCorruptError(
                    f"Record {number} (line {first_line + reader.line_num}) of the {self._format} export has "
                    f"{len(row)} fields, the header has {len(self.columns)}: the file is damaged; {_RETRY}."
                )

    def _convert(self, records: list[Any], before: int) -> list[Any]:
        """``records`` as ``type``; ``before`` is how many records of the batch came before them."""
        try:
            converted: list[Any] = msgspec.convert(records, list[self._type], strict=False)  # type: ignore[name-defined]
        except msgspec.ValidationError:
            for index, record in enumerate(records):
                try:
                    msgspec.convert(record, self._type, strict=False)
                except msgspec.ValidationError as exc:
                    raise _invalid_record(self.count + before + index + 1, exc) from None
            raise  # unreachable: one of the records fails alone
        return converted


def _is_import_id_row(row: list[str]) -> bool:
    """Whether a row is the third header row of the current format: ``{"ImportId": ...}`` cells.

    Every current export's third row is (recorded); a file whose third row has none is the
    legacy two-row format, whose third row is its first record.
    """
    return any(cell[:1] == "{" and isinstance(found := _import_id(cell), dict) and "ImportId" in found for cell in row)


def _is_legacy_header(headers: list[list[str]]) -> bool:
    """Whether two header rows are the legacy format's (recorded): ``V1, V2, …`` / ``ResponseID, …``."""
    return len(headers) == 2 and headers[0][:1] == ["V1"] and headers[1][:1] == ["ResponseID"]


def _unique_columns(names: list[str], import_ids: list[Any]) -> list[str]:
    """``names`` with every repeated name after its first keyed by its import id (or ``name.N``)."""
    if len(set(names)) == len(names):
        return names
    taken = set(names)
    counts: dict[str, int] = {}
    columns: list[str] = []
    renamed: list[str] = []
    for index, name in enumerate(names):
        counts[name] = counts.get(name, 0) + 1
        if counts[name] == 1:
            columns.append(name)
            continue
        found = import_ids[index] if index < len(import_ids) else None
        key = str(found["ImportId"]) if isinstance(found, dict) and found.get("ImportId") else ""
        number = counts[name]
        while not key or key in taken:
            key = f"{name}.{number}"
            number += 1
        taken.add(key)
        columns.append(key)
        renamed.append(f"{name!r} → {key!r}")
    shown = ", ".join(renamed[:5]) + (f" and {len(renamed) - 5} more" if len(renamed) > 5 else "")
    logger.warning("the export repeats column names; later occurrences are keyed apart: %s", shown)
    return columns


def _import_id(cell: str) -> Any:
    """A third-header-row cell: ``{"ImportId": "QID1"}`` decoded, or the text if it is not JSON."""
    if cell[:1] not in ("{", "["):
        return cell
    try:
        return decode_any(cell)
    except msgspec.DecodeError:
        return cell
