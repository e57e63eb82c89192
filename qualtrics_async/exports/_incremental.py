"""Incremental exports: each run exports only what is new since the last one.

State lives in a small JSON file per survey. A run picks one of three modes:

* ``full``: no state yet — export everything (or from ``since``), asking for a
  continuation token.
* ``continuation``: a token from the last run — export what was recorded or changed
  since then (qualtrics-api.md §6.2 ``continuationToken``).
* ``window``: the token is older than a week (tokens expire) or Qualtrics refused it —
  export by date window from the server time the previous export started, on the
  last-modified date (so changed responses are included, as with a token). The window
  starts ``overlap`` seconds (default 60) before the server's ``Date`` of that export's
  start, because the moment Qualtrics took its snapshot is not known to the second: a
  response from that overlap may appear in both files. The result says so
  (``may_repeat``) and a warning names the instant; de-duplicate on ``ResponseId``.
  Rows are never skipped silently.

The state is written (atomically) only after the file is whole on disk, so a run that
crashes is simply repeated by the next one.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec

from qualtrics_async._filelock import exclusive
from qualtrics_async._logging import logger
from qualtrics_async._safename import path_in, safe_name
from qualtrics_async.errors import BadRequestError, ConfigurationError
from qualtrics_async.exports._download import open_private
from qualtrics_async.exports._job import ExportResult, ProgressCallback
from qualtrics_async.exports._options import ExportFormat, file_extension, iso_datetime

if TYPE_CHECKING:
    from qualtrics_async.resources.responses import Responses

SyncMode = Literal["full", "continuation", "window"]
TOKEN_MAX_AGE = 6.5 * 24 * 3600.0  # tokens expire after a week (§6.2); leave half a day of margin
_MANAGED = ("allow_continuation", "continuation_token", "start_date", "sort_by_last_modified_date")
# Options that would export part of what is new while the state moved past all of it.
_PARTIAL = ("limit", "end_date", "export_responses_in_progress", "filter_id")


class SyncState(msgspec.Struct, kw_only=True):
    """What an incremental export remembers between runs (the JSON state file).

    Attributes:
        survey_id: the survey this state belongs to.
        continuation_token: the token of the last run's export.
        token_received_at: when that token was received (epoch seconds).
        watermark: the server's time (ISO 8601 UTC) when the last run's export started.
        runs: completed runs.
        last_file: the file the last run wrote.
    """

    version: int = 1
    survey_id: str
    continuation_token: str | None = None
    token_received_at: float | None = None
    watermark: str | None = None
    runs: int = 0
    last_file: str | None = None


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The outcome of one incremental run.

    Attributes:
        survey_id: the survey.
        mode: ``"full"``, ``"continuation"`` or ``"window"``.
        export: the file written.
        window_start: the start of the date window (``window`` mode, or ``since``).
        may_repeat: rows at ``window_start`` may also be in the previous file (``window``
            mode only); de-duplicate on ``ResponseId``.
        state: the state saved for the next run.
    """

    survey_id: str
    mode: SyncMode
    export: ExportResult
    window_start: str | None
    may_repeat: bool
    state: SyncState


def sync_state_name(survey_id: str) -> str:
    """The default state file's name, ``{survey_id}.sync.json``, the id made a safe file name.

    Real ids are kept as they are; one holding ``/``, ``..`` and the like is rewritten
    (docs/exports.md, "File names"), so a state file never lands outside its folder.
    """
    return f"{safe_name(survey_id, fallback='survey')}.sync.json"


def load_state(path: Path, survey_id: str) -> SyncState:
    """The saved state, or a fresh one when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return SyncState(survey_id=survey_id)
    try:
        state = msgspec.json.decode(data, type=SyncState)
    except msgspec.DecodeError as exc:
        raise ConfigurationError(
            f"the sync state file {str(path)!r} is not valid ({exc}); fix it, or delete it to export everything again"
        ) from None
    if state.survey_id != survey_id:
        raise ConfigurationError(
            f"the sync state file {str(path)!r} belongs to survey {state.survey_id}, not {survey_id}; "
            "use one state file per survey"
        )
    return state


def save_state(path: Path, state: SyncState) -> None:
    """Write the state atomically (a crash leaves the old state or the new one, never half)."""
    tmp = path.with_name(path.name + ".tmp")
    file = open_private(tmp)
    try:
        file.write(msgspec.json.format(msgspec.json.encode(state)))
        file.flush()
        os.fsync(file.fileno())
    finally:
        file.close()
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """One incremental run as asked (see ``Responses.export_incremental`` for the meanings)."""

    survey_id: str
    dest_dir: str | os.PathLike[str]
    state_file: str | os.PathLike[str] | None
    format: ExportFormat
    since: datetime | str | None
    progress: ProgressCallback | None
    timeout: float | None
    overlap: float
    options: dict[str, Any]


async def run_incremental(responses: Responses, request: SyncRequest) -> SyncResult:
    """Export what is new since the last run of this survey; see the module docs."""
    options, overlap = request.options, request.overlap
    managed = [name for name in _MANAGED if name in options]
    if managed:
        raise ConfigurationError(f"{', '.join(managed)} are managed by the incremental export; do not pass them")
    partial = [name for name in _PARTIAL if options.get(name) not in (None, False)]
    if partial:
        raise ConfigurationError(
            f"{', '.join(partial)} would export only part of what is new while the next run starts after all "
            "of it (rows would be skipped); use export() for a partial export"
        )
    if not overlap >= 0:
        raise ConfigurationError(f"overlap must be >= 0 seconds (a negative one skips rows), got {overlap!r}")
    folder = Path(os.fspath(request.dest_dir))
    if not await anyio.Path(folder).is_dir():
        raise ConfigurationError(f"dest_dir {str(folder)!r} is not an existing folder; create it first")
    survey_id = request.survey_id
    state_file = request.state_file
    # state_file is the caller's own choice of path; the default is derived from the id, so checked.
    default = path_in(folder, sync_state_name(survey_id))
    state_path = Path(os.fspath(state_file)) if state_file is not None else default
    with _exclusive(state_path):
        return await _run(responses, request, folder, state_path)


async def _run(responses: Responses, request: SyncRequest, folder: Path, state_path: Path) -> SyncResult:
    survey_id, format, since, overlap, options = (
        request.survey_id,
        request.format,
        request.since,
        request.overlap,
        request.options,
    )
    progress, timeout = request.progress, request.timeout
    state = load_state(state_path, survey_id)
    if since is not None and state.runs:
        logger.info("since= applies to the first run only; survey %s continues from its saved state", survey_id)

    token_fresh = (
        state.continuation_token is not None
        and state.token_received_at is not None
        and time.time() - state.token_received_at < TOKEN_MAX_AGE
    )
    mode: SyncMode
    window_start: str | None = None
    if token_fresh:
        mode = "continuation"
    elif state.runs and state.watermark is not None:
        mode, window_start = "window", _minus(state.watermark, overlap)
    else:
        mode = "full"
        window_start = iso_datetime("since", since) if since is not None else None
        if state.runs:
            logger.warning(
                "sync state of survey %s has no token and no watermark; exporting everything again", survey_id
            )

    async def run(mode: SyncMode, window_start: str | None) -> ExportResult:
        extra: dict[str, Any] = {}
        if mode == "continuation":
            extra["continuation_token"] = state.continuation_token
        else:
            extra["allow_continuation"] = True
            if window_start is not None:
                extra["start_date"] = window_start
            if mode == "window":
                extra["sort_by_last_modified_date"] = True  # changed responses too, like a token
        ext = file_extension(format, compress=options.get("compress", True))
        dest = path_in(folder, f"{safe_name(survey_id, fallback='survey')}-{state.runs + 1:05d}-{mode}.{ext}")
        return await responses.export(
            survey_id, dest, format=format, progress=progress, timeout=timeout, **options, **extra
        )

    run_started = _utc_now()  # the watermark if the server's clock is not known
    if mode == "continuation":
        try:
            result = await run(mode, None)
        except BadRequestError as exc:
            if state.watermark is None:
                raise
            logger.warning(
                "Qualtrics refused the export with the saved continuation token of survey %s (%s); "
                "exporting by date window from %s instead",
                survey_id,
                exc.error_message or exc.message,
                state.watermark,
            )
            mode, window_start = "window", _minus(state.watermark, overlap)
            result = await run(mode, window_start)
    else:
        if mode == "window":
            logger.warning(
                "the continuation token of survey %s is missing or older than a week; exporting by date window "
                "from %s (rows from the overlap may repeat: de-duplicate on ResponseId)",
                survey_id,
                window_start,
            )
        result = await run(mode, window_start)

    new_state = SyncState(
        survey_id=survey_id,
        continuation_token=result.continuation_token,
        token_received_at=time.time() if result.continuation_token else None,
        watermark=result.server_started_at or run_started,
        runs=state.runs + 1,
        last_file=str(result.path),
    )
    save_state(state_path, new_state)
    return SyncResult(
        survey_id=survey_id,
        mode=mode,
        export=result,
        window_start=window_start,
        may_repeat=mode == "window",
        state=new_state,
    )


def _exclusive(state_path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the survey's run lock: two runs on one state would export the same rows twice."""
    return exclusive(
        state_path,
        f"another incremental export is using {str(state_path)!r}; wait for it to finish "
        "(runs of one survey must not overlap, or rows would be exported twice)",
    )


def _minus(iso: str, seconds: float) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")) - timedelta(seconds=seconds)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "SyncMode",
    "SyncRequest",
    "SyncResult",
    "SyncState",
    "load_state",
    "run_incremental",
    "save_state",
    "sync_state_name",
]
