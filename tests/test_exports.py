"""The response-export pipeline against the emulator over loopback.

Named after the RELIABILITY.md cases they cover (D6, D8, F1–F4, I6).
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import stat
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from qualtrics_async import QualtricsClient
from qualtrics_async.errors import (
    ConfigurationError,
    ExportCorruptError,
    ExportExpiredError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
)
from qualtrics_async.exports import ExportFailure, ExportProgress, ExportResult, ExportState, safe_filename
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client


@pytest.fixture
async def emulator() -> AsyncIterator[QualtricsEmulator]:
    """The shared emulator, with export jobs that take half a second (tests that need
    longer jobs set ``set_export_duration``)."""
    async with QualtricsEmulator(seed=1, export_seconds=0.5) as emu:
        yield emu


EXPORT_START = "POST /surveys/{surveyId}/export-responses"
EXPORT_POLL = "GET /surveys/{surveyId}/export-responses/{exportProgressId}"


def _survey(emulator: QualtricsEmulator, index: int = 0) -> dict[str, Any]:
    survey: dict[str, Any] = emulator.data.surveys[index]
    return survey


def _csv_rows(data: bytes, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def _member(path: Path) -> tuple[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
        return info.filename, archive.read(info)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".download", ".tmp")))


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format", "options", "named"),
    [
        ("json", {"use_labels": True}, "use_labels"),
        ("ndjson", {"time_zone": "UTC"}, "time_zone"),
        ("json", {"breakout_sets": False}, "breakout_sets"),
        ("csv", {"filter_id": "f-1", "sort_by_last_modified_date": True}, "filter_id"),
        ("csv", {"filter_id": "f-1", "allow_continuation": True}, "filter_id"),
        ("csv", {"continuation_token": "t", "allow_continuation": True}, "allow_continuation"),
        ("csv", {"use_labels": True, "include_label_columns": True}, "include_label_columns"),
        ("csv", {"question_ids": "QID1"}, "question_ids"),
        ("csv", {"question_ids": ["QID5_3_TEXT"]}, "question_ids"),
        ("csv", {"limit": 0}, "limit"),
        ("csv", {"start_date": "2024-01-02"}, "start_date"),
        ("csv", {"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"}, "start_date"),
        ("csv", {"time_zone": "Mars/Olympus"}, "time_zone"),
        ("csv", {"useLabels": True}, "use_labels"),
        ("xml", {"newline_replacement": " "}, "newline_replacement"),
        ("xlsx", {}, "format"),
    ],
)
async def test_bad_export_options_are_refused_before_any_request(
    emulator: QualtricsEmulator, tmp_path: Path, format: str, options: dict[str, Any], named: str
) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match=named):
            await client.responses.start_export(_survey(emulator)["id"], format=format, **options)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=named):
            await client.responses.export(_survey(emulator)["id"], tmp_path / "x.zip", format=format, **options)  # type: ignore[arg-type]
    assert emulator.stats.requests == 0
    assert list(tmp_path.iterdir()) == []


async def test_every_documented_option_reaches_the_wire(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = _survey(emulator)["id"]
    async with make_client(emulator) as client:
        job = await client.responses.start_export(
            survey_id,
            format="csv",
            compress=True,
            start_date="2020-01-01T00:00:00Z",
            end_date="2030-01-01T00:00:00+00:00",
            limit=1000,
            use_labels=True,
            seen_unanswered_recode=-99,
            multiselect_seen_unanswered_recode=-98,
            include_display_order=True,
            format_decimal_as_comma=False,
            time_zone="America/Chicago",
            newline_replacement=" ",
            breakout_sets=True,
            question_ids=["QID1"],
            survey_metadata_ids=["recordedDate", "_recordId"],
            sort_by_last_modified_date=True,
            allow_continuation=True,
        )
        assert emulator.export_jobs[-1].params == {
            "format": "csv",
            "compress": True,
            "startDate": "2020-01-01T00:00:00Z",
            "endDate": "2030-01-01T00:00:00+00:00",
            "limit": 1000,
            "useLabels": True,
            "seenUnansweredRecode": -99,
            "multiselectSeenUnansweredRecode": -98,
            "includeDisplayOrder": True,
            "formatDecimalAsComma": False,
            "timeZone": "America/Chicago",
            "newlineReplacement": " ",
            "breakoutSets": True,
            "questionIds": ["QID1"],
            "surveyMetadataIds": ["recordedDate", "_recordId"],
            "sortByLastModifiedDate": True,
            "allowContinuation": True,
        }
        await job.wait()
        result = await job.download(tmp_path / "x.zip")
    assert result.size > 0
    assert result.continuation_token


# -- the happy path, I6 ----------------------------------------------------------------------------


async def test_I6_export_writes_a_verified_private_zip_named_after_the_survey(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey = _survey(emulator)
    events: list[ExportProgress] = []
    async with make_client(emulator) as client:
        result = await client.responses.export(survey["id"], tmp_path / "out.zip", progress=events.append)
    assert isinstance(result, ExportResult)
    assert result.path == tmp_path / "out.zip"
    assert result.size == result.path.stat().st_size
    assert result.compressed
    assert result.progress_id.startswith("ES_")
    assert result.file_id
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    name, data = _member(result.path)
    assert name == f"{survey['name']}.csv"
    rows = _csv_rows(data)
    assert len(rows) >= 3  # the three header rows, then the responses
    assert "ResponseId" in rows[0]
    assert json.loads(rows[2][rows[0].index("ResponseId")])  # import-id row holds JSON
    assert _leftovers(tmp_path) == []
    phases = [event.phase for event in events]
    assert "exporting" in phases
    assert phases[-1] == "done"


async def test_extract_gives_a_safe_file_name_for_a_survey_name_with_slashes_and_colons(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey = _survey(emulator)
    assert "/" in survey["name"]
    assert ":" in survey["name"]
    async with make_client(emulator) as client:
        result = await client.responses.export(survey["id"], tmp_path, extract=True)
    assert result.member_name == f"{survey['name']}.csv"
    assert result.path.parent == tmp_path
    assert result.path.name == safe_filename(result.member_name, fallback="x")
    assert "/" not in result.path.name
    assert ":" not in result.path.name
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert _csv_rows(result.path.read_bytes())[0][0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.path.name]


def test_safe_filename_neutralises_traversal_and_device_names() -> None:
    assert safe_filename("../../etc/passwd", fallback="f") == "_.._etc_passwd"
    assert "/" not in safe_filename("a/b:c\\d", fallback="f")
    assert safe_filename("CON.csv", fallback="f") == "_CON.csv"
    assert safe_filename("...", fallback="fallback.csv") == "fallback.csv"
    assert len(safe_filename("é" * 400 + ".csv", fallback="f").encode()) <= 240
    assert safe_filename("é" * 400 + ".csv", fallback="f").endswith(".csv")


async def test_uncompressed_export_is_the_raw_file(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    async with make_client(emulator) as client:
        survey_id = _survey(emulator)["id"]
        result = await client.responses.export(survey_id, tmp_path / "r.json", format="json", compress=False)
    assert not result.compressed
    document = json.loads(result.path.read_bytes())
    assert isinstance(document["responses"], list)


async def test_destination_folder_must_exist(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="does not exist"):
            await client.responses.export(_survey(emulator)["id"], tmp_path / "missing" / "x.zip")
    assert emulator.stats.requests == 0


# -- polling -------------------------------------------------------------------------------------


async def test_wait_polls_few_times_and_never_twice_within_half_a_second(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    emulator.set_export_duration(4.0)
    async with make_client(emulator) as client:
        job = await client.responses.start_export(_survey(emulator)["id"])
        await job.wait()
    polls = sorted(t for t, method, path, _ in emulator.stats.log if method == "GET" and "/export-responses/" in path)
    assert 1 <= len(polls) <= 10
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert all(gap >= 0.45 for gap in gaps), gaps  # 0.5 s apart at the client; arrival jitter allowed
    assert job.status == "complete"
    assert job.file_id


async def test_F1_failed_export_raises_with_details_and_stops_polling(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey_id = _survey(emulator)["id"]
    emulator.fail_exports(survey_id)
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        with pytest.raises(ExportFailedError) as caught:
            await job.wait()
        polls_after = emulator.stats.by_route[EXPORT_POLL]
        await anyio.sleep(1.0)
    error = caught.value
    assert error.progress_id == job.progress_id
    assert error.survey_id == survey_id
    assert error.request_id
    assert "failed" in str(error)
    assert emulator.stats.by_route[EXPORT_POLL] == polls_after  # no polling after failed


async def test_F1_export_restarts_a_failed_job_a_bounded_number_of_times(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey_id = _survey(emulator)["id"]
    emulator.fail_exports(survey_id, times=1)
    async with make_client(emulator) as client:
        result = await client.responses.export(survey_id, tmp_path / "x.zip", restarts=1)
        assert result.size > 0
        emulator.fail_exports(survey_id, times=5)
        with pytest.raises(ExportFailedError):
            await client.responses.export(survey_id, tmp_path / "y.zip", restarts=2)
    assert emulator.stats.by_route[EXPORT_START] == 2 + 3
    assert not (tmp_path / "y.zip").exists()


async def test_F2_stuck_export_hits_the_deadline_and_can_be_resumed_elsewhere(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey_id = _survey(emulator)["id"]
    emulator.set_export_duration(3.0)
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        with pytest.raises(ExportTimeoutError) as caught:
            await job.wait(timeout=1.0)
    error = caught.value
    assert error.progress_id == job.progress_id
    saved = error.state.to_json()
    assert b"emulator-token" not in saved
    # "another process": a new client, from the serialised state only
    async with make_client(emulator) as other:
        resumed = other.responses.resume_export(saved)
        assert resumed.progress_id == job.progress_id
        await resumed.wait(timeout=30)
        result = await resumed.download(tmp_path / "x.zip")
    assert result.progress_id == job.progress_id
    assert emulator.stats.by_route[EXPORT_START] == 1  # resumed, not started over


async def test_F2_stalled_job_times_out_with_a_bounded_number_of_polls(emulator: QualtricsEmulator) -> None:
    survey_id = _survey(emulator)["id"]
    emulator.stall_exports(survey_id)
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        with pytest.raises(ExportTimeoutError, match="still running"):
            await job.wait(timeout=3.0)
    assert emulator.stats.by_route[EXPORT_POLL] <= 6


def test_export_state_round_trips_and_rejects_garbage() -> None:
    state = ExportState(survey_id="SV_1", progress_id="ES_1", format="csv", percent_complete=42.0)
    assert ExportState.from_json(state.to_json()) == state
    with pytest.raises(ConfigurationError, match="export state"):
        ExportState.from_json(b"{not json")


# -- downloads: F3, D8, F4, cancellation ---------------------------------------------------------------


async def _reference_file(client: QualtricsClient, survey_id: str, dest: Path) -> tuple[Any, bytes]:
    job = await client.responses.start_export(survey_id)
    await job.wait()
    await job.download(dest)
    return job, dest.read_bytes()


@pytest.mark.parametrize("ranges", [True, False], ids=["range-resume", "server-ignores-range"])
async def test_F3_download_dropped_midway_is_byte_identical(
    emulator: QualtricsEmulator, tmp_path: Path, ranges: bool
) -> None:
    survey_id = emulator.add_survey("Big / drop test: é", responses=3000, answer_size=200)
    async with make_client(emulator) as client:
        job, reference = await _reference_file(client, survey_id, tmp_path / "ref.zip")
        emulator.drop_download(after_bytes=len(reference) // 3)
        if not ranges:
            emulator.ignore_range()
        result = await job.download(tmp_path / "again.zip")
    assert result.size == len(reference)
    assert (tmp_path / "again.zip").read_bytes() == reference
    assert _leftovers(tmp_path) == []


async def test_D8_corrupt_zip_is_downloaded_again(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = _survey(emulator)["id"]
    async with make_client(emulator) as client:
        job, reference = await _reference_file(client, survey_id, tmp_path / "ref.zip")
        emulator.corrupt_download(times=1)
        await job.download(tmp_path / "again.zip")
    assert (tmp_path / "again.zip").read_bytes() == reference


async def test_D8_persistently_corrupt_zip_never_takes_the_final_name(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey_id = _survey(emulator)["id"]
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        await job.wait()
        emulator.corrupt_download(times=10)
        with pytest.raises(ExportCorruptError, match=r"CRC|ZIP") as caught:
            await job.download(tmp_path / "x.zip")
    assert caught.value.file_id == job.file_id
    assert not (tmp_path / "x.zip").exists()
    assert _leftovers(tmp_path) == []


async def test_D8_previous_file_survives_a_failed_download(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    dest = tmp_path / "x.zip"
    dest.write_bytes(b"yesterday's export")
    async with make_client(emulator) as client:
        job = await client.responses.start_export(_survey(emulator)["id"])
        await job.wait()
        emulator.corrupt_download(times=10)
        with pytest.raises(ExportCorruptError):
            await job.download(dest)
    assert dest.read_bytes() == b"yesterday's export"


async def test_F4_expired_file_raises_and_export_restarts_the_job(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = _survey(emulator)["id"]
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        await job.wait()
        emulator.expire_export_files()
        with pytest.raises(ExportExpiredError, match="start a new export") as caught:
            await job.download(tmp_path / "x.zip")
        assert isinstance(caught.value.__cause__, NotFoundError)
        unknown = client.responses.resume_export(
            ExportState(survey_id=survey_id, progress_id="ES_doesnotexist", format="csv")
        )
        with pytest.raises(ExportExpiredError, match="unknown"):
            await unknown.wait()
    assert not (tmp_path / "x.zip").exists()
    assert _leftovers(tmp_path) == []


async def test_cancelled_download_leaves_no_part_file(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = emulator.add_survey("Cancel me", responses=20000, answer_size=500)
    started = anyio.Event()

    def on_progress(event: ExportProgress) -> None:
        if event.phase == "downloading" and event.bytes_received > 0:
            started.set()

    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id, compress=False)
        await job.wait()
        async with anyio.create_task_group() as group:

            async def download() -> None:
                await job.download(tmp_path / "x.csv", progress=on_progress)

            group.start_soon(download)
            await started.wait()
            group.cancel_scope.cancel()
    assert not (tmp_path / "x.csv").exists()
    assert _leftovers(tmp_path) == []


# -- records ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["ndjson", "json", "csv", "tsv"])
async def test_stream_yields_the_same_records_as_the_file(
    emulator: QualtricsEmulator, tmp_path: Path, format: str
) -> None:
    survey_id = _survey(emulator, 1)["id"]
    async with make_client(emulator) as client:
        streamed = [record async for record in client.responses.stream(survey_id, format=format)]  # type: ignore[arg-type]
        result = await client.responses.export(survey_id, tmp_path, format=format, extract=True)  # type: ignore[arg-type]
    data = result.path.read_bytes()
    if format == "ndjson":
        expected = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    elif format == "json":
        expected = json.loads(data)["responses"]
    else:
        rows = _csv_rows(data, "," if format == "csv" else "\t")
        expected = [dict(zip(rows[0], row, strict=True)) for row in rows[3:]]
    assert streamed == expected
    assert len(streamed) > 0


async def test_stream_decodes_typed_records(emulator: QualtricsEmulator) -> None:
    class Response(msgspec.Struct, rename="camel"):
        response_id: str
        values: dict[str, Any]

    survey_id = _survey(emulator, 1)["id"]
    async with make_client(emulator) as client:
        records = [r async for r in client.responses.stream(survey_id, format="ndjson", type=Response)]
    assert records
    assert all(isinstance(r, Response) and r.response_id.startswith("R_") for r in records)


async def test_stream_survives_a_dropped_connection(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.add_survey("Stream drop", responses=2000, answer_size=100)
    async with make_client(emulator) as client:
        clean = [r async for r in client.responses.stream(survey_id, format="csv")]
        emulator.drop_download(after_bytes=50_000)
        dropped = [r async for r in client.responses.stream(survey_id, format="csv")]
    assert dropped == clean
    assert len(clean) == 2000


async def test_stream_refuses_formats_it_cannot_parse(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="cannot be streamed"):
            [r async for r in client.responses.stream(_survey(emulator)["id"], format="spss")]
    assert emulator.stats.requests == 0


async def test_breaking_out_of_a_stream_stops_the_download(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.add_survey("Break early", responses=5000, answer_size=200)
    async with make_client(emulator) as client:
        stream = client.responses.stream(survey_id, format="ndjson")
        first = await anext(stream)
        downloading = [t for t in asyncio.all_tasks() if t.get_name().startswith("qualtrics-export-download-")]
        assert len(downloading) == 1
        await stream.aclose()
        assert downloading[0].done()
        assert first["responseId"]
        whoami = await client.whoami()  # the client is still healthy
    assert whoami.user_id


# -- many surveys -------------------------------------------------------------------------------------


async def test_export_many_20_surveys_at_concurrency_8(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    emulator.set_export_duration(1.0)
    ids = [s["id"] for s in emulator.data.surveys[:20]]
    async with make_client(emulator) as client:
        outcomes = [o async for o in client.responses.export_many([*ids, "SV_doesNotExist"], tmp_path, concurrency=8)]
    failures = [o for o in outcomes if isinstance(o, ExportFailure)]
    successes = [o for o in outcomes if isinstance(o, ExportResult)]
    assert [f.survey_id for f in failures] == ["SV_doesNotExist"]
    assert isinstance(failures[0].error, NotFoundError)
    assert sorted(r.survey_id for r in successes) == sorted(ids)
    assert all(r.path == tmp_path / f"{r.survey_id}.zip" and r.path.stat().st_size == r.size for r in successes)
    # at most 8 surveys were in flight at once (from the start of the job to the end of its
    # download), and several were: the exports overlapped rather than ran one by one
    spans: dict[str, list[float]] = {}
    for arrived, _method, path, _status in emulator.stats.log:
        if "/export-responses" in path:
            spans.setdefault(path.split("/")[4], []).append(arrived)
    assert len(spans) == 21
    events = sorted([(min(t), 1) for t in spans.values()] + [(max(t), -1) for t in spans.values()])
    in_flight = peak = 0
    for _moment, change in events:
        in_flight += change
        peak = max(peak, in_flight)
    assert 2 <= peak <= 8


async def test_export_many_refuses_duplicates_and_a_missing_folder(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="more than once"):
            [o async for o in client.responses.export_many(["SV_a", "SV_a"], tmp_path)]
        with pytest.raises(ConfigurationError, match="not an existing folder"):
            [o async for o in client.responses.export_many(["SV_a"], tmp_path / "nope")]
    assert emulator.stats.requests == 0


# -- incremental --------------------------------------------------------------------------------------


def _response_ids(path: Path) -> list[str]:
    _, data = _member(path)
    rows = _csv_rows(data)
    column = rows[0].index("ResponseId")
    return [row[column] for row in rows[3:]]


async def test_incremental_runs_export_only_new_responses(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = _survey(emulator, 2)["id"]
    async with make_client(emulator) as client:
        first = await client.responses.export_incremental(survey_id, tmp_path)
        assert first.mode == "full"
        everything = _response_ids(first.export.path)
        new_ids = emulator.add_responses(survey_id, 5)
        second = await client.responses.export_incremental(survey_id, tmp_path)
        assert second.mode == "continuation"
        assert sorted(_response_ids(second.export.path)) == sorted(new_ids)
        third = await client.responses.export_incremental(survey_id, tmp_path)
        assert _response_ids(third.export.path) == []
    state = json.loads((tmp_path / f"{survey_id}.sync.json").read_bytes())
    assert state["runs"] == 3
    assert stat.S_IMODE((tmp_path / f"{survey_id}.sync.json").stat().st_mode) == 0o600
    assert set(everything).isdisjoint(new_ids)


async def test_incremental_falls_back_to_a_date_window_when_the_token_expired(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey_id = _survey(emulator, 3)["id"]
    async with make_client(emulator) as client:
        await client.responses.export_incremental(survey_id, tmp_path)
        new_ids = emulator.add_responses(survey_id, 4)
        emulator.expire_continuation_tokens()
        run = await client.responses.export_incremental(survey_id, tmp_path, overlap=0)
    assert run.mode == "window"
    assert run.may_repeat
    assert set(new_ids) <= set(_response_ids(run.export.path))  # nothing new skipped


async def test_incremental_state_is_not_saved_when_the_run_fails(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = _survey(emulator, 4)["id"]
    async with make_client(emulator) as client:
        await client.responses.export_incremental(survey_id, tmp_path)
        before = (tmp_path / f"{survey_id}.sync.json").read_bytes()
        new_ids = emulator.add_responses(survey_id, 3)
        emulator.fail_exports(survey_id, times=2)  # the first try and its one restart
        with pytest.raises(ExportFailedError):
            await client.responses.export_incremental(survey_id, tmp_path)
        assert (tmp_path / f"{survey_id}.sync.json").read_bytes() == before
        run = await client.responses.export_incremental(survey_id, tmp_path)
    assert sorted(_response_ids(run.export.path)) == sorted(new_ids)


async def test_incremental_refuses_options_it_manages(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="continuation_token"):
            await client.responses.export_incremental("SV_1", tmp_path, continuation_token="x")
    assert emulator.stats.requests == 0


def test_part_files_are_named_after_the_destination(tmp_path: Path) -> None:
    from qualtrics_async.exports._download import part_path

    assert part_path(tmp_path / "a.zip") == tmp_path / "a.zip.part"
    assert os.fspath(part_path(Path("x"))) == "x.part"


async def test_F6_ambiguous_export_start_is_repeated_because_an_export_creates_no_data(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    # A dropped connection after the POST was sent is ambiguous. Unlike an import, a duplicate
    # export job creates nothing and costs one request of the export budget, so the start is
    # sent again (imports are never re-posted blindly; see the bulk import).
    survey_id = _survey(emulator)["id"]
    emulator.inject("POST", "/surveys/*/export-responses", drop=True, times=1)
    async with make_client(emulator) as client:
        result = await client.responses.export(survey_id, tmp_path / "x.zip")
    assert result.size > 0
    assert emulator.stats.by_route[EXPORT_START] == 2


async def test_downloads_move_writes_to_a_thread_once_the_disk_is_slow(
    emulator: QualtricsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qualtrics_async.exports import _download

    monkeypatch.setattr(_download._FileWriter, "SLOW_WRITE", 0.0)  # every write counts as slow
    survey_id = emulator.add_survey("Slow disk", responses=3000, answer_size=1000)
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id, compress=False)
        await job.wait()
        first = await job.download(tmp_path / "threaded.csv")
        monkeypatch.setattr(_download._FileWriter, "SLOW_WRITE", 3600.0)  # never slow: all in the loop
        second = await job.download(tmp_path / "in-loop.csv")
    assert first.size == second.size > 2 * _download.FLUSH_SIZE
    assert (tmp_path / "threaded.csv").read_bytes() == (tmp_path / "in-loop.csv").read_bytes()


async def test_incremental_refuses_partial_exports_and_negative_overlap(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    async with make_client(emulator) as client:
        for options in ({"limit": 2}, {"end_date": "2030-01-01T00:00:00Z"}, {"export_responses_in_progress": True}):
            with pytest.raises(ConfigurationError, match="skipped"):
                await client.responses.export_incremental("SV_1", tmp_path, **options)
        with pytest.raises(ConfigurationError, match="overlap"):
            await client.responses.export_incremental("SV_1", tmp_path, overlap=-1)
    assert emulator.stats.requests == 0


async def test_incremental_runs_of_one_survey_never_overlap(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_id = _survey(emulator, 5)["id"]
    async with make_client(emulator) as client:
        outcomes: list[object] = []

        async def run() -> None:
            try:
                outcomes.append(await client.responses.export_incremental(survey_id, tmp_path))
            except ConfigurationError as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            group.start_soon(run)
    refused = [o for o in outcomes if isinstance(o, ConfigurationError)]
    assert len(refused) == 1
    assert "another incremental export" in str(refused[0])
    assert json.loads((tmp_path / f"{survey_id}.sync.json").read_bytes())["runs"] == 1


async def test_incremental_uses_a_date_window_once_the_token_is_a_week_old(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    survey_id = _survey(emulator, 6)["id"]
    state_file = tmp_path / f"{survey_id}.sync.json"
    async with make_client(emulator) as client:
        await client.responses.export_incremental(survey_id, tmp_path)
        state = json.loads(state_file.read_bytes())
        state["token_received_at"] -= 8 * 24 * 3600  # received eight days ago
        state_file.write_text(json.dumps(state))
        new_ids = emulator.add_responses(survey_id, 2)
        run = await client.responses.export_incremental(survey_id, tmp_path)
    assert run.mode == "window"
    assert run.may_repeat
    assert set(new_ids) <= set(_response_ids(run.export.path))
    starts = [t for t, m, p, s in emulator.stats.log if m == "POST"]
    assert len(starts) == 2  # straight to the window: the stale token was not even tried


async def test_F2_a_slow_poll_does_not_carry_the_wait_past_its_deadline(emulator: QualtricsEmulator) -> None:
    survey_id = _survey(emulator)["id"]
    emulator.set_export_duration(30.0)
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        emulator.inject("GET", "/surveys/*/export-responses/*", delay=8.0, times=5)
        started = time.monotonic()
        with pytest.raises(ExportTimeoutError):
            await job.wait(timeout=1.5)
    assert time.monotonic() - started < 4.0  # the deadline plus at most one poll's grace, not 8 s


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
async def test_a_bad_timeout_is_refused_before_the_export_starts(
    emulator: QualtricsEmulator, tmp_path: Path, timeout: float
) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="timeout"):
            await client.responses.export("SV_1", tmp_path / "x.zip", timeout=timeout)
        with pytest.raises(ConfigurationError, match="timeout"):
            [r async for r in client.responses.stream("SV_1", timeout=timeout)]
    assert emulator.stats.requests == 0


async def test_F1_an_unknown_job_status_is_an_error_not_an_endless_wait(emulator: QualtricsEmulator) -> None:
    survey_id = _survey(emulator)["id"]
    async with make_client(emulator) as client:
        job = await client.responses.start_export(survey_id)
        body = json.dumps({"result": {"status": "cancelled", "percentComplete": 10.0}, "meta": {"requestId": "r-1"}})
        emulator.inject("GET", "/surveys/*/export-responses/*", body=body.encode())
        with pytest.raises(ExportFailedError, match="unknown status 'cancelled'") as caught:
            await job.wait()
    assert caught.value.request_id == "r-1"
