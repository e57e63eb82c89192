"""The checkpoint of a bulk contact import: what each batch became, so a new run resumes.

A JSON-lines file (mode 0600: contacts are personal data; counts, job ids, invalid emails
and Qualtrics' refusal messages, which may quote a value, are written, never whole
contacts). The first line identifies the import::

    {"checkpoint": "qualtrics-async contact import", "version": 1, "directoryId": ...,
     "mailingListId": ..., "batchSize": ...}

then one line per step of a batch, keyed by the input positions it covers (``"12000-12999"``);
the last line of a key wins. Each line is flushed and fsynced before the step it records
takes effect (a ``posting`` line before the POST leaves), so after a crash the file never
claims less than happened:

* ``posting`` -- written just before the POST leaves (after rate limiting): on resume the
  batch is ``unknown``, never re-sent. A batch with no line was never sent: it is sent.
* ``started`` (``importId``) -- the job exists: on resume it is polled, not re-sent.
* ``done`` / ``failed`` / ``rejected`` / ``unknown`` -- settled: taken over as is.
* ``split`` -- answered 400/413 as a whole: resumed by splitting it the same way (``at``).
* ``refused`` / ``not_sent`` -- provably not imported: sent again.

A ``digest`` of each batch's contacts makes a resume with different input an error instead
of a silent mismatch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec

from qualtrics_async._decoding import decode_any
from qualtrics_async.errors import ConfigurationError

MAGIC = "qualtrics-async contact import"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Header:
    directory_id: str
    mailing_list_id: str
    batch_size: int


class Checkpoint:
    """One import's checkpoint file. Load with :meth:`open`; append with :meth:`record`."""

    def __init__(self, path: Path, header: Header, records: dict[str, dict[str, Any]], fd: int) -> None:
        self.path = path
        self.header = header
        self.records = records
        self._fd = fd

    @classmethod
    async def open(
        cls, path: Path, *, directory_id: str, mailing_list_id: str | None, batch_size: int
    ) -> Checkpoint | None:
        """The existing checkpoint at ``path`` (checked against this run), or ``None`` if there is none.

        Raises:
            ConfigurationError: the file belongs to another import, another batch size, or is
                not a checkpoint.
        """
        return await anyio.to_thread.run_sync(cls._load, path, directory_id, mailing_list_id, batch_size)

    @classmethod
    def _load(cls, path: Path, directory_id: str, mailing_list_id: str | None, batch_size: int) -> Checkpoint | None:
        if path.is_symlink():
            raise ConfigurationError(f"the checkpoint {str(path)!r} is a symbolic link; give the real path")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        lines = raw.splitlines()
        if not lines:
            return None
        try:
            first = decode_any(lines[0])
        except msgspec.DecodeError:
            first = None
        if not isinstance(first, dict) or first.get("checkpoint") != MAGIC:
            raise ConfigurationError(
                f"{str(path)!r} is not a contact-import checkpoint; choose another checkpoint path"
            )
        try:
            header = Header(str(first["directoryId"]), str(first["mailingListId"]), int(first["batchSize"]))
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(
                f"checkpoint {str(path)!r} has a damaged header; it cannot be trusted to resume from"
            ) from None
        if header.directory_id != directory_id or mailing_list_id not in (None, header.mailing_list_id):
            raise ConfigurationError(
                f"checkpoint {str(path)!r} belongs to an import into {header.directory_id} / "
                f"{header.mailing_list_id}, not {directory_id} / {mailing_list_id}; use another checkpoint path"
            )
        if header.batch_size != batch_size:
            raise ConfigurationError(
                f"checkpoint {str(path)!r} was written with batch_size={header.batch_size}; resume with the "
                f"same batch size (got {batch_size})"
            )
        records: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(lines[1:], start=2):
            try:
                record = decode_any(line)
                key = str(record["key"])
            except (msgspec.DecodeError, KeyError, TypeError):
                if number == len(lines) and not raw.endswith(b"\n"):
                    break  # cut short by a crash mid-write: the step it began never took effect
                raise ConfigurationError(
                    f"checkpoint {str(path)!r} line {number} is damaged; it cannot be trusted to resume from"
                ) from None
            records[key] = record
        fd = _open_append(path)
        if not raw.endswith(b"\n"):  # drop the torn line, or the next record would be glued to it
            os.ftruncate(fd, raw.rfind(b"\n") + 1)
        return cls(path, header, records, fd)

    @classmethod
    async def create(cls, path: Path, header: Header) -> Checkpoint:
        """Start a new checkpoint file (its folder must exist)."""
        line = {
            "checkpoint": MAGIC,
            "version": VERSION,
            "directoryId": header.directory_id,
            "mailingListId": header.mailing_list_id,
            "batchSize": header.batch_size,
        }

        def write() -> int:
            fd = _open_append(path, truncate=True)
            _append(fd, line)
            _sync_folder(path)  # the new file's name is durable too
            return fd

        return cls(path, header, {}, await anyio.to_thread.run_sync(write))

    async def record(self, key: str, state: str, **fields: Any) -> None:
        """Append one step (durably, from a worker thread) and remember it."""
        await anyio.to_thread.run_sync(_append, self._fd, self._remember(key, state, fields))

    def record_now(self, key: str, state: str, **fields: Any) -> None:
        """:meth:`record`, blocking: for the last moment before a request leaves (one small fsync)."""
        _append(self._fd, self._remember(key, state, fields))

    def _remember(self, key: str, state: str, fields: dict[str, Any]) -> dict[str, Any]:
        record = {"key": key, "state": state, **{k: v for k, v in fields.items() if v is not None}}
        self.records[key] = record
        return record

    def close(self) -> None:
        os.close(self._fd)


def _open_append(path: Path, *, truncate: bool = False) -> int:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | (os.O_TRUNC if truncate else 0), 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise ConfigurationError(f"the checkpoint {str(path)!r} is a symbolic link; give the real path") from exc
        raise
    os.fchmod(fd, 0o600)  # also a file that existed before, with wider permissions
    return fd


def _sync_folder(path: Path) -> None:
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append(fd: int, record: dict[str, Any]) -> None:
    os.write(fd, msgspec.json.encode(record) + b"\n")
    os.fsync(fd)


__all__ = ["Checkpoint", "Header"]
