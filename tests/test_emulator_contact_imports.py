"""The emulator's XM Directory bulk contact import (``transactioncontacts``, qualtrics-api.md §8) and
the ``processed`` fault option, over real loopback HTTP with raw requests only (no bulk-import client).

The behaviour checked here is documented in ``qualtrics_async/testing/_directory.py`` (module
docstring, "Contact imports") and in :class:`qualtrics_async.testing._faults.Fault`.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from qualtrics_async import RateLimits
from qualtrics_async.testing import QualtricsEmulator
from qualtrics_async.testing._directory import ContactImportInfo
from tests.conftest import make_client

Json = dict[str, Any]

pytestmark = pytest.mark.usefixtures("server_stays_quiet")


async def call(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, method: str, path: str, body: Any = None
) -> tuple[int, Json]:
    """One raw API call: (HTTP status, decoded envelope). Bodies go as a stream: aiohttp warns
    about sending more than 1 MB from one ``bytes`` object."""
    headers = {"X-API-TOKEN": emu.api_token, "Content-Type": "application/json"}
    data = None if body is None else io.BytesIO(json.dumps(body).encode())
    async with http.request(method, emu.api_url + path, data=data, headers=headers) as resp:
        envelope: Json = await resp.json()
        return resp.status, envelope


def error_message(envelope: Json) -> str:
    message: str = envelope["meta"]["error"]["errorMessage"]
    return message


async def new_list(http: aiohttp.ClientSession, emu: QualtricsEmulator, directory_id: str, name: str = "Import") -> str:
    status, body = await call(http, emu, "POST", f"/directories/{directory_id}/mailinglists", {"name": name})
    assert status == 200, body
    list_id: str = body["result"]["id"]
    return list_id


def imports_path(directory_id: str, list_id: str) -> str:
    return f"/directories/{directory_id}/mailinglists/{list_id}/transactioncontacts"


async def start(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, directory_id: str, list_id: str, body: Json
) -> Json:
    status, envelope = await call(http, emu, "POST", imports_path(directory_id, list_id), body)
    assert status == 200, envelope
    result: Json = envelope["result"]
    return result


async def poll(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, directory_id: str, list_id: str, import_id: str
) -> Json:
    status, envelope = await call(http, emu, "GET", f"{imports_path(directory_id, list_id)}/{import_id}")
    assert status == 200, envelope
    result: Json = envelope["result"]
    return result


async def finish(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, directory_id: str, list_id: str, import_id: str
) -> Json:
    for _ in range(10):
        result = await poll(http, emu, directory_id, list_id, import_id)
        if result["status"] != "inProgress":
            return result
    raise AssertionError("the import never finished")


async def summary(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, directory_id: str, list_id: str, import_id: str
) -> tuple[int, Json]:
    return await call(http, emu, "GET", f"{imports_path(directory_id, list_id)}/{import_id}/summary")


def emails(emu: QualtricsEmulator, directory_id: str) -> list[str]:
    return [c["email"] for c in emu.data.contacts[directory_id]]


def counts(status: Json) -> tuple[int, int, int]:
    found = status["contacts"]["count"]
    return found["added"], found["updated"], found["failed"]


# -- the happy path, counts and failures -----------------------------------------------------


async def test_import_answers_tracks_progress_and_counts(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    contacts = [
        {"firstName": "Zoë", "lastName": "Weiß", "email": "zoe@example.com", "language": "DE"},
        {"email": "ana@example.com", "extRef": "EXT-A", "embeddedData": {"tier": "gold", "visits": 3}},
        {"phone": "+15550100", "unsubscribed": True},
        {"firstName": "Bad", "email": "bad@example.invalid"},  # RFC 2606: fails server-side
        {"firstName": "Worse", "email": "not-an-email"},
        {"language": "EN", "embeddedData": {"x": "1"}},  # nothing that identifies a contact
    ]
    started = await start(http, emulator, archive, list_id, {"contacts": contacts})
    import_id = started["id"]
    assert import_id.startswith("CTI_")
    assert len(import_id) == 19
    assert started["contacts"] == {"count": 6}
    assert started["status"] == "inProgress"
    assert started["tracking"]["url"] == emulator.api_url + imports_path(archive, list_id) + "/" + import_id
    # Applied at POST time, before any poll.
    assert sorted(e for e in emails(emulator, archive) if e) == ["ana@example.com", "zoe@example.com"]
    assert len(emulator.data.contacts[archive]) == 3

    status, early = await summary(http, emulator, archive, list_id, import_id)
    assert status == 400
    assert "not finished" in error_message(early)

    first = await poll(http, emulator, archive, list_id, import_id)
    assert first == {
        "percentComplete": 50.0,
        "status": "inProgress",
        "contacts": {"count": {"added": 0, "updated": 0, "failed": 0}},
        "transactions": {"count": {"created": 0}},
    }
    async with http.get(started["tracking"]["url"], headers={"X-API-TOKEN": emulator.api_token}) as resp:
        second = (await resp.json())["result"]
    assert second == {
        "percentComplete": 100.0,
        "status": "complete",
        "contacts": {"count": {"added": 3, "updated": 0, "failed": 3}},
        "transactions": {"count": {"created": 0}},
    }
    status, done = await summary(http, emulator, archive, list_id, import_id)
    assert status == 200
    assert done["result"] == {**second, "invalidEmails": ["bad@example.invalid", "not-an-email"]}

    by_email = {c["email"]: c for c in emulator.data.contacts[archive]}
    assert by_email["ana@example.com"]["embeddedData"] == {"tier": "gold", "visits": "3"}
    assert by_email["zoe@example.com"]["language"] == "DE"
    phone_only = by_email[None]
    assert phone_only["phone"] == "+15550100"
    assert phone_only["unsubscribed"] is True  # the directory-level field
    status, members = await call(http, emulator, "GET", f"/directories/{archive}/mailinglists/{list_id}/contacts")
    assert status == 200
    elements = members["result"]["elements"]
    assert {m["contactId"] for m in elements} == {c["contactId"] for c in emulator.data.contacts[archive]}
    assert all(m["mailingListUnsubscribed"] is False for m in elements)
    assert emulator.directory.import_jobs == [
        ContactImportInfo(
            id=import_id,
            directory_id=archive,
            mailing_list_id=list_id,
            received=6,
            added=3,
            updated=0,
            failed=3,
            status="complete",
        )
    ]


async def test_import_polls_is_a_control(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    emulator.directory.import_polls = 4
    started = await start(http, emulator, archive, list_id, {"contacts": [{"extRef": "E1"}]})
    seen = [await poll(http, emulator, archive, list_id, started["id"]) for _ in range(4)]
    assert [s["percentComplete"] for s in seen] == [25.0, 50.0, 75.0, 100.0]
    assert [s["status"] for s in seen] == ["inProgress"] * 3 + ["complete"]
    assert [counts(s) for s in seen] == [(0, 0, 0)] * 3 + [(1, 0, 0)]
    assert emulator.directory.import_jobs[0].status == "complete"


async def test_random_failures_are_seeded_and_reproducible(http: aiohttp.ClientSession) -> None:
    contacts = [{"email": f"person{n}@example.com"} for n in range(200)]
    outcomes = []
    for _ in range(2):
        async with QualtricsEmulator(seed=7, rate_limits=None) as emu:
            emu.directory.import_failure_rate = 0.25
            archive = emu.data.empty_directory_id
            list_id = await new_list(http, emu, archive)
            started = await start(http, emu, archive, list_id, {"contacts": contacts})
            final = await finish(http, emu, archive, list_id, started["id"])
            _status, done = await summary(http, emu, archive, list_id, started["id"])
            outcomes.append((counts(final), sorted(emails(emu, archive))))
            assert done["result"]["invalidEmails"] == []  # random failures are not invalid emails
    (added, updated, failed), kept = outcomes[0]
    assert outcomes[0] == outcomes[1]
    assert 20 < failed < 80
    assert (added, updated) == (200 - failed, 0)
    assert len(kept) == added


# -- deduplication ---------------------------------------------------------------------------


async def test_dedup_within_one_import_and_across_imports(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    directory_id = emulator.data.default_directory_id  # criteria: email (any case) + externalDataReference
    before = len(emulator.data.contacts[directory_id])
    seeded = emulator.data.contacts[directory_id][5]
    list_id = await new_list(http, emulator, directory_id)
    first = await start(
        http,
        emulator,
        directory_id,
        list_id,
        {
            "contacts": [
                {"email": "a@example.com", "extRef": "NEW-1", "firstName": "A"},
                {"email": "B@example.com", "extRef": "NEW-2"},
                {"email": "b@example.com", "extRef": "NEW-2", "lastName": "Lee"},  # same key: updates the one above
                {"email": "a@example.com", "extRef": "OTHER"},  # differs on one criterion: a new contact
                {"email": seeded["email"].upper(), "extRef": seeded["extRef"], "embeddedData": {"tier": "vip"}},
            ]
        },
    )
    assert counts(await finish(http, emulator, directory_id, list_id, first["id"])) == (3, 2, 0)
    assert len(emulator.data.contacts[directory_id]) == before + 3
    assert seeded["embeddedData"]["tier"] == "vip"
    assert seeded["embeddedData"]["segment"]  # merged, not replaced
    seeded_lookup = seeded["mailingListMembership"][list_id]["contactLookupId"]

    second = await start(
        http,
        emulator,
        directory_id,
        list_id,
        {
            "contacts": [
                {"email": "A@EXAMPLE.COM", "extRef": "NEW-1", "language": "FR"},
                {"email": "c@example.com", "extRef": "NEW-3"},
                {"email": seeded["email"], "extRef": seeded["extRef"]},
            ]
        },
    )
    assert counts(await finish(http, emulator, directory_id, list_id, second["id"])) == (1, 2, 0)
    assert len(emulator.data.contacts[directory_id]) == before + 4
    mine = [c for c in emulator.data.contacts[directory_id] if str(c["extRef"]).startswith("NEW-")]
    assert [(c["email"], c["extRef"], c["firstName"], c["lastName"], c["language"]) for c in mine] == [
        ("A@EXAMPLE.COM", "NEW-1", "A", None, "FR"),
        ("b@example.com", "NEW-2", None, "Lee", None),
        ("c@example.com", "NEW-3", None, None, None),
    ]
    # A re-imported member keeps its membership (same contactLookupId); the list has each contact once.
    assert seeded["mailingListMembership"][list_id]["contactLookupId"] == seeded_lookup
    status, listed = await call(http, emulator, "GET", f"/directories/{directory_id}/mailinglists/{list_id}")
    assert status == 200
    assert listed["result"]["contactCount"] == 5
    assert [(j.added, j.updated) for j in emulator.directory.import_jobs] == [(3, 2), (1, 2)]


async def test_dedup_index_follows_creates_updates_and_deletes(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    directory_id = emulator.data.default_directory_id
    contacts_path = f"/directories/{directory_id}/contacts"
    list_id = await new_list(http, emulator, directory_id)

    async def imported(contact: Json) -> tuple[int, int, int]:
        started = await start(http, emulator, directory_id, list_id, {"contacts": [contact]})
        return counts(await finish(http, emulator, directory_id, list_id, started["id"]))

    # POST /contacts and imports share the index both ways.
    status, created = await call(http, emulator, "POST", contacts_path, {"email": "x@example.com", "extRef": "X"})
    assert status == 200
    x_id = created["result"]["id"]
    assert await imported({"email": "X@example.com", "extRef": "X", "firstName": "Xavier"}) == (0, 1, 0)
    assert await imported({"email": "y@example.com", "extRef": "Y"}) == (1, 0, 0)
    status, again = await call(http, emulator, "POST", contacts_path, {"email": "Y@example.com", "extRef": "Y"})
    y_id = again["result"]["id"]
    assert emulator.data.find_contact(directory_id, y_id) is not None
    assert sum(c["extRef"] == "Y" for c in emulator.data.contacts[directory_id]) == 1

    # PUT changes the key: the old key no longer matches, the new one does.
    status, _ = await call(http, emulator, "PUT", f"{contacts_path}/{x_id}", {"email": "x2@example.com"})
    assert status == 200
    assert await imported({"email": "x2@example.com", "extRef": "X"}) == (0, 1, 0)
    assert await imported({"email": "x@example.com", "extRef": "X"}) == (1, 0, 0)

    # PUT on a mailing-list member changes the directory contact's key too.
    member_path = f"/directories/{directory_id}/mailinglists/{list_id}/contacts/{y_id}"
    status, _ = await call(http, emulator, "PUT", member_path, {"extRef": "Y2"})
    assert status == 200
    assert await imported({"email": "y@example.com", "extRef": "Y2"}) == (0, 1, 0)
    assert await imported({"email": "y@example.com", "extRef": "Y"}) == (1, 0, 0)

    # A deleted contact is not matched: the same key creates a new one.
    status, _ = await call(http, emulator, "DELETE", f"{contacts_path}/{x_id}")
    assert status == 200
    assert await imported({"email": "x2@example.com", "extRef": "X"}) == (1, 0, 0)
    assert emulator.data.find_contact(directory_id, x_id) is None


# -- whole-request 400s, 404s, 413 ------------------------------------------------------------


async def test_contacts_must_be_a_list_within_the_maximum(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    path = imports_path(archive, list_id)
    bodies: list[Json] = [{}, {"contacts": None}, {"contacts": {"email": "a@example.com"}}, {"contacts": []}]
    for body in bodies:
        status, envelope = await call(http, emulator, "POST", path, body)
        assert status == 400, body
        assert "10000" in error_message(envelope)
    status, envelope = await call(http, emulator, "POST", path, {"contacts": [{"extRef": "E"}] * 10_001})
    assert status == 400
    assert "1 to 10000" in error_message(envelope)
    assert "10001" in error_message(envelope)
    emulator.directory.import_max_contacts = 3
    status, envelope = await call(http, emulator, "POST", path, {"contacts": [{"extRef": f"E{n}"} for n in range(4)]})
    assert status == 400
    assert "1 to 3 contacts" in error_message(envelope)
    status, envelope = await call(http, emulator, "POST", path, {"contacts": [{"extRef": "E"}], "Contacts": []})
    assert status == 400
    assert "Contacts" in error_message(envelope)
    for meta in ("BT_x", {"batchId": 3}, {"fields": "visit"}, {"fields": [1]}, {"batch": "BT_x"}):
        status, envelope = await call(
            http, emulator, "POST", path, {"contacts": [{"extRef": "E"}], "transactionMeta": meta}
        )
        assert status == 400, meta
        assert "transactionMeta" in error_message(envelope) or "batch" in error_message(envelope)
    assert emulator.directory.import_jobs == []
    assert emulator.data.contacts[archive] == []


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"FirstName": "Ana"}, "FirstName"),  # names are case-sensitive
        ({"email": 3}, "email must be a string"),
        ({"unsubscribed": "yes"}, "unsubscribed must be true or false"),
        ({"extRef": "E", "embeddedData": {"nested": {"a": 1}}}, "embeddedData.nested"),
        ({"extRef": "E", "embeddedData": ["a"]}, "embeddedData must be an object"),
        ({"extRef": "E", "embeddedData": {"n" * 201: "x"}}, "1 to 200 characters"),
        ({"extRef": "E", "embeddedData": {"long": "v" * 1025}}, "longer than 1024"),
        ({"extRef": "E", "transactionData": {"deep": [1]}}, "transactionData.deep"),
        ({"extRef": "E", "transactionData": "x"}, "transactionData must be an object"),
        ("just a string", "must be an object"),
    ],
)
async def test_structurally_bad_contact_is_a_400_naming_its_index(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession, bad: Any, said: str
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    contacts = [{"email": "ok@example.com"}, {"extRef": "fine"}, bad, {"extRef": "after"}]
    status, envelope = await call(http, emulator, "POST", imports_path(archive, list_id), {"contacts": contacts})
    assert status == 400
    assert error_message(envelope).startswith("contacts[2]")
    assert said in error_message(envelope)
    assert emulator.directory.import_jobs == []
    assert emulator.data.contacts[archive] == []  # nothing applied


async def test_limits_and_overlong_values_accept_the_edge(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    edge = {"extRef": "E", "embeddedData": {"n" * 200: "v" * 1024}, "transactionData": {"t": True}}
    started = await start(http, emulator, archive, list_id, {"contacts": [edge]})
    assert counts(await finish(http, emulator, archive, list_id, started["id"])) == (1, 0, 0)
    (contact,) = emulator.data.contacts[archive]
    assert contact["embeddedData"] == {"n" * 200: "v" * 1024}
    assert "transactionData" not in contact


async def test_unknown_directory_list_or_import_is_404(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    directory_id = emulator.data.default_directory_id
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, directory_id)
    other_list = await new_list(http, emulator, directory_id, "Other")
    archive_list = await new_list(http, emulator, archive)
    body = {"contacts": [{"extRef": "E"}]}
    for path in (imports_path("POOL_unknown0000000", list_id), imports_path(directory_id, "CG_unknown000000000")):
        status, envelope = await call(http, emulator, "POST", path, body)
        assert status == 404, path
        assert envelope["meta"]["error"]["errorCode"] == "RNF_0.1"
    import_id = (await start(http, emulator, directory_id, list_id, body))["id"]
    for path in (
        f"{imports_path(directory_id, list_id)}/CTI_unknown00000000",
        f"{imports_path(directory_id, other_list)}/{import_id}",  # a job of another list
        f"{imports_path(archive, archive_list)}/{import_id}",  # of another directory
        f"{imports_path(archive, list_id)}/{import_id}",  # the list is not in that directory
        f"{imports_path('POOL_unknown0000000', list_id)}/{import_id}",
        f"{imports_path(directory_id, other_list)}/{import_id}/summary",
    ):
        status, envelope = await call(http, emulator, "GET", path)
        assert status == 404, path
    assert len(emulator.directory.import_jobs) == 1


async def test_body_larger_than_aiohttp_default_is_accepted_up_to_import_max_bytes(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    contacts = [{"extRef": f"E{n:05d}", "embeddedData": {"note": "x" * 400}} for n in range(3_000)]  # ~1.3 MB
    started = await start(http, emulator, archive, list_id, {"contacts": contacts})
    assert counts(await finish(http, emulator, archive, list_id, started["id"])) == (3_000, 0, 0)
    emulator.directory.import_max_bytes = 10_000
    status, envelope = await call(http, emulator, "POST", imports_path(archive, list_id), {"contacts": contacts[:100]})
    assert status == 413
    assert "10000 bytes" in error_message(envelope)
    assert len(emulator.directory.import_jobs) == 1


# -- test controls: fail_imports, summary_retired --------------------------------------------


async def test_fail_imports_creates_a_failed_job_and_applies_nothing(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    directory_id = emulator.data.default_directory_id
    list_id = await new_list(http, emulator, directory_id)
    before = [dict(c) for c in emulator.data.contacts[directory_id]]
    seeded = before[0]
    emulator.directory.fail_imports()
    contacts = [
        {"email": "new@example.com", "extRef": "NEW"},
        {"email": seeded["email"], "extRef": seeded["extRef"], "firstName": "Changed"},
    ]
    started = await start(http, emulator, directory_id, list_id, {"contacts": contacts})
    assert started["status"] == "inProgress"
    assert (await poll(http, emulator, directory_id, list_id, started["id"]))["status"] == "inProgress"
    failed = await poll(http, emulator, directory_id, list_id, started["id"])
    assert failed["status"] == "failed"
    assert failed["percentComplete"] == 100.0
    assert set(failed["error"]) == {"errorCode", "errorMessage"}
    assert counts(failed) == (0, 0, 2)
    assert failed["transactions"] == {"count": {"created": 0}}
    status, done = await summary(http, emulator, directory_id, list_id, started["id"])
    assert status == 200
    assert done["result"]["status"] == "failed"
    assert done["result"]["invalidEmails"] == []
    assert [dict(c) for c in emulator.data.contacts[directory_id]] == before
    _status, listed = await call(http, emulator, "GET", f"/directories/{directory_id}/mailinglists/{list_id}")
    assert listed["result"]["contactCount"] == 0
    # Only the next import failed.
    again = await start(http, emulator, directory_id, list_id, {"contacts": contacts})
    assert counts(await finish(http, emulator, directory_id, list_id, again["id"])) == (1, 1, 0)
    assert [(j.status, j.received, j.added, j.updated, j.failed) for j in emulator.directory.import_jobs] == [
        ("failed", 2, 0, 0, 2),
        ("complete", 2, 1, 1, 0),
    ]


async def test_summary_retired_answers_404_not_supported(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    started = await start(http, emulator, archive, list_id, {"contacts": [{"email": "bad@x.invalid"}]})
    await finish(http, emulator, archive, list_id, started["id"])
    emulator.directory.summary_retired = True
    status, envelope = await summary(http, emulator, archive, list_id, started["id"])
    assert status == 404
    assert "no longer supported" in error_message(envelope)
    assert counts(await poll(http, emulator, archive, list_id, started["id"])) == (0, 0, 1)  # status still works
    emulator.directory.summary_retired = False
    status, envelope = await summary(http, emulator, archive, list_id, started["id"])
    assert status == 200
    assert envelope["result"]["invalidEmails"] == ["bad@x.invalid"]


# -- transactions ----------------------------------------------------------------------------


async def test_transaction_meta_creates_transactions_in_the_batch(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    directory_id = emulator.data.default_directory_id
    list_id = await new_list(http, emulator, directory_id)
    status, batch = await call(http, emulator, "POST", f"/directories/{directory_id}/transactionbatches", {})
    assert status == 200
    batch_id = batch["result"]["id"]
    contacts = [
        {"email": "t1@example.com", "transactionData": {"store": "Zürich", "amount": 12.5}},
        {"email": "t2@example.com"},  # no transactionData: no transaction
        {"email": "t3@example.com", "transactionData": {"store": "Oslo"}},
        {"email": "t4@example.invalid", "transactionData": {"store": "Nowhere"}},  # failed: no transaction
    ]
    body = {"transactionMeta": {"batchId": batch_id, "fields": ["store", "amount"]}, "contacts": contacts}
    before = datetime.now(UTC).replace(microsecond=0)
    started = await start(http, emulator, directory_id, list_id, body)
    final = await finish(http, emulator, directory_id, list_id, started["id"])
    assert counts(final) == (3, 0, 1)
    assert final["transactions"] == {"count": {"created": 2}}
    status, listed = await call(
        http, emulator, "GET", f"/directories/{directory_id}/transactionbatches/{batch_id}/transactions"
    )
    assert status == 200
    transactions = listed["result"]["elements"]
    by_email = {c["email"]: c["contactId"] for c in emulator.data.contacts[directory_id]}
    assert [(t["contactId"], t["mailingListId"], t["data"]) for t in transactions] == [
        (by_email["t1@example.com"], list_id, {"store": "Zürich", "amount": "12.5"}),
        (by_email["t3@example.com"], list_id, {"store": "Oslo"}),
    ]
    for transaction in transactions:
        when = datetime.strptime(transaction["transactionDate"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert before <= when <= datetime.now(UTC) + timedelta(seconds=1)
        assert transaction["transactionId"].startswith("CTR_")

    # Without a batch: transactions but no batch membership; without transactionMeta: none.
    started = await start(
        http,
        emulator,
        directory_id,
        list_id,
        {"transactionMeta": {}, "contacts": [{"extRef": "T5", "transactionData": {}}]},
    )
    assert (await finish(http, emulator, directory_id, list_id, started["id"]))["transactions"]["count"]["created"] == 1
    started = await start(
        http, emulator, directory_id, list_id, {"contacts": [{"extRef": "T6", "transactionData": {"a": 1}}]}
    )
    assert (await finish(http, emulator, directory_id, list_id, started["id"]))["transactions"]["count"]["created"] == 0
    status, listed = await call(
        http, emulator, "GET", f"/directories/{directory_id}/transactionbatches/{batch_id}/transactions"
    )
    assert len(listed["result"]["elements"]) == 2


async def test_unknown_batch_is_404_and_applies_nothing(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    emulator.directory.fail_imports()  # not used up by a request that is refused
    body = {"transactionMeta": {"batchId": "BT_unknown0000000"}, "contacts": [{"extRef": "E", "transactionData": {}}]}
    status, envelope = await call(http, emulator, "POST", imports_path(archive, list_id), body)
    assert status == 404
    assert "BT_unknown0000000" in error_message(envelope)
    assert emulator.data.contacts[archive] == []
    assert emulator.directory.import_jobs == []
    started = await start(http, emulator, archive, list_id, {"contacts": [{"extRef": "E"}]})
    assert (await finish(http, emulator, archive, list_id, started["id"]))["status"] == "failed"


# -- the processed fault option --------------------------------------------------------------


async def test_processed_fault_answers_500_after_the_write_took_effect(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    lists_path = f"/directories/{archive}/mailinglists"

    async def names() -> list[str]:
        status, envelope = await call(http, emulator, "GET", lists_path)
        assert status == 200
        return [m["name"] for m in envelope["result"]["elements"]]

    emulator.inject("POST", lists_path, status=500)
    status, envelope = await call(http, emulator, "POST", lists_path, {"name": "Not processed"})
    assert status == 500
    assert await names() == []  # an ordinary fault runs no handler

    fault = emulator.inject("POST", lists_path, status=500, processed=True)
    status, envelope = await call(http, emulator, "POST", lists_path, {"name": "Processed"})
    assert status == 500
    assert envelope["meta"]["error"]["errorCode"]
    assert "result" not in envelope
    assert fault.fired == 1
    assert await names() == ["Processed"]

    emulator.inject("POST", lists_path, drop=True, processed=True, delay=0.05)
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, emulator, "POST", lists_path, {"name": "Dropped"})
    assert await names() == ["Processed", "Dropped"]


async def test_processed_drop_on_an_import_keeps_the_job(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    archive = emulator.data.empty_directory_id
    list_id = await new_list(http, emulator, archive)
    emulator.inject("POST", imports_path(archive, "*"), drop=True, processed=True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, emulator, "POST", imports_path(archive, list_id), {"contacts": [{"extRef": "LOST"}]})
    (job,) = emulator.directory.import_jobs
    assert (job.received, job.added, job.status) == (1, 1, "inProgress")
    assert [c["extRef"] for c in emulator.data.contacts[archive]] == ["LOST"]
    assert counts(await finish(http, emulator, archive, list_id, job.id)) == (1, 0, 0)  # the lost id still polls

    emulator.inject("POST", imports_path(archive, "*"), status=503, processed=True)
    status, _ = await call(http, emulator, "POST", imports_path(archive, list_id), {"contacts": [{"extRef": "LOST"}]})
    assert status == 503
    assert [(j.added, j.updated) for j in emulator.directory.import_jobs] == [(1, 0), (0, 1)]  # a replay merges


# -- scale -----------------------------------------------------------------------------------


UNLIMITED = RateLimits(brand_per_minute=None, include_defaults=False)


@pytest.fixture
async def unpaced() -> AsyncIterator[QualtricsEmulator]:
    """An emulator enforcing no rate limit (with a client given :data:`UNLIMITED`, nothing paces)."""
    async with QualtricsEmulator(seed=1, rate_limits=None) as emu:
        yield emu


async def test_fifty_thousand_contacts_in_ten_imports_are_quick(unpaced: QualtricsEmulator) -> None:
    """10 imports of 5,000 through the client's raw ``request``; every import after the first
    re-sends 500 contacts of the one before (email in upper case): they update, not duplicate.
    Rate limits are off on both sides: this measures the emulator, not 100 imports a minute."""
    emulator = unpaced
    archive = emulator.data.empty_directory_id
    batches: list[list[Json]] = []
    for number in range(10):
        fresh = [
            {"firstName": f"P{number}", "email": f"person{number}-{n}@example.com", "extRef": f"R{number}-{n}"}
            for n in range(5_000 if number == 0 else 4_500)
        ]
        repeats = [] if number == 0 else [{**c, "email": c["email"].upper()} for c in batches[-1][-500:]]
        batches.append(repeats + fresh)
    expected = {(c["email"].casefold(), c["extRef"]) for batch in batches for c in batch}
    assert len(expected) == 5_000 + 9 * 4_500
    async with make_client(emulator, rate_limits=UNLIMITED) as client:
        list_id = (await client.request("POST", f"/directories/{archive}/mailinglists", json={"name": "Big"}))["id"]
        path = imports_path(archive, list_id)
        began = time.process_time()
        ids = [(await client.request("POST", path, json={"contacts": batch}))["id"] for batch in batches]
        finals = []
        for import_id in ids:
            status: Json = {"status": "inProgress"}
            while status["status"] == "inProgress":
                status = await client.request("GET", f"{path}/{import_id}")
            finals.append(status)
        cpu = time.process_time() - began
        listed = await client.request("GET", f"/directories/{archive}/mailinglists/{list_id}")
    # CPU seconds of this process (client and emulator both), not wall time: other load on
    # the machine does not count. Matching is linear; a quadratic one would take minutes.
    assert cpu < 20.0, f"50,000 contacts took {cpu:.1f} s of CPU"
    assert [counts(s) for s in finals] == [(5_000, 0, 0)] + [(4_500, 500, 0)] * 9
    stored = emulator.data.contacts[archive]
    assert len(stored) == len(expected)
    assert {(c["email"].casefold(), c["extRef"]) for c in stored} == expected
    assert listed["contactCount"] == len(expected)
    assert [(j.received, j.added, j.updated) for j in emulator.directory.import_jobs] == [(5_000, 5_000, 0)] + [
        (5_000, 4_500, 500)
    ] * 9
