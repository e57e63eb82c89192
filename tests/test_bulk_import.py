"""Bulk contact import (``client.contacts.bulk_import``) against the emulator over loopback.

Covers RELIABILITY.md C5 (400/413 split), D7 (local validation), F5 (partial failures that
reconcile), F6 (ambiguous POST not re-sent), G1 (only provably unprocessed requests retried)
and G2 (bounded concurrency, back-pressure, every contact accounted for exactly once).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from qualtrics_async import QualtricsClient, RateLimits
from qualtrics_async.contact_import import BulkImportProgress, ContactImportError, ImportReport
from qualtrics_async.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    QualtricsError,
)
from qualtrics_async.models import Contact, ImportContact, MailingListInput
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import TOKEN, make_client

IMPORTS = "/directories/*/mailinglists/*/transactioncontacts"
FAST_LIMITS = RateLimits(window_seconds=1.0)
"""The published table run 60 times faster (both sides), for tests with many batches."""


def pool(emulator: QualtricsEmulator) -> str:
    return emulator.data.default_directory_id


def people(count: int, *, start: int = 0, domain: str = "example.org") -> Iterator[dict[str, Any]]:
    """``count`` distinct contacts, generated one at a time (email and extRef unique)."""
    for number in range(start, start + count):
        yield {
            "firstName": f"Ann{number}",
            "lastName": "Lee",
            "email": f"ann{number}@{domain}",
            "extRef": f"CRM-{number:07d}",
            "embeddedData": {"tier": "gold" if number % 2 else "silver"},
        }


def imported(emulator: QualtricsEmulator) -> dict[str, int]:
    """extRef -> how many directory contacts carry it, for the contacts these tests import."""
    counts: dict[str, int] = {}
    for contact in emulator.data.contacts[pool(emulator)]:
        ext_ref = contact.get("extRef") or ""
        if ext_ref.startswith("CRM-"):
            counts[ext_ref] = counts.get(ext_ref, 0) + 1
    return counts


async def new_list(client: QualtricsClient, emulator: QualtricsEmulator) -> str:
    return await client.mailing_lists.create(pool(emulator), MailingListInput(name="Bulk import test"))


@pytest.fixture
async def fast_emulator() -> AsyncIterator[QualtricsEmulator]:
    async with QualtricsEmulator(seed=3, rate_limits=FAST_LIMITS) as emu:
        emu.directory.import_polls = 1  # small jobs are done by the first poll
        yield emu


def fast_client(emulator: QualtricsEmulator, **overrides: Any) -> QualtricsClient:
    return make_client(emulator, rate_limits=FAST_LIMITS, **overrides)


# --- G2: many contacts, lazily, each accounted for once ----------------------------------------


@pytest.mark.anyio
async def test_G2_50000_contacts_from_a_generator_land_exactly_once_without_a_429(emulator: QualtricsEmulator) -> None:
    read = 0
    most_in_flight = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal read
        for contact in people(50_000):
            read += 1
            yield contact

    def progress(snapshot: BulkImportProgress) -> None:
        nonlocal most_in_flight
        most_in_flight = max(most_in_flight, read - snapshot.done)

    before = len(emulator.data.contacts[pool(emulator)])
    async with make_client(emulator) as client:  # the published limits: 100 imports a minute
        list_id = await new_list(client, emulator)
        report = await client.contacts.bulk_import(
            pool(emulator), source(), mailing_list_id=list_id, batch_size=5000, concurrency=4, progress=progress
        )
        members = (await client.mailing_lists.get(pool(emulator), list_id)).contact_count

    assert (report.total, report.submitted, report.added, report.updated) == (50_000, 50_000, 50_000, 0)
    assert (report.failed, report.invalid, report.unknown) == (0, 0, 0)
    assert report.ok
    assert report.reconciles
    assert len(report.batches) == 10
    assert all(b.status == "done" and b.import_id for b in report.batches)
    counts = imported(emulator)
    assert counts == {f"CRM-{n:07d}": 1 for n in range(50_000)}  # every contact once, none twice
    assert len(emulator.data.contacts[pool(emulator)]) == before + 50_000
    assert members == 50_000
    assert sum(job.received for job in emulator.directory.import_jobs) == 50_000  # nothing sent twice
    assert emulator.stats.statuses[429] == 0  # paced: the emulator never had to refuse a batch
    # Back-pressure: never more than the batches in flight plus the one being filled were read ahead.
    assert most_in_flight <= (4 + 2) * 5000


@pytest.mark.anyio
async def test_G2_async_iterable_input_and_a_new_mailing_list_when_none_is_given(
    fast_emulator: QualtricsEmulator,
) -> None:
    async def source() -> AsyncIterator[ImportContact]:
        for contact in people(30):
            yield ImportContact(
                first_name=contact["firstName"], email=contact["email"], ext_ref=contact["extRef"], unsubscribed=False
            )

    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), source(), batch_size=10)
        created = await client.mailing_lists.get(pool(fast_emulator), report.mailing_list_id)

    assert report.added == 30
    assert report.ok
    assert report.mailing_list_id.startswith("CG_")
    assert created.name is not None
    assert "qualtrics-async" in created.name
    assert created.contact_count == 30


@pytest.mark.anyio
async def test_fetched_contacts_can_be_copied_into_another_directory(fast_emulator: QualtricsEmulator) -> None:
    source_pool = pool(fast_emulator)
    target = fast_emulator.data.empty_directory_id
    async with fast_client(fast_emulator) as client:
        contacts: list[Contact] = [c async for c in client.contacts.list(source_pool, include_embedded=True)][:25]
        report = await client.contacts.bulk_import(target, contacts)
    assert report.added == 25
    assert report.ok
    copied = {c["email"]: c for c in fast_emulator.data.contacts[target]}
    for contact in contacts:
        assert contact.email in copied
        assert copied[contact.email]["contactId"] != contact.contact_id  # a new contact, not a moved one


# --- D7: invalid contacts are reported and never sent -------------------------------------------


@pytest.mark.anyio
async def test_D7_invalid_contacts_are_reported_with_their_index_and_never_sent(
    fast_emulator: QualtricsEmulator,
) -> None:
    good = {"firstName": "Zoë 🎉", "lastName": "Ørsted-Łukasz", "email": "zoe@example.org", "extRef": "CRM-0000001"}
    contacts: list[Any] = [
        good,
        {"email": "not-an-email"},
        {"email": "ann@example.org", "embeddedData": {"n" * 201: "x"}},
        {"email": "bob@example.org", "embeddedData": {"note": "v" * 1025}},
        {"language": "EN"},  # no identity at all
        {"first_name": "Typo"},
        {"email": "carl@example.org", "unsubscribed": "yes"},
        {"email": "dana@example.org", "embeddedData": {"nested": {"a": 1}}},
        "not a contact",
        {"email": "eve@example.org", "extRef": "CRM-0000002", "embeddedData": {"n" * 200: "v" * 1024}},  # at the limits
    ]
    async with fast_client(fast_emulator) as client:
        list_id = await new_list(client, fast_emulator)
        report = await client.contacts.bulk_import(pool(fast_emulator), contacts, mailing_list_id=list_id)

    assert (report.total, report.invalid, report.added) == (10, 8, 2)
    assert report.reconciles
    reasons = {failure.index: failure.reason for failure in report.failures}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert "not an email address" in reasons[1]
    assert "201 characters" in reasons[2]
    assert "at most 200" in reasons[2]
    assert "1025 characters" in reasons[3]
    assert "at most 1024" in reasons[3]
    assert "none of email, extRef" in reasons[4]
    assert "did you mean 'firstName'" in reasons[5]
    assert "unsubscribed must be true or false" in reasons[6]
    assert "embeddedData.nested" in reasons[7]
    assert all(failure.kind == "invalid" for failure in report.failures)
    assert report.failures[0].contact == {"email": "not-an-email"}  # given back as it was
    assert [job.received for job in fast_emulator.directory.import_jobs] == [2]  # only the valid ones were sent
    stored = {c["extRef"]: c for c in fast_emulator.data.contacts[pool(fast_emulator)] if c.get("extRef")}
    assert stored["CRM-0000001"]["firstName"] == "Zoë 🎉"  # unicode round-trips intact
    assert stored["CRM-0000001"]["lastName"] == "Ørsted-Łukasz"
    assert report.failed_contacts() == []  # invalid ones need fixing, not re-sending
    with pytest.raises(ContactImportError, match=r"8 invalid of 10 contacts") as raised:
        report.raise_for_failures()
    assert raised.value.report is report


# --- F5: partial failures, counted and named ----------------------------------------------------


@pytest.mark.anyio
async def test_F5_failed_contacts_are_named_and_the_counts_reconcile(fast_emulator: QualtricsEmulator) -> None:
    contacts = list(people(40))
    for number in (3, 17, 31):
        contacts[number]["email"] = f"ann{number}@mail.invalid"  # valid in shape; Qualtrics refuses it
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), contacts, batch_size=20)

    assert (report.submitted, report.added, report.failed) == (40, 37, 3)
    assert report.submitted == report.added + report.updated + report.failed
    assert [failure.index for failure in report.failures] == [3, 17, 31]
    assert all("mail.invalid" in failure.reason and failure.kind == "failed" for failure in report.failures)
    assert [c["email"] for c in report.failed_contacts()] == [f"ann{n}@mail.invalid" for n in (3, 17, 31)]
    assert sorted(e for b in report.batches for e in b.invalid_emails) == sorted(
        c["email"] for c in report.failed_contacts()
    )
    assert all(batch.unattributed_failures == 0 for batch in report.batches)
    assert not report.ok
    with pytest.raises(ContactImportError, match="3 failed of 40"):
        report.raise_for_failures()


@pytest.mark.anyio
async def test_F5_unnamed_failures_are_counted_and_their_batches_can_be_sent_again(
    fast_emulator: QualtricsEmulator,
) -> None:
    fast_emulator.directory.import_failure_rate = 0.2
    fast_emulator.directory.summary_retired = True  # PEERS: the summary endpoint is gone since 2026-06-30
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(200), batch_size=50)
        kept = await client.contacts.bulk_import(
            pool(fast_emulator), people(200, start=1000), batch_size=50, keep_unattributed=True
        )
    with pytest.raises(ConfigurationError, match="keep_unattributed=True"):
        report.failed_contacts(include_unattributed=True)  # not kept: memory stays flat by default
    report = kept

    jobs = fast_emulator.directory.import_jobs[4:]
    assert report.failed == sum(job.failed for job in jobs) > 0
    assert report.added == sum(job.added for job in jobs)
    assert report.reconciles
    assert report.summary_available is False
    assert report.failed_contacts() == []  # Qualtrics named none of them
    again = report.failed_contacts(include_unattributed=True)
    assert len(again) == 50 * sum(1 for batch in report.batches if batch.unattributed_failures)

    fast_emulator.directory.import_failure_rate = 0.0
    async with fast_client(fast_emulator) as client:  # re-sending merges (the directory deduplicates)
        retry = await client.contacts.bulk_import(pool(fast_emulator), again, mailing_list_id=report.mailing_list_id)
    assert retry.ok
    assert retry.added == report.failed
    assert retry.updated == len(again) - report.failed
    landed = {ext_ref: n for ext_ref, n in imported(fast_emulator).items() if ext_ref >= "CRM-0001000"}
    assert landed == {f"CRM-{n:07d}": 1 for n in range(1000, 1200)}


@pytest.mark.anyio
async def test_F5_an_import_job_that_fails_reports_every_contact_of_its_batch(fast_emulator: QualtricsEmulator) -> None:
    fast_emulator.directory.fail_imports(times=1)
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(20), batch_size=10, concurrency=1)
    first, second = report.batches
    assert first.status == "failed"
    assert first.import_id
    assert "failed" in str(first.reason)
    assert second.status == "done"
    assert (report.failed, report.added) == (10, 10)
    assert report.reconciles
    assert [c["extRef"] for c in report.failed_contacts()] == [f"CRM-{n:07d}" for n in range(10)]


# --- F6 / G1: ambiguous POSTs are not re-sent; refused ones are retried -------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("fault", [{"status": 500}, {"drop": True}], ids=["5xx-after-create", "answer-lost"])
async def test_F6_a_batch_whose_outcome_is_unknown_is_not_reposted_and_a_resend_merges(
    fast_emulator: QualtricsEmulator, fault: dict[str, Any]
) -> None:
    injected = fast_emulator.inject("POST", IMPORTS, processed=True, times=1, **fault)
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(30), batch_size=10, concurrency=1)
    assert injected.fired == 1
    assert report.unknown == 10
    assert report.added == 20
    assert report.reconciles
    assert not report.ok
    unknown = [batch for batch in report.batches if batch.status == "unknown"]
    assert len(unknown) == 1
    assert unknown[0].size == 10
    assert unknown[0].reason
    # The import did take effect, and nothing was posted twice:
    assert len(fast_emulator.directory.import_jobs) == 3
    assert imported(fast_emulator) == {f"CRM-{n:07d}": 1 for n in range(30)}

    async with fast_client(fast_emulator) as client:
        again = await client.contacts.bulk_import(
            pool(fast_emulator), report.unknown_contacts(), mailing_list_id=report.mailing_list_id
        )
    assert (again.added, again.updated) == (0, 10)  # merged by email/extRef, not duplicated
    assert imported(fast_emulator) == {f"CRM-{n:07d}": 1 for n in range(30)}


@pytest.mark.anyio
async def test_G1_a_5xx_is_not_retried_blindly_even_when_nothing_was_created(fast_emulator: QualtricsEmulator) -> None:
    fast_emulator.inject("POST", IMPORTS, status=503, times=1)  # refused before anything happened...
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(10), batch_size=10)
    # ...but a client cannot tell that from a 503 after the job was created: unknown, not re-sent.
    assert report.unknown == 10
    assert len(fast_emulator.directory.import_jobs) == 0
    assert report.batches[0].request_id  # the requestId of the 503, for Qualtrics support


@pytest.mark.anyio
async def test_G1_429s_are_retried_because_nothing_was_processed(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", IMPORTS, status=429, retry_after="0", times=2)
    async with make_client(emulator) as client:
        report = await client.contacts.bulk_import(pool(emulator), people(10), batch_size=10)
    assert report.ok
    assert report.added == 10
    assert len(emulator.directory.import_jobs) == 1


@pytest.mark.anyio
async def test_G1_a_batch_that_never_reached_qualtrics_is_reported_not_sent(fast_emulator: QualtricsEmulator) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with fast_client(fast_emulator, base_url=f"http://127.0.0.1:{port}") as client:
        report = await client.contacts.bulk_import("POOL_x", people(10), mailing_list_id="CG_x", batch_size=5)
    assert (report.failed, report.unknown, report.submitted) == (10, 0, 10)
    assert {failure.kind for failure in report.failures} == {"not_sent"}
    assert "nothing was imported" in report.failures[0].reason
    assert len(report.failed_contacts()) == 10  # safe to send again


# --- C5: a batch refused as a whole is split ----------------------------------------------------


@pytest.mark.anyio
async def test_C5_a_batch_over_the_server_maximum_is_split_until_it_fits(fast_emulator: QualtricsEmulator) -> None:
    fast_emulator.directory.import_max_contacts = 40
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(100), batch_size=100)
    assert report.ok
    assert report.added == 100
    # 100 refused -> the last contact alone (lands) + 99 refused -> 49 + 50 refused -> 24 + 25 + 25 + 25
    assert sorted(job.received for job in fast_emulator.directory.import_jobs) == [1, 24, 25, 25, 25]
    assert fast_emulator.stats.statuses[400] == 4  # nothing was created by them


@pytest.mark.anyio
async def test_C5_a_413_splits_and_a_contact_refused_alone_is_reported_with_the_reason(
    fast_emulator: QualtricsEmulator,
) -> None:
    fast_emulator.inject("POST", IMPORTS, status=413, times=1)
    fast_emulator.inject("POST", IMPORTS, status=400, error_message="Invalid language code.", times=2)
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(4), batch_size=4, concurrency=1)
    # 4 -> 413 -> [the last contact alone -> 400 rejected; the first 3 -> 400 -> [1 ok, 2 ok]]
    assert (report.added, report.failed) == (3, 1)
    assert report.reconciles
    (failure,) = report.failures
    assert failure.kind == "rejected"
    assert failure.index == 3
    assert "Invalid language code." in failure.reason
    assert failure.request_id
    assert report.failed_contacts() == [failure.contact]


# --- resume from a checkpoint -------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelled_run_resumes_from_its_checkpoint_without_resending_what_landed(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "import.ckpt"
    settled = anyio.Event()

    def progress(snapshot: BulkImportProgress) -> None:
        if snapshot.done >= 3000:
            settled.set()

    async with fast_client(fast_emulator) as client:
        list_id = await new_list(client, fast_emulator)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    await client.contacts.bulk_import(
                        pool(fast_emulator),
                        people(10_000),
                        mailing_list_id=list_id,
                        batch_size=500,
                        concurrency=4,
                        checkpoint=checkpoint,
                        progress=progress,
                    )

                group.start_soon(run)
                await settled.wait()
                scope.cancel()  # Ctrl-C in the middle of the run
        first_jobs = len(fast_emulator.directory.import_jobs)
        assert 6 <= first_jobs < 20
        assert stat.S_IMODE(os.stat(checkpoint).st_mode) == 0o600
        assert "ann" not in checkpoint.read_text()  # counts and ids only, no contact data

        report = await client.contacts.bulk_import(
            pool(fast_emulator), people(10_000), mailing_list_id=list_id, batch_size=500, checkpoint=checkpoint
        )

    jobs = fast_emulator.directory.import_jobs
    assert sum(job.received for job in jobs) <= 10_000  # no contact was sent twice across both runs
    assert report.total == 10_000
    assert report.reconciles
    resumed = [batch for batch in report.batches if batch.from_checkpoint]
    assert len(resumed) >= 6
    # Batches cut mid-send are reported unknown rather than re-sent (one may have landed before the
    # cut: unknown means exactly that); everything else landed once.
    assert report.added + report.unknown == 10_000
    assert report.added <= sum(job.added for job in jobs) <= report.added + report.unknown
    async with fast_client(fast_emulator) as client:
        await client.contacts.bulk_import(pool(fast_emulator), report.unknown_contacts(), mailing_list_id=list_id)
    assert imported(fast_emulator) == {f"CRM-{n:07d}": 1 for n in range(10_000)}


@pytest.mark.anyio
async def test_a_started_job_is_polled_again_on_resume_not_reposted(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "import.ckpt"
    fast_emulator.inject("GET", IMPORTS + "/*", status=404, times=1)  # the job cannot be followed this time
    async with fast_client(fast_emulator) as client:
        first = await client.contacts.bulk_import(pool(fast_emulator), people(10), checkpoint=checkpoint)
        assert first.unknown == 10
        assert first.batches[0].import_id
        second = await client.contacts.bulk_import(pool(fast_emulator), people(10), checkpoint=checkpoint)
    assert second.ok
    assert second.added == 10
    assert second.batches[0].import_id == first.batches[0].import_id
    assert len(fast_emulator.directory.import_jobs) == 1  # followed, not imported again
    assert second.mailing_list_id == first.mailing_list_id  # the list created by the first run


@pytest.mark.anyio
async def test_a_finished_checkpoint_replays_its_report_without_sending(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "import.ckpt"
    async with fast_client(fast_emulator) as client:
        first = await client.contacts.bulk_import(pool(fast_emulator), people(30), batch_size=10, checkpoint=checkpoint)
        posts = fast_emulator.stats.by_route.copy()
        again = await client.contacts.bulk_import(pool(fast_emulator), people(30), batch_size=10, checkpoint=checkpoint)
    assert (again.added, again.total) == (first.added, first.total) == (30, 30)
    assert all(batch.from_checkpoint for batch in again.batches)
    assert fast_emulator.stats.by_route == posts  # not one request


@pytest.mark.anyio
async def test_a_checkpoint_refuses_other_input_other_batch_sizes_and_a_second_run(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "import.ckpt"
    async with fast_client(fast_emulator) as client:
        await client.contacts.bulk_import(pool(fast_emulator), people(20), batch_size=10, checkpoint=checkpoint)
        with pytest.raises(ConfigurationError, match="input differs"):
            await client.contacts.bulk_import(
                pool(fast_emulator), people(20, domain="example.net"), batch_size=10, checkpoint=checkpoint
            )
        with pytest.raises(ConfigurationError, match="batch_size=10"):
            await client.contacts.bulk_import(pool(fast_emulator), people(20), batch_size=5, checkpoint=checkpoint)
        with pytest.raises(ConfigurationError, match="belongs to an import into"):
            await client.contacts.bulk_import(fast_emulator.data.empty_directory_id, people(20), checkpoint=checkpoint)

        release = anyio.Event()

        async def slow() -> AsyncIterator[dict[str, Any]]:
            await release.wait()
            for contact in people(1):
                yield contact

        other = tmp_path / "other.ckpt"
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: client.contacts.bulk_import(pool(fast_emulator), slow(), checkpoint=other))
            await anyio.sleep(0.3)
            with pytest.raises(ConfigurationError, match="another import is using the checkpoint"):
                await client.contacts.bulk_import(pool(fast_emulator), people(1), checkpoint=other)
            release.set()
        assert not other.with_name("other.ckpt.lock").exists()  # the run's lock goes with it


# --- CSV input ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_csv_columns_map_to_fields_and_bad_rows_name_their_line(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        "First Name,last_name,Email,External Data Reference,unsubscribed,embeddedData.Tier,Customer no,contactId\n"
        "Zoë,Ørsted,zoe@example.org,CRM-0000001,no,gold,77,CID_ignored\n"
        "Ann,Lee,broken-email,CRM-0000002,yes,silver,78,\n"
        "\n"
        'Bob,"Lee, Jr.",bob@example.org,CRM-0000003,maybe,,79,\n'
        "Carl,Ek,carl@example.org,CRM-0000004,1,bronze,80,,extra\n"
        "Dana,Ek,dana@example.org,CRM-0000005,0,,81,\n",
        encoding="utf-8",
    )
    seen: list[BulkImportProgress] = []
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import_csv(
            pool(fast_emulator), path, columns={"Customer no": "embeddedData.customer"}, progress=seen.append
        )
    assert (report.total, report.added, report.invalid) == (5, 2, 3)
    lines = {failure.line: failure.reason for failure in report.failures}
    assert sorted(line or 0 for line in lines) == [3, 5, 6]
    assert "not an email address" in lines[3]
    assert "unsubscribed must be true/false" in lines[5]
    assert "7 cells" not in lines[6]
    assert "9 cells but the header has 8" in lines[6]
    assert seen[-1].total == 5
    assert seen[-1].done == 5
    assert seen[-1].fraction == 1.0
    stored = {c["extRef"]: c for c in fast_emulator.data.contacts[pool(fast_emulator)] if c.get("extRef")}
    zoe = stored["CRM-0000001"]
    assert (zoe["firstName"], zoe["lastName"], zoe["unsubscribed"]) == ("Zoë", "Ørsted", False)
    assert zoe["embeddedData"]["Tier"] == "gold"
    assert zoe["embeddedData"]["customer"] == "77"


@pytest.mark.anyio
async def test_csv_with_an_unknown_column_is_refused_before_anything_is_sent(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "crm.tsv"
    path.write_text("email\tLoyalty points\nzoe@example.org\t10\n", encoding="utf-8")
    async with fast_client(fast_emulator) as client:
        with pytest.raises(ConfigurationError, match=r"'Loyalty points'.*embeddedData\.Loyalty points"):
            await client.contacts.bulk_import_csv(pool(fast_emulator), path, mailing_list_id="CG_x")
    assert fast_emulator.stats.requests == 0


# --- other behaviour ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transaction_meta_records_a_transaction_per_contact(fast_emulator: QualtricsEmulator) -> None:
    contacts = [{**contact, "transactionData": {"store": "Oslo"}} for contact in people(12)]
    async with fast_client(fast_emulator) as client:
        batch_id = await client.transactions.create_batch(pool(fast_emulator))
        report = await client.contacts.bulk_import(
            pool(fast_emulator), contacts, batch_size=5, transaction_meta={"batchId": batch_id}
        )
        in_batch = [t async for t in client.transactions.list_batch_transactions(pool(fast_emulator), batch_id)]
    assert report.transactions_created == 12
    assert report.ok
    assert len(in_batch) == 12
    assert {t.data["store"] for t in in_batch if t.data} == {"Oslo"}


@pytest.mark.anyio
async def test_an_unknown_directory_stops_the_import_with_its_own_error(fast_emulator: QualtricsEmulator) -> None:
    async with fast_client(fast_emulator) as client:
        with pytest.raises(NotFoundError) as raised:
            await client.contacts.bulk_import(
                pool(fast_emulator), people(30), mailing_list_id="CG_doesNotExist00", batch_size=10
            )
    assert raised.value.request_id
    assert TOKEN not in str(raised.value)
    assert TOKEN not in repr(raised.value)


@pytest.mark.anyio
async def test_bad_arguments_are_refused_before_any_request(fast_emulator: QualtricsEmulator, tmp_path: Path) -> None:
    async with fast_client(fast_emulator) as client:
        with pytest.raises(ConfigurationError, match="bulk_import_csv"):
            await client.contacts.bulk_import(pool(fast_emulator), str(tmp_path / "x.csv"))  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="not one contact"):
            await client.contacts.bulk_import(pool(fast_emulator), {"email": "a@b.co"})  # type: ignore[dict-item]
        with pytest.raises(ConfigurationError, match="batch_size"):
            await client.contacts.bulk_import(pool(fast_emulator), [], batch_size=0)
        with pytest.raises(ConfigurationError, match="concurrency"):
            await client.contacts.bulk_import(pool(fast_emulator), [], concurrency=0)
        empty = await client.contacts.bulk_import(pool(fast_emulator), [], mailing_list_id="CG_x")
    assert empty.total == 0
    assert empty.ok
    assert fast_emulator.stats.requests == 0


def test_reconciles_notices_a_contact_counted_nowhere_or_counts_that_do_not_add_up() -> None:
    report = ImportReport(directory_id="POOL_x", mailing_list_id="CG_x", total=3, invalid=1, submitted=2, added=2)
    assert report.reconciles
    assert not report.ok  # one was invalid
    report.total = 4  # a contact read but in no outcome
    assert not report.reconciles
    report.total, report.added = 3, 1  # Qualtrics counted one contact less than it was sent
    assert not report.reconciles


@pytest.mark.anyio
async def test_C5_a_400_about_the_request_itself_is_not_split_down_to_every_contact(
    fast_emulator: QualtricsEmulator,
) -> None:
    refusal = fast_emulator.inject(
        "POST", IMPORTS, status=400, error_message="transactionMeta.fields is invalid.", times=1000
    )
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(64), batch_size=64)
    # 64 -> the last contact alone -> 63 -> 31 -> 15 -> 7 -> 3 -> 1, then 2 -> 1: three single
    # contacts (one from the far end) refused with the batch's own error and nothing landed, so
    # the rest is reported without the ~120 requests of splitting down to every contact.
    assert refusal.fired == 10
    assert (report.failed, report.added, report.submitted) == (64, 0, 64)
    assert {failure.kind for failure in report.failures} == {"rejected"}
    assert "transactionMeta.fields is invalid." in report.failures[-1].reason
    assert len(report.failed_contacts()) == 64


@pytest.mark.anyio
async def test_C5_bad_rows_clustered_at_the_head_of_a_batch_cost_only_themselves(
    fast_emulator: QualtricsEmulator,
) -> None:
    bad = {f"ann{n}@example.org" for n in range(6)}  # sorted input: the bad rows come first
    fast_emulator.directory.import_refuses = lambda c: "unsupported language" if c.get("email") in bad else None
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(64), batch_size=64)
    assert (report.failed, report.added) == (6, 58)
    assert [failure.index for failure in report.failures] == list(range(6))
    assert all("unsupported language" in failure.reason for failure in report.failures)


@pytest.mark.anyio
async def test_D7_nan_from_a_data_frame_is_refused_rather_than_sent_as_null(fast_emulator: QualtricsEmulator) -> None:
    rows: list[dict[str, Any]] = [
        {"email": "a@example.org", "embeddedData": {"score": float("nan")}},
        {"email": "b@example.org"},
    ]
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), rows)
    assert (report.invalid, report.added) == (1, 1)
    assert "embeddedData.score is nan" in report.failures[0].reason


# --- stopping on an error: the partial report ---------------------------------------------------


@pytest.mark.anyio
async def test_concurrent_refusals_raise_one_error_with_a_partial_report_that_reconciles(
    fast_emulator: QualtricsEmulator,
) -> None:
    async with fast_client(fast_emulator) as client:
        list_id = await new_list(client, fast_emulator)
        fast_emulator.inject("POST", IMPORTS, status=403, error_code="AuthZ_1.1", times=1000)
        with pytest.raises(PermissionDeniedError) as raised:
            await client.contacts.bulk_import(
                pool(fast_emulator), people(100), mailing_list_id=list_id, batch_size=10, concurrency=4
            )
    report = raised.value.partial_report
    assert isinstance(report, ImportReport)
    assert report.reconciles
    assert report.added == 0
    assert report.failed + report.unknown == report.total > 0
    # Refused requests provably created nothing; only requests cut off in flight when the import
    # stopped may have landed.
    assert report.unknown <= 3 * 10
    assert any(f.kind == "not_sent" and "AuthZ_1.1" in f.reason for f in report.failures)
    assert any("partial_report" in note for note in raised.value.__notes__)


@pytest.mark.anyio
async def test_a_wrong_oauth_secret_stops_the_import_instead_of_reporting_unknowns(
    fast_emulator: QualtricsEmulator,
) -> None:
    async with fast_client(fast_emulator, client_id=fast_emulator.client_id, client_secret="not-the-secret") as client:
        with pytest.raises(AuthenticationError) as raised:
            await client.contacts.bulk_import(pool(fast_emulator), people(30), mailing_list_id="CG_x", batch_size=10)
    assert raised.value.may_have_taken_effect is False
    assert raised.value.partial_report.unknown == 0
    assert "not-the-secret" not in str(raised.value)
    assert fast_emulator.directory.import_jobs == []


@pytest.mark.anyio
async def test_G1_a_token_endpoint_outage_reports_the_batches_not_sent(fast_emulator: QualtricsEmulator) -> None:
    fast_emulator.inject("POST", "/oauth2/token", status=503, times=1000)
    async with fast_client(
        fast_emulator, client_id=fast_emulator.client_id, client_secret=fast_emulator.client_secret
    ) as client:
        report = await client.contacts.bulk_import(
            pool(fast_emulator), people(20), mailing_list_id="CG_x", batch_size=10
        )
    assert (report.failed, report.unknown) == (20, 0)
    assert {failure.kind for failure in report.failures} == {"not_sent"}


@pytest.mark.anyio
async def test_F6_a_2xx_carrying_an_error_after_the_import_took_effect_is_unknown_not_split(
    fast_emulator: QualtricsEmulator,
) -> None:
    meta = {"httpStatus": "400 - Bad Request", "requestId": "req-1", "error": {"errorCode": "X", "errorMessage": "y"}}
    fast_emulator.inject("POST", IMPORTS, processed=True, body=json.dumps({"meta": meta}).encode(), times=1)
    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(pool(fast_emulator), people(4), batch_size=4)
    assert report.unknown == 4
    assert len(fast_emulator.directory.import_jobs) == 1  # not re-posted in halves


# --- checkpoint files ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_checkpoint_torn_by_a_crash_is_repaired_before_it_is_appended_to(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "import.ckpt"
    async with fast_client(fast_emulator) as client:
        await client.contacts.bulk_import(pool(fast_emulator), people(10), batch_size=5, checkpoint=checkpoint)
        with checkpoint.open("ab") as handle:
            handle.write(b'{"key":"10-14","state":"pos')  # the crash came mid-write
        report = await client.contacts.bulk_import(pool(fast_emulator), people(15), batch_size=5, checkpoint=checkpoint)
        again = await client.contacts.bulk_import(pool(fast_emulator), people(15), batch_size=5, checkpoint=checkpoint)
    assert report.added == 15
    assert [batch.from_checkpoint for batch in report.batches] == [True, True, False]
    assert all(json.loads(line) for line in checkpoint.read_text().splitlines())  # no line glued to the torn one
    assert all(batch.from_checkpoint for batch in again.batches)
    assert sum(job.received for job in fast_emulator.directory.import_jobs) == 15


@pytest.mark.anyio
async def test_a_checkpoint_file_that_existed_is_made_private(fast_emulator: QualtricsEmulator, tmp_path: Path) -> None:
    checkpoint = tmp_path / "import.ckpt"
    checkpoint.touch(mode=0o644)
    os.chmod(checkpoint, 0o644)
    link = tmp_path / "link.ckpt"
    link.symlink_to(checkpoint)
    async with fast_client(fast_emulator) as client:
        await client.contacts.bulk_import(pool(fast_emulator), people(5), checkpoint=checkpoint)
        with pytest.raises(ConfigurationError, match="symbolic link"):
            await client.contacts.bulk_import(pool(fast_emulator), people(5), checkpoint=link)
    assert stat.S_IMODE(os.stat(checkpoint).st_mode) == 0o600


@pytest.mark.anyio
async def test_csv_in_another_encoding_is_refused_with_a_hint(fast_emulator: QualtricsEmulator, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("email,firstName\nzoe@example.org,Zoë\n".encode("cp1252"))
    async with fast_client(fast_emulator) as client:
        with pytest.raises(ConfigurationError, match=r"not valid utf-8.*encoding="):
            await client.contacts.bulk_import_csv(pool(fast_emulator), path, mailing_list_id="CG_x")
        report = await client.contacts.bulk_import_csv(pool(fast_emulator), path, encoding="cp1252")
    assert report.added == 1


CRASHING_IMPORT = """
import asyncio, sys
from qualtrics_async import QualtricsClient, RateLimits

def people(count):
    for number in range(count):
        yield {"firstName": f"Ann{number}", "lastName": "Lee", "email": f"ann{number}@example.org",
               "extRef": f"CRM-{number:07d}", "embeddedData": {"tier": "gold" if number % 2 else "silver"}}

async def main(base_url, token, pool, list_id, checkpoint):
    limits = RateLimits(window_seconds=1.0)
    async with QualtricsClient(api_token=token, base_url=base_url, rate_limits=limits, env={}) as client:
        await client.contacts.bulk_import(pool, people(10_000), mailing_list_id=list_id, batch_size=500,
                                          concurrency=4, checkpoint=checkpoint)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.anyio
async def test_a_run_killed_mid_import_resumes_without_sending_anything_twice(
    fast_emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "import.ckpt"
    async with fast_client(fast_emulator) as client:
        list_id = await new_list(client, fast_emulator)
    args = [fast_emulator.base_url, fast_emulator.api_token, pool(fast_emulator), list_id, str(checkpoint)]
    process = await anyio.open_process([sys.executable, "-c", CRASHING_IMPORT, *args])
    try:
        with anyio.fail_after(60):
            while not checkpoint.exists() or checkpoint.read_text().count('"state":"done"') < 4:  # noqa: ASYNC110 - another process writes it
                await anyio.sleep(0.05)
    finally:
        process.kill()  # SIGKILL: no cleanup, no last checkpoint line
        await process.wait()
    landed_before = len(fast_emulator.directory.import_jobs)
    assert landed_before < 20

    async with fast_client(fast_emulator) as client:
        report = await client.contacts.bulk_import(
            pool(fast_emulator), people(10_000), mailing_list_id=list_id, batch_size=500, checkpoint=checkpoint
        )
        assert report.total == 10_000
        assert report.reconciles
        assert sum(job.received for job in fast_emulator.directory.import_jobs) <= 10_000  # nothing sent twice
        assert sum(batch.from_checkpoint for batch in report.batches) >= 4
        await client.contacts.bulk_import(pool(fast_emulator), report.unknown_contacts(), mailing_list_id=list_id)
    assert imported(fast_emulator) == {f"CRM-{n:07d}": 1 for n in range(10_000)}


@pytest.mark.anyio
async def test_F6_an_import_stops_when_qualtrics_keeps_failing_instead_of_piling_up_unknowns(
    fast_emulator: QualtricsEmulator,
) -> None:
    fast_emulator.inject("POST", IMPORTS, status=500, times=1000)
    async with fast_client(fast_emulator) as client:
        with pytest.raises(QualtricsError, match="5 batches in a row ended with an unknown outcome") as raised:
            await client.contacts.bulk_import(
                pool(fast_emulator), people(1000), mailing_list_id="CG_x", batch_size=10, concurrency=1
            )
    report = raised.value.partial_report
    assert report.unknown == 50
    assert report.reconciles
    assert report.total < 1000  # the rest of the input was never read
    assert len(report.unknown_contacts()) == 50
