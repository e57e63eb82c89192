"""Terminal output: lines, tables and live progress, with rich when it can be used.

Live progress needs rich (the ``cli`` extra) and a terminal on stdout; otherwise every
display is plain text, one line per event, so output pipes and logs cleanly.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, Task


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def human_bytes(size: float) -> str:
    """``1,234,567`` bytes as ``1.2 MB`` (decimal units, as download tools show)."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


class Display:
    """Where a command writes what it has to say.

    Args:
        live: show live progress bars (only honoured with rich and a terminal).
        out: the stream for results (stdout by default).
    """

    def __init__(self, *, live: bool = True, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.rich = _rich_available() and self.out.isatty()
        self.live = live and self.rich
        self._console: Console | None = None
        self._progress: Progress | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False)
        return self._console

    def line(self, text: str = "") -> None:
        """Print one line (above any live progress display)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        elif self.rich:
            self.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.out, flush=True)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None) -> None:
        """Print a table (a rich table on a terminal, aligned text otherwise)."""
        if self.rich:
            from rich.table import Table

            table = Table(*headers, title=title, title_justify="left")
            for row in rows:
                table.add_row(*(str(cell) for cell in row))
            self.console.print(table)
            return
        if title:
            self.line(title)
        cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for row in cells:
            self.line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    @contextmanager
    def progress(self) -> Iterator[Bars]:
        """A live progress display for the ``with`` block (a silent one when not live)."""
        if not self.live:
            yield Bars(None)
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _detail_column(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._progress = progress
        try:
            with progress:
                yield Bars(progress)
        finally:
            self._progress = None


class Bars:
    """Progress bars of one display; every method does nothing when the display is not live."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    @property
    def live(self) -> bool:
        return self._progress is not None

    def add(self, name: str, *, total: float | None, phase: str, **fields: Any) -> int:
        """A new bar; returns its id."""
        if self._progress is None:
            return 0
        return int(self._progress.add_task(name, total=total, phase=phase, **fields))

    def update(self, bar: int, *, completed: float, total: float | None = None, **fields: Any) -> None:
        if self._progress is not None:
            self._progress.update(bar, completed=completed, total=total, **fields)  # type: ignore[arg-type]

    def restart(self, bar: int, *, total: float | None, phase: str, **fields: Any) -> None:
        """Start the bar over in another unit (its rate and ETA start over too)."""
        if self._progress is not None:
            self._progress.reset(bar, total=total, completed=0, phase=phase, **fields)  # type: ignore[arg-type]


def _detail(task: Task) -> str:
    phase = task.fields.get("phase", "")
    rate = task.fields.get("rate")
    speed = float(rate) if rate is not None else (task.speed or 0.0)
    if phase == "exporting":
        return f"exporting {task.completed:3.0f} %"
    if phase == "downloading":
        total = f"/{human_bytes(task.total)}" if task.total else ""
        eta = (task.total - task.completed) / speed if task.total and speed > 0 else None
        eta_text = f"  ETA {eta:4.0f} s" if eta is not None else ""
        return f"{human_bytes(task.completed)}{total}  {human_bytes(speed)}/s{eta_text}"
    if phase == "importing":
        total = f"/{task.total:,.0f}" if task.total else ""
        return f"{task.completed:,.0f}{total} contacts  {speed:,.0f}/s  {task.fields.get('counts', '')}"
    return str(task.fields.get("detail", phase))


def _detail_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class DetailColumn(ProgressColumn):
        """What the bar measures: export percent, then bytes with rate and ETA, or contacts/s."""

        def render(self, task: Task) -> Text:
            return Text(_detail(task))

    return DetailColumn()
