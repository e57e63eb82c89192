"""``client.responses`` — response imports: ``import_file`` (split into requests of at most 5 MB) and ``import_url``.

An import is an asynchronous job like an export (qualtrics-api.md §7.2): ``POST
/surveys/{surveyId}/import-responses`` starts it, ``GET …/{importProgressId}`` reports
``percentComplete`` and ``status``. Polls are scheduled by the same :class:`PollSchedule` as
exports. A CSV/TSV file larger than one request may carry is split on record boundaries (a
quoted field may hold line breaks), each part repeating the file's header rows, and the parts
are imported one after the other.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import anyio

from qualtrics_async._jobs import wait_for_job
from qualtrics_async._sansio import build_path
from qualtrics_async.errors import (
    ConfigurationError,
    ResponseImportError,
    ResponseImportFailedError,
    ResponseImportTimeoutError,
)
from qualtrics_async.exports._polling import PollSchedule
from qualtrics_async.models.responses import ImportPart, ImportProgress, ImportResult
from qualtrics_async.resources._base import Resource

MAX_IMPORT_BYTES = 5_000_000
"""The most bytes one import request may carry ("max file 5 MB", qualtrics-api.md §7.2, read as 10^6)."""

ImportFormat = Literal["csv", "tsv"]
_CONTENT_TYPES = {"csv": "text/csv", "tsv": "text/tsv"}
_IMPORT_ID_STARTS = (b'{"ImportId"', b'"{""ImportId""')
_BOM = b"\xef\xbb\xbf"
_START = "/surveys/{surveyId}/import-responses"
_PROGRESS = "/surveys/{surveyId}/import-responses/{importProgressId}"


def split_records(data: bytes, max_part_bytes: int = MAX_IMPORT_BYTES) -> tuple[bytes, list[tuple[int, int, int]]]:
    """Split a CSV/TSV file into parts of at most ``max_part_bytes``, header rows included.

    Returns the header (the rows up to the ``{"ImportId": …}`` row within the first three,
    else the first row) and each part as ``(start, end, records)``: the byte range of
    ``data`` that follows the header in that part. Line breaks inside quoted fields stay
    inside their record.

    Raises:
        ConfigurationError: an unbalanced quote, or a record too big for one request.
    """
    bounds = list(_record_bounds(data))
    if not bounds:
        raise ConfigurationError("the file is empty: it needs at least a header row")
    header_rows = 1
    for number, (start, end) in enumerate(bounds[:3], start=1):
        if data[start:end].removeprefix(_BOM).lstrip().startswith(_IMPORT_ID_STARTS):
            header_rows = number
            break
    header_end = bounds[header_rows - 1][1]
    header = data[:header_end]
    if header and not header.endswith(b"\n"):
        header += b"\r\n" if b"\r\n" in header else b"\n"
    room = max_part_bytes - len(header)
    parts: list[tuple[int, int, int]] = []
    start = end = header_end
    count = 0
    for number, (record_start, record_end) in enumerate(bounds[header_rows:], start=header_rows + 1):
        size = record_end - record_start
        if size > room:
            raise ConfigurationError(
                f"record {number} is {size} bytes: with the {len(header)}-byte header it exceeds the "
                f"{max_part_bytes}-byte limit of one import request"
            )
        if end - start + size > room:
            parts.append((start, end, count))
            start, count = record_start, 0
        end, count = record_end, count + 1
    if count or not parts:
        parts.append((start, end, count))
    return header, parts


def _record_bounds(data: bytes) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each record: a line break ends one only outside quotes."""
    start = position = 0
    quotes = 0
    size = len(data)
    while position < size:
        newline = data.find(b"\n", position)
        stop = size if newline < 0 else newline + 1
        quotes += data.count(b'"', position, stop)
        position = stop
        if quotes % 2 == 0:
            if data[start:stop].strip():
                yield start, stop
            start, quotes = stop, 0
    if quotes % 2:
        raise ConfigurationError("the file ends inside a quoted field (an unbalanced '\"'); it is not valid CSV/TSV")


class ResponseImportsMixin(Resource):
    """Import responses from CSV/TSV files (``/surveys/{surveyId}/import-responses``)."""

    __slots__ = ()

    async def import_file(
        self,
        survey_id: str,
        source: str | os.PathLike[str] | bytes,
        *,
        format: ImportFormat | None = None,
        charset: str = "UTF-8",
        max_part_bytes: int = MAX_IMPORT_BYTES,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> ImportResult:
        """Import the responses of a CSV/TSV file (a path or its bytes) and wait until they are in.

        Endpoint: ``POST /surveys/{surveyId}/import-responses`` (100/min).
        Endpoint: ``GET /surveys/{surveyId}/import-responses/{importProgressId}`` (100/min).

        The file has the layout of a response export: one header row, or the three rows of
        an export (names, labels, ``{"ImportId": …}``). Files above ``max_part_bytes``
        (default 5 MB, Qualtrics' limit) are sent in parts split between records, each part
        repeating the header rows; parts are imported in order. Each part carries the
        ``Idempotency-Key`` ``{idempotency_key}-{n}-{digest of the part}`` (a random key when none is given), so a
        retried request is not imported twice, and running the same import again with the
        same key skips the parts Qualtrics already has.

        Args:
            format: ``csv`` or ``tsv``; default from the file name (``.tsv``), else ``csv``.
            timeout: seconds for the whole import, all parts (``None``: no limit).

        Raises:
            ResponseImportFailedError: Qualtrics reported a part ``failed`` (``completed``
                lists the parts imported before it).
            ResponseImportTimeoutError: still running at the deadline.
            ConfigurationError: a record larger than one request, or an unbalanced quote.
        """
        if not 0 < max_part_bytes <= MAX_IMPORT_BYTES:
            raise ConfigurationError(f"max_part_bytes must be in (0, {MAX_IMPORT_BYTES}], got {max_part_bytes!r}")
        if format is None:
            is_tsv = not isinstance(source, bytes) and os.fspath(source).lower().endswith(".tsv")
            format = "tsv" if is_tsv else "csv"
        if format not in _CONTENT_TYPES:
            raise ConfigurationError(f"format must be 'csv' or 'tsv', got {format!r}")
        data = source if isinstance(source, bytes) else await anyio.Path(os.fspath(source)).read_bytes()
        header, spans = await anyio.to_thread.run_sync(split_records, data, max_part_bytes)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        key = idempotency_key or str(uuid.uuid4())
        parts: list[ImportPart] = []
        for number, (start, end, records) in enumerate(spans, start=1):
            content = header + data[start:end]
            # The part's content is in its key: a reused idempotency_key with other data (the
            # next night's file, other part sizes) can never be answered from an old part.
            part_key = f"{key}-{number}-{hashlib.sha256(content).hexdigest()[:16]}"
            progress: ImportProgress = await self._client.request(
                "POST",
                build_path(_START, surveyId=survey_id),
                result_type=ImportProgress,
                content=content,
                content_type=_CONTENT_TYPES[format],
                headers={"charset": charset, "Idempotency-Key": part_key},
                idempotent=True,  # the key makes a repeated request harmless
            )
            part = ImportPart(
                progress_id=_progress_id(progress, survey_id),
                records=records,
                size=len(content),
                idempotency_key=part_key,
            )
            await self._wait_import(survey_id, part.progress_id, deadline, parts)
            parts.append(part)
        return ImportResult(survey_id=survey_id, parts=parts, elapsed=time.monotonic() - started)

    async def import_url(
        self,
        survey_id: str,
        url: str,
        *,
        format: ImportFormat = "csv",
        charset: str = "UTF-8",
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> ImportResult:
        """Import the responses of a CSV/TSV file that Qualtrics fetches from a public URL.

        Endpoint: ``POST /surveys/{surveyId}/import-responses`` (100/min).
        Endpoint: ``GET /surveys/{surveyId}/import-responses/{importProgressId}`` (100/min).

        Without ``idempotency_key`` the start is not retried after an ambiguous failure.

        Raises:
            ResponseImportFailedError, ResponseImportTimeoutError: as for :meth:`import_file`.
        """
        if format not in _CONTENT_TYPES:
            raise ConfigurationError(f"format must be 'csv' or 'tsv', got {format!r}")
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"url must be an http(s) URL Qualtrics can fetch, got {url!r}")
        started = time.monotonic()
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        progress: ImportProgress = await self._client.request(
            "POST",
            build_path(_START, surveyId=survey_id),
            json={"format": format, "fileUrl": url, "charset": charset},
            result_type=ImportProgress,
            headers=headers,
            idempotent=True if idempotency_key is not None else None,
        )
        part = ImportPart(
            progress_id=_progress_id(progress, survey_id), records=None, size=None, idempotency_key=idempotency_key
        )
        deadline = None if timeout is None else started + timeout
        await self._wait_import(survey_id, part.progress_id, deadline, [])
        return ImportResult(survey_id=survey_id, parts=[part], elapsed=time.monotonic() - started)

    async def _wait_import(
        self, survey_id: str, progress_id: str, deadline: float | None, completed: list[ImportPart]
    ) -> None:
        """Poll one import job until it is complete (``deadline`` monotonic)."""
        facts: dict[str, Any] = {"survey_id": survey_id, "progress_id": progress_id, "completed": list(completed)}

        async def fetch() -> ImportProgress:
            progress: ImportProgress = await self._get(
                _PROGRESS, ImportProgress, surveyId=survey_id, importProgressId=progress_id
            )
            return progress

        def finished(progress: ImportProgress) -> bool:
            if progress.status == "complete":
                return True
            if progress.status == "failed":
                error = progress.error
                detail = f": {error.error_message} ({error.error_code})" if error and error.error_message else ""
                failure = ResponseImportFailedError(
                    f"Qualtrics reported import {progress_id} into survey {survey_id} as failed{detail}", **facts
                )
                failure.error_code = error.error_code if error else None
                failure.error_message = error.error_message if error else None
                raise failure
            if progress.status != "inProgress":
                raise ResponseImportFailedError(
                    f"import {progress_id} into survey {survey_id} reports the unknown status {progress.status!r}",
                    **facts,
                )
            return False

        def timed_out(_last: ImportProgress | None) -> ResponseImportTimeoutError:
            return ResponseImportTimeoutError(
                f"import {progress_id} into survey {survey_id} is still running at the deadline; it may "
                "still complete (check the survey's responses before importing again)",
                **facts,
            )

        await wait_for_job(
            fetch,
            progress=lambda progress: progress.percent_complete,
            finished=finished,
            deadline=deadline,
            on_deadline=timed_out,
            schedule=PollSchedule(first_interval=0.5),
        )


def _progress_id(progress: ImportProgress, survey_id: str) -> str:
    if not progress.progress_id:
        raise ResponseImportError(
            f"Qualtrics started an import into survey {survey_id} but gave no progressId to follow it",
            survey_id=survey_id,
        )
    return progress.progress_id


__all__ = [
    "MAX_IMPORT_BYTES",
    "ImportFormat",
    "ResponseImportError",
    "ResponseImportFailedError",
    "ResponseImportTimeoutError",
    "ResponseImportsMixin",
    "split_records",
]
