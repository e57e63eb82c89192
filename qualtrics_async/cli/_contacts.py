"""``qualtrics-async contacts import``: a CSV into an XM Directory, with contacts/s and a failures file.

With ``--checkpoint`` every batch's outcome is journaled as it settles; after Ctrl-C (or
a crash) the same command resumes where it stopped and never sends a landed batch again.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec

from qualtrics_async.cli._console import Bars, Display
from qualtrics_async.cli._main import EXIT_API_ERROR, EXIT_OK, make_client
from qualtrics_async.contact_import import BulkImportProgress, ImportReport
from qualtrics_async.errors import ConfigurationError, QualtricsError

FAILURE_COLUMNS = ("line", "index", "kind", "reason", "request_id", "contact")


UNKNOWN_REASON = (
    "its batch's outcome is unknown (the answer was lost): it may have landed; check the directory "
    "(or dedupe by email/extRef) before importing it again"
)


_FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
"""What makes a spreadsheet read a cell as a formula (OWASP "CSV injection"), full-width forms included."""


def neutralise_formula(cell: str) -> str:
    """``cell`` with a leading ``'`` when a spreadsheet could read it as a formula (docs/cli.md).

    A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or with one
    of ``=+-@`` after leading whitespace) is one; the quote makes it text. Other cells are
    unchanged.
    """
    if not cell:
        return cell
    if cell[0] in _FORMULA_STARTS or cell.lstrip()[:1] in _FORMULA_STARTS:
        return "'" + cell
    return cell


def write_failures(report: ImportReport, path: Path) -> None:
    """Every contact that did not land or may not have, one CSV row each (the contact as JSON, lossless).

    The file holds personal data: it is written to ``path + ".part"`` created with mode 0600,
    fsynced and renamed, so ``path`` is whole or absent; every cell a spreadsheet could read as
    a formula is neutralised (docs/cli.md).
    """
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)  # a stale .part (or a symlink planted there) is never written through
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with open(fd, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(FAILURE_COLUMNS)
            for failure in report.failures:
                writer.writerow(
                    _row(
                        failure.line if failure.line is not None else "",
                        failure.index,
                        failure.kind,
                        failure.reason,
                        failure.request_id or "",
                        msgspec.json.encode(failure.contact).decode(),
                    )
                )
            for contact in report.unknown_contacts():
                writer.writerow(_row("", "", "unknown", UNKNOWN_REASON, "", msgspec.json.encode(contact).decode()))
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _row(*cells: object) -> list[str]:
    return [neutralise_formula(str(cell)) for cell in cells]


def import_progress(display: Display, bars: Bars, bar: int) -> Callable[[BulkImportProgress], None]:
    """The ``progress`` callback of a bulk import: the bar, or a line per batch when not live."""

    printed = -1

    def progress(state: BulkImportProgress) -> None:
        nonlocal printed
        counts = f"added {state.added:,}  updated {state.updated:,}  failed {state.failed + state.invalid:,}"
        bars.update(bar, completed=state.done, total=state.total, counts=counts, rate=state.rate)
        if not bars.live and state.done != printed:
            printed = state.done
            total = f"/{state.total:,}" if state.total is not None else ""
            display.line(f"{state.done:,}{total} contacts, {state.rate:,.0f}/s; {counts}")

    return progress


async def run(args: argparse.Namespace, display: Display) -> int:
    """Import ``args.file``; exit 1 when some contacts did not land (they are in the failures file)."""
    source = Path(args.file)
    if not await anyio.Path(source).is_file():
        raise ConfigurationError(f"{source} is not a file: give the CSV of contacts to import")
    failures_path = Path(args.failures) if args.failures else source.with_name(source.name + ".failures.csv")
    options: dict[str, Any] = {}
    if args.mailing_list:
        options["mailing_list_id"] = args.mailing_list
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.concurrency is not None:
        options["concurrency"] = args.concurrency
    async with make_client(args) as client:
        with display.progress() as bars:
            progress = import_progress(display, bars, bars.add(source.name, total=None, phase="importing", counts=""))
            try:
                report = await client.contacts.bulk_import_csv(args.directory, source, progress=progress, **options)
            except QualtricsError as exc:
                partial = exc.partial_report
                if isinstance(partial, ImportReport) and (partial.failures or partial.unknown):
                    write_failures(partial, failures_path)
                    display.line(f"the contacts that did not land, with the reasons: {failures_path}")
                raise
    rate = report.total / report.elapsed if report.elapsed > 0 else 0.0
    display.line(
        f"{report.total:,} contacts from {source.name} in {report.elapsed:.1f} s ({rate:,.0f}/s): "
        f"{report.added:,} added, {report.updated:,} updated, {report.failed:,} failed, {report.invalid:,} invalid, "
        f"{report.unknown:,} unknown, into {report.mailing_list_id}"
    )
    if report.failures or report.unknown:
        write_failures(report, failures_path)
        missing = len(report.failures) + report.unknown
        display.line(f"{missing:,} contacts did not land (or may not have), with the reasons: {failures_path}")
        return EXIT_API_ERROR
    if args.checkpoint:
        display.line(f"checkpoint: {args.checkpoint}")
    return EXIT_OK
