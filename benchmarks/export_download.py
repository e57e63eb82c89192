"""Export download: MB/s and peak RSS of ``job.download(dest)`` against a raw aiohttp copy of the same file.

Run from the repository root::

    .venv/bin/python -m benchmarks.export_download [--quick] [--strict]

The bundled emulator runs in its own process and serves one response export file (built
once, cached per ``fileId``), which every variant copies to a temporary folder over
127.0.0.1:

* ``client``: ``await job.download(dest)`` on a job resumed from the export's saved
  state; it streams to ``dest + ".part"`` (1 MiB writes from a worker thread), checks the
  size (for a ZIP, the central directory and every member's CRC-32), fsyncs the file,
  renames it and fsyncs the folder;
* ``raw``: ``session.get(url)`` + ``async for chunk in resp.content.iter_chunked(256 KiB)``
  + ``file.write(chunk)`` (synchronously, in the event loop), no fsync: the bytes may still
  be only in the page cache when the clock stops;
* ``raw+fsync``: the same, then ``fsync`` of the file and of its folder, the client's
  durability; the like-for-like baseline of the target;
* ``raw+fsync+crc`` (ZIP only): the same, then ``zipfile.ZipFile(dest).testzip()``, the
  check the client does on a ZIP (the raw copies above check nothing).

Each variant runs in its own process (spawned, warmed up: imports, connection, one small
GET, a worker thread), so its peak RSS (``ru_maxrss``) growth over the warmed-up baseline
is its own, and the server's CPU does not compete with it. Rounds alternate the variants
in ABBA order (``A B C, C B A, ...``); before every round the previous file is deleted and
``os.sync()`` runs (untimed), so a variant never pays for another's pending writeback. One
uncounted warm-up round per variant checks that all of them wrote identical bytes. Figures
are the median of the rounds.

Target: client MB/s >= 0.9 x raw+fsync MB/s on the uncompressed CSV export (~220 MB in the
full run). The ZIP case is a reference (no target): its client figure includes inflating
every member to check its CRC, which only ``raw+fsync+crc`` does too.
"""

from __future__ import annotations

import asyncio
import filecmp
import gc
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):  # run as a file: python benchmarks/export_download.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import anyio.to_thread

from benchmarks._common import LOOPBACK, Options, Verdicts, finish, main_entry, median, print_header, stop_child, table
from qualtrics_async import QualtricsClient, RateLimits
from qualtrics_async.exports import ExportJob
from qualtrics_async.testing import QualtricsEmulator

TARGET_RATIO = 0.9
TOKEN = "emulator-token"  # the emulator's fake credential
RAW_CHUNK = 1 << 18  # raw side's iter_chunked size (the client reads the socket in 256 KiB steps too)
MB = 1_000_000
MIB = 1 << 20
ROUND_TIME_LIMIT = 120.0  # seconds; a round that takes longer fails the run
SPAWN = multiprocessing.get_context("spawn")

Variant = Literal["raw", "raw+fsync", "raw+fsync+crc", "client"]


@dataclass(frozen=True, slots=True)
class SurveySpec:
    """A survey the emulator process creates: ``add_survey(name, responses=, answer_size=)``."""

    name: str
    responses: int
    answer_size: int


@dataclass(frozen=True, slots=True)
class Case:
    title: str
    compress: bool
    variants: tuple[Variant, ...]
    baseline: Variant  # the ratio column is client / baseline
    target: bool  # whether the TARGET applies to this case


@dataclass(frozen=True, slots=True)
class Plan:
    survey: SurveySpec
    rounds: int  # counted rounds per variant per case


CASES = (
    Case("csv, uncompressed (compress=False)", False, ("raw", "raw+fsync", "client"), "raw+fsync", True),
    Case("csv in a ZIP (compress=True)", True, ("raw", "raw+fsync", "raw+fsync+crc", "client"), "raw+fsync+crc", False),
)
# answer_size=10_000 -> about 11 KB per CSV row: 20,000 responses are ~220 MB of CSV.
FULL = Plan(SurveySpec("Benchmark: export download", 20_000, 10_000), rounds=9)
QUICK = Plan(SurveySpec("Benchmark: export download", 2_000, 10_000), rounds=3)


# --- the emulator process (also used by benchmarks.export_stream) --------------------------------


async def _serve(specs: Sequence[SurveySpec], conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)  # the parent writes (or closes its end) to stop us
    async with QualtricsEmulator(host=LOOPBACK, port=0, seed=7, rate_limits=None, export_seconds=0) as emulator:
        ids = [emulator.add_survey(s.name, responses=s.responses, answer_size=s.answer_size) for s in specs]
        conn.send((emulator.base_url, ids))
        await stop.wait()


def _emulator_process(specs: Sequence[SurveySpec], conn: Connection) -> None:
    asyncio.run(_serve(specs, conn))


@contextmanager
def emulator_in_process(specs: Sequence[SurveySpec]) -> Iterator[tuple[str, list[str]]]:
    """Run a ``QualtricsEmulator`` (no server limits) in a child process; yield (base_url, survey ids)."""
    parent_end, child_end = SPAWN.Pipe()
    process = SPAWN.Process(target=_emulator_process, args=(specs, child_end), name="bench-emulator", daemon=True)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(60):
            raise RuntimeError("the emulator process did not start within 60 s")
        base_url, ids = parent_end.recv()
        yield str(base_url), [str(i) for i in ids]
    finally:
        stop_child(parent_end, process)


async def export_states(base_url: str, survey_id: str, jobs: Sequence[tuple[str, bool]]) -> list[bytes]:
    """Start and wait for one export per (format, compress); return each job's saved state."""
    states = []
    async with QualtricsClient(TOKEN, base_url=base_url, env={}, rate_limits=RateLimits.unlimited()) as client:
        for fmt, compress in jobs:
            job = await client.responses.start_export(survey_id, format=fmt, compress=compress)  # type: ignore[arg-type]
            await job.wait(timeout=300)
            states.append(job.state.to_json())
    return states


def file_url(base_url: str, survey_id: str, file_id: str) -> str:
    return f"{base_url}/API/v3/surveys/{survey_id}/export-responses/{file_id}/file"


def temp_location(folder: Path) -> str:
    """``folder`` and the filesystem it is on (from /proc/self/mounts where available)."""
    real = os.path.realpath(folder)
    best = ("", "unknown", "unknown")
    with suppress(OSError):
        for line in Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            mount = parts[1].replace("\\040", " ")
            inside = real == mount or real.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best[0]):
                best = (mount, parts[2], parts[0])
    return f"{folder} (filesystem {best[1]} on {best[2]}, mounted at {best[0] or '?'})"


def peak_rss_kb() -> int:
    """This process's peak resident set size so far, in KiB (Linux reports ru_maxrss in KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


async def readable(conn: Connection) -> None:
    """Wait without blocking the event loop until ``conn`` has a message."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())


# --- the measured processes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    size: int
    elapsed: float
    cpu: float  # process CPU time (all threads)

    @property
    def rate(self) -> float:
        return self.size / self.elapsed / MB


async def raw_copy(
    http: aiohttp.ClientSession, url: str, dest: Path, *, durable: bool = False, check_zip: bool = False
) -> int:
    """The baseline: GET ``url`` into ``dest`` with plain aiohttp; return the bytes copied.

    ``durable`` fsyncs the file and its folder at the end; ``check_zip`` then runs
    ``zipfile.testzip()`` on it.
    """
    size = 0
    async with http.get(url, headers={"X-API-TOKEN": TOKEN}) as resp:
        if resp.status != 200:
            raise RuntimeError(f"raw GET of the export file answered HTTP {resp.status}")
        with open(dest, "wb") as file:  # noqa: ASYNC230 - the baseline writes in the event loop
            async for chunk in resp.content.iter_chunked(RAW_CHUNK):
                file.write(chunk)
                size += len(chunk)
            if durable:
                file.flush()
                os.fsync(file.fileno())
    if durable:
        folder = os.open(dest.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    if check_zip:
        with zipfile.ZipFile(dest) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise RuntimeError(f"member {bad!r} fails its CRC check")
    return size


async def serve_rounds(conn: Connection, do_round: Callable[[Path], Awaitable[object]]) -> None:
    """Report the warmed-up RSS baseline, then run ``do_round(dest)`` whenever the parent asks."""
    gc.collect()
    baseline_kb = peak_rss_kb()
    conn.send(("ready", baseline_kb))
    while True:
        await readable(conn)
        command, dest = conn.recv()
        if command == "stop":
            conn.send(("rss", baseline_kb, peak_rss_kb()))
            return
        gc.collect()
        async with asyncio.timeout(ROUND_TIME_LIMIT):
            result = await do_round(Path(dest))
        conn.send(("round", result))


def run_in_child(main: Callable[[], Coroutine[Any, Any, None]], conn: Connection) -> None:
    """The body of a measured process: run ``main()``, or send the parent its traceback."""
    try:
        asyncio.run(main())
    except BaseException:
        with suppress(OSError):
            conn.send(("error", traceback.format_exc()))
        raise


@asynccontextmanager
async def variant_sides(
    base_url: str, state: bytes
) -> AsyncIterator[tuple[aiohttp.ClientSession, QualtricsClient, ExportJob, str]]:
    """Both sides of a measured process: a raw aiohttp session and a client, the export job
    resumed from its saved state, and the URL of its file."""
    async with (
        aiohttp.ClientSession() as http,
        QualtricsClient(TOKEN, base_url=base_url, env={}, rate_limits=RateLimits.unlimited()) as client,
    ):
        job = client.responses.resume_export(state)
        if job.file_id is None:
            raise RuntimeError("the export has no file id")
        yield http, client, job, file_url(base_url, job.survey_id, job.file_id)


async def _variant_main(variant: Variant, base_url: str, state: bytes, conn: Connection) -> None:
    async with variant_sides(base_url, state) as (http, client, job, url):
        # Warm-up (before the RSS baseline): a connection, a small GET, a worker thread.
        if variant == "client":
            await client.whoami()
        else:
            async with http.get(f"{base_url}/API/v3/whoami", headers={"X-API-TOKEN": TOKEN}) as resp:
                await resp.read()
        await anyio.to_thread.run_sync(gc.collect)

        async def do_round(dest: Path) -> Round:
            cpu0, t0 = time.process_time(), time.perf_counter()
            if variant == "client":
                size = (await job.download(dest)).size
            else:
                size = await raw_copy(http, url, dest, durable=variant != "raw", check_zip=variant == "raw+fsync+crc")
            return Round(size, time.perf_counter() - t0, time.process_time() - cpu0)

        await serve_rounds(conn, do_round)


def _variant_process(variant: Variant, base_url: str, state: bytes, conn: Connection) -> None:
    run_in_child(lambda: _variant_main(variant, base_url, state, conn), conn)


class Worker:
    """One measured variant in its own spawned process, driven round by round over a pipe.

    ``target(*args, conn)`` runs in the child and must end in :func:`serve_rounds`.
    """

    def __init__(self, name: str, target: Callable[..., None], *args: object) -> None:
        self.name = name
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=target, args=(*args, child), name=f"bench-{name}", daemon=True)
        self._process.start()
        child.close()
        self.baseline_kb = int(self._expect("ready")[1])

    def _expect(self, kind: str) -> tuple[Any, ...]:
        if not self._conn.poll(ROUND_TIME_LIMIT + 60):
            raise RuntimeError(f"the {self.name} process did not answer")
        message = self._conn.recv()
        if message[0] == "error":
            raise RuntimeError(f"the {self.name} process failed:\n{message[1]}")
        if message[0] != kind:
            raise RuntimeError(f"unexpected message from the {self.name} process: {message!r}")
        return tuple(message)

    def run_round(self, dest: Path) -> Any:
        self._conn.send(("round", str(dest)))
        return self._expect("round")[1]

    def stop(self) -> int:
        """End the process; return its peak RSS growth over the warmed-up baseline, in bytes."""
        self._conn.send(("stop", ""))
        _kind, baseline, peak = self._expect("rss")
        self.close()
        return (int(peak) - int(baseline)) * 1024

    def close(self) -> None:
        self._conn.close()
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --- the orchestration (this process only waits) ------------------------------------------------


@dataclass(slots=True)
class Interleaved:
    """What :func:`run_interleaved` measured, by worker name."""

    warmup: dict[str, Any]  # the uncounted first round's result, with the file it wrote still in place
    rounds: dict[str, list[Any]]
    rss: dict[str, int]  # peak RSS growth over the warmed-up baseline, bytes
    inflated: int | None = None  # bytes of the ZIP's members, for a ZIP


def clean(path: Path) -> None:
    """Delete ``path`` and write back whatever earlier rounds left dirty, before a clock starts."""
    path.unlink(missing_ok=True)
    os.sync()


def run_interleaved(
    workers: Sequence[Worker], dests: dict[str, Path], rounds: int, check: Callable[[Interleaved], None]
) -> Interleaved:
    """One uncounted warm-up round per worker (then ``check``), then ``rounds`` ABBA-ordered rounds each.

    Before every round the worker's destination is deleted and ``os.sync()`` runs (untimed);
    after it the file is deleted, so no round pays for another's writeback.
    """
    measured = Interleaved({}, {w.name: [] for w in workers}, {})
    for worker in workers:
        clean(dests[worker.name])
        measured.warmup[worker.name] = worker.run_round(dests[worker.name])
    check(measured)
    for dest in dests.values():
        dest.unlink(missing_ok=True)
    for index in range(rounds):
        order = workers if index % 2 == 0 else workers[::-1]  # ABBA: A B C, C B A, ...
        for worker in order:
            dest = dests[worker.name]
            clean(dest)
            measured.rounds[worker.name].append(worker.run_round(dest))
            dest.unlink(missing_ok=True)
    for worker in workers:
        measured.rss[worker.name] = worker.stop()
    return measured


def measure_case(case: Case, base_url: str, state: bytes, folder: Path, rounds: int) -> Interleaved:
    workers: list[Worker] = []
    try:
        for variant in case.variants:
            workers.append(Worker(variant, _variant_process, variant, base_url, state))
        dests = {w.name: folder / f"{w.name.replace('+', '-')}.out" for w in workers}

        inflated: list[int] = []

        def same_bytes(measured: Interleaved) -> None:
            first, *others = case.variants
            for other in others:
                if not filecmp.cmp(dests[first], dests[other], shallow=False):
                    raise RuntimeError(f"{other} wrote other bytes than {first}")
            if case.compress:
                with zipfile.ZipFile(dests[first]) as archive:
                    inflated.extend(info.file_size for info in archive.infolist())

        measured = run_interleaved(workers, dests, rounds, same_bytes)
        measured.inflated = sum(inflated) if inflated else None
        return measured
    finally:
        for worker in workers:
            worker.close()


def report(case: Case, measured: Interleaved) -> float:
    """Print one case's tables; return client / baseline (median MB/s)."""
    variants = list(measured.rounds)
    size = measured.rounds["client"][0].size
    print()
    inflates = "" if measured.inflated is None else f" (its member inflates to {measured.inflated / MB:,.1f} MB)"
    print(
        f"case: {case.title}: {size / MB:,.1f} MB file{inflates}, {len(measured.rounds['client'])} rounds per variant; "
        "MB/s of the file as downloaded"
    )
    rows = []
    for index in range(len(measured.rounds["client"])):
        row: list[object] = [f"round {index + 1}"]
        row += [f"{measured.rounds[v][index].rate:,.0f}" for v in variants]
        base = measured.rounds[case.baseline][index].rate
        row.append(f"{measured.rounds['client'][index].rate / base:.2f}")
        rows.append(row)
    table(("MB/s", *variants, f"client / {case.baseline}"), rows)
    print()
    base_rate = median([r.rate for r in measured.rounds[case.baseline]])
    summary = []
    for variant in variants:
        rounds = measured.rounds[variant]
        rate = median([r.rate for r in rounds])
        summary.append(
            (
                variant,
                f"{rate:,.0f}",
                f"{median([r.elapsed for r in rounds]):.3f}",
                f"{median([r.cpu / (r.size / 1e9) for r in rounds]):.2f}",
                f"{measured.rss[variant] / MIB:.1f}",
                f"{rate / base_rate:.2f}x",
            )
        )
    table(
        (
            "median of rounds",
            "MB/s",
            "s per copy",
            "CPU s per GB",
            "peak RSS growth MiB",
            f"vs {case.baseline}",
        ),
        summary,
    )
    return median([r.rate for r in measured.rounds["client"]]) / base_rate


def run(options: Options) -> int:
    plan = QUICK if options.quick else FULL
    folder = Path(tempfile.mkdtemp(prefix="qualtrics-bench-download-"))
    try:
        print_header(
            "export_download: job.download(dest) vs a raw aiohttp copy of the same export file",
            options,
            notes=(
                f"survey: {plan.survey.responses:,} responses, answer_size={plan.survey.answer_size:,} "
                "(one long free-text answer per row)",
                f"{plan.rounds} counted rounds per variant, ABBA-interleaved (A B C, C B A, ...), after one "
                "uncounted warm-up round per variant that also checks all variants wrote identical bytes",
                f"raw: session.get(url) + resp.content.iter_chunked({RAW_CHUNK // 1024} KiB) + file.write(chunk) "
                "in the event loop; raw+fsync adds fsync(file) and fsync(folder) (the client's durability); "
                "raw+fsync+crc adds zipfile.ZipFile(dest).testzip() (the client's ZIP check)",
                "client: QualtricsClient(rate_limits=RateLimits.unlimited()); job resumed from the saved state; "
                "await job.download(dest): .part file, size check (+ every CRC for a ZIP), fsync, rename, "
                "fsync(folder)",
                "each variant runs in its own spawned process (so peak RSS is its own: ru_maxrss growth over a "
                "warmed-up baseline); the emulator runs in another; this process only orchestrates",
                "before each round the previous file is deleted and os.sync() runs (untimed)",
                f"MB = 10^6 bytes, MiB = 2^20 bytes; files written to {temp_location(folder)}",
                f"all traffic on {LOOPBACK}",
            ),
        )
        verdicts = Verdicts()
        with emulator_in_process([plan.survey]) as (base_url, (survey_id,)):
            started = time.perf_counter()
            states = asyncio.run(export_states(base_url, survey_id, [("csv", c.compress) for c in CASES]))
            print(f"the emulator built the export files in {time.perf_counter() - started:.1f} s (not measured)")
            for case, state in zip(CASES, states, strict=True):
                measured = measure_case(case, base_url, state, folder, plan.rounds)
                ratio = report(case, measured)
                if case.target:
                    print(
                        "durability: client and raw+fsync both fsync the file and its folder before the clock stops; "
                        "raw does not (its bytes may still be in the page cache)"
                    )
                    verdicts.check(
                        f"{case.title}: client MB/s / raw+fsync MB/s = {ratio:.2f} (target >= {TARGET_RATIO})",
                        ratio >= TARGET_RATIO,
                    )
                else:
                    print(
                        "the client checks every member's CRC-32 (inflating the whole archive after the download); "
                        "raw and raw+fsync do not check anything, raw+fsync+crc runs zipfile.testzip()"
                    )
                    print(f"(reference only, no target: client / {case.baseline} = {ratio:.2f})")
        return finish(verdicts, options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main_entry(run, "MB/s and peak RSS of ExportJob.download against a raw aiohttp copy of the same file.")
