"""Streaming an export file: every byte delivered once, in order, across dropped connections.

A :class:`Transfer` is the ``on_success`` of one GET through the request pipeline (so the
download is rate-limited, authenticated and retried like any call). When the connection
drops mid-body the pipeline retries the GET; the transfer then asks for the bytes it still
lacks (``Range`` + ``If-Range``) or, when the server ignores ranges, skips the bytes it
already delivered, after checking that the file is the same one (length and validator).

:func:`download_to_file` writes those bytes to ``dest + ".part"`` (mode 0600), verifies
the size and, for a ZIP, its structure and every CRC, fsyncs, and only then renames the
file to ``dest``. Any failure or cancellation removes the ``.part`` file.

The body is bounded while it arrives (docs/exports.md, "Hostile export files"): a declared
size above ``SizeLimits.download_bytes`` is refused before reading, a body without one stops
at that bound, and a body that goes past the size its server declared stops at that byte;
each raises :class:`~qualtrics_async.errors.ResponseTooLargeError`, which is neither retried
nor downloaded again. A body sent with a ``Content-Encoding`` although none was asked for is
refused before reading (:class:`~qualtrics_async.errors.ResponseDecodeError`).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import threading
import time
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import aiohttp
import anyio

from qualtrics_async._config import SizeLimits
from qualtrics_async._sansio import CallInfo, format_size, protocol_error, too_large
from qualtrics_async._session import Session, Target
from qualtrics_async._threads import check, run_stoppable
from qualtrics_async.errors import (
    APIConnectionError,
    APIStatusError,
    ConfigurationError,
    ExportCorruptError,
    ResponseTooLargeError,
)

CHUNK_SIZE = 1 << 18  # bytes read from the socket per step
_VERIFY_BUFFER = 1 << 20  # bytes inflated per step of the CRC check
FLUSH_SIZE = 1 << 20  # bytes buffered before a write to disk (in a worker thread)
MAX_RESUMES = 20  # resumptions after a drop, beyond the pipeline's own retries, while bytes keep coming
ZIP_MAGIC = b"PK\x03\x04"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

Sink = Callable[[bytes], Awaitable[None]]
ByteProgress = Callable[[int, int | None], Any]


class Transfer:
    """The state of one file's download across attempts.

    Attributes:
        offset: bytes delivered to the sink so far.
        total: the file's size, once the server said (``Content-Length`` / ``Content-Range``).
        head: the first bytes of the file (to tell a ZIP from a raw file).
        max_bytes: the most bytes the file may have (``SizeLimits.download_bytes``; :func:`fetch`
            sets the session's when it is None).
    """

    def __init__(
        self,
        sink: Sink,
        *,
        progress: ByteProgress | None = None,
        what: str = "the export file",
        max_bytes: int | None = None,
    ) -> None:
        self.sink = sink
        self.progress = progress
        self.what = what
        self.max_bytes = max_bytes
        self.offset = 0
        self.total: int | None = None
        self.head = b""
        self.content_type: str | None = None
        self.framed = False
        """Whether the server said where the file ends (``Content-Length``, chunked, or a range total)."""
        self._validator: str | None = None
        self._ranges = False

    def request_headers(self) -> dict[str, str]:
        """Headers for the next attempt: a range request once bytes have been delivered."""
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}  # offsets must count file bytes
        if self.offset and self._ranges:
            headers["Range"] = f"bytes={self.offset}-"
            if self._validator is not None:
                headers["If-Range"] = self._validator
        return headers

    async def receive(self, resp: aiohttp.ClientResponse, call: CallInfo) -> None:
        """Deliver the body of one 2xx answer to the sink (``on_success`` of the GET).

        Raises:
            ResponseTooLargeError: the body is (or is declared) larger than ``max_bytes``, or
                goes past the size its server declared; nothing past the bound reaches the sink.
            ResponseDecodeError: the body has a ``Content-Encoding`` (none was asked for).
        """
        skip = self._accept(resp, call)
        limit = self._limit()
        async for chunk in resp.content.iter_chunked(CHUNK_SIZE):
            if skip:
                if len(chunk) <= skip:
                    skip -= len(chunk)
                    continue
                chunk, skip = chunk[skip:], 0
            end = self.offset + len(chunk)
            if end > limit or (self.total is not None and end > self.total):
                raise self._too_long(end, limit, resp.status, call)
            if len(self.head) < 4:
                self.head += chunk[: 4 - len(self.head)]
            await self.sink(chunk)
            self.offset += len(chunk)
            if self.progress is not None:
                await _maybe_await(self.progress(self.offset, self.total))
        if skip or (self.total is not None and self.offset < self.total):
            # The body ended before the length known from an earlier answer: a dropped
            # connection, which the pipeline retries like any other.
            raise aiohttp.ClientPayloadError(f"{self.what} ended at byte {self.offset} of {self.total}")

    def _limit(self) -> int:
        return SizeLimits().download_bytes if self.max_bytes is None else self.max_bytes

    def _too_long(self, end: int, limit: int, status: int, call: CallInfo) -> ResponseTooLargeError:
        """The error for a body that reached byte ``end``: past ``limit``, or past its declared size."""
        if self.total is not None and end > self.total and self.total <= limit:
            # Not a bound the caller can raise: the server sent another body than it announced
            # (docs/exports.md, "Hostile export files"). Reading on would only fill the disk.
            return ResponseTooLargeError(
                f"{self.what} goes on past the {self.total} bytes its server declared (Content-Length or "
                f"Content-Range), so it was not read further and will not be retried nor downloaded again; "
                "the server or a proxy sent another body than it announced",
                limit=self.total,
                setting="Content-Length",
                status=status,
                method=call.method,
                path=call.path,
                attempts=call.attempts,
                elapsed=call.elapsed,
            )
        return too_large(self.what[:1].upper() + self.what[1:], limit, "download_bytes", call, status=status)

    def _accept(self, resp: aiohttp.ClientResponse, call: CallInfo) -> int:
        """Check an answer against what was asked and seen; return how many bytes to skip."""
        headers = resp.headers
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            # aiohttp would inflate it: offsets and lengths would no longer count the file's
            # bytes, and a small body could inflate to any size (docs/exports.md).
            raise protocol_error(
                f"{self.what} was sent with Content-Encoding {encoding!r} although the download asked for none "
                "(Accept-Encoding: identity), so its size could not be checked nor a cut download resumed; it "
                "was not read and will not be retried (a proxy between this client and Qualtrics may be "
                "compressing answers)",
                resp.status,
                call,
            )
        limit = self._limit()
        validator = headers.get("ETag") or headers.get("Last-Modified")
        if validator is not None and validator.startswith("W/"):
            validator = None  # a weak validator cannot vouch for byte ranges
        if resp.status == 206:
            found = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
            if found is None or int(found.group(1)) != self.offset:
                raise ExportCorruptError(
                    f"the server answered a resumed download of {self.what} with the wrong range "
                    f"({headers.get('Content-Range')!r}, expected bytes from {self.offset})"
                )
            total = None if found.group(3) == "*" else int(found.group(3))
            self._check_declared(total, limit, resp.status, call)
            if self.total is not None and total is not None and total != self.total:
                raise ExportCorruptError(f"{self.what} changed size between attempts ({self.total} -> {total} bytes)")
            if total is not None:
                self.total, self.framed = total, True
            return 0
        length = resp.content_length
        self._check_declared(length, limit, resp.status, call)
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if self.offset == 0:
            self.total = length
            self.framed = length is not None or chunked
            self._validator = validator
            self._ranges = headers.get("Accept-Ranges", "").strip().lower() == "bytes"
            self.content_type = headers.get("Content-Type")
            return 0
        # A full answer to a resumed download: the server ignored the range (or If-Range
        # did not match). Skipping what was delivered is right only if it is the same file.
        if (self.total is not None and length is not None and length != self.total) or (
            self._validator is not None and validator is not None and validator != self._validator
        ):
            raise ExportCorruptError(f"{self.what} changed between attempts; download it again from the start")
        if length is not None and length < self.offset:
            raise ExportCorruptError(f"{self.what} is shorter than what was already received; download it again")
        if length is not None:
            self.total, self.framed = length, True
        return self.offset

    def _check_declared(self, size: int | None, limit: int, status: int, call: CallInfo) -> None:
        """Refuse, before reading, a file declared larger than ``limit``."""
        if size is not None and size > limit:
            what = f"{self.what[:1].upper() + self.what[1:]} (declared {format_size(size)})"
            raise too_large(what, limit, "download_bytes", call, status=status)

    def check_complete(self, *, is_zip: bool) -> None:
        """Refuse a raw file whose end cannot be told from a cut connection.

        Without ``Content-Length`` or chunked framing, the body of an answer ends when the
        connection closes, whether or not the file was whole; a ZIP is still checked by its
        structure and CRCs, a raw file cannot be.
        """
        if not self.framed and not is_zip:
            raise ExportCorruptError(
                f"the server did not say how long {self.what} is (no Content-Length, not chunked), so a cut "
                "connection cannot be told from its end; export with compress=True (the default) so the "
                "archive can be checked"
            )


async def fetch(session: Session, target: Target, transfer: Transfer) -> None:
    """GET ``target`` into ``transfer``, resuming after drops while bytes keep arriving.

    The pipeline retries a failed attempt up to ``RetryPolicy.max_attempts``; a download
    that made progress before failing gets further tries (up to ``MAX_RESUMES``), so a
    long transfer over a flaky link is not abandoned after four drops.
    """
    if transfer.max_bytes is None:
        transfer.max_bytes = session.limits.download_bytes
    resumes = 0
    while True:
        before = transfer.offset
        try:
            await _send(session, target, transfer)
            return
        except APIConnectionError:
            if transfer.offset > before and resumes < MAX_RESUMES:
                resumes += 1
                continue
            raise


async def _send(session: Session, target: Target, transfer: Transfer) -> None:
    try:
        await session.send(
            "GET",
            target,
            body=None,
            on_success=transfer.receive,
            idempotent=True,
            attempt_timeout=None,  # a big file takes long; Timeouts.sock_read bounds silence
            no_deadline=True,
            extra_headers=transfer.request_headers,
        )
    except APIStatusError as exc:
        if exc.status != 416:
            raise
        # The resumed range starts at or past the end: every byte may already be here (the
        # connection dropped after the last one), or the file changed.
        if transfer.total is not None and transfer.offset == transfer.total:
            return
        raise ExportCorruptError(
            f"the server refused to resume {transfer.what} at byte {transfer.offset} (416); it will be "
            "downloaded again from the start",
            request_id=exc.request_id,
        ) from exc


class _FileWriter:
    """Writes chunks to the file without stalling the event loop on a slow disk.

    A write to the page cache takes microseconds, and handing every chunk to a worker
    thread costs more than the write (and pauses reading meanwhile): the download benchmark
    measured 0.73–0.92× raw aiohttp that way against 0.97× writing in the loop. So chunks
    are written in the loop until one write takes longer than ``SLOW_WRITE`` (a slow or
    remote disk, or the kernel throttling dirty pages); from then on they are buffered and
    written ``FLUSH_SIZE`` at a time from a worker thread.
    """

    SLOW_WRITE = 0.002  # seconds

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._buffer = bytearray()
        self._threaded = False

    async def write(self, chunk: bytes) -> None:
        if self._threaded:
            self._buffer += chunk
            if len(self._buffer) >= FLUSH_SIZE:
                await self.flush()
            return
        started = time.perf_counter()
        _write_all(self._file, chunk)
        if time.perf_counter() - started > self.SLOW_WRITE:
            self._threaded = True

    async def flush(self) -> None:
        if self._buffer:
            data, self._buffer = self._buffer, bytearray()
            await anyio.to_thread.run_sync(_write_all, self._file, data)


def _write_all(file: IO[bytes], data: bytes | bytearray) -> None:
    """Write every byte (an unbuffered file may accept fewer than offered)."""
    view = memoryview(data)
    while view:
        written = file.write(view)
        view = view[written or 0 :]


def part_path(dest: Path) -> Path:
    """Where a download to ``dest`` is written until it is whole."""
    return dest.with_name(dest.name + ".part")


def check_destination(dest: str | os.PathLike[str]) -> Path:
    """``dest`` as a Path, refused early when its folder is missing or it is a folder."""
    path = Path(os.fspath(dest))
    if path.is_dir():
        raise ConfigurationError(f"destination {str(path)!r} is a folder; pass a file path such as 'out/survey.zip'")
    if not path.parent.is_dir():
        raise ConfigurationError(f"the folder of {str(path)!r} does not exist; create it first")
    return path


def open_private(path: Path) -> IO[bytes]:
    """Open ``path`` for writing, truncated, readable by the owner only (exports hold personal data)."""
    # O_NOFOLLOW: a symlink planted at the .part name must not redirect personal data.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with contextlib.suppress(AttributeError, OSError):  # platforms without fchmod
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
    return os.fdopen(fd, "wb", buffering=0)


async def download_to_file(
    session: Session,
    target: Target,
    dest: Path,
    *,
    progress: ByteProgress | None = None,
    what: str = "the export file",
) -> tuple[int, bool]:
    """Download ``target`` to ``dest`` atomically; return (size in bytes, whether it is a ZIP).

    Raises:
        ExportCorruptError: the size or the ZIP check failed; ``dest`` was not touched.
    """
    part = part_path(dest)
    file = open_private(part)
    try:
        writer = _FileWriter(file)
        transfer = Transfer(writer.write, progress=progress, what=what)
        await fetch(session, target, transfer)
        await writer.flush()
        is_zip = transfer.head == ZIP_MAGIC
        transfer.check_complete(is_zip=is_zip)
        most = session.limits.download_bytes
        await run_stoppable(lambda stop: _finish(file, part, is_zip, what, most, stop))
        file.close()
        os.replace(part, dest)
        _fsync_dir(dest.parent)
        return transfer.offset, is_zip
    except BaseException:
        file.close()
        part.unlink(missing_ok=True)
        raise


def _finish(
    file: IO[bytes], part: Path, is_zip: bool, what: str, max_size: int, stop: threading.Event | None = None
) -> None:
    """Flush to disk, then check the ZIP structure and CRCs (in a worker thread; ``stop``
    ends it early when the caller was cancelled)."""
    file.flush()
    os.fsync(file.fileno())
    if is_zip:
        verify_zip(part, what, max_size=max_size, stop=stop)


def verify_zip(
    path: Path, what: str = "the export file", *, max_size: int | None = None, stop: threading.Event | None = None
) -> None:
    """Read the central directory and check every member's CRC-32.

    Members the central directory declares larger than ``max_size`` (``SizeLimits.download_bytes``),
    together, are refused before anything is inflated; ``zipfile`` inflates no member past its
    declared size, so the check costs at most that much work, however many entries (or entries
    sharing one compressed stream) the directory lists.

    Raises:
        ExportCorruptError: the archive is damaged or a CRC-32 does not match.
        ResponseTooLargeError: the members are declared larger than ``max_size``.
    """
    limit = SizeLimits().download_bytes if max_size is None else max_size
    try:
        with zipfile.ZipFile(path) as archive:
            declared = 0
            for info in archive.infolist():
                declared += info.file_size
                if declared > limit:
                    files = f"The file {info.filename!r}" if declared == info.file_size else "The files"
                    raise too_large(
                        f"{files} of {what} (declared {format_size(declared)} inflated)", limit, "download_bytes"
                    )
            bad = _first_bad_member(archive, stop)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ExportCorruptError(f"{what} is not a whole ZIP archive ({exc})") from None
    if bad is not None:
        raise ExportCorruptError(f"{what} is corrupt: member {bad!r} fails its CRC-32 check")


def _first_bad_member(archive: zipfile.ZipFile, stop: threading.Event | None) -> str | None:
    """``ZipFile.testzip()``, one buffer at a time so that ``stop`` can end it."""
    for info in archive.infolist():
        try:
            with archive.open(info) as member:  # the CRC-32 is checked when the member ends
                while member.read(_VERIFY_BUFFER):
                    check(stop)
        except zipfile.BadZipFile:
            return info.filename
    return None


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


__all__ = ["Transfer", "check_destination", "download_to_file", "fetch", "open_private", "part_path", "verify_zip"]
