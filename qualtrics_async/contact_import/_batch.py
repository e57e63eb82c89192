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
    indexes: list[int] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    root: Batch | None = None
    """The batch a worker took, for a part of it; ``None`` for that batch itself."""
    settled: list[Batch] = field(default_factory=list)
    """On a root: its parts whose outcome is in the report (the root itself once settled whole)."""
    sent: dict[str, Batch] = field(default_factory=dict)
    """On a root: its parts whose request may have gone out and whose outcome is not known yet."""
    _encoded: bytes | None = None

    def __len__(self) -> int:
        return len(self.contacts)

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
            self._encoded = msgspec.json.encode(self.contacts)
        return self._encoded

    def digest(self, salt: bytes) -> str:
        """A fingerprint of the contacts (and ``salt``: the request's other fields)."""
        return hashlib.sha256(self.encoded + b"\0" + salt).hexdigest()[:32]

    def split(self, at: int | None = None) -> tuple[Batch, Batch]:
        """Two parts: the first ``at`` contacts (default half) and the rest."""
        at = len(self) // 2 if at is None else at
        top = self.top
        return (
            Batch(self.indexes[:at], self.lines[:at], self.contacts[:at], root=top),
            Batch(self.indexes[at:], self.lines[at:], self.contacts[at:], root=top),
        )

    def subset(self, keep: set[int]) -> Batch | None:
        """The contacts whose index is in ``keep`` (``None`` if none is)."""
        picked = [i for i, index in enumerate(self.indexes) if index in keep]
        if not picked:
            return None
        return Batch(
            [self.indexes[i] for i in picked],
            [self.lines[i] for i in picked],
            [self.contacts[i] for i in picked],
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
