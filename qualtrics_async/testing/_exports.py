"""Survey response exports for the emulator: the export job state machine and file generation.

Behaviour follows ``qualtrics-api.md`` §6 (flow, body parameters, file layout), §2 (envelope,
errors) and §5.1 (dates). Where the fact sheet is silent or UNCERTAIN the choice made here is
written down as a *documented choice*; the ones a client may notice:

* Validation order: unknown survey (404), malformed JSON, unknown keys (names are
  case-sensitive, §2.2), ``format``, parameter types, the parameters forbidden with
  ``json``/``ndjson`` (forbidden when *present*, whatever their value), combinations
  (``filterId`` with ``sortByLastModifiedDate`` or ``allowContinuation``;
  ``continuationToken`` with ``allowContinuation`` -- "do not send both"; ``useLabels`` with
  ``includeLabelColumns``; ``startDate`` not before ``endDate``), ids, then the token.
  Every 400 names the parameter. ``null`` is a type error, not "unset". The request's
  ``Content-Type`` is not checked.
* Dates in the body need an explicit zone (``Z`` or ``+HH:MM``; §5.1), fractions allowed.
* ``questionIds`` must be this survey's internal ``QIDn`` ids (sub-ids such as
  ``QID5_3_TEXT`` are rejected, §6.2); unknown ``embeddedDataIds`` and
  ``surveyMetadataIds`` are rejected too. ``filterId`` must look like a UUID and filters
  nothing (the emulator has no saved filters). ``includeLabelColumns``,
  ``includeDisplayOrder``, ``breakoutSets`` and ``multiselectSeenUnansweredRecode`` are
  validated and accepted but change nothing (no randomised questions; multiple-answer
  questions are always broken out, one column per choice).
* ``exportResponsesInProgress: true`` exports no rows (every generated response is complete).
* Continuation tokens are opaque, tied to one survey, and expire after a week (§6.2) or on
  ``expire_continuation_tokens()``; a bad or expired one answers 400 naming
  ``continuationToken``. An export started with a token, or with ``allowContinuation``,
  gets a new ``continuationToken`` when complete. A continuation export holds the responses
  recorded or modified after the token's export was *started* (its data snapshot).
* Progress ids and file ids live for ``file_ttl`` seconds (default one week, §6.1): a
  progress id from its job's start, a file id from the job's completion; both then 404.
* A failed job's progress result carries ``error: {errorCode, errorMessage}`` (§2.1,
  UNCERTAIN shape) and no ``fileId``; ``percentComplete`` stays where it stopped.
* ``percentComplete`` grows with server (monotonic) time over the job's duration in uneven
  steps, never decreases, and is 100.0 only once ``complete``. A job whose file is still
  being generated when its time is up stays ``inProgress`` (at most 99.9) until it is built.
* Files: ``compress: true`` gives a ZIP (deflate) with one member named
  ``{survey name}.{format}`` (the name verbatim: ``/``, ``:`` and non-ASCII included; UTF-8
  name flag set; ``spss`` gives ``.spss`` literally, though real exports probably say
  ``.sav``), served as ``application/zip``. Uncompressed content types are those of §6.1
  (``application/csv``, ``application/tsv``, ``application/json``, ``application/xml``),
  else ``application/octet-stream`` (ndjson, spss).
* CSV/TSV, as recorded: UTF-8 **without** a BOM (``csv_bom=True`` restores the older format
  that had one), CRLF row ends, fields quoted only when they hold the separator, a quote or a
  line break (a question text with a line break gives a quoted header cell with a bare LF
  inside); three header rows (column names, labels, ImportId JSON whose date columns carry the
  export's ``timeZone``, default ``UTC``). Dates are ``YYYY-MM-DD HH:MM:SS`` in that zone.
  ``LastModifiedDate`` (with ``sortByLastModifiedDate``) follows the other metadata columns.
* Question columns follow ``exportColumnMap``, except where recorded exports name columns
  otherwise: a ``Timing`` question gives ``{tag}_First Click``, ``_Last Click``, ``_Page
  Submit``, ``_Click Count`` (ImportIds ``QIDn_FIRST_CLICK`` ..., seconds as decimals and a
  click count); a ``Meta`` (``Browser``) question ``{tag}_Browser``, ``_Version``, ``_Operating
  System``, ``_Resolution`` (ImportIds ``QIDn_BROWSER``, ``_VERSION``, ``_OS``, ``_RESOLUTION``);
  a multiple-answer question one ``{tag}_{n}`` column per choice whose ImportId carries
  ``choiceId`` (``{"ImportId":"QID5","choiceId":"1"}``), labelled ``<question> - Selected
  Choice - <choice>``, plus ``{tag}_{n}_TEXT`` for a choice that takes text. In JSON exports
  a multiple-answer question holds an array of strings, like a single response.
* Metadata ImportIds (and JSON ``values`` keys) are the ``surveyMetadataIds`` names, except
  ``externalReference``, recorded as ``externalDataReference``.
* JSON/NDJSON: ``values`` hold metadata (dates as ISO 8601 UTC with milliseconds,
  ``status``/``progress``/``duration`` numbers, ``finished`` 1 or 0), answers keyed by
  ImportId (``QID1``, ``QID2_TEXT``, ``QID3_1``) with numeric recodes, and embedded data;
  unanswered questions are absent. NDJSON is one response object per ``\\n``-ended line.
* XML is ``<Responses><Response><startDate>...`` with ImportIds as element names; SPSS is an
  opaque byte stream (an ``.sav``-like magic followed by tab-separated data), not a real
  ``.sav`` file.
* Rows come in recorded-date order, or last-modified order with ``sortByLastModifiedDate``;
  ``limit`` keeps the first rows of that order.
* Downloads send ``Accept-Ranges: bytes``, a strong ``ETag`` and ``Last-Modified``; a single
  ``Range`` (``N-``, ``N-M``, ``-S``) answers 206 with ``Content-Range``; an unsatisfiable one
  416 (``Content-Range: bytes */size``); a malformed or multi-range header is ignored (200).
  ``If-Range`` must equal the ``ETag`` or the ``Last-Modified`` date, else the whole file (200).

Responses are never stored: each one is generated on the fly from ``(seed, survey id,
index)``. Per survey the engine keeps only the seeded count and, for responses added or
modified later, their dates and a change sequence number. Built files are cached per file
id (the bytes are served through memoryview slices, never copied per request).
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import csv
import hashlib
import hmac
import io
import math
import random
import re
import secrets
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Final, Literal, NamedTuple
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from qualtrics_async.testing._data import STATUS_LABELS, EmulatorData, Json, extra_survey
from qualtrics_async.testing._faults import Reply
from qualtrics_async.testing._routing import ApiError

FORMATS: Final = ("csv", "tsv", "json", "ndjson", "spss", "xml")
JSON_FORBIDDEN: Final = (
    "includeDisplayOrder",
    "useLabels",
    "formatDecimalAsComma",
    "seenUnansweredRecode",
    "multiselectSeenUnansweredRecode",
    "timeZone",
    "newlineReplacement",
    "breakoutSets",
)
"""Parameters Qualtrics rejects with ``format`` ``json``/``ndjson`` (qualtrics-api.md §6.2)."""

CONTENT_TYPES: Final = {
    "csv": "application/csv",
    "tsv": "application/tsv",
    "json": "application/json",
    "xml": "application/xml",
    "ndjson": "application/octet-stream",
    "spss": "application/octet-stream",
}
ZIP_CONTENT_TYPE: Final = "application/zip"

DEFAULT_EXPORT_SECONDS: Final = 1.5
FILE_TTL: Final = 7 * 86_400.0
"""Export files expire one week after the export completes (qualtrics-api.md §6.1)."""
CONTINUATION_TOKEN_TTL: Final = 7 * 86_400.0
"""Continuation tokens expire after a week (qualtrics-api.md §6.2)."""
MAX_FILE_BYTES: Final = 1_800_000_000
"""Exports larger than 1.8 GB fail (§6.1); measured on the uncompressed data."""

_SCALE_RESPONSES = 10_000  # the default duration grows by export_seconds per this many responses
_INLINE_BUILD_BYTES = 2_000_000  # smaller files are built in the POST handler itself
_CHUNK_CHARS = 1 << 20
_SPLICE_MIN = 256  # answers at least this long bypass the csv module (see _Plan._csv_cells)
_PLACEHOLDER = "\ue000"  # a private-use character no generated answer contains
_ZIP_LEVEL = 1
_DAY_MS = 86_400_000
_SEEDED_SPAN_MS = 90 * _DAY_MS
_ADDED_SPAN_MS = 30 * _DAY_MS

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ALNUM_TABLE = bytes(ord(_ALNUM[b % len(_ALNUM)]) for b in range(256))
_QID = re.compile(r"QID\d+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ISO_WITH_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_XML_NAME = re.compile(r"[^A-Za-z0-9_.-]")

_BOOL_PARAMS: Final = frozenset(
    {
        "compress",
        "useLabels",
        "includeLabelColumns",
        "includeDisplayOrder",
        "formatDecimalAsComma",
        "breakoutSets",
        "exportResponsesInProgress",
        "sortByLastModifiedDate",
        "allowContinuation",
    }
)
_INT_PARAMS: Final = frozenset({"limit", "seenUnansweredRecode", "multiselectSeenUnansweredRecode"})
_STR_PARAMS: Final = frozenset({"timeZone", "newlineReplacement", "filterId", "continuationToken"})
_DATE_PARAMS: Final = frozenset({"startDate", "endDate"})
_LIST_PARAMS: Final = frozenset({"questionIds", "embeddedDataIds", "surveyMetadataIds"})
PARAMETERS: Final = frozenset({"format"} | _BOOL_PARAMS | _INT_PARAMS | _STR_PARAMS | _DATE_PARAMS | _LIST_PARAMS)
"""Every body parameter of ``POST /surveys/{surveyId}/export-responses`` (§6.2)."""


def _bad(message: str, code: str = "BRE_0.1") -> ApiError:
    return ApiError(400, message, code)


# --- metadata columns --------------------------------------------------------------------------


class _Meta(NamedTuple):
    key: str  # surveyMetadataIds value
    column: str  # CSV row 1
    label: str  # CSV row 2
    is_date: bool
    import_id: str = ""  # ImportId and JSON values key, when not ``key``

    @property
    def field(self) -> str:
        """The ImportId (CSV row 3) and JSON ``values`` key."""
        return self.import_id or self.key


_METADATA: Final = (
    _Meta("startDate", "StartDate", "Start Date", True),
    _Meta("endDate", "EndDate", "End Date", True),
    _Meta("status", "Status", "Response Type", False),
    _Meta("ipAddress", "IPAddress", "IP Address", False),
    _Meta("progress", "Progress", "Progress", False),
    _Meta("duration", "Duration (in seconds)", "Duration (in seconds)", False),
    _Meta("finished", "Finished", "Finished", False),
    _Meta("recordedDate", "RecordedDate", "Recorded Date", True),
    _Meta("_recordId", "ResponseId", "Response ID", False),
    _Meta("recipientLastName", "RecipientLastName", "Recipient Last Name", False),
    _Meta("recipientFirstName", "RecipientFirstName", "Recipient First Name", False),
    _Meta("recipientEmail", "RecipientEmail", "Recipient Email", False),
    # Requested as externalReference (docs/exports.md), recorded as ImportId/values key externalDataReference.
    _Meta("externalReference", "ExternalReference", "External Data Reference", False, "externalDataReference"),
    _Meta("locationLatitude", "LocationLatitude", "Location Latitude", False),
    _Meta("locationLongitude", "LocationLongitude", "Location Longitude", False),
    _Meta("distributionChannel", "DistributionChannel", "Distribution Channel", False),
    _Meta("userLanguage", "UserLanguage", "User Language", False),
)
_METADATA_KEYS: Final = frozenset(m.key for m in _METADATA)
_LAST_MODIFIED = _Meta("lastModifiedDate", "LastModifiedDate", "Last Modified Date", True)
_STATUSES: Final = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 16)
_CHANNELS: Final = ("anonymous", "anonymous", "email", "email", "gl", "smsinvite")
_LANGUAGES: Final = ("EN", "EN", "EN", "DE", "ES", "FR", "JA", "PT-BR")
_FIRST: Final = ("Ana", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Jürgen", "Léa", "Mei", "Søren", "Zoë", "Olu")
_LAST: Final = ("Abara", "Brown", "Dubois", "García", "Ito", "Müller", "O'Brien", "Petrov", "Weiß", "Smith")
# Answers that trip naive parsers: separators, quotes, line breaks, unicode, a formula look-alike.
_TEXTS: Final = (
    "Great service, thanks!",
    'She said "wow" twice',
    "Line one\nLine two",
    "Zoë — très bien ☕",
    "Fine.",
    "semicolon; and a\ttab",
    'Quote "inside", a comma, and\r\na CRLF',
    "顧客満足度は高いです",
    "  leading and trailing spaces  ",
    "=1+1 (not a formula)",
    "😀 emoji",
    "",
)
_SOURCES: Final = ("email", "web", "qr, code", 'partner "A"', "")
_WORDS: Final = (
    *("the", "service", "was", "quick", "and", "friendly,", "although", "the", "wait", "felt", "long"),
    *("our", "team", "über-liked", "the", "café;", "prices", "were", "fair", "ok", "2024,"),
    *('"really"', "good.", "Zürich", "naïve", "déjà-vu", "—", "☕"),
)


class _Response(NamedTuple):
    response_id: str
    start_ms: int
    end_ms: int
    recorded_ms: int
    modified_ms: int
    status: int
    ip: str
    progress: int
    duration: int
    finished: bool
    last_name: str
    first_name: str
    email: str
    external_reference: str
    latitude: float
    longitude: float
    channel: str
    language: str
    answers: tuple[int | float | str | None, ...]  # one per question column
    embedded: tuple[str, ...]  # one per embedded-data field


@dataclass(frozen=True, slots=True)
class _Column:
    """One question column of a survey (one ``exportColumnMap`` entry, or one recorded built-in column)."""

    tag: str  # CSV row 1: the export tag (Q1, Q2_TEXT, Q3_1)
    label: str  # CSV row 2
    key: str  # ImportId and JSON values key (QID1, QID2_TEXT, QID3_1)
    qid: str
    kind: Literal["choice", "text", "long", "multi", "seconds", "count", "meta"]
    choices: tuple[tuple[int, str], ...] = ()
    choice_id: str | None = None  # ImportId "choiceId" of a multiple-answer column
    pool: tuple[str, ...] = ()  # the values a Meta column draws from


_MULTI_SELECTORS: Final = frozenset({"MAVR", "MAHR", "MACOL", "MSB"})
# Meta (Browser) choice -> (column suffix, ImportId suffix, values), as recorded exports name them.
_META_COLUMNS: Final = {
    "Browser": ("Browser", "BROWSER", ("Chrome", "Firefox", "Safari", "Edge")),
    "Version": ("Version", "VERSION", ("124.0.0.0", "125.0", "17.4.1", "123.0.2420.97")),
    "Operating System": ("Operating System", "OS", ("Windows NT 10.0", "Macintosh", "iPhone", "Linux x86_64")),
    "Screen Resolution": ("Resolution", "RESOLUTION", ("1920x1080", "1440x900", "390x844", "2560x1440")),
}


def _builtin_columns(qid: str, question: Json) -> list[_Column]:
    """The recorded export columns of a Timing, Meta or multiple-answer question."""
    name = str(question.get("questionName") or qid)
    text = str(question.get("questionText", name))
    qtype = question.get("questionType", {})
    choices: Json = question.get("choices", {})
    columns: list[_Column] = []
    if qtype.get("type") == "Timing":
        for choice in choices.values():
            measure = str(choice["choiceText"])
            kind: Literal["seconds", "count"] = "count" if measure == "Click Count" else "seconds"
            key = f"{qid}_{measure.upper().replace(' ', '_')}"
            columns.append(_Column(f"{name}_{measure}", f"{text} - {measure}", key, qid, kind))
    elif qtype.get("type") == "Meta":
        for choice in choices.values():
            known = _META_COLUMNS.get(str(choice["choiceText"]))
            if known is not None:  # recorded exports leave Flash Version, Java Support, User Agent out
                suffix, import_suffix, pool = known
                columns.append(
                    _Column(f"{name}_{suffix}", f"{text} - {suffix}", f"{qid}_{import_suffix}", qid, "meta", pool=pool)
                )
    else:
        for number, choice in choices.items():
            choice_text = str(choice["choiceText"])
            recode = int(choice.get("recode", number))
            columns.append(
                _Column(
                    f"{name}_{number}",
                    f"{text} - Selected Choice - {choice_text}",
                    qid,
                    qid,
                    "multi",
                    ((recode, choice_text),),
                    choice_id=str(number),
                )
            )
            if "textEntry" in choice:
                label = f"{text} - {choice_text} - Text"
                columns.append(_Column(f"{name}_{number}_TEXT", label, f"{qid}_{number}_TEXT", qid, "text"))
    return columns


def _layout(detail: Json) -> tuple[tuple[_Column, ...], tuple[str, ...]]:
    """Question columns (``exportColumnMap`` order) and embedded-data field names."""
    questions: Json = detail.get("questions", {})
    columns: list[_Column] = []
    builtin: set[str] = set()
    for tag, info in detail.get("exportColumnMap", {}).items():
        qid = str(info["question"])
        question: Json = questions.get(qid, {})
        text = str(question.get("questionText", tag))
        qtype = question.get("questionType", {}).get("type")
        selector = question.get("questionType", {}).get("selector")
        if qtype in ("Timing", "Meta") or (qtype == "MC" and selector in _MULTI_SELECTORS):
            if qid not in builtin:
                builtin.add(qid)
                columns.extend(_builtin_columns(qid, question))
            continue
        choices = tuple(
            (int(c.get("recode", number)), str(c["choiceText"])) for number, c in question.get("choices", {}).items()
        )
        sub = info.get("subQuestion")
        if qtype == "TE":
            long = question.get("questionType", {}).get("selector") == "ESTB"
            columns.append(_Column(tag, text, f"{qid}_TEXT", qid, "long" if long else "text"))
        elif sub:
            number = str(sub).rsplit(".", 1)[-1]
            sub_text = question.get("subQuestions", {}).get(number, {}).get("choiceText", number)
            columns.append(_Column(tag, f"{text} - {sub_text}", f"{qid}_{number}", qid, "choice", choices))
        else:
            columns.append(_Column(tag, text, qid, qid, "choice", choices or ((1, "Yes"), (2, "No"))))
    embedded = tuple(str(e["name"]) for e in detail.get("embeddedData", []))
    return tuple(columns), embedded


class _Generator:
    """Generates any response of one survey from ``(seed, survey id, index)``, on demand."""

    def __init__(self, seed: int, survey_id: str, detail: Json, answer_size: int) -> None:
        self.survey_id = survey_id
        self.columns, self.embedded = _layout(detail)
        self._key = f"{seed}:{survey_id}:".encode()
        self.answer_size = answer_size
        self._pool = ""
        if answer_size > 0 and any(c.kind == "long" for c in self.columns):
            rng = random.Random(f"long-text:{seed}:{survey_id}")  # noqa: S311 - reproducible test data
            words: list[str] = []
            length = 0
            while length < 65_536:
                word = rng.choice(_WORDS) if rng.random() >= 0.01 else "\n"
                words.append(word)
                length += len(word) + 1
            pool = " ".join(words)
            self._pool = pool * (answer_size // len(pool) + 2)

    def response_id(self, index: int) -> str:
        return "R_" + self._digest(index)[:15].translate(_ALNUM_TABLE).decode()

    def _digest(self, index: int) -> bytes:
        return hashlib.blake2b(self._key + index.to_bytes(8, "little"), digest_size=64).digest()

    def response(self, index: int, recorded_ms: int, modified_ms: int) -> _Response:
        d = self._digest(index)
        response_id = "R_" + d[:15].translate(_ALNUM_TABLE).decode()
        duration = 20 + ((d[16] << 8) | d[17]) % 1800
        finished = d[18] % 10 != 0
        channel = _CHANNELS[d[19] % len(_CHANNELS)]
        known = channel in ("email", "smsinvite")
        first, last = _FIRST[d[20] % len(_FIRST)], _LAST[d[21] % len(_LAST)]
        answers: list[int | float | str | None] = []
        for position, column in enumerate(self.columns):
            byte = d[(24 + 3 * position) % 64] ^ (position * 37 & 0xFF)
            if column.kind == "seconds":
                answers.append(round(0.5 + byte * 0.173, 3))
            elif column.kind == "count":
                answers.append(byte % 24)
            elif column.kind == "meta":
                answers.append(column.pool[byte % len(column.pool)])
            elif column.kind == "multi":
                answers.append(column.choices[0][0] if byte % 3 == 0 else None)
            elif column.kind == "long":
                if self.answer_size:
                    start = ((d[60] << 8) | d[61]) % 65_536
                    answers.append(self._pool[start : start + self.answer_size])
                else:
                    answers.append(_TEXTS[byte % len(_TEXTS)] or None)
            elif column.kind == "text":
                answers.append(_TEXTS[byte % len(_TEXTS)] or None)
            elif byte % 13 == 0 or not column.choices:
                answers.append(None)
            else:
                answers.append(column.choices[byte % len(column.choices)][0])
        embedded = tuple(_SOURCES[(d[62] + n) % len(_SOURCES)] for n in range(len(self.embedded)))
        return _Response(
            response_id=response_id,
            start_ms=recorded_ms - duration * 1000 - d[22] * 4,
            end_ms=recorded_ms - d[23] * 4,
            recorded_ms=recorded_ms,
            modified_ms=modified_ms,
            status=_STATUSES[d[15] % len(_STATUSES)],
            ip=f"{d[24] % 223 + 1}.{d[25]}.{d[26]}.{d[27] % 254 + 1}",
            progress=100 if finished else 5 + d[28] % 90,
            duration=duration,
            finished=finished,
            last_name=last if known else "",
            first_name=first if known else "",
            email=f"respondent.{index}@example.com" if known else "",
            external_reference=f"EXT-{index:06d}" if d[29] % 3 == 0 else "",
            latitude=round((((d[30] << 8) | d[31]) / 65_535 - 0.5) * 180, 4),
            longitude=round((((d[32] << 8) | d[33]) / 65_535 - 0.5) * 360, 4),
            channel=channel,
            language=_LANGUAGES[d[34] % len(_LANGUAGES)],
            answers=tuple(answers),
            embedded=embedded,
        )


# --- per-survey response bookkeeping -------------------------------------------------------------


@dataclass(slots=True)
class _Added:
    recorded_ms: int
    modified_ms: int
    seq: int


@dataclass(eq=False, slots=True)
class _SurveyResponses:
    """What the engine stores per survey: counts and the dates of later changes only."""

    base_count: int
    first_ms: int
    span_ms: int
    answer_size: int
    added: list[_Added] = field(default_factory=list)
    modified: dict[int, tuple[int, int]] = field(default_factory=dict)  # index -> (modified_ms, seq)
    generator: _Generator | None = None

    @property
    def count(self) -> int:
        return self.base_count + len(self.added)

    def base_dates(self, index: int) -> tuple[int, int]:
        """(recorded, last modified) of a seeded response: increasing with the index."""
        step = max(1, self.span_ms // max(1, self.base_count))
        recorded = self.first_ms + index * step + (index * 2_654_435_761) % step
        recorded -= recorded % 1000  # seeded responses have whole seconds
        modified = recorded if index % 7 else recorded + (index * 7_919_000) % (3 * _DAY_MS)
        return recorded, min(modified, max(recorded, self.first_ms + self.span_ms))


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """A survey's responses as they were when an export started."""

    base: _SurveyResponses
    base_count: int
    added: tuple[_Added, ...]
    modified: Mapping[int, tuple[int, int]]
    seq: int

    @property
    def count(self) -> int:
        return self.base_count + len(self.added)

    def rows(self, since_seq: int | None) -> Iterator[tuple[int, int, int]]:
        """``(index, recorded_ms, modified_ms)`` of every response (changed after ``since_seq``)."""
        modified = self.modified
        for index in range(self.base_count):
            change = modified.get(index)
            if since_seq is not None and (change is None or change[1] <= since_seq):
                continue
            recorded, last = self.base.base_dates(index)
            yield index, recorded, last if change is None else change[0]
        for offset, added in enumerate(self.added):
            index = self.base_count + offset
            change = modified.get(index)
            seq = added.seq if change is None else max(added.seq, change[1])
            if since_seq is not None and seq <= since_seq:
                continue
            yield index, added.recorded_ms, added.modified_ms if change is None else change[0]


# --- export requests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    format: str
    compress: bool
    start_ms: int | None
    end_ms: int | None
    limit: int | None
    use_labels: bool
    seen_unanswered: int | None
    decimal_comma: bool
    time_zone: str
    newline_replacement: str | None
    question_ids: frozenset[str] | None
    embedded_ids: frozenset[str] | None
    metadata_ids: frozenset[str] | None
    in_progress_only: bool
    by_last_modified: bool
    continuation: bool
    token_seq: int | None


def _type_name(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null"
    )


def _parse_date(name: str, value: str) -> int:
    if not _ISO_WITH_ZONE.fullmatch(value):
        raise _bad(
            f"Invalid value for '{name}': {value!r}. Use an ISO 8601 date-time with a zone, e.g. 2024-03-01T00:00:00Z."
        )
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(f"Invalid value for '{name}': {value!r} is not a valid date-time.") from None
    return int(moment.timestamp() * 1000)


def _check_types(body: Json) -> None:
    for name, value in body.items():
        if name == "format":
            if not isinstance(value, str):
                raise _bad(f"Invalid type for 'format': expected a string, got {_type_name(value)}.")
            if value not in FORMATS:
                raise _bad(f"Invalid value for 'format': {value!r}. Expected one of: {', '.join(FORMATS)}.")
        elif name in _BOOL_PARAMS:
            if not isinstance(value, bool):
                raise _bad(f"Invalid type for '{name}': expected a boolean, got {_type_name(value)}.")
        elif name in _INT_PARAMS:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _bad(f"Invalid type for '{name}': expected an integer, got {_type_name(value)}.")
            if name == "limit" and value < 1:
                raise _bad(f"Invalid value for 'limit': {value} (expected an integer >= 1).")
        elif name in _STR_PARAMS or name in _DATE_PARAMS:
            if not isinstance(value, str):
                raise _bad(f"Invalid type for '{name}': expected a string, got {_type_name(value)}.")
            if not value and name != "newlineReplacement":
                raise _bad(f"Invalid value for '{name}': it must not be empty.")
        elif name in _LIST_PARAMS and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise _bad(f"Invalid type for '{name}': expected an array of strings, got {_type_name(value)}.")


def _decode_body(raw: bytes) -> Json:
    try:
        body = msgspec.json.decode(raw) if raw.strip() else None
    except msgspec.DecodeError as exc:
        raise _bad(f"Malformed JSON in the request body: {exc}.") from None
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object with at least 'format'.")
    unknown = sorted(set(body) - PARAMETERS)
    if unknown:
        hints = [p for name in unknown for p in PARAMETERS if p.lower() == name.lower()]
        hint = f" Parameter names are case-sensitive: did you mean {', '.join(map(repr, hints))}?" if hints else ""
        raise _bad(f"Unknown parameter(s): {', '.join(map(repr, unknown))}.{hint}")
    if "format" not in body:
        raise _bad("Missing required parameter 'format'.")
    _check_types(body)
    return body


def _check_combinations(body: Json) -> None:
    fmt = body["format"]
    if fmt in ("json", "ndjson"):
        forbidden = [name for name in JSON_FORBIDDEN if name in body]
        if forbidden:
            raise _bad(f"Parameter(s) not allowed with format {fmt!r}: {', '.join(map(repr, forbidden))}.")
    pairs = (
        ("filterId", "sortByLastModifiedDate", "filterId cannot be combined with sortByLastModifiedDate."),
        ("filterId", "allowContinuation", "filterId cannot be combined with allowContinuation."),
        (
            "continuationToken",
            "allowContinuation",
            "Send either continuationToken or allowContinuation, not both (a token implies allowContinuation).",
        ),
        ("useLabels", "includeLabelColumns", "useLabels cannot be combined with includeLabelColumns."),
    )
    for first, second, message in pairs:
        if first in body and second in body:
            raise _bad(f"Invalid combination of '{first}' and '{second}': {message}")
    if "filterId" in body and not _UUID.fullmatch(body["filterId"]):
        raise _bad(f"Invalid value for 'filterId': {body['filterId']!r} is not a filter id (a UUID).")


def _id_set(body: Json, name: str, allowed: Sequence[str], what: str) -> frozenset[str] | None:
    if name not in body:
        return None
    values: list[str] = body[name]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise _bad(f"Invalid value(s) in '{name}': {', '.join(map(repr, unknown))} ({what}).")
    return frozenset(values)


# --- file generation -----------------------------------------------------------------------------


class _Cancelled(Exception):
    """The emulator closed while a file was being built."""


class _TooLarge(Exception):
    """The uncompressed data exceeded the size limit."""


def _utc_iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class _Sink:
    """A file-like ``write`` that appends each csv row to a list."""

    __slots__ = ("write",)

    def __init__(self, parts: list[str]) -> None:
        self.write = parts.append


def _quote(text: str, delimiter: str) -> str:
    """What ``csv.QUOTE_MINIMAL`` writes for one field."""
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if delimiter in text or "\n" in text or "\r" in text:
        return f'"{text}"'
    return text


def _date_formatter(zone: str) -> Callable[[int], str]:
    if zone == "UTC":
        return lambda ms: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000))
    tz: tzinfo = ZoneInfo(zone)
    return lambda ms: datetime.fromtimestamp(ms // 1000, tz).strftime("%Y-%m-%d %H:%M:%S")


class _Plan:
    """Everything one export's file needs, fixed when the export starts."""

    def __init__(
        self, generator: _Generator, snapshot: _Snapshot, options: _Options, name: str, *, bom: bool = False
    ) -> None:
        self.generator = generator
        self.snapshot = snapshot
        self.options = options
        self.survey_name = name
        self.bom = bom
        keys = options.metadata_ids
        self.metadata = [m for m in _METADATA if keys is None or m.key in keys]
        if options.by_last_modified and not options.in_progress_only:
            self.metadata.append(_LAST_MODIFIED)
        self.columns = [
            (n, c)
            for n, c in enumerate(generator.columns)
            if options.question_ids is None or c.qid in options.question_ids
        ]
        self.embedded = [
            (n, e)
            for n, e in enumerate(generator.embedded)
            if options.embedded_ids is None or e in options.embedded_ids
        ]

    def estimated_bytes(self) -> int:
        long = self.generator.answer_size if any(c.kind == "long" for _n, c in self.columns) else 0
        return self.snapshot.count * (400 + long) + 2_000

    def selected(self) -> list[tuple[int, int, int]]:
        """The rows this export holds, in file order."""
        options = self.options
        if options.in_progress_only:
            return []
        by_modified = options.by_last_modified
        start, end = options.start_ms, options.end_ms
        rows = []
        for row in self.snapshot.rows(options.token_seq):
            moment = row[2] if by_modified else row[1]
            if (start is None or moment >= start) and (end is None or moment < end):
                rows.append(row)
        rows.sort(key=(lambda r: (r[2], r[0])) if by_modified else (lambda r: (r[1], r[0])))
        return rows if options.limit is None else rows[: options.limit]

    # -- csv / tsv -----------------------------------------------------------------------------

    def _csv_cells(self, delimiter: str | None = None) -> tuple[Callable[[_Response], list[str]], list[str]]:
        """A row renderer, and the list it puts pre-quoted long answers in (with ``delimiter``).

        The csv module is slow on long fields, so with a ``delimiter`` each long answer is
        quoted here and the row holds :data:`_PLACEHOLDER` where the caller splices it in.
        """
        spliced: list[str] = []
        options = self.options
        date = _date_formatter(options.time_zone)
        labels = options.use_labels
        comma = options.decimal_comma
        seen = "" if options.seen_unanswered is None else str(options.seen_unanswered)
        replacement = options.newline_replacement

        def decimal(value: float) -> str:
            text = f"{value:.4f}"
            return text.replace(".", ",") if comma else text

        def text_of(value: str) -> str:
            if replacement is None:
                return value
            return value.replace("\r\n", replacement).replace("\n", replacement).replace("\r", replacement)

        meta: dict[str, Callable[[_Response], str]] = {
            "startDate": lambda r: date(r.start_ms),
            "endDate": lambda r: date(r.end_ms),
            "status": (lambda r: STATUS_LABELS[r.status]) if labels else (lambda r: str(r.status)),
            "ipAddress": lambda r: r.ip,
            "progress": lambda r: str(r.progress),
            "duration": lambda r: str(r.duration),
            "finished": (lambda r: "True" if r.finished else "False") if labels else (lambda r: str(int(r.finished))),
            "recordedDate": lambda r: date(r.recorded_ms),
            "_recordId": lambda r: r.response_id,
            "recipientLastName": lambda r: r.last_name,
            "recipientFirstName": lambda r: r.first_name,
            "recipientEmail": lambda r: r.email,
            "externalReference": lambda r: r.external_reference,
            "locationLatitude": lambda r: decimal(r.latitude),
            "locationLongitude": lambda r: decimal(r.longitude),
            "distributionChannel": lambda r: r.channel,
            "userLanguage": lambda r: r.language,
            "lastModifiedDate": lambda r: date(r.modified_ms),
        }
        getters = [meta[m.key] for m in self.metadata]
        questions = [(n, c, dict(c.choices)) for n, c in self.columns]
        embedded = [n for n, _e in self.embedded]

        def cells(r: _Response) -> list[str]:
            row = [get(r) for get in getters]
            for n, column, choice_text in questions:
                value = r.answers[n]
                if value is None:
                    row.append(seen if column.kind == "choice" else "")
                elif isinstance(value, str):
                    text = text_of(value)
                    if delimiter is not None and len(text) >= _SPLICE_MIN:
                        spliced.append(_quote(text, delimiter))
                        row.append(_PLACEHOLDER)
                    else:
                        row.append(text)
                elif isinstance(value, float):
                    row.append(str(value).replace(".", ",") if comma else str(value))
                elif column.kind == "count":
                    row.append(str(value))
                else:
                    row.append(choice_text[value] if labels else str(value))
            row.extend(r.embedded[n] for n in embedded)
            return row

        return cells, spliced

    def _csv_headers(self) -> list[list[str]]:
        zone = self.options.time_zone
        names = [m.column for m in self.metadata] + [c.tag for _n, c in self.columns] + [e for _n, e in self.embedded]
        labels = [m.label for m in self.metadata] + [c.label for _n, c in self.columns]
        labels += [e for _n, e in self.embedded]
        compact = msgspec.json.encode
        imports = [
            compact({"ImportId": m.field, "timeZone": zone} if m.is_date else {"ImportId": m.field}).decode()
            for m in self.metadata
        ]
        imports += [
            compact({"ImportId": c.key, "choiceId": c.choice_id} if c.choice_id else {"ImportId": c.key}).decode()
            for _n, c in self.columns
        ]
        imports += [compact({"ImportId": e}).decode() for _n, e in self.embedded]
        return [names, labels, imports]

    def _delimited(
        self, rows: list[tuple[int, int, int]], delimiter: str, tick: Callable[[int], None]
    ) -> Iterator[str]:
        parts: list[str] = ["\ufeff"] if self.bom else []
        writer = csv.writer(_Sink(parts), delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerows(self._csv_headers())
        cells, spliced = self._csv_cells(delimiter)
        response = self.generator.response
        size = 0
        for done, (index, recorded, modified) in enumerate(rows, start=1):
            writer.writerow(cells(response(index, recorded, modified)))
            size += len(parts[-1])
            if spliced:
                pieces = parts.pop().split(_PLACEHOLDER)
                for piece, long in zip(pieces, spliced, strict=False):
                    parts.append(piece)
                    parts.append(long)
                    size += len(long)
                parts.append(pieces[-1])
                spliced.clear()
            if size >= _CHUNK_CHARS:
                yield "".join(parts)
                parts.clear()
                size = 0
                tick(done)
        yield "".join(parts)

    # -- json / ndjson -------------------------------------------------------------------------

    def _json_object(self) -> Callable[[_Response], Json]:
        meta: dict[str, Callable[[_Response], Any]] = {
            "startDate": lambda r: _utc_iso(r.start_ms),
            "endDate": lambda r: _utc_iso(r.end_ms),
            "status": lambda r: r.status,
            "ipAddress": lambda r: r.ip,
            "progress": lambda r: r.progress,
            "duration": lambda r: r.duration,
            "finished": lambda r: int(r.finished),
            "recordedDate": lambda r: _utc_iso(r.recorded_ms),
            "_recordId": lambda r: r.response_id,
            "recipientLastName": lambda r: r.last_name,
            "recipientFirstName": lambda r: r.first_name,
            "recipientEmail": lambda r: r.email,
            "externalReference": lambda r: r.external_reference,
            "locationLatitude": lambda r: f"{r.latitude:.4f}",
            "locationLongitude": lambda r: f"{r.longitude:.4f}",
            "distributionChannel": lambda r: r.channel,
            "userLanguage": lambda r: r.language,
            "lastModifiedDate": lambda r: _utc_iso(r.modified_ms),
        }
        getters = [(m.field, meta[m.key]) for m in self.metadata]
        questions = [(n, c, dict(c.choices)) for n, c in self.columns]
        embedded = [(n, e) for n, e in self.embedded]
        displayed_fields = list(dict.fromkeys(c.key for _n, c in self.columns))
        displayed_values: dict[str, list[int]] = {}
        for _n, c in self.columns:
            if c.choices:
                displayed_values.setdefault(c.key, []).extend(recode for recode, _t in c.choices)
        with_status = any(m.key == "status" for m in self.metadata)
        with_finished = any(m.key == "finished" for m in self.metadata)

        def build(r: _Response) -> Json:
            values: Json = {key: get(r) for key, get in getters}
            labels: Json = {}
            if with_status:
                labels["status"] = STATUS_LABELS[r.status]
            if with_finished:
                labels["finished"] = "True" if r.finished else "False"
            for n, column, choice_text in questions:
                value = r.answers[n]
                if value is None:
                    continue
                if column.kind == "multi":  # an array of strings, like a recorded single response
                    values.setdefault(column.key, []).append(str(value))
                    labels.setdefault(column.key, []).append(choice_text[int(value)])
                    continue
                values[column.key] = value
                if column.kind == "choice" and not isinstance(value, str):
                    labels[column.key] = choice_text[int(value)]
            for n, name in embedded:
                values[name] = r.embedded[n]
            return {
                "responseId": r.response_id,
                "values": values,
                "labels": labels,
                "displayedFields": displayed_fields,
                "displayedValues": displayed_values,
            }

        return build

    def _json_lines(
        self, rows: list[tuple[int, int, int]], tick: Callable[[int], None], *, nd: bool
    ) -> Iterator[bytes]:
        encode = msgspec.json.Encoder().encode
        build = self._json_object()
        response = self.generator.response
        parts: list[bytes] = [] if nd else [b'{"responses":[']
        size = 0
        for done, (index, recorded, modified) in enumerate(rows, start=1):
            item = encode(build(response(index, recorded, modified)))
            if nd:
                parts.append(item + b"\n")
            else:
                parts.append(item if done == 1 else b"," + item)
            size += len(item)
            if size >= _CHUNK_CHARS:
                yield b"".join(parts)
                parts, size = [], 0
                tick(done)
        if not nd:
            parts.append(b"]}")
        yield b"".join(parts)

    # -- xml / spss ----------------------------------------------------------------------------

    def _xml(self, rows: list[tuple[int, int, int]], tick: Callable[[int], None]) -> Iterator[str]:
        cells, _spliced = self._csv_cells()
        names = [m.field for m in self.metadata]
        names += [f"{c.key}_{c.choice_id}" if c.choice_id else c.key for _n, c in self.columns]
        names += [_XML_NAME.sub("_", e) if e[:1].isalpha() else f"_{_XML_NAME.sub('_', e)}" for _n, e in self.embedded]
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Responses>']
        size = 0
        response = self.generator.response
        for done, (index, recorded, modified) in enumerate(rows, start=1):
            values = cells(response(index, recorded, modified))
            item = "".join(f"<{n}>{xml_escape(v)}</{n}>" for n, v in zip(names, values, strict=True))
            parts.append(f"<Response>{item}</Response>")
            size += len(item)
            if size >= _CHUNK_CHARS:
                yield "".join(parts)
                parts, size = [], 0
                tick(done)
        parts.append("</Responses>\n")
        yield "".join(parts)

    def chunks(self, rows: list[tuple[int, int, int]], tick: Callable[[int], None]) -> Iterator[bytes]:
        fmt = self.options.format
        if fmt in ("json", "ndjson"):
            yield from self._json_lines(rows, tick, nd=fmt == "ndjson")
            return
        if fmt == "spss":
            yield b"$FL2@(#) IBM SPSS STATISTICS (qualtrics emulator: opaque data)\x00\n"
            texts: Iterator[str] = self._delimited(rows, "\t", tick)
        elif fmt == "xml":
            texts = self._xml(rows, tick)
        else:
            texts = self._delimited(rows, "," if fmt == "csv" else "\t", tick)
        for text in texts:
            yield text.encode("utf-8")


def _dos_datetime(moment: datetime) -> tuple[int, int]:
    moment = max(moment, datetime(1980, 1, 1, tzinfo=UTC))
    dos_time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    dos_date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    return dos_time, dos_date


class _ZipWriter:
    """A one-member ZIP (deflate) built in memory from streamed chunks.

    The deflate stream ends with a small *stored* block holding the last bytes of the data,
    so one byte there can be flipped (``corrupt_download``) and the archive still inflates,
    to the same length, and only its CRC-32 check fails.
    """

    _TAIL = 64

    def __init__(self, member: str, moment: datetime) -> None:
        self._name = member.encode("utf-8")
        self._flags = 0 if member.isascii() else 0x800  # bit 11: the name is UTF-8
        self._time, self._date = _dos_datetime(moment)
        self._out = io.BytesIO()
        self._out.write(self._local_header(0, 0, 0))
        self._data_start = self._out.tell()
        self._compressor = zlib.compressobj(_ZIP_LEVEL, zlib.DEFLATED, -15)
        self._crc = 0
        self._size = 0
        self._held = b""

    def _local_header(self, crc: int, compressed: int, size: int) -> bytes:
        fixed = struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            self._flags,
            8,
            self._time,
            self._date,
            crc,
            compressed,
            size,
            len(self._name),
            0,
        )
        return fixed + self._name

    def write(self, chunk: bytes) -> None:
        self._crc = zlib.crc32(chunk, self._crc)
        self._size += len(chunk)
        if self._held:
            self._out.write(self._compressor.compress(self._held))
        self._held = chunk

    def finish(self) -> tuple[bytes, int]:
        """The archive, and the offset of a member-data byte that can be flipped."""
        out, held = self._out, self._held
        split = max(0, len(held) - self._TAIL)
        out.write(self._compressor.compress(held[:split]))
        out.write(self._compressor.flush(zlib.Z_SYNC_FLUSH))  # byte-aligned from here
        tail = held[split:]
        out.write(struct.pack("<BHH", 1, len(tail), len(tail) ^ 0xFFFF))  # final stored block
        tail_offset = out.tell()
        out.write(tail)
        compressed = out.tell() - self._data_start
        if max(compressed, self._size) > 0xFFFFFFFF:
            raise _TooLarge
        central_offset = out.tell()
        central = struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 20,  # made by: Unix, version 2.0
            20,
            self._flags,
            8,
            self._time,
            self._date,
            self._crc,
            compressed,
            self._size,
            len(self._name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            0,
        )
        out.write(central + self._name)
        central_size = out.tell() - central_offset
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, central_size, central_offset, 0))
        out.seek(0)
        out.write(self._local_header(self._crc, compressed, self._size))
        return out.getvalue(), tail_offset + len(tail) // 2


@dataclass(eq=False, slots=True)
class _BuiltFile:
    data: bytes
    content_type: str
    etag: str
    last_modified: datetime  # whole seconds, UTC
    corrupt_offset: int  # flipping this byte breaks the file in a detectable way
    rows: int


def _build(plan: _Plan, job: _Job, cancelled: threading.Event, max_bytes: int) -> _BuiltFile:
    """Generate and package the export file (in a worker thread, or inline when small)."""
    rows = plan.selected()
    total = max(1, len(rows))

    def tick(done: int) -> None:
        if cancelled.is_set():
            raise _Cancelled
        job.build_fraction = done / total

    moment = datetime.now(UTC).replace(microsecond=0)
    fmt = plan.options.format
    raw_size = 0
    if plan.options.compress:
        zipper = _ZipWriter(f"{plan.survey_name}.{fmt}", moment)
        for chunk in plan.chunks(rows, tick):
            raw_size += len(chunk)
            if raw_size > max_bytes:
                raise _TooLarge
            zipper.write(chunk)
        data, corrupt_offset = zipper.finish()
        content_type = ZIP_CONTENT_TYPE
    else:
        out = io.BytesIO()
        for chunk in plan.chunks(rows, tick):
            raw_size += len(chunk)
            if raw_size > max_bytes:
                raise _TooLarge
            out.write(chunk)
        data = out.getvalue()
        corrupt_offset = len(data) // 2
        content_type = CONTENT_TYPES[fmt]
    etag = f'"{zlib.crc32(data):08x}-{len(data):x}"'
    job.build_fraction = 1.0
    return _BuiltFile(data, content_type, etag, moment, corrupt_offset, len(rows))


# --- jobs ----------------------------------------------------------------------------------------

JobStatus = Literal["inProgress", "complete", "failed"]
Outcome = Literal["normal", "fail", "stall"]


@dataclass(frozen=True, slots=True)
class ExportJobInfo:
    """A snapshot of one export job (see ``QualtricsEmulator.export_jobs``).

    Attributes:
        progress_id: the ``ES_...`` id returned by the start call.
        survey_id: the survey exported.
        params: the request body as sent (parsed JSON).
        status: the status the last poll reported (``"inProgress"`` until then).
        percent_complete: the ``percentComplete`` last reported.
        file_id: set once a poll has reported ``complete``.
        continuation_token: the token issued at completion, if any.
        outcome: ``"normal"``, or ``"fail"``/``"stall"`` when ``fail_exports``/``stall_exports`` applied.
        duration: seconds of server time the job takes (before any file-building wait).
        rows: responses in the file, once built (``None`` before).
    """

    progress_id: str
    survey_id: str
    params: Json
    status: JobStatus
    percent_complete: float
    file_id: str | None
    continuation_token: str | None
    outcome: Outcome
    duration: float
    rows: int | None


@dataclass(eq=False)
class ExportStats:
    """Export counters (``QualtricsEmulator.export_stats``); zeroed by ``reset_stats``.

    Attributes:
        jobs_started: export jobs created (accepted ``POST .../export-responses``).
        jobs_completed, jobs_failed: jobs whose poll reported ``complete`` / ``failed``.
        files_built, bytes_built: export files generated and their total size.
        downloads: file requests answered 200 (whole file), ``partial_downloads`` 206.
        ranges_ignored, corrupted_downloads: ``ignore_range`` / ``corrupt_download`` applied.
    """

    jobs_started: int = 0
    jobs_completed: int = 0
    jobs_failed: int = 0
    files_built: int = 0
    bytes_built: int = 0
    downloads: int = 0
    partial_downloads: int = 0
    ranges_ignored: int = 0
    corrupted_downloads: int = 0

    def reset(self) -> None:
        """Zero every counter in place."""
        for name in self.__dataclass_fields__:
            setattr(self, name, 0)


@dataclass(eq=False)
class _Job:
    progress_id: str
    survey_id: str
    params: Json
    plan: _Plan | None
    outcome: Outcome
    started: float
    duration: float
    salt: int
    wants_token: bool
    snapshot_seq: int
    status: JobStatus = "inProgress"
    percent: float = 0.0
    build_fraction: float = 0.0
    build: concurrent.futures.Future[_BuiltFile] | None = None
    built: _BuiltFile | None = None
    file_id: str | None = None
    token: str | None = None
    error: Json | None = None
    expired: bool = False

    def info(self) -> ExportJobInfo:
        return ExportJobInfo(
            progress_id=self.progress_id,
            survey_id=self.survey_id,
            params=dict(self.params),
            status=self.status,
            percent_complete=self.percent,
            file_id=self.file_id,
            continuation_token=self.token,
            outcome=self.outcome,
            duration=self.duration,
            rows=None if self.built is None else self.built.rows,
        )

    def stepped_percent(self, fraction: float) -> float:
        """Uneven steps of 2.5-9 points with a little jitter, monotone, at most 99.9."""
        step = 2.5 + (self.salt % 66) / 10
        level = math.floor(fraction * 100 / step)
        jitter = ((self.salt >> 8) + level * 2_654_435_761) % 1000 / 1000 * step * 0.6
        value = min(99.9, round(level * step + (jitter if level else 0.0), 1))
        self.percent = max(self.percent, value)
        return self.percent


@dataclass(eq=False, slots=True)
class _FileEntry:
    survey_id: str
    built: _BuiltFile
    expires: float
    expired: bool = False


# --- the engine -----------------------------------------------------------------------------------


class ExportEngine:
    """The export routes' state: per-survey response bookkeeping, jobs, files and controls.

    Route methods (``start``, ``progress``, ``download``) run on the emulator's event loop;
    controls may be called from any thread (one lock guards the state). Big files are built
    in a worker thread so the loop keeps serving.
    """

    def __init__(
        self,
        data: EmulatorData,
        *,
        seed: int,
        export_seconds: float = DEFAULT_EXPORT_SECONDS,
        file_ttl: float = FILE_TTL,
        max_file_bytes: int = MAX_FILE_BYTES,
        csv_bom: bool = False,
    ) -> None:
        if export_seconds < 0:
            raise ValueError(f"export_seconds must be >= 0, got {export_seconds!r}")
        if file_ttl <= 0:
            raise ValueError(f"file_ttl must be positive, got {file_ttl!r}")
        self.data = data
        self.seed = seed
        self.file_ttl = file_ttl
        self.max_file_bytes = max_file_bytes
        self.csv_bom = csv_bom
        """Whether CSV/TSV files start with a UTF-8 BOM (read when an export starts)."""
        self.stats = ExportStats()
        self._export_seconds = export_seconds
        self._durations: dict[str, float] = {}
        self._lock = threading.RLock()
        self._surveys: dict[str, _SurveyResponses] = {}
        self._seq = 0
        self._jobs: dict[str, _Job] = {}
        self._files: dict[str, _FileEntry] = {}
        self._outcomes: list[list[Any]] = []  # [kind, survey_id | None, remaining]
        self._corrupt = 0
        self._ignore_range = 0
        self._token_epoch = 0
        self._token_key = hashlib.sha256(f"qualtrics-emulator-continuation:{seed}".encode()).digest()
        self._added_surveys = 0
        self._cancelled = threading.Event()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        for survey in data.surveys:
            detail = data.survey_details[survey["id"]]
            count = 5 + hashlib.blake2b(f"{seed}:{survey['id']}:count".encode(), digest_size=2).digest()[0] % 56
            first = int(datetime.fromisoformat(detail["creationDate"].replace("Z", "+00:00")).timestamp() * 1000)
            self._surveys[survey["id"]] = _SurveyResponses(count, first, _SEEDED_SPAN_MS, 0)
            detail["responseCounts"]["auditable"] = count

    def close(self) -> None:
        """Abandon builds in progress and stop the worker thread (a later build starts afresh)."""
        self._cancelled.set()
        self._cancelled = threading.Event()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- controls ----------------------------------------------------------------------------

    def _store(self, survey_id: str) -> _SurveyResponses:
        store = self._surveys.get(survey_id) or self._adopt(survey_id)
        if store is None:
            raise ValueError(f"unknown survey id {survey_id!r}")
        return store

    def _adopt(self, survey_id: str) -> _SurveyResponses | None:
        """A survey created through the API (import, copy, definitions) starts with no responses."""
        if survey_id not in self.data.survey_details:
            return None
        first = int(datetime.now(UTC).timestamp() * 1000) - _ADDED_SPAN_MS
        return self._surveys.setdefault(survey_id, _SurveyResponses(0, first, _ADDED_SPAN_MS, 0))

    def _generator(self, survey_id: str, store: _SurveyResponses) -> _Generator:
        if store.generator is None:
            detail = self.data.survey_details[survey_id]
            store.generator = _Generator(self.seed, survey_id, detail, store.answer_size)
        return store.generator

    def response_count(self, survey_id: str) -> int:
        with self._lock:
            return self._store(survey_id).count

    def add_responses(self, survey_id: str, n: int, recorded_at: datetime | None) -> list[str]:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        if recorded_at is not None and recorded_at.tzinfo is None:
            raise ValueError("recorded_at must be timezone-aware")
        now_ms = time.time_ns() // 1_000_000
        recorded = now_ms if recorded_at is None else int(recorded_at.timestamp() * 1000)
        with self._lock:
            store = self._store(survey_id)
            self._seq += 1
            first = store.count
            store.added.extend(_Added(recorded, max(recorded, now_ms), self._seq) for _ in range(n))
            self.data.survey_details[survey_id]["responseCounts"]["auditable"] = store.count
            generator = self._generator(survey_id, store)
        return [generator.response_id(index) for index in range(first, first + n)]

    def modify_responses(self, survey_id: str, response_ids: Sequence[str]) -> None:
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            store = self._store(survey_id)
            generator = self._generator(survey_id, store)
            wanted = set(response_ids)
            found = {}
            for index in range(store.count):
                response_id = generator.response_id(index)
                if response_id in wanted:
                    found[response_id] = index
                    if len(found) == len(wanted):
                        break
            missing = sorted(wanted - set(found))
            if missing:
                raise ValueError(f"unknown response id(s) for {survey_id}: {missing}")
            self._seq += 1
            for index in found.values():
                store.modified[index] = (now_ms, self._seq)

    def add_survey(self, name: str, responses: int, answer_size: int) -> str:
        if responses < 0 or answer_size < 0:
            raise ValueError("responses and answer_size must be >= 0")
        now = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            self._added_surveys += 1
            element, detail = extra_survey(
                self.seed,
                self._added_surveys,
                name,
                owner_id=self.data.whoami["userId"],
                brand_id=self.data.whoami["brandId"],
                created=now,
                long_text=answer_size > 0,
            )
            survey_id: str = element["id"]
            first = int(now.timestamp() * 1000) - _ADDED_SPAN_MS
            self._surveys[survey_id] = _SurveyResponses(responses, first, _ADDED_SPAN_MS, answer_size)
            detail["responseCounts"]["auditable"] = responses
            self.data.survey_details[survey_id] = detail
            self.data.surveys.append(element)
        return survey_id

    def queue_outcome(self, kind: Outcome, survey_id: str | None, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            if survey_id is not None:
                self._store(survey_id)
            self._outcomes.append([kind, survey_id, times])

    def set_duration(self, seconds: float, survey_id: str | None) -> None:
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        with self._lock:
            if survey_id is None:
                self._export_seconds = seconds
                self._durations.clear()
            else:
                self._store(survey_id)
                self._durations[survey_id] = seconds

    def expire_files(self) -> None:
        with self._lock:
            for entry in self._files.values():
                entry.expired = True
                entry.built.data = b""  # free the memory; the id now answers 404

    def expire_jobs(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.expired = True

    def expire_tokens(self) -> None:
        with self._lock:
            self._token_epoch += 1

    def corrupt_next(self, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            self._corrupt += times

    def ignore_next_range(self, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            self._ignore_range += times

    def jobs(self) -> list[ExportJobInfo]:
        with self._lock:
            return [job.info() for job in self._jobs.values()]

    # -- continuation tokens -----------------------------------------------------------------

    def _sign(self, payload: str) -> str:
        return hmac.new(self._token_key, payload.encode(), hashlib.sha256).hexdigest()[:24]

    def _issue_token(self, survey_id: str, seq: int) -> str:
        payload = f"{survey_id}:{seq}:{self._token_epoch}:{time.monotonic():.3f}:{secrets.token_hex(4)}"
        raw = f"{payload}:{self._sign(payload)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _token_seq(self, survey_id: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            payload, signature = raw.rsplit(":", 1)
            owner, seq_text, epoch_text, issued_text, _nonce = payload.split(":")
            seq, epoch, issued = int(seq_text), int(epoch_text), float(issued_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            signature, owner, seq, epoch, issued, payload = "", "", -1, -1, 0.0, ""
        if seq < 0 or not hmac.compare_digest(signature, self._sign(payload)):
            raise _bad(
                "Invalid value for 'continuationToken': pass the token from a previous export's progress "
                "result unchanged.",
                "BRE_0.7",
            )
        if owner != survey_id:
            raise _bad(f"Invalid value for 'continuationToken': it was issued for another survey ({owner}).", "BRE_0.7")
        if epoch != self._token_epoch or time.monotonic() - issued > CONTINUATION_TOKEN_TTL:
            raise _bad(
                "The 'continuationToken' has expired (tokens last one week). Run a full export with "
                "allowContinuation to get a new one.",
                "BRE_0.8",
            )
        return seq

    # -- routes ------------------------------------------------------------------------------

    def _survey(self, survey_id: str) -> tuple[Json, _SurveyResponses]:
        detail = self.data.survey_details.get(survey_id)
        store = self._surveys.get(survey_id) or self._adopt(survey_id)
        if detail is None or store is None:
            raise ApiError(404, f"Survey {survey_id} was not found.", "RNF_0.1")
        return detail, store

    def _options(self, body: Json, detail: Json, survey_id: str) -> _Options:
        _check_combinations(body)
        start_ms = _parse_date("startDate", body["startDate"]) if "startDate" in body else None
        end_ms = _parse_date("endDate", body["endDate"]) if "endDate" in body else None
        if start_ms is not None and end_ms is not None and start_ms >= end_ms:
            raise _bad("Invalid values for 'startDate' and 'endDate': startDate must be before endDate.")
        zone = body.get("timeZone", "UTC")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad(f"Invalid value for 'timeZone': {zone!r} is not a tz database name.") from None
        question_ids: list[str] = body.get("questionIds", [])
        malformed = [q for q in question_ids if not _QID.fullmatch(q)]
        if malformed:
            raise _bad(f"Invalid value(s) in 'questionIds': {', '.join(map(repr, malformed))} (use QIDs like 'QID1').")
        columns, embedded = _layout(detail)
        qids = list(dict.fromkeys(c.qid for c in columns))
        token_seq = None
        if "continuationToken" in body:
            token_seq = self._token_seq(survey_id, body["continuationToken"])
        return _Options(
            format=body["format"],
            compress=body.get("compress", True),
            start_ms=start_ms,
            end_ms=end_ms,
            limit=body.get("limit"),
            use_labels=body.get("useLabels", False),
            seen_unanswered=body.get("seenUnansweredRecode"),
            decimal_comma=body.get("formatDecimalAsComma", False),
            time_zone=zone,
            newline_replacement=body.get("newlineReplacement"),
            question_ids=_id_set(body, "questionIds", qids, "not a question of this survey"),
            embedded_ids=_id_set(body, "embeddedDataIds", embedded, "not an embedded data field of this survey"),
            metadata_ids=_id_set(body, "surveyMetadataIds", [m.key for m in _METADATA], "not a survey metadata id"),
            in_progress_only=body.get("exportResponsesInProgress", False),
            by_last_modified=body.get("sortByLastModifiedDate", False),
            continuation=body.get("allowContinuation", False) or token_seq is not None,
            token_seq=token_seq,
        )

    def start(self, survey_id: str, raw_body: bytes) -> Json:
        """``POST /surveys/{surveyId}/export-responses``."""
        detail, store = self._survey(survey_id)
        body = _decode_body(raw_body)
        with self._lock:
            options = self._options(body, detail, survey_id)
            snapshot = _Snapshot(store, store.base_count, tuple(store.added), dict(store.modified), self._seq)
            generator = self._generator(survey_id, store)
            outcome: Outcome = "normal"
            for rule in self._outcomes:
                if rule[1] is None or rule[1] == survey_id:
                    outcome = rule[0]
                    rule[2] -= 1
                    if rule[2] <= 0:
                        self._outcomes.remove(rule)
                    break
            duration = self._durations.get(survey_id)
            if duration is None:
                duration = self._export_seconds * (1 + snapshot.count / _SCALE_RESPONSES)
            progress_id = "ES_" + "".join(secrets.choice(_ALNUM) for _ in range(15))
            plan = _Plan(generator, snapshot, options, str(detail["name"]), bom=self.csv_bom)
            job = _Job(
                progress_id=progress_id,
                survey_id=survey_id,
                params=body,
                plan=plan,
                outcome=outcome,
                started=time.monotonic(),
                duration=duration,
                salt=secrets.randbits(32),
                wants_token=options.continuation,
                snapshot_seq=snapshot.seq,
            )
            self._jobs[progress_id] = job
            self.stats.jobs_started += 1
        if outcome == "normal":
            self._start_build(job, plan)
        return {"progressId": progress_id, "percentComplete": 0.0, "status": "inProgress"}

    def _start_build(self, job: _Job, plan: _Plan) -> None:
        if plan.estimated_bytes() <= _INLINE_BUILD_BYTES:
            future: concurrent.futures.Future[_BuiltFile] = concurrent.futures.Future()
            try:
                future.set_result(_build(plan, job, self._cancelled, self.max_file_bytes))
            except Exception as exc:  # noqa: BLE001 - reported as a failed job, like a worker-thread error
                future.set_exception(exc)
            job.build = future
            return
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="qualtrics-export")
            job.build = self._executor.submit(_build, plan, job, self._cancelled, self.max_file_bytes)

    def progress(self, survey_id: str, progress_id: str) -> Json:
        """``GET /surveys/{surveyId}/export-responses/{exportProgressId}``."""
        self._survey(survey_id)
        now = time.monotonic()
        with self._lock:
            job = self._jobs.get(progress_id)
            if job is None or job.survey_id != survey_id or job.expired or now - job.started > self.file_ttl:
                raise ApiError(404, f"Export {progress_id} was not found (unknown or expired progressId).", "RNF_0.1")
            if job.status == "inProgress":
                self._advance(job, now)
            result: Json = {"percentComplete": job.percent, "status": job.status}
            if job.file_id is not None:
                result["fileId"] = job.file_id
            if job.token is not None:
                result["continuationToken"] = job.token
            if job.error is not None:
                result["error"] = dict(job.error)
            return result

    def _advance(self, job: _Job, now: float) -> None:
        elapsed = now - job.started
        time_fraction = 1.0 if job.duration <= 0 else min(1.0, elapsed / job.duration)
        if job.outcome == "stall":
            job.stepped_percent(min(time_fraction, 0.2 + (job.salt % 600) / 1000))
            return
        if job.outcome == "fail":
            if time_fraction >= 1.0:
                self._fail(job, "EXPORT_0.1", "The export failed due to an internal error. Please try again.")
            else:
                job.stepped_percent(time_fraction)
            return
        build = job.build
        if build is None or not build.done():
            job.stepped_percent(min(time_fraction, job.build_fraction))
            return
        if time_fraction < 1.0:
            job.stepped_percent(time_fraction)
            return
        error = build.exception()
        if isinstance(error, _TooLarge):
            self._fail(job, "EXPORT_0.2", "The export is larger than 1.8 GB. Use limit, filters or a date window.")
            return
        if isinstance(error, _Cancelled):
            self._fail(job, "EXPORT_0.1", "The export failed due to an internal error. Please try again.")
            return
        if error is not None:  # a bug in the emulator: say so rather than pretend Qualtrics failed
            self._fail(job, "EXPORT_0.9", f"Emulator error while building the export file: {error!r}")
            return
        built = build.result()
        completed = max(job.started + job.duration, now)
        job.status, job.percent, job.built, job.plan = "complete", 100.0, built, None
        job.file_id = str(uuid.uuid4())
        self._files[job.file_id] = _FileEntry(job.survey_id, built, completed + self.file_ttl)
        if job.wants_token:
            job.token = self._issue_token(job.survey_id, job.snapshot_seq)
        self.stats.jobs_completed += 1
        self.stats.files_built += 1
        self.stats.bytes_built += len(built.data)

    def _fail(self, job: _Job, code: str, message: str) -> None:
        job.status, job.plan, job.build = "failed", None, None
        job.error = {"errorCode": code, "errorMessage": message}
        self.stats.jobs_failed += 1

    def download(self, survey_id: str, file_id: str, headers: Mapping[str, str]) -> Reply:
        """``GET /surveys/{surveyId}/export-responses/{fileId}/file``: the file, or a byte range of it."""
        self._survey(survey_id)
        now = time.monotonic()
        range_header = headers.get("Range")
        with self._lock:
            entry = self._files.get(file_id)
            if entry is not None and not entry.expired and now >= entry.expires:
                entry.expired = True
                entry.built.data = b""
            if entry is None or entry.survey_id != survey_id or entry.expired:
                raise ApiError(404, f"File {file_id} was not found (unknown or expired fileId).", "RNF_0.1")
            built = entry.built
            corrupt = self._corrupt > 0
            if corrupt:
                self._corrupt -= 1
                self.stats.corrupted_downloads += 1
            ignore = range_header is not None and self._ignore_range > 0
            if ignore:
                self._ignore_range -= 1
                self.stats.ranges_ignored += 1
        data: bytes = built.data
        if corrupt:
            flipped = bytearray(data)
            flipped[built.corrupt_offset] ^= 0x20
            data = bytes(flipped)
        size = len(data)
        reply_headers = {
            "Accept-Ranges": "bytes",
            "ETag": built.etag,
            "Last-Modified": format_datetime(built.last_modified, usegmt=True),
        }
        if range_header is not None and not ignore and _if_range_holds(headers.get("If-Range"), built):
            wanted = _parse_range(range_header, size)
            if wanted == "unsatisfiable":
                raise ApiError(
                    416,
                    f"Range {range_header!r} is not satisfiable: the file has {size} bytes.",
                    "BRE_0.9",
                    {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
                )
            if wanted is not None:
                first, last = wanted
                reply_headers["Content-Range"] = f"bytes {first}-{last}/{size}"
                with self._lock:
                    self.stats.partial_downloads += 1
                body = memoryview(data)[first : last + 1]
                return Reply(206, body=body, content_type=built.content_type, headers=reply_headers)
        with self._lock:
            self.stats.downloads += 1
        return Reply(200, body=data, content_type=built.content_type, headers=reply_headers)


def _if_range_holds(validator: str | None, built: _BuiltFile) -> bool:
    """Whether a ``Range`` applies: no ``If-Range``, or one naming this very file (RFC 9110 §13.1.5)."""
    if validator is None:
        return True
    validator = validator.strip()
    if validator.startswith(('"', "W/")):
        return validator == built.etag  # a weak validator never matches
    try:
        moment = parsedate_to_datetime(validator)
    except (TypeError, ValueError):
        return False
    return moment.tzinfo is not None and moment == built.last_modified


def _parse_range(value: str, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """A single byte range as ``(first, last)`` inclusive; ``None`` = ignore the header."""
    found = _RANGE.fullmatch(value.strip())
    if found is None:
        return None  # malformed, another unit, or several ranges: answer with the whole file
    first_text, last_text = found.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # an invalid range: ignored
    if first >= size:
        return "unsatisfiable"
    return first, min(int(last_text), size - 1) if last_text else size - 1
