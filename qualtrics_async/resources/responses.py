"""``client.responses``: survey responses — exports to disk, streamed records, many surveys at once."""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import time
from collections.abc import AsyncGenerator, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

import anyio
import msgspec

from qualtrics_async._decoding import envelope_decoder
from qualtrics_async._logging import logger
from qualtrics_async._safename import path_in, safe_name
from qualtrics_async._sansio import build_path
from qualtrics_async._threads import run_stoppable
from qualtrics_async.errors import (
    ConfigurationError,
    ExportExpiredError,
    ExportFailedError,
    QualtricsError,
)
from qualtrics_async.exports._download import check_destination
from qualtrics_async.exports._extract import extract_single_member, member_name
from qualtrics_async.exports._incremental import SyncRequest, SyncResult, run_incremental
from qualtrics_async.exports._job import (
    Deadline,
    ExportFailure,
    ExportJob,
    ExportResult,
    ExportState,
    ProgressCallback,
    check_timeout,
)
from qualtrics_async.exports._options import ExportFormat, ExportOptions, export_body, file_extension
from qualtrics_async.exports._records import record_decoder
from qualtrics_async.resources._base import Resource
from qualtrics_async.resources._response_imports import ResponseImportsMixin
from qualtrics_async.resources._response_records import ResponseRecordsMixin

_FILE_ID_BYTES = 80
"""The bound of a file id in the hidden archive's name (``.{survey}.{file}.download.part`` < 255 bytes)."""


class _Started(msgspec.Struct):
    """``result`` of ``POST /surveys/{surveyId}/export-responses``."""

    progressId: str
    percentComplete: float = 0.0
    status: str = "inProgress"
    continuationToken: str | None = None


class Responses(ResponseRecordsMixin, ResponseImportsMixin, Resource):
    """Survey responses: export them to files, or stream them as records.

    Example::

        result = await client.responses.export("SV_123", "out/SV_123.zip", format="csv")
        async for record in client.responses.stream("SV_123", format="ndjson"):
            print(record["responseId"])
    """

    __slots__ = ()

    # -- jobs --------------------------------------------------------------------------------

    async def start_export(
        self,
        survey_id: str,
        *,
        format: ExportFormat = "csv",
        timeout: float | None = None,
        **options: Unpack[ExportOptions],
    ) -> ExportJob:
        """Start an export job (``POST /surveys/{surveyId}/export-responses``).

        Every option of qualtrics-api.md §6.2 is a keyword (see :class:`ExportOptions`);
        invalid values and combinations raise before any request. ``timeout`` is the call's
        deadline, retries included (default ``Timeouts.call``).

        Endpoint: ``POST /surveys/{surveyId}/export-responses`` (100/min).

        Raises:
            ConfigurationError: a bad option (the message names it).
            NotFoundError: no such survey.
        """
        body = export_body(format, options)
        check_timeout(timeout)
        session = self._client._open_session
        try:
            path = build_path("/surveys/{surveyId}/export-responses", surveyId=survey_id)
        except ValueError as exc:  # "", "." or "..": a ConfigurationError (a QualtricsError) like any bad argument
            raise ConfigurationError(f"{exc}; pass a survey id such as 'SV_1RHtIM0ZnJiPNhs'") from None
        answer = await session.call("POST", path, json=body, decoder=envelope_decoder(_Started), timeout=timeout)
        started: _Started = answer.result
        state = ExportState(
            survey_id=survey_id,
            progress_id=started.progressId,
            format=format,
            compress=bool(body.get("compress", True)),
            status=started.status,
            percent_complete=started.percentComplete,
            continuation_token=started.continuationToken,
            request_id=answer.meta.requestId if answer.meta else None,
            started_at=time.time(),
            server_started_at=_server_time(answer.headers.get("Date") if answer.headers else None),
            options=body,
        )
        logger.debug("export %s of survey %s started", state.progress_id, survey_id)
        return ExportJob(session, state)

    def resume_export(self, state: ExportState | bytes | str) -> ExportJob:
        """A handle on a job started earlier (maybe by another process), from its saved state.

        No request is sent here; the job's ``wait()`` polls:

        Endpoint: ``GET /surveys/{surveyId}/export-responses/{exportProgressId}`` (1000/min).

        Example::

            saved = job.state.to_json()          # in the worker that started it
            job = client.responses.resume_export(saved)   # anywhere later
            await job.wait()
        """
        if not isinstance(state, ExportState):
            state = ExportState.from_json(state)
        return ExportJob(self._client._open_session, state)

    # -- one call ----------------------------------------------------------------------------

    async def export(
        self,
        survey_id: str,
        dest: str | os.PathLike[str],
        *,
        format: ExportFormat = "csv",
        extract: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        restarts: int = 1,
        **options: Unpack[ExportOptions],
    ) -> ExportResult:
        """Export a survey's responses to a file: start, wait, download.

        Endpoint: ``POST /surveys/{surveyId}/export-responses`` (100/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{exportProgressId}`` (1000/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{fileId}/file`` (100/min).

        Args:
            survey_id: the survey (``SV_...``).
            dest: the file to write (its folder must exist). With ``extract=True``: a folder
                to unzip into (the file is named after the survey, made safe), or a file
                path for the extracted data.
            format: ``csv``, ``tsv``, ``json``, ``ndjson``, ``spss`` or ``xml``.
            extract: unzip the archive (path traversal and unsafe names are neutralised).
            progress: called with :class:`ExportProgress` while exporting and downloading.
            timeout: the most seconds the whole call may take: starting the job, waiting for
                Qualtrics to build the file and downloading it, restarts included (not the
                unzipping of ``extract=True``, which is local work). ``None``: no limit, and
                then a server that drips the file holds the call as long as it likes.
            restarts: how many times to start the export again after it failed or its
                file expired before it could be downloaded.
            **options: export options (:class:`ExportOptions`).

        Raises:
            ExportTimeoutError: the job was still running at ``timeout`` (``error.state``
                resumes it).
            APITimeoutError: the download (or the start) was not finished at ``timeout``;
                no partial file is left.
            ExportFailedError, ExportExpiredError, ExportCorruptError, ConfigurationError,
            and the API errors of :mod:`qualtrics_async.errors`.
        """
        export_body(format, options)  # refuse bad options before touching the disk
        deadline = Deadline.after(timeout, "timeout= of the export, which covers the start, the wait and the download")
        if restarts < 0:
            raise ConfigurationError(f"restarts must be >= 0, got {restarts!r}")
        folder: Path | None
        target: Path | None
        if extract:
            folder, target = _extract_destination(dest)
        else:
            target = check_destination(dest)
            # Qualtrics may compress a large export even with compress=False (§6.2): such a
            # file is unzipped to dest, which then holds what was asked for.
            folder = target.parent if options.get("compress") is False else None
        started = time.monotonic()
        for attempt in range(restarts + 1):
            try:
                job = await self._start_within(deadline, survey_id, format, options)
                await job._wait(deadline, progress)
                if folder is None:
                    assert target is not None
                    result = await job._download(target, progress, deadline)
                else:
                    result = await self._download_and_extract(job, folder, target, progress, deadline)
                return replace(result, elapsed=time.monotonic() - started)
            except (ExportFailedError, ExportExpiredError) as exc:
                if attempt >= restarts or deadline.expired():
                    raise
                logger.warning("%s; starting the export again (%d of %d)", exc, attempt + 1, restarts)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _start_within(
        self, deadline: Deadline, survey_id: str, format: ExportFormat, options: ExportOptions
    ) -> ExportJob:
        """``start_export`` as the first step of a call bounded by ``deadline``."""
        call_timeout = deadline.call_timeout(self._client._open_session.timeouts.call)
        return await self.start_export(survey_id, format=format, timeout=call_timeout, **options)

    async def _download_and_extract(
        self,
        job: ExportJob,
        folder: Path,
        target: Path | None,
        progress: ProgressCallback | None,
        deadline: Deadline,
    ) -> ExportResult:
        # The survey id (the caller's) and the file id (the server's) become file names only
        # through safe_name and path_in: neither can leave the folder (docs/exports.md, "File names").
        survey_name = safe_name(job.survey_id, fallback="survey")
        file_name = safe_name(job.file_id or "", fallback="file", max_bytes=_FILE_ID_BYTES)
        archive = path_in(folder, f".{survey_name}.{file_name}.download")
        try:
            downloaded = await job._download(archive, progress, deadline)
            fallback = f"{survey_name}.{file_extension(job.format, compress=False)}"
            if downloaded.compressed:
                if not job.state.compress:
                    logger.warning("Qualtrics compressed the export of %s anyway; unzipping it", job.survey_id)
                name = await anyio.to_thread.run_sync(member_name, archive)
                most = self._client._open_session.limits.download_bytes
                # Stoppable: a cancelled export must not unzip its file into place afterwards.
                path = await run_stoppable(
                    lambda stop: extract_single_member(
                        archive, folder, fallback=fallback, target=target, max_size=most, stop=stop
                    )
                )
            else:  # Qualtrics sent the raw file (compress=False): it only needs its name
                name = None
                path = target if target is not None else path_in(folder, fallback)
                os.replace(archive, path)
        finally:
            archive.unlink(missing_ok=True)  # the download removes its own .part on failure
        return replace(downloaded, path=path, member_name=name)

    # -- records -----------------------------------------------------------------------------

    async def stream(
        self,
        survey_id: str,
        *,
        format: ExportFormat = "ndjson",
        type: Any = None,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **options: Unpack[ExportOptions],
    ) -> AsyncGenerator[Any, None]:
        """Yield a survey's responses as records, decoded while the export file downloads.

        Endpoint: ``POST /surveys/{surveyId}/export-responses`` (100/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{exportProgressId}`` (1000/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{fileId}/file`` (100/min).

        ``ndjson`` and ``json`` yield the response objects (``responseId``, ``values``,
        ``labels``, ...); ``csv``/``tsv`` yield one dict per row keyed by the first header
        row (the label and import-id rows are read, not yielded). Pass a msgspec Struct
        (or any type msgspec can convert to) as ``type`` for typed records. Memory holds a
        few chunks and one record, whatever the file's size.

        ``timeout`` bounds the seconds spent waiting on Qualtrics: to start the job, for it
        to build the file, and for the file's bytes (``None``: no limit). The time your loop
        takes between records is not counted, so a slow consumer is never cut off.

        Raises:
            ConfigurationError: a format that cannot be streamed (spss, xml) or a bad option.
            ExportTimeoutError: the job was still running at ``timeout`` (``error.state``
                resumes it).
            APITimeoutError: the file's bytes (or the start) did not come within ``timeout``.
        """
        record_decoder(format, type=type)  # refuses spss/xml before any request
        deadline = Deadline.after(
            timeout, "timeout= of the stream: waiting to start, for the file to be built and for its bytes"
        )
        export_body(format, options)
        job = await self._start_within(deadline, survey_id, format, options)
        await job._wait(deadline, progress)
        records = job._records(type, deadline)
        try:
            async for record in records:
                yield record
        finally:
            await records.aclose()

    # -- incremental -------------------------------------------------------------------------

    async def export_incremental(
        self,
        survey_id: str,
        dest_dir: str | os.PathLike[str],
        *,
        state_file: str | os.PathLike[str] | None = None,
        format: ExportFormat = "csv",
        since: datetime | str | None = None,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        overlap: float = 60.0,
        **options: Unpack[ExportOptions],
    ) -> SyncResult:
        """Export only the responses recorded or changed since the last run.

        Endpoint: ``POST /surveys/{surveyId}/export-responses`` (100/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{exportProgressId}`` (1000/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{fileId}/file`` (100/min).

        The first run exports everything (or from ``since``) and saves a continuation
        token in ``state_file`` (default ``dest_dir/{survey_id}.sync.json``); each later
        run exports what is new into ``dest_dir/{survey_id}-{run:05d}-{mode}.zip`` (say
        ``SV_123-00002-continuation.zip``). An expired or refused token falls back to a
        date window with an ``overlap`` (reported as ``may_repeat``), so no row is skipped.
        The state is saved only once the file is whole, so a failed run is repeated by the next.
        ``timeout`` bounds the run's export as in :meth:`export`: start, wait and download.

        Example::

            run = await client.responses.export_incremental("SV_123", "exports/")
            print(run.mode, run.export.path)
        """
        request = SyncRequest(survey_id, dest_dir, state_file, format, since, progress, timeout, overlap, dict(options))
        return await run_incremental(self, request)

    # -- many surveys ------------------------------------------------------------------------

    async def export_many(
        self,
        survey_ids: Iterable[str],
        dest_dir: str | os.PathLike[str],
        *,
        format: ExportFormat = "csv",
        concurrency: int = 8,
        extract: bool = False,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **options: Unpack[ExportOptions],
    ) -> AsyncGenerator[ExportResult | ExportFailure, None]:
        """Export many surveys concurrently; yield each outcome as it completes.

        Endpoint: ``POST /surveys/{surveyId}/export-responses`` (100/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{exportProgressId}`` (1000/min).
        Endpoint: ``GET /surveys/{surveyId}/export-responses/{fileId}/file`` (100/min).

        Each survey is written to ``dest_dir/{survey_id}.zip`` (or ``.{format}`` with
        ``compress=False``; with ``extract=True`` the unzipped ``{survey_id}.{format}``).
        An id that is not a safe file name (``/``, ``..``, a device name, too long) is made
        one (``_`` for what is unsafe, plus a short hash); nothing is written outside ``dest_dir``.
        At most ``concurrency`` exports run at once, and the client's rate limiter paces
        their requests. A survey that fails is yielded as an :class:`ExportFailure` value;
        the others go on.

        ``timeout`` bounds each survey's export as in :meth:`export` (start, wait and
        download), counted from when that export starts; a survey that runs out is yielded
        as an :class:`ExportFailure` whose ``error`` says which step it was in.

        To stop early, close the generator (``break`` inside ``async with
        contextlib.aclosing(client.responses.export_many(...)) as outcomes:``): exports
        still running are then cancelled and their partial files removed.

        Example::

            async for outcome in client.responses.export_many(ids, "out", concurrency=8):
                if outcome.ok:
                    print(outcome.survey_id, outcome.path, outcome.size)
                else:
                    print(outcome.survey_id, "failed:", outcome.error)
        """
        export_body(format, options)
        check_timeout(timeout)
        if concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {concurrency!r}")
        ids = list(survey_ids)
        duplicates = sorted({sid for sid in ids if ids.count(sid) > 1}) if len(set(ids)) != len(ids) else []
        if duplicates:
            raise ConfigurationError(f"survey ids listed more than once: {duplicates}; each is exported once")
        folder = Path(os.fspath(dest_dir))
        if not await anyio.Path(folder).is_dir():
            raise ConfigurationError(f"dest_dir {str(folder)!r} is not an existing folder; create it first")
        compress = options.get("compress", True)
        limiter = anyio.CapacityLimiter(concurrency)
        send, receive = anyio.create_memory_object_stream[ExportResult | ExportFailure](max_buffer_size=math.inf)

        async def export_one(survey_id: str) -> None:
            async with limiter:
                outcome: ExportResult | ExportFailure
                try:
                    # An id never chooses the folder: "../../x" is written as "_.._x-<hash>.zip"
                    # inside dest_dir (docs/exports.md, "File names").
                    extension = file_extension(format, compress=False if extract else compress)
                    dest = path_in(folder, f"{safe_name(survey_id, fallback='survey')}.{extension}")
                    outcome = await self.export(
                        survey_id, dest, format=format, extract=extract, progress=progress, timeout=timeout, **options
                    )
                except QualtricsError as exc:
                    outcome = ExportFailure(survey_id, exc)
                except OSError as exc:  # disk full, permissions: this survey fails, the others go on
                    error = QualtricsError(
                        f"could not write the export file of {survey_id}: {exc}; check the free space and the "
                        "permissions of the destination folder"
                    )
                    outcome = ExportFailure(survey_id, error)
            await send.send(outcome)

        async def run_all() -> None:
            async with send, anyio.create_task_group() as group:
                for survey_id in ids:
                    group.start_soon(export_one, survey_id)

        runner = asyncio.create_task(run_all())
        try:
            async with receive:
                async for outcome in receive:
                    yield outcome
            await runner
        finally:
            if not runner.done():
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)


def _extract_destination(dest: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """(folder, exact target or None) for ``extract=True``."""
    path = Path(os.fspath(dest))
    if path.is_dir():
        return path, None
    if not path.parent.is_dir():
        raise ConfigurationError(f"the folder of {str(path)!r} does not exist; create it first")
    return path.parent, path


def _server_time(date_header: str | None) -> str | None:
    """The server's clock from an HTTP ``Date`` header, as ISO 8601 UTC."""
    if not date_header:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["Responses"]
