"""`ExportJob`: one response export on Qualtrics' side — its state, polling and download.

The flow (docs/exports.md): ``POST /surveys/{id}/export-responses`` answers a
``progressId``; ``GET .../export-responses/{progressId}`` reports ``percentComplete`` and
``status``; once ``complete`` it carries the ``fileId`` of
``GET .../export-responses/{fileId}/file``. The state is a small serialisable record, so a
worker that crashed while waiting resumes polling the same job instead of starting over.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
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


@dataclass(frozen=True, slots=True)
class Deadline:
    """The deadline of one public export call, and how its error names it (docs/exports.md).

    ``setting`` says which ``timeout=`` ran out and what it covers, for the message of the
    error raised then. Times are ``time.monotonic()``.
    """

    seconds: float | None
    started: float
    setting: str

    @classmethod
    def after(cls, seconds: float | None, setting: str) -> Deadline:
        """A deadline ``seconds`` from now (``None``: none); ``seconds`` is checked first."""
        check_timeout(seconds)
        return cls(seconds, time.monotonic(), setting)

    @property
    def at(self) -> float | None:
        return None if self.seconds is None else self.started + self.seconds

    def left(self) -> float | None:
        """Seconds left (``None``: no deadline; ``0`` once it has passed)."""
        return None if self.at is None else max(self.at - time.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def call_timeout(self, default: float | None) -> float | None:
        """The ``timeout=`` of one API call made under this deadline: the time left, but never
        more than the call's own default (``Timeouts.call``)."""
        left = self.left()
        if left is None:
            return default
        return max(left, 1e-3) if default is None else max(min(left, default), 1e-3)


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
                deadline gets up to one more second to answer. It covers the wait only:
                :meth:`download` has its own ``timeout=``.
            schedule: a custom :class:`PollSchedule`.

        Raises:
            ExportFailedError: Qualtrics reported ``failed`` (no further polling).
            ExportTimeoutError: still running at the deadline; ``error.state`` resumes it.
            ExportExpiredError: the job is unknown to Qualtrics (404).
        """
        return await self._wait(Deadline.after(timeout, "timeout= of ExportJob.wait()"), progress, schedule)

    async def _wait(
        self, deadline: Deadline, progress: ProgressCallback | None = None, schedule: PollSchedule | None = None
    ) -> ExportJob:
        """:meth:`wait` under a deadline shared with other steps (``client.responses.export``)."""
        schedule = schedule or PollSchedule()
        now = time.monotonic()
        deadline_at = deadline.at
        schedule.observe(now, self.percent_complete)
        while self.status != "complete":
            now = time.monotonic()
            delay = schedule.next_delay(now)
            if deadline_at is not None and now + delay > deadline_at:
                if now + 0.5 <= deadline_at:  # one last look at the deadline itself
                    delay = deadline_at - now
                else:
                    raise self._timeout(deadline)
            await anyio.sleep(delay)
            try:
                # A poll gets the time left (at least POLL_GRACE), so a slow answer cannot
                # carry the wait far past the caller's deadline.
                left = None if deadline_at is None else max(deadline_at - time.monotonic(), POLL_GRACE)
                await self.refresh(timeout=left)
            except APITimeoutError:
                if deadline_at is not None and time.monotonic() >= deadline_at:
                    raise self._timeout(deadline) from None
                raise
            schedule.observe(time.monotonic(), self.percent_complete)
            await _notify(progress, ExportProgress(self.survey_id, "exporting", self.percent_complete))
        return self

    def _timeout(self, deadline: Deadline) -> ExportTimeoutError:
        error = ExportTimeoutError(
            f"export {self.progress_id} of survey {self.survey_id} is still running after {deadline.seconds:g} s "
            f"({self.percent_complete:g} %; {deadline.setting}); wait longer or resume it later with "
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

    async def download(
        self, dest: str | Path, *, progress: ProgressCallback | None = None, timeout: float | None = None
    ) -> ExportResult:
        """Stream the file to ``dest`` (its folder must exist), atomically.

        The bytes go to ``dest + ".part"`` (mode 0600), are checked (size; for a ZIP the
        central directory and every CRC), fsynced, and renamed to ``dest``. A dropped
        connection resumes where it stopped; a corrupt file is downloaded again (twice at
        most). Nothing ever takes the final name unless it is whole, and cancellation
        leaves no ``.part`` file.

        Args:
            dest: the file to write.
            progress: called with an :class:`ExportProgress` as bytes arrive.
            timeout: the most seconds the download may take, re-downloads included
                (``None``: no limit, and then a server that sends a byte every few seconds,
                never silent for ``Timeouts.sock_read``, holds the call as long as it likes).

        Raises:
            ExportExpiredError: the file id expired (404; files live a week).
            ExportCorruptError: the file stayed corrupt after re-downloads.
            APITimeoutError: the download was not finished at ``timeout``; no ``.part`` is
                left, and the file can be downloaded again while it lives.
        """
        deadline = Deadline.after(timeout, "timeout= of ExportJob.download()")
        return await self._download(dest, progress, deadline)

    async def _download(self, dest: str | Path, progress: ProgressCallback | None, deadline: Deadline) -> ExportResult:
        """:meth:`download` under a deadline shared with other steps (``client.responses.export``)."""
        path = check_destination(dest)
        target, api_path = self._file_target()
        survey_id = self.survey_id

        async def on_bytes(received: int, total: int | None) -> None:
            await _notify(progress, ExportProgress(survey_id, "downloading", 100.0, received, total))

        what = f"the export file of survey {survey_id} ({self.file_id})"
        async with self._bounded(deadline, api_path):
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

    def records(self, *, type: Any = None, timeout: float | None = None) -> AsyncGenerator[Any, None]:
        """Yield the file's response records while it downloads (csv, tsv, json, ndjson).

        Memory holds a few chunks and one record, never the file. A dropped connection
        resumes where it stopped. A damaged file raises :class:`ExportCorruptError` at the
        latest when it ends (a ZIP member's CRC-32 can only be checked at its end), so
        records yielded before the error may come from the damaged file: treat the run as
        failed and discard them.

        ``timeout`` bounds the seconds spent waiting for the file's bytes (``None``: no
        limit); the time your loop takes between records is not counted. When it runs out,
        :class:`~qualtrics_async.errors.APITimeoutError` is raised and the download stops.
        """
        deadline = Deadline.after(timeout, "timeout= of ExportJob.records(), the time spent waiting for the file")
        return self._records(type, deadline)

    async def _records(self, type: Any, deadline: Deadline) -> AsyncGenerator[Any, None]:
        """:meth:`records`; ``deadline.left()`` when it starts is its budget of waiting time."""
        from qualtrics_async.exports._records import record_decoder
        from qualtrics_async.exports._zipstream import ZipMemberReader

        limits = self._session.limits
        decoder = record_decoder(self.format, type=type, record_bytes=limits.record_bytes)
        target, api_path = self._file_target()
        budget = deadline.left()  # seconds of waiting for bytes left; the consumer's time is its own
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
                while True:
                    if budget is not None and budget <= 0:
                        raise self._download_timeout(deadline, api_path)
                    try:
                        if budget is None:
                            chunk = await receive.receive()
                        else:
                            waited = time.monotonic()
                            async with self._bounded(deadline, api_path, budget):
                                chunk = await receive.receive()
                            budget -= time.monotonic() - waited
                    except anyio.EndOfStream:
                        break
                    if head is not None:
                        head += chunk
                        if len(head) < len(ZIP_MAGIC):
                            continue
                        chunk, head = head, None
                        zipped = chunk.startswith(ZIP_MAGIC)
                        unzip = ZipMemberReader(max_size=limits.download_bytes) if zipped else None
                    # Inflated a piece at a time, so a chunk that inflates a thousandfold (a ZIP
                    # bomb) never exists whole, and decoded in slices, so the records alive at
                    # once stay few (docs/exports.md, "Hostile export files").
                    for data in unzip.pieces(chunk) if unzip is not None else (chunk,):
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

    @contextlib.asynccontextmanager
    async def _bounded(self, deadline: Deadline, api_path: str, seconds: float | None = None) -> AsyncIterator[None]:
        """Run the body within ``seconds`` (default: what is left of ``deadline``); when they run
        out, raise the :class:`APITimeoutError` that names ``deadline``.

        Only this scope's own expiry is converted: a caller's cancellation, or its own
        timeout around the call, goes through untouched.
        """
        left = deadline.left() if seconds is None else seconds
        if left is not None and left <= 0:
            raise self._download_timeout(deadline, api_path)
        scope = asyncio.timeout(left)
        try:
            async with scope:
                yield
        except TimeoutError:
            if not scope.expired():
                raise
            raise self._download_timeout(deadline, api_path) from None

    def _download_timeout(self, deadline: Deadline, api_path: str) -> APITimeoutError:
        return APITimeoutError(
            f"the download of the export file of survey {self.survey_id} ({self.file_id}) did not finish within "
            f"{deadline.seconds:g} s ({deadline.setting}); pass a larger timeout= for a large file or a slow link, "
            f"or None for no deadline. No partial file was left; the file of job {self.progress_id} can be "
            "downloaded again until it expires, a week after the export",
            method="GET",
            path=api_path,
            elapsed=time.monotonic() - deadline.started,
        )

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
