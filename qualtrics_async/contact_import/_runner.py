"""Running a bulk contact import: read lazily, check, batch, send concurrently, follow each job.

One producer reads the input and fills batches; ``concurrency`` workers take them over a
zero-buffer stream, so at most ``concurrency + 1`` batches exist at once whatever the input
size (RELIABILITY G2: back-pressure, flat memory). Each worker POSTs its batch to
``…/transactioncontacts`` (the client's limiter paces the 100/min), polls the job on the
shared :func:`~qualtrics_async._jobs.wait_for_job`, and hands the outcome to the
:class:`~qualtrics_async.contact_import._ledger.Ledger`.

What happens to a batch whose request fails (RELIABILITY C5, F6, G1):

* 429, connection refused, a token that could not be fetched: retried by the client's
  pipeline (nothing was processed); if it still cannot be sent, the contacts are reported
  ``not_sent`` (failed, safe to send again).
* 400 or 413 for the batch as a whole: split in halves and sent again, down to single
  contacts, so one bad contact costs only itself (reported ``rejected`` with Qualtrics'
  reason). A refusal that single contacts meet word for word, the batch's last contact
  included, is about the request: the rest is then reported rejected unsent (``_Split``).
* 5xx, timeout or dropped connection after the request left: the job may exist. The batch
  is **not** sent again; it is reported ``unknown`` with its contacts
  (:meth:`ImportReport.unknown_contacts`).
* 401/403/404 (wrong credentials, directory or list), or five batches in a row of unknown
  outcome: the import stops with an error whose ``partial_report`` accounts for every
  contact read so far.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import anyio
import anyio.lowlevel
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from qualtrics_async._filelock import exclusive
from qualtrics_async._jobs import wait_for_job
from qualtrics_async._logging import get_logger
from qualtrics_async._sansio import build_path
from qualtrics_async.contact_import._batch import Batch
from qualtrics_async.contact_import._checkpoint import Checkpoint, Header
from qualtrics_async.contact_import._ledger import Ledger
from qualtrics_async.contact_import._report import ImportReport, ProgressCallback
from qualtrics_async.contact_import._validate import InvalidContact, to_wire
from qualtrics_async.errors import (
    APIStatusError,
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

logger = get_logger("qualtrics_async.contact_import")

IMPORT = "/directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts"

DEFAULT_BATCH_SIZE = 1000
DEFAULT_CONCURRENCY = 8
DEFAULT_JOB_TIMEOUT = 1800.0
MAX_UNKNOWN_IN_A_ROW = 5
"""Batches in a row whose POST outcome is unknown (5xx, lost answers) before the import stops:
Qualtrics is failing, and going on would only pile up contacts of unknown fate."""

SourceItem = tuple[object, int | None, str | None]
"""``(contact, CSV line or None, problem found while reading or None)``."""


@dataclass(slots=True)
class _Split:
    """The halving of one batch refused as a whole (C5), shared by all its parts.

    The first cut sets the batch's last contact apart and sends it alone: a refusal about the
    batch's size or about one bad row leaves it landing, and splitting goes on. A refusal
    that this far-end contact and two more single contacts all meet word for word, while no
    part has landed, is about the request (say, its ``transactionMeta``), not about a
    contact: the rest of the batch is then reported rejected without sending it, instead of
    spending two requests per contact to learn the same thing.
    """

    error: str
    same_singles: int = 0
    landed: int = 0

    @property
    def request_at_fault(self) -> bool:
        return self.landed == 0 and self.same_singles >= 3


class _JobFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BulkImportOptions(TypedDict, total=False):
    """The keywords of :meth:`Contacts.bulk_import` shared by ``bulk_import_csv``."""

    mailing_list_id: str | None
    batch_size: int
    concurrency: int
    transaction_meta: Mapping[str, Any] | None
    checkpoint: str | os.PathLike[str] | None
    progress: ProgressCallback | None
    job_timeout: float | None
    keep_unattributed: bool


class BulkImport:
    """One run of :meth:`Contacts.bulk_import`; see the module docstring."""

    def __init__(
        self,
        client: QualtricsClient,
        directory_id: str,
        *,
        total: int | None,
        mailing_list_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        transaction_meta: Mapping[str, Any] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: ProgressCallback | None = None,
        job_timeout: float | None = DEFAULT_JOB_TIMEOUT,
        keep_unattributed: bool = False,
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
        self._checkpoint_path = None if checkpoint is None else Path(checkpoint)
        self._checkpoint: Checkpoint | None = None
        self._progress = progress
        self._total = total
        self._job_timeout = job_timeout
        self._report = ImportReport(directory_id=directory_id, mailing_list_id=mailing_list_id or "")
        self._ledger = Ledger(self._report, keep_unattributed=keep_unattributed)
        self._ids: dict[str, str] = {}
        self._path = ""
        self._in_flight: dict[int, Batch] = {}  # id(root) -> root, from hand-over until settled
        self._unknown_in_a_row = 0
        self._filling: Batch | None = None

    # -- the run ------------------------------------------------------------------------------

    async def run(self, source: AsyncGenerator[SourceItem, None]) -> ImportReport:
        async with contextlib.aclosing(source):  # a CSV file is closed even when the import stops early
            if self._checkpoint_path is None:
                return await self._run(source)
            busy = (
                f"another import is using the checkpoint {str(self._checkpoint_path)!r}; wait for it to finish "
                "(two runs would send the same contacts twice)"
            )
            with exclusive(self._checkpoint_path, busy):
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
                raise self._stopped(_first_error(group)) from None
            except QualtricsError as error:
                raise self._stopped(error) from None
        finally:
            if self._checkpoint is not None:
                self._checkpoint.close()
        return self._finish()

    def _finish(self) -> ImportReport:
        report = self._report
        report.batches.sort(key=lambda batch: batch.first)
        report.failures.sort(key=lambda failure: failure.index)
        report.elapsed = time.monotonic() - report._started
        self._notify()
        return report

    def _stopped(self, error: BaseException) -> BaseException:
        """``error``, carrying the report of what was done before it (every contact accounted for)."""
        if isinstance(error, QualtricsError):
            self._ledger.abort(self._in_flight.values(), self._filling, error)
            error.partial_report = self._finish()
            report = error.partial_report
            error.add_note(
                f"the contact import stopped: {report.added + report.updated} of {report.total} contacts read had "
                f"landed, {report.unknown} unknown, {report.failed} not imported (see the error's partial_report)"
                + ("; run again with the same checkpoint to resume" if self._checkpoint_path else "")
            )
        return error

    async def _create_list(self) -> str:
        name = f"Import {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC (qualtrics-async)"
        list_id = await self._client.mailing_lists.create(self._directory_id, MailingListInput(name=name))
        logger.info("created mailing list %s (%r) for the import into %s", list_id, name, self._directory_id)
        return list_id

    async def _pump(self, source: AsyncIterator[SourceItem]) -> None:
        send, receive = anyio.create_memory_object_stream[Batch](0)
        async with anyio.create_task_group() as group:
            for _ in range(self._concurrency):
                group.start_soon(self._worker, receive.clone())
            receive.close()
            async with send:
                report = self._report
                batch = self._filling = Batch()
                index = -1
                async for item, line, problem in source:
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
                        self._ledger.invalid(index, item, str(problem), line)
                        if report.invalid % 1000 == 0:
                            self._notify()
                        continue
                    batch.add(index, line, wire)
                    if len(batch) >= self._batch_size:
                        await self._hand_over(send, batch)
                        batch = self._filling = Batch()
                if len(batch):
                    await self._hand_over(send, batch)
                self._filling = None

    async def _hand_over(self, send: MemoryObjectSendStream[Batch], batch: Batch) -> None:
        batch.seal()
        self._in_flight[id(batch)] = batch  # from here on, an abort accounts for it
        self._filling = None
        await send.send(batch)

    async def _worker(self, batches: MemoryObjectReceiveStream[Batch]) -> None:
        async with batches:
            async for batch in batches:
                await self._settle(batch)
                del self._in_flight[id(batch)]
                self._notify()

    # -- one batch ----------------------------------------------------------------------------

    def _digest(self, batch: Batch) -> str:
        return batch.digest(self._meta)

    async def _settle(self, batch: Batch, split: _Split | None = None) -> None:
        """Send ``batch``, or take over what an earlier run recorded for it."""
        record = None if self._checkpoint is None else self._checkpoint.records.get(batch.key)
        if record is not None:
            if record.get("digest", self._digest(batch)) != self._digest(batch):
                raise ConfigurationError(
                    f"the input differs from the run that wrote checkpoint {str(self._checkpoint_path)!r} "
                    f"(contacts #{batch.indexes[0]}..#{batch.indexes[-1]} or transaction_meta changed); resume "
                    "with the same input in the same order, or start over with a new checkpoint path"
                )
            state = record["state"]
            if state == "split":
                split = split or _Split(str(record.get("reason", "")))
                first, second = batch.split(record.get("at"))
                for part in (second, first) if record.get("probe") else (first, second):
                    await self._settle(part, split)
                return
            if state == "started":
                await self._follow(batch, str(record["importId"]))
                return
            if state not in ("refused", "not_sent"):
                self._ledger.replay(batch, record)
                return
        if split is not None and split.request_at_fault:
            reason = (
                f"not sent: Qualtrics refused the batch as a whole and single contacts of it alike ({split.error}); "
                "the request rather than a contact is at fault"
            )
            await self._record(batch, "rejected", reason=reason)
            self._ledger.rejected(batch, reason, None)
            return
        await self._post(batch, split)

    async def _post(self, batch: Batch, split: _Split | None) -> None:
        body = b'{"contacts":' + batch.encoded + (b',"transactionMeta":' + self._meta if self._meta else b"") + b"}"
        digest = self._digest(batch)

        def going_out() -> None:  # after the limiter, just before the bytes leave: "may have been sent"
            if self._ledger.sent(batch) and self._checkpoint is not None:
                self._checkpoint.record_now(batch.key, "posting", digest=digest)

        try:
            started: ContactImportStarted = await self._client.request(
                "POST",
                self._path,
                content=body,
                content_type="application/json",
                result_type=ContactImportStarted,
                on_send=going_out,
            )
        except (ClientClosedError, ConfigurationError):
            raise
        except (BadRequestError, PayloadTooLargeError) as exc:
            if exc.may_have_taken_effect is not False:
                await self._unknown(batch, f"the request failed after it may have been processed ({exc})", exc)
                return
            error = f"{exc.status} {exc.error_code or ''}: {exc.error_message or exc.message}"
            if len(batch) > 1:  # C5: one bad contact (or too big a batch) costs only itself
                if split is None:  # the first cut: the far-end contact alone, sent first
                    split = _Split(error)
                    await self._record(batch, "split", reason=error, at=len(batch) - 1, probe=True)
                    first, last = batch.split(len(batch) - 1)
                    await self._settle(last, split)
                    await self._settle(first, split)
                    return
                await self._record(batch, "split", reason=split.error)
                for part in batch.split():
                    await self._settle(part, split)
                return
            if split is not None and error == split.error and not isinstance(exc, PayloadTooLargeError):
                split.same_singles += 1
            reason = f"Qualtrics refused this contact: {exc.error_message or exc.message}"
            await self._record(batch, "rejected", reason=reason, requestId=exc.request_id)
            self._ledger.rejected(batch, reason, exc.request_id)
            return
        except QualtricsError as exc:
            if exc.may_have_taken_effect is not False:
                await self._unknown(batch, f"the answer to the import request was lost or an error ({exc})", exc)
            elif isinstance(exc, APIStatusError) and exc.status < 500 and not isinstance(exc, RateLimitError):
                await self._record(batch, "refused")  # 401, 403, 404...: nothing this run can fix
                self._ledger.not_sent(batch, f"not imported: Qualtrics refused the request ({exc})", exc.request_id)
                raise
            else:  # connection refused, 429s or the token endpoint failing until the attempts ran out
                reason = f"not sent: {exc}; nothing was imported, send these contacts again"
                await self._record(batch, "not_sent", reason=reason)
                self._ledger.not_sent(batch, reason, exc.request_id)
            return
        if split is not None:
            split.landed += 1
        if not started.id:
            await self._unknown(batch, "Qualtrics accepted the import but answered without an import id", None)
            return
        await self._record(batch, "started", importId=started.id)
        await self._follow(batch, started.id)

    async def _follow(self, batch: Batch, import_id: str) -> None:
        """Poll the batch's job to its end and fold in its counts (and the invalid emails)."""
        directory_id, list_id = self._ids["directoryId"], self._ids["mailingListId"]

        async def fetch() -> ContactImportStatus:
            return await self._client.contacts.import_status(directory_id, list_id, import_id)

        def finished(status: ContactImportStatus) -> bool:
            if status.status == "complete":
                return True
            if status.status == "failed":
                error = status.error or {}
                detail = f": {str(error.get('errorMessage')).rstrip('.')}" if error.get("errorMessage") else ""
                raise _JobFailed(f"Qualtrics reported import job {import_id} as failed{detail}")
            if status.status != "inProgress":
                raise _JobFailed(f"import job {import_id} reports the unknown status {status.status!r}")
            return False

        def too_long(_last: ContactImportStatus | None) -> QualtricsError:
            return QualtricsError(f"import job {import_id} was still running after {self._job_timeout:g} s")

        deadline = None if self._job_timeout is None else time.monotonic() + self._job_timeout
        self._ledger.sent(batch)  # a resumed job is in flight too
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
            self._ledger.job_failed(batch, import_id, reason)
            return
        except ClientClosedError:
            raise
        except QualtricsError as exc:
            # The job exists; the checkpoint still says "started", so a resumed run polls it again.
            reason = f"import job {import_id} was started but could not be followed to its end ({exc})"
            self._ledger.unknown(batch, reason, exc.request_id, import_id)
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
        self._unknown_in_a_row = 0
        self._ledger.done(
            batch,
            import_id,
            (counts.added, counts.updated, counts.failed),
            status.transactions_created,
            invalid_emails,
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
                "could not read the summary of import job %s (%s); its failures stay unnamed", import_id, exc
            )
            return []
        return summary.invalid_emails or []

    # -- checkpoint and progress --------------------------------------------------------------

    async def _record(self, batch: Batch, state: str, **fields: Any) -> None:
        if self._checkpoint is not None:
            await self._checkpoint.record(batch.key, state, digest=self._digest(batch), **fields)

    async def _unknown(self, batch: Batch, reason: str, error: QualtricsError | None) -> None:
        request_id = None if error is None else error.request_id
        await self._record(batch, "unknown", reason=reason, requestId=request_id)
        self._ledger.unknown(batch, reason, request_id)
        self._unknown_in_a_row += 1
        if self._unknown_in_a_row >= MAX_UNKNOWN_IN_A_ROW:
            raise QualtricsError(
                f"stopped the import: {self._unknown_in_a_row} batches in a row ended with an unknown outcome "
                f"(the last: {reason}); Qualtrics seems to be failing. Wait, then import "
                "partial_report.unknown_contacts() again (the directory's deduplication merges what did land)",
                request_id=request_id,
            )

    def _notify(self) -> None:
        if self._progress is not None:
            self._progress(self._report.progress(self._total))


def _first_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error that stopped the import: the only one, or the first of several API errors (the
    others as notes); a mixed group is raised as it is."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    # The reader's hand-over breaks when the last worker stopped on an error: a consequence, not a cause.
    causes = [error for error in leaves if not isinstance(error, anyio.BrokenResourceError)]
    leaves = causes or leaves
    if len(leaves) != 1 and not (leaves and all(isinstance(error, QualtricsError) for error in leaves)):
        raise group
    first = leaves[0]
    for other in leaves[1:]:
        first.add_note(f"also: {type(other).__name__}: {other}")
    return first


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_JOB_TIMEOUT",
    "BulkImport",
    "BulkImportOptions",
    "SourceItem",
]
