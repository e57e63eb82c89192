"""Shared helpers of the benchmarks: command line, machine details, tables and verdicts.

Every benchmark prints the machine it ran on, measures its baseline and the project in the
same run, states its target and says PASS or FAIL. It exits 0 either way unless
``--strict`` is given, in which case a missed target exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

LOOPBACK = "127.0.0.1"
"""The only address any benchmark binds or contacts."""

_STARTED = time.perf_counter()

_VERSIONED = ("qualtrics-async", "aiohttp", "msgspec", "anyio", "aiolimiter", "yarl", "multidict")


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asked for."""

    quick: bool
    strict: bool


@dataclass(slots=True)
class Verdicts:
    """The targets of one benchmark run and whether each was met."""

    results: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, description: str, passed: bool) -> bool:
        """Record and print one target (``description`` says the measured value and the bar)."""
        self.results.append((description, passed))
        print(f"TARGET  {description}  ->  {'PASS' if passed else 'FAIL'}")
        return passed

    @property
    def passed(self) -> bool:
        return all(ok for _desc, ok in self.results)


def parse_options(description: str, argv: Sequence[str] | None = None) -> Options:
    """Parse ``--quick`` and ``--strict``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test, well under 15 s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed (default: exit 0)")
    args = parser.parse_args(argv)
    return Options(quick=bool(args.quick), strict=bool(args.strict))


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_details() -> list[tuple[str, str]]:
    """What the numbers depend on: interpreter, library versions, CPUs, OS, load."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    rows = [
        ("date (UTC)", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("python", f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
        ("cpu", f"{_cpu_model()}; {os.cpu_count()} logical CPUs, {usable} usable by this process"),
        ("load average", load),
        ("event loop", _loop_name()),
        ("gc", "enabled" if gc.isenabled() else "disabled"),
    ]
    rows.extend((dist, _version(dist)) for dist in _VERSIONED)
    return rows


def _loop_name() -> str:
    loop = asyncio.new_event_loop()
    try:
        return f"{type(loop).__module__}.{type(loop).__name__}"
    finally:
        loop.close()


def print_header(title: str, options: Options, notes: Sequence[str] = ()) -> None:
    """Print the benchmark title, the run mode and the machine details."""
    rule = "=" * 78
    print(rule)
    print(title)
    print(rule)
    mode = "quick (--quick: fewer and shorter repetitions)" if options.quick else "full"
    print(f"mode: {mode}{'; --strict' if options.strict else ''}")
    for name, value in machine_details():
        print(f"{name:>16}: {value}")
    for note in notes:
        print(f"note: {note}")
    print("-" * 78)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain aligned table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))


def stop_child(conn: Connection, process: BaseProcess) -> None:
    """Ask a helper process to stop (``"stop"`` on its pipe), then make sure it does."""
    with suppress(OSError):
        conn.send("stop")
    conn.close()
    process.join(10)
    if process.is_alive():
        process.terminate()
        process.join(5)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def finish(verdicts: Verdicts, options: Options) -> int:
    """Print the overall verdict; the exit status is 1 only for a miss under ``--strict``."""
    overall = "PASS" if verdicts.passed else "FAIL"
    print("-" * 78)
    met = sum(ok for _d, ok in verdicts.results)
    elapsed = time.perf_counter() - _STARTED
    print(f"RESULT  {overall} ({met}/{len(verdicts.results)} targets met; ran {elapsed:.1f} s)")
    return 1 if options.strict and not verdicts.passed else 0


def main_entry(run: Callable[[Options], int], description: str) -> None:
    """Parse the command line, run the benchmark, and exit with its status."""
    options = parse_options(description)
    sys.exit(run(options))
