"""The emulator's response-export routes checked against the fact sheet (qualtrics-api.md §6).

Plain aiohttp over loopback, never the project's client: the emulator stands in for
Qualtrics, so these tests pin what Qualtrics documents (or the emulator's documented
choices, see ``qualtrics_async/testing/_exports.py``), not what a client happens to do.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import time
import urllib.request
import uuid
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.etree import ElementTree

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from qualtrics_async.testing import EXPORT_FILES, ExportJobInfo, QualtricsEmulator
from qualtrics_async.testing._data import SHOWCASE_INDEX

Json = dict[str, Any]

PROGRESS_ID = re.compile(r"^ES_[A-Za-z0-9]{15}$")
RESPONSE_ID = re.compile(r"^R_[A-Za-z0-9]{15}$")
METADATA_COLUMNS = [
    "StartDate",
    "EndDate",
    "Status",
    "IPAddress",
    "Progress",
    "Duration (in seconds)",
    "Finished",
    "RecordedDate",
    "ResponseId",
]
TRICKY_NAME = 'Kundenumfrage: Q3 / 2024 — Zürich "pilot" 顧客'

pytestmark = pytest.mark.usefixtures("server_stays_quiet")


@pytest.fixture
def fast(emulator: QualtricsEmulator) -> QualtricsEmulator:
    """The shared ``emulator`` fixture with exports that complete at the first poll."""
    emulator.set_export_duration(0)
    return emulator


def auth(emu: QualtricsEmulator) -> dict[str, str]:
    return {"X-API-TOKEN": emu.api_token}


def exports_url(emu: QualtricsEmulator, survey_id: str) -> str:
    return f"{emu.api_url}/surveys/{survey_id}/export-responses"


def first_survey(emu: QualtricsEmulator) -> str:
    survey_id: str = emu.data.surveys[0]["id"]
    return survey_id


async def start(http: aiohttp.ClientSession, emu: QualtricsEmulator, survey_id: str, body: Any) -> tuple[int, Json]:
    async with http.post(exports_url(emu, survey_id), headers=auth(emu), json=body) as resp:
        payload: Json = await resp.json()
        return resp.status, payload


async def poll(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, survey_id: str, progress_id: str
) -> tuple[int, Json]:
    async with http.get(f"{exports_url(emu, survey_id)}/{progress_id}", headers=auth(emu)) as resp:
        payload: Json = await resp.json()
        return resp.status, payload


async def started(http: aiohttp.ClientSession, emu: QualtricsEmulator, survey_id: str, body: Json) -> str:
    status, payload = await start(http, emu, survey_id, body)
    assert status == 200, payload
    progress_id: str = payload["result"]["progressId"]
    return progress_id


async def finish(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, survey_id: str, progress_id: str, timeout: float = 20.0
) -> Json:
    """Poll until the job leaves ``inProgress``; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        status, payload = await poll(http, emu, survey_id, progress_id)
        assert status == 200, payload
        result: Json = payload["result"]
        if result["status"] != "inProgress":
            return result
        assert time.monotonic() < deadline, "export did not finish"
        await asyncio.sleep(0.02)


async def download(
    http: aiohttp.ClientSession,
    emu: QualtricsEmulator,
    survey_id: str,
    file_id: str,
    headers: dict[str, str] | None = None,
) -> tuple[int, CIMultiDictProxy[str], bytes]:
    async with http.get(
        f"{exports_url(emu, survey_id)}/{file_id}/file", headers={**auth(emu), **(headers or {})}
    ) as resp:
        return resp.status, resp.headers, await resp.read()


async def export(
    http: aiohttp.ClientSession, emu: QualtricsEmulator, survey_id: str, body: Json
) -> tuple[Json, bytes, CIMultiDictProxy[str]]:
    """Start, poll and download one export: (last progress result, file bytes, headers)."""
    progress_id = await started(http, emu, survey_id, body)
    result = await finish(http, emu, survey_id, progress_id)
    assert result["status"] == "complete", result
    status, headers, data = await download(http, emu, survey_id, result["fileId"])
    assert status == 200
    return result, data, headers


def unzip(data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
        return info, archive.read(info)


def csv_rows(text: bytes, delimiter: str = ",", *, bom: bool = False) -> list[list[str]]:
    """The rows of an export file; recorded current exports have no BOM (``bom``: the older format)."""
    assert text.startswith(b"\xef\xbb\xbf") == bom, "UTF-8 BOM" if bom else "no UTF-8 BOM"
    return list(csv.reader(io.StringIO(text.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def assert_error(body: Json, status: int, *mentions: str) -> None:
    meta = body["meta"]
    assert meta["httpStatus"].startswith(f"{status} - ")
    assert uuid.UUID(meta["requestId"]).version == 4
    assert meta["error"]["errorCode"]
    for mention in mentions:
        assert mention in meta["error"]["errorMessage"], (mention, meta["error"]["errorMessage"])
    assert "result" not in body


# --- the flow ---------------------------------------------------------------------------------


async def test_start_poll_complete_and_download(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(emulator)
    emulator.set_export_duration(0.3, survey_id)
    status, body = await start(http, emulator, survey_id, {"format": "csv"})
    assert status == 200
    assert body["meta"]["httpStatus"] == "200 - OK"
    result = body["result"]
    assert set(result) == {"progressId", "percentComplete", "status"}
    assert PROGRESS_ID.match(result["progressId"])
    assert (result["percentComplete"], result["status"]) == (0.0, "inProgress")

    status, body = await poll(http, emulator, survey_id, result["progressId"])
    assert status == 200
    assert body["result"]["status"] == "inProgress"
    assert "fileId" not in body["result"]
    done = await finish(http, emulator, survey_id, result["progressId"])
    assert done["status"] == "complete"
    assert done["percentComplete"] == 100.0
    assert isinstance(done["fileId"], str)
    assert done["fileId"]
    assert "continuationToken" not in done  # only with allowContinuation / continuationToken

    status, headers, data = await download(http, emulator, survey_id, done["fileId"])
    assert status == 200
    assert headers["Content-Type"] == "application/zip"
    assert int(headers["Content-Length"]) == len(data)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"].startswith('"')
    _info, member = unzip(data)
    assert len(csv_rows(member)) == 3 + emulator.response_count(survey_id)

    # The published rate-limit rows key the three routes (qualtrics-api.md §4.2).
    assert emulator.stats.by_route["POST /surveys/{surveyId}/export-responses"] == 1
    assert emulator.stats.by_route["GET /surveys/{surveyId}/export-responses/{exportProgressId}"] >= 2
    assert emulator.stats.by_route["GET /surveys/{surveyId}/export-responses/{fileId}/file"] == 1
    (job,) = emulator.export_jobs
    assert isinstance(job, ExportJobInfo)
    assert (job.progress_id, job.survey_id, job.status, job.file_id) == (
        result["progressId"],
        survey_id,
        "complete",
        done["fileId"],
    )
    assert job.params == {"format": "csv"}
    stats = emulator.export_stats
    assert (stats.jobs_started, stats.jobs_completed, stats.files_built, stats.downloads) == (1, 1, 1, 1)


async def test_percent_complete_advances_steadily(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(emulator)
    emulator.set_export_duration(1.0)
    progress_id = await started(http, emulator, survey_id, {"format": "json"})
    seen: list[float] = []
    while True:
        _status, body = await poll(http, emulator, survey_id, progress_id)
        result = body["result"]
        seen.append(result["percentComplete"])
        if result["status"] == "complete":
            break
        assert result["percentComplete"] < 100.0
        assert "fileId" not in result
        await asyncio.sleep(0.04)
    assert all(isinstance(p, float) for p in seen)
    assert seen == sorted(seen), "percentComplete never goes back"
    assert seen[-1] == 100.0
    assert seen.count(100.0) == 1
    assert len(set(seen)) >= 6, seen  # several intermediate steps, not 0 then 100


async def test_default_duration_scales_with_responses() -> None:
    async with QualtricsEmulator(rate_limits=None, export_seconds=2.0) as emu, aiohttp.ClientSession() as http:
        big = emu.add_survey("Many", responses=5_000)
        await started(http, emu, big, {"format": "csv"})
        await started(http, emu, first_survey(emu), {"format": "csv"})
        many, few = emu.export_jobs
        assert many.duration == pytest.approx(2.0 * 1.5)
        assert few.duration == pytest.approx(2.0 * (1 + emu.response_count(first_survey(emu)) / 10_000))


# --- validation --------------------------------------------------------------------------------

UUID_TEXT = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({}, ["'format'"]),
        ({"Format": "csv"}, ["'Format'", "case-sensitive", "'format'"]),
        ({"format": "CSV"}, ["'format'", "csv, tsv, json, ndjson, spss, xml"]),
        ({"format": "pdf"}, ["'format'"]),
        ({"format": 1}, ["'format'"]),
        ({"format": "csv", "compress": "true"}, ["'compress'", "boolean"]),
        ({"format": "csv", "limit": 0}, ["'limit'"]),
        ({"format": "csv", "limit": "10"}, ["'limit'", "integer"]),
        ({"format": "csv", "limit": 1.5}, ["'limit'"]),
        ({"format": "csv", "limit": None}, ["'limit'"]),
        ({"format": "csv", "seenUnansweredRecode": True}, ["'seenUnansweredRecode'"]),
        ({"format": "csv", "startDate": "2024-01-01"}, ["'startDate'"]),
        ({"format": "csv", "startDate": "2024-01-01T00:00:00"}, ["'startDate'"]),
        ({"format": "csv", "endDate": "2024-01-01T00:00:00-0700"}, ["'endDate'"]),
        (
            {"format": "csv", "startDate": "2024-02-01T00:00:00Z", "endDate": "2024-01-01T00:00:00Z"},
            ["'startDate'", "'endDate'"],
        ),
        ({"format": "csv", "questionIds": "QID1"}, ["'questionIds'", "array"]),
        ({"format": "csv", "questionIds": ["QID1_TEXT"]}, ["'questionIds'", "QID1_TEXT"]),
        ({"format": "csv", "questionIds": ["QID99"]}, ["'questionIds'", "QID99"]),
        ({"format": "csv", "embeddedDataIds": ["nope"]}, ["'embeddedDataIds'"]),
        ({"format": "csv", "surveyMetadataIds": ["shoeSize"]}, ["'surveyMetadataIds'", "shoeSize"]),
        ({"format": "csv", "timeZone": "Mars/Olympus_Mons"}, ["'timeZone'"]),
        ({"format": "json", "useLabels": False}, ["'useLabels'", "json"]),
        ({"format": "ndjson", "timeZone": "UTC"}, ["'timeZone'", "ndjson"]),
        (
            {"format": "json", "breakoutSets": True, "newlineReplacement": " "},
            ["'newlineReplacement'", "'breakoutSets'"],
        ),
        ({"format": "csv", "filterId": UUID_TEXT, "sortByLastModifiedDate": True}, ["filterId", "sortByLastModified"]),
        ({"format": "csv", "filterId": UUID_TEXT, "allowContinuation": True}, ["filterId", "allowContinuation"]),
        ({"format": "csv", "filterId": "my filter"}, ["'filterId'"]),
        ({"format": "csv", "useLabels": True, "includeLabelColumns": True}, ["useLabels", "includeLabelColumns"]),
        (
            {"format": "csv", "continuationToken": "abc", "allowContinuation": True},
            ["continuationToken", "allowContinuation"],
        ),
        ({"format": "csv", "continuationToken": "garbage"}, ["'continuationToken'"]),
        ({"format": "csv", "continuationToken": ""}, ["'continuationToken'"]),
        ([{"format": "csv"}], ["JSON object"]),
    ],
)
async def test_invalid_bodies_answer_400_naming_the_parameter(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession, body: Any, mentions: list[str]
) -> None:
    status, payload = await start(http, emulator, first_survey(emulator), body)
    assert status == 400, payload
    assert_error(payload, 400, *mentions)
    assert emulator.export_stats.jobs_started == 0
    assert emulator.export_jobs == []


async def test_malformed_json_and_unknown_survey(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    url = exports_url(emulator, first_survey(emulator))
    headers = {**auth(emulator), "Content-Type": "application/json"}
    for raw in (b'{"format": "csv"', b"", b"format=csv"):
        async with http.post(url, headers=headers, data=raw) as resp:
            assert resp.status == 400
            assert_error(await resp.json(), 400)
    status, payload = await start(http, emulator, "SV_doesNotExist0000", {"format": "csv"})
    assert status == 404
    assert_error(payload, 404, "SV_doesNotExist0000")


async def test_every_format_and_option_is_accepted(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    full: Json = {
        "format": "csv",
        "compress": False,
        "startDate": "2000-01-01T00:00:00.000Z",
        "endDate": "2100-01-01T00:00:00+02:00",
        "limit": 1000,
        "useLabels": True,
        "seenUnansweredRecode": -99,
        "multiselectSeenUnansweredRecode": -98,
        "includeDisplayOrder": True,
        "formatDecimalAsComma": True,
        "timeZone": "America/Denver",
        "newlineReplacement": " / ",
        "breakoutSets": False,
        "questionIds": ["QID1"],
        "embeddedDataIds": ["source"],
        "surveyMetadataIds": ["recordedDate", "_recordId"],
        "exportResponsesInProgress": False,
        "sortByLastModifiedDate": True,
        "allowContinuation": True,
    }
    _result, data, headers = await export(http, fast, survey_id, full)
    assert headers["Content-Type"] == "application/csv"
    names, _labels, imports = csv_rows(data)[:3]
    assert names[:3] == ["RecordedDate", "ResponseId", "LastModifiedDate"]
    assert json.loads(imports[0]) == {"ImportId": "recordedDate", "timeZone": "America/Denver"}
    for fmt in ("tsv", "json", "ndjson", "spss", "xml"):
        await export(http, fast, survey_id, {"format": fmt, "includeLabelColumns": True, "filterId": UUID_TEXT})


# --- failed, stalled, expired ------------------------------------------------------------------


async def test_failed_export(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    fast.fail_exports(survey_id)
    progress_id = await started(http, fast, survey_id, {"format": "csv"})
    result = await finish(http, fast, survey_id, progress_id)
    assert result["status"] == "failed"
    assert "fileId" not in result
    assert result["percentComplete"] < 100.0
    assert set(result["error"]) == {"errorCode", "errorMessage"}
    assert result["error"]["errorMessage"]
    # Failed stays failed; the next export is normal again.
    assert (await poll(http, fast, survey_id, progress_id))[1]["result"]["status"] == "failed"
    await export(http, fast, survey_id, {"format": "csv"})
    assert [job.outcome for job in fast.export_jobs] == ["fail", "normal"]
    assert (fast.export_stats.jobs_failed, fast.export_stats.jobs_completed) == (1, 1)


async def test_fail_exports_targets_a_survey(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    one, two = first_survey(fast), fast.data.surveys[1]["id"]
    fast.fail_exports(two, times=2)
    assert (await finish(http, fast, one, await started(http, fast, one, {"format": "csv"})))["status"] == "complete"
    for _ in range(2):
        result = await finish(http, fast, two, await started(http, fast, two, {"format": "csv"}))
        assert result["status"] == "failed"
    assert (await finish(http, fast, two, await started(http, fast, two, {"format": "csv"})))["status"] == "complete"


async def test_stalled_export(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(emulator)
    emulator.set_export_duration(0.1)
    emulator.stall_exports()
    progress_id = await started(http, emulator, survey_id, {"format": "csv"})
    percents = []
    for _ in range(10):
        await asyncio.sleep(0.05)
        _status, body = await poll(http, emulator, survey_id, progress_id)
        assert body["result"]["status"] == "inProgress"
        assert "fileId" not in body["result"]
        percents.append(body["result"]["percentComplete"])
    assert 0.0 < percents[-1] < 100.0
    assert percents[-1] == percents[-4], "stuck"
    assert emulator.export_jobs[0].outcome == "stall"


async def test_unknown_and_expired_ids_answer_404(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id, other = first_survey(fast), fast.data.surveys[1]["id"]
    result, _data, _headers = await export(http, fast, survey_id, {"format": "csv"})
    progress_id = fast.export_jobs[0].progress_id
    status, body = await poll(http, fast, survey_id, "ES_000000000000000")
    assert status == 404
    assert_error(body, 404, "ES_000000000000000")
    assert (await poll(http, fast, other, progress_id))[0] == 404  # wrong survey
    status, _h, raw = await download(http, fast, survey_id, str(uuid.uuid4()))
    assert status == 404
    assert_error(json.loads(raw), 404)
    assert (await download(http, fast, other, result["fileId"]))[0] == 404

    fast.expire_export_files()
    status, _h, raw = await download(http, fast, survey_id, result["fileId"])
    assert status == 404
    assert_error(json.loads(raw), 404, "expired")
    assert (await poll(http, fast, survey_id, progress_id))[0] == 200
    fast.expire_export_jobs()
    assert (await poll(http, fast, survey_id, progress_id))[0] == 404


async def test_file_ttl_option(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator(rate_limits=None, export_seconds=0, file_ttl=0.3) as emu:
        survey_id = first_survey(emu)
        result, _data, _headers = await export(http, emu, survey_id, {"format": "json"})
        await asyncio.sleep(0.4)
        assert (await download(http, emu, survey_id, result["fileId"]))[0] == 404
        assert (await poll(http, emu, survey_id, emu.export_jobs[0].progress_id))[0] == 404


# --- file layout ---------------------------------------------------------------------------------


async def test_zip_holds_one_member_named_after_the_survey(
    fast: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    survey_id = fast.add_survey(TRICKY_NAME, responses=3)
    for fmt in ("csv", "json", "xml"):
        _result, data, headers = await export(http, fast, survey_id, {"format": fmt})
        assert headers["Content-Type"] == "application/zip"
        info, member = unzip(data)
        assert info.filename == f"{TRICKY_NAME}.{fmt}"  # verbatim: "/", ":", quotes and unicode
        assert info.flag_bits & 0x800  # UTF-8 name
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.file_size == len(member)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None
    # The seeded data has such names too (the first survey's name holds "/" and ":").
    seeded = fast.data.surveys[0]["name"]
    assert "/" in seeded
    assert ":" in seeded
    _result, data, _headers = await export(http, fast, first_survey(fast), {"format": "tsv"})
    assert unzip(data)[0].filename == f"{seeded}.tsv"


async def test_csv_has_three_header_rows_and_parses(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey("Tricky answers", responses=150)
    detail = fast.data.survey_details[survey_id]
    _result, data, _headers = await export(http, fast, survey_id, {"format": "csv", "compress": False})
    assert data.count(b"\r\n") >= 153
    rows = csv_rows(data)
    names, labels, imports = rows[:3]
    assert names[: len(METADATA_COLUMNS)] == METADATA_COLUMNS
    assert labels[:3] == ["Start Date", "End Date", "Response Type"]
    tags = list(detail["exportColumnMap"])
    assert names[-len(tags) - 1 : -1] == tags  # question export tags, then embedded data
    assert names[-1] == "source"
    import_ids = [json.loads(cell) for cell in imports]
    assert import_ids[0] == {"ImportId": "startDate", "timeZone": "UTC"}
    assert {"ImportId": "_recordId"} in import_ids
    question_imports = [i["ImportId"] for i in import_ids[-len(tags) - 1 : -1]]
    assert all(i.startswith("QID") for i in question_imports)
    responses = rows[3:]
    assert len(responses) == 150 == fast.response_count(survey_id)
    assert all(len(row) == len(names) for row in responses)
    response_ids = [row[names.index("ResponseId")] for row in responses]
    assert all(RESPONSE_ID.match(r) for r in response_ids)
    assert len(set(response_ids)) == 150
    recorded = [row[names.index("RecordedDate")] for row in responses]
    assert recorded == sorted(recorded)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", r) for r in recorded)
    cells = {cell for row in responses for cell in row}
    # Answers that exercise a parser: separators, quotes, line breaks, unicode survive the round trip.
    assert {"Line one\nLine two", 'She said "wow" twice', "Great service, thanks!", "Zoë — très bien ☕"} <= cells

    _result, data, _headers = await export(http, fast, survey_id, {"format": "tsv", "compress": False})
    tsv = csv_rows(data, delimiter="\t")
    assert tsv[0] == names
    assert len(tsv) == 153
    assert "semicolon; and a\ttab" in {cell for row in tsv for cell in row}


async def test_export_is_deterministic(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    _r, one, _h = await export(http, fast, survey_id, {"format": "json", "compress": False})
    _r, two, _h = await export(http, fast, survey_id, {"format": "json", "compress": False})
    assert one == two
    async with QualtricsEmulator(seed=1, rate_limits=None, export_seconds=0) as twin:
        assert first_survey(twin) == survey_id
        _r, three, _h = await export(http, twin, survey_id, {"format": "json", "compress": False})
    assert json.loads(three) == json.loads(one)


async def test_json_and_ndjson_shapes(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    count = fast.response_count(survey_id)
    assert fast.data.survey_details[survey_id]["responseCounts"]["auditable"] == count
    _result, data, headers = await export(http, fast, survey_id, {"format": "json", "compress": False})
    assert headers["Content-Type"] == "application/json"
    document = json.loads(data)
    assert list(document) == ["responses"]
    responses = document["responses"]
    assert len(responses) == count
    for response in responses:
        assert set(response) == {"responseId", "values", "labels", "displayedFields", "displayedValues"}
        assert RESPONSE_ID.match(response["responseId"])
        values = response["values"]
        assert values["_recordId"] == response["responseId"]
        assert datetime.fromisoformat(values["recordedDate"].replace("Z", "+00:00")).tzinfo is not None
        assert isinstance(values["status"], int)
        assert isinstance(values["duration"], int)
        assert values["finished"] in (0, 1)
        assert all(key in values or key not in response["labels"] for key in response["displayedFields"])
        assert "source" in values
    question_keys = {key for r in responses for key in r["values"] if key.startswith("QID")}
    assert question_keys

    _result, lines, headers = await export(http, fast, survey_id, {"format": "ndjson", "compress": False})
    assert headers["Content-Type"] == "application/octet-stream"
    assert lines.endswith(b"\n")
    parsed = [json.loads(line) for line in lines.splitlines()]
    assert parsed == responses


async def test_xml_and_spss(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    _result, data, headers = await export(http, fast, survey_id, {"format": "xml", "compress": False})
    assert headers["Content-Type"] == "application/xml"
    root = ElementTree.fromstring(data)
    assert root.tag == "Responses"
    assert len(root) == fast.response_count(survey_id)
    assert all(RESPONSE_ID.match(r.findtext("_recordId") or "") for r in root)
    _result, data, headers = await export(http, fast, survey_id, {"format": "spss", "compress": False})
    assert headers["Content-Type"] == "application/octet-stream"
    assert data.startswith(b"$FL2")


async def test_labels_and_column_subsets(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    detail = fast.data.survey_details[survey_id]
    _r, data, _h = await export(http, fast, survey_id, {"format": "csv", "compress": False, "useLabels": True})
    rows = csv_rows(data)
    status = {row[rows[0].index("Status")] for row in rows[3:]}
    assert status <= {"IP Address", "Survey Preview", "Survey Test", "Imported", "Offline"}
    assert {row[rows[0].index("Finished")] for row in rows[3:]} <= {"True", "False"}
    choice_texts = {c["choiceText"] for q in detail["questions"].values() for c in q.get("choices", {}).values()}
    choice_tags = [t for t, info in detail["exportColumnMap"].items() if not t.endswith("_TEXT")]
    labelled = {row[rows[0].index(tag)] for tag in choice_tags for row in rows[3:]}
    assert labelled - {""} <= choice_texts

    body: Json = {
        "format": "csv",
        "compress": False,
        "questionIds": ["QID1"],
        "surveyMetadataIds": ["recordedDate", "_recordId"],
        "embeddedDataIds": [],
    }
    _r, data, _h = await export(http, fast, survey_id, body)
    names = csv_rows(data)[0]
    qid1_tags = [tag for tag, info in detail["exportColumnMap"].items() if info["question"] == "QID1"]
    assert names == ["RecordedDate", "ResponseId", *qid1_tags]


async def test_date_window_is_inclusive_then_exclusive(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    _r, data, _h = await export(http, fast, survey_id, {"format": "json", "compress": False})
    everything = json.loads(data)["responses"]
    recorded = sorted(r["values"]["recordedDate"] for r in everything)
    assert len(set(recorded)) == len(recorded)
    pivot = recorded[len(recorded) // 2]

    async def window(**dates: str) -> list[str]:
        _r, raw, _h = await export(http, fast, survey_id, {"format": "json", "compress": False, **dates})
        return [r["values"]["recordedDate"] for r in json.loads(raw)["responses"]]

    assert await window(startDate=pivot) == [d for d in recorded if d >= pivot]  # inclusive
    assert await window(endDate=pivot) == [d for d in recorded if d < pivot]  # exclusive
    # The same instant written with another offset (qualtrics-api.md §5.1: explicit zone, "+02:00").
    plus_two = datetime.fromisoformat(pivot.replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=2)))
    assert await window(startDate=plus_two.isoformat(timespec="milliseconds")) == [d for d in recorded if d >= pivot]
    _r, raw, _h = await export(http, fast, survey_id, {"format": "json", "compress": False, "limit": 3})
    assert [r["values"]["recordedDate"] for r in json.loads(raw)["responses"]] == recorded[:3]


async def test_sort_by_last_modified_date(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey("Edited", responses=60)
    body: Json = {"format": "csv", "compress": False, "sortByLastModifiedDate": True}
    _r, data, _h = await export(http, fast, survey_id, body)
    rows = csv_rows(data)
    assert "LastModifiedDate" in rows[0]
    modified = [row[rows[0].index("LastModifiedDate")] for row in rows[3:]]
    recorded = [row[rows[0].index("RecordedDate")] for row in rows[3:]]
    assert modified == sorted(modified)
    assert all(m >= r for m, r in zip(modified, recorded, strict=True))
    assert modified != recorded  # some responses were edited after they were recorded
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert max(modified) <= now


async def test_in_progress_responses_export_no_rows(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    body: Json = {"format": "csv", "compress": False, "exportResponsesInProgress": True}
    _r, data, _h = await export(http, fast, survey_id, body)
    assert len(csv_rows(data)) == 3


# --- continuation ----------------------------------------------------------------------------------


async def test_continuation_returns_only_new_responses(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    before = fast.response_count(survey_id)
    result, data, _h = await export(http, fast, survey_id, {"format": "json", "allowContinuation": True})
    token = result["continuationToken"]
    assert isinstance(token, str)
    assert token
    first_ids = [r["responseId"] for r in json.loads(unzip(data)[1])["responses"]]
    assert len(first_ids) == before

    # Nothing new yet: an empty export and a fresh token.
    result, data, _h = await export(http, fast, survey_id, {"format": "json", "continuationToken": token})
    assert json.loads(unzip(data)[1])["responses"] == []
    assert result["continuationToken"]

    new_ids = fast.add_responses(survey_id, 3)
    assert len(set(new_ids)) == 3
    assert not set(new_ids) & set(first_ids)
    assert fast.response_count(survey_id) == before + 3
    result, data, _h = await export(http, fast, survey_id, {"format": "json", "continuationToken": token})
    new = json.loads(unzip(data)[1])["responses"]
    assert [r["responseId"] for r in new] == new_ids
    recorded = datetime.fromisoformat(new[0]["values"]["recordedDate"].replace("Z", "+00:00"))
    assert abs(recorded - datetime.now(UTC)) < timedelta(minutes=1)

    # Chain on: the token from that export sees only what changes afterwards (an edit here).
    token = result["continuationToken"]
    fast.modify_responses(survey_id, [first_ids[0]])
    backdated = fast.add_responses(survey_id, 1, recorded_at=datetime(2020, 1, 1, tzinfo=UTC))
    result, data, _h = await export(http, fast, survey_id, {"format": "json", "continuationToken": token})
    assert [r["responseId"] for r in json.loads(unzip(data)[1])["responses"]] == [*backdated, first_ids[0]]

    # A full export sees everything.
    _r, data, _h = await export(http, fast, survey_id, {"format": "json", "compress": False})
    assert len(json.loads(data)["responses"]) == before + 4


async def test_bad_and_expired_continuation_tokens(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id, other = first_survey(fast), fast.data.surveys[1]["id"]
    result, _data, _h = await export(http, fast, survey_id, {"format": "csv", "allowContinuation": True})
    token = result["continuationToken"]
    status, body = await start(http, fast, other, {"format": "csv", "continuationToken": token})
    assert status == 400
    assert_error(body, 400, "'continuationToken'", "another survey")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    status, body = await start(http, fast, survey_id, {"format": "csv", "continuationToken": tampered})
    assert status == 400
    fast.expire_continuation_tokens()
    status, body = await start(http, fast, survey_id, {"format": "csv", "continuationToken": token})
    assert status == 400
    assert_error(body, 400, "'continuationToken'", "expired")


# --- downloads: ranges, faults --------------------------------------------------------------------


async def test_range_and_if_range(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    result, full, headers = await export(http, fast, survey_id, {"format": "csv"})
    file_id, etag, size = result["fileId"], headers["ETag"], len(full)

    status, h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=100-"})
    assert status == 206
    assert h["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    assert int(h["Content-Length"]) == size - 100
    assert full[:100] + part == full
    status, h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=5-9"})
    assert (status, part, h["Content-Range"]) == (206, full[5:10], f"bytes 5-9/{size}")
    status, h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=-4"})
    assert (status, part) == (206, full[-4:])
    status, h, part = await download(http, fast, survey_id, file_id, {"Range": f"bytes=10-{size + 50}"})
    assert (status, part) == (206, full[10:])

    # If-Range: the same validator resumes; another one gets the whole file again.
    status, _h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=7-", "If-Range": etag})
    assert (status, part) == (206, full[7:])
    status, h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=7-", "If-Range": '"other"'})
    assert (status, part) == (200, full)
    assert "Content-Range" not in h
    modified = headers["Last-Modified"]
    status, _h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=7-", "If-Range": modified})
    assert (status, part) == (206, full[7:])
    status, _h, part = await download(http, fast, survey_id, file_id, {"Range": "bytes=7-", "If-Range": "W/" + etag})
    assert status == 200

    # Unsatisfiable -> 416; malformed or several ranges -> ignored.
    status, h, raw = await download(http, fast, survey_id, file_id, {"Range": f"bytes={size}-"})
    assert status == 416
    assert h["Content-Range"] == f"bytes */{size}"
    assert_error(json.loads(raw), 416)
    for ignored in ("bytes=0-1,5-6", "items=0-3", "bytes=9-3"):
        status, _h, part = await download(http, fast, survey_id, file_id, {"Range": ignored})
        assert (status, part) == (200, full), ignored
    assert fast.export_stats.partial_downloads == 6


async def read_until_dropped(resp: aiohttp.ClientResponse) -> bytes:
    """The body bytes that arrived before the connection closed early (which it must)."""
    received = bytearray()
    try:
        async for chunk in resp.content.iter_any():
            received += chunk
    except aiohttp.ClientPayloadError:
        return bytes(received)
    raise AssertionError(f"the whole body arrived ({len(received)} bytes)")


async def test_drop_download_mid_body_then_resume(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey("Resumable", responses=800)
    result, full, headers = await export(http, fast, survey_id, {"format": "csv", "compress": False})
    assert len(full) > 100_000
    fault = fast.drop_download(50_000)
    url = f"{exports_url(fast, survey_id)}/{result['fileId']}/file"
    async with http.get(url, headers=auth(fast)) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == len(full)  # announced in full
        received = await read_until_dropped(resp)
    assert fault.fired == 1
    assert received == full[:50_000]
    resume = {"Range": f"bytes={len(received)}-", "If-Range": headers["ETag"]}
    status, _h, rest = await download(http, fast, survey_id, result["fileId"], resume)
    assert status == 206
    assert received + rest == full


async def test_drop_download_on_a_big_streamed_file(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey("Big enough to stream", responses=300, answer_size=10_000)
    result, full, _headers = await export(http, fast, survey_id, {"format": "csv", "compress": False})
    assert len(full) > 3_000_000
    fast.drop_download(2_000_000)
    async with http.get(f"{exports_url(fast, survey_id)}/{result['fileId']}/file", headers=auth(fast)) as resp:
        received = await read_until_dropped(resp)
    assert received == full[:2_000_000]


async def test_corrupt_download_fails_the_crc_check(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey(TRICKY_NAME, responses=40)
    result, good, _headers = await export(http, fast, survey_id, {"format": "csv"})
    fast.corrupt_download()
    status, _h, bad = await download(http, fast, survey_id, result["fileId"])
    assert status == 200
    assert len(bad) == len(good)
    assert bad != good
    assert sum(a != b for a, b in zip(bad, good, strict=True)) == 1
    with zipfile.ZipFile(io.BytesIO(bad)) as archive:
        assert archive.testzip() == f"{TRICKY_NAME}.csv"
    status, _h, again = await download(http, fast, survey_id, result["fileId"])
    assert again == good
    assert fast.export_stats.corrupted_downloads == 1


async def test_ignore_range(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    result, full, _headers = await export(http, fast, survey_id, {"format": "csv"})
    fast.ignore_range()
    status, h, body = await download(http, fast, survey_id, result["fileId"], {"Range": "bytes=10-"})
    assert (status, body) == (200, full)
    assert "Content-Range" not in h
    status, _h, body = await download(http, fast, survey_id, result["fileId"], {"Range": "bytes=10-"})
    assert (status, body) == (206, full[10:])
    assert fast.export_stats.ranges_ignored == 1


async def test_injected_faults_apply_to_every_export_route(
    fast: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    survey_id = first_survey(fast)
    result, full, _headers = await export(http, fast, survey_id, {"format": "csv"})
    fast.inject("GET", EXPORT_FILES, status=503, retry_after="2")
    status, h, raw = await download(http, fast, survey_id, result["fileId"])
    assert (status, h["Retry-After"]) == (503, "2")
    assert_error(json.loads(raw), 503)
    fast.inject("GET", EXPORT_FILES, truncate=True)
    async with http.get(f"{exports_url(fast, survey_id)}/{result['fileId']}/file", headers=auth(fast)) as resp:
        assert await read_until_dropped(resp) == full[: len(full) // 2]
    fast.inject("POST", "/surveys/*/export-responses", status=500)
    assert (await start(http, fast, survey_id, {"format": "csv"}))[0] == 500
    fast.inject("GET", "/surveys/*/export-responses/ES_*", status=429)
    progress_id = await started(http, fast, survey_id, {"format": "csv"})
    assert (await poll(http, fast, survey_id, progress_id))[0] == 429
    assert (await poll(http, fast, survey_id, progress_id))[0] == 200


def test_drop_after_is_validated() -> None:
    emu = QualtricsEmulator(rate_limits=None)
    options: list[dict[str, Any]] = [
        {"drop_after": -1},
        {"drop_after": 5, "truncate": True},
        {"drop_after": 5, "drop": True},
    ]
    for option in options:
        with pytest.raises(ValueError, match=r"."):
            emu.inject(**option)
    for bad in (lambda: emu.fail_exports(times=0), lambda: emu.add_responses("SV_nope", 1)):
        with pytest.raises(ValueError, match=r"."):
            bad()


# --- surveys, scale, scopes, threads ------------------------------------------------------------


async def test_added_survey_is_listed_and_described(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey(TRICKY_NAME, responses=7, answer_size=50)
    assert re.fullmatch(r"SV_[A-Za-z0-9]{15}", survey_id)
    names: dict[str, str] = {}
    url: str | None = f"{fast.api_url}/surveys"
    while url is not None:
        async with http.get(url, headers=auth(fast)) as resp:
            page = (await resp.json())["result"]
        names.update({s["id"]: s["name"] for s in page["elements"]})
        url = page["nextPage"]
    assert names[survey_id] == TRICKY_NAME
    async with http.get(f"{fast.api_url}/surveys/{survey_id}", headers=auth(fast)) as resp:
        detail = (await resp.json())["result"]
    assert detail["name"] == TRICKY_NAME
    assert detail["responseCounts"]["auditable"] == 7
    _r, data, _h = await export(http, fast, survey_id, {"format": "json", "compress": False})
    long_answers = [v for r in json.loads(data)["responses"] for k, v in r["values"].items() if k.endswith("_TEXT")]
    assert any(isinstance(v, str) and len(v) == 50 for v in long_answers)


async def test_a_20_mb_export_builds_fast(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = fast.add_survey("Big: 20 MB / export", responses=2_000, answer_size=10_000)
    began = time.monotonic()
    _result, data, headers = await export(http, fast, survey_id, {"format": "csv", "compress": False})
    elapsed = time.monotonic() - began
    assert len(data) > 20_000_000
    assert int(headers["Content-Length"]) == len(data)
    assert elapsed < 5.0, f"20 MB took {elapsed:.1f} s"
    rows = csv_rows(data)
    assert len(rows) == 3 + 2_000
    assert len(max(rows[3], key=len)) == 10_000
    (job,) = fast.export_jobs
    assert job.rows == 2_000

    began = time.monotonic()
    _result, data, _headers = await export(http, fast, survey_id, {"format": "csv"})
    assert time.monotonic() - began < 5.0
    info, member = unzip(data)
    assert info.file_size == len(member) > 20_000_000
    assert len(data) < len(member) / 2  # compressed


async def test_oauth_read_scope_is_enough_to_export(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator(rate_limits=None, export_seconds=0, oauth_scopes=["read:survey_responses"]) as emu:
        credentials = base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode()).decode()
        basic = {"Authorization": f"Basic {credentials}"}
        async with http.post(emu.token_url, headers=basic, data={"grant_type": "client_credentials"}) as resp:
            token = (await resp.json())["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        survey_id = first_survey(emu)
        async with http.post(exports_url(emu, survey_id), headers=bearer, json={"format": "csv"}) as resp:
            assert resp.status == 200
            progress_id = (await resp.json())["result"]["progressId"]
        async with http.get(f"{exports_url(emu, survey_id)}/{progress_id}", headers=bearer) as resp:
            file_id = (await resp.json())["result"]["fileId"]
        async with http.get(f"{exports_url(emu, survey_id)}/{file_id}/file", headers=bearer) as resp:
            assert resp.status == 200
        async with http.get(f"{emu.api_url}/surveys", headers=bearer) as resp:
            assert resp.status == 403  # read:surveys is another family


def test_controls_from_another_thread() -> None:
    with QualtricsEmulator.in_thread(rate_limits=None, export_seconds=0) as emu:
        survey_id = first_survey(emu)
        new_ids = emu.add_responses(survey_id, 2)
        headers = {"X-API-TOKEN": emu.api_token, "Content-Type": "application/json"}
        body = json.dumps({"format": "ndjson", "compress": False, "limit": 1000}).encode()
        request = urllib.request.Request(exports_url(emu, survey_id), data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=5) as resp:
            progress_id = json.load(resp)["result"]["progressId"]
        request = urllib.request.Request(f"{exports_url(emu, survey_id)}/{progress_id}", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as resp:
            file_id = json.load(resp)["result"]["fileId"]
        request = urllib.request.Request(f"{exports_url(emu, survey_id)}/{file_id}/file", headers=headers)
        with urllib.request.urlopen(request, timeout=5) as resp:
            lines = resp.read().splitlines()
        assert [json.loads(line)["responseId"] for line in lines[-2:]] == new_ids
        assert emu.export_stats.jobs_completed == 1


async def test_exports_over_the_size_limit_fail(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator(rate_limits=None, export_seconds=0, export_max_bytes=50_000) as emu:
        small = first_survey(emu)
        big = emu.add_survey("Too big", responses=100, answer_size=1_000)
        result = await finish(http, emu, big, await started(http, emu, big, {"format": "csv"}))
        assert result["status"] == "failed"
        assert "1.8 GB" in result["error"]["errorMessage"]
        assert "fileId" not in result
        assert (await finish(http, emu, small, await started(http, emu, small, {"format": "csv"})))["fileId"]


async def test_csv_bom_is_an_option_for_the_older_format(fast: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = first_survey(fast)
    _result, plain, _headers = await export(http, fast, survey_id, {"format": "csv", "compress": False})
    fast.csv_bom = True
    _result, with_bom, _headers = await export(http, fast, survey_id, {"format": "tsv", "compress": False})
    assert csv_rows(plain)[0] == csv_rows(with_bom, "\t", bom=True)[0]
    async with QualtricsEmulator(rate_limits=None, csv_bom=True, export_seconds=0) as emu:
        _result, data, _headers = await export(http, emu, first_survey(emu), {"format": "csv", "compress": False})
        assert data.startswith(b"\xef\xbb\xbf")


async def test_timing_meta_and_multiple_answer_columns_are_named_as_recorded(
    fast: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    survey_id = fast.data.surveys[SHOWCASE_INDEX]["id"]
    questions = fast.data.survey_details[survey_id]["questions"]
    kinds = {q["questionType"]["type"]: qid for qid, q in questions.items() if q["questionType"]["type"] != "MC"}
    multi = next(qid for qid, q in questions.items() if q["questionType"]["selector"] == "MAVR")
    timing, meta = kinds["Timing"], kinds["Meta"]
    _result, data, _headers = await export(http, fast, survey_id, {"format": "csv", "compress": False})
    names, labels, imports, *responses = csv_rows(data)
    ids = [json.loads(cell) for cell in imports]
    column = {name: n for n, name in enumerate(names)}
    for measure, suffix in (
        ("First Click", "FIRST_CLICK"),
        ("Page Submit", "PAGE_SUBMIT"),
        ("Click Count", "CLICK_COUNT"),
    ):
        assert ids[column[f"timing_{measure}"]] == {"ImportId": f"{timing}_{suffix}"}
        assert labels[column[f"timing_{measure}"]] == f"Timing - {measure}"
    for name, suffix in (("Browser", "BROWSER"), ("Operating System", "OS"), ("Resolution", "RESOLUTION")):
        assert ids[column[f"metainfo_{name}"]] == {"ImportId": f"{meta}_{suffix}"}
    tag = questions[multi]["questionName"]
    assert [ids[column[f"{tag}_{n}"]] for n in (1, 2, 3)] == [
        {"ImportId": multi, "choiceId": str(n)} for n in (1, 2, 3)
    ]
    assert ids[column[f"{tag}_3_TEXT"]] == {"ImportId": f"{multi}_3_TEXT"}
    assert labels[column[f"{tag}_1"]].endswith(" - Selected Choice - Email")
    assert "\n" in labels[column[f"{tag}_1"]]  # a question text with a line break, quoted in the header
    seconds = [row[column["timing_First Click"]] for row in responses]
    assert all(re.fullmatch(r"\d+\.\d+", cell) for cell in seconds)
    assert all(row[column[f"{tag}_2"]] in ("", "2") for row in responses)

    _result, data, _headers = await export(http, fast, survey_id, {"format": "json", "compress": False})
    records = json.loads(data)["responses"]
    chosen = [r["values"][multi] for r in records if multi in r["values"]]
    assert chosen
    assert all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in chosen)
    assert all(isinstance(r["values"][f"{timing}_FIRST_CLICK"], float) for r in records)
    assert records[0]["displayedValues"][multi] == [1, 2, 3]
