"""Reading contacts from a CSV/TSV file lazily, a few thousand rows at a time, off the event loop.

The header row names the columns. Recognised names (case, spaces, ``_`` and ``-`` ignored):
``firstName``, ``lastName``, ``email`` (also ``emailAddress``), ``phone`` (``phoneNumber``),
``extRef`` (``externalDataReference``, ``externalReference``), ``language``,
``unsubscribed``; ``embeddedData.<name>`` (or ``embedded.<name>``, as a contact export writes
it) and ``transactionData.<name>`` keep ``<name>`` exactly as written. A ``contactId``
column (from a contact export) is ignored. Any other column is an error before anything is
sent, unless ``columns`` maps it (to one of those names, or to ``None`` to skip it).
"""

from __future__ import annotations

import csv
import os
from collections.abc import AsyncGenerator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import anyio

from qualtrics_async.errors import ConfigurationError

_CHUNK = 2000
_PLAIN = {
    "firstname": "firstName",
    "lastname": "lastName",
    "email": "email",
    "emailaddress": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "extref": "extRef",
    "externaldatareference": "extRef",
    "externalreference": "extRef",
    "language": "language",
    "unsubscribed": "unsubscribed",
}
_GROUPS = {"embeddeddata": "embeddedData", "embedded": "embeddedData", "transactiondata": "transactionData"}
_IGNORED = {"contactid"}
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its contact (wire names) or the reason it cannot be one, and its line."""

    line: int
    contact: dict[str, Any] | None
    problem: str | None = None


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-")


def column_target(header: str) -> tuple[str, str | None] | None:
    """Where a column goes: ``(field, None)``, ``(group, name)``, or ``None`` for an unknown column."""
    squashed = _squash(header)
    if squashed in _PLAIN:
        return _PLAIN[squashed], None
    prefix, dot, rest = header.partition(".")
    if dot and rest and _squash(prefix) in _GROUPS:
        return _GROUPS[_squash(prefix)], rest
    return None


def plan_columns(header: list[str], columns: Mapping[str, str | None] | None) -> list[tuple[str, str | None] | None]:
    """The target of every column (``None``: skipped).

    Raises:
        ConfigurationError: a column that is neither recognised nor mapped, or a field twice.
    """
    columns = dict(columns or {})
    unknown_mapped = sorted(set(columns) - set(header))
    if unknown_mapped:
        raise ConfigurationError(f"columns= names {unknown_mapped} that the file's header does not have: {header}")
    plan: list[tuple[str, str | None] | None] = []
    unknown: list[str] = []
    for name in header:
        if name in columns:
            wanted = columns[name]
            target = None if wanted is None else column_target(wanted)
            if wanted is not None and target is None:
                raise ConfigurationError(
                    f"columns={{{name!r}: {wanted!r}}}: {wanted!r} is not a contact field "
                    "(use firstName, lastName, email, phone, extRef, language, unsubscribed, "
                    "embeddedData.<name> or transactionData.<name>)"
                )
            plan.append(target)
        elif _squash(name) in _IGNORED:
            plan.append(None)
        else:
            target = column_target(name)
            if target is None:
                unknown.append(name)
            plan.append(target)
    if unknown:
        example = unknown[0]
        raise ConfigurationError(
            f"the CSV has columns that are not contact fields: {unknown}. Rename them (e.g. "
            f"'embeddedData.{example}'), or map them: columns={{{example!r}: 'embeddedData.{example}'}} "
            f"or columns={{{example!r}: None}} to skip the column"
        )
    plain = [target[0] for target in plan if target is not None and target[1] is None]
    twice = sorted({field for field in plain if plain.count(field) > 1})
    if twice:
        raise ConfigurationError(f"more than one column maps to {twice}; map the extra ones with columns={{...: None}}")
    return plan


def _row_contact(cells: list[str], plan: list[tuple[str, str | None] | None]) -> dict[str, Any]:
    contact: dict[str, Any] = {}
    for cell, target in zip(cells, plan, strict=False):
        if target is None or cell == "":
            continue
        field, name = target
        if name is not None:
            contact.setdefault(field, {})[name] = cell
        elif field == "unsubscribed":
            flag = cell.strip().lower()
            if flag not in _TRUE and flag not in _FALSE:
                raise ValueError(f"unsubscribed must be true/false (or 1/0, yes/no), got {cell!r}")
            contact[field] = flag in _TRUE
        else:
            contact[field] = cell
    return contact


class _Reader:
    """The blocking side: an open file and its csv reader, read in chunks from a worker thread."""

    def __init__(self, path: Path, columns: Mapping[str, str | None] | None, delimiter: str, encoding: str) -> None:
        self._file: TextIO = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by close()
        try:
            self._reader = csv.reader(self._file, delimiter=delimiter)
            header = next(self._reader, None)
            self._width = 0 if header is None else len(header)
            self._plan = plan_columns([cell.strip() for cell in header or ()], columns)
        except BaseException:
            self._file.close()
            raise
        if header is None:
            self._file.close()
            raise ConfigurationError(f"{str(path)!r} is empty: it needs a header row naming the columns")

    def chunk(self) -> list[CsvRow]:
        try:
            return self._chunk()
        except UnicodeDecodeError as exc:
            raise _undecodable(self._file.name, exc) from None

    def _chunk(self) -> list[CsvRow]:
        rows: list[CsvRow] = []
        for cells in self._reader:
            line = self._reader.line_num
            if not any(cells):
                continue  # a blank line
            if len(cells) > self._width:
                problem = f"the row has {len(cells)} cells but the header has {self._width}"
                rows.append(CsvRow(line, None, problem))
            else:
                try:
                    rows.append(CsvRow(line, _row_contact(cells, self._plan)))
                except ValueError as exc:
                    rows.append(CsvRow(line, None, str(exc)))
            if len(rows) >= _CHUNK:
                break
        return rows

    def close(self) -> None:
        self._file.close()


def _undecodable(path: str, exc: UnicodeDecodeError) -> ConfigurationError:
    return ConfigurationError(
        f"{path!r} is not valid {exc.encoding} ({exc.reason}); pass encoding= "
        "(e.g. encoding='cp1252' for a file saved by Excel on Windows)"
    )


def guess_delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


async def read_csv(
    path: str | os.PathLike[str],
    *,
    columns: Mapping[str, str | None] | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8-sig",
) -> AsyncGenerator[CsvRow, None]:
    """The data rows of a contacts file, read lazily (a chunk at a time, in a worker thread).

    Raises:
        ConfigurationError: the file is empty or its header has unknown columns (raised at the
            first ``__anext__``, before any row).
        OSError: the file cannot be read.
    """
    file = Path(path)
    reader = await anyio.to_thread.run_sync(_Reader, file, columns, delimiter or guess_delimiter(file), encoding)
    try:
        while rows := await anyio.to_thread.run_sync(reader.chunk):
            for row in rows:
                yield row
    finally:
        reader.close()


def count_rows(path: str | os.PathLike[str], *, delimiter: str | None = None, encoding: str = "utf-8-sig") -> int:
    """How many non-blank data rows the file has (a quick pass, for progress totals)."""
    file = Path(path)
    with open(file, encoding=encoding, newline="") as handle:
        rows: Iterator[list[str]] = csv.reader(handle, delimiter=delimiter or guess_delimiter(file))
        try:
            next(rows, None)
            return sum(1 for cells in rows if any(cells))
        except UnicodeDecodeError as exc:
            raise _undecodable(str(file), exc) from None


__all__ = ["CsvRow", "column_target", "count_rows", "plan_columns", "read_csv"]
