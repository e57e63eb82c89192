"""XM Directory routes of the emulator: qualtrics-api.md §8 (endpoint map), §3 (paging), §5.1 (dates).

The core emulator already serves ``GET /directories``, ``GET /directories/{directoryId}/contacts``
and ``GET .../contacts/{contactId}`` from :class:`EmulatorData`; the writes here act on that
same data (``EmulatorData.add_contact`` / ``remove_contact``), so those lists reflect them.

Ids follow §8 where it names them (directories ``POOL_``, contacts ``CID_`` = 19 characters,
mailing lists ``CG_``, transaction batches ``BT_``) and §10 for contact lookup ids
(``MLRP_``); elsewhere they are documented choices: transactions ``CTR_``, segments
``SEG_``, samples ``SMP_``, contact-export progress ids ``CEX_``, contact-import ids
(``transactioncontacts``) ``CTI_``, file ids UUIDs. Every
directory-scoped route answers 404 for an unknown directory. Page sizes are the caps of §3
(mailing lists and their members 1000, segments 10, segment members 50, samples 100,
transactions and batches 200); a larger ``pageSize`` is clamped, except for the contact
search, which answers 400 above 100 like the contact list does.

Documented choices, where the fact sheet is silent or UNCERTAIN:

* **Contact bodies** (create, update; also mailing-list members): only ``firstName``,
  ``lastName``, ``email``, ``phone``, ``extRef``, ``language``, ``unsubscribed`` and
  ``embeddedData``; any other name is a 400 (names are case-sensitive, §2.2). A new contact
  needs at least one of the name, email, phone or extRef fields; ``email`` must look like
  ``local@domain.tld``; ``embeddedData`` is a flat object whose names are at most 200
  characters and whose values (strings, numbers or booleans, stored as strings) are at most
  1024 characters -- the UI limits quoted in §8. ``creationDate`` and ``lastModified`` are
  epoch milliseconds (§5.1).
* **Deduplication**: ``POST .../contacts`` with a contact equal to an existing one on every
  ``deduplicationCriteria`` field the directory enables (email compared case-insensitively;
  at least one of them given) updates that contact and answers its id instead of creating a
  duplicate; when several contacts match, the oldest wins. ``POST .../mailinglists/{id}/contacts``
  always creates (§8 says so). Lookups use a per-directory index keyed by the criteria values
  (email casefolded), built on first use, kept up to date when contacts are created or merged,
  and rebuilt after a contact is updated (``PUT``, including a mailing-list member's) or deleted,
  after the directory's criteria change, or when its contact count differs from what the index
  has seen (records edited in place through :attr:`EmulatorData.contacts` are not noticed
  otherwise).
* **Update** (``PUT``) merges the fields given; ``embeddedData`` keys given replace or add
  values, others stay. Answers ``meta`` only, as does every ``DELETE``. Deleting a contact
  also removes it from mailing lists, samples and segments (its transactions stay).
* **Search** body ``{"filter": F}`` where F is ``{"filterType": <field>, "comparison": C,
  "value": V}`` with field one of contactId, firstName, lastName, email, phone, extRef,
  language, unsubscribed; ``{"filterType": "embeddedData", "key": K, "comparison": C,
  "value": V}``; or a group ``{"filterType": "filterGroup", "conjunction": "and"|"or",
  "filters": [F, ...]}``. C is ``eq``, ``ne``, ``contains`` or ``startsWith``; text compares
  case-insensitively. The ``nextPage`` of a search is POSTed again with the same body. A
  page starting at result 10,000 or later answers 400 ``BRE_0.5`` (§3, §2.1).
* **Mailing lists**: create ``{name (1..100 characters), ownerId?, prioritizeListMetadata?}``
  (``ownerId`` defaults to the caller); update ``{name?, ownerId?}``. Elements carry
  ``mailingListId, name, ownerId, creationDate, lastModifiedDate`` (epoch ms, §5.1) and
  ``contactCount``. A member element is the directory-contact element plus
  ``contactLookupId`` and ``mailingListUnsubscribed``; creating a member answers ``{id,
  contactLookupId}``; its ``PUT`` takes the contact fields, ``unsubscribed`` being the
  list-level opt-out and the others updating the directory contact; its ``DELETE`` only
  ends the membership. A contact's ``mailingListMembership`` maps list ids to ``{name,
  contactLookupId, unsubscribed}``.
* **Transactions**: ``POST .../transactions`` takes ``{clientKey: {contactId, mailingListId,
  transactionDate: "YYYY-MM-DD HH:MM:SS", data?}}`` (all or nothing) and answers
  ``{"createdTransactions": {clientKey: {"id": "CTR_…"}}}``; a transaction is ``{transactionId,
  contactId, mailingListId, transactionDate, data}``; its ``PUT`` takes ``{transactionDate?,
  data?}`` (data keys merge). Batches: create ``{transactionIds?}`` answers ``{id}``; a batch
  is ``{batchId, creationDate}``; ``POST .../{batchId}/transactions`` takes ``{transactionIds}``.
* **Segments and samples** cannot be defined through this emulator (their definition bodies
  are unknown); they are seeded in the default directory from the seed: one segment per
  value of the contacts' ``segment`` embedded-data field (membership is computed live from
  the contacts) and two samples (fixed random subsets). Segments are ``{segmentId, name,
  description, creationDate, lastModifiedDate}``; samples ``{sampleId, name, sampleSize,
  creationDate}``; members are directory-contact elements. The default directory also gets
  one seeded mailing list.
* **Contact export**: ``POST .../export-contacts`` takes ``{format?: "csv"|"tsv",
  includeEmbedded?: bool}`` and answers ``{progressId, percentComplete, status}``; the status
  route answers the same plus ``fileId`` once ``complete`` (or ``error`` once ``failed``).
  Progress advances per poll, not per second: with :attr:`DirectoryRoutes.export_polls` = 2
  (default) the first poll says 50 %, the second ``complete``. The file is the directory's
  contacts at the time of the POST, as UTF-8 CSV/TSV (header row; columns contactId,
  firstName, lastName, email, phone, extRef, language, unsubscribed, then ``embedded.<name>``
  columns when asked), not zipped, with ``Accept-Ranges``, a strong ``ETag`` and single byte
  ranges (206/416) so downloads can resume.
* **Contact imports** (``POST .../mailinglists/{mailingListId}/transactioncontacts``, §8): the
  body is ``{"transactionMeta"?: {"batchId"?, "fields"?}, "contacts": [...]}``; a contact takes the
  contact fields above plus ``transactionData`` (a flat object, like ``embeddedData``). ``phone``
  is accepted although §8's transactioncontacts row does not list it (the directory's contacts
  have it, and the create body lists it). ``transactionMeta.fields`` must be a list of strings;
  it is recorded but does not filter ``transactionData``, whose meaning §8 does not give.
  ``transactionData`` without ``transactionMeta`` creates no transaction.

  - *400 for the whole request* (nothing applied, no job): ``contacts`` missing, not a list,
    empty, or longer than :attr:`DirectoryRoutes.import_max_contacts` (default 10,000 -- the
    real maximum is UNCERTAIN, §8; every such message names the maximum in force); a contact
    that is structurally wrong -- not an object, an unknown field name (case-sensitive), a
    wrong type, ``embeddedData``/``transactionData`` not a flat object, names over 200 or
    values over 1024 characters -- the message starts ``contacts[<index>]:``. A body over
    :attr:`DirectoryRoutes.import_max_bytes` (default 5 MB, the upload limit of §4.1) answers
    413. ``transactionMeta.batchId`` must name a batch of the directory (404 otherwise).
  - *Failed contacts* (structurally fine, not imported, counted ``failed``): an ``email`` that
    does not look like ``local@domain.tld``, or whose domain ends in ``.invalid`` (RFC 2606:
    lets tests produce failures a client cannot pre-validate) -- both listed, as sent, in the
    summary's ``invalidEmails``; a contact with none of firstName, lastName, email, phone,
    extRef; and random failures at :attr:`DirectoryRoutes.import_failure_rate` (default 0,
    drawn from a seeded generator, so a run is reproducible).
  - *Semantics*: everything is decided and applied at POST time, atomically, so an import takes
    effect even when its answer is lost. Each other contact is deduplicated as above (a match
    is merged and counted ``updated``, else created and counted ``added``; a later contact of
    the same request with the same key updates the earlier one). Every imported contact joins
    the mailing list; an existing membership is kept as it is, a new one is subscribed (the
    contact's ``unsubscribed`` is the directory-level field). With ``transactionMeta``, every
    imported contact that has ``transactionData`` gets a transaction ``{contactId,
    mailingListId, transactionDate: now (UTC, "YYYY-MM-DD HH:MM:SS"), data}``, added to the
    ``batchId`` batch when one is given; they count as ``transactions.count.created``.
  - The POST answers ``{"id": "CTI_...", "contacts": {"count": <received>}, "tracking": {"url":
    <absolute status URL>}, "status": "inProgress"}``. ``GET .../transactioncontacts/{importId}``
    answers ``{percentComplete, status, contacts: {count: {added, updated, failed}},
    transactions: {count: {created}}}``; progress advances per status poll like the contact
    export (:attr:`DirectoryRoutes.import_polls`, default 2: 50 %, then ``complete``); the
    counts are 0 while ``inProgress`` and final afterwards. An import made to fail
    (:meth:`DirectoryRoutes.fail_imports`) applies nothing and ends ``failed`` with ``error
    {errorCode, errorMessage}``; its counts say every contact ``failed``. An unknown import
    id, or one of another directory or mailing list, answers 404.
  - ``GET .../transactioncontacts/{importId}/summary`` answers the status shape plus
    ``invalidEmails``, once polls have shown the job finished (``complete`` or ``failed``);
    before that it answers 400 (rather than a half-empty summary a client could mistake for a
    final one); it does not advance the progress itself. PEERS.md reports the endpoint
    unsupported after 2026-06-30: with :attr:`DirectoryRoutes.summary_retired` it answers 404
    saying so (off by default, because the fact sheet lists the endpoint).
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import re
import string
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from qualtrics_async.testing._data import _BASE_DATE, _SEGMENTS, EmulatorData, Json, contact_element
from qualtrics_async.testing._exports import _parse_range
from qualtrics_async.testing._faults import Reply
from qualtrics_async.testing._routing import (
    ApiError,
    Collection,
    FamilyContext,
    Handler,
    RouteSpec,
    bad_request,
    check_fields,
    json_body,
    not_found,
    skip_page,
)

SEARCH_PAGE_SIZE = 100
SEARCH_REACHABLE = 10_000
"""A contact search cannot page past this many results (qualtrics-api.md §3)."""
MAILING_LISTS_PAGE_SIZE = 1000
SEGMENTS_PAGE_SIZE = 10
SEGMENT_MEMBERS_PAGE_SIZE = 50
SAMPLES_PAGE_SIZE = 100
TRANSACTIONS_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 100
MAX_LIST_NAME = 100
MAX_EMBEDDED_NAME = 200
MAX_EMBEDDED_VALUE = 1024
IMPORT_MAX_CONTACTS = 10_000
"""Default :attr:`DirectoryRoutes.import_max_contacts` (the real maximum is UNCERTAIN, qualtrics-api.md §8)."""
IMPORT_MAX_BYTES = 5_000_000
"""Default :attr:`DirectoryRoutes.import_max_bytes`: the 5 MB upload limit of qualtrics-api.md §4.1."""

CONTACT_FIELDS = ("firstName", "lastName", "email", "phone", "extRef", "language", "unsubscribed", "embeddedData")
IMPORT_CONTACT_FIELDS = (*CONTACT_FIELDS, "transactionData")
_TEXT_FIELDS = ("firstName", "lastName", "email", "phone", "extRef", "language")
_IDENTIFYING = ("firstName", "lastName", "email", "phone", "extRef")
_DEDUP_FIELDS = {"email": "email", "firstName": "firstName", "lastName": "lastName"}
_DEDUP_FIELDS |= {"externalDataReference": "extRef", "phone": "phone"}
_FILTER_FIELDS = frozenset({"contactId", *_TEXT_FIELDS, "unsubscribed"})
_EXPORT_COLUMNS = ("contactId", "firstName", "lastName", "email", "phone", "extRef", "language", "unsubscribed")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TRANSACTION_DATE = "%Y-%m-%d %H:%M:%S"

Predicate = Callable[[Json], bool]
_Failure = Literal["email", "identity", "random"]
"""Why a contact of an import was not imported."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class _PerDirectory:
    """One :class:`Collection` per directory, created on first use; 404 for an unknown directory."""

    def __init__(self, data: EmulatorData, kind: str, prefix: str, id_field: str, rng: random.Random) -> None:
        self._data = data
        self._args = (kind, prefix, rng)
        self._id_field = id_field
        self._stores: dict[str, Collection] = {}

    def __call__(self, directory_id: str) -> Collection:
        if directory_id not in self._data.contacts:
            raise not_found("Directory", directory_id)
        store = self._stores.get(directory_id)
        if store is None:
            store = self._stores[directory_id] = Collection(*self._args, id_field=self._id_field)
        return store


@dataclass(frozen=True, slots=True)
class ContactImportInfo:
    """What one ``transactioncontacts`` import did (:attr:`DirectoryRoutes.import_jobs`).

    The counts are the outcome decided when the import was POSTed (an import made to fail
    counts every contact ``failed``); ``status`` is what the status polls have reached so far
    (``"inProgress"``, ``"complete"`` or ``"failed"``).
    """

    id: str
    directory_id: str
    mailing_list_id: str
    received: int
    added: int
    updated: int
    failed: int
    status: str


@dataclass(eq=False)
class _ImportJob:
    import_id: str
    directory_id: str
    mailing_list_id: str
    received: int
    fail: bool
    added: int = 0
    updated: int = 0
    failed: int = 0
    transactions: int = 0
    invalid_emails: list[str] = field(default_factory=list)
    polls: int = 0


@dataclass(eq=False, slots=True)
class _DedupIndex:
    """One directory's contacts by deduplication key (first contact per key, in list order)."""

    criteria: tuple[str, ...]
    size: int
    """How many contacts of the directory the index has seen (a mismatch means: rebuild)."""
    keys: dict[tuple[Any, ...], Json]


@dataclass(eq=False)
class _ExportJob:
    directory_id: str
    progress_id: str
    data: bytes
    content_type: str
    fail: bool
    polls: int = 0
    file_id: str | None = None


class DirectoryRoutes:
    """XM Directory routes (see the module docstring for every documented choice).

    Test controls: :attr:`export_polls` (status polls until a contact export completes) and
    :meth:`fail_exports`; for contact imports (``transactioncontacts``) :attr:`import_polls`,
    :attr:`import_max_contacts`, :attr:`import_max_bytes`, :attr:`import_failure_rate`,
    :attr:`summary_retired`, :attr:`import_refuses`, :meth:`fail_imports` and :attr:`import_jobs`.
    """

    def __init__(self, context: FamilyContext) -> None:
        self.context = context
        self.data = context.data
        self.export_polls = 2
        """How many status polls a contact export takes to complete (at least 1)."""
        self._fail_next = 0
        self.import_polls = 2
        """How many status polls a contact import takes to complete (at least 1)."""
        self.import_max_contacts = IMPORT_MAX_CONTACTS
        """Most contacts one import may carry; more answer 400 naming this number."""
        self.import_max_bytes = IMPORT_MAX_BYTES
        """Largest import request body, in bytes; a larger one answers 413."""
        self.import_failure_rate = 0.0
        """Share of otherwise importable contacts that fail at random (seeded, reproducible)."""
        self.summary_retired = False
        """When True, the import summary route answers 404 "no longer supported" (PEERS.md)."""
        self.import_refuses: Callable[[Json], str | None] | None = None
        """Server-side rules a client cannot know: called with each contact of an import, a
        message refuses the whole request with 400 ``contacts[<index>]: <message>``."""
        self._fail_imports_next = 0
        self._imports: dict[str, _ImportJob] = {}
        self._import_rng = context.rng("directory:imports")
        self._dedup: dict[str, _DedupIndex] = {}  # directoryId -> index, built lazily
        rng = context.rng("directory:ids")
        self._id_rng = rng
        self.lists = _PerDirectory(self.data, "Mailing list", "CG", "mailingListId", rng)
        self.transactions = _PerDirectory(self.data, "Transaction", "CTR", "transactionId", rng)
        self.batches = _PerDirectory(self.data, "Transaction batch", "BT", "batchId", rng)
        self.segments = _PerDirectory(self.data, "Segment", "SEG", "segmentId", rng)
        self.samples = _PerDirectory(self.data, "Sample", "SMP", "sampleId", rng)
        self._members: dict[str, dict[str, Json]] = {}  # mailingListId -> contactId -> membership
        self._batch_members: dict[str, list[str]] = {}  # batchId -> transaction ids
        self._segment_rules: dict[str, tuple[str, str]] = {}  # segmentId -> (embedded name, value)
        self._sample_members: dict[str, list[str]] = {}  # sampleId -> contact ids
        self._exports: dict[str, _ExportJob] = {}
        self._files: dict[str, _ExportJob] = {}
        self._seed(context.rng("directory"))

    # --- test controls -----------------------------------------------------------------------

    def fail_exports(self, times: int = 1) -> None:
        """Make the next ``times`` contact exports end ``failed`` instead of ``complete``."""
        with self.context.lock:
            self._fail_next += times

    def fail_imports(self, times: int = 1) -> None:
        """Make the next ``times`` contact imports apply nothing and end ``failed``.

        The POST still answers normally (the job is created); the status polls then end
        ``failed`` with an ``error`` object.
        """
        with self.context.lock:
            self._fail_imports_next += times

    @property
    def import_jobs(self) -> list[ContactImportInfo]:
        """Every contact import created so far, oldest first (one per POST that made a job)."""
        with self.context.lock:
            return [
                ContactImportInfo(
                    id=job.import_id,
                    directory_id=job.directory_id,
                    mailing_list_id=job.mailing_list_id,
                    received=job.received,
                    added=job.added,
                    updated=job.updated,
                    failed=job.failed,
                    status=self._import_status(job),
                )
                for job in self._imports.values()
            ]

    # --- seeded data -------------------------------------------------------------------------

    def _seed(self, rng: random.Random) -> None:
        pool = self.data.default_directory_id
        contacts = self.data.contacts[pool]
        base = int(_BASE_DATE.timestamp() * 1000)

        def moment() -> int:
            return base + rng.randint(0, 900 * 86_400) * 1000

        for value in _SEGMENTS:
            created = moment()
            segment = self.segments(pool).add(
                {
                    "name": f"{value.title()} contacts",
                    "description": f"Contacts whose embedded data 'segment' is {value!r}",
                    "creationDate": created,
                    "lastModifiedDate": created + rng.randint(0, 30 * 86_400) * 1000,
                }
            )
            self._segment_rules[segment["segmentId"]] = ("segment", value)
        ids = [c["contactId"] for c in contacts]
        for name, size in (("Random 10 % sample", len(ids) // 10), ("Pilot panel", min(25, len(ids)))):
            sample = self.samples(pool).add({"name": name, "creationDate": moment()})
            self._sample_members[sample["sampleId"]] = rng.sample(ids, size)
        created = moment()
        owner = str(self.data.whoami["userId"])
        newsletter = self._new_list(pool, {"name": "Newsletter subscribers", "ownerId": owner}, created)
        for contact_id in rng.sample(ids, min(30, len(ids))):
            self._join(pool, newsletter, contact_id, unsubscribed=rng.random() < 0.1)

    # --- helpers -----------------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(self._id_rng.choices(string.ascii_letters + string.digits, k=15))

    def _contacts(self, directory_id: str) -> list[Json]:
        contacts = self.data.contacts.get(directory_id)
        if contacts is None:
            raise not_found("Directory", directory_id)
        return contacts

    def _contact(self, directory_id: str, contact_id: str) -> Json:
        self._contacts(directory_id)
        contact = self.data.find_contact(directory_id, contact_id)
        if contact is None:
            raise not_found("Contact", contact_id)
        return contact

    def _page(self, request: web.BaseRequest, scope: str, items: list[Json], maximum: int) -> Json:
        default = min(maximum, DEFAULT_PAGE_SIZE)
        return skip_page(request, self.context.skip_tokens, scope, items, maximum, default_size=default)

    def _member_page(
        self, request: web.BaseRequest, scope: str, directory_id: str, ids: Iterable[str], maximum: int
    ) -> Json:
        """A page of directory-contact elements for member ids (members deleted since are skipped)."""
        found = (self.data.find_contact(directory_id, contact_id) for contact_id in ids)
        members = [contact_element(c) for c in found if c is not None]
        return self._page(request, scope, members, maximum)

    # --- contacts ----------------------------------------------------------------------------

    async def _create_contact(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id = params["directoryId"]
        self._contacts(directory_id)
        fields = _contact_fields(await json_body(request), creating=True)
        with self.context.lock:
            existing = self._duplicate_of(directory_id, fields)
            if existing is not None:
                _merge_contact(existing, fields)
                return {"id": existing["contactId"]}
            return {"id": self._add_contact(directory_id, fields)["contactId"]}

    def _duplicate_of(self, directory_id: str, fields: Json) -> Json | None:
        """The oldest contact equal to ``fields`` on every enabled deduplication criterion
        (email case-insensitively; at least one of them given), or ``None``. O(1): call under the lock."""
        index = self._dedup_index(directory_id)
        key = _dedup_tuple(index.criteria, fields)
        return None if key is None else index.keys.get(key)

    def _dedup_index(self, directory_id: str) -> _DedupIndex:
        directory = self.data.find_directory(directory_id) or {}
        enabled = (directory.get("deduplicationCriteria") or {}).items()
        criteria = tuple(_DEDUP_FIELDS[name] for name, on in enabled if on)
        contacts = self.data.contacts[directory_id]
        index = self._dedup.get(directory_id)
        if index is None or index.criteria != criteria or index.size != len(contacts):
            keys: dict[tuple[Any, ...], Json] = {}
            for contact in contacts:
                key = _dedup_tuple(criteria, contact)
                if key is not None:
                    keys.setdefault(key, contact)
            index = self._dedup[directory_id] = _DedupIndex(criteria, len(contacts), keys)
        return index

    def _dedup_dirty(self, directory_id: str) -> None:
        """A contact's fields changed or it was deleted: rebuild the index on next use."""
        self._dedup.pop(directory_id, None)

    def _add_contact(self, directory_id: str, fields: Json) -> Json:
        now = _now_ms()
        contact: Json = {"contactId": self._new_id("CID")}
        contact.update(dict.fromkeys(_TEXT_FIELDS))
        contact.update(unsubscribed=False, embeddedData={}, mailingListMembership={}, stats={})
        contact.update(creationDate=now, lastModified=now)
        _merge_contact(contact, fields)
        self.data.add_contact(directory_id, contact)
        index = self._dedup.get(directory_id)
        if index is not None:
            if index.size + 1 == len(self.data.contacts[directory_id]):
                index.size += 1
                key = _dedup_tuple(index.criteria, contact)
                if key is not None:
                    index.keys.setdefault(key, contact)  # an older contact with the same key still wins
            else:
                self._dedup_dirty(directory_id)
        return contact

    async def _update_contact(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        contact = self._contact(params["directoryId"], params["contactId"])
        fields = _contact_fields(await json_body(request), creating=False)
        with self.context.lock:
            _merge_contact(contact, fields)
            self._dedup_dirty(params["directoryId"])

    def _delete_contact(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        directory_id, contact_id = params["directoryId"], params["contactId"]
        self._contact(directory_id, contact_id)
        with self.context.lock:
            self.data.remove_contact(directory_id, contact_id)
            self._dedup_dirty(directory_id)
            for members in self._members.values():
                members.pop(contact_id, None)

    async def _search(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id = params["directoryId"]
        contacts = self._contacts(directory_id)
        body = await json_body(request, required=("filter",))
        check_fields(body, ("filter",))
        matches = _compile_filter(body["filter"])
        embedded = _bool_param(request, "includeEmbedded")
        found = [c for c in contacts if matches(c)]
        scope = f"search:{directory_id}"
        token = request.query.get("skipToken")
        if token and self.context.skip_tokens.decode(scope, token, limit=len(found)) >= SEARCH_REACHABLE:
            raise ApiError(
                400,
                f"Search results cannot be paged past the first {SEARCH_REACHABLE} contacts; narrow the filter "
                "or export the directory's contacts.",
                "BRE_0.5",
            )
        page = skip_page(
            request, self.context.skip_tokens, scope, found, SEARCH_PAGE_SIZE, reject_larger=True, default_size=100
        )
        page["elements"] = [contact_element(c, include_embedded=embedded) for c in page["elements"]]
        return page

    # --- mailing lists -----------------------------------------------------------------------

    def _new_list(self, directory_id: str, fields: Json, created: int) -> Json:
        record = {"name": fields["name"], "ownerId": fields.get("ownerId") or self.data.whoami["userId"]}
        mailing_list = self.lists(directory_id).add({**record, "creationDate": created, "lastModifiedDate": created})
        self._members[mailing_list["mailingListId"]] = {}
        return mailing_list

    def _list_view(self, mailing_list: Json) -> Json:
        return {**mailing_list, "contactCount": len(self._members[mailing_list["mailingListId"]])}

    def _mailing_list(self, params: dict[str, str]) -> Json:
        return self.lists(params["directoryId"]).get(params["mailingListId"])

    def _join(self, directory_id: str, mailing_list: Json, contact_id: str, *, unsubscribed: bool) -> Json:
        membership = {
            "name": mailing_list["name"],
            "contactLookupId": self._new_id("MLRP"),
            "unsubscribed": unsubscribed,
        }
        list_id = mailing_list["mailingListId"]
        self._members[list_id][contact_id] = membership
        contact = self._contact(directory_id, contact_id)
        contact["mailingListMembership"][list_id] = membership
        return membership

    def _member(self, params: dict[str, str]) -> tuple[Json, Json]:
        """(directory contact, membership) of a mailing-list member; 404 when not a member."""
        mailing_list = self._mailing_list(params)
        contact_id = params["contactId"]
        membership = self._members[mailing_list["mailingListId"]].get(contact_id)
        if membership is None:
            raise not_found(f"Contact in mailing list {mailing_list['mailingListId']}:", contact_id)
        return self._contact(params["directoryId"], contact_id), membership

    def _list_lists(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        store = self.lists(params["directoryId"])
        views = [self._list_view(m) for m in store.values()]
        return self._page(request, f"lists:{params['directoryId']}", views, MAILING_LISTS_PAGE_SIZE)

    async def _create_list(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        self.lists(params["directoryId"])
        body = await json_body(request, required=("name",))
        check_fields(body, ("name", "ownerId", "prioritizeListMetadata"))
        _check_list_fields(body)
        if not isinstance(body.get("prioritizeListMetadata", False), bool):
            raise bad_request("prioritizeListMetadata must be true or false.")
        with self.context.lock:
            return {"id": self._new_list(params["directoryId"], body, _now_ms())["mailingListId"]}

    def _get_list(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._list_view(self._mailing_list(params))

    async def _update_list(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        mailing_list = self._mailing_list(params)
        body = await json_body(request)
        check_fields(body, ("name", "ownerId"))
        _check_list_fields(body)
        with self.context.lock:
            mailing_list.update(body, lastModifiedDate=_now_ms())
            for membership in self._members[mailing_list["mailingListId"]].values():
                membership["name"] = mailing_list["name"]

    def _delete_list(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        list_id = self._mailing_list(params)["mailingListId"]
        with self.context.lock:
            self.lists(params["directoryId"]).delete(list_id)
            for contact_id in self._members.pop(list_id):
                contact = self.data.find_contact(params["directoryId"], contact_id)
                if contact is not None:
                    contact["mailingListMembership"].pop(list_id, None)

    def _list_members(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        mailing_list = self._mailing_list(params)
        members = self._members[mailing_list["mailingListId"]]
        elements = [
            self._member_element(params["directoryId"], contact_id, membership)
            for contact_id, membership in members.items()
        ]
        return self._page(request, f"members:{mailing_list['mailingListId']}", elements, MAILING_LISTS_PAGE_SIZE)

    def _member_element(self, directory_id: str, contact_id: str, membership: Json, *, embedded: bool = False) -> Json:
        contact = self._contact(directory_id, contact_id)
        element = contact_element(contact, include_embedded=embedded)
        element.update(
            contactLookupId=membership["contactLookupId"], mailingListUnsubscribed=membership["unsubscribed"]
        )
        return element

    async def _create_member(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        mailing_list = self._mailing_list(params)
        fields = _contact_fields(await json_body(request), creating=True)
        with self.context.lock:
            contact = self._add_contact(params["directoryId"], fields)  # always a new contact (§8)
            membership = self._join(params["directoryId"], mailing_list, contact["contactId"], unsubscribed=False)
        return {"id": contact["contactId"], "contactLookupId": membership["contactLookupId"]}

    def _get_member(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        contact, membership = self._member(params)
        return self._member_element(params["directoryId"], contact["contactId"], membership, embedded=True)

    async def _update_member(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        contact, membership = self._member(params)
        fields = _contact_fields(await json_body(request), creating=False)
        with self.context.lock:
            if "unsubscribed" in fields:
                membership["unsubscribed"] = fields.pop("unsubscribed")
            _merge_contact(contact, fields)
            self._dedup_dirty(params["directoryId"])

    def _delete_member(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        contact, _membership = self._member(params)
        list_id = params["mailingListId"]
        with self.context.lock:
            del self._members[list_id][contact["contactId"]]
            contact["mailingListMembership"].pop(list_id, None)

    # --- transactions ------------------------------------------------------------------------

    async def _create_transactions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id = params["directoryId"]
        store = self.transactions(directory_id)
        body = await json_body(request)
        if not body:
            raise bad_request("The body must map at least one client key to a transaction.")
        records = {key: self._transaction_fields(directory_id, key, item) for key, item in body.items()}
        with self.context.lock:
            created = {key: {"id": store.add(record)["transactionId"]} for key, record in records.items()}
        return {"createdTransactions": created}

    def _transaction_fields(self, directory_id: str, key: str, item: Any) -> Json:
        if not isinstance(item, dict):
            raise bad_request(f"Transaction {key!r} must be an object.")
        check_fields(item, ("contactId", "mailingListId", "transactionDate", "data"))
        missing = [name for name in ("contactId", "mailingListId", "transactionDate") if not item.get(name)]
        if missing:
            raise bad_request(f"Transaction {key!r} lacks {', '.join(missing)}.")
        if self.data.find_contact(directory_id, str(item["contactId"])) is None:
            raise bad_request(f"Transaction {key!r}: contact {item['contactId']} is not in directory {directory_id}.")
        if self.lists(directory_id).find(str(item["mailingListId"])) is None:
            raise bad_request(f"Transaction {key!r}: mailing list {item['mailingListId']} was not found.")
        _check_transaction_date(item["transactionDate"])
        return {
            "contactId": item["contactId"],
            "mailingListId": item["mailingListId"],
            "transactionDate": item["transactionDate"],
            "data": _flat_strings("data", item.get("data") or {}, MAX_EMBEDDED_VALUE),
        }

    def _transaction(self, params: dict[str, str]) -> Json:
        return self.transactions(params["directoryId"]).get(params["transactionId"])

    def _get_transaction(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self._transaction(params))

    async def _update_transaction(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        transaction = self._transaction(params)
        body = await json_body(request)
        check_fields(body, ("transactionDate", "data"))
        if "transactionDate" in body:
            _check_transaction_date(body["transactionDate"])
        data = _flat_strings("data", body.get("data") or {}, MAX_EMBEDDED_VALUE)
        with self.context.lock:
            transaction["transactionDate"] = body.get("transactionDate", transaction["transactionDate"])
            transaction["data"] = {**transaction["data"], **data}

    def _delete_transaction(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        transaction_id = self._transaction(params)["transactionId"]
        with self.context.lock:
            self.transactions(params["directoryId"]).delete(transaction_id)
            for members in self._batch_members.values():
                if transaction_id in members:
                    members.remove(transaction_id)

    def _contact_transactions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        contact_id = self._contact(params["directoryId"], params["contactId"])["contactId"]
        found = [dict(t) for t in self.transactions(params["directoryId"]).values() if t["contactId"] == contact_id]
        return self._page(request, f"transactions:{contact_id}", found, TRANSACTIONS_PAGE_SIZE)

    def _transaction_ids(self, directory_id: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request("transactionIds must be a list of transaction ids.")
        store = self.transactions(directory_id)
        unknown = [v for v in value if v not in store]
        if unknown:
            raise bad_request(f"Unknown transaction id(s): {', '.join(unknown)}.")
        return list(dict.fromkeys(value))

    def _batch(self, params: dict[str, str]) -> Json:
        return self.batches(params["directoryId"]).get(params["batchId"])

    def _list_batches(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        items = [dict(b) for b in self.batches(params["directoryId"]).values()]
        return self._page(request, f"batches:{params['directoryId']}", items, TRANSACTIONS_PAGE_SIZE)

    async def _create_batch(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        store = self.batches(params["directoryId"])
        body = await json_body(request)
        check_fields(body, ("transactionIds",))
        ids = self._transaction_ids(params["directoryId"], body.get("transactionIds", []))
        with self.context.lock:
            batch = store.add({"creationDate": _now_ms()})
            self._batch_members[batch["batchId"]] = ids
        return {"id": batch["batchId"]}

    def _get_batch(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self._batch(params))

    def _delete_batch(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        batch_id = self._batch(params)["batchId"]
        with self.context.lock:
            self.batches(params["directoryId"]).delete(batch_id)
            del self._batch_members[batch_id]

    def _batch_transactions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        batch_id = self._batch(params)["batchId"]
        store = self.transactions(params["directoryId"])
        items = [dict(store.get(t)) for t in self._batch_members[batch_id]]
        return self._page(request, f"batch:{batch_id}", items, TRANSACTIONS_PAGE_SIZE)

    async def _add_to_batch(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        batch_id = self._batch(params)["batchId"]
        body = await json_body(request, required=("transactionIds",))
        check_fields(body, ("transactionIds",))
        ids = self._transaction_ids(params["directoryId"], body["transactionIds"])
        with self.context.lock:
            members = self._batch_members[batch_id]
            members.extend(t for t in ids if t not in members)

    def _remove_from_batch(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        batch_id = self._batch(params)["batchId"]
        members = self._batch_members[batch_id]
        if params["transactionId"] not in members:
            raise not_found(f"Transaction in batch {batch_id}:", params["transactionId"])
        with self.context.lock:
            members.remove(params["transactionId"])

    # --- contact imports (transactioncontacts) ----------------------------------------------

    async def _start_import(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id, list_id = params["directoryId"], params["mailingListId"]
        self._mailing_list(params)
        try:  # a body up to import_max_bytes, not aiohttp's default 1 MiB
            body = await json_body(request.clone(client_max_size=self.import_max_bytes))
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(
                413, f"The request body is larger than {self.import_max_bytes} bytes; send fewer contacts.", "BRE_0.4"
            ) from None
        check_fields(body, ("transactionMeta", "contacts"))
        maximum = self.import_max_contacts
        contacts = body.get("contacts")
        if not isinstance(contacts, list):
            raise bad_request(f"contacts must be a list of 1 to {maximum} contacts.")
        if not 1 <= len(contacts) <= maximum:
            raise bad_request(f"contacts must be a list of 1 to {maximum} contacts; got {len(contacts)}.")
        meta = _transaction_meta(body["transactionMeta"]) if body.get("transactionMeta") is not None else None
        items = [_import_contact(index, item) for index, item in enumerate(contacts)]
        refuses = self.import_refuses
        if refuses is not None:
            for index, fields in enumerate(items):
                message = refuses(fields)
                if message:
                    raise bad_request(f"contacts[{index}]: {message}")
        with self.context.lock:
            mailing_list = self._mailing_list(params)  # again: it may have been deleted meanwhile
            batch_id = None if meta is None else meta.get("batchId")
            if batch_id is not None:
                self.batches(directory_id).get(batch_id)  # 404 before anything is applied
            fail, self._fail_imports_next = self._fail_imports_next > 0, max(0, self._fail_imports_next - 1)
            job = _ImportJob(self._new_id("CTI"), directory_id, list_id, len(items), fail)
            self._imports[job.import_id] = job
            if fail:
                job.failed = len(items)
            else:
                self._apply_import(job, mailing_list, items, with_transactions=meta is not None, batch_id=batch_id)
        status_url = request.url.origin().with_path(request.path.rstrip("/") + "/" + job.import_id)
        return {
            "id": job.import_id,
            "contacts": {"count": job.received},
            "tracking": {"url": str(status_url)},
            "status": "inProgress",
        }

    def _apply_import(
        self, job: _ImportJob, mailing_list: Json, items: list[Json], *, with_transactions: bool, batch_id: str | None
    ) -> None:
        """Import ``items`` into the directory and the list (call under the lock)."""
        directory_id = job.directory_id
        list_id = mailing_list["mailingListId"]
        members = self._members[list_id]
        transactions = self.transactions(directory_id)
        created_at = datetime.now(UTC).strftime(_TRANSACTION_DATE)
        created: list[str] = []
        for fields in items:
            reason: _Failure | None = _import_failure(fields)
            if reason is None and self.import_failure_rate > 0:
                reason = "random" if self._import_rng.random() < self.import_failure_rate else None
            if reason is not None:
                job.failed += 1
                if reason == "email":
                    job.invalid_emails.append(fields["email"])
                continue
            transaction_data = fields.pop("transactionData", None)
            contact = self._duplicate_of(directory_id, fields)
            if contact is None:
                contact = self._add_contact(directory_id, fields)
                job.added += 1
            else:
                _merge_contact(contact, fields)
                job.updated += 1
            contact_id = contact["contactId"]
            if contact_id not in members:
                self._join(directory_id, mailing_list, contact_id, unsubscribed=False)
            if with_transactions and transaction_data is not None:
                record = {
                    "contactId": contact_id,
                    "mailingListId": list_id,
                    "transactionDate": created_at,
                    "data": transaction_data,
                }
                created.append(transactions.add(record)["transactionId"])
        job.transactions = len(created)
        if batch_id is not None:
            self._batch_members[batch_id].extend(created)

    def _import_job(self, params: dict[str, str]) -> _ImportJob:
        self._mailing_list(params)
        job = self._imports.get(params["importId"])
        if job is None or (job.directory_id, job.mailing_list_id) != (params["directoryId"], params["mailingListId"]):
            raise not_found("Contact import", params["importId"])
        return job

    def _import_status(self, job: _ImportJob) -> str:
        if job.polls < max(1, self.import_polls):
            return "inProgress"
        return "failed" if job.fail else "complete"

    def _import_view(self, job: _ImportJob) -> Json:
        needed = max(1, self.import_polls)
        status = self._import_status(job)
        done = status != "inProgress"
        result: Json = {
            "percentComplete": round(100.0 * min(job.polls, needed) / needed, 1),
            "status": status,
            "contacts": {
                "count": {
                    "added": job.added if done else 0,
                    "updated": job.updated if done else 0,
                    "failed": job.failed if done else 0,
                }
            },
            "transactions": {"count": {"created": job.transactions if done else 0}},
        }
        if status == "failed":
            result["error"] = {
                "errorCode": "IMP_0.1",
                "errorMessage": "The contact import could not be completed; no contact was imported.",
            }
        return result

    def _import_progress(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        with self.context.lock:
            job = self._import_job(params)
            job.polls += 1
            return self._import_view(job)

    def _import_summary(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        if self.summary_retired:
            raise ApiError(
                404,
                "The transactioncontacts summary endpoint is no longer supported (retired after 2026-06-30); "
                "read the counts from GET .../transactioncontacts/{importId}.",
                "RNF_0.2",
            )
        with self.context.lock:
            job = self._import_job(params)
            result = self._import_view(job)
            if result["status"] == "inProgress":
                raise bad_request(
                    f"Contact import {job.import_id} is not finished (status inProgress); poll "
                    "GET .../transactioncontacts/{importId} until it is complete, then ask for the summary."
                )
            return {**result, "invalidEmails": list(job.invalid_emails)}

    # --- segments and samples ----------------------------------------------------------------

    def _segment_members(self, params: dict[str, str]) -> list[str]:
        segment = self.segments(params["directoryId"]).get(params["segmentId"])
        name, value = self._segment_rules[segment["segmentId"]]
        contacts = self._contacts(params["directoryId"])
        return [c["contactId"] for c in contacts if (c.get("embeddedData") or {}).get(name) == value]

    def _list_segments(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        items = [dict(s) for s in self.segments(params["directoryId"]).values()]
        return self._page(request, f"segments:{params['directoryId']}", items, SEGMENTS_PAGE_SIZE)

    def _get_segment(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self.segments(params["directoryId"]).get(params["segmentId"]))

    def _list_segment_members(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        ids = self._segment_members(params)
        scope = f"segment:{params['segmentId']}"
        return self._member_page(request, scope, params["directoryId"], ids, SEGMENT_MEMBERS_PAGE_SIZE)

    def _get_segment_member(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        if params["contactId"] not in self._segment_members(params):
            raise not_found(f"Contact in segment {params['segmentId']}:", params["contactId"])
        return contact_element(self._contact(params["directoryId"], params["contactId"]))

    def _sample_view(self, directory_id: str, sample: Json) -> Json:
        members = self._sample_members[sample["sampleId"]]
        size = sum(self.data.find_contact(directory_id, c) is not None for c in members)
        return {**sample, "sampleSize": size}

    def _list_samples(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id = params["directoryId"]
        items = [self._sample_view(directory_id, s) for s in self.samples(directory_id).values()]
        return self._page(request, f"samples:{directory_id}", items, SAMPLES_PAGE_SIZE)

    def _get_sample(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        sample = self.samples(params["directoryId"]).get(params["sampleId"])
        return self._sample_view(params["directoryId"], sample)

    def _list_sample_members(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        sample = self.samples(params["directoryId"]).get(params["sampleId"])
        ids = self._sample_members[sample["sampleId"]]
        scope = f"sample:{sample['sampleId']}"
        return self._member_page(request, scope, params["directoryId"], ids, SAMPLES_PAGE_SIZE)

    # --- contact export ----------------------------------------------------------------------

    async def _start_export(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        directory_id = params["directoryId"]
        contacts = self._contacts(directory_id)
        body = await json_body(request) if request.can_read_body else {}
        check_fields(body, ("format", "includeEmbedded"))
        file_format = body.get("format", "csv")
        if file_format not in ("csv", "tsv"):
            raise bad_request(f"Invalid format {file_format!r}: expected 'csv' or 'tsv'.")
        embedded = body.get("includeEmbedded", False)
        if not isinstance(embedded, bool):
            raise bad_request("includeEmbedded must be true or false.")
        data = _export_file(contacts, "\t" if file_format == "tsv" else ",", embedded)
        with self.context.lock:
            fail, self._fail_next = self._fail_next > 0, max(0, self._fail_next - 1)
            job = _ExportJob(directory_id, self._new_id("CEX"), data, f"text/{file_format}; charset=utf-8", fail)
            self._exports[job.progress_id] = job
        return {"progressId": job.progress_id, "percentComplete": 0.0, "status": "inProgress"}

    def _export_status(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        self._contacts(params["directoryId"])
        job = self._exports.get(params["progressId"])
        if job is None or job.directory_id != params["directoryId"]:
            raise not_found("Export", params["progressId"])
        with self.context.lock:
            job.polls += 1
            needed = max(1, self.export_polls)
            result: Json = {
                "progressId": job.progress_id,
                "percentComplete": round(100.0 * min(job.polls, needed) / needed, 1),
            }
            if job.polls < needed:
                return {**result, "status": "inProgress"}
            if job.fail:
                error = {"errorCode": "EXP_0.1", "errorMessage": "The contact export could not be completed."}
                return {**result, "status": "failed", "error": error}
            if job.file_id is None:
                job.file_id = str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))
                self._files[job.file_id] = job
        return {**result, "status": "complete", "fileId": job.file_id}

    def _export_file(self, request: web.BaseRequest, params: dict[str, str]) -> Reply:
        self._contacts(params["directoryId"])
        job = self._files.get(params["fileId"])
        if job is None or job.directory_id != params["directoryId"]:
            raise not_found("File", params["fileId"])
        data, size = job.data, len(job.data)
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers = {"Accept-Ranges": "bytes", "ETag": etag}
        wanted = request.headers.get("Range")
        if wanted is None or request.headers.get("If-Range", etag) != etag:
            return Reply(200, body=data, content_type=job.content_type, headers=headers)
        span = _parse_range(wanted, size)
        if span == "unsatisfiable":
            extra = {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"}
            raise ApiError(416, f"Range {wanted!r} is not satisfiable: the file has {size} bytes.", "BRE_0.9", extra)
        if span is None:
            return Reply(200, body=data, content_type=job.content_type, headers=headers)
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
        return Reply(206, body=data[span[0] : span[1] + 1], content_type=job.content_type, headers=headers)

    # --- routes ------------------------------------------------------------------------------

    def routes(self) -> Iterable[RouteSpec]:
        d = "/directories/{directoryId}"
        ml = d + "/mailinglists/{mailingListId}"
        table: tuple[tuple[str, str, Handler, str], ...] = (
            ("POST", d + "/contacts", self._create_contact, "directory_contacts"),
            ("PUT", d + "/contacts/{contactId}", self._update_contact, "directory_contacts"),
            ("DELETE", d + "/contacts/{contactId}", self._delete_contact, "directory_contacts"),
            ("POST", d + "/contacts/search", self._search, "directory_contacts"),
            ("GET", d + "/mailinglists", self._list_lists, "mailing_lists"),
            ("POST", d + "/mailinglists", self._create_list, "mailing_lists"),
            ("GET", ml, self._get_list, "mailing_lists"),
            ("PUT", ml, self._update_list, "mailing_lists"),
            ("DELETE", ml, self._delete_list, "mailing_lists"),
            ("GET", ml + "/contacts", self._list_members, "mailing_list_contacts"),
            ("POST", ml + "/contacts", self._create_member, "mailing_list_contacts"),
            ("GET", ml + "/contacts/{contactId}", self._get_member, "mailing_list_contacts"),
            ("PUT", ml + "/contacts/{contactId}", self._update_member, "mailing_list_contacts"),
            ("DELETE", ml + "/contacts/{contactId}", self._delete_member, "mailing_list_contacts"),
            ("POST", ml + "/transactioncontacts", self._start_import, "mailing_list_contacts"),
            ("GET", ml + "/transactioncontacts/{importId}", self._import_progress, "mailing_list_contacts"),
            ("GET", ml + "/transactioncontacts/{importId}/summary", self._import_summary, "mailing_list_contacts"),
            ("POST", d + "/transactions", self._create_transactions, "contact_transactions"),
            ("GET", d + "/transactions/{transactionId}", self._get_transaction, "contact_transactions"),
            ("PUT", d + "/transactions/{transactionId}", self._update_transaction, "contact_transactions"),
            ("DELETE", d + "/transactions/{transactionId}", self._delete_transaction, "contact_transactions"),
            ("GET", d + "/contacts/{contactId}/transactions", self._contact_transactions, "contact_transactions"),
            ("GET", d + "/transactionbatches", self._list_batches, "contact_transactions"),
            ("POST", d + "/transactionbatches", self._create_batch, "contact_transactions"),
            ("GET", d + "/transactionbatches/{batchId}", self._get_batch, "contact_transactions"),
            ("DELETE", d + "/transactionbatches/{batchId}", self._delete_batch, "contact_transactions"),
            ("GET", d + "/transactionbatches/{batchId}/transactions", self._batch_transactions, "contact_transactions"),
            ("POST", d + "/transactionbatches/{batchId}/transactions", self._add_to_batch, "contact_transactions"),
            (
                "DELETE",
                d + "/transactionbatches/{batchId}/transactions/{transactionId}",
                self._remove_from_batch,
                "contact_transactions",
            ),
            ("GET", d + "/segments", self._list_segments, "directories"),
            ("GET", d + "/segments/{segmentId}", self._get_segment, "directories"),
            ("GET", d + "/segments/{segmentId}/contacts", self._list_segment_members, "directories"),
            ("GET", d + "/segments/{segmentId}/contacts/{contactId}", self._get_segment_member, "directories"),
            ("GET", d + "/samples", self._list_samples, "samples"),
            ("GET", d + "/samples/{sampleId}", self._get_sample, "samples"),
            ("GET", d + "/samples/{sampleId}/contacts", self._list_sample_members, "samples"),
            ("POST", d + "/export-contacts", self._start_export, "directory_contacts"),
            ("GET", d + "/export-contacts/{progressId}/status", self._export_status, "directory_contacts"),
            ("GET", d + "/export-contacts/{fileId}/file", self._export_file, "directory_contacts"),
        )
        return [RouteSpec(method, template, handler, scope) for method, template, handler, scope in table]


# --- bodies ------------------------------------------------------------------------------------


def _contact_fields(body: Json, *, creating: bool) -> Json:
    """The validated contact fields of a create or update body."""
    check_fields(body, CONTACT_FIELDS)
    _check_contact_types(body)
    email = body.get("email")
    if email and not _EMAIL.fullmatch(email):
        raise bad_request(f"Invalid email address {email!r}.")
    if creating and not _identifiable(body):
        raise bad_request(f"A contact needs at least one of {', '.join(_IDENTIFYING)}.")
    fields = {name: value for name, value in body.items() if value is not None}
    if "embeddedData" in fields:
        fields["embeddedData"] = _flat_strings("embeddedData", fields["embeddedData"], MAX_EMBEDDED_VALUE)
    return fields


def _check_contact_types(body: Json) -> None:
    for name in _TEXT_FIELDS:
        if body.get(name) is not None and not isinstance(body[name], str):
            raise bad_request(f"{name} must be a string.")
    if "unsubscribed" in body and not isinstance(body["unsubscribed"], bool):
        raise bad_request("unsubscribed must be true or false.")


def _identifiable(fields: Json) -> bool:
    return any(fields.get(name) not in (None, "") for name in _IDENTIFYING)


def _import_contact(index: int, item: Any) -> Json:
    """The structurally checked fields of ``contacts[index]`` of an import; 400 naming the index.

    Whether the contact can be imported (email, identity) is decided later: that is a
    ``failed`` count, not a 400.
    """
    if not isinstance(item, dict):
        raise bad_request(f"contacts[{index}] must be an object.")
    try:
        check_fields(item, IMPORT_CONTACT_FIELDS)
        _check_contact_types(item)
        fields = {name: value for name, value in item.items() if value is not None}
        for name in ("embeddedData", "transactionData"):
            if name in fields:
                fields[name] = _flat_strings(name, fields[name], MAX_EMBEDDED_VALUE)
    except ApiError as exc:
        raise ApiError(exc.status, f"contacts[{index}]: {exc.message}", exc.code) from None
    return fields


def _import_failure(fields: Json) -> _Failure | None:
    """Why a structurally valid import contact cannot be imported, if it cannot."""
    email = fields.get("email")
    if email and (not _EMAIL.fullmatch(email) or email.rpartition("@")[2].casefold().rstrip(".").endswith(".invalid")):
        return "email"
    return None if _identifiable(fields) else "identity"


def _transaction_meta(value: Any) -> Json:
    if not isinstance(value, dict):
        raise bad_request("transactionMeta must be an object.")
    check_fields(value, ("batchId", "fields"))
    batch_id = value.get("batchId")
    if batch_id is not None and (not isinstance(batch_id, str) or not batch_id):
        raise bad_request("transactionMeta.batchId must be a transaction batch id (BT_...).")
    names = value.get("fields")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise bad_request("transactionMeta.fields must be a list of field names.")
    return value


def _flat_strings(what: str, value: Any, max_value: int) -> dict[str, str]:
    """A flat object of short names to scalar values, the values as strings."""
    if not isinstance(value, dict):
        raise bad_request(f"{what} must be an object.")
    out: dict[str, str] = {}
    for name, item in value.items():
        if not name or len(name) > MAX_EMBEDDED_NAME:
            raise bad_request(f"{what} field names must be 1 to {MAX_EMBEDDED_NAME} characters: {name[:40]!r}.")
        if isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, str | int | float):
            text = str(item)
        else:
            raise bad_request(f"{what}.{name} must be a string, a number or a boolean.")
        if len(text) > max_value:
            raise bad_request(f"{what}.{name} is longer than {max_value} characters.")
        out[name] = text
    return out


def _merge_contact(contact: Json, fields: Json) -> None:
    embedded = fields.get("embeddedData")
    contact.update({k: v for k, v in fields.items() if k != "embeddedData"})
    if embedded:
        contact["embeddedData"] = {**contact["embeddedData"], **embedded}
    contact["lastModified"] = _now_ms()


def _dedup_key(name: str, value: Any) -> Any:
    return value.casefold() if name == "email" and isinstance(value, str) else value


def _dedup_tuple(criteria: tuple[str, ...], record: Json) -> tuple[Any, ...] | None:
    """The deduplication key of a contact or body; ``None`` when no criterion is given."""
    if not criteria or all(record.get(name) in (None, "") for name in criteria):
        return None
    return tuple(_dedup_key(name, record.get(name)) for name in criteria)


def _check_list_fields(body: Json) -> None:
    name = body.get("name")
    if "name" in body and (not isinstance(name, str) or not 1 <= len(name) <= MAX_LIST_NAME):
        raise bad_request(f"name must be 1 to {MAX_LIST_NAME} characters.")
    if body.get("ownerId") is not None and not isinstance(body["ownerId"], str):
        raise bad_request("ownerId must be a user id (UR_...).")


def _check_transaction_date(value: Any) -> None:
    try:
        datetime.strptime(value, _TRANSACTION_DATE).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise bad_request(f"transactionDate must be 'YYYY-MM-DD HH:MM:SS', got {value!r}.") from None


def _bool_param(request: web.BaseRequest, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise bad_request(f"Invalid value for {name!r}: {raw!r} (expected true or false).")
    return raw == "true"


# --- search filters ----------------------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda actual, wanted: actual == wanted,
    "ne": lambda actual, wanted: actual != wanted,
    "contains": lambda actual, wanted: isinstance(actual, str) and wanted in actual,
    "startsWith": lambda actual, wanted: isinstance(actual, str) and actual.startswith(wanted),
}


def _compile_filter(spec: Any) -> Predicate:
    """A predicate on full contact records; 400 for a filter that is not well formed."""
    if not isinstance(spec, dict):
        raise bad_request("filter must be an object.")
    kind = spec.get("filterType")
    if kind == "filterGroup":
        check_fields(spec, ("filterType", "conjunction", "filters"))
        parts = spec.get("filters")
        if not isinstance(parts, list) or not parts:
            raise bad_request("A filterGroup needs a non-empty filters list.")
        predicates = [_compile_filter(part) for part in parts]
        conjunction = spec.get("conjunction", "and")
        if conjunction not in ("and", "or"):
            raise bad_request(f"conjunction must be 'and' or 'or', got {conjunction!r}.")
        combine = all if conjunction == "and" else any
        return lambda contact: combine(p(contact) for p in predicates)
    if kind == "embeddedData":
        check_fields(spec, ("filterType", "key", "comparison", "value"))
        key = spec.get("key")
        if not isinstance(key, str) or not key:
            raise bad_request("An embeddedData filter needs a key.")

        def field(contact: Json) -> Any:
            return (contact.get("embeddedData") or {}).get(key)

    elif kind in _FILTER_FIELDS:
        check_fields(spec, ("filterType", "comparison", "value"))

        def field(contact: Json) -> Any:
            return contact.get(kind)

    else:
        raise bad_request(f"Unknown filterType {kind!r}.")
    compare = _COMPARISONS.get(spec.get("comparison", ""))
    if compare is None:
        raise bad_request(f"comparison must be one of {', '.join(_COMPARISONS)}.")
    wanted = spec.get("value")
    if kind == "unsubscribed":
        if not isinstance(wanted, bool):
            raise bad_request("The value of an unsubscribed filter must be true or false.")
        return lambda contact: compare(field(contact), wanted)
    if not isinstance(wanted, str | int | float) or isinstance(wanted, bool):
        raise bad_request("A filter value must be a string or a number.")
    folded = str(wanted).casefold()
    return lambda contact: compare(_fold(field(contact)), folded)


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


# --- export file -------------------------------------------------------------------------------


def _export_file(contacts: list[Json], delimiter: str, embedded: bool) -> bytes:
    names = sorted({name for c in contacts for name in (c.get("embeddedData") or {})}) if embedded else []
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow([*_EXPORT_COLUMNS, *(f"embedded.{name}" for name in names)])
    for contact in contacts:
        row = [_cell(contact.get(column)) for column in _EXPORT_COLUMNS]
        row.extend(_cell((contact.get("embeddedData") or {}).get(name)) for name in names)
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = ["DirectoryRoutes"]
