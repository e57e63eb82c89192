"""``client.surveys`` (import, copy, update, delete) and ``client.survey_definitions`` against the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
import pytest

from qualtrics_async import RateLimits
from qualtrics_async import models as m
from qualtrics_async.errors import BadRequestError, ConfigurationError, NotFoundError
from qualtrics_async.resources.surveys import MAX_CONCURRENT_IMPORTS
from qualtrics_async.testing import QualtricsEmulator
from qualtrics_async.testing._survey_api import SurveyRoutes
from tests.conftest import make_client

MC = m.Question(
    question_text="Do you like it?",
    question_type="MC",
    selector="SAVR",
    sub_selector="TX",
    choices={"1": m.Choice(display="Yes"), "2": m.Choice(display="No")},
    choice_order=[1, 2],
)


def survey_routes(emulator: QualtricsEmulator) -> SurveyRoutes:
    provider = emulator.families["surveys"]
    assert isinstance(provider, SurveyRoutes)
    return provider


async def listed_ids(emulator: QualtricsEmulator) -> set[str]:
    async with make_client(emulator) as client:
        return {s.id async for s in client.surveys.list()}


# --- surveys ---------------------------------------------------------------------------------------


async def test_list_and_get_match_the_seeded_data(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        listed = [s async for s in client.surveys.list()]
        assert [s.id for s in listed] == [s["id"] for s in emulator.data.surveys]
        survey = await client.surveys.get(listed[0].id)
    assert survey.name == emulator.data.surveys[0]["name"]
    assert set(survey.questions) == set(emulator.data.survey_details[survey.id]["questions"])


async def test_import_file_from_a_path_creates_a_listed_survey_with_the_qsf_questions(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    async with make_client(emulator) as client:
        source_id = emulator.data.surveys[0]["id"]
        qsf = await client.survey_definitions.get_qsf(source_id)
        path = tmp_path / "pulse.qsf"
        path.write_text(json.dumps(qsf))
        new_id = await client.surveys.import_file("Pulse — imported", path)
        survey = await client.surveys.get(new_id)
        assert survey.name == "Pulse — imported"
        assert set(survey.questions) == set(emulator.data.survey_details[source_id]["questions"])
        assert survey.is_active is False
        assert new_id in {s.id async for s in client.surveys.list()}


async def test_import_file_refuses_a_file_that_is_not_qsf(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(BadRequestError, match="QSF"):
            await client.surveys.import_file("Bad", b"not a survey")


async def test_import_url_uses_the_file_at_the_url(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        qsf = await client.survey_definitions.get_qsf(emulator.data.surveys[1]["id"])
        survey_routes(emulator).remote_files["https://files.example.com/s.qsf"] = json.dumps(qsf).encode()
        new_id = await client.surveys.import_url("From URL", "https://files.example.com/s.qsf")
        assert (await client.surveys.get(new_id)).name == "From URL"
        with pytest.raises(BadRequestError, match="download"):
            await client.surveys.import_url("Missing", "https://files.example.com/missing.qsf")
        with pytest.raises(ConfigurationError):
            await client.surveys.import_url("Local", "/etc/passwd")


async def test_copy_keeps_the_questions_and_sets_the_owner(emulator: QualtricsEmulator) -> None:
    source_id = emulator.data.surveys[2]["id"]
    async with make_client(emulator) as client:
        copy_id = await client.surveys.copy(source_id, "Copy of survey", owner_id="UR_0123456789abcde")
        copy = await client.surveys.get(copy_id)
        source = await client.surveys.get(source_id)
        with pytest.raises(BadRequestError, match="X-COPY-DESTINATION-OWNER"):
            await client.surveys.copy(source_id, "Bad owner", owner_id="nobody")
        with pytest.raises(NotFoundError):
            await client.surveys.copy("SV_doesnotexist0000", "Nothing")
    assert copy.name == "Copy of survey"
    assert copy.owner_id == "UR_0123456789abcde"
    assert set(copy.questions) == set(source.questions)
    assert copy_id != source_id


async def test_update_then_get_then_delete_then_404(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        created = await client.survey_definitions.create(m.NewSurveyDefinition(survey_name="Lifecycle"))
        survey_id = created.survey_id
        await client.surveys.update(
            survey_id,
            m.SurveyUpdate(name="Renamed", is_active=True, expiration=m.SurveyExpiration(end_date=_utc(2030, 1, 1))),
        )
        survey = await client.surveys.get(survey_id)
        assert (survey.name, survey.is_active) == ("Renamed", True)
        assert survey.expiration is not None
        assert survey.expiration.end_date == _utc(2030, 1, 1)
        await client.surveys.update(survey_id, {"isActive": False})
        assert (await client.surveys.get(survey_id)).is_active is False
        await client.surveys.delete(survey_id)
        with pytest.raises(NotFoundError):
            await client.surveys.get(survey_id)
        assert survey_id not in {s.id async for s in client.surveys.list()}
        with pytest.raises(NotFoundError):
            await client.surveys.delete(survey_id)


async def test_update_names_a_bad_field(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(BadRequestError, match="isactive"):
            await client.surveys.update(emulator.data.surveys[0]["id"], {"isactive": True})


async def test_A6_imports_stay_within_the_concurrency_cap(emulator: QualtricsEmulator) -> None:
    routes = survey_routes(emulator)
    routes.survey_import_seconds = 0.2
    qsf = json.dumps({"SurveyEntry": {"SurveyName": "x"}, "SurveyElements": []}).encode()
    created: list[str] = []
    async with make_client(emulator, rate_limits=RateLimits.unlimited()) as client:  # only the cap paces

        async def one(n: int) -> None:
            created.append(await client.surveys.import_file(f"Concurrent {n}", qsf))

        async with anyio.create_task_group() as group:
            for n in range(MAX_CONCURRENT_IMPORTS + 5):
                group.start_soon(one, n)
    assert len(set(created)) == MAX_CONCURRENT_IMPORTS + 5
    assert routes.peak_concurrent_imports == MAX_CONCURRENT_IMPORTS
    assert emulator.stats.statuses[429] == 0


# --- survey definitions --------------------------------------------------------------------------


async def test_definition_create_get_metadata_and_delete(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        created = await client.survey_definitions.create(
            m.NewSurveyDefinition(survey_name="Étude", language="FR", project_category="CX")
        )
        definition = await client.survey_definitions.get(created.survey_id)
        assert definition.survey_name == "Étude"
        assert definition.survey_language == "FR"
        assert created.default_block_id in definition.blocks
        assert definition.survey_flow is not None
        assert definition.survey_flow.flow[0]["ID"] == created.default_block_id
        metadata = await client.survey_definitions.get_metadata(created.survey_id)
        assert metadata.survey_status == "Inactive"
        await client.survey_definitions.update_metadata(
            created.survey_id,
            m.DefinitionMetadata(survey_status="Active", survey_expiration_date="2031-12-31 23:59:00"),
        )
        survey = await client.surveys.get(created.survey_id)
        assert survey.is_active is True
        assert survey.expiration is not None
        assert survey.expiration.end_date == _utc(2031, 12, 31, 23, 59)
        with pytest.raises(ConfigurationError, match="YYYY-MM-DD HH:MM:SS"):  # refused before sending
            await client.survey_definitions.update_metadata(
                created.survey_id, {"SurveyStartDate": "2031-01-01T00:00:00Z"}
            )
        with pytest.raises(BadRequestError, match="Language"):
            await client.survey_definitions.create({"SurveyName": "x", "Language": "xx", "ProjectCategory": "CORE"})
        await client.survey_definitions.delete(created.survey_id)
        with pytest.raises(NotFoundError):
            await client.survey_definitions.get(created.survey_id)
        with pytest.raises(NotFoundError):
            await client.surveys.get(created.survey_id)


async def test_seeded_survey_has_a_definition_matching_its_legacy_shape(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[3]["id"]
    legacy = emulator.data.survey_details[survey_id]
    async with make_client(emulator) as client:
        definition = await client.survey_definitions.get(survey_id)
    assert set(definition.questions) == set(legacy["questions"])
    for qid, question in definition.questions.items():
        assert question.question_text == legacy["questions"][qid]["questionText"]
        assert question.question_type == legacy["questions"][qid]["questionType"]["type"]
    assert set(definition.blocks) == set(legacy["blocks"])


async def test_question_round_trip(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        survey_id = (await client.survey_definitions.create(m.NewSurveyDefinition(survey_name="Questions"))).survey_id
        qid = await client.survey_definitions.create_question(survey_id, MC)
        assert qid == "QID1"
        fetched = await client.survey_definitions.get_question(survey_id, qid)
        assert fetched.choices == MC.choices
        assert fetched.data_export_tag == "Q1"
        legacy = await client.surveys.get(survey_id)
        assert legacy.questions[qid]["questionType"]["type"] == "MC"
        assert "Q1" in legacy.export_column_map
        raw = await client.survey_definitions.get_question_raw(survey_id, qid)
        raw["QuestionText"] = "Do you love it?"
        raw["DataVisibility"] = {"Private": False, "Hidden": False}
        await client.survey_definitions.update_question(survey_id, qid, raw)
        again = await client.survey_definitions.get_question_raw(survey_id, qid)
        assert again["QuestionText"] == "Do you love it?"
        assert again["DataVisibility"] == {"Private": False, "Hidden": False}
        listed = [q.question_id async for q in client.survey_definitions.list_questions(survey_id)]
        assert listed == [qid]
        await client.survey_definitions.delete_question(survey_id, qid)
        with pytest.raises(NotFoundError):
            await client.survey_definitions.get_question(survey_id, qid)
        assert [q async for q in client.survey_definitions.list_questions(survey_id)] == []
        with pytest.raises(BadRequestError, match="Selector"):
            await client.survey_definitions.create_question(survey_id, {"QuestionText": "x", "QuestionType": "TE"})


async def test_blocks_flow_and_options(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        created = await client.survey_definitions.create(m.NewSurveyDefinition(survey_name="Blocks"))
        survey_id = created.survey_id
        assert created.default_block_id is not None
        block = await client.survey_definitions.create_block(survey_id, m.Block(type="Standard", description="Extra"))
        qid = await client.survey_definitions.create_question(survey_id, MC, block_id=block.block_id)
        fetched = await client.survey_definitions.get_block(survey_id, block.block_id)
        assert fetched.block_elements == [m.BlockElement(type="Question", question_id=qid)]
        await client.survey_definitions.update_block(
            survey_id, block.block_id, m.Block(type="Standard", description="Renamed", block_elements=[])
        )
        assert (await client.survey_definitions.get_block(survey_id, block.block_id)).description == "Renamed"
        flow = await client.survey_definitions.get_flow(survey_id)
        assert [e["ID"] for e in flow.flow] == [created.default_block_id, block.block_id]
        reordered = m.SurveyFlow(flow_id=flow.flow_id, type="Root", flow=flow.flow[::-1], properties=flow.properties)
        await client.survey_definitions.update_flow(survey_id, reordered)
        assert [b["id"] for b in (await client.surveys.get(survey_id)).flow] == [
            block.block_id,
            created.default_block_id,
        ]
        bad = m.SurveyFlow(
            flow_id="FL_1", type="Root", flow=[{"Type": "Standard", "ID": "BL_missing", "FlowID": "FL_9"}]
        )
        with pytest.raises(BadRequestError, match="unknown block"):
            await client.survey_definitions.update_flow(survey_id, bad)
        with pytest.raises(BadRequestError, match="default block"):
            await client.survey_definitions.delete_block(survey_id, created.default_block_id)
        await client.survey_definitions.delete_block(survey_id, block.block_id)
        with pytest.raises(NotFoundError):
            await client.survey_definitions.get_block(survey_id, block.block_id)
        options = await client.survey_definitions.get_options(survey_id)
        assert options["BackButton"] == "false"
        await client.survey_definitions.update_options(survey_id, {"BackButton": "true"})
        assert (await client.survey_definitions.get_options(survey_id))["BackButton"] == "true"


async def test_versions_publish_and_list(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        survey_id = (await client.survey_definitions.create(m.NewSurveyDefinition(survey_name="Versions"))).survey_id
        first = await client.survey_definitions.create_version(survey_id, m.NewVersion(description="v1"))
        second = await client.survey_definitions.create_version(
            survey_id, m.NewVersion(description="draft", published=False)
        )
        versions = [v async for v in client.survey_definitions.list_versions(survey_id)]
        assert [(v.version_id, v.version_number, v.published) for v in versions] == [
            (first.version_id, 1, True),
            (second.version_id, 2, False),
        ]
        one = await client.survey_definitions.get_version(survey_id, second.version_id)
        assert one.description == "draft"
        with pytest.raises(NotFoundError):
            await client.survey_definitions.get_version(survey_id, "1")


async def test_quota_round_trip(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        survey_id = (await client.survey_definitions.create(m.NewSurveyDefinition(survey_name="Quotas"))).survey_id
        quota_id = await client.survey_definitions.create_quota(survey_id, m.Quota(name="Max 100", occurrences=100))
        quota = await client.survey_definitions.get_quota(survey_id, quota_id)
        assert (quota.name, quota.occurrences, quota.count) == ("Max 100", 100, 0)
        await client.survey_definitions.update_quota(survey_id, quota_id, m.Quota(name="Max 50", occurrences=50))
        assert [q.occurrences async for q in client.survey_definitions.list_quotas(survey_id)] == [50]
        with pytest.raises(BadRequestError, match="Occurrences"):
            await client.survey_definitions.create_quota(survey_id, {"Name": "bad", "Occurrences": -1})
        await client.survey_definitions.delete_quota(survey_id, quota_id)
        with pytest.raises(NotFoundError):
            await client.survey_definitions.get_quota(survey_id, quota_id)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def test_an_imported_survey_can_be_exported_and_collects_new_responses(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    async with make_client(emulator) as client:
        qsf = await client.survey_definitions.get_qsf(emulator.data.surveys[0]["id"])
        new_id = await client.surveys.import_file("Fresh survey", json.dumps(qsf).encode())
        empty = [r async for r in client.responses.stream(new_id, format="ndjson")]
        added = emulator.add_responses(new_id, 3)
        records = [r async for r in client.responses.stream(new_id, format="ndjson")]
    assert empty == []
    assert sorted(r["responseId"] for r in records) == sorted(added)


async def test_copy_names_the_caller_as_owner_and_import_takes_quoted_names(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        me = await client.whoami()
        copy_id = await client.surveys.copy(emulator.data.surveys[0]["id"], 'Customer "NPS" copy')
        copy = await client.surveys.get(copy_id)
        qsf = await client.survey_definitions.get_qsf(emulator.data.surveys[0]["id"])
        imported = await client.surveys.import_file('Customer "NPS"', json.dumps(qsf).encode())
        assert (await client.surveys.get(imported)).name == 'Customer "NPS"'
    assert copy.owner_id == me.user_id


async def test_metadata_read_back_sends_only_writable_fields_and_refuses_iso_dates(
    emulator: QualtricsEmulator,
) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    async with make_client(emulator) as client:
        metadata = await client.survey_definitions.get_metadata(survey_id)
        assert metadata.survey_id == survey_id
        await client.survey_definitions.update_metadata(
            survey_id, msgspec.structs.replace(metadata, survey_name="Renamed")
        )
        assert (await client.surveys.get(survey_id)).name == "Renamed"
        before = emulator.stats.requests
        with pytest.raises(ConfigurationError, match="YYYY-MM-DD HH:MM:SS"):
            await client.survey_definitions.update_metadata(survey_id, {"SurveyStartDate": "2024-01-01T00:00:00Z"})
        assert emulator.stats.requests == before
