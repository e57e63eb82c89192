"""Bulk contact import: contacts/s of ``client.contacts.bulk_import`` against the ceiling the rate limits allow.

Run from the repository root::

    .venv/bin/python -m benchmarks.bulk_import [--quick] [--strict]

The bundled emulator runs in a child process (seeded with a handful of contacts) and
enforces the published rate-limit table, ``RateLimits()``, as a strict sliding window of
60 s: the import endpoint
``POST /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts`` admits
100 requests a minute, each of at most 10,000 contacts. The client runs in this process
alone, so the RSS measured here is the client's:

* ``bulk_import``: ``await client.contacts.bulk_import(directory_id, contacts,
  mailing_list_id=..., batch_size=10_000, concurrency=..., progress=...)`` where ``contacts``
  is a generator of dicts (``firstName``, ``lastName``, ``email``, ``extRef`` and four
  ``embeddedData`` fields; about 190 bytes of JSON each) made on the fly, never a list. The
  client paces its requests with its own limiter under the same table (no burst, 95 % of
  each limit: the defaults). The full run imports 1,000,000 contacts with concurrency 4
  (the targets apply to it), then 1,000,000 more with the default concurrency 8
  (reference). Increasing concurrency uses more memory, so the second run's ``ru_maxrss``
  is its own peak, not the first run's.
* baseline, the peers' approach (PEERS.md: one request per contact,
  ``POST /directories/{directoryId}/contacts``, 500 a minute): ``client.contacts.create``
  for a few contacts, all at once under the same limiter (the best that approach can do).

Measured per run: contacts/s of the whole ``bulk_import`` call (from the call to the
returned report, so the first batch's reading and the last job's polling count) against
the ceiling, ``(the import endpoint's limit per minute / 60) x batch_size``; the
emulator's 429 count and the most import requests it admitted in any 60 s window; the
report's totals, checked against the number of contacts the emulator gained; this
process's RSS before the import, after every batch (``VmRSS`` from ``/proc/self/status``
in the progress callback; printed at every 10 % of the input) and its peak
(``ru_maxrss``); what one batch holds (``tracemalloc``) and how many objects this process's
cyclic garbage collector freed during the import (a batch freed only by it stays in memory
until a full collection), to say where the memory goes. The emulator runs with its own
cyclic collector off: holding millions of contacts, its full collections stalled it for up
to 2 s, which delayed requests the client had sent on time.

Targets (the concurrency-4 run): contacts/s >= 0.9 x the ceiling; zero 429s; peak RSS under
100 MB and flat (no sample after 10 % of the input more than 10 MB above the one at 10 %);
every contact counted added in the report and by the emulator.

``--quick`` (~10 s): 20,000 contacts in batches of 2,000 (10 requests), concurrency 4 only,
16 baseline contacts. Its ratio is for smoke tests: over 6 s, the ~1 s tail (the last job's
polling) alone costs about 0.07 of the ceiling.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import multiprocessing
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # run as a file: python benchmarks/bulk_import.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks._common import LOOPBACK, Options, Verdicts, finish, main_entry, print_header, stop_child, table
from qualtrics_async import QualtricsClient, RateLimits
from qualtrics_async.contact_import import BulkImportProgress, ImportReport
from qualtrics_async.contact_import._validate import to_wire

if TYPE_CHECKING:  # imported in the emulator's process only: it would add ~8 MB to the client's RSS here
    from qualtrics_async.testing import QualtricsEmulator

TOKEN = "benchmark-token"  # a fake credential for a loopback server
IMPORT_KEY = "POST /directories/{directoryId}/mailinglists/{mailingListId}/transactioncontacts"
CREATE_KEY = "POST /directories/{directoryId}/contacts"
IMPORT_SUFFIX = "/transactioncontacts"
UTILIZATION = 0.95  # the client's default
TARGET_RATIO = 0.9
TARGET_RSS_MB = 100.0
FLAT_MB = 10.0
SEED_CONTACTS = 10
MB = 1_000_000
SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class Plan:
    contacts: int  # per run
    batch_size: int
    concurrencies: tuple[int, ...]  # one run each, in increasing order; the first carries the targets
    baseline_contacts: int  # contacts created one request at a time (the peers' approach)
    window: float = 60.0  # seconds the per-minute figures apply to (60: Qualtrics' own)

    def limits(self) -> RateLimits:
        return RateLimits(window_seconds=self.window)

    @property
    def batches(self) -> int:
        return -(-self.contacts // self.batch_size)


# Concurrency 4 for the targets, not the default 8: the pacer grants one import every 0.63 s,
# and a batch keeps its worker ~1.4 s here (the POST while the emulator takes 10,000 contacts,
# ~0.3 s, then two status polls ~0.5 s apart), so 3 workers already keep the pacer busy
# (measured: 0.937 of the ceiling, one grant late) and 4 leave a margin. Every further worker
# only holds one more batch waiting for the limiter (~9 MB at 10,000 contacts).
FULL = Plan(contacts=1_000_000, batch_size=10_000, concurrencies=(4, 8), baseline_contacts=100)
QUICK = Plan(contacts=20_000, batch_size=2_000, concurrencies=(4,), baseline_contacts=16)


# --- the contacts ------------------------------------------------------------------------------

_PLANS = ("free", "basic", "pro", "enterprise")
_REGIONS = ("EMEA", "APAC", "AMER")


def generate_contacts(count: int, *, prefix: str = "c") -> Iterator[dict[str, Any]]:
    """``count`` distinct contacts (by email and extRef), made one at a time (~190 bytes each as JSON)."""
    for i in range(count):
        yield {
            "firstName": f"First{i}",
            "lastName": f"Last{i % 1000}",
            "email": f"{prefix}{i:07d}@bench.example.com",
            "extRef": f"{prefix.upper()}-{i:07d}",
            "embeddedData": {
                "plan": _PLANS[i % 4],
                "region": _REGIONS[i % 3],
                "score": str(i % 100),
                "signup": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
            },
        }


# --- memory ------------------------------------------------------------------------------------


def rss_mb() -> float:
    """This process's resident set size now (``VmRSS``), in MB; NaN where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (``ru_maxrss``), in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak if sys.platform == "darwin" else peak * 1024) / MB


def batch_footprint(batch_size: int) -> tuple[int, int]:
    """Bytes one batch holds in the client: its contacts in wire form (dicts, traced) and their JSON."""
    tracemalloc.start()
    try:
        wire = [to_wire(contact) for contact in generate_contacts(batch_size)]
        objects = tracemalloc.get_traced_memory()[0]
        encoded = len(msgspec.json.encode(wire))
    finally:
        tracemalloc.stop()
    return objects, encoded


@dataclass(slots=True)
class RssTrace:
    """``(contacts settled, VmRSS MB, seconds)`` after every batch, from the progress callback."""

    started: float
    samples: list[tuple[int, float, float]] = field(default_factory=list)

    def __call__(self, progress: BulkImportProgress) -> None:
        self.samples.append((progress.done, rss_mb(), time.monotonic() - self.started))

    def at(self, fraction: float, total: int) -> tuple[int, float, float]:
        """The first sample at or past ``fraction`` of ``total`` (the last one if none is)."""
        wanted = fraction * total
        return next((s for s in self.samples if s[0] >= wanted), self.samples[-1])

    def growth_after(self, fraction: float, total: int) -> float:
        """How far the RSS rose above its value at ``fraction`` of the input, later on (MB)."""
        done, rss, _at = self.at(fraction, total)
        return max(s[1] for s in self.samples if s[0] >= done) - rss


@dataclass(slots=True)
class GcWatch:
    """What this process's cyclic garbage collector did while installed in ``gc.callbacks``."""

    collected: int = 0  # unreachable objects it found (and freed)
    full: int = 0  # generation-2 collections

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            self.collected += int(info.get("collected", 0))
            self.full += info.get("generation") == 2


# --- the emulator process ----------------------------------------------------------------------


def _snapshot(emulator: QualtricsEmulator, directory_id: str) -> dict[str, Any]:
    """What the parent needs from the emulator: 429s, import POST arrivals, status polls, contacts, RSS."""
    stats = emulator.stats
    log = stats.log.copy()
    return {
        "throttled": stats.throttled,
        "import_posts": sorted(t for t, m, p, s in log if m == "POST" and p.endswith(IMPORT_SUFFIX) and s == 200),
        "import_polls": sum(1 for _t, m, p, s in log if m == "GET" and IMPORT_SUFFIX + "/" in p and s == 200),
        "contacts": len(emulator.data.contacts[directory_id]),
        "rss": rss_mb(),
    }


async def _serve(window: float, conn: Connection) -> None:
    from qualtrics_async.testing import QualtricsEmulator

    # The emulator ends up holding millions of objects (every contact imported), and each full
    # collection of its cyclic garbage collector stalled it for up to 2 s (measured), delaying
    # requests the client had sent on time. That is the stand-in server's cost, not the
    # client's: it runs with the collector off (its garbage is freed by reference counting).
    gc.disable()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    async with QualtricsEmulator(
        host=LOOPBACK,
        port=0,
        seed=11,
        api_token=TOKEN,
        rate_limits=RateLimits(window_seconds=window),
        limit_mode="sliding",
        contacts=SEED_CONTACTS,
    ) as emulator:
        directory_id = emulator.data.default_directory_id

        def on_message() -> None:
            try:
                command = conn.recv()
            except (EOFError, OSError):
                command = "stop"
            if command == "stats":
                conn.send(_snapshot(emulator, directory_id))
            else:
                loop.remove_reader(conn.fileno())
                stop.set()

        conn.send((emulator.base_url, directory_id))
        loop.add_reader(conn.fileno(), on_message)
        await stop.wait()


def _emulator_process(window: float, conn: Connection) -> None:
    asyncio.run(_serve(window, conn))


@dataclass(slots=True)
class EmulatorHandle:
    base_url: str
    directory_id: str
    _conn: Connection

    def snapshot(self) -> dict[str, Any]:
        self._conn.send("stats")
        if not self._conn.poll(60):
            raise RuntimeError("the emulator process did not answer")
        snapshot: dict[str, Any] = self._conn.recv()
        return snapshot


@contextmanager
def emulator_in_process(window: float) -> Iterator[EmulatorHandle]:
    """Run the emulator (``RateLimits()`` enforced as a sliding window) in a child process."""
    parent_end, child_end = SPAWN.Pipe()
    process = SPAWN.Process(target=_emulator_process, args=(window, child_end), name="bench-emulator", daemon=True)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(60):
            raise RuntimeError("the emulator process did not start within 60 s")
        base_url, directory_id = parent_end.recv()
        yield EmulatorHandle(str(base_url), str(directory_id), parent_end)
    finally:
        stop_child(parent_end, process)


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most of ``times`` (sorted) within ``window`` seconds of each other (what a sliding limit bounds).

    ``qualtrics_async.testing.max_in_window`` does the same, but importing it would load the
    emulator into this process, whose RSS is what is measured."""
    best = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- the measurements --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkRun:
    concurrency: int
    report: ImportReport
    wall: float  # seconds of the bulk_import call
    rss_before: float
    peak_rss: float  # ru_maxrss after the call
    trace: RssTrace
    throttled: int  # 429s the emulator answered during the call
    posts: list[float]  # arrival times of the admitted import requests, seconds from the call
    polls: int  # import status polls
    landed: int  # contacts the emulator gained
    gc_watch: GcWatch  # this process's cyclic collector during the call

    @property
    def rate(self) -> float:
        return self.report.total / self.wall

    @property
    def tail(self) -> float:
        return self.wall - self.posts[-1] if self.posts else float("nan")

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.posts)]


async def run_bulk(
    client: QualtricsClient, emulator: EmulatorHandle, list_id: str, plan: Plan, concurrency: int
) -> BulkRun:
    gc.collect()
    before = emulator.snapshot()
    rss_before = rss_mb()
    started = time.monotonic()
    trace = RssTrace(started)
    watch = GcWatch()
    gc.callbacks.append(watch)
    try:
        report = await client.contacts.bulk_import(
            emulator.directory_id,
            generate_contacts(plan.contacts, prefix=f"k{concurrency}-"),
            mailing_list_id=list_id,
            batch_size=plan.batch_size,
            concurrency=concurrency,
            progress=trace,
        )
        wall = time.monotonic() - started
    finally:
        gc.callbacks.remove(watch)
    peak = peak_rss_mb()
    after = emulator.snapshot()
    return BulkRun(
        concurrency=concurrency,
        report=report,
        wall=wall,
        rss_before=rss_before,
        peak_rss=peak,
        trace=trace,
        throttled=after["throttled"] - before["throttled"],
        posts=[t - started for t in after["import_posts"] if t >= started],
        polls=after["import_polls"] - before["import_polls"],
        landed=after["contacts"] - before["contacts"],
        gc_watch=watch,
    )


@dataclass(frozen=True, slots=True)
class BaselineRun:
    created: int
    wall: float
    throttled: int


async def run_baseline(client: QualtricsClient, emulator: EmulatorHandle, count: int) -> BaselineRun:
    """The peers' approach: one ``POST /directories/{id}/contacts`` per contact, all at once under the limiter."""
    contacts = list(generate_contacts(count, prefix="peer"))
    before = emulator.snapshot()
    started = time.monotonic()
    ids = await asyncio.gather(*(client.contacts.create(emulator.directory_id, contact) for contact in contacts))
    wall = time.monotonic() - started
    after = emulator.snapshot()
    return BaselineRun(len(set(ids)), wall, after["throttled"] - before["throttled"])


# --- the output --------------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value:.1f} MB"


def print_run(run: BulkRun, plan: Plan, per_minute: float, ceiling: float, *, reference: bool) -> None:
    report = run.report
    role = "reference: the default concurrency" if reference else "the targets apply to this run"
    print()
    print(f"=== bulk_import, concurrency {run.concurrency} ({role}) ===")
    gaps = run.gaps
    pace = plan.window / (per_minute * UTILIZATION)
    table(
        ("measure", "value"),
        [
            ("contacts (report.total)", f"{report.total:,}"),
            ("wall time of the call", f"{run.wall:.2f} s"),
            ("contacts/s", f"{run.rate:,.0f}"),
            (f"ceiling: ({per_minute:g}/min / 60) x {plan.batch_size:,}", f"{ceiling:,.0f}"),
            ("achieved / ceiling", f"{run.rate / ceiling:.3f}"),
            ("import requests admitted (emulator)", f"{len(run.posts)}"),
            ("first / last import request at", f"{run.posts[0]:.2f} s / {run.posts[-1]:.2f} s"),
            ("tail: last import request -> report", f"{run.tail:.2f} s"),
            (
                "gap between import requests: median / max",
                f"{statistics.median(gaps) if gaps else float('nan'):.3f} s / {max(gaps, default=float('nan')):.3f} s",
            ),
            (f"gaps over 1.1 x the pacer's {pace:.3f} s", f"{sum(1 for g in gaps if g > 1.1 * pace)}"),
            ("status polls per import job", f"{run.polls / max(1, len(run.posts)):.2f}"),
            (f"most import requests in any {plan.window:g} s window", f"{max_in_window(run.posts, plan.window)}"),
            ("429 answers (emulator)", f"{run.throttled}"),
            (
                "report: added / updated / failed / invalid / unknown",
                f"{report.added:,} / {report.updated:,} / {report.failed:,} / {report.invalid:,} / {report.unknown:,}",
            ),
            ("report: batches / reconciles", f"{len(report.batches)} / {report.reconciles}"),
            ("contacts the emulator gained", f"{run.landed:,}"),
        ],
    )
    if len(run.posts) > 1:
        steady = (len(run.posts) - 1) * plan.batch_size / (run.posts[-1] - run.posts[0])
        print(
            f"from the first import request to the last: {steady:,.0f} contacts/s = {steady / ceiling:.3f} of the "
            f"ceiling (the pacer aims at {UTILIZATION}); the rest of the wall time is reading the first batch "
            f"({run.posts[0]:.2f} s) and the tail ({run.tail:.2f} s: the emulator takes in the last batch, then "
            "its job is polled until complete)"
        )
    print()
    rows = [("before the import", "-", _mb(run.rss_before), "-")]
    for tenth in range(1, 11):
        done, rss, at = run.trace.at(tenth / 10, plan.contacts)
        rows.append((f"{tenth * 10} % of the input", f"{done:,}", _mb(rss), f"{at:.1f} s"))
    rows.append(("peak (ru_maxrss)", "-", _mb(run.peak_rss), "-"))
    table(("RSS of this process", "contacts settled", "VmRSS", "at"), rows)
    points = [run.trace.at(f, plan.contacts)[1] for f in (0.1, 0.5, 1.0)]
    print(
        f"RSS at 10 % / 50 % / 100 %: {points[0]:.1f} / {points[1]:.1f} / {points[2]:.1f} MB; "
        f"peak {run.peak_rss:.1f} MB, "
        f"+{run.peak_rss - run.rss_before:.1f} MB over the RSS before the import; highest sample after 10 %: "
        f"+{run.trace.growth_after(0.1, plan.contacts):.1f} MB over the one at 10 %"
    )
    watch = run.gc_watch
    share = watch.collected / max(1, run.report.total)
    print(
        f"this process's cyclic garbage collector freed {watch.collected:,} objects during the import "
        f"({share:.2f} per contact; {watch.full} full collections)"
        + (
            ": each contact's wire dict is such an object, so most batches were freed by the collector rather "
            "than by reference counting (a finished batch is in a reference cycle) and stayed in memory until "
            "a full collection came"
            if share > 0.5
            else ""
        )
    )


async def amain(options: Options) -> int:
    plan = QUICK if options.quick else FULL
    limits = plan.limits()
    per_minute = limits.per_minute(IMPORT_KEY)
    create_per_minute = limits.per_minute(CREATE_KEY)
    if per_minute is None or create_per_minute is None:
        raise RuntimeError("RateLimits() has no row for the import or the create endpoint")
    ceiling = per_minute / plan.window * plan.batch_size
    peers_ceiling = create_per_minute / plan.window
    runs_note = " then ".join(
        f"concurrency {c}{' (targets)' if i == 0 else ' (reference, the default)' if c == 8 else ''}"
        for i, c in enumerate(plan.concurrencies)
    )
    print_header(
        "bulk_import: contacts/s of client.contacts.bulk_import vs the rate-limit ceiling, and the client's RSS",
        options,
        notes=(
            f"{plan.contacts:,} contacts per run from a generator (never a list), batch_size {plan.batch_size:,} "
            f"({plan.batches} import requests); runs: {runs_note}",
            f"emulator in a child process on {LOOPBACK} ({SEED_CONTACTS} seeded contacts) enforcing RateLimits() as "
            f"a strict sliding window of {plan.window:g} s: import {per_minute:g}/min, one-contact create "
            f"{create_per_minute:g}/min, brand {limits.brand_per_minute:g}/min; the client paces under the same "
            f"table at {UTILIZATION} (no burst)",
            f"ceiling = ({per_minute:g} imports/min / 60 s) x {plan.batch_size:,} contacts = {ceiling:,.0f} "
            "contacts/s; contacts/s counts the whole bulk_import call (the list is created before the clock starts)",
            "RSS is this process's (the client's) alone: VmRSS after every batch (progress callback), ru_maxrss "
            "for the peak; runs go in increasing concurrency, so each run's ru_maxrss is its own",
            f"baseline (PEERS.md, one request per contact): client.contacts.create x {plan.baseline_contacts}, all "
            f"at once under the same limiter ({create_per_minute:g}/min)",
            "the emulator runs with its cyclic garbage collector off: holding millions of contacts, its full "
            "collections stalled it for up to 2 s, delaying requests the client had sent on time",
        ),
    )
    runs: list[BulkRun] = []
    with emulator_in_process(plan.window) as emulator:
        async with QualtricsClient(TOKEN, base_url=emulator.base_url, rate_limits=limits, env={}) as client:
            await client.whoami()  # warm up: a connection, the decoders
            for concurrency in plan.concurrencies:
                name = f"Benchmark: bulk import, concurrency {concurrency}"
                list_id = await client.mailing_lists.create(emulator.directory_id, {"name": name})
                runs.append(await run_bulk(client, emulator, list_id, plan, concurrency))
            baseline = await run_baseline(client, emulator, plan.baseline_contacts)
            emulator_rss = emulator.snapshot()["rss"]

    for index, run in enumerate(runs):
        print_run(run, plan, per_minute, ceiling, reference=index > 0)
    main_run = runs[0]
    objects, encoded = batch_footprint(plan.batch_size)
    print()
    print(
        f"where the memory goes: the batch being filled holds its {plan.batch_size:,} contacts as wire dicts "
        f"({objects / MB:.1f} MB, tracemalloc); a batch handed to a worker keeps only their JSON "
        f"({encoded / MB:.1f} MB), one per worker (most of them waiting for the limiter):"
    )
    first_rss = runs[0].rss_before
    for run in runs:
        expected = objects + run.concurrency * encoded
        print(
            f"  concurrency {run.concurrency}: {objects / MB:.1f} + {run.concurrency} x {encoded / MB:.1f} MB = "
            f"{expected / MB:.0f} MB, against a peak {run.peak_rss - first_rss:.1f} MB "
            "over the RSS before the first import"
        )
    print(
        "  the rest: each request's body (a copy of the batch's JSON) while it is sent, aiohttp's buffers, and "
        f"memory the allocator keeps after a batch is freed (the emulator process, not counted: {emulator_rss:,.0f} MB)"
    )

    print()
    print("against the peers' approach (one request per contact):")
    peers_rate = baseline.created / baseline.wall
    summary = [
        (
            f"bulk_import, concurrency {run.concurrency}",
            f"{run.report.total:,}",
            f"{run.wall:.2f}",
            f"{run.rate:,.0f}",
            f"{ceiling:,.0f}",
            f"{run.rate / ceiling:.3f}",
            _mb(run.peak_rss),
            f"{run.throttled}",
        )
        for run in runs
    ]
    summary.append(
        (
            "contacts.create, one POST each",
            f"{baseline.created:,}",
            f"{baseline.wall:.2f}",
            f"{peers_rate:,.1f}",
            f"{peers_ceiling:,.1f}",
            f"{peers_rate / peers_ceiling:.3f}",
            "-",
            f"{baseline.throttled}",
        )
    )
    table(("route", "contacts", "wall s", "contacts/s", "ceiling", "ratio", "peak RSS", "429s"), summary)
    print(f"bulk_import (concurrency {main_run.concurrency}) is {main_run.rate / peers_rate:,.0f}x faster")
    print()

    verdicts = Verdicts()
    ratio = main_run.rate / ceiling
    verdicts.check(
        f"contacts/s = {main_run.rate:,.0f} = {ratio:.3f} x the ceiling {ceiling:,.0f} (target >= {TARGET_RATIO})",
        ratio >= TARGET_RATIO,
    )
    throttled = sum(run.throttled for run in runs) + baseline.throttled
    verdicts.check(f"429 answers = {throttled} over every run (target 0)", throttled == 0)
    verdicts.check(
        f"peak RSS = {main_run.peak_rss:.1f} MB (target < {TARGET_RSS_MB:g} MB)", main_run.peak_rss < TARGET_RSS_MB
    )
    growth = main_run.trace.growth_after(0.1, plan.contacts)
    verdicts.check(
        f"RSS flat: highest sample after 10 % of the input is {growth:+.1f} MB over the one at 10 % "
        f"(target <= {FLAT_MB:g} MB)",
        growth <= FLAT_MB,
    )
    complete = all(
        run.report.total == run.report.added == run.landed == plan.contacts and run.report.reconciles for run in runs
    )
    verdicts.check(
        "report: "
        + "; ".join(
            f"concurrency {run.concurrency}: total {run.report.total:,}, added {run.report.added:,}, "
            f"reconciles {run.report.reconciles}, emulator gained {run.landed:,}"
            for run in runs
        )
        + f" (target: {plan.contacts:,} each)",
        complete,
    )
    return finish(verdicts, options)


def run(options: Options) -> int:
    return asyncio.run(amain(options))


if __name__ == "__main__":
    main_entry(run, "Contacts/s of a bulk contact import against the rate-limit ceiling, and the client's RSS.")
