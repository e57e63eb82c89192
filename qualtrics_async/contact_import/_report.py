"""What a bulk contact import did: totals, one entry per batch, and every contact that did not land.

Every contact read is accounted for exactly once::

    total = invalid + submitted + unknown
    submitted = added + updated + failed      (when Qualtrics' counts reconcile, RELIABILITY F5)

``invalid`` contacts were refused here and never sent; ``unknown`` ones were in a batch whose
outcome could not be learned (the answer to its POST was lost or was a 5xx): they may or may
not have been imported, and re-sending them is safe only because the directory deduplicates
(by email / extRef) -- see :meth:`ImportReport.unknown_contacts`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from qualtrics_async.errors import ConfigurationError, ContactImportError

FailureKind = Literal["invalid", "rejected", "failed", "not_sent"]
"""Why a contact did not land: ``invalid`` (refused before sending), ``rejected`` (Qualtrics
answered 400 for it alone), ``failed`` (its import job counted it failed, or the job failed),
``not_sent`` (its batch provably never reached Qualtrics)."""

BatchStatus = Literal["done", "failed", "rejected", "not_sent", "unknown"]


@dataclass(frozen=True, slots=True)
class ContactFailure:
    """One contact that did not land, and why.

    Attributes:
        index: its position in the input (0-based; for a CSV, the data row number).
        contact: what was given (``invalid``) or the wire dict that was sent.
        reason: what went wrong and how to fix it.
        kind: see :data:`FailureKind`.
        line: the CSV line number, when the input was a CSV file.
        request_id: the Qualtrics requestId of the refusal, when there was one.
    """

    index: int
    contact: Any
    reason: str
    kind: FailureKind
    line: int | None = None
    request_id: str | None = None


@dataclass(slots=True)
class BatchResult:
    """One request's worth of contacts (``first``..``last`` are input positions, inclusive).

    Attributes:
        status: ``done`` (the job completed; see the counts), ``failed`` (the job failed),
            ``rejected`` (a one-contact batch answered 400), ``not_sent`` (never reached
            Qualtrics), ``unknown`` (outcome not learned: see ``reason``).
        import_id: the Qualtrics import job, once known.
        contacts: the contacts of an ``unknown`` batch, or of a ``done`` batch whose failed
            contacts Qualtrics did not name (``unattributed_failures``; only with
            ``keep_unattributed=True``); else empty.
        from_checkpoint: this outcome was recorded by an earlier run and not sent again.
    """

    first: int
    last: int
    size: int
    status: BatchStatus
    import_id: str | None = None
    added: int = 0
    updated: int = 0
    failed: int = 0
    transactions_created: int = 0
    invalid_emails: list[str] = field(default_factory=list)
    unattributed_failures: int = 0
    reason: str | None = None
    request_id: str | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    from_checkpoint: bool = False

    @property
    def reconciles(self) -> bool:
        """Whether Qualtrics' counts add up to the batch size (always true unless ``done``)."""
        return self.status != "done" or self.added + self.updated + self.failed == self.size


@dataclass(frozen=True, slots=True)
class BulkImportProgress:
    """Passed to the ``progress`` callback after each batch (and every few thousand invalid rows).

    Attributes:
        done: contacts settled (landed, failed, invalid or unknown).
        total: contacts in the input, when known (a sized collection or a CSV file).
        elapsed: seconds since the import started.
    """

    done: int
    total: int | None
    added: int
    updated: int
    failed: int
    invalid: int
    unknown: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Contacts settled per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        """``done / total`` when the total is known."""
        return None if not self.total else min(1.0, self.done / self.total)


ProgressCallback = Callable[[BulkImportProgress], object]


@dataclass(slots=True)
class ImportReport:
    """The outcome of :meth:`Contacts.bulk_import <qualtrics_async.resources.directory.Contacts.bulk_import>`.

    Attributes:
        directory_id, mailing_list_id: where the contacts went (the list is the one created
            for the import when none was given).
        batches: one entry per request, in input order.
        failures: every contact that did not land, with its reason (invalid ones included).
        summary_available: ``False`` once Qualtrics answered that the import-summary
            endpoint is gone; invalid emails are then counted in ``failed`` but not named.
        elapsed: seconds the import took.
    """

    directory_id: str
    mailing_list_id: str
    total: int = 0
    submitted: int = 0
    added: int = 0
    updated: int = 0
    failed: int = 0
    invalid: int = 0
    unknown: int = 0
    transactions_created: int = 0
    batches: list[BatchResult] = field(default_factory=list)
    failures: list[ContactFailure] = field(default_factory=list)
    summary_available: bool = True
    elapsed: float = 0.0
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def ok(self) -> bool:
        """Every contact was valid and landed (added or updated)."""
        return not (self.failed or self.invalid or self.unknown)

    @property
    def reconciles(self) -> bool:
        """``submitted == added + updated + failed`` (RELIABILITY F5) and every contact is counted once."""
        return (
            self.submitted == self.added + self.updated + self.failed
            and self.total == self.invalid + self.submitted + self.unknown
        )

    @property
    def import_ids(self) -> list[str]:
        """The Qualtrics import jobs, in input order."""
        return [batch.import_id for batch in self.batches if batch.import_id]

    def failed_contacts(self, *, include_unattributed: bool = False) -> list[dict[str, Any]]:
        """The contacts that were sent (or meant to be) and did not land, ready to import again.

        Invalid contacts are not included (they need fixing first: see :attr:`failures`).
        ``include_unattributed`` adds every contact of a batch in which Qualtrics counted
        failures without naming them (kept only by an import run with
        ``keep_unattributed=True``); re-sending those merges into the directory only if it
        deduplicates (by email / extRef), else the ones that did land are duplicated.

        Raises:
            ConfigurationError: ``include_unattributed`` for an import that did not keep them.
        """
        contacts = [failure.contact for failure in self.failures if failure.kind != "invalid"]
        if include_unattributed:
            for batch in self.batches:
                if batch.status == "done" and batch.unattributed_failures:
                    if not batch.contacts:
                        raise ConfigurationError(
                            f"batch #{batch.first}..#{batch.last} had {batch.unattributed_failures} unnamed failures "
                            "but its contacts were not kept; import with keep_unattributed=True to get them back"
                        )
                    contacts.extend(batch.contacts)
        return contacts

    def unknown_contacts(self) -> list[dict[str, Any]]:
        """The contacts of batches whose outcome is unknown (they may or may not have landed).

        Import them again -- ``await client.contacts.bulk_import(pool, report.unknown_contacts(),
        mailing_list_id=report.mailing_list_id)`` -- once the cause is gone: a directory that
        deduplicates by email / extRef merges a contact that did land instead of adding it
        twice. Contacts without those fields would be duplicated.
        """
        return [contact for batch in self.batches if batch.status == "unknown" for contact in batch.contacts]

    def raise_for_failures(self) -> None:
        """Raise :class:`~qualtrics_async.errors.ContactImportError` unless :attr:`ok`."""
        if self.ok:
            return
        parts = [
            f"{count} {label}"
            for count, label in (
                (self.failed, "failed"),
                (self.invalid, "invalid"),
                (self.unknown, "of unknown outcome"),
            )
            if count
        ]
        examples = "; ".join(
            f"#{failure.index}{f' (line {failure.line})' if failure.line else ''}: {_clip(failure.reason)}"
            for failure in self.failures[:3]
        )
        unknown = [batch for batch in self.batches if batch.status == "unknown"]
        if unknown:
            examples += (
                "; " if examples else ""
            ) + f"unknown batch #{unknown[0].first}..#{unknown[0].last}: {unknown[0].reason}"
        raise ContactImportError(
            f"contact import into {self.mailing_list_id}: {', '.join(parts)} of {self.total} contacts"
            + (f" ({examples})" if examples else "")
            + "; see report.failures, report.failed_contacts() and report.unknown_contacts()",
            report=self,
        )

    def progress(self, total: int | None = None) -> BulkImportProgress:
        """A snapshot for progress callbacks (``total``: the input's size, when known)."""
        return BulkImportProgress(
            done=self.invalid + self.submitted + self.unknown,
            total=total,
            added=self.added,
            updated=self.updated,
            failed=self.failed,
            invalid=self.invalid,
            unknown=self.unknown,
            elapsed=time.monotonic() - self._started,
        )


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = [
    "BatchResult",
    "BatchStatus",
    "BulkImportProgress",
    "ContactFailure",
    "FailureKind",
    "ImportReport",
    "ProgressCallback",
]
