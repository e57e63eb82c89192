"""Running a bulk contact import: read lazily, check, batch, send concurrently, follow each job.

One producer reads the input and fills batches; ``concurrency`` workers take them over a
zero-buffer stream, so at most ``concurrency + 1`` batches exist at once whatever the input
size (RELIABILITY G2: back-pressure, flat memory). Each worker POSTs its batch to
``…/transactioncontacts`` (the client's limiter paces the 100/min), polls the job on the
shared :func:`~qualtrics_async._jobs.wait_for_job`, and folds its counts into the report.

What happens to a batch whose request fails (RELIABILITY C5, F6, G1):

* 429 or connection refused: retried by the client's pipeline (nothing was processed); if it
  still cannot be sent, the contacts are reported ``not_sent`` (failed, safe to send again).
* 400 or 413 for the batch as a whole: split in halves and sent again, down to single
  contacts, so one bad contact costs only itself (reported ``rejected`` with Qualtrics' reason).
  A refusal that single contacts meet word for word too is about the request: the rest of
  the batch is then reported rejected without sending it (see ``_Split``).
* 5xx, timeout or dropped connection after the request left: the job may exist. The batch
  is **not** sent again; it is reported ``unknown`` with its contacts
  (:meth:`ImportReport.unknown_contacts`).
* 401/403/404 (wrong credentials, directory or list): the import stops with that error.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream

from qualtrics_async._filelock import exclusive
from qualtrics_async._jobs import wait_for_job
from qualtrics_async._sansio import build_path
from qualtrics_async.contact_import._checkpoint import Checkpoint, Header
from qualtrics_async.contact_import._report import (
    BatchResult,
    ContactFailure,
    ImportReport,
    ProgressCallback,
)
from qualtrics_async.contact_import._validate import InvalidContact, to_wire
from qualtrics_async.errors import (
    APIConnectionError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    NotFoundError,
    PayloadTooLargeError,
    QualtricsError,
    RateLimitError,
)
from qualtrics_async.exports._polling import PollSchedule
from qualtrics_async.models.directories import ContactImportStarted, ContactImportStatus, MailingListInput

if TYPE_CHECKING:
    from qualtrics_async._client import QualtricsClient

logger = logging.getLogger("qualtrics_async.contact_import")

IMPORT = "/directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts"

DEFAULT_BATCH_SIZE = 1000
DEFAULT_CONCURRENCY = 8
DEFAULT_JOB_TIMEOUT = 1800.0

SourceItem = tuple[object, int | None, str | None]
"""``(contact, CSV line or None, problem found while reading or None)``."""


@dataclass(slots=True)
class _Split:
    """The halving of one batch refused as a whole (C5), shared by all its parts.

    A refusal that a part of any size meets again word for word, down to single contacts,
    is about the request (say, its ``transactionMeta``), not about a contact: once two
    single contacts have been refused with the batch's own error and no part has landed,
    the rest of the batch is reported rejected without sending it, instead of spending two
    requests per contact to learn the same thing.
    """

    error: str
    same_singles: int = 0
    landed: int = 0

    @property
    def request_at_fault(self) -> bool:
        return self.same_singles >= 2 and self.landed == 0


class _JobFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Batch:
    indexes: list[int] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    _encoded: bytes | None = None

    def __len__(self) -> int:
        return len(self.contacts)

    @property
    def key(self) -> str:
        return f"{self.indexes[0]}-{self.indexes[-1]}"

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = msgspec.json.encode(self.contacts)
        return self._encoded

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.encoded).hexdigest()[:32]

    def halves(self) -> tuple[_Batch, _Batch]:
        middle = len(self) // 2
        return (
            _Batch(self.indexes[:middle], self.lines[:middle], self.contacts[:middle]),
            _Batch(self.indexes[middle:], self.lines[middle:], self.contacts[middle:]),
        )

    def result(self, status: Any, **fields: Any) -> BatchResult:
        return BatchResult(first=self.indexes[0], last=self.indexes[-1], size=len(self), status=status, **fields)

    def failures(self, reason: str, kind: Any, request_id: str | None = None) -> list[ContactFailure]:
        return [
            ContactFailure(index, contact, reason, kind, line, request_id)
            for index, line, contact in zip(self.indexes, self.lines, self.contacts, strict=True)
        ]


class BulkImport:
    """One run of :meth:`Contacts.bulk_import`; see the module docstring."""

    def __init__(
        self,
        client: QualtricsClient,
        directory_id: str,
        *,
        mailing_list_id: str | None,
        batch_size: int,
        concurrency: int,
        transaction_meta: Mapping[str, Any] | None,
        checkpoint: Path | None,
        progress: ProgressCallback | None,
        total: int | None,
        job_timeout: float | None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive number of contacts, got {batch_size!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be a positive number of batches, got {concurrency!r}")
        if job_timeout is not None and not job_timeout > 0:
            raise ConfigurationError(f"job_timeout must be a positive number of seconds or None, got {job_timeout!r}")
        if transaction_meta is not None and not isinstance(transaction_meta, Mapping):
            raise ConfigurationError("transaction_meta must be a dict such as {'batchId': 'BT_...', 'fields': [...]}")
        self._client = client
        self._directory_id = directory_id
        self._mailing_list_id = mailing_list_id
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._meta = b"" if transaction_meta is None else msgspec.json.encode(dict(transaction_meta))
        self._checkpoint_path = checkpoint
        self._checkpoint: Checkpoint | None = None
        self._progress = progress
        self._total = total
        self._job_timeout = job_timeout
        self._report = ImportReport(directory_id=directory_id, mailing_list_id=mailing_list_id or "")
        self._ids: dict[str, str] = {}
        self._path = ""

    # -- the run ------------------------------------------------------------------------------

    async def run(self, source: AsyncGenerator[SourceItem, None]) -> ImportReport:
        async with contextlib.aclosing(source):  # a CSV file is closed even when the import stops early
            return await self._locked(source)

    async def _locked(self, source: AsyncIterator[SourceItem]) -> ImportReport:
        if self._checkpoint_path is None:
            return await self._run(source)
        path = self._checkpoint_path
        busy = (
            f"another import is using the checkpoint {str(path)!r}; wait for it to finish "
            "(two runs would send the same contacts twice)"
        )
        with exclusive(path, busy):
            return await self._run(source)

    async def _run(self, source: AsyncIterator[SourceItem]) -> ImportReport:
        if self._checkpoint_path is not None:
            self._checkpoint = await Checkpoint.open(
                self._checkpoint_path,
                directory_id=self._directory_id,
                mailing_list_id=self._mailing_list_id,
                batch_size=self._batch_size,
            )
            if self._checkpoint is not None:
                self._mailing_list_id = self._checkpoint.header.mailing_list_id
        try:
            if self._mailing_list_id is None:
                self._mailing_list_id = await self._create_list()
            self._report.mailing_list_id = self._mailing_list_id
            if self._checkpoint is None and self._checkpoint_path is not None:
                header = Header(self._directory_id, self._mailing_list_id, self._batch_size)
                self._checkpoint = await Checkpoint.create(self._checkpoint_path, header)
            self._ids = {"directoryId": self._directory_id, "mailingListId": self._mailing_list_id}
            self._path = build_path(IMPORT, **self._ids)
            try:
                await self._pump(source)
            except BaseExceptionGroup as group:
                if len(group.exceptions) == 1:  # one fatal error: raise it as itself
                    raise group.exceptions[0] from None
                raise
        finally:
            if self._checkpoint is not None:
                self._checkpoint.close()
        report = self._report
        report.batches.sort(key=lambda batch: batch.first)
        report.failures.sort(key=lambda failure: failure.index)
        report.elapsed = time.monotonic() - report._started
        self._notify()
        return report

    async def _create_list(self) -> str:
        name = f"Import {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC (qualtrics-async)"
        list_id = await self._client.mailing_lists.create(self._directory_id, MailingListInput(name=name))
        logger.info("created mailing list %s (%r) for the import into %s", list_id, name, self._directory_id)
        return list_id

    async def _pump(self, source: AsyncIterator[SourceItem]) -> None:
        send, receive = anyio.create_memory_object_stream[_Batch](0)
        async with anyio.create_task_group() as group:
            for _ in range(self._concurrency):
                group.start_soon(self._worker, receive.clone())
            receive.close()
            async with send:
                report = self._report
                batch = _Batch()
                index = -1
                async for item, line, problem in source:  # closed by run(), even on an error
                    index += 1
                    report.total += 1
                    if index % 512 == 511:
                        await anyio.lowlevel.checkpoint()  # a sync source never yields on its own
                    wire: dict[str, Any] | None = None
                    if problem is None:
                        try:
                            wire = to_wire(item)
                        except InvalidContact as exc:
                            problem = exc.reason
                    if wire is None:
                        report.invalid += 1
                        report.failures.append(ContactFailure(index, item, str(problem), "invalid", line))
                        if report.invalid % 1000 == 0:
                            self._notify()
                        continue
                    batch.indexes.append(index)
                    batch.lines.append(line)
                    batch.contacts.append(wire)
                    if len(batch) >= self._batch_size:
                        await send.send(batch)
                        batch = _Batch()
                if batch.contacts:
                    await send.send(batch)

    async def _worker(self, batches: MemoryObjectReceiveStream[_Batch]) -> None:
        async with batches:
            async for batch in batches:
                await self._settle(batch)
                self._notify()

    # -- one batch ----------------------------------------------------------------------------

    async def _settle(self, batch: _Batch, split: _Split | None = None) -> None:
        """Send ``batch``, or take over what an earlier run recorded for it."""
        record = None if self._checkpoint is None else self._checkpoint.records.get(batch.key)
        if record is not None:
            if record.get("digest", batch.digest) != batch.digest:
                raise ConfigurationError(
                    f"the input differs from the run that wrote checkpoint {str(self._checkpoint_path)!r} "
                    f"(contacts #{batch.indexes[0]}..#{batch.indexes[-1]} changed); resume with the same input "
                    "in the same order, or start over with a new checkpoint path"
                )
            state = record["state"]
            if state == "split":
                split = split or _Split(str(record.get("reason", "")))
                for half in batch.halves():
                    await self._settle(half, split)
                return
            if state == "started":
                await self._follow(batch, str(record["importId"]))
                return
            if state not in ("refused", "not_sent"):
                self._fold_record(batch, record)
                return
        if split is not None and split.request_at_fault:
            reason = (
                f"not sent: Qualtrics refused the batch as a whole and single contacts of it alike ({split.error}); "
                "the request rather than a contact is at fault"
            )
            await self._record(batch, "rejected", reason=reason)
            self._rejected(batch, reason, None)
            return
        await self._post(batch, split)

    async def _post(self, batch: _Batch, split: _Split | None) -> None:
        await self._record(batch, "posting")
        body = b'{"contacts":' + batch.encoded + (b',"transactionMeta":' + self._meta if self._meta else b"") + b"}"
        try:
            started: ContactImportStarted = await self._client.request(
                "POST", self._path, content=body, content_type="application/json", result_type=ContactImportStarted
            )
        except (ClientClosedError, ConfigurationError):
            raise
        except (BadRequestError, PayloadTooLargeError) as exc:
            if exc.may_have_taken_effect:
                await self._unknown(
                    batch, f"the request failed after it may have been processed ({exc})", exc.request_id
                )
                return
            error = f"{exc.status} {exc.error_code or ''}: {exc.error_message or exc.message}"
            if len(batch) > 1:
                split = split or _Split(error)
                await self._record(batch, "split", reason=split.error)
                for half in batch.halves():  # C5: one bad contact (or too big a batch) costs only itself
                    await self._settle(half, split)
                return
            if split is not None and error == split.error and not isinstance(exc, PayloadTooLargeError):
                split.same_singles += 1
            reason = f"Qualtrics refused this contact: {exc.error_message or exc.message}"
            await self._record(batch, "rejected", reason=reason, requestId=exc.request_id)
            self._rejected(batch, reason, exc.request_id)
            return
        except QualtricsError as exc:
            if exc.may_have_taken_effect is False and isinstance(exc, RateLimitError | APIConnectionError):
                reason = f"not sent: {exc}; nothing was imported, send these contacts again"
                await self._record(batch, "not_sent", reason=reason)
                self._not_sent(batch, reason, exc.request_id)
            elif exc.may_have_taken_effect is False:  # refused (401, 403, 404, ...): nothing this run can fix
                await self._record(batch, "refused")
                raise
            else:
                reason = f"the answer to the import request was lost or an error ({exc})"
                await self._unknown(batch, reason, exc.request_id)
            return
        if split is not None:
            split.landed += 1
        if not started.id:
            await self._unknown(batch, "Qualtrics accepted the import but answered without an import id", None)
            return
        await self._record(batch, "started", importId=started.id)
        await self._follow(batch, started.id)

    async def _follow(self, batch: _Batch, import_id: str) -> None:
        """Poll the batch's job to its end and fold in its counts (and the invalid emails)."""
        directory_id, list_id = self._ids["directoryId"], self._ids["mailingListId"]

        async def fetch() -> ContactImportStatus:
            return await self._client.contacts.import_status(directory_id, list_id, import_id)

        def finished(status: ContactImportStatus) -> bool:
            if status.status == "complete":
                return True
            if status.status == "failed":
                error = status.error or {}
                detail = f": {error.get('errorMessage')}" if error.get("errorMessage") else ""
                raise _JobFailed(f"Qualtrics reported import job {import_id} as failed{detail}")
            if status.status != "inProgress":
                raise _JobFailed(f"import job {import_id} reports the unknown status {status.status!r}")
            return False

        def too_long(_last: ContactImportStatus | None) -> QualtricsError:
            return QualtricsError(f"import job {import_id} was still running after {self._job_timeout:g} s")

        deadline = None if self._job_timeout is None else time.monotonic() + self._job_timeout
        try:
            status = await wait_for_job(
                fetch,
                progress=lambda status: status.percent_complete,
                finished=finished,
                deadline=deadline,
                on_deadline=too_long,
                schedule=PollSchedule(first_interval=0.5),
            )
        except _JobFailed as failed:
            reason = f"{failed.reason}; nothing from this batch is known to have been imported, send it again"
            await self._record(batch, "failed", reason=reason, importId=import_id)
            self._job_failed(batch, import_id, reason)
            return
        except ClientClosedError:
            raise
        except QualtricsError as exc:
            # The job exists; the checkpoint still says "started", so a resumed run polls it again.
            reason = f"import job {import_id} was started but could not be followed to its end ({exc})"
            self._unknown_result(batch, reason, exc.request_id, import_id)
            return
        invalid_emails = await self._invalid_emails(import_id, status) if status.counts.failed else []
        counts = status.counts
        await self._record(
            batch,
            "done",
            importId=import_id,
            added=counts.added,
            updated=counts.updated,
            failed=counts.failed,
            transactions=status.transactions_created,
            invalidEmails=invalid_emails or None,
        )
        self._done(
            batch, import_id, counts.added, counts.updated, counts.failed, status.transactions_created, invalid_emails
        )

    async def _invalid_emails(self, import_id: str, status: ContactImportStatus) -> list[str]:
        if status.invalid_emails is not None:
            return status.invalid_emails
        if not self._report.summary_available:
            return []
        try:
            summary = await self._client.contacts.import_summary(
                self._ids["directoryId"], self._ids["mailingListId"], import_id
            )
        except NotFoundError:
            if self._report.summary_available:
                self._report.summary_available = False
                logger.warning(
                    "the contact-import summary endpoint answered 404 (Qualtrics retired it after 2026-06-30); "
                    "failed contacts are counted but their emails are not named"
                )
            return []
        except ClientClosedError:
            raise
        except QualtricsError as exc:
            logger.warning(
                "could not read the summary of import job %s (%s); failed contacts stay unnamed", import_id, exc
            )
            return []
        return summary.invalid_emails or []

    # -- checkpoint and report ----------------------------------------------------------------

    async def _record(self, batch: _Batch, state: str, **fields: Any) -> None:
        if self._checkpoint is not None:
            await self._checkpoint.record(batch.key, state, digest=batch.digest, **fields)

    async def _unknown(self, batch: _Batch, reason: str, request_id: str | None) -> None:
        await self._record(batch, "unknown", reason=reason, requestId=request_id)
        self._unknown_result(batch, reason, request_id, None)

    def _unknown_result(
        self, batch: _Batch, reason: str, request_id: str | None, import_id: str | None, *, resumed: bool = False
    ) -> None:
        self._report.unknown += len(batch)
        result = batch.result(
            "unknown",
            reason=reason,
            request_id=request_id,
            import_id=import_id,
            contacts=batch.contacts,
            from_checkpoint=resumed,
        )
        self._report.batches.append(result)

    def _failed(self, batch: _Batch, result: BatchResult, failures: list[ContactFailure]) -> None:
        report = self._report
        report.submitted += len(batch)
        report.failed += len(batch)
        report.failures.extend(failures)
        report.batches.append(result)

    def _rejected(self, batch: _Batch, reason: str, request_id: str | None, *, resumed: bool = False) -> None:
        result = batch.result(
            "rejected", failed=len(batch), reason=reason, request_id=request_id, from_checkpoint=resumed
        )
        self._failed(batch, result, batch.failures(reason, "rejected", request_id))

    def _not_sent(self, batch: _Batch, reason: str, request_id: str | None) -> None:
        result = batch.result("not_sent", failed=len(batch), reason=reason, request_id=request_id)
        self._failed(batch, result, batch.failures(reason, "not_sent", request_id))

    def _job_failed(self, batch: _Batch, import_id: str | None, reason: str, *, resumed: bool = False) -> None:
        result = batch.result("failed", import_id=import_id, failed=len(batch), reason=reason, from_checkpoint=resumed)
        self._failed(batch, result, batch.failures(reason, "failed"))

    def _done(
        self,
        batch: _Batch,
        import_id: str | None,
        added: int,
        updated: int,
        failed: int,
        transactions: int,
        invalid_emails: list[str],
        *,
        resumed: bool = False,
    ) -> None:
        report = self._report
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
        report.failures.extend(named)
        if failed > len(named):
            result.unattributed_failures = failed - len(named)
            result.contacts = batch.contacts
        report.submitted += len(batch)
        report.added += added
        report.updated += updated
        report.failed += failed
        report.transactions_created += transactions
        report.batches.append(result)

    def _fold_record(self, batch: _Batch, record: dict[str, Any]) -> None:
        """Take over a batch an earlier run settled (or left mid-send), without sending it."""
        state = record["state"]
        reason = record.get("reason")
        if state == "done":
            self._done(
                batch,
                record.get("importId"),
                int(record.get("added", 0)),
                int(record.get("updated", 0)),
                int(record.get("failed", 0)),
                int(record.get("transactions", 0)),
                list(record.get("invalidEmails", [])),
                resumed=True,
            )
        elif state == "failed":
            self._job_failed(batch, record.get("importId"), str(reason), resumed=True)
        elif state == "rejected":
            self._rejected(batch, str(reason), record.get("requestId"), resumed=True)
        else:  # "unknown", or "posting": a run stopped while the POST may have been on its way
            if state == "posting":
                reason = (
                    "an earlier run stopped while this batch was being sent, so it may or may not have been "
                    "imported; it is not sent again automatically (see ImportReport.unknown_contacts)"
                )
            self._unknown_result(batch, str(reason), record.get("requestId"), record.get("importId"), resumed=True)

    def _notify(self) -> None:
        if self._progress is not None:
            self._progress(self._report.progress(self._total))


def _name_failures(batch: _Batch, invalid_emails: list[str]) -> list[ContactFailure]:
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
            reason = (
                f"Qualtrics refused the email address {email!r} as invalid; correct it and import the contact again"
            )
            failures.append(ContactFailure(index, contact, reason, "failed", line))
    return failures


__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_CONCURRENCY", "DEFAULT_JOB_TIMEOUT", "BulkImport", "SourceItem"]
