"""Unzipping an export safely: no path from the archive is ever trusted.

Qualtrics names the archive member after the survey (``{survey name}.{format}``), and
survey names hold ``/``, ``:``, ``\\`` and other characters that are not valid in a file
name on some system (qualtRics issues #71, #159, #195). A member name is therefore reduced
to one safe file name (never a path) by the package's one safe-name function
(``qualtrics_async._safename``, docs/exports.md "File names"), joined to the folder only
through its checked ``path_in``, and the member is streamed to ``name + ".part"`` (mode
0600), checked against its CRC-32, fsynced and renamed, like a download.
"""

from __future__ import annotations

import os
import threading
import zipfile
from pathlib import Path

from qualtrics_async._config import SizeLimits
from qualtrics_async._safename import path_in, safe_name
from qualtrics_async._sansio import format_size, too_large
from qualtrics_async._threads import check
from qualtrics_async.errors import ExportCorruptError
from qualtrics_async.exports._download import open_private, part_path

_COPY_BUFFER = 1 << 20


def safe_filename(name: str, *, fallback: str) -> str:
    """One portable file name from an archive member name (or ``fallback`` if nothing is left).

    :func:`qualtrics_async._safename.safe_name` without the change tag (survey names are not
    unique anyway, and the extracted files keep their readable names): separators, control
    characters and characters invalid on Windows become ``_``; leading dots and trailing
    dots/spaces go; Windows device names get a ``_`` prefix; the name is cut to 150 UTF-8
    bytes, keeping its extension.
    """
    return safe_name(name, fallback=fallback, tag_changes=False)


def extract_single_member(
    archive_path: Path,
    folder: Path,
    *,
    fallback: str,
    target: Path | None = None,
    max_size: int | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Extract the archive's one member into ``folder`` under a safe name (or to ``target``).

    Blocking: call it from a worker thread. Returns the extracted file's path. When ``stop``
    is set (the caller was cancelled), it stops within one buffer and removes its ``.part``.

    Inflation is bounded (docs/exports.md, "Hostile export files"): a member declared larger
    than ``max_size`` (``SizeLimits.download_bytes``, its default when None) is refused before
    anything is written, and ``zipfile`` inflates no member past its declared size (more data
    fails the CRC-32 check), so the disk holds at most that.

    Raises:
        ExportCorruptError: the archive is damaged or holds no file.
        ResponseTooLargeError: the member is declared larger than ``max_size``.
    """
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise ExportCorruptError(f"the export archive {archive_path.name!r} holds no file")
            member = members[0]
            limit = SizeLimits().download_bytes if max_size is None else max_size
            if member.file_size > limit:
                declared = f"declared {format_size(member.file_size)} inflated"
                raise too_large(
                    f"The file of the export archive {archive_path.name!r} ({declared})", limit, "download_bytes"
                )
            dest = target if target is not None else path_in(folder, safe_filename(member.filename, fallback=fallback))
            part = part_path(dest)
            out = open_private(part)
            try:
                with archive.open(member) as source:  # zipfile checks the CRC-32 at the end
                    while block := source.read(_COPY_BUFFER):
                        check(stop)
                        out.write(block)
                check(stop)
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
