"""``multipart/form-data`` bodies for the uploads that need them (survey imports, response
files, graphics), sent as raw ``content`` through the one request pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from qualtrics_async.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a ``multipart/form-data`` body."""

    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None


def multipart_body(parts: Sequence[FormPart]) -> tuple[bytes, str]:
    """Encode ``parts`` as ``multipart/form-data``; return the body and its ``Content-Type``."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for part in parts:
        for text in (part.name, part.filename or ""):
            if any(c in text for c in '"\r\n'):
                raise ConfigurationError(f"form field and file names cannot hold quotes or line breaks: {text!r}")
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if part.content_type is not None:
            head += f"Content-Type: {part.content_type}\r\n"
        chunks += [head.encode(), b"\r\n", part.content, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


__all__ = ["FormPart", "multipart_body"]
