"""A batch of contacts: the unit that is sent, checkpointed and reported.

A batch is identified by the input positions it covers (``"12000-12999"``): the same input
in the same order makes the same batches, which is what lets a checkpoint be resumed. A
batch refused as a whole is split into parts; the parts remember their ``root`` (the batch
a worker took), so that an import stopped half-way can still account for every contact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from qualtrics_async.contact_import._report import BatchResult, BatchStatus, ContactFailure, FailureKind


@dataclass(eq=False, slots=True)
class Batch:
    """Contacts being filled in as dicts; once sealed (:meth:`seal`), kept only as their JSON (about a
    fifth of the memory of the dicts) and decoded again when a part or a failure needs them."""

    indexes: list[int] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    _contacts: list[dict[str, Any]] | None = field(default_factory=list)
    root: Batch | None = None
    """The batch a worker took, for a part of it; ``None`` for that batch itself."""
    settled: list[Batch] = field(default_factory=list)
    """On a root: its parts whose outcome is in the report (the root itself once settled whole)."""
    sent: dict[str, Batch] = field(default_factory=dict)
    """On a root: its parts whose request may have gone out and whose outcome is not known yet."""
    whole: bool = False
    """On a root: its outcome is in the report as one piece."""
    _encoded: bytes | None = None

    def __len__(self) -> int:
        return len(self.indexes)

    def add(self, index: int, line: int | None, contact: dict[str, Any]) -> None:
        assert self._contacts is not None, "a sealed batch takes no more contacts"
        self.indexes.append(index)
        self.lines.append(line)
        self._contacts.append(contact)

    def seal(self) -> None:
        """Keep the contacts as JSON only, from now on."""
        self._encoded = self.encoded
        self._contacts = None

    @property
    def contacts(self) -> list[dict[str, Any]]:
        if self._contacts is not None:
            return self._contacts
        decoded: list[dict[str, Any]] = msgspec.json.decode(self.encoded)
        return decoded

    @property
    def key(self) -> str:
        return f"{self.indexes[0]}-{self.indexes[-1]}"

    @property
    def top(self) -> Batch:
        return self if self.root is None else self.root

    @property
    def encoded(self) -> bytes:
        """The contacts as a JSON array (encoded once; the request body and the digest use it)."""
        if self._encoded is None:
            self._encoded = msgspec.json.encode(self._contacts)
        return self._encoded

    def digest(self, salt: bytes) -> str:
        """A fingerprint of the contacts (and ``salt``: the request's other fields)."""
        return hashlib.sha256(self.encoded + b"\0" + salt).hexdigest()[:32]

    def split(self, at: int | None = None) -> tuple[Batch, Batch]:
        """Two parts: the first ``at`` contacts (default half) and the rest."""
        at = len(self) // 2 if at is None else at
        top, contacts = self.top, self.contacts
        return (
            Batch(self.indexes[:at], self.lines[:at], contacts[:at], root=top),
            Batch(self.indexes[at:], self.lines[at:], contacts[at:], root=top),
        )

    def subset(self, keep: set[int]) -> Batch | None:
        """The contacts whose index is in ``keep`` (``None`` if none is)."""
        picked = [i for i, index in enumerate(self.indexes) if index in keep]
        if not picked:
            return None
        contacts = self.contacts
        return Batch(
            [self.indexes[i] for i in picked],
            [self.lines[i] for i in picked],
            [contacts[i] for i in picked],
            root=self.top,
        )

    def result(self, status: BatchStatus, **fields: Any) -> BatchResult:
        return BatchResult(first=self.indexes[0], last=self.indexes[-1], size=len(self), status=status, **fields)

    def failures(self, reason: str, kind: FailureKind, request_id: str | None = None) -> list[ContactFailure]:
        return [
            ContactFailure(index, contact, reason, kind, line, request_id)
            for index, line, contact in zip(self.indexes, self.lines, self.contacts, strict=True)
        ]


__all__ = ["Batch"]
