"""XM Directory models (``/directories``, qualtrics-api.md §8).

Contact and mailing-list dates are epoch **milliseconds** on the wire (§5.1); they are kept
as ints and offered as aware datetimes by the ``*_at`` properties. Where the fact sheet names
a field but not its type (segment, sample and batch dates), the model accepts an epoch-ms
int or an ISO string; where it names a field but not its shape (``mailingListMembership``,
``stats``), the field is a plain dict, so an unexpected shape never breaks decoding.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from qualtrics_async.errors import ConfigurationError
from qualtrics_async.models._base import Model


def from_epoch_ms(value: int | None) -> datetime | None:
    """An XM Directory epoch-milliseconds date as an aware UTC datetime (``None`` stays ``None``)."""
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


def format_transaction_date(moment: datetime) -> str:
    """``moment`` in the ``YYYY-MM-DD HH:MM:SS`` UTC form transactions use (§5.1).

    Naive datetimes are taken as UTC.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class DeduplicationCriteria(Model):
    """Which fields a directory uses to recognise an existing contact."""

    email: bool = False
    first_name: bool = False
    last_name: bool = False
    external_data_reference: bool = False
    phone: bool = False


class Directory(Model):
    """An element of ``GET /directories`` (a "pool", id ``POOL_…``)."""

    directory_id: str
    name: str | None = None
    contact_count: int | None = None
    is_default: bool | None = None
    deduplication_criteria: DeduplicationCriteria | None = None


class ContactInput(Model):
    """The fields of a contact you send (create or update); every field is optional.

    Fields left ``None`` are not sent, so an update changes only what it names (Qualtrics
    asks not to send empty values). ``embedded_data`` maps names (at most 200 characters)
    to values (at most 1024 characters).

    Example::

        ContactInput(first_name="Zoë", email="zoe@example.com", embedded_data={"tier": "gold"})
    """

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    ext_ref: str | None = None
    language: str | None = None
    unsubscribed: bool | None = None
    embedded_data: dict[str, Any] | None = msgspec.field(default=None)


class Contact(ContactInput, kw_only=True):
    """An XM Directory contact (id ``CID_…``).

    List elements carry the :class:`ContactInput` fields (``embedded_data`` only when asked
    for); one contact fetched by id also has its mailing-list memberships (keyed by list
    id), its ``stats`` and its dates (epoch milliseconds, see :attr:`created_at`).
    """

    contact_id: str
    mailing_list_membership: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    creation_date: int | None = None
    last_modified: int | None = None

    def to_input(self) -> ContactInput:
        """The writable fields of this contact, e.g. to copy it into another directory (a
        ``Contact`` itself is refused as a body: ``contactId`` and the dates are read-only)."""
        return ContactInput(**{name: getattr(self, name) for name in ContactInput.__struct_fields__})

    @property
    def created_at(self) -> datetime | None:
        """``creation_date`` as an aware UTC datetime."""
        return from_epoch_ms(self.creation_date)

    @property
    def modified_at(self) -> datetime | None:
        """``last_modified`` as an aware UTC datetime."""
        return from_epoch_ms(self.last_modified)


class SearchedContact(Contact, kw_only=True):
    """A contact as ``client.contacts.search`` yields it: a :class:`Contact` whose id may come
    keyed ``id`` instead of ``contactId``, as Qualtrics' own example of a search answer shows
    (unconfirmed by any recording, docs/fidelity.md); ``contact_id`` holds it either way."""

    contact_id: str = ""
    id: str | None = None

    def __post_init__(self) -> None:
        if not self.contact_id:
            if not self.id:
                raise ConfigurationError("a contact needs its id: contact_id= (`contactId` or `id` on the wire)")
            self.contact_id = self.id


class MailingListContact(Contact, kw_only=True):
    """A member of an XM Directory mailing list: the directory contact, plus its membership.

    ``mailing_list_unsubscribed`` is the opt-out from this list only; ``contact_lookup_id``
    (``MLRP_…``) identifies the membership.
    """

    contact_lookup_id: str | None = None
    mailing_list_unsubscribed: bool | None = None


class ImportContact(ContactInput, kw_only=True):
    """A contact of a bulk import (``client.contacts.bulk_import``): the :class:`ContactInput`
    fields plus ``transaction_data``, the data of the transaction recorded for it when the
    import has ``transaction_meta``.

    Example::

        ImportContact(email="zoe@example.com", ext_ref="CRM-1", transaction_data={"store": "Oslo"})
    """

    transaction_data: dict[str, Any] | None = None


class ImportCount(Model):
    """Contact counts of a bulk import job."""

    added: int = 0
    updated: int = 0
    failed: int = 0


class _ContactCounts(Model):
    count: ImportCount = msgspec.field(default_factory=ImportCount)


class _TransactionCount(Model):
    created: int = 0


class _TransactionCounts(Model):
    count: _TransactionCount = msgspec.field(default_factory=_TransactionCount)


class ContactImportStarted(Model):
    """``result`` of ``POST …/mailinglists/{mailingListId}/transactioncontacts``: the import job."""

    id: str | None = None
    status: str | None = None
    contacts: Any = None
    tracking: Any = None


class ContactImportStatus(Model):
    """A bulk contact import job (``GET …/transactioncontacts/{importId}`` and ``…/summary``).

    ``status`` is ``"inProgress"``, ``"complete"`` or ``"failed"``; the counts are final once
    complete. ``invalid_emails`` comes only from the summary endpoint.
    """

    percent_complete: float = 0.0
    status: str = "inProgress"
    contacts: _ContactCounts = msgspec.field(default_factory=_ContactCounts)
    transactions: _TransactionCounts = msgspec.field(default_factory=_TransactionCounts)
    invalid_emails: list[str] | None = None
    error: dict[str, Any] | None = None

    @property
    def counts(self) -> ImportCount:
        """Contacts added, updated and failed."""
        return self.contacts.count

    @property
    def transactions_created(self) -> int:
        """Transactions recorded (imports with ``transactionMeta``)."""
        return self.transactions.count.created


class ContactFilter(Model):
    """A filter of ``POST /directories/{directoryId}/contacts/search`` (nestable).

    A condition names a field (``filter_type``: ``"lastName"``, ``"email"``, ... or
    ``"embeddedData"`` with a ``key``), a ``comparison`` (``"eq"``, ...) and a ``value``; a
    group (``filter_type="filterGroup"``) joins ``filters`` with a ``conjunction``
    (``"and"``/``"or"``).

    Example::

        ContactFilter(filter_type="lastName", comparison="eq", value="Smith")
    """

    filter_type: str
    comparison: str | None = None
    value: str | int | float | bool | None = None
    key: str | None = None
    conjunction: str | None = None
    filters: list[ContactFilter] | None = None


class MailingListInput(Model):
    """The fields of a mailing list you send (create: ``name`` is required, at most 100 characters)."""

    name: str | None = None
    owner_id: str | None = None
    prioritize_list_metadata: bool | None = None


class MailingList(Model):
    """An XM Directory mailing list (id ``CG_…``); dates are epoch milliseconds."""

    mailing_list_id: str
    name: str | None = None
    owner_id: str | None = None
    creation_date: int | None = None
    last_modified_date: int | None = None
    contact_count: int | None = None

    @property
    def created_at(self) -> datetime | None:
        """``creation_date`` as an aware UTC datetime."""
        return from_epoch_ms(self.creation_date)


class TransactionInput(Model):
    """A transaction you send: creating needs ``contact_id``, ``mailing_list_id`` and
    ``transaction_date`` (``"YYYY-MM-DD HH:MM:SS"``, see :func:`format_transaction_date`); an
    update sends only the date and/or ``data``."""

    contact_id: str | None = None
    mailing_list_id: str | None = None
    transaction_date: str | None = None
    data: dict[str, Any] | None = None


class Transaction(Model):
    """An XM Directory transaction: an event (a purchase, a visit) recorded on a contact."""

    transaction_id: str
    contact_id: str | None = None
    mailing_list_id: str | None = None
    transaction_date: str | None = None
    data: dict[str, Any] | None = None


class TransactionBatch(Model):
    """A transaction batch (id ``BT_…``), a set of transactions to distribute to together."""

    batch_id: str
    creation_date: int | str | None = None


class Segment(Model):
    """An XM Directory segment (a saved, rule-based selection of contacts)."""

    segment_id: str
    name: str | None = None
    description: str | None = None
    creation_date: int | str | None = None
    last_modified_date: int | str | None = None


class Sample(Model):
    """An XM Directory sample (a fixed selection of contacts)."""

    sample_id: str
    name: str | None = None
    sample_size: int | None = None
    creation_date: int | str | None = None


class ContactExportProgress(Model):
    """A contact export job: the answer to starting it and to each status poll.

    ``status`` is ``"inProgress"``, ``"complete"`` (then ``file_id`` is set) or ``"failed"``.
    """

    status: str
    progress_id: str | None = None
    percent_complete: float = 0.0
    file_id: str | None = None
    error: dict[str, Any] | None = None


__all__ = [
    "Contact",
    "ContactExportProgress",
    "ContactFilter",
    "ContactImportStarted",
    "ContactImportStatus",
    "ContactInput",
    "DeduplicationCriteria",
    "Directory",
    "ImportContact",
    "ImportCount",
    "MailingList",
    "MailingListContact",
    "MailingListInput",
    "Sample",
    "Segment",
    "Transaction",
    "TransactionBatch",
    "TransactionInput",
    "format_transaction_date",
    "from_epoch_ms",
]
