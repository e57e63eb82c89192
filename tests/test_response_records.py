"""Single responses and response imports (``client.responses``) against the emulator."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest

from qualtrics_async import QualtricsClient, RateLimits
from qualtrics_async.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    ResponseImportFailedError,
    ResponseImportTimeoutError,
    ResponseNotReadyError,
)
from qualtrics_async.models import EmbeddedDataUpdate, NewResponse, UploadedFile
from qualtrics_async.resources._response_imports import split_records
from qualtrics_async.testing import QualtricsEmulator
from qualtrics_async.testing._survey_api import SurveyRoutes
from tests.conftest import make_client


def client_for(emulator: QualtricsEmulator) -> QualtricsClient:
    """A client that does not pace itself (these tests are about behaviour, not rate limits;
    the emulator still enforces the published limits)."""
    return make_client(emulator, rate_limits=RateLimits.unlimited())


def survey_routes(emulator: QualtricsEmulator) -> SurveyRoutes:
    provider = emulator.families["surveys"]
    assert isinstance(provider, SurveyRoutes)
    provider.import_seconds = 0.05
    return provider


def first_mc_question(emulator: QualtricsEmulator, survey_id: str) -> tuple[str, str, str]:
    """(QID, a recode, its label) of the first multiple choice question of a seeded survey."""
    for qid, question in emulator.data.survey_details[survey_id]["questions"].items():
        if question["questionType"]["type"] == "MC":
            recode, choice = next(iter(question["choices"].items()))
            return qid, recode, choice["choiceText"]
    raise AssertionError("the seeded survey has no multiple choice question")


def seeded_with_mc(emulator: QualtricsEmulator) -> str:
    for survey in emulator.data.surveys:
        questions = emulator.data.survey_details[survey["id"]]["questions"].values()
        if any(q["questionType"]["type"] == "MC" for q in questions):
            return str(survey["id"])
    raise AssertionError("no seeded survey has a multiple choice question")


# --- single responses ------------------------------------------------------------------------------


async def test_create_then_get_waits_through_202_then_delete_then_404(emulator: QualtricsEmulator) -> None:
    survey_id = seeded_with_mc(emulator)
    qid, recode, label = first_mc_question(emulator, survey_id)
    async with client_for(emulator) as client:
        response_id = await client.responses.create(survey_id, NewResponse(values={qid: int(recode), "finished": 1}))
        started = time.monotonic()
        response = await client.responses.get(survey_id, response_id)
        assert time.monotonic() - started < 2.0
        assert emulator.stats.statuses[202] >= 1  # it was not yet available at first, and was asked again
        assert response.response_id == response_id
        assert response.values[qid] == int(recode)
        assert response.labels[qid] == label
        assert "recordedDate" in response.values
        await client.responses.delete(survey_id, response_id, decrement_quotas=True)
        with pytest.raises(NotFoundError):
            await client.responses.get(survey_id, response_id)
        with pytest.raises(NotFoundError):
            await client.responses.delete(survey_id, response_id)


async def test_get_gives_up_with_a_clear_error_at_its_deadline(emulator: QualtricsEmulator) -> None:
    survey_routes(emulator).response_ready_seconds = 60
    survey_id = emulator.data.surveys[0]["id"]
    async with client_for(emulator) as client:
        response_id = await client.responses.create(survey_id, {"values": {"finished": 1}})
        started = time.monotonic()
        with pytest.raises(ResponseNotReadyError, match=r"not available after 0\.6 s"):
            await client.responses.get(survey_id, response_id, timeout=0.6)
        assert time.monotonic() - started < 1.5
        with pytest.raises(ConfigurationError):
            await client.responses.get(survey_id, response_id, timeout=0)


async def test_G1_create_sends_an_idempotency_key_so_a_repeat_records_once(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    async with client_for(emulator) as client:
        first = await client.responses.create(survey_id, {"values": {"finished": 1}}, idempotency_key="k-1")
        again = await client.responses.create(survey_id, {"values": {"finished": 1}}, idempotency_key="k-1")
        other = await client.responses.create(survey_id, {"values": {"finished": 1}})
        with pytest.raises(ConflictError):
            await client.responses.create(survey_id, {"values": {"finished": 0}}, idempotency_key="k-1")
    assert first == again
    assert other != first


async def test_G1_a_create_whose_answer_was_cut_is_retried_without_recording_twice(
    emulator: QualtricsEmulator,
) -> None:
    # truncate: the emulator records the response, then cuts its answer in half: an ambiguous
    # failure. The retry carries the same Idempotency-Key, so the response exists once.
    survey_id = emulator.data.surveys[0]["id"]
    routes = survey_routes(emulator)
    before = len(routes._responses)
    emulator.inject("POST", "/surveys/*/responses", truncate=True)
    async with client_for(emulator) as client:
        response_id = await client.responses.create(survey_id, {"values": {"finished": 1}})
        routes.response_ready_seconds = 0
        assert (await client.responses.get(survey_id, response_id)).values["finished"] == 1
    assert len(routes._responses) == before + 1
    assert emulator.stats.by_route["POST /surveys/{surveyId}/responses"] == 2


async def test_create_refuses_unknown_questions_and_too_many_files(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    async with client_for(emulator) as client:
        with pytest.raises(BadRequestError, match="QID999"):
            await client.responses.create(survey_id, {"values": {"QID999": 1}})
        files = [UploadedFile(question_id="QID1", filename=f"{n}.txt", content=b"x") for n in range(6)]
        before = emulator.stats.requests
        with pytest.raises(ConfigurationError, match="at most 5"):
            await client.responses.create(survey_id, {"values": {}}, files=files)
        assert emulator.stats.requests == before


async def test_uploaded_files_read_download_and_delete(emulator: QualtricsEmulator, tmp_path: Path) -> None:
    survey_routes(emulator).response_ready_seconds = 0
    survey_id = emulator.data.surveys[0]["id"]
    content = bytes(range(256)) * 100
    upload = UploadedFile(question_id="QID1", filename="scan.pdf", content=content, content_type="application/pdf")
    async with client_for(emulator) as client:
        response_id = await client.responses.create(survey_id, NewResponse(values={"finished": 1}), files=[upload])
        response = await client.responses.get(survey_id, response_id)
        file_id = response.values["QID1_FILE_ID"]
        assert response.values["QID1_FILE_NAME"] == "scan.pdf"
        assert response.values["QID1_FILE_SIZE"] == len(content)
        assert await client.responses.read_uploaded_file(survey_id, response_id, file_id) == content
        saved = await client.responses.download_uploaded_file(survey_id, response_id, file_id, tmp_path / "scan.pdf")
        assert saved.read_bytes() == content
        assert not (tmp_path / "scan.pdf.part").exists()
        await client.responses.delete_uploaded_file(survey_id, response_id, file_id)
        with pytest.raises(NotFoundError):
            await client.responses.read_uploaded_file(survey_id, response_id, file_id)


async def test_update_embedded_data_shows_fields_defined_in_the_flow_only(emulator: QualtricsEmulator) -> None:
    survey_routes(emulator).response_ready_seconds = 0
    survey_id = emulator.data.surveys[0]["id"]
    async with client_for(emulator) as client:
        response_id = await client.responses.create(survey_id, {"values": {"finished": 1}})
        before = (await client.responses.get(survey_id, response_id)).values["recordedDate"]
        await client.responses.update_embedded_data(
            response_id,
            EmbeddedDataUpdate(
                survey_id=survey_id, embedded_data={"source": "api", "undefined": "x"}, reset_recorded_date=False
            ),
        )
        values = (await client.responses.get(survey_id, response_id)).values
        assert values["source"] == "api"
        assert "undefined" not in values
        assert values["recordedDate"] > before  # bumped by 1 ms, not reset
        with pytest.raises(BadRequestError, match="surveyId"):
            await client.responses.update_embedded_data(response_id, {"embeddedData": {"source": "x"}})
        with pytest.raises(NotFoundError):
            await client.responses.update_embedded_data("R_unknown0000000", {"surveyId": survey_id})


async def test_schema_describes_the_questions_and_their_choices(emulator: QualtricsEmulator) -> None:
    survey_id = seeded_with_mc(emulator)
    qid, recode, label = first_mc_question(emulator, survey_id)
    async with client_for(emulator) as client:
        schema = await client.responses.schema(survey_id)
        with pytest.raises(NotFoundError):
            await client.responses.schema("SV_unknown0000000")
    assert schema.schema == "https://json-schema.org/draft/2019-09/schema"
    field = schema.properties["values"]["properties"][qid]
    assert field["questionId"] == qid
    assert {"label": label, "const": int(recode)} in field["oneOf"]


# --- imports -------------------------------------------------------------------------------------

EXPORT_HEADER = (
    b'Q1,Q2\r\n"Question one","Question two"\r\n"{""ImportId"":""QID1""}","{""ImportId"":""QID2_TEXT""}"\r\n'
)


def csv_rows(n: int, *, multiline: bool = False) -> bytes:
    text = "\r\n" if multiline else " "
    return b"".join(f'{i},"line one{text}line two, with comma ""{i}"""\r\n'.encode() for i in range(n))


def test_split_records_keeps_quoted_line_breaks_and_repeats_the_header_rows() -> None:
    data = EXPORT_HEADER + csv_rows(50, multiline=True)
    header, parts = split_records(data, max_part_bytes=600)
    assert header == EXPORT_HEADER
    assert len(parts) > 3
    assert sum(records for _s, _e, records in parts) == 50
    rows: list[list[str]] = []
    for start, end, records in parts:
        part = header + data[start:end]
        assert len(part) <= 600
        parsed = list(csv.reader(io.StringIO(part.decode(), newline="")))
        assert parsed[:3] == list(csv.reader(io.StringIO(EXPORT_HEADER.decode(), newline="")))
        assert len(parsed) == 3 + records
        rows += parsed[3:]
    assert [row[0] for row in rows] == [str(i) for i in range(50)]
    assert all("\r\n" in row[1] for row in rows)


def test_split_records_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(ConfigurationError, match="record 2"):
        split_records(b"a,b\n" + b"x" * 100 + b"\n", max_part_bytes=50)
    with pytest.raises(ConfigurationError, match="unbalanced"):
        split_records(b'a,b\n"open,1\n')
    with pytest.raises(ConfigurationError, match="empty"):
        split_records(b"")
    header, parts = split_records(b"only,a,header")
    assert header == b"only,a,header\n"
    assert parts == [(13, 13, 0)]


async def test_import_file_splits_a_large_file_and_imports_every_record(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    routes = survey_routes(emulator)
    survey_id = emulator.data.surveys[0]["id"]
    path = tmp_path / "responses.csv"
    path.write_bytes(EXPORT_HEADER + csv_rows(120, multiline=True))
    stored_before = len(routes._responses)
    async with client_for(emulator) as client:
        result = await client.responses.import_file(survey_id, path, max_part_bytes=2_000)
    assert result.records == 120
    assert len(result.parts) == 3
    assert all(part.size is not None and part.size <= 2_000 for part in result.parts)
    assert len({part.idempotency_key for part in result.parts}) == 3
    assert len(routes._responses) - stored_before == 120


async def test_G1_running_an_import_again_with_its_key_imports_nothing_twice(emulator: QualtricsEmulator) -> None:
    routes = survey_routes(emulator)
    survey_id = emulator.data.surveys[0]["id"]
    data = b"Q1,Q2\n" + csv_rows(30)
    async with client_for(emulator) as client:
        first = await client.responses.import_file(survey_id, data, max_part_bytes=800, idempotency_key="nightly")
        count = len(routes._responses)
        second = await client.responses.import_file(survey_id, data, max_part_bytes=800, idempotency_key="nightly")
    assert [p.progress_id for p in first.parts] == [p.progress_id for p in second.parts]
    assert len(routes._responses) == count


async def test_F1_a_failed_part_names_the_parts_already_imported(emulator: QualtricsEmulator) -> None:
    survey_routes(emulator)
    survey_id = emulator.data.surveys[0]["id"]
    data = b"Q1,Q2\n" + csv_rows(20) + b"1,2,3\n"  # the last record has a field too many
    async with client_for(emulator) as client:
        with pytest.raises(ResponseImportFailedError, match="fields") as caught:
            await client.responses.import_file(survey_id, data, max_part_bytes=600)
    error = caught.value
    assert error.error_code == "IMPORT_0.1"
    assert len(error.completed) >= 1
    assert sum(p.records or 0 for p in error.completed) < 21


async def test_F2_an_import_still_running_at_the_deadline_raises(emulator: QualtricsEmulator) -> None:
    survey_routes(emulator).import_seconds = 30
    survey_id = emulator.data.surveys[0]["id"]
    async with client_for(emulator) as client:
        started = time.monotonic()
        with pytest.raises(ResponseImportTimeoutError) as caught:
            await client.responses.import_file(survey_id, b"Q1\n1\n", timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert caught.value.progress_id is not None


async def test_import_url_imports_what_qualtrics_fetches(emulator: QualtricsEmulator) -> None:
    routes = survey_routes(emulator)
    routes.remote_files["https://files.example.com/r.tsv"] = b"Q1\tQ2\n1\t2\n3\t4\n"
    survey_id = emulator.data.surveys[0]["id"]
    before = len(routes._responses)
    async with client_for(emulator) as client:
        result = await client.responses.import_url(survey_id, "https://files.example.com/r.tsv", format="tsv")
        assert result.records is None
        assert len(routes._responses) - before == 2
        with pytest.raises(ResponseImportFailedError, match="downloaded"):
            await client.responses.import_url(survey_id, "https://files.example.com/missing.csv")
        with pytest.raises(ConfigurationError):
            await client.responses.import_url(survey_id, "file:///etc/passwd")
