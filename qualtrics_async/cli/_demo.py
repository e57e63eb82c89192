"""``qualtrics-async demo``: the main job against the bundled emulator, no credentials and no network.

It starts the emulator in this process (seeded data, the published rate limits enforced)
and uses the client exactly as against a real tenant: who am I, list the surveys, export
every survey concurrently with a progress bar each, stream one survey's records while
they download, summarise the responses of every survey, page through a directory's
contacts, bulk-import a CSV of contacts, and say where every file went.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import anyio

from qualtrics_async import QualtricsClient, build_path
from qualtrics_async.cli._console import Display, human_bytes
from qualtrics_async.cli._contacts import import_progress, write_failures
from qualtrics_async.cli._export import ExportBars
from qualtrics_async.cli._main import EXIT_OK
from qualtrics_async.exports import ExportFailure, ExportResult
from qualtrics_async.exports._records import record_decoder
from qualtrics_async.models import Contact, Directory

_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class SurveySummary:
    """What one exported file holds."""

    survey_id: str
    responses: int
    finished: int

    @property
    def completion(self) -> str:
        return f"{100 * self.finished / self.responses:.0f} %" if self.responses else "n/a"


def summarise(result: ExportResult) -> SurveySummary:
    """Count the responses of an exported CSV (zipped or not) and how many were finished."""
    decoder = record_decoder("csv")
    responses = finished = 0

    def count(records: list[dict[str, str]]) -> None:
        nonlocal responses, finished
        responses += len(records)
        finished += sum(1 for r in records if r.get("Finished", "").lower() in ("1", "true"))

    with zipfile.ZipFile(result.path) if result.compressed else open(result.path, "rb") as holder:
        stream = holder.open(holder.namelist()[0]) if isinstance(holder, zipfile.ZipFile) else holder
        with stream:
            while chunk := stream.read(_CHUNK):
                count(decoder.feed(chunk))
    count(decoder.finish())
    return SurveySummary(result.survey_id, responses, finished)


def write_contacts_csv(path: Path, count: int) -> None:
    """A CRM-style CSV: email, names, a customer number (extRef) and a plan; two at unreachable domains."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "First Name", "Last Name", "Customer no", "embeddedData.plan"])
        for i in range(count):
            domain = "example.invalid" if i in (7, count // 2) else "example.org"
            plan = ("free", "team", "enterprise")[i % 3]
            writer.writerow([f"customer{i:06d}@{domain}", f"Ann{i}", f"Lee{i % 97}", f"CRM-{i:06d}", plan])


async def run(args: argparse.Namespace, display: Display) -> int:
    """Run the demo; return the exit code."""
    from qualtrics_async.testing import QualtricsEmulator

    root = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="qualtrics-async-demo-"))
    exports = root / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    async with (
        QualtricsEmulator(seed=args.seed, surveys=args.surveys, contacts=args.contacts) as emulator,
        QualtricsClient(api_token=emulator.api_token, base_url=emulator.base_url, env={}) as client,
    ):
        say = display.line
        say(f"emulator listening on {emulator.base_url} (seed {args.seed}); the published rate limits apply")
        me = await client.whoami()
        say(f"whoami: {me.user_name} ({me.user_id}), brand {me.brand_id}, datacenter {me.datacenter}")

        surveys = [s async for s in client.surveys.list()]
        active = sum(1 for s in surveys if s.is_active)
        say(f"surveys: {len(surveys)} listed ({active} active)")
        ids = [s.id for s in surveys]

        results = await _export_all(client, display, ids, exports)
        await _stream_one(client, display, ids[0] if ids else None)
        summaries = [await anyio.to_thread.run_sync(summarise, r) for r in results]
        names = {s.id: s.name for s in surveys}
        display.table(
            ("survey", "responses", "finished", "completion", "name"),
            [(s.survey_id, s.responses, s.finished, s.completion, names.get(s.survey_id, "")) for s in summaries],
            title="responses per survey (from the exported files)",
        )

        await _page_contacts(client, display)
        await _import_contacts(client, display, root, args.import_contacts)
        stats = emulator.stats
        say(
            f"done in {time.perf_counter() - started:.1f} s: {stats.requests} requests, "
            f"{stats.throttled} answered 429 by the emulator's rate limits"
        )
    say(f"files: {root}")
    say(f"  exports/  {len(results)} zipped CSV exports")
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        say(f"  {path.name}")
    return EXIT_OK


async def _export_all(client: QualtricsClient, display: Display, ids: list[str], folder: Path) -> list[ExportResult]:
    """Export every survey, 8 at a time, a progress bar each."""
    started = time.perf_counter()
    results: list[ExportResult] = []
    with display.progress() as bars:
        progress = ExportBars(bars, ids)
        async for outcome in client.responses.export_many(ids, folder, concurrency=8, progress=progress):
            if isinstance(outcome, ExportFailure):
                progress.finish(outcome.survey_id, "FAILED")
                display.line(f"  {outcome.survey_id}  FAILED: {outcome.error}")
                continue
            progress.finish(outcome.survey_id, f"{human_bytes(outcome.size)} in {outcome.elapsed:.1f} s")
            results.append(outcome)
    size = sum(r.size for r in results)
    display.line(
        f"exported {len(results)} of {len(ids)} surveys ({size:,} bytes) to {folder} "
        f"in {time.perf_counter() - started:.1f} s, 8 at a time under the export rate limits"
    )
    return results


async def _stream_one(client: QualtricsClient, display: Display, survey_id: str | None) -> None:
    """Decode one survey's records while its file downloads (no file on disk)."""
    if survey_id is None:
        return
    records = finished = 0
    async for record in client.responses.stream(survey_id, format="ndjson"):
        records += 1
        finished += bool(record.get("values", {}).get("finished"))
    rate = f"{100 * finished / records:.0f} %" if records else "n/a"
    display.line(f"streamed {records} responses of {survey_id} while downloading: completion rate {rate}")


async def _page_contacts(client: QualtricsClient, display: Display) -> None:
    """Page through the biggest directory's contacts."""
    directories = [d async for d in client.paginate("/directories", item_type=Directory)]
    pool = max(directories, key=lambda d: d.contact_count or 0)
    total = pages = with_email = 0
    async for page in client.pages(
        build_path("/directories/{directoryId}/contacts", directoryId=pool.directory_id),
        {"pageSize": 100},
        item_type=Contact,
    ):
        pages += 1
        total += len(page.elements)
        with_email += sum(1 for c in page.elements if c.email)
    display.line(f"paged through {total} contacts of {pool.directory_id} in {pages} pages ({with_email} with an email)")


async def _import_contacts(client: QualtricsClient, display: Display, root: Path, count: int) -> None:
    """Bulk-import a generated CRM export, with a progress bar, a checkpoint and a failures file."""
    if count <= 0:
        return
    source = root / "contacts.csv"
    write_contacts_csv(source, count)
    directories = [d async for d in client.paginate("/directories", item_type=Directory)]
    pool = directories[0].directory_id
    with display.progress() as bars:
        progress = import_progress(display, bars, bars.add(source.name, total=count, phase="importing", counts=""))
        report = await client.contacts.bulk_import_csv(
            pool,
            source,
            columns={"Customer no": "extRef", "First Name": "firstName", "Last Name": "lastName"},
            batch_size=2000,
            checkpoint=root / "contacts.ckpt",
            progress=progress,
        )
    rate = report.total / report.elapsed if report.elapsed > 0 else 0.0
    display.line(
        f"imported {report.total:,} contacts from {source.name} into {pool} in {report.elapsed:.1f} s "
        f"({rate:,.0f}/s): {report.added:,} added, {report.updated:,} updated, {report.failed:,} failed "
        f"(unreachable domains), {report.invalid:,} invalid"
    )
    if report.failures:
        failures = root / "contacts.csv.failures.csv"
        write_failures(report, failures)
        display.line(f"{len(report.failures)} contacts did not land; they and the reasons: {failures.name}")
