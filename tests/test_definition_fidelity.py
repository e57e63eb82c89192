"""Survey definitions as real surveys have them: lossless read-modify-write, and no body too odd to decode.

Questions, choices, blocks and the flow are authored content whose members vary by question
type and by the age of the survey (``TextEntry`` as ``1`` or ``"true"``, ``Validation`` as
``"None"``, ``ChoiceOrder`` mixing strings and ints: docs/fidelity.md). The recorded
definitions are read through the client, changed, and written back: the PUT must carry every
member that was read. Hypothesis then puts any JSON under the polymorphic members and the
definition must still decode, every accessor must answer, and the body must re-encode as sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qualtrics_async import models as m
from qualtrics_async._decoding import envelope_decoder, page_decoder
from tests.replay import Recording, ReplayServer, recording
from tests.test_recordings import replay_client

DEFINITIONS = [
    recording("survey_definitions/qualtrics-r-fetch-description-2021"),
    recording("survey_definitions/qualtrics-r-fetch-description-2025"),
]
META_ONLY = b'{"meta":{"httpStatus":"200 - OK","requestId":"00000000-0000-0000-0000-000000000000"}}'


def _envelope(result: Any) -> bytes:
    return json.dumps({"result": result, "meta": {"httpStatus": "200 - OK", "requestId": "r"}}).encode()


def _definition_server(rec: Recording) -> ReplayServer:
    """A server answering the recorded definition, and every PUT of a question, block or the flow."""
    server = ReplayServer().answer(rec)
    for template in (
        "/survey-definitions/{surveyId}/questions/{questionId}",
        "/survey-definitions/{surveyId}/blocks/{blockId}",
        "/survey-definitions/{surveyId}/flow",
    ):
        server.answer_raw("PUT", template, META_ONLY)
    return server


def _definition(body: dict[str, Any]) -> m.SurveyDefinition:
    decoded = envelope_decoder(m.SurveyDefinition).decode(_envelope(body)).result
    assert isinstance(decoded, m.SurveyDefinition)
    return decoded


def _page(body: bytes) -> list[m.Question]:
    decoded = page_decoder(m.Question).decode(body).result
    assert not isinstance(decoded, msgspec.UnsetType)
    return decoded.elements


@pytest.mark.parametrize("rec", DEFINITIONS, ids=lambda r: r.id)
async def test_every_question_block_and_the_flow_of_a_recorded_definition_is_written_back_whole(
    rec: Recording,
) -> None:
    raw = rec.result()
    survey_id = raw["SurveyID"]
    server = _definition_server(rec)
    async with server, replay_client(server) as client:
        definition = await client.survey_definitions.get(survey_id)
        for qid, question in definition.questions.items():
            question.question_text = f"{question.question_text} (edited)"
            await client.survey_definitions.update_question(survey_id, qid, question)
        for block_id, block in definition.blocks.items():
            block.description = "Renamed"
            await client.survey_definitions.update_block(survey_id, block_id, block)
        assert definition.survey_flow is not None
        definition.survey_flow.flow.reverse()
        await client.survey_definitions.update_flow(survey_id, definition.survey_flow)

    puts = {s.path.rsplit("/", 1)[-1]: s.json() for s in server.seen if s.method == "PUT"}
    for qid, wire in raw["Questions"].items():
        assert puts[qid] == {**wire, "QuestionText": f"{wire['QuestionText']} (edited)"}, qid
    for block_id, wire in raw["Blocks"].items():
        assert puts[block_id] == {**wire, "Description": "Renamed"}, block_id
    assert puts["flow"] == {**raw["SurveyFlow"], "Flow": raw["SurveyFlow"]["Flow"][::-1]}


async def test_a_recorded_question_read_and_written_back_loses_no_member() -> None:
    rec = recording("survey_definitions/qualtrics-api-rb-question")
    ids = rec.ids()
    server = ReplayServer().answer(rec).answer_raw("PUT", rec.endpoint, META_ONLY)
    async with server, replay_client(server) as client:
        question = await client.survey_definitions.get_question(ids["surveyId"], ids["questionId"])
        question.selector = question.selector  # a no-op edit through the typed accessors
        await client.survey_definitions.update_question(ids["surveyId"], ids["questionId"], question)
    (put,) = (s for s in server.seen if s.method == "PUT")
    assert put.json() == rec.result()
    assert put.body == msgspec.json.encode(rec.result())  # same members, same order


def test_all_684_recorded_questions_of_a_brand_re_encode_exactly() -> None:
    rec = recording("survey_definitions/qualtrics-api-rb-questions")
    questions = _page(rec.body)
    raw = rec.result()["elements"]
    assert len(questions) == len(raw) > 600
    assert [msgspec.json.decode(msgspec.json.encode(q)) for q in questions] == raw
    kinds = {(q.question_type, q.selector) for q in questions}
    assert len(kinds) > 5, kinds


async def test_choices_and_block_elements_added_through_the_accessors_are_sent() -> None:
    rec = recording("survey_definitions/qualtrics-r-fetch-description-2021")
    raw = rec.result()
    survey_id = raw["SurveyID"]
    server = _definition_server(rec)
    async with server, replay_client(server) as client:
        definition = await client.survey_definitions.get(survey_id)
        question = definition.questions["QID7"]  # a dropdown with choices 1..3
        assert question.choices is not None
        question.choices["4"] = m.Choice(display="Fourland")
        del question.choices["1"]
        question.choices["2"].display = "Renamed"
        question.choice_order = [*(question.choice_order or [])[1:], "4"]
        await client.survey_definitions.update_question(survey_id, "QID7", question)
        block_id, block = next(iter(definition.blocks.items()))
        assert block.block_elements is not None
        block.block_elements.append(m.BlockElement(type="Page Break"))
        await client.survey_definitions.update_block(survey_id, block_id, block)
    puts = {s.path.rsplit("/", 1)[-1]: s.json() for s in server.seen if s.method == "PUT"}
    wire = raw["Questions"]["QID7"]
    assert puts["QID7"]["Choices"] == {
        "2": {**wire["Choices"]["2"], "Display": "Renamed"},
        "3": wire["Choices"]["3"],
        "4": {"Display": "Fourland"},
    }
    assert puts["QID7"]["ChoiceOrder"] == ["2", "3", "4"]
    assert puts[block_id]["BlockElements"] == [*raw["Blocks"][block_id]["BlockElements"], {"Type": "Page Break"}]


def test_plain_dicts_put_into_a_question_become_views_and_copies_keep_the_type() -> None:
    question = m.Question(question_text="Q", question_type="MC", selector="SAVR")
    question["Choices"] = {"1": {"Display": "One", "TextEntry": 1}}
    question["Choices"]["2"] = {"Display": "Two"}
    assert question.choices is not None
    assert [(k, c.display, c.text_entry) for k, c in question.choices.items()] == [
        ("1", "One", True),
        ("2", "Two", None),
    ]
    draft = question.copy()
    assert isinstance(draft, m.Question)
    draft.question_text = "Changed"
    assert question.question_text == "Q"
    assert isinstance(question | {"X": 1}, m.Question)
    choice = m.Choice(display="Other")
    choice.text_entry = True
    assert choice == {"Display": "Other", "TextEntry": "true"}  # the form recorded choices have
    choice.text_entry = False
    assert choice == {"Display": "Other"}
    assert m.Choice(display="x", exclusive_answer=False) == {"Display": "x", "ExclusiveAnswer": False}


def test_an_empty_map_sent_as_an_empty_array_reads_as_an_empty_map() -> None:
    # Qualtrics writes empty maps as [] (recorded: RecodeValues, VariableNaming, AnalyzeChoices).
    body = {"SurveyID": "SV_1", "SurveyName": "Empty", "Questions": [], "Blocks": [], "SurveyOptions": []}
    definition = _definition({**body, "ProjectInfo": []})
    assert (definition.questions, definition.blocks, definition.survey_options) == ({}, {}, {})
    assert isinstance(definition.questions, m.QuestionMap)
    assert definition.project_category is None


def test_dates_without_a_zone_read_none_rather_than_a_wrong_instant() -> None:
    # Recorded: the QSF says LastModified "2020-12-08 14:05:59" where the JSON form of the same
    # survey says "2020-12-08T21:05:59Z": MySQL text is local time, its zone unknown.
    options = {
        "SurveyCreationDate": "2019-03-08T06:12:17Z",
        "SurveyStartDate": "2020-12-08 14:05:59",
        "SurveyExpirationDate": "2021-01-01T00:00:00+01:00",
    }
    definition = _definition({"SurveyID": "SV_1", "SurveyName": "x", "SurveyOptions": options})
    assert definition.survey_creation_date == datetime(2019, 3, 8, 6, 12, 17, tzinfo=UTC)
    assert definition.survey_start_date is None
    assert definition.survey_options["SurveyStartDate"] == "2020-12-08 14:05:59"  # kept as sent
    assert definition.survey_expiration_date == datetime(2020, 12, 31, 23, 0, tzinfo=UTC)


def test_question_built_from_keywords_sends_the_wire_names() -> None:
    question = m.Question(
        question_text="Other?",
        question_type="MC",
        selector="SAVR",
        sub_selector="TX",
        choices={"1": m.Choice(display="Yes"), "2": {"Display": "Other", "TextEntry": "true"}},
        choice_order=[1, "2"],
        validation={"Settings": {"ForceResponse": "ON", "Type": "None"}},
    )
    assert msgspec.json.decode(msgspec.json.encode(question)) == {
        "QuestionText": "Other?",
        "QuestionType": "MC",
        "Selector": "SAVR",
        "SubSelector": "TX",
        "Choices": {"1": {"Display": "Yes"}, "2": {"Display": "Other", "TextEntry": "true"}},
        "ChoiceOrder": [1, "2"],
        "Validation": {"Settings": {"ForceResponse": "ON", "Type": "None"}},
    }
    assert question.choices is not None
    assert question.choices["2"].text_entry is True
    assert question.choice_order == ["1", "2"]
    assert question.force_response is True
    question.sub_selector = None  # removes the member
    assert "SubSelector" not in question


def test_an_identifying_member_of_the_wrong_type_is_refused_with_its_path() -> None:
    body = _envelope({"SurveyID": "SV_1", "SurveyName": "x", "Questions": {"QID1": {"QuestionType": 7}}})
    with pytest.raises(msgspec.ValidationError, match=r"QuestionType.*\$\.result\.Questions"):
        envelope_decoder(m.SurveyDefinition).decode(body)


# --- any JSON under the polymorphic members -----------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
_choice_keys = st.sampled_from(["1", "2", "3", "10", "x"])
_choice = st.dictionaries(
    st.sampled_from(["Display", "TextEntry", "ExclusiveAnswer", "Image", "Analyze", "RecodeValue", "DisplayLogic"]),
    _json,
    max_size=5,
)
_polymorphic = {
    "Choices": st.dictionaries(_choice_keys, _choice | _json, max_size=4) | _json,
    "Answers": st.dictionaries(_choice_keys, _choice | _json, max_size=4) | _json,
    "ChoiceOrder": st.lists(st.integers(0, 20) | st.text(max_size=3) | _json, max_size=5) | _json,
    "AnswerOrder": _json,
    "Validation": st.just("None") | _json,
    "Configuration": _json,
    "Language": _json,
    "DisplayLogic": _json,
    "Randomization": _json,
    "RecodeValues": _json,
    "GradingData": _json,
    "DefaultChoices": _json,
    "QuestionText": st.text(max_size=10) | _scalars,
    "QuestionDescription": _json,
    "AdditionalQuestions": _json,
    "NextChoiceId": _json,
}


@st.composite
def questions(draw: st.DrawFn, qid: str) -> dict[str, Any]:
    question: dict[str, Any] = {
        "QuestionID": qid,
        "QuestionType": draw(st.sampled_from(["MC", "TE", "Matrix", "Timing", "Meta", "SBS", "RO", "DD", "Slider"])),
        "Selector": draw(st.sampled_from(["SAVR", "MAVR", "SL", "FORM", "Likert", "PageTimer", "Browser"])),
    }
    if draw(st.booleans()):
        question["DataExportTag"] = draw(st.text(max_size=6))
    members = draw(st.lists(st.sampled_from(sorted(_polymorphic)), unique=True, max_size=8))
    for name in members:
        question[name] = draw(_polymorphic[name])
    return question


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    qids = draw(st.lists(st.integers(1, 99).map(lambda n: f"QID{n}"), unique=True, max_size=4))
    empty_as_array: bool = draw(st.booleans())  # how Qualtrics writes an empty map
    return {
        "SurveyID": "SV_0123456789abcde",
        "SurveyName": draw(st.text(max_size=8)),
        "SurveyStatus": "Active",
        "OwnerID": "UR_1",
        "QuestionCount": draw(st.sampled_from(["3", 3, "", None])),
        "ProjectInfo": draw(st.dictionaries(st.sampled_from(["ProjectCategory", "ProjectType"]), _json, max_size=2)),
        "Questions": {qid: draw(questions(qid)) for qid in qids} if qids or not empty_as_array else [],
        "Blocks": draw(
            st.dictionaries(
                st.sampled_from(["BL_a", "BL_b"]),
                st.fixed_dictionaries(
                    {"Type": st.sampled_from(["Default", "Standard", "Trash"]), "ID": st.just("BL_a")},
                    optional={
                        "BlockElements": st.lists(
                            st.fixed_dictionaries({"Type": st.sampled_from(["Question", "Page Break"])}) | _json,
                            max_size=3,
                        ),
                        "Options": _json,
                        "Description": _json,
                    },
                ),
                max_size=2,
            )
        ),
        "SurveyFlow": {"Type": "Root", "FlowID": "FL_1", "Flow": draw(st.lists(_json, max_size=3))},
        "SurveyOptions": draw(
            st.dictionaries(
                st.sampled_from(["SurveyLanguage", "SurveyCreationDate", "SurveyExpiration", "BackButton", "Header"]),
                _json,
                max_size=5,
            )
        ),
        "ResponseSets": draw(_json),
        "Scoring": draw(_json),
    }


def _touch_everything(definition: m.SurveyDefinition) -> None:
    """Every accessor answers (whatever it answers) without raising."""
    for name in ("question_count", "project_category", "survey_language", "survey_creation_date"):
        getattr(definition, name)
    for question in definition.questions.values():
        for name in (
            "question_id",
            "question_text",
            "question_type",
            "selector",
            "data_export_tag",
            "question_description",
            "choice_order",
            "answer_order",
            "validation",
            "configuration",
            "language",
            "force_response",
        ):
            getattr(question, name)
        for choice in [*(question.choices or {}).values(), *(question.answers or {}).values()]:
            _ = (choice.display, choice.text_entry, choice.exclusive_answer)
    for block in definition.blocks.values():
        _ = (block.type, block.description, block.question_ids, block.options)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=definitions())
def test_any_json_under_the_polymorphic_members_decodes_and_re_encodes_as_sent(body: dict[str, Any]) -> None:
    definition = _definition(body)
    _touch_everything(definition)
    assert msgspec.json.decode(msgspec.json.encode(definition.questions)) == (body["Questions"] or {})
    assert msgspec.json.decode(msgspec.json.encode(definition.blocks)) == body["Blocks"]
    assert msgspec.json.decode(msgspec.json.encode(definition.survey_flow)) == body["SurveyFlow"]
    assert definition.survey_options == body["SurveyOptions"]


@settings(max_examples=100, deadline=None)
@given(question=questions("QID7"))
def test_any_question_body_decodes_alone_and_in_a_list_page(question: dict[str, Any]) -> None:
    one = envelope_decoder(m.Question).decode(_envelope(question)).result
    assert one == question
    assert _page(_envelope({"elements": [question], "nextPage": None})) == [question]
    assert one.question_id == "QID7"
