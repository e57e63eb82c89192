"""File names from untrusted text, and the one way a name is joined to a folder.

Survey ids (from the caller or the command line), file ids (from the server), survey names
(ZIP member names, from the server) all end up in file names. Any of them may hold ``/``,
``\\``, ``..``, NUL, a Windows device name or 10,000 characters, and none may ever make
the client write outside the folder the user chose (docs/exports.md, "File names").

:func:`safe_name` turns any text into one portable file name, and :func:`path_in` joins
such a name to its folder, refusing (``ConfigurationError``) anything that would not be a
file directly inside it. Every file name the package derives from an id or a server's
value goes through both.

Rules (docs/exports.md):

* NFC normalisation; runs of path separators (``/``, ``\\`` and their full-width
  look-alikes), characters Windows refuses (``:*?"<>|``), control characters (C0, DEL, C1),
  bidirectional overrides, line/paragraph separators and lone surrogates become one ``_``;
* leading dots and whitespace go (no hidden file, never ``.`` or ``..``), trailing dots and
  whitespace go (Windows drops them), a leading ``-`` becomes ``_`` (never read as an option);
* a Windows device name (``CON``, ``NUL``, ``COM1``, ``LPT1``... with any extension) gets a
  ``_`` prefix;
* at most ``max_bytes`` UTF-8 bytes (150 by default), cut on a character, keeping the
  extension;
* nothing left (or only ``_``): ``fallback``, itself made safe.

A name that passes every rule is returned unchanged: real ids (``SV_1RHtIM0ZnJiPNhs``,
``ES_...``, UUIDs) keep their exact file names. With ``tag_changes`` (the default, for ids)
a name that had to be changed gets ``-`` and 8 hex digits of the SHA-256 of the original
text before its extension, so ``a/b`` (``a_b-1c8f...``) and ``a_b`` never share a file.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from qualtrics_async.errors import ConfigurationError

MAX_NAME_BYTES = 150
"""The default bound of a name, in UTF-8 bytes: room under the usual 255 for the suffixes
the package adds (``.part``, ``.tmp``, ``.lock``, ``-00001-continuation.zip``)."""

_UNSAFE = re.compile(
    "["
    "\x00-\x1f\x7f-\x9f"  # C0 controls (NUL, tab, newline...), DEL, C1 controls
    '/\\\\:*?"<>|'  # separators, and what Windows refuses in a name
    "\uff0f\uff3c\u2215\u2216"  # full-width solidus / reverse solidus, division slash, set minus
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidirectional marks and overrides
    "\u2028\u2029"  # line and paragraph separators
    "\ud800-\udfff"  # lone surrogates (undecodable bytes from os.fsdecode): not UTF-8
    "]+"
)
_LEADING = re.compile(r"^[\s.]+")
_TRAILING = re.compile(r"[\s.]+$")
_WINDOWS_RESERVED = frozenset(
    {
        "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$",
        *(f"{port}{n}" for port in ("COM", "LPT") for n in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")),
    }
)  # fmt: skip
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,16}")
_TAG_HEX = 8
_MIN_BYTES = 48  # room for "_", the "-" tag, a 16-byte extension and some of the stem


def safe_name(text: str, *, fallback: str, max_bytes: int = MAX_NAME_BYTES, tag_changes: bool = True) -> str:
    """One portable file name (never a path) from any text; see the module docs for the rules.

    Deterministic: the same text always gives the same name. The result is never empty,
    never ``.`` or ``..``, holds no separator, NUL or control character, and is at most
    ``max_bytes`` UTF-8 bytes.

    Args:
        text: the untrusted text (an id, a survey name, a ZIP member name).
        fallback: the name used when nothing recognisable is left (made safe too).
        max_bytes: the bound, in UTF-8 bytes (at least 48).
        tag_changes: append ``-`` and 8 hex digits of the text's SHA-256 when the name had
            to be changed, so two different texts never give one name. ``False`` for names
            that are not unique anyway (survey names), to keep them as readable as possible.
    """
    if max_bytes < _MIN_BYTES:
        raise ValueError(f"max_bytes must be at least {_MIN_BYTES}, got {max_bytes}")
    name = _clean(text)
    if not name:
        name = _clean(fallback) or "file"
    stem, ext = _split_extension(name)
    if _device_name(name):
        stem = "_" + stem
    name = stem + ext
    changed = name != text or len(name.encode("utf-8")) > max_bytes
    tag = f"-{_digest(text)}" if changed and tag_changes else ""
    budget = max_bytes - len(tag.encode("utf-8")) - len(ext.encode("utf-8"))
    stem = _cut(stem, budget)
    return stem + tag + ext


def path_in(folder: str | os.PathLike[str], name: str) -> Path:
    """``folder / name``, refused unless it is a file directly inside ``folder``.

    The belt to :func:`safe_name`'s braces: a name that is not one plain component
    (a separator, ``.``/``..``, NUL, a drive or an absolute path), or that would resolve
    outside ``folder``, raises instead of being written.

    Raises:
        ConfigurationError: the name would escape ``folder`` (the message names it).
    """
    base = Path(os.fspath(folder))
    if (
        not name
        or name in (".", "..")
        or "\x00" in name
        or "/" in name
        or "\\" in name
        or os.sep in name
        or (os.altsep is not None and os.altsep in name)
        or Path(name).name != name
        or Path(name).is_absolute()
    ):
        raise _escape(base, name)
    path = base / name
    real = Path(os.path.realpath(base))
    # The last component is not resolved: a symlink there is replaced by os.replace, never followed.
    if Path(os.path.normpath(real / name)).parent != real:  # pragma: no cover - caught above on every OS
        raise _escape(base, name)
    return path


def _clean(text: str) -> str:
    name = _UNSAFE.sub("_", unicodedata.normalize("NFC", text))
    name = _TRAILING.sub("", _LEADING.sub("", name))
    if name.startswith("-"):
        name = "_" + name[1:]
    return "" if set(name) <= {"_"} else name


def _split_extension(name: str) -> tuple[str, str]:
    """(stem, ".ext") when the name ends with a short extension (ASCII letters and digits), else (name, "")."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem.strip(". ") or not _EXTENSION.fullmatch(ext):
        return name, ""
    return stem, dot + ext


def _device_name(name: str) -> bool:
    """Whether Windows reads ``name`` as a device (``CON``, ``nul.txt``, ``COM1 .tar.gz``)."""
    return name.partition(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED


def _cut(stem: str, budget: int) -> str:
    """``stem`` in at most ``budget`` UTF-8 bytes, cut on a character, no trailing dot or space."""
    data = stem.encode("utf-8")
    if len(data) <= budget:
        return stem
    cut = _TRAILING.sub("", data[:budget].decode("utf-8", errors="ignore"))
    return cut or "_"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()[:_TAG_HEX]


def _escape(folder: Path, name: str) -> ConfigurationError:
    return ConfigurationError(
        f"refusing to write {name!r} into {str(folder)!r}: it is not a plain file name inside that folder "
        "(a separator, '..', NUL or an absolute path would escape it); pass an id or name without them "
        "(see docs/exports.md, 'File names')"
    )


__all__ = ["MAX_NAME_BYTES", "path_in", "safe_name"]
