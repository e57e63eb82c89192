"""Command line: ``qualtrics-async demo`` and ``qualtrics-async emulator``.

The full CLI (exports, imports, progress bars) lives in the ``cli`` extra; this entry
point needs nothing beyond the core dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from qualtrics_async import QualtricsClient, QualtricsError, build_path
from qualtrics_async.exports import ExportFailure
from qualtrics_async.models import Contact, Directory


async def run_demo(*, seed: int = 0, contacts: int = 1000, exports: int = 12, output: str | None = None) -> int:
    """The main job against the bundled emulator: no credentials, no network.

    Starts the emulator on a loopback port, then uses the client exactly as against a
    real tenant: who am I, list the surveys, read one, export the responses of
    ``exports`` surveys concurrently to ``output`` (a new temporary folder by default),
    stream the records of one survey, list the directories and page through a
    directory's contacts.
    """
    output = output or tempfile.mkdtemp(prefix="qualtrics-async-demo-")
    from qualtrics_async.testing import QualtricsEmulator

    write = print
    started = time.perf_counter()
    async with (
        QualtricsEmulator(seed=seed, contacts=contacts) as emulator,
        QualtricsClient(api_token=emulator.api_token, base_url=emulator.base_url, env={}) as client,
    ):
        write(f"emulator listening on {emulator.base_url} (seed {seed})")
        me = await client.whoami()
        write(f"whoami: {me.user_name} ({me.user_id}) brand {me.brand_id}, datacenter {me.datacenter}")

        surveys = [s async for s in client.surveys.list()]
        active = sum(1 for s in surveys if s.is_active)
        write(f"surveys: {len(surveys)} listed across pages of 100 ({active} active); the first ten:")
        for s in surveys[:10]:
            state = "active" if s.is_active else "inactive"
            write(f"  {s.id}  {state:8}  {s.name}")
        if surveys:
            first = await client.surveys.get(surveys[0].id)
            counts = first.response_counts
            write(f"survey {first.id}: {len(first.questions)} questions, {counts.auditable if counts else 0} responses")

        await _export_demo(client, [s.id for s in surveys[:exports]], output, write)

        directories = [d async for d in client.paginate("/directories", item_type=Directory)]
        write(f"directories: {', '.join(f'{d.directory_id} ({d.contact_count} contacts)' for d in directories)}")
        pool = max(directories, key=lambda d: d.contact_count or 0)
        total = pages = 0
        with_email = 0
        async for page in client.pages(
            build_path("/directories/{directoryId}/contacts", directoryId=pool.directory_id),
            {"pageSize": 100},
            item_type=Contact,
        ):
            pages += 1
            total += len(page.elements)
            with_email += sum(1 for c in page.elements if c.email)
        write(f"paged through {total} contacts of {pool.directory_id} in {pages} pages ({with_email} with an email)")
        stats = emulator.stats
        write(
            f"done in {time.perf_counter() - started:.2f} s: {stats.requests} requests, "
            f"{stats.throttled} answered 429 by the emulator's rate limits"
        )
    return 0


async def _export_demo(
    client: QualtricsClient, survey_ids: list[str], output: str, write: Callable[[str], None]
) -> None:
    """Export several surveys at once, then stream one survey's records."""
    if not survey_ids:
        return
    started = time.perf_counter()
    sizes = 0
    failures = 0
    async for outcome in client.responses.export_many(survey_ids, output, concurrency=8):
        if isinstance(outcome, ExportFailure):
            failures += 1
            write(f"  {outcome.survey_id}  FAILED: {outcome.error}")
            continue
        sizes += outcome.size
        write(f"  {outcome.survey_id}  {outcome.size:>8,} bytes  {outcome.elapsed:5.1f} s  -> {outcome.path}")
    write(
        f"exported {len(survey_ids) - failures} of {len(survey_ids)} surveys ({sizes:,} bytes) to {output} "
        f"in {time.perf_counter() - started:.1f} s, 8 at a time under the export rate limits"
    )
    records = finished = 0
    async for record in client.responses.stream(survey_ids[0], format="ndjson"):
        records += 1
        finished += bool(record.get("values", {}).get("finished"))
    rate = f"{100 * finished / records:.0f} %" if records else "n/a"
    write(f"streamed {records} responses of {survey_ids[0]} while downloading: completion rate {rate}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qualtrics-async", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the main job against the bundled emulator (no credentials needed)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the emulator's generated data")
    demo.add_argument("--contacts", type=int, default=1000, help="contacts in the emulator's directory")
    demo.add_argument("--exports", type=int, default=12, help="how many surveys to export")
    demo.add_argument("--output", default=None, help="folder for the exported files (default: a new temp folder)")
    emu = sub.add_parser("emulator", help="run the bundled Qualtrics emulator until Ctrl-C")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    emu.add_argument("--seed", type=int, default=0)
    emu.add_argument("--no-rate-limits", action="store_true", help="do not enforce the published rate limits")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qualtrics-async`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return asyncio.run(
                run_demo(seed=args.seed, contacts=args.contacts, exports=args.exports, output=args.output)
            )
        from qualtrics_async.testing.__main__ import main as emulator_main

        emulator_args = ["--host", args.host, "--port", str(args.port), "--seed", str(args.seed)]
        if args.no_rate_limits:
            emulator_args.append("--no-rate-limits")
        return emulator_main(emulator_args)
    except QualtricsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
