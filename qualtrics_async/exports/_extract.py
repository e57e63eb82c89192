"""Unzipping an export safely: no path from the archive is ever trusted.

Qualtrics names the archive member after the survey (``{survey name}.{format}``), and
survey names hold ``/``, ``:``, ``\\`` and other characters that are not valid in a file
name on some system (qualtRics issues #71, #159, #195). A member name is therefore reduced
to one safe file name (never a path), and the member is streamed to ``name + ".part"``
(mode 0600), checked against its CRC-32, fsynced and renamed, like a download.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import zipfile
from pathlib import Path

from qualtrics_async.errors import ExportCorruptError
from qualtrics_async.exports._download import open_private, part_path

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
_MAX_NAME_BYTES = 240  # below the usual 255-byte limit, leaving room for ".part"
_COPY_BUFFER = 1 << 20


def safe_filename(name: str, *, fallback: str) -> str:
    """One portable file name from an archive member name (or ``fallback`` if nothing is left).

    Separators and characters invalid on Windows become ``_``; leading dots and trailing
    dots/spaces go; Windows device names get a ``_`` prefix; the name is cut to 240 UTF-8
    bytes, keeping its extension.
    """
    name = unicodedata.normalize("NFC", name)
    cleaned = _UNSAFE.sub("_", name).strip().lstrip(".").rstrip(". ")
    if not cleaned or set(cleaned) <= {"_"}:
        cleaned = fallback
    stem, dot, ext = cleaned.rpartition(".")
    if not dot:
        stem, ext = cleaned, ""
    if stem.upper() in _WINDOWS_RESERVED:
        cleaned = "_" + cleaned
    suffix = (dot + ext) if len((dot + ext).encode()) < 32 else ""
    while len(cleaned.encode()) > _MAX_NAME_BYTES:
        stem = stem[:-1]
        cleaned = stem + suffix
    return cleaned


def extract_single_member(archive_path: Path, folder: Path, *, fallback: str, target: Path | None = None) -> Path:
    """Extract the archive's one member into ``folder`` under a safe name (or to ``target``).

    Blocking: call it from a worker thread. Returns the extracted file's path.

    Raises:
        ExportCorruptError: the archive is damaged or holds no file.
    """
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise ExportCorruptError(f"the export archive {archive_path.name!r} holds no file")
            member = members[0]
            dest = target if target is not None else folder / safe_filename(member.filename, fallback=fallback)
            part = part_path(dest)
            out = open_private(part)
            try:
                with archive.open(member) as source:  # zipfile checks the CRC-32 at the end
                    shutil.copyfileobj(source, out, _COPY_BUFFER)
                out.flush()
                os.fsync(out.fileno())
                out.close()
                os.replace(part, dest)
            except BaseException:
                out.close()
                part.unlink(missing_ok=True)
                raise
    except zipfile.BadZipFile as exc:
        raise ExportCorruptError(f"the export archive {archive_path.name!r} is damaged ({exc})") from None
    return dest


def member_name(archive_path: Path) -> str | None:
    """The name of the archive's first file (blocking)."""
    with zipfile.ZipFile(archive_path) as archive:
        return next((info.filename for info in archive.infolist() if not info.is_dir()), None)


__all__ = ["extract_single_member", "member_name", "safe_filename"]
