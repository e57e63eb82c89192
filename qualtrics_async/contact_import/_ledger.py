"""The bookkeeping of a bulk import: every batch outcome folded into the report exactly once.

Each outcome (done, failed job, rejected, not sent, unknown) goes through one method here,
which counts it, keeps what the caller needs to act on it (failures with reasons, the
contacts of unknown batches) and marks it settled on its root batch. Whatever is not settled
when an import stops on an error is accounted for by :meth:`Ledger.abort`, so even a partial
report counts every contact read exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qualtrics_async.contact_import._batch import Batch
from qualtrics_async.contact_import._report import ContactFailure, ImportReport

UNKNOWN_AFTER_RESTART = (
    "an earlier run stopped while this batch was being sent, so it may or may not have been imported; "
    "it is not sent again automatically (see ImportReport.unknown_contacts)"
)


class Ledger:
    """Folds batch outcomes into an :class:`ImportReport` (single-threaded: the event loop)."""

    def __init__(self, report: ImportReport, *, keep_unattributed: bool) -> None:
        self.report = report
        self._keep_unattributed = keep_unattributed

    # -- outcomes -----------------------------------------------------------------------------

    def invalid(self, index: int, item: object, reason: str, line: int | None) -> None:
        self.report.invalid += 1
        self.report.failures.append(ContactFailure(index, item, reason, "invalid", line))

    def sent(self, batch: Batch) -> bool:
        """Note that ``batch``'s request may be going out; ``False`` if already noted."""
        top = batch.top
        if batch.key in top.sent:
            return False
        top.sent[batch.key] = batch
        return True

    def done(
        self,
        batch: Batch,
        import_id: str | None,
        counts: tuple[int, int, int],
        transactions: int,
        invalid_emails: list[str],
        *,
        resumed: bool = False,
    ) -> None:
        added, updated, failed = counts
        result = batch.result(
            "done",
            import_id=import_id,
            added=added,
            updated=updated,
            failed=failed,
            transactions_created=transactions,
            invalid_emails=list(invalid_emails),
            from_checkpoint=resumed,
        )
        named = _name_failures(batch, invalid_emails)
        if failed > len(named):
            result.unattributed_failures = failed - len(named)
            if self._keep_unattributed:
                result.contacts = batch.contacts
        report = self.report
        report.failures.extend(named)
        report.submitted += len(batch)
        report.added += added
        report.updated += updated
        report.failed += failed
        report.transactions_created += transactions
        report.batches.append(result)
        self._settled(batch)

    def job_failed(self, batch: Batch, import_id: str | None, reason: str, *, resumed: bool = False) -> None:
        result = batch.result("failed", import_id=import_id, failed=len(batch), reason=reason, from_checkpoint=resumed)
        self._failed(batch, result, batch.failures(reason, "failed"))

    def rejected(self, batch: Batch, reason: str, request_id: str | None, *, resumed: bool = False) -> None:
        result = batch.result(
            "rejected", failed=len(batch), reason=reason, request_id=request_id, from_checkpoint=resumed
        )
        self._failed(batch, result, batch.failures(reason, "rejected", request_id))

    def not_sent(self, batch: Batch, reason: str, request_id: str | None = None) -> None:
        result = batch.result("not_sent", failed=len(batch), reason=reason, request_id=request_id)
        self._failed(batch, result, batch.failures(reason, "not_sent", request_id))

    def unknown(
        self,
        batch: Batch,
        reason: str,
        request_id: str | None,
        import_id: str | None = None,
        *,
        resumed: bool = False,
    ) -> None:
        self.report.unknown += len(batch)
        self.report.batches.append(
            batch.result(
                "unknown",
                reason=reason,
                request_id=request_id,
                import_id=import_id,
                contacts=batch.contacts,
                from_checkpoint=resumed,
            )
        )
        self._settled(batch)

    def replay(self, batch: Batch, record: dict[str, Any]) -> None:
        """Take over the outcome an earlier run recorded for ``batch``, without sending it."""
        state = record["state"]
        reason = str(record.get("reason"))
        if state == "done":
            counts = (int(record.get("added", 0)), int(record.get("updated", 0)), int(record.get("failed", 0)))
            emails = list(record.get("invalidEmails", []))
            transactions = int(record.get("transactions", 0))
            self.done(batch, record.get("importId"), counts, transactions, emails, resumed=True)
        elif state == "failed":
            self.job_failed(batch, record.get("importId"), reason, resumed=True)
        elif state == "rejected":
            self.rejected(batch, reason, record.get("requestId"), resumed=True)
        else:  # "unknown", or "posting": a run stopped while the request may have been on its way
            reason = UNKNOWN_AFTER_RESTART if state == "posting" else reason
            self.unknown(batch, reason, record.get("requestId"), record.get("importId"), resumed=True)

    # -- an import that stops on an error -----------------------------------------------------

    def abort(self, roots: Iterable[Batch], filling: Batch | None, cause: BaseException) -> None:
        """Account for every contact read but not settled: ``unknown`` where its request may
        have gone out, ``not_sent`` otherwise."""
        stopped = f"{type(cause).__name__}: {cause}"
        for root in roots:
            if root.whole:
                continue
            done = {index for part in root.settled for index in part.indexes}
            open_parts = list(root.sent.values())
            for part in open_parts:
                left = part.subset(set(part.indexes) - done)
                if left is not None:
                    reason = f"the import stopped ({stopped}) while this request was in flight: it may have landed"
                    self.unknown(left, reason, None)
                    done.update(left.indexes)
            rest = root.subset(set(root.indexes) - done)
            if rest is not None:
                self.not_sent(rest, f"not sent: the import stopped first ({stopped})")
        if filling is not None and len(filling):
            self.not_sent(filling, f"not sent: the import stopped first ({stopped})")

    # -- helpers ------------------------------------------------------------------------------

    def _failed(self, batch: Batch, result: Any, failures: list[ContactFailure]) -> None:
        report = self.report
        report.submitted += len(batch)
        report.failed += len(batch)
        report.failures.extend(failures)
        report.batches.append(result)
        self._settled(batch)

    @staticmethod
    def _settled(batch: Batch) -> None:
        top = batch.top
        if batch is top:
            top.whole = True  # (not in its own list: a batch must not keep itself alive)
        else:
            top.settled.append(batch)
        top.sent.pop(batch.key, None)


def _name_failures(batch: Batch, invalid_emails: list[str]) -> list[ContactFailure]:
    """The contacts of ``batch`` that the job's ``invalidEmails`` name (each listing names one contact)."""
    if not invalid_emails:
        return []
    wanted: dict[str, int] = {}
    for listed in invalid_emails:
        wanted[listed.casefold()] = wanted.get(listed.casefold(), 0) + 1
    failures: list[ContactFailure] = []
    for index, line, contact in zip(batch.indexes, batch.lines, batch.contacts, strict=True):
        email: object = contact.get("email")
        if isinstance(email, str) and wanted.get(email.casefold(), 0) > 0:
            wanted[email.casefold()] -= 1
            reason = f"Qualtrics refused the email address {email!r} as invalid; correct it and import it again"
            failures.append(ContactFailure(index, contact, reason, "failed", line))
    return failures


__all__ = ["UNKNOWN_AFTER_RESTART", "Ledger"]
