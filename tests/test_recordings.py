"""Every recorded Qualtrics answer (``tests/recordings``) replayed over loopback through the public API.

Each body is served byte for byte by a :class:`~tests.replay.ReplayServer`, requested with the
client method a user would call, and checked value by value against the raw JSON: at least two
typed values per body (ids, names, dates parsed to aware datetimes, counts), so a field the
model maps under the wrong name (``distributionID`` for ``distributionId``) fails here instead
of coming back ``None``. Error answers must raise the documented exception with Qualtrics'
code, message and requestId. Endpoints the client does not wrap go through
``client.request``, the public verb for any endpoint.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from qualtrics_async import QualtricsClient, build_path
from qualtrics_async import models as m
from qualtrics_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from qualtrics_async.exports import PollSchedule
from qualtrics_async.models.admin import DivisionCreate, EventSubscriptionCreate, UserCreate
from tests.conftest import FAST_RETRY, FAST_TIMEOUTS
from tests.replay import Recording, ReplayServer, load_recordings, recording, recordings_of

Call = Callable[[QualtricsClient, Recording], Awaitable[Any]]
Check = Callable[[Any, Recording], None]

FAST_POLLS = PollSchedule(min_interval=0.01, first_interval=0.01, max_idle_interval=0.05)


def replay_client(server: ReplayServer) -> QualtricsClient:
    return QualtricsClient(
        base_url=server.base_url, api_token="replay-token", retry=FAST_RETRY, timeouts=FAST_TIMEOUTS, env={}
    )


def when(text: str | None) -> datetime | None:
    """An ISO 8601 wire date as the aware datetime a model should hold."""
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def elements(rec: Recording) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = rec.result()["elements"]
    return found


async def collect(items: Any, limit: int | None = None) -> list[Any]:
    """The items of an async generator (``limit``: stop after that many, closing it)."""
    out: list[Any] = []
    async for item in items:
        out.append(item)
        if limit is not None and len(out) >= limit:
            break
    await items.aclose()
    return out


# --- one call per endpoint (ids taken from the recorded URL) ------------------------------------


async def _whoami(client: QualtricsClient, rec: Recording) -> Any:
    return await client.whoami()


async def _list_surveys(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.surveys.list())


async def _get_survey(client: QualtricsClient, rec: Recording) -> Any:
    return await client.surveys.get(rec.ids()["surveyId"])


async def _import_survey(client: QualtricsClient, rec: Recording) -> Any:
    qsf = recording("survey_definitions/qualtrics-r-survey-definition-qsf").result()
    return await client.surveys.import_file("Imported", qsf)


async def _update_survey(client: QualtricsClient, rec: Recording) -> Any:
    return await client.surveys.update(rec.ids()["surveyId"], m.SurveyUpdate(name="Renamed", is_active=False))


async def _delete_survey(client: QualtricsClient, rec: Recording) -> Any:
    return await client.surveys.delete(rec.ids()["surveyId"])


async def _get_definition(client: QualtricsClient, rec: Recording) -> Any:
    if rec.query().get("format") == "qsf":
        return await client.survey_definitions.get_qsf(rec.ids()["surveyId"])
    return await client.survey_definitions.get(rec.ids()["surveyId"])


async def _list_questions(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.survey_definitions.list_questions(rec.ids()["surveyId"]))


async def _get_question(client: QualtricsClient, rec: Recording) -> Any:
    ids = rec.ids()
    return await client.survey_definitions.get_question(ids["surveyId"], ids["questionId"])


async def _get_response(client: QualtricsClient, rec: Recording) -> Any:
    ids = rec.ids()
    return await client.responses.get(ids["surveyId"], ids["responseId"])


async def _list_responses(client: QualtricsClient, rec: Recording) -> Any:
    # Not an endpoint of the API (the recording is its 404): any endpoint goes through request().
    return await client.request("GET", build_path("/surveys/{surveyId}/responses", **rec.ids()))


async def _list_distributions(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.distributions.list(rec.query().get("surveyId", "SV_recorded")))


async def _history(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.distributions.history(rec.ids()["distributionId"]))


async def _links(client: QualtricsClient, rec: Recording) -> Any:
    survey_id = rec.query().get("surveyId", "SV_recorded")
    # The first page only: a recorded nextPage names a page that was not recorded.
    limit = len(elements(rec)) or None if rec.status == 200 else None
    return await collect(client.distributions.links(rec.ids()["distributionId"], survey_id), limit)


async def _create_distribution(client: QualtricsClient, rec: Recording) -> Any:
    return await client.distributions.create_email(
        m.EmailDistribution(
            message=m.DistributionMessage(library_id="UR_1", message_id="MS_1"),
            recipients=m.Recipients(mailing_list_id="ML_1"),
            header=m.DistributionHeaders(from_email="noreply@example.com", from_name="Team", subject="Survey"),
            survey_link=m.SurveyLinkSpec(survey_id="SV_1", type="Individual"),
            send_date=datetime(2019, 7, 3, tzinfo=UTC),
        )
    )


async def _list_subscriptions(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.event_subscriptions.list())


async def _get_subscription(client: QualtricsClient, rec: Recording) -> Any:
    return await client.event_subscriptions.get(rec.ids()["subscriptionId"])


async def _create_subscription(client: QualtricsClient, rec: Recording) -> Any:
    body = EventSubscriptionCreate(
        topics="controlpanel.activateSurvey", publication_url="https://hooks.example/q", shared_key="k" * 32
    )
    return await client.event_subscriptions.create(body)


async def _delete_subscription(client: QualtricsClient, rec: Recording) -> Any:
    return await client.event_subscriptions.delete(rec.ids()["subscriptionId"])


async def _legacy_lists(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.legacy_mailing_lists.list())


async def _legacy_list(client: QualtricsClient, rec: Recording) -> Any:
    return await client.legacy_mailing_lists.get(rec.ids()["mailingListId"])


async def _legacy_contacts(client: QualtricsClient, rec: Recording) -> Any:
    return await collect(client.legacy_mailing_lists.list_contacts(rec.ids()["mailingListId"]))


async def _get_user(client: QualtricsClient, rec: Recording) -> Any:
    return await client.users.get(rec.ids()["userId"])


async def _create_user(client: QualtricsClient, rec: Recording) -> Any:
    body = UserCreate(
        username="new#brand",
        first_name="New",
        last_name="User",
        user_type="UT_1",
        email="new@example.com",
        password="s3cret-Passw0rd",
        language="EN",
    )
    return await client.users.create(body)


async def _create_division(client: QualtricsClient, rec: Recording) -> Any:
    return await client.divisions.create(DivisionCreate(name="Research"))


async def _update_division(client: QualtricsClient, rec: Recording) -> Any:
    return await client.divisions.update(rec.ids()["divisionId"], {"name": "Renamed"})


def _generic(method: str, body: Any = None) -> Call:
    """An endpoint the client does not wrap (legacy exports, Research Core writes): ``client.request``."""

    async def call(client: QualtricsClient, rec: Recording) -> Any:
        return await client.request(method, build_path(rec.endpoint, **rec.ids()), json=body)

    return call


CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/whoami"): _whoami,
    ("GET", "/surveys"): _list_surveys,
    ("GET", "/surveys/{surveyId}"): _get_survey,
    ("POST", "/surveys"): _import_survey,
    ("PUT", "/surveys/{surveyId}"): _update_survey,
    ("DELETE", "/surveys/{surveyId}"): _delete_survey,
    ("GET", "/survey-definitions/{surveyId}"): _get_definition,
    ("GET", "/survey-definitions/{surveyId}/questions"): _list_questions,
    ("GET", "/survey-definitions/{surveyId}/questions/{questionId}"): _get_question,
    ("GET", "/surveys/{surveyId}/responses/{responseId}"): _get_response,
    ("GET", "/surveys/{surveyId}/responses"): _list_responses,
    ("GET", "/distributions"): _list_distributions,
    ("GET", "/distributions/{distributionId}/history"): _history,
    ("GET", "/distributions/{distributionId}/links"): _links,
    ("POST", "/distributions"): _create_distribution,
    ("GET", "/eventsubscriptions"): _list_subscriptions,
    ("GET", "/eventsubscriptions/{subscriptionId}"): _get_subscription,
    ("POST", "/eventsubscriptions"): _create_subscription,
    ("DELETE", "/eventsubscriptions/{subscriptionId}"): _delete_subscription,
    ("GET", "/mailinglists"): _legacy_lists,
    ("GET", "/mailinglists/{mailingListId}"): _legacy_list,
    ("GET", "/mailinglists/{mailingListId}/contacts"): _legacy_contacts,
    ("GET", "/users/{userId}"): _get_user,
    ("POST", "/users"): _create_user,
    ("POST", "/divisions"): _create_division,
    ("PUT", "/divisions/{divisionId}"): _update_division,
    # Endpoints with no method on the client: the legacy export API (retired) and Research Core writes.
    ("POST", "/responseexports"): _generic("POST", {"surveyId": "SV_1", "format": "csv"}),
    ("GET", "/responseexports/{exportId}"): _generic("GET"),
    ("GET", "/responseexports/{responseExportId}"): _generic("GET"),
    ("POST", "/mailinglists"): _generic("POST", {"libraryId": "UR_1", "name": "List", "category": "Unassigned"}),
    ("DELETE", "/mailinglists/{mailingListId}"): _generic("DELETE"),
    ("POST", "/mailinglists/{mailingListId}/contacts"): _generic("POST", {"firstName": "A", "email": "a@example.com"}),
    ("POST", "/mailinglists/{mailingListId}/contactimports"): _generic("POST", {"contacts": []}),
    ("GET", "/mailinglists/{mailingListId}/contactimports/{importId}"): _generic("GET"),
}


# --- what each typed answer must hold ----------------------------------------------------------


def _check_whoami(me: m.WhoAmI, rec: Recording) -> None:
    raw = rec.result()
    assert (me.user_id, me.brand_id, me.datacenter) == (raw["userId"], raw["brandId"], raw["datacenter"])
    assert (me.account_type, me.first_name, me.last_name) == (raw["accountType"], raw["firstName"], raw["lastName"])


def _check_survey_list(surveys: list[m.SurveySummary], rec: Recording) -> None:
    raw = elements(rec)
    assert [(s.id, s.name, s.owner_id, s.is_active) for s in surveys] == [
        (r["id"], r["name"], r["ownerId"], r["isActive"]) for r in raw
    ]
    assert [s.last_modified for s in surveys] == [when(r["lastModified"]) for r in raw]
    assert [s.creation_date for s in surveys] == [when(r.get("creationDate")) for r in raw]


def _check_survey(survey: m.Survey, rec: Recording) -> None:
    raw = rec.result()
    assert (survey.id, survey.name, survey.owner_id, survey.is_active) == (
        raw["id"],
        raw["name"],
        raw["ownerId"],
        raw["isActive"],
    )
    assert survey.organization_id == raw.get("organizationId")
    assert survey.creation_date == when(raw.get("creationDate"))
    assert survey.last_modified_date == when(raw.get("lastModifiedDate"))
    assert survey.questions == raw["questions"]
    assert survey.export_column_map == raw.get("exportColumnMap", {})
    assert survey.flow == raw.get("flow", [])
    if "responseCounts" in raw:
        assert survey.response_counts is not None
        counts = raw["responseCounts"]
        assert (survey.response_counts.auditable, survey.response_counts.generated) == (
            counts["auditable"],
            counts["generated"],
        )
    if raw.get("expiration"):
        assert survey.expiration is not None
        assert survey.expiration.end_date == when(raw["expiration"]["endDate"])


def _check_created_id(created: str, rec: Recording) -> None:
    assert created == rec.result()["id"]
    assert created.split("_", 1)[0] in ("SV", "EMD", "SUB", "UR", "DV", "ML", "MLRP", "PGRS")


def _check_meta_only(result: Any, rec: Recording) -> None:
    assert result is None
    assert "result" not in rec.json() or rec.json()["result"] in ({}, None)


def _check_definition(definition: Any, rec: Recording) -> None:
    raw = rec.result()
    if rec.query().get("format") == "qsf":
        assert definition == raw  # the QSF document, as sent
        assert definition["SurveyEntry"]["SurveyID"] == rec.ids()["surveyId"]
        return
    assert isinstance(definition, m.SurveyDefinition)
    options = raw["SurveyOptions"]
    assert (definition.survey_id, definition.survey_name, definition.survey_status) == (
        raw["SurveyID"],
        raw["SurveyName"],
        raw["SurveyStatus"],
    )
    assert (definition.survey_owner_id, definition.creator_id, definition.survey_brand_id) == (
        raw["OwnerID"],
        raw["CreatorID"],
        raw["BrandID"],
    )
    assert definition.brand_base_url == raw["BrandBaseURL"]
    assert definition.project_category == raw["ProjectInfo"]["ProjectCategory"]
    assert definition.survey_language == options["SurveyLanguage"]
    assert definition.survey_creation_date == when(options["SurveyCreationDate"])
    assert definition.survey_start_date == when(options["SurveyStartDate"])
    assert definition.survey_expiration_date == when(options["SurveyExpirationDate"])
    assert (definition.last_modified, definition.last_activated) == (
        when(raw["LastModified"]),
        when(raw["LastActivated"]),
    )
    assert definition.question_count == int(raw["QuestionCount"])
    assert definition.survey_options == options
    assert set(definition.questions) == set(raw["Questions"])
    for qid, question in definition.questions.items():
        _check_question_values(question, raw["Questions"][qid])
    assert set(definition.blocks) == set(raw["Blocks"])
    for block_id, block in definition.blocks.items():
        wire = raw["Blocks"][block_id]
        assert (block.id, block.type, block.description) == (wire["ID"], wire["Type"], wire["Description"])
        assert block.question_ids == [e["QuestionID"] for e in wire["BlockElements"] if "QuestionID" in e]
        assert block == wire  # every member kept
    assert definition.survey_flow is not None
    assert definition.survey_flow == raw["SurveyFlow"]
    assert definition.survey_flow.flow_id == raw["SurveyFlow"]["FlowID"]


def _check_question_values(question: m.Question, wire: dict[str, Any]) -> None:
    assert question == wire  # every member kept, exactly as sent
    assert (question.question_id, question.question_type, question.selector) == (
        wire["QuestionID"],
        wire["QuestionType"],
        wire["Selector"],
    )
    assert (question.question_text, question.data_export_tag) == (wire["QuestionText"], wire.get("DataExportTag"))
    assert question.sub_selector == wire.get("SubSelector")
    choices = wire.get("Choices")
    if isinstance(choices, dict):
        assert question.choices is not None
        assert {k: c.display for k, c in question.choices.items()} == {
            k: c.get("Display") for k, c in choices.items() if isinstance(c, dict)
        }
        for key, choice in question.choices.items():
            text_entry = choices[key].get("TextEntry")
            assert choice.text_entry is (None if text_entry is None else text_entry in (1, True, "true", "on"))
    if "ChoiceOrder" in wire:
        assert question.choice_order == [str(k) for k in wire["ChoiceOrder"]]
    validation = wire.get("Validation")
    assert question.validation == (validation if isinstance(validation, dict) else None)


def _check_questions(questions: list[m.Question], rec: Recording) -> None:
    raw = elements(rec)
    assert len(questions) == len(raw)
    for question, wire in zip(questions, raw, strict=True):
        _check_question_values(question, wire)


def _check_question(question: m.Question, rec: Recording) -> None:
    _check_question_values(question, rec.result())


def _check_response(response: m.SingleResponse, rec: Recording) -> None:
    raw = rec.result()
    assert response.response_id == raw["responseId"]
    assert response.values == raw["values"]
    assert response.labels == raw["labels"]
    assert response.displayed_fields == raw["displayedFields"]
    assert response.displayed_values == raw["displayedValues"]
    arrays = [k for k, v in raw["values"].items() if isinstance(v, list)]
    assert arrays, "the recording holds array values (display orders)"
    assert all(isinstance(response.values[k], list) for k in arrays)


def _check_distributions(distributions: list[m.Distribution], rec: Recording) -> None:
    assert [d.id for d in distributions] == [r["id"] for r in elements(rec)]
    assert rec.result()["nextPage"] is None


def _check_history(entries: list[m.DistributionHistoryEntry], rec: Recording) -> None:
    raw = elements(rec)
    assert [(e.contact_id, e.contact_lookup_id, e.distribution_id, e.status) for e in entries] == [
        (r["contactId"], r["contactLookupId"], r["distributionId"], r["status"]) for r in raw
    ]
    assert all(e.distribution_id for e in entries)
    assert [(e.sent_at, e.opened_at, e.response_started_at) for e in entries] == [
        (when(r["sentAt"]), when(r["openedAt"]), when(r["responseStartedAt"])) for r in raw
    ]
    assert [(e.survey_link, e.survey_session_id) for e in entries] == [
        (r["surveyLink"], r["surveySessionId"]) for r in raw
    ]


def _check_links(links: list[m.DistributionLink], rec: Recording) -> None:
    raw = elements(rec)
    assert [(link.contact_id, link.link, link.status, link.email) for link in links] == [
        (r["contactId"], r["link"], r["status"], r["email"]) for r in raw
    ]
    assert [link.link_expiration for link in links] == [when(r["linkExpiration"]) for r in raw]
    assert [link.unsubscribed for link in links] == [r["unsubscribed"] in (True, "1") for r in raw]
    assert [link.exceeded_contact_frequency for link in links] == [r["exceededContactFrequency"] for r in raw]


def _check_subscriptions(subscriptions: list[m.EventSubscription], rec: Recording) -> None:
    raw = elements(rec)
    assert [(s.id, s.topics, s.publication_url) for s in subscriptions] == [
        (r["id"], r["topics"], r["publicationUrl"]) for r in raw
    ]
    assert [(s.encrypted, s.scope, s.successful_calls) for s in subscriptions] == [
        (r["encrypted"], r["scope"], r["successfulCalls"]) for r in raw
    ]


def _check_subscription(subscription: m.EventSubscription, rec: Recording) -> None:
    raw = rec.result()
    assert (subscription.id, subscription.topics, subscription.publication_url) == (
        raw["id"],
        raw["topics"],
        raw["publicationUrl"],
    )
    assert (subscription.encrypted, subscription.scope, subscription.successful_calls) == (
        raw["encrypted"],
        raw["scope"],
        raw["successfulCalls"],
    )


def _check_legacy_lists(lists: list[m.LegacyMailingList], rec: Recording) -> None:
    assert [(x.id, x.library_id, x.name, x.category, x.folder) for x in lists] == [
        (r["id"], r["libraryId"], r["name"], r["category"], r["folder"]) for r in elements(rec)
    ]


def _check_legacy_list(mailing_list: m.LegacyMailingList, rec: Recording) -> None:
    raw = rec.result()
    assert (mailing_list.id, mailing_list.library_id, mailing_list.name) == (raw["id"], raw["libraryId"], raw["name"])
    assert (mailing_list.category, mailing_list.folder) == (raw["category"], raw["folder"])


def _check_legacy_contacts(contacts: list[m.LegacyContact], rec: Recording) -> None:
    raw = elements(rec)
    assert [(c.id, c.first_name, c.last_name, c.email) for c in contacts] == [
        (r["id"], r["firstName"], r["lastName"], r["email"]) for r in raw
    ]
    assert [(c.external_data_reference, c.language, c.unsubscribed) for c in contacts] == [
        (r["externalDataReference"], r["language"], r["unsubscribed"]) for r in raw
    ]
    assert [c.embedded_data for c in contacts] == [r["embeddedData"] for r in raw]
    assert any(c.embedded_data for c in contacts)


def _check_user(user: m.User, rec: Recording) -> None:
    raw = rec.result()
    assert (user.id, user.username, user.email, user.user_type) == (
        raw["id"],
        raw["username"],
        raw["email"],
        raw["userType"],
    )
    assert (user.account_status, user.organization_id, user.language) == (
        raw["accountStatus"],
        raw["organizationId"],
        raw["language"],
    )
    assert user.account_creation_date == when(raw["accountCreationDate"])
    assert user.last_login_date == when(raw["lastLoginDate"])
    assert user.permissions == raw["permissions"]


def _check_generic(result: Any, rec: Recording) -> None:
    raw = rec.json()
    assert result == raw.get("result")
    if isinstance(result, dict) and result:
        assert set(result) == set(raw["result"])


CHECKS: dict[tuple[str, str], Check] = {
    ("GET", "/whoami"): _check_whoami,
    ("GET", "/surveys"): _check_survey_list,
    ("GET", "/surveys/{surveyId}"): _check_survey,
    ("POST", "/surveys"): _check_created_id,
    ("PUT", "/surveys/{surveyId}"): _check_meta_only,
    ("DELETE", "/surveys/{surveyId}"): _check_meta_only,
    ("GET", "/survey-definitions/{surveyId}"): _check_definition,
    ("GET", "/survey-definitions/{surveyId}/questions"): _check_questions,
    ("GET", "/survey-definitions/{surveyId}/questions/{questionId}"): _check_question,
    ("GET", "/surveys/{surveyId}/responses/{responseId}"): _check_response,
    ("GET", "/distributions"): _check_distributions,
    ("GET", "/distributions/{distributionId}/history"): _check_history,
    ("GET", "/distributions/{distributionId}/links"): _check_links,
    ("POST", "/distributions"): _check_created_id,
    ("GET", "/eventsubscriptions"): _check_subscriptions,
    ("GET", "/eventsubscriptions/{subscriptionId}"): _check_subscription,
    ("POST", "/eventsubscriptions"): _check_created_id,
    ("DELETE", "/eventsubscriptions/{subscriptionId}"): _check_meta_only,
    ("GET", "/mailinglists"): _check_legacy_lists,
    ("GET", "/mailinglists/{mailingListId}"): _check_legacy_list,
    ("GET", "/mailinglists/{mailingListId}/contacts"): _check_legacy_contacts,
    ("GET", "/users/{userId}"): _check_user,
    ("POST", "/users"): _check_created_id,
    ("POST", "/divisions"): _check_created_id,
    ("PUT", "/divisions/{divisionId}"): _check_meta_only,
}

_EXPORT_FLOW = ("/surveys/{surveyId}/export-responses", "/responseexports/{responseExportId}/file")
_JSON_ANSWERS = [
    r for r in load_recordings() if r.is_json and r.status < 400 and not r.endpoint.startswith(_EXPORT_FLOW)
]
_ERRORS = [r for r in load_recordings() if r.status >= 400]


@pytest.mark.parametrize("rec", _JSON_ANSWERS, ids=lambda r: r.id)
async def test_a_recorded_answer_decodes_with_its_values(rec: Recording) -> None:
    key = (rec.method, rec.endpoint)
    assert key in CALLS, f"{rec.id}: no public call replays {key}"
    async with ReplayServer().answer(rec) as server, replay_client(server) as client:
        result = await CALLS[key](client, rec)
    CHECKS.get(key, _check_generic)(result, rec)
    sent = list(server.requests_to(rec.method, rec.endpoint))
    assert sent, f"the client did not call {rec.method} {rec.endpoint}"


_ERROR_CLASSES: dict[str, type[APIStatusError]] = {
    "ATP_2": AuthenticationError,  # recorded: missing credentials answer 400, not 401
}
_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    403: PermissionDeniedError,
    404: NotFoundError,
}


@pytest.mark.parametrize("rec", _ERRORS, ids=lambda r: r.id)
async def test_a_recorded_error_raises_the_documented_error_with_its_details(rec: Recording) -> None:
    meta = rec.json()["meta"]
    error = meta.get("error") or {}
    code = error.get("errorCode") or meta.get("internalErrorCode")
    message = error.get("errorMessage") or meta.get("errorMessage")
    async with ReplayServer().answer(rec) as server, replay_client(server) as client:
        with pytest.raises(APIStatusError) as caught:
            await CALLS[(rec.method, rec.endpoint)](client, rec)
    exc = caught.value
    expected = _ERROR_CLASSES.get(code or "", _STATUS_CLASSES[rec.status])
    assert isinstance(exc, expected), f"{type(exc).__name__} is not {expected.__name__}"
    assert exc.status == rec.status
    assert (exc.error_code, exc.error_message) == (code, message)
    request_id = meta.get("requestId") or meta.get("errorId")  # errorId: the legacy (2015) form
    assert exc.request_id == request_id
    text = str(exc)
    assert message in text
    assert code is None or code in text
    assert request_id is None or request_id in text
    if meta.get("notice"):
        assert meta["notice"] in text
    assert len(server.seen) == 1, "an error answer of this kind is not retried"


# --- exports: the recorded job answers, then each recorded file ----------------------------------


def _csv_rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def _zip_member(rec: Recording) -> bytes:
    with zipfile.ZipFile(io.BytesIO(rec.body)) as archive:
        (name,) = archive.namelist()
        return archive.read(name)


async def _stream_export(server: ReplayServer, survey_id: str, **options: Any) -> tuple[Any, list[Any]]:
    async with replay_client(server) as client:
        job = await client.responses.start_export(survey_id, format="csv", **options)
        await job.wait(schedule=FAST_POLLS)
        return job, await collect(job.records())


def _record_keys(header: list[str], import_ids: list[str]) -> list[str]:
    """The keys a record must have: the header's names, a repeated name keyed by its ImportId."""
    keys: list[str] = []
    for name, cell in zip(header, import_ids, strict=True):
        keys.append(name if name not in keys else json.loads(cell)["ImportId"])
    return keys


def _assert_records_match_csv(records: list[dict[str, Any]], data: bytes) -> None:
    rows = _csv_rows(data)
    header, body = rows[0], rows[3:]
    keys = _record_keys(header, rows[2])
    assert len(set(keys)) == len(header), "no column may be lost to a repeated name"
    assert len(records) == len(body)
    assert records, "the recorded export holds responses"
    for record, row in zip(records, body, strict=True):
        assert list(record) == keys
        assert list(record.values()) == row


async def test_a_recorded_export_job_runs_from_start_through_polls_to_its_recorded_file() -> None:
    start = recording("exports/qualtrics-r-export-responses-start")
    polls = [
        recording(f"exports/qualtrics-r-export-responses-progress-{name}")
        for name in ("in-progress", "partial", "complete")
    ]
    file = recording("exports/qualtrics-r-export-file-beskar")
    server = ReplayServer().answer(start)
    for poll in polls:
        server.answer(poll, times=1)
    server.answer(file)
    async with server:
        job, records = await _stream_export(server, "SV_3gbwq8aJgqPwQDP")
    assert job.state.progress_id == start.result()["progressId"]
    assert job.file_id == polls[-1].result()["fileId"]
    assert len(list(server.requests_to("GET", "/surveys/{surveyId}/export-responses/{exportProgressId}"))) == 3
    (download,) = server.requests_to("GET", "/surveys/{surveyId}/export-responses/{fileId}/file")
    assert download.path.endswith(f"/{polls[-1].result()['fileId']}/file")
    _assert_records_match_csv(records, _zip_member(file))


async def test_a_recorded_2020_export_job_with_a_bare_uuid_file_id_runs_to_its_file() -> None:
    # Before late 2020 the fileId was a bare uuid; after, uuid + "-def". Both must work.
    complete = recording("exports/qualtrics-r-export-responses-progress-complete-2020")
    file = recording("exports/qualtrics-r-export-file-beskar-2020")
    server = ReplayServer().answer(recording("exports/qualtrics-r-export-responses-start")).answer(complete)
    server.answer(file)
    async with server:
        job, records = await _stream_export(server, "SV_3gbwq8aJgqPwQDP")
    assert job.file_id == complete.result()["fileId"]
    assert job.state.percent_complete == complete.result()["percentComplete"]
    (download,) = server.requests_to("GET", "/surveys/{surveyId}/export-responses/{fileId}/file")
    assert download.path.endswith(f"/{complete.result()['fileId']}/file")
    _assert_records_match_csv(records, _zip_member(file))


_EXPORT_FILES = recordings_of("GET", "/surveys/{surveyId}/export-responses/{fileId}/file")


@pytest.mark.parametrize("file", _EXPORT_FILES, ids=lambda r: r.id)
async def test_a_recorded_export_file_streams_as_its_csv_rows(file: Recording) -> None:
    complete = recording("exports/qualtrics-r-export-responses-progress-complete")
    start = recording("exports/qualtrics-r-export-responses-start")
    server = ReplayServer().answer(start).answer(complete).answer(file)
    async with server:
        _job, records = await _stream_export(server, "SV_recorded")
    data = _zip_member(file)
    assert not data.startswith(b"\xef\xbb\xbf"), "recorded current exports carry no byte-order mark"
    _assert_records_match_csv(records, data)


@pytest.mark.parametrize("file", recordings_of("GET", "/responseexports/{responseExportId}/file"), ids=lambda r: r.id)
async def test_a_recorded_csv_file_streams_as_an_uncompressed_export(file: Recording) -> None:
    complete = recording("exports/qualtrics-r-export-responses-progress-complete")
    server = ReplayServer().answer(recording("exports/qualtrics-r-export-responses-start")).answer(complete)
    server.answer(file, template="/surveys/{surveyId}/export-responses/{fileId}/file")
    async with server:
        _job, records = await _stream_export(server, "SV_recorded", compress=False)
    rows = _csv_rows(file.body)
    header = rows[0]
    # The legacy format has two header rows, the current one three (the ImportId row).
    first_data = 3 if rows[2] and rows[2][0].startswith('{"ImportId"') else 2
    assert [list(r.values()) for r in records] == rows[first_data:]
    assert all(list(r) == header for r in records)


# --- paging across a proxied datacenter ---------------------------------------------------------


async def test_a_proxied_next_page_on_another_qualtrics_host_is_asked_of_our_own_origin() -> None:
    first = recording("distributions/qualtrics-api-rb-distribution-links-page")
    last = recording("distributions/qualtrics-r-distribution-links")
    server = ReplayServer().answer(first, times=1).answer(last)
    next_page = first.result()["nextPage"]
    assert next_page.startswith("https://az1.qualtrics.com/")  # the call went to co1
    async with server, replay_client(server) as client:
        links = await collect(client.distributions.links(first.ids()["distributionId"], "SV_eVtvUQALTlL8Uzr"))
    assert len(links) == len(elements(first)) + len(elements(last))
    second = server.seen[1]
    assert second.path == "/API/v3/distributions/EMD_9A7FZioL5pgWZJb/links"
    assert second.query["skipToken"] == "MLRP_2trBWUssJTdtDF3"
    assert second.query["surveyId"] == "SV_eVtvUQALTlL8Uzr"


# --- the corpus itself ---------------------------------------------------------------------------


# The export-job answers each named by an export test above (a new one needs a test of its own).
_EXPORT_JOB_ANSWERS = {
    "exports/qualtrics-r-export-responses-start",
    "exports/qualtrics-r-export-responses-progress-in-progress",
    "exports/qualtrics-r-export-responses-progress-partial",
    "exports/qualtrics-r-export-responses-progress-complete",
    "exports/qualtrics-r-export-responses-progress-complete-2020",
}


def test_every_recording_is_replayed_by_a_test() -> None:
    covered = {r.id for r in _JSON_ANSWERS} | {r.id for r in _ERRORS} | {r.id for r in _EXPORT_FILES}
    covered |= {r.id for r in recordings_of("GET", "/responseexports/{responseExportId}/file")}
    covered |= _EXPORT_JOB_ANSWERS
    assert covered == {r.id for r in load_recordings()}


def test_every_recording_names_its_source() -> None:
    for rec in load_recordings():
        source = rec.source
        assert source["repository"].count("/") == 1, rec.id
        assert source["path"], rec.id
        assert len(source["commit"]) in (0, 40), rec.id
        assert source["commit"] or source["path"].startswith("issues/"), rec.id
        assert len(source["why_recorded"].split()) >= 8, f"{rec.id}: say why it counts as recorded"
        assert source["endpoint"].startswith("/"), rec.id
        assert rec.body, rec.id
        if rec.is_json:
            rec.json()
        if rec.suffix == ".zip":
            assert zipfile.ZipFile(io.BytesIO(rec.body)).testzip() is None, rec.id
        assert Path(rec.family).name in {
            "whoami",
            "surveys",
            "survey_definitions",
            "responses",
            "exports",
            "distributions",
            "directory",
            "mailing_lists",
            "admin",
            "event_subscriptions",
            "errors",
        }, rec.id
