"""XM Directory (qualtrics-api.md §8): ``client.directories``, ``client.contacts``,
``client.mailing_lists``, ``client.transactions``, ``client.segments``, ``client.samples``.

Every collection is an async generator that pages on demand (``skipToken`` paging, §3);
every create and update takes a typed model (:class:`~qualtrics_async.models.ContactInput`,
...) or a plain dict of wire names. All of them need an XM Directory licence.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Unpack

import anyio
import msgspec

from qualtrics_async._decoding import ListResult
from qualtrics_async._jobs import wait_for_job
from qualtrics_async._sansio import build_path
from qualtrics_async.contact_import._csv import count_rows, read_csv
from qualtrics_async.contact_import._report import ImportReport, ProgressCallback
from qualtrics_async.contact_import._runner import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CONCURRENCY,
    DEFAULT_JOB_TIMEOUT,
    BulkImport,
    BulkImportOptions,
    SourceItem,
)
from qualtrics_async.errors import (
    BadRequestError,
    ConfigurationError,
    ExportExpiredError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
    PaginationError,
    QualtricsError,
)
from qualtrics_async.exports._download import check_destination, download_to_file
from qualtrics_async.exports._job import check_timeout
from qualtrics_async.exports._polling import PollSchedule
from qualtrics_async.models.directories import (
    Contact,
    ContactExportProgress,
    ContactFilter,
    ContactImportStatus,
    ContactInput,
    Directory,
    ImportContact,
    MailingList,
    MailingListContact,
    Sample,
    SearchedContact,
    Segment,
    Transaction,
    TransactionBatch,
)
from qualtrics_async.resources._base import Body, Resource

_DIRECTORY = "/directories/{directoryId}"
_CONTACTS = "/directories/{directoryId}/contacts"
_CONTACT = "/directories/{directoryId}/contacts/{contactId}"
_LISTS = "/directories/{directoryId}/mailinglists"
_LIST = "/directories/{directoryId}/mailinglists/{mailingListId}"
_MEMBERS = "/directories/{directoryId}/mailinglists/{mailingListId}/contacts"
_MEMBER = "/directories/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}"
_TRANSACTIONS = "/directories/{directoryId}/transactions"
_TRANSACTION = "/directories/{directoryId}/transactions/{transactionId}"
_BATCHES = "/directories/{directoryId}/transactionbatches"
_BATCH = "/directories/{directoryId}/transactionbatches/{batchId}"
_SEGMENT = "/directories/{directoryId}/segments/{segmentId}"
_SAMPLE = "/directories/{directoryId}/samples/{sampleId}"
_EXPORT = "/directories/{directoryId}/export-contacts"
_IMPORT = "/directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts"

ContactLike = ImportContact | ContactInput | Contact | Mapping[str, Any]
"""One contact for :meth:`Contacts.bulk_import`: a typed contact or a dict of wire names."""

SEARCH_LIMIT_CODE = "BRE_0.5"
"""The error code Qualtrics answers once a search pages past its first 10,000 results."""


class _Created(msgspec.Struct):
    id: str


class _CreatedTransactions(msgspec.Struct):
    createdTransactions: dict[str, _Created]


def _query(**values: str | int | bool | None) -> dict[str, str | int | bool]:
    """Query parameters without the unset (``None``) and off (``False``) ones."""
    return {name: value for name, value in values.items() if value is not None and value is not False}


@dataclass(frozen=True, slots=True)
class ContactExportResult:
    """A finished contact export (:meth:`Contacts.export`).

    Attributes:
        directory_id: the exported directory.
        path: the file written (``csv`` or ``tsv``, one row per contact after a header row).
        size: its size in bytes.
        progress_id, file_id: the export job and its file.
    """

    directory_id: str
    path: Path
    size: int
    progress_id: str
    file_id: str


class Directories(Resource):
    """The XM directories ("pools", ``POOL_…``) of the brand."""

    __slots__ = ()

    def list(self) -> AsyncGenerator[Directory, None]:
        """Every directory of the brand (a few per page).

        Endpoint: ``GET /directories`` (3000/min).
        """
        return self._list("/directories", Directory)

    async def default(self) -> Directory:
        """The brand's default directory (the one flagged ``isDefault``).

        Endpoint: ``GET /directories`` (3000/min).

        Raises:
            QualtricsError: no directory is flagged default.
        """
        async with contextlib.aclosing(self.list()) as directories:
            async for directory in directories:
                if directory.is_default:
                    return directory
        raise QualtricsError("no directory of this brand is flagged isDefault; pass a directory id explicitly")


class Contacts(Resource):
    """Contacts of an XM directory: list, search, create, read, update, delete, export.

    Example::

        pool = (await client.directories.default()).directory_id
        new_id = await client.contacts.create(pool, ContactInput(email="ana@example.com"))
        async for contact in client.contacts.list(pool):
            print(contact.contact_id, contact.email)
    """

    __slots__ = ()

    def list(
        self,
        directory_id: str,
        *,
        include_embedded: bool = False,
        page_size: int | None = None,
        new_pagination_scheme: bool = True,
    ) -> AsyncGenerator[Contact, None]:
        """Every contact of a directory.

        ``new_pagination_scheme`` sends ``useNewPaginationScheme=true``, which Qualtrics
        recommends for large directories (fewer timeouts) and which allows pages of up to
        1000 contacts; without it ``page_size`` may be at most 100.

        Endpoint: ``GET /directories/{directoryId}/contacts`` (3000/min).
        """
        params = _query(
            includeEmbedded=include_embedded, pageSize=page_size, useNewPaginationScheme=new_pagination_scheme
        )
        return self._list(_CONTACTS, Contact, params=params, directoryId=directory_id)

    async def search(
        self,
        directory_id: str,
        filter: ContactFilter | Mapping[str, Any],
        *,
        include_embedded: bool = False,
        page_size: int | None = None,
    ) -> AsyncGenerator[Contact, None]:
        """The contacts matching ``filter`` (at most the first 10,000 of them).

        Qualtrics refuses to page a search past its first 10,000 results (400, error code
        ``BRE_0.5``); the error then says so and points to :meth:`export`, which returns
        every contact.

        Endpoint: ``POST /directories/{directoryId}/contacts/search`` (500/min).

        Example::

            smiths = ContactFilter(filter_type="lastName", comparison="eq", value="Smith")
            async for contact in client.contacts.search(pool, smiths):
                print(contact.email)
        """
        target: str | None = build_path(_CONTACTS + "/search", directoryId=directory_id)
        params: Mapping[str, str | int | bool] | None = _query(includeEmbedded=include_embedded, pageSize=page_size)
        body = {"filter": filter}
        seen: set[str] = set()
        while target is not None:  # the nextPage of a search is POSTed again with the same filter
            try:
                page: ListResult[SearchedContact] = await self._send(
                    "POST", target, body, ListResult[SearchedContact], params=params, idempotent=True
                )
            except BadRequestError as exc:
                if exc.error_code == SEARCH_LIMIT_CODE:
                    exc.message += f"; for every contact use client.contacts.export({directory_id!r}, 'contacts.csv')"
                raise
            for contact in page.elements:
                yield contact
            target, params = page.nextPage or None, None
            if target is not None:
                self._client._open_session.next_page_target(target)  # an unsafe nextPage: UnsafeURLError
            if target is not None and target in seen:
                raise PaginationError(f"the search's nextPage repeats after {len(seen)} pages; stopping")
            if target is not None:
                seen.add(target)

    async def create(self, directory_id: str, contact: Body) -> str:
        """Create a contact; returns its id (``CID_…``).

        ``contact`` is a :class:`~qualtrics_async.models.ContactInput` or a dict of wire
        names. A directory that deduplicates (``Directory.deduplication_criteria``) may
        update a matching contact instead and return that contact's id.

        Endpoint: ``POST /directories/{directoryId}/contacts`` (500/min).
        """
        _refuse_read_back(contact)
        created: _Created = await self._create(_CONTACTS, contact, _Created, directoryId=directory_id)
        return created.id

    async def get(self, directory_id: str, contact_id: str) -> Contact:
        """One contact, with its embedded data, mailing-list memberships, stats and dates.

        Endpoint: ``GET /directories/{directoryId}/contacts/{contactId}`` (3000/min).

        Raises:
            NotFoundError: no such contact in this directory.
        """
        return await self._get(_CONTACT, Contact, directoryId=directory_id, contactId=contact_id)

    async def update(self, directory_id: str, contact_id: str, changes: Body) -> None:
        """Change the fields given in ``changes`` (a :class:`~qualtrics_async.models.ContactInput`
        or a dict); embedded-data names given are set, the others kept.

        Endpoint: ``PUT /directories/{directoryId}/contacts/{contactId}`` (500/min).
        """
        _refuse_read_back(changes)
        await self._update(_CONTACT, changes, directoryId=directory_id, contactId=contact_id)

    async def delete(self, directory_id: str, contact_id: str) -> None:
        """Delete a contact from the directory (and so from its mailing lists).

        Endpoint: ``DELETE /directories/{directoryId}/contacts/{contactId}`` (500/min).
        """
        await self._delete(_CONTACT, directoryId=directory_id, contactId=contact_id)

    # -- export (every contact; no 10,000 cap) ---------------------------------------------------

    async def start_export(
        self, directory_id: str, *, format: Literal["csv", "tsv"] = "csv", include_embedded: bool = False
    ) -> ContactExportProgress:
        """Start exporting every contact of a directory; poll it with :meth:`export_status`.

        Endpoint: ``POST /directories/{directoryId}/export-contacts`` (10/min).
        """
        body = {"format": format, "includeEmbedded": include_embedded}
        path = build_path(_EXPORT, directoryId=directory_id)
        # A repeated start only costs quota (a second job), like a response export's.
        # Not retried after an ambiguous failure (RELIABILITY F6): each job builds a file of personal data.
        started: ContactExportProgress = await self._send("POST", path, body, ContactExportProgress)
        if not started.progress_id:
            raise ExportFailedError(f"the contact export of {directory_id} was started without a progressId")
        return started

    async def export_status(self, directory_id: str, progress_id: str) -> ContactExportProgress:
        """Ask once how far a contact export is.

        Endpoint: ``GET /directories/{directoryId}/export-contacts/{progressId}/status`` (10/min).

        Raises:
            ExportFailedError: Qualtrics reported the job ``failed`` (or an unknown status).
            ExportExpiredError: the progress id is unknown (404): start a new export.
        """
        try:
            progress: ContactExportProgress = await self._get(
                _EXPORT + "/{progressId}/status",
                ContactExportProgress,
                directoryId=directory_id,
                progressId=progress_id,
            )
        except NotFoundError as exc:
            raise ExportExpiredError(
                f"contact export {progress_id} of {directory_id} is unknown to Qualtrics; start a new export",
                progress_id=progress_id,
                request_id=exc.request_id,
            ) from exc
        error = progress.error or {}
        if progress.status not in ("inProgress", "complete") or (
            progress.status == "complete" and not progress.file_id
        ):
            raise ExportFailedError(
                f"contact export {progress_id} of {directory_id} ended {progress.status!r}"
                + (f" ({str(error.get('errorMessage')).rstrip('.')})" if error.get("errorMessage") else "")
                + "; start a new export",
                progress_id=progress_id,
                error_code=error.get("errorCode"),
                error_message=error.get("errorMessage"),
            )
        return progress

    async def wait_export(
        self,
        directory_id: str,
        progress_id: str,
        *,
        timeout: float | None = None,
        schedule: PollSchedule | None = None,
    ) -> ContactExportProgress:
        """Poll a contact export until it is complete; returns its last status (with ``file_id``).

        Polls are paced by a :class:`~qualtrics_async.exports.PollSchedule` (never twice
        within 0.5 s, backing off to ~12 s without progress), and by the client's limiter
        (this endpoint allows only 10 calls a minute).

        Endpoint: ``GET /directories/{directoryId}/export-contacts/{progressId}/status`` (10/min).

        Raises:
            ExportTimeoutError: still running after ``timeout`` seconds (call again to go on).
            ExportFailedError, ExportExpiredError: as :meth:`export_status`.
        """
        check_timeout(timeout)
        give_up = None if timeout is None else time.monotonic() + timeout

        def timed_out(last: ContactExportProgress | None) -> ExportTimeoutError:
            percent = 0.0 if last is None else last.percent_complete
            return ExportTimeoutError(
                f"contact export {progress_id} of {directory_id} is still running after {timeout:g} s "
                f"({percent:g} %); call wait_export again to go on waiting",
                progress_id=progress_id,
            )

        return await wait_for_job(
            lambda: self.export_status(directory_id, progress_id),
            progress=lambda status: status.percent_complete,
            finished=lambda status: status.status == "complete",  # export_status raises for a failure
            deadline=give_up,
            on_deadline=timed_out,
            schedule=schedule,
        )

    async def download_export(self, directory_id: str, file_id: str, dest: str | os.PathLike[str]) -> int:
        """Download a finished contact export to ``dest`` (its folder must exist); returns its size.

        The bytes go to ``dest + ".part"`` (mode 0600: contacts are personal data), a dropped
        connection resumes where it stopped, the size is checked against what the server
        announced, and only a whole file is renamed to ``dest``.

        Endpoint: ``GET /directories/{directoryId}/export-contacts/{fileId}/file`` (10/min).

        Raises:
            ExportExpiredError: the file id is unknown (404).
            ExportCorruptError: the file did not arrive whole.
        """
        path = check_destination(dest)
        session = self._client._open_session
        target = session.target(build_path(_EXPORT + "/{fileId}/file", directoryId=directory_id, fileId=file_id))
        what = f"the contact export {file_id} of {directory_id}"
        try:
            size, _zipped = await download_to_file(session, target, path, what=what)
        except NotFoundError as exc:
            raise ExportExpiredError(
                f"{what} is gone (unknown or expired file id); start a new export",
                file_id=file_id,
                request_id=exc.request_id,
            ) from exc
        return size

    async def export(
        self,
        directory_id: str,
        dest: str | os.PathLike[str],
        *,
        format: Literal["csv", "tsv"] = "csv",
        include_embedded: bool = False,
        timeout: float | None = None,
        schedule: PollSchedule | None = None,
    ) -> ContactExportResult:
        """Export every contact of a directory to a file: start, wait, download.

        Unlike :meth:`search`, an export has no 10,000-contact cap.

        Endpoint: ``POST /directories/{directoryId}/export-contacts`` (10/min).
        Endpoint: ``GET /directories/{directoryId}/export-contacts/{progressId}/status`` (10/min).
        Endpoint: ``GET /directories/{directoryId}/export-contacts/{fileId}/file`` (10/min).

        Example::

            result = await client.contacts.export(pool, "contacts.csv", include_embedded=True)
            print(result.path, result.size)
        """
        path = check_destination(dest)  # refuse a bad destination before starting a job
        check_timeout(timeout)
        started = await self.start_export(directory_id, format=format, include_embedded=include_embedded)
        progress_id = str(started.progress_id)
        done = await self.wait_export(directory_id, progress_id, timeout=timeout, schedule=schedule)
        file_id = str(done.file_id)
        size = await self.download_export(directory_id, file_id, path)
        return ContactExportResult(directory_id, path, size, progress_id, file_id)

    # -- bulk import (transactioncontacts) ---------------------------------------------------

    async def import_status(self, directory_id: str, mailing_list_id: str, import_id: str) -> ContactImportStatus:
        """Ask once how far a bulk contact import job is (counts are final once ``complete``).

        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts/{importId}`` (500/min).
        """  # noqa: E501 - endpoint lines cannot be wrapped
        return await self._get(
            _IMPORT + "/{importId}",
            ContactImportStatus,
            directoryId=directory_id,
            mailingListId=mailing_list_id,
            importId=import_id,
        )

    async def import_summary(self, directory_id: str, mailing_list_id: str, import_id: str) -> ContactImportStatus:
        """The summary of a finished bulk contact import: its counts and ``invalid_emails``.

        Qualtrics is reported to have retired this endpoint after 2026-06-30 (it then answers
        404, :class:`~qualtrics_async.errors.NotFoundError`); :meth:`bulk_import` copes.

        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts/{importId}/summary`` (3000/min).
        """  # noqa: E501 - endpoint lines cannot be wrapped
        return await self._get(
            _IMPORT + "/{importId}/summary",
            ContactImportStatus,
            directoryId=directory_id,
            mailingListId=mailing_list_id,
            importId=import_id,
        )

    async def bulk_import(
        self,
        directory_id: str,
        contacts: Iterable[ContactLike] | AsyncIterable[ContactLike],
        *,
        mailing_list_id: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        transaction_meta: Mapping[str, Any] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: ProgressCallback | None = None,
        job_timeout: float | None = DEFAULT_JOB_TIMEOUT,
        keep_unattributed: bool = False,
    ) -> ImportReport:
        """Import many contacts into a directory (and a mailing list), in concurrent batches.

        ``contacts`` is any iterable or async iterable of :class:`~qualtrics_async.models.ImportContact`
        / :class:`~qualtrics_async.models.ContactInput` / :class:`~qualtrics_async.models.Contact`
        structs or dicts of wire names (``firstName``, ``email``, ``extRef``, ``embeddedData``,
        ``transactionData``, ...). It is read lazily: at most ``concurrency + 1`` batches are in
        memory, however long the input. Each contact is checked first (email shape,
        embedded-data names up to 200 and values up to 1024 characters, at least one of
        email/extRef/phone/name); invalid ones are reported with the reason and never sent.

        Batches of ``batch_size`` go to the bulk-import endpoint, ``concurrency`` at a time,
        paced by the client's rate limiter (100 imports a minute); each import job is polled
        to its end and its counts folded into the returned :class:`~qualtrics_async.contact_import.ImportReport`.
        A batch refused before it was processed (429, connection refused) is retried; one
        answered 400/413 is split until the bad contact is isolated; one whose outcome is
        unknown (5xx or lost answer after sending) is never re-sent blindly: its contacts are
        in ``report.unknown_contacts()``. Qualtrics' maximum contacts per request is not
        documented; ``batch_size`` (default 1000) stays well below the usual limits.

        Args:
            mailing_list_id: the list the contacts join (``CG_…``); ``None`` creates a new
                list named after the import (``report.mailing_list_id``; a resumed run reuses it).
            transaction_meta: ``{"batchId": "BT_…", "fields": [...]}`` to record a transaction
                for every contact that has ``transactionData``.
            checkpoint: a file recording each finished batch; run again with the same input,
                batch size and checkpoint after a crash or cancellation to resume without
                re-sending what landed (batches that were mid-send are reported unknown).
                Two runs cannot share one checkpoint at a time.
            progress: called with a :class:`~qualtrics_async.contact_import.BulkImportProgress`
                after every batch (``total`` is known when ``contacts`` has a length).
            job_timeout: seconds to follow one import job before reporting it unknown.
            keep_unattributed: keep the contacts of batches in which Qualtrics counted
                failures without naming them, for ``report.failed_contacts(include_unattributed=True)``
                (off by default: with the summary endpoint gone that can be every batch).

        A synchronous iterable is read on the event loop (a slow database cursor holds up the
        other tasks): pass an async iterable for those.

        Endpoint: ``POST /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts`` (100/min).
        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts/{importId}`` (500/min).
        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts/{importId}/summary`` (3000/min).
        Endpoint: ``POST /directories/{directoryId}/mailinglists`` (500/min).

        Example::

            report = await client.contacts.bulk_import(pool, rows, mailing_list_id=list_id, checkpoint="crm.ckpt")
            print(report.added, report.updated, report.failed, report.invalid, report.unknown)
            report.raise_for_failures()

        Raises:
            ConfigurationError: bad arguments, or a checkpoint of another import / other input.
            AuthenticationError, PermissionDeniedError, NotFoundError: the import cannot go on
                (its ``partial_report`` accounts for every contact read; the checkpoint, if
                any, lets a fixed run resume).
            QualtricsError: five batches in a row ended with an unknown outcome (Qualtrics
                keeps failing); ``partial_report`` as above.
        """  # noqa: E501 - endpoint lines cannot be wrapped
        if isinstance(contacts, str | bytes | os.PathLike):
            raise ConfigurationError("contacts is a file name: use client.contacts.bulk_import_csv(directory_id, path)")
        if isinstance(contacts, Mapping | msgspec.Struct):
            raise ConfigurationError("contacts must be a collection of contacts, not one contact: wrap it in a list")
        run = BulkImport(
            self._client,
            directory_id,
            total=len(contacts) if isinstance(contacts, Sized) else None,
            mailing_list_id=mailing_list_id,
            batch_size=batch_size,
            concurrency=concurrency,
            transaction_meta=transaction_meta,
            checkpoint=checkpoint,
            progress=progress,
            job_timeout=job_timeout,
            keep_unattributed=keep_unattributed,
        )
        return await run.run(_source(contacts))

    async def bulk_import_csv(
        self,
        directory_id: str,
        path: str | os.PathLike[str],
        *,
        columns: Mapping[str, str | None] | None = None,
        delimiter: str | None = None,
        encoding: str = "utf-8-sig",
        **options: Unpack[BulkImportOptions],
    ) -> ImportReport:
        """Import the contacts of a CSV (or ``.tsv``) file, read lazily; otherwise as :meth:`bulk_import`.

        The header row names the columns: ``firstName``, ``lastName``, ``email``, ``phone``,
        ``extRef``, ``language``, ``unsubscribed`` (true/false, 1/0, yes/no) -- case, spaces
        and underscores ignored -- and ``embeddedData.<name>`` (or ``embedded.<name>``, as a
        contact export writes) and ``transactionData.<name>``. A ``contactId`` column is
        ignored. ``columns`` maps other headers to those names (or to ``None`` to skip one);
        an unmapped unknown column is an error before anything is sent. Failures name their
        CSV ``line``; ``index`` counts data rows from 0. The other keywords
        (``mailing_list_id``, ``batch_size``, ``checkpoint``, ``progress``, ...) are those of
        :meth:`bulk_import`.

        Endpoint: ``POST /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts`` (100/min).
        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts/{importId}`` (500/min).
        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts/{importId}/summary`` (3000/min).
        Endpoint: ``POST /directories/{directoryId}/mailinglists`` (500/min).

        Example::

            report = await client.contacts.bulk_import_csv(pool, "crm.csv", columns={"Customer no": "extRef"})
        """  # noqa: E501 - endpoint lines cannot be wrapped
        rows = read_csv(path, columns=columns, delimiter=delimiter, encoding=encoding)
        total = await anyio.to_thread.run_sync(
            functools.partial(count_rows, path, delimiter=delimiter, encoding=encoding)
        )
        run = BulkImport(self._client, directory_id, total=total, **options)

        async def source() -> AsyncGenerator[SourceItem, None]:
            async with contextlib.aclosing(rows):
                async for row in rows:
                    yield (row.contact, row.line, row.problem)

        return await run.run(source())


class MailingLists(Resource):
    """Mailing lists of an XM directory (``CG_…``) and their members."""

    __slots__ = ()

    def list(self, directory_id: str) -> AsyncGenerator[MailingList, None]:
        """Every mailing list of a directory.

        Endpoint: ``GET /directories/{directoryId}/mailinglists`` (3000/min).
        """
        return self._list(_LISTS, MailingList, directoryId=directory_id)

    async def create(self, directory_id: str, mailing_list: Body) -> str:
        """Create a mailing list (a :class:`~qualtrics_async.models.MailingListInput` or a dict
        with at least ``name``, at most 100 characters); returns its id.

        Endpoint: ``POST /directories/{directoryId}/mailinglists`` (500/min).
        """
        created: _Created = await self._create(_LISTS, mailing_list, _Created, directoryId=directory_id)
        return created.id

    async def get(self, directory_id: str, mailing_list_id: str) -> MailingList:
        """One mailing list.

        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}`` (3000/min).
        """
        return await self._get(_LIST, MailingList, directoryId=directory_id, mailingListId=mailing_list_id)

    async def update(self, directory_id: str, mailing_list_id: str, changes: Body) -> None:
        """Rename a mailing list or change its owner.

        Endpoint: ``PUT /directories/{directoryId}/mailinglists/{mailingListId}`` (500/min).
        """
        await self._update(_LIST, changes, directoryId=directory_id, mailingListId=mailing_list_id)

    async def delete(self, directory_id: str, mailing_list_id: str) -> None:
        """Delete a mailing list (its contacts stay in the directory).

        Endpoint: ``DELETE /directories/{directoryId}/mailinglists/{mailingListId}`` (500/min).
        """
        await self._delete(_LIST, directoryId=directory_id, mailingListId=mailing_list_id)

    def list_contacts(
        self, directory_id: str, mailing_list_id: str, *, page_size: int | None = None
    ) -> AsyncGenerator[MailingListContact, None]:
        """Every member of a mailing list.

        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/contacts`` (3000/min).
        """
        params = _query(pageSize=page_size)
        return self._list(
            _MEMBERS, MailingListContact, params=params, directoryId=directory_id, mailingListId=mailing_list_id
        )

    async def add_contact(self, directory_id: str, mailing_list_id: str, contact: Body) -> str:
        """Add a contact to a mailing list; returns the contact's id.

        Qualtrics always creates a new directory contact this way (even when one with the
        same email exists), so adding the same person twice makes two contacts.

        Endpoint: ``POST /directories/{directoryId}/mailinglists/{mailingListId}/contacts`` (500/min).
        """
        ids = {"directoryId": directory_id, "mailingListId": mailing_list_id}
        created: _Created = await self._create(_MEMBERS, contact, _Created, **ids)
        return created.id

    async def get_contact(self, directory_id: str, mailing_list_id: str, contact_id: str) -> MailingListContact:
        """One member of a mailing list.

        Endpoint: ``GET /directories/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}`` (3000/min).

        Raises:
            NotFoundError: the contact is not a member of this list.
        """
        return await self._get(
            _MEMBER, MailingListContact, directoryId=directory_id, mailingListId=mailing_list_id, contactId=contact_id
        )

    async def update_contact(self, directory_id: str, mailing_list_id: str, contact_id: str, changes: Body) -> None:
        """Change a member: ``unsubscribed`` opts it out of this list only; other fields
        change the directory contact.

        Endpoint: ``PUT /directories/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}`` (500/min).
        """
        ids = {"directoryId": directory_id, "mailingListId": mailing_list_id, "contactId": contact_id}
        await self._update(_MEMBER, changes, **ids)

    async def remove_contact(self, directory_id: str, mailing_list_id: str, contact_id: str) -> None:
        """Remove a contact from a mailing list (it stays in the directory).

        Endpoint: ``DELETE /directories/{directoryId}/mailinglists/{mailingListId}/contacts/{contactId}`` (500/min).
        """
        await self._delete(_MEMBER, directoryId=directory_id, mailingListId=mailing_list_id, contactId=contact_id)


class Transactions(Resource):
    """Transactions (events recorded on contacts) and transaction batches of an XM directory."""

    __slots__ = ()

    async def create(self, directory_id: str, transactions: Mapping[str, Body]) -> dict[str, str]:
        """Create transactions, keyed by ids of your choosing; returns ``{your key: transaction id}``.

        Each value is a :class:`~qualtrics_async.models.TransactionInput` (or a dict) with
        ``contact_id``, ``mailing_list_id`` and ``transaction_date``
        (:func:`~qualtrics_async.models.directories.format_transaction_date`).

        Endpoint: ``POST /directories/{directoryId}/transactions`` (500/min).
        """
        created: _CreatedTransactions = await self._create(
            _TRANSACTIONS, transactions, _CreatedTransactions, directoryId=directory_id
        )
        return {key: item.id for key, item in created.createdTransactions.items()}

    async def get(self, directory_id: str, transaction_id: str) -> Transaction:
        """One transaction.

        Endpoint: ``GET /directories/{directoryId}/transactions/{transactionId}`` (3000/min).
        """
        return await self._get(_TRANSACTION, Transaction, directoryId=directory_id, transactionId=transaction_id)

    async def update(self, directory_id: str, transaction_id: str, changes: Body) -> None:
        """Change a transaction's date and/or data (data names given are set, others kept).

        Endpoint: ``PUT /directories/{directoryId}/transactions/{transactionId}`` (500/min).
        """
        await self._update(_TRANSACTION, changes, directoryId=directory_id, transactionId=transaction_id)

    async def delete(self, directory_id: str, transaction_id: str) -> None:
        """Delete a transaction.

        Endpoint: ``DELETE /directories/{directoryId}/transactions/{transactionId}`` (500/min).
        """
        await self._delete(_TRANSACTION, directoryId=directory_id, transactionId=transaction_id)

    def list_for_contact(self, directory_id: str, contact_id: str) -> AsyncGenerator[Transaction, None]:
        """Every transaction of one contact.

        Endpoint: ``GET /directories/{directoryId}/contacts/{contactId}/transactions`` (3000/min).
        """
        return self._list(_CONTACT + "/transactions", Transaction, directoryId=directory_id, contactId=contact_id)

    def list_batches(self, directory_id: str) -> AsyncGenerator[TransactionBatch, None]:
        """Every transaction batch of a directory.

        Endpoint: ``GET /directories/{directoryId}/transactionbatches`` (3000/min).
        """
        return self._list(_BATCHES, TransactionBatch, directoryId=directory_id)

    async def create_batch(self, directory_id: str, transaction_ids: Iterable[str] = ()) -> str:
        """Create a transaction batch, optionally holding transactions already; returns its id.

        Endpoint: ``POST /directories/{directoryId}/transactionbatches`` (500/min).
        """
        body = {"transactionIds": list(transaction_ids)}
        created: _Created = await self._create(_BATCHES, body, _Created, directoryId=directory_id)
        return created.id

    async def get_batch(self, directory_id: str, batch_id: str) -> TransactionBatch:
        """One transaction batch.

        Endpoint: ``GET /directories/{directoryId}/transactionbatches/{batchId}`` (3000/min).
        """
        return await self._get(_BATCH, TransactionBatch, directoryId=directory_id, batchId=batch_id)

    async def delete_batch(self, directory_id: str, batch_id: str) -> None:
        """Delete a transaction batch (its transactions stay).

        Endpoint: ``DELETE /directories/{directoryId}/transactionbatches/{batchId}`` (500/min).
        """
        await self._delete(_BATCH, directoryId=directory_id, batchId=batch_id)

    def list_batch_transactions(self, directory_id: str, batch_id: str) -> AsyncGenerator[Transaction, None]:
        """Every transaction in a batch.

        Endpoint: ``GET /directories/{directoryId}/transactionbatches/{batchId}/transactions`` (3000/min).
        """
        return self._list(_BATCH + "/transactions", Transaction, directoryId=directory_id, batchId=batch_id)

    async def add_to_batch(self, directory_id: str, batch_id: str, transaction_ids: Iterable[str]) -> None:
        """Add transactions to a batch.

        Endpoint: ``POST /directories/{directoryId}/transactionbatches/{batchId}/transactions`` (3000/min).
        """
        body = {"transactionIds": list(transaction_ids)}
        await self._create(_BATCH + "/transactions", body, directoryId=directory_id, batchId=batch_id)

    async def remove_from_batch(self, directory_id: str, batch_id: str, transaction_id: str) -> None:
        """Take a transaction out of a batch (the transaction stays).

        Endpoint: ``DELETE /directories/{directoryId}/transactionbatches/{batchId}/transactions/{transactionId}`` (500/min).
        """  # noqa: E501 - the endpoint line cannot be wrapped
        ids = {"directoryId": directory_id, "batchId": batch_id, "transactionId": transaction_id}
        await self._delete(_BATCH + "/transactions/{transactionId}", **ids)


class Segments(Resource):
    """Segments of an XM directory: saved, rule-based selections of contacts."""

    __slots__ = ()

    def list(self, directory_id: str) -> AsyncGenerator[Segment, None]:
        """Every segment of a directory.

        Endpoint: ``GET /directories/{directoryId}/segments`` (60/min).
        """
        return self._list(_DIRECTORY + "/segments", Segment, directoryId=directory_id)

    async def get(self, directory_id: str, segment_id: str) -> Segment:
        """One segment.

        Endpoint: ``GET /directories/{directoryId}/segments/{segmentId}`` (60/min).
        """
        return await self._get(_SEGMENT, Segment, directoryId=directory_id, segmentId=segment_id)

    def list_contacts(self, directory_id: str, segment_id: str) -> AsyncGenerator[Contact, None]:
        """Every contact in a segment.

        Endpoint: ``GET /directories/{directoryId}/segments/{segmentId}/contacts`` (3000/min).
        """
        return self._list(_SEGMENT + "/contacts", Contact, directoryId=directory_id, segmentId=segment_id)

    async def get_contact(self, directory_id: str, segment_id: str, contact_id: str) -> Contact:
        """One contact of a segment.

        Endpoint: ``GET /directories/{directoryId}/segments/{segmentId}/contacts/{contactId}`` (3000/min).

        Raises:
            NotFoundError: the contact is not in this segment.
        """
        return await self._get(
            _SEGMENT + "/contacts/{contactId}",
            Contact,
            directoryId=directory_id,
            segmentId=segment_id,
            contactId=contact_id,
        )


class Samples(Resource):
    """Samples of an XM directory: fixed selections of contacts."""

    __slots__ = ()

    def list(self, directory_id: str) -> AsyncGenerator[Sample, None]:
        """Every sample of a directory.

        Endpoint: ``GET /directories/{directoryId}/samples`` (3000/min).
        """
        return self._list(_DIRECTORY + "/samples", Sample, directoryId=directory_id)

    async def get(self, directory_id: str, sample_id: str) -> Sample:
        """One sample.

        Endpoint: ``GET /directories/{directoryId}/samples/{sampleId}`` (3000/min).
        """
        return await self._get(_SAMPLE, Sample, directoryId=directory_id, sampleId=sample_id)

    def list_contacts(self, directory_id: str, sample_id: str) -> AsyncGenerator[Contact, None]:
        """Every contact in a sample.

        Endpoint: ``GET /directories/{directoryId}/samples/{sampleId}/contacts`` (3000/min).
        """
        return self._list(_SAMPLE + "/contacts", Contact, directoryId=directory_id, sampleId=sample_id)


__all__ = [
    "ContactExportResult",
    "Contacts",
    "Directories",
    "MailingLists",
    "Samples",
    "Segments",
    "Transactions",
]


async def _source(contacts: Iterable[ContactLike] | AsyncIterable[ContactLike]) -> AsyncGenerator[SourceItem, None]:
    if isinstance(contacts, AsyncIterable):
        async for contact in contacts:
            yield (contact, None, None)
    else:
        for contact in contacts:
            yield (contact, None, None)


def _refuse_read_back(body: Body) -> None:
    """A fetched :class:`Contact` carries read-only fields (id, stats, dates) Qualtrics refuses."""
    if isinstance(body, Contact):
        raise ConfigurationError(
            "pass a ContactInput (or a dict), not a fetched Contact: it holds read-only fields; use contact.to_input()"
        )
