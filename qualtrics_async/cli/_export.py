"""``qualtrics-async export``: several surveys at once, with a live bar per survey.

Each bar shows the export job's progress, then the download's bytes, rate and ETA. A
line per survey says where its file went (or why it failed), and a summary ends the run.
Ctrl-C cancels every export: partial files are removed, none takes its final name.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import anyio

from qualtrics_async import QualtricsClient
from qualtrics_async._safename import path_in
from qualtrics_async.cli._console import Bars, Display, human_bytes
from qualtrics_async.cli._main import EXIT_API_ERROR, EXIT_OK, make_client
from qualtrics_async.errors import ConfigurationError, QualtricsError
from qualtrics_async.exports import ExportFailure, ExportProgress, ExportResult, SyncResult
from qualtrics_async.exports._incremental import sync_state_name

Outcome = ExportResult | ExportFailure | SyncResult


class ExportBars:
    """One bar per survey, fed by the export pipeline's ``progress`` callback."""

    def __init__(self, bars: Bars, survey_ids: list[str]) -> None:
        self._bars = bars
        self._ids = {sid: bars.add(sid, total=100, phase="exporting") for sid in survey_ids}
        self._phase = dict.fromkeys(survey_ids, "exporting")
        self._download_started: dict[str, float] = {}

    def __call__(self, progress: ExportProgress) -> None:
        bar = self._ids.get(progress.survey_id)
        if bar is None:
            return
        if progress.phase == "exporting":
            self._bars.update(bar, completed=progress.percent_complete)
        elif progress.phase == "downloading":
            now = time.monotonic()
            if self._phase[progress.survey_id] != "downloading":
                self._phase[progress.survey_id] = "downloading"
                self._download_started[progress.survey_id] = now
                self._bars.restart(bar, total=progress.bytes_total, phase="downloading")
            elapsed = now - self._download_started[progress.survey_id]
            rate = progress.bytes_received / elapsed if elapsed > 0.05 else None
            self._bars.update(bar, completed=progress.bytes_received, total=progress.bytes_total, rate=rate)

    def finish(self, survey_id: str, text: str) -> None:
        bar = self._ids[survey_id]
        self._bars.restart(bar, total=1, phase="done", detail=text)
        self._bars.update(bar, completed=1)


async def _incremental(
    client: QualtricsClient, args: argparse.Namespace, ids: list[str], output: Path, progress: ExportBars
) -> AsyncGenerator[Outcome, None]:
    """``export_incremental`` for each survey, ``--concurrency`` at a time, yielded as they finish."""
    state = Path(args.incremental)
    several = len(ids) > 1
    if several:
        await anyio.Path(state).mkdir(parents=True, exist_ok=True)
    slots = asyncio.Semaphore(args.concurrency)
    finished: asyncio.Queue[Outcome] = asyncio.Queue()

    async def one(survey_id: str) -> None:
        async with slots:
            try:
                # The id is the user's text: made a safe name, so it cannot leave STATE (docs/exports.md, "File names").
                state_file = path_in(state, sync_state_name(survey_id)) if several else state
                run = await client.responses.export_incremental(
                    survey_id, output, state_file=state_file, format=args.format, progress=progress
                )
            except QualtricsError as exc:
                await finished.put(ExportFailure(survey_id, exc))
            else:
                await finished.put(run)

    async with asyncio.TaskGroup() as group:
        for survey_id in ids:
            group.create_task(one(survey_id))
        for _ in ids:
            yield await finished.get()


async def run(args: argparse.Namespace, display: Display) -> int:
    """Export ``args.survey_ids`` into ``args.output``; exit 1 if any survey failed."""
    if args.concurrency < 1:
        raise ConfigurationError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.incremental and args.extract:
        raise ConfigurationError("--extract cannot be combined with --incremental (its runs are zip files)")
    ids: list[str] = list(dict.fromkeys(args.survey_ids))
    output = Path(args.output)
    await anyio.Path(output).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    written = failed = 0
    size = 0
    async with make_client(args) as client:
        with display.progress() as bars:
            progress = ExportBars(bars, ids)
            outcomes: AsyncGenerator[Outcome, None]
            if args.incremental:
                outcomes = _incremental(client, args, ids, output, progress)
            else:
                options = {"start_date": args.since} if args.since else {}
                outcomes = client.responses.export_many(
                    ids,
                    output,
                    format=args.format,
                    concurrency=args.concurrency,
                    extract=args.extract,
                    progress=progress,
                    **options,
                )
            async for outcome in outcomes:
                if isinstance(outcome, ExportFailure):
                    failed += 1
                    progress.finish(outcome.survey_id, "FAILED")
                    display.line(f"{outcome.survey_id}  FAILED: {outcome.error}")
                    continue
                result = outcome.export if isinstance(outcome, SyncResult) else outcome
                mode = f"  ({outcome.mode})" if isinstance(outcome, SyncResult) else ""
                written += 1
                size += result.size
                progress.finish(result.survey_id, f"{human_bytes(result.size)} in {result.elapsed:.1f} s")
                size_text = human_bytes(result.size)
                display.line(f"{result.survey_id}  {size_text:>9}  {result.elapsed:5.1f} s  -> {result.path}{mode}")
    display.line(
        f"exported {written} of {len(ids)} surveys ({human_bytes(size)}) to {output} "
        f"in {time.monotonic() - started:.1f} s" + (f"; {failed} failed" if failed else "")
    )
    return EXIT_API_ERROR if failed else EXIT_OK
