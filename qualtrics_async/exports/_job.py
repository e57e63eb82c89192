"""`ExportJob`: one response export on Qualtrics' side — its state, polling and download.

The flow (qualtrics-api.md §6.1): ``POST /surveys/{id}/export-responses`` answers a
``progressId``; ``GET .../export-responses/{progressId}`` reports ``percentComplete`` and
``status``; once ``complete`` it carries the ``fileId`` of
``GET .../export-responses/{fileId}/file``. The state is a small serialisable record, so a
worker that crashed while waiting resumes polling the same job instead of starting over.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec

from qualtrics_async._decoding import envelope_decoder
from qualtrics_async._logging import logger
from qualtrics_async._sansio import build_path
from qualtrics_async.errors import (
    APITimeoutError,
    ConfigurationError,
    ExportCorruptError,
    ExportExpiredError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
    QualtricsError,
)
from qualtrics_async.exports._download import ZIP_MAGIC, Transfer, check_destination, download_to_file, fetch
from qualtrics_async.exports._polling import PollSchedule

if TYPE_CHECKING:
    from qualtrics_async._session import Session

ExportStatus = Literal["inProgress", "complete", "failed"]
Phase = Literal["exporting", "downloading", "done"]
POLL_GRACE = 1.0  # seconds a poll may take even when the deadline is nearer
DECODE_SLICE = 1 << 18  # bytes of (inflated) file text decoded per step
CORRUPT_REDOWNLOADS = 2  # fresh downloads after a corrupt file, before giving up


class ExportState(msgspec.Struct, kw_only=True):
    """Everything needed to resume an export job in another process (``to_json``/``from_json``).

    Attributes:
        survey_id, progress_id: the job.
        format, compress: what was asked (decides how the file is read).
        status, percent_complete: the last progress seen.
        file_id: set once the job is complete.
        continuation_token: returned on completion when continuation was asked.
        request_id: Qualtrics' requestId of the request that started the job.
        started_at: wall-clock time (epoch seconds) the job was started.
        server_started_at: the server's ``Date`` when it accepted the job (ISO 8601), used
            as the watermark of incremental exports.
        options: the request body that started the job.
    """

    survey_id: str
    progress_id: str
    format: str
    compress: bool = True
    status: str = "inProgress"
    percent_complete: float = 0.0
    file_id: str | None = None
    continuation_token: str | None = None
    request_id: str | None = None
    started_at: float = 0.0
    server_started_at: str | None = None
    options: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_json(self) -> bytes:
        """The state as JSON bytes (holds no credentials)."""
        return msgspec.json.encode(self)

    @classmethod
    def from_json(cls, data: bytes | str) -> ExportState:
        """Read a state written by :meth:`to_json`."""
        try:
            return msgspec.json.decode(data, type=cls)
        except msgspec.DecodeError as exc:
            raise ConfigurationError(f"not a saved export state: {exc}") from None


class _Progress(msgspec.Struct):
    """``result`` of the progress endpoint."""

    status: str
    percentComplete: float = 0.0
    fileId: str | None = None
    continuationToken: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExportProgress:
    """What a ``progress`` callback receives: the job's phase and how far it got.

    Attributes:
        survey_id: the survey being exported.
        phase: ``"exporting"`` (Qualtrics builds the file), ``"downloading"``, ``"done"``.
        percent_complete: the export job's progress (0–100).
        bytes_received: bytes downloaded so far.
        bytes_total: the file's size once known.
    """

    survey_id: str
    phase: Phase
    percent_complete: float
    bytes_received: int = 0
    bytes_total: int | None = None


ProgressCallback = Callable[[ExportProgress], Any]
"""A callback taking :class:`ExportProgress`; it may be a coroutine function."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A finished export on disk.

    Attributes:
        survey_id: the survey.
        path: the file written (the downloaded file, or the extracted one with ``extract=True``).
        size: the downloaded file's size in bytes.
        format: the export format.
        file_id, progress_id: Qualtrics' ids of the job and its file.
        continuation_token: pass it as ``continuation_token=`` to export only what is new.
        elapsed: seconds from the start of the export to the file being in place.
        compressed: whether the download was a ZIP archive.
        member_name: the name of the file inside the ZIP (Qualtrics uses the survey's name).
        server_started_at: the server's time when the export started (ISO 8601 UTC), the
            watermark of incremental exports.
    """

    survey_id: str
    path: Path
    size: int
    format: str
    file_id: str
    progress_id: str
    continuation_token: str | None
    elapsed: float
    compressed: bool
    member_name: str | None = None
    server_started_at: str | None = None

    @property
    def ok(self) -> Literal[True]:
        """Always True (an :class:`ExportFailure` has ``ok`` False)."""
        return True


@dataclass(frozen=True, slots=True)
class ExportFailure:
    """A survey whose export failed, yielded as a value by ``export_many``.

    Attributes:
        survey_id: the survey.
        error: what went wrong (its message says how to fix it; ``request_id`` when known).
    """

    survey_id: str
    error: QualtricsError

    @property
    def ok(self) -> Literal[False]:
        """Always False."""
        return False


class ExportJob:
    """A response export job. Get one from ``client.responses.start_export(...)``.

    Example::

        job = await client.responses.start_export("SV_123", format="csv")
        await job.wait(progress=print, timeout=900)
        result = await job.download("out/SV_123.zip")
    """

    __slots__ = ("_session", "_state", "_t0")

    def __init__(self, session: Session, state: ExportState) -> None:
        self._session = session
        self._state = state
        self._t0 = time.monotonic()

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> ExportState:
        """A copy of the job's serialisable state (save ``state.to_json()`` to resume later)."""
        return msgspec.structs.replace(self._state)

    @property
    def survey_id(self) -> str:
        return self._state.survey_id

    @property
    def progress_id(self) -> str:
        return self._state.progress_id

    @property
    def status(self) -> str:
        """``"inProgress"``, ``"complete"`` or ``"failed"``."""
        return self._state.status

    @property
    def percent_complete(self) -> float:
        return self._state.percent_complete

    @property
    def file_id(self) -> str | None:
        """The file's id, once the job is complete."""
        return self._state.file_id

    @property
    def continuation_token(self) -> str | None:
        return self._state.continuation_token

    @property
    def format(self) -> str:
        return self._state.format

    @property
    def done(self) -> bool:
        """Whether the job finished (complete or failed)."""
        return self._state.status in ("complete", "failed")

    def __repr__(self) -> str:
        s = self._state
        return (
            f"ExportJob(survey_id={s.survey_id!r}, progress_id={s.progress_id!r}, status={s.status!r}, "
            f"percent_complete={s.percent_complete:g}, file_id={s.file_id!r})"
        )

    # -- polling -----------------------------------------------------------------------------

    async def refresh(self, *, timeout: float | None = None) -> ExportJob:
        """Ask Qualtrics for the job's progress once (``timeout``: the call's deadline).

        Raises:
            ExportFailedError: Qualtrics reported the job ``failed``.
            ExportExpiredError: the progress id is unknown (404): start a new export.
        """
        path = build_path(
            "/surveys/{surveyId}/export-responses/{exportProgressId}",
            surveyId=self.survey_id,
            exportProgressId=self.progress_id,
        )
        try:
            answer = await self._session.call("GET", path, decoder=envelope_decoder(_Progress), timeout=timeout)
        except NotFoundError as exc:
            raise ExportExpiredError(
                f"export job {self.progress_id} of survey {self.survey_id} is unknown to Qualtrics "
                "(expired or never created); start a new export",
                survey_id=self.survey_id,
                progress_id=self.progress_id,
                request_id=exc.request_id,
                method="GET",
                path=path,
            ) from exc
        progress: _Progress = answer.result
        state = self._state
        state.status = progress.status
        state.percent_complete = progress.percentComplete
        if progress.fileId:
            state.file_id = progress.fileId
        if progress.continuationToken:
            state.continuation_token = progress.continuationToken
        if progress.status == "failed":
            error = progress.error or {}
            code, message = error.get("errorCode"), error.get("errorMessage")
            detail = f": {message}" + (f" ({code})" if code else "") if message else ""
            raise ExportFailedError(
                f"Qualtrics reported export {self.progress_id} of survey {self.survey_id} as failed{detail}; "
                "start a new export (narrow it with limit or a date window if it is very large)",
                survey_id=self.survey_id,
                progress_id=self.progress_id,
                error_code=code,
                error_message=message,
                request_id=answer.meta.requestId if answer.meta else None,
                method="GET",
                path=path,
            )
        if progress.status not in ("inProgress", "complete"):
            raise ExportFailedError(
                f"export {self.progress_id} of survey {self.survey_id} reports the unknown status "
                f"{progress.status!r} (expected inProgress, complete or failed); start a new export, and report "
                "the requestId to Qualtrics support if it persists",
                survey_id=self.survey_id,
                progress_id=self.progress_id,
                request_id=answer.meta.requestId if answer.meta else None,
            )
        if progress.status == "complete" and not state.file_id:
            raise ExportFailedError(
                f"export {self.progress_id} of survey {self.survey_id} is complete but has no fileId; "
                "start a new export, and report the requestId to Qualtrics support if it persists",
                survey_id=self.survey_id,
                progress_id=self.progress_id,
                request_id=answer.meta.requestId if answer.meta else None,
            )
        return self

    async def wait(
        self,
        *,
        progress: ProgressCallback | None = None,
        timeout: float | None = None,
        schedule: PollSchedule | None = None,
    ) -> ExportJob:
        """Poll until the job is complete; return the job.

        Polls near the moment the reported ``percentComplete`` predicts completion, never
        twice within 0.5 s, and back off to ~12 s between polls when there is no progress
        signal; the endpoint's rate limit is kept by the client's limiter. (A poll that
        fails — a 5xx, a dropped connection — is retried like any call, after the
        :class:`~qualtrics_async.RetryPolicy` backoff.)

        Args:
            progress: called with an :class:`ExportProgress` after each poll.
            timeout: seconds to wait at most (``None``: no limit); a poll in flight at the
                deadline gets up to one more second to answer.
            schedule: a custom :class:`PollSchedule`.

        Raises:
            ExportFailedError: Qualtrics reported ``failed`` (no further polling).
            ExportTimeoutError: still running at the deadline; ``error.state`` resumes it.
            ExportExpiredError: the job is unknown to Qualtrics (404).
        """
        check_timeout(timeout)
        schedule = schedule or PollSchedule()
        now = time.monotonic()
        deadline = None if timeout is None else now + timeout
        schedule.observe(now, self.percent_complete)
        while self.status != "complete":
            now = time.monotonic()
            delay = schedule.next_delay(now)
            if deadline is not None and now + delay > deadline:
                if now + 0.5 <= deadline:  # one last look at the deadline itself
                    delay = deadline - now
                else:
                    raise self._timeout(timeout)
            await anyio.sleep(delay)
            try:
                # A poll gets the time left (at least POLL_GRACE), so a slow answer cannot
                # carry the wait far past the caller's deadline.
                left = None if deadline is None else max(deadline - time.monotonic(), POLL_GRACE)
                await self.refresh(timeout=left)
            except APITimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise self._timeout(timeout) from None
                raise
            schedule.observe(time.monotonic(), self.percent_complete)
            await _notify(progress, ExportProgress(self.survey_id, "exporting", self.percent_complete))
        return self

    def _timeout(self, timeout: float | None) -> ExportTimeoutError:
        error = ExportTimeoutError(
            f"export {self.progress_id} of survey {self.survey_id} is still running after {timeout:g} s "
            f"({self.percent_complete:g} %); wait longer or resume it later with "
            "client.responses.resume_export(error.state)",
            survey_id=self.survey_id,
            progress_id=self.progress_id,
        )
        error.state = self.state
        return error

    # -- the file ----------------------------------------------------------------------------

    def _file_target(self) -> tuple[Any, str]:
        if self.file_id is None:
            raise ConfigurationError(
                f"export {self.progress_id} is not complete yet (status {self.status!r}); await job.wait() first"
            )
        path = build_path(
            "/surveys/{surveyId}/export-responses/{fileId}/file", surveyId=self.survey_id, fileId=self.file_id
        )
        return self._session.target(path), path

    async def download(self, dest: str | Path, *, progress: ProgressCallback | None = None) -> ExportResult:
        """Stream the file to ``dest`` (its folder must exist), atomically.

        The bytes go to ``dest + ".part"`` (mode 0600), are checked (size; for a ZIP the
        central directory and every CRC), fsynced, and renamed to ``dest``. A dropped
        connection resumes where it stopped; a corrupt file is downloaded again (twice at
        most). Nothing ever takes the final name unless it is whole, and cancellation
        leaves no ``.part`` file.

        Raises:
            ExportExpiredError: the file id expired (404; files live a week).
            ExportCorruptError: the file stayed corrupt after re-downloads.
        """
        path = check_destination(dest)
        target, api_path = self._file_target()
        survey_id = self.survey_id

        async def on_bytes(received: int, total: int | None) -> None:
            await _notify(progress, ExportProgress(survey_id, "downloading", 100.0, received, total))

        what = f"the export file of survey {survey_id} ({self.file_id})"
        for attempt in range(CORRUPT_REDOWNLOADS + 1):
            try:
                size, compressed = await download_to_file(
                    self._session, target, path, progress=on_bytes if progress else None, what=what
                )
                break
            except ExportCorruptError as exc:
                self._located(exc)
                if attempt == CORRUPT_REDOWNLOADS:
                    raise
                logger.warning("%s; downloading it again", exc.message)
            except NotFoundError as exc:
                raise self._expired(exc, api_path) from exc
        await _notify(progress, ExportProgress(survey_id, "done", 100.0, size, size))
        return ExportResult(
            survey_id=survey_id,
            path=path,
            size=size,
            format=self.format,
            file_id=self.file_id or "",
            progress_id=self.progress_id,
            continuation_token=self.continuation_token,
            elapsed=time.monotonic() - self._t0,
            compressed=compressed,
            server_started_at=self._state.server_started_at,
        )

    async def records(self, *, type: Any = None) -> AsyncGenerator[Any, None]:
        """Yield the file's response records while it downloads (csv, tsv, json, ndjson).

        Memory holds a few chunks and one record, never the file. A dropped connection
        resumes where it stopped. A damaged file raises :class:`ExportCorruptError` at the
        latest when it ends (a ZIP member's CRC-32 can only be checked at its end), so
        records yielded before the error may come from the damaged file: treat the run as
        failed and discard them.
        """
        from qualtrics_async.exports._records import record_decoder
        from qualtrics_async.exports._zipstream import ZipMemberReader

        decoder = record_decoder(self.format, type=type)
        target, api_path = self._file_target()
        send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=8)
        transfer = Transfer(send.send, what=f"the export file of survey {self.survey_id}")

        async def produce() -> None:
            async with send:
                await fetch(self._session, target, transfer)

        producer = asyncio.create_task(produce(), name=f"qualtrics-export-download-{self.file_id}")
        unzip: ZipMemberReader | None = None
        head: bytes | None = b""  # the first bytes, until there are enough to tell a ZIP from a raw file
        try:
            async with receive:
                async for chunk in receive:
                    if head is not None:
                        head += chunk
                        if len(head) < len(ZIP_MAGIC):
                            continue
                        chunk, head = head, None
                        unzip = ZipMemberReader() if chunk.startswith(ZIP_MAGIC) else None
                    data = unzip.feed(chunk) if unzip is not None else chunk
                    # Inflated text can be ~10x the chunk: decode it in slices, so the
                    # records alive at once stay few.
                    for start in range(0, len(data), DECODE_SLICE):
                        for record in decoder.feed(data[start : start + DECODE_SLICE]):
                            yield record
            try:
                await producer
            except NotFoundError as exc:
                raise self._expired(exc, api_path) from exc
            except ExportCorruptError as exc:
                raise self._located(exc) from None
            tail = head or b""  # a file shorter than four bytes
            try:
                if unzip is not None:
                    tail = unzip.finish()
                else:
                    transfer.check_complete(is_zip=False)
            except ExportCorruptError as exc:
                raise self._located(exc) from None
            for record in [*decoder.feed(tail), *decoder.finish()]:
                yield record
        finally:
            if not producer.done():
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)

    def _located(self, exc: ExportCorruptError) -> ExportCorruptError:
        """``exc`` with this job's ids filled in."""
        exc.survey_id, exc.progress_id, exc.file_id = self.survey_id, self.progress_id, self.file_id
        return exc

    def _expired(self, exc: NotFoundError, path: str) -> ExportExpiredError:
        return ExportExpiredError(
            f"export file {self.file_id} of survey {self.survey_id} is gone (files expire a week after the "
            "export finished); start a new export",
            survey_id=self.survey_id,
            progress_id=self.progress_id,
            file_id=self.file_id,
            request_id=exc.request_id,
            method="GET",
            path=path,
        )


def check_timeout(timeout: float | None) -> None:
    """Refuse a deadline that is not a positive number of seconds (``None``: no deadline)."""
    if timeout is not None and not timeout > 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds or None, got {timeout!r}")


async def _notify(callback: ProgressCallback | None, event: ExportProgress) -> None:
    if callback is None:
        return
    result = callback(event)
    if inspect.isawaitable(result):
        await result


__all__ = [
    "ExportFailure",
    "ExportJob",
    "ExportProgress",
    "ExportResult",
    "ExportState",
    "ExportStatus",
    "ProgressCallback",
]
