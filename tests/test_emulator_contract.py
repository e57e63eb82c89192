"""Contract test: the emulator answers with the shapes of the bodies recorded from live tenants.

For every recorded JSON body (``tests/recordings``) of an endpoint the emulator serves, errors
included, the emulator is driven over loopback with plain aiohttp (never through the client)
until it answers the same endpoint with the same status, and the two bodies are compared by
*shape*:

(a) every JSON path of the emulator's answer exists in the recordings of that endpoint (same
    method, route template and status; ``?format=qsf`` counts as an endpoint of its own),
    with a compatible type. ``null`` is compatible with any type, either way; ``int`` and
    ``float`` are distinct (a recording showing both accepts both); a path below a value the
    recordings only show as ``null``, an empty list or an empty object is not in them.
    Several recordings of one endpoint (2016 to 2025) are samples of one shape: the emulator
    is checked against their union, since a field added by Qualtrics in 2020 is absent from
    the 2016 body without the 2016 body contradicting it.
(b) the keys at the top of the recording's ``result`` -- or, for a page, of every recorded
    list element -- are in the emulator's answer (minus :data:`EXEMPT`, each with its
    reason), and so are the recording's top-level keys (``result``/``meta``) and the keys of
    its ``meta`` and ``meta.error``.

``meta`` is one envelope for the whole API, so (a) compares it with
the union of the recorded ``meta`` objects of every endpoint: success answers with success
ones, errors with errors (2016 answers predate ``requestId``; the gateway's not-found has no
``errorCode``). A recording whose ``meta`` has a ``notice`` is driven with
``proxied_host`` (and ``proxy_next_pages``) set, so (b) also proves the notice option.

Objects keyed by data are *maps*, compared by the union of their values, never by their keys:
question ids, choice numbers, ``RS_…``/``BL_…`` ids (any object whose keys are all such ids
or numbers) and the objects named in :data:`MAP_KEYS` (export tags, response fields, a
contact's embedded data, language codes). ``SurveyOptions`` is an object, not a map. Survey
flows nest (``Flow`` inside ``Flow``): every depth is compared with one shape. A survey
question is one shape wherever it is recorded (``GET …/questions/{questionId}``, the
elements of ``GET …/questions`` and the ``Questions`` of ``GET /survey-definitions/{id}``), so
those three compare with the union of all recorded questions.

Recorded export files (ZIP) are compared by layout in :func:`test_export_file_has_the_recorded_layout`.
Recordings of endpoints the emulator does not serve are listed in :data:`NOT_SERVED` with the
reason, and :func:`test_every_recording_is_driven_or_listed` fails for any recording that is
neither driven nor listed, so none is skipped silently.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from qualtrics_async.testing import QualtricsEmulator
from qualtrics_async.testing._data import SHOWCASE_INDEX
from qualtrics_async.testing._survey_api import SurveyRoutes
from tests.replay import Recording, load_recordings

Json = dict[str, Any]

# --- shapes --------------------------------------------------------------------------------------

MAP_KEYS = frozenset(
    {
        "exportColumnMap",  # legacy survey: keyed by export tags ("Q1", "new.choicerandom_1")
        "values",  # single response: keyed by field names ("startDate", "QID1_DO")
        "labels",
        "displayedValues",
        "embeddedData",  # a legacy contact's embedded data, keyed by field names
        "AvailableLanguages",  # survey options: keyed by language codes
    }
)
"""Objects that are maps by their name, whatever their keys look like."""
DATA_KEY = re.compile(r"\d+|QID\d+\S*|[A-Z]{1,5}_[A-Za-z0-9]{6,}")
"""A key that is data: a number, a question id, a Qualtrics id (``BL_…``, ``RS_…``)."""
RECURSIVE_KEYS = frozenset({"Flow", "flow"})
"""Keys whose value nests itself (survey flows): every depth shares one shape."""


@dataclass
class Shape:
    """The union of the JSON values recorded at one path."""

    types: set[str] = field(default_factory=set)
    keys: dict[str, Shape] = field(default_factory=dict)  # of an object
    items: Shape | None = None  # of a list
    values: Shape | None = None  # of a map


@dataclass
class Union:
    """The shape of every recorded body of one endpoint (``root``), with its recursive nodes."""

    root: Shape = field(default_factory=Shape)
    anchors: dict[str, Shape] = field(default_factory=dict)

    def add(self, value: Any) -> None:
        _add(self.root, value, "", self.anchors)


def kind(value: Any, name: str) -> str:
    """The JSON type of ``value`` found under the key ``name`` (objects split into maps and objects)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value and (name in MAP_KEYS or all(DATA_KEY.fullmatch(key) for key in value)):
        return "map"
    return "object"


def _add(shape: Shape, value: Any, name: str, anchors: dict[str, Shape]) -> None:
    found = kind(value, name)
    shape.types.add(found)
    if found == "object":
        for key, child in value.items():
            if key in RECURSIVE_KEYS:
                node = anchors.setdefault(key, shape.keys.get(key) or Shape())
                shape.keys[key] = node
            else:
                node = shape.keys.setdefault(key, Shape())
            _add(node, child, key, anchors)
    elif found == "map":
        shape.values = shape.values or Shape()
        for child in value.values():
            _add(shape.values, child, "", anchors)
    elif found == "list":
        shape.items = shape.items or Shape()
        for child in value:
            _add(shape.items, child, "", anchors)


def problems(value: Any, shape: Shape | None, path: str, anchors: dict[str, Shape], name: str = "") -> list[str]:
    """Rule (a): where ``value`` (an emulator answer) leaves the recorded ``shape``."""
    if shape is None:
        return [f"{path}: not in any recording"]
    found = kind(value, name)
    if found == "null":
        return []
    if found not in shape.types and shape.types != {"null"} and not (found == "object" and "map" in shape.types):
        return [f"{path}: {found}, recorded {sorted(shape.types)}"]
    out: list[str] = []
    if found == "object":
        for key, child in value.items():
            node = anchors.get(key) if key in RECURSIVE_KEYS else None
            out += problems(child, node or shape.keys.get(key), f"{path}.{key}", anchors, key)
    elif found == "map":
        for key, child in value.items():
            out += problems(child, shape.values, f"{path}.<{key}>", anchors)
    elif found == "list":
        for index, child in enumerate(value):
            out += problems(child, shape.items, f"{path}[{index}]", anchors)
    return out


# --- recordings ----------------------------------------------------------------------------------

Key = tuple[str, str, int, str]
"""``(method, route template, status, variant)``; the variant is ``"qsf"`` for ``?format=qsf``."""


def key_of(rec: Recording) -> Key:
    variant = "qsf" if rec.query().get("format") == "qsf" else ""
    return rec.method, rec.endpoint, rec.status, variant


EXPORT_FILE = ("GET", "/surveys/{surveyId}/export-responses/{fileId}/file", 200, "")

NOT_SERVED: dict[tuple[str, str], str] = {
    ("POST", "/responseexports"): "the legacy export API, retired by Qualtrics (docs/fidelity.md)",
    ("GET", "/responseexports/{exportId}"): "the legacy export API, retired by Qualtrics",
    ("GET", "/responseexports/{responseExportId}"): "the legacy export API, retired by Qualtrics",
    ("GET", "/responseexports/{responseExportId}/file"): "the legacy export API, retired by Qualtrics",
    ("POST", "/mailinglists"): "legacy Research Core lists are served read-only (retired 2026-06-30)",
    ("DELETE", "/mailinglists/{mailingListId}"): "legacy Research Core lists are served read-only",
    ("POST", "/mailinglists/{mailingListId}/contacts"): "legacy Research Core lists are served read-only",
    ("POST", "/mailinglists/{mailingListId}/contactimports"): "legacy Research Core lists are served read-only",
    ("GET", "/mailinglists/{mailingListId}/contactimports/{importId}"): "legacy Research Core lists are read-only",
}
"""Recorded endpoints the emulator has no route for (it answers them with the gateway's 404)."""

QUESTION: Key = ("GET", "/survey-definitions/{surveyId}/questions/{questionId}", 200, "")
QUESTIONS: Key = ("GET", "/survey-definitions/{surveyId}/questions", 200, "")
DEFINITION: Key = ("GET", "/survey-definitions/{surveyId}", 200, "")
QSF: Key = ("GET", "/survey-definitions/{surveyId}", 200, "qsf")

EXEMPT: dict[Key, dict[str, str]] = {
    QUESTIONS: {
        "Validation": "the built-in Meta (Browser) question has no Validation (recorded in the 2021 definition), "
        "while all 684 questions of the recorded list have one",
    },
}
"""Rule (b) exemptions: recorded keys the emulator may leave out, per endpoint, with the reason."""


def _questions_in(key: Key, result: Any) -> Iterable[Any]:
    if key == QUESTION:
        yield result
    elif key == QUESTIONS:
        yield from result.get("elements", [])
    elif key == DEFINITION:
        yield from result.get("Questions", {}).values()


def _flows_in(key: Key, result: Any) -> Iterable[Any]:
    if key == DEFINITION:
        yield result.get("SurveyFlow")
    elif key == QSF:
        yield from (e.get("Payload") for e in result.get("SurveyElements", []) if e.get("Element") == "FL")


SHARED: dict[str, tuple[Callable[[Key, Any], Iterable[Any]], dict[Key, tuple[str, ...]]]] = {
    "question": (_questions_in, {QUESTION: (), QUESTIONS: ("elements", "[]"), DEFINITION: ("Questions", "*")}),
    "flow": (_flows_in, {DEFINITION: ("SurveyFlow",), QSF: ("SurveyElements", "[]", "Payload")}),
}
"""Shapes recorded under several endpoints, pooled: a survey question (single, listed, in a
definition) and a survey flow (in a definition, in a QSF document). Each entry: how to find
the values in a recorded ``result``, and where the pooled shape is grafted per endpoint.
QSF questions are not pooled: they are a shape of their own (no ``QuestionText_Unsafe``)."""


def json_recordings() -> list[Recording]:
    return [r for r in load_recordings() if r.is_json]


def served(rec: Recording) -> bool:
    return (rec.method, rec.endpoint) not in NOT_SERVED


def _site(shape: Shape, path: tuple[str, ...]) -> Shape:
    for step in path:
        if step == "[]":
            shape.items = shape.items or Shape()
            shape = shape.items
        elif step == "*":
            shape.values = shape.values or Shape()
            shape = shape.values
        else:
            shape = shape.keys.setdefault(step, Shape())
    return shape


def _merge(into: Shape, other: Shape, anchors: dict[str, Shape], seen: set[tuple[int, int]]) -> None:
    """Add ``other`` to ``into``; a recursive key lands on ``into``'s anchor (shapes with cycles
    are merged pair by pair, once)."""
    if (id(into), id(other)) in seen:
        return
    seen.add((id(into), id(other)))
    into.types |= other.types
    for name, child in other.keys.items():
        if name in RECURSIVE_KEYS:
            target = into.keys[name] = anchors.setdefault(name, into.keys.get(name) or Shape())
        else:
            target = into.keys.setdefault(name, Shape())
        _merge(target, child, anchors, seen)
    for attr in ("items", "values"):
        theirs = getattr(other, attr)
        if theirs is not None:
            mine = getattr(into, attr) or Shape()
            setattr(into, attr, mine)
            _merge(mine, theirs, anchors, seen)


def result_union(key: Key) -> Union:
    """Rule (a)'s reference for ``result``: every recording of the endpoint, shared shapes pooled."""
    union = Union()
    for rec in json_recordings():
        if key_of(rec) == key and "result" in rec.json():
            union.add(rec.json()["result"])
    for find, sites in SHARED.values():
        if key not in sites:
            continue
        pooled = Union()
        for rec in json_recordings():
            if key_of(rec) in sites:
                for value in find(key_of(rec), rec.json().get("result")):
                    pooled.add(value)
        _merge(_site(union.root, sites[key]), pooled.root, union.anchors, set())
    return union


def meta_union(error: bool) -> Union:
    """Rule (a)'s reference for ``meta``: every served recording's, errors or successes."""
    union = Union()
    for rec in json_recordings():
        if served(rec) and (rec.status >= 400) == error:
            union.add(rec.json().get("meta"))
    return union


def root_keys(key: Key) -> set[str]:
    return {k for rec in json_recordings() if key_of(rec) == key for k in rec.json()}


# --- driving the emulator ------------------------------------------------------------------------


@dataclass
class Ctx:
    """An emulator and a plain aiohttp session, with the ids a call needs."""

    emu: QualtricsEmulator
    http: aiohttp.ClientSession

    @property
    def showcase(self) -> str:
        """The seeded survey with Timing, Meta and multiple-answer questions."""
        return str(self.emu.data.surveys[SHOWCASE_INDEX]["id"])

    def survey(self, index: int) -> str:
        return str(self.emu.data.surveys[index]["id"])

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> tuple[int, Json]:
        headers = {"X-API-TOKEN": self.emu.api_token} if auth else {}
        async with self.http.request(
            method, self.emu.api_url + path, json=json_body, params=params, headers=headers, **kwargs
        ) as resp:
            body: Json = await resp.json(content_type=None)
            return resp.status, body

    async def ok(self, method: str, path: str, **kwargs: Any) -> Json:
        status, body = await self.call(method, path, **kwargs)
        assert status == 200, (method, path, body)
        return body

    async def new_survey(self, name: str) -> str:
        body = await self.ok(
            "POST", "/survey-definitions", json_body={"SurveyName": name, "Language": "EN", "ProjectCategory": "CORE"}
        )
        return str(body["result"]["SurveyID"])


Answers = list[tuple[int, Json]]
Driver = Callable[[Ctx, Recording], Awaitable[Answers]]
DRIVERS: dict[Key, Driver] = {}


def drives(method: str, endpoint: str, status: int = 200, variant: str = "") -> Callable[[Driver], Driver]:
    def register(driver: Driver) -> Driver:
        DRIVERS[(method, endpoint, status, variant)] = driver
        return driver

    return register


def one(answer: tuple[int, Json]) -> Answers:
    return [answer]


UNKNOWN = {"survey": "SV_000000000000000", "distribution": "EMD_0000000000000xx", "subscription": "SUB_000000000000000"}


@drives("GET", "/whoami")
async def _whoami(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", "/whoami"))


@drives("GET", "/whoami", 400)
async def _whoami_without_credentials(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", "/whoami", auth=False))


@drives("GET", "/surveys")
async def _list_surveys(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", "/surveys", params={"pageSize": "5"}))


@drives("GET", "/surveys/{surveyId}")
async def _get_survey(ctx: Ctx, rec: Recording) -> Answers:
    return [await ctx.call("GET", f"/surveys/{survey}") for survey in (ctx.showcase, ctx.survey(0))]


@drives("GET", "/surveys/{surveyId}", 404)
async def _get_unknown_survey(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/surveys/{UNKNOWN['survey']}"))


@drives("POST", "/surveys")
async def _import_survey(ctx: Ctx, rec: Recording) -> Answers:
    qsf = (await ctx.ok("GET", f"/survey-definitions/{ctx.showcase}", params={"format": "qsf"}))["result"]
    form = aiohttp.FormData()
    form.add_field("name", "Imported")
    form.add_field("file", json.dumps(qsf), filename="s.qsf", content_type="application/vnd.qualtrics.survey.qsf")
    return one(await ctx.call("POST", "/surveys", data=form))


@drives("PUT", "/surveys/{surveyId}")
async def _update_survey(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("PUT", f"/surveys/{ctx.survey(1)}", json_body={"isActive": True}))


@drives("DELETE", "/surveys/{surveyId}")
async def _delete_survey(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("DELETE", f"/surveys/{await ctx.new_survey('To delete')}"))


@drives("GET", "/survey-definitions/{surveyId}")
async def _get_definition(ctx: Ctx, rec: Recording) -> Answers:
    created = await ctx.new_survey("Created")
    mc = {
        "QuestionText": "Pick one",
        "QuestionType": "MC",
        "Selector": "SAVR",
        "SubSelector": "TX",
        "Choices": {"1": {"Display": "Yes"}, "2": {"Display": "No"}},
        "ChoiceOrder": [1, 2],
        "Validation": {"Settings": {"ForceResponse": "OFF", "ForceResponseType": "ON", "Type": "None"}},
    }
    await ctx.ok("POST", f"/survey-definitions/{created}/questions", json_body=mc)
    return [await ctx.call("GET", f"/survey-definitions/{s}") for s in (ctx.showcase, ctx.survey(0), created)]


@drives("GET", "/survey-definitions/{surveyId}", 200, "qsf")
async def _get_qsf(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/survey-definitions/{ctx.showcase}", params={"format": "qsf"}))


@drives("GET", "/survey-definitions/{surveyId}/questions")
async def _list_questions(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/survey-definitions/{ctx.showcase}/questions"))


@drives("GET", "/survey-definitions/{surveyId}/questions", 403)
async def _list_questions_of_an_unknown_survey(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/survey-definitions/{UNKNOWN['survey']}/questions"))


@drives("GET", "/survey-definitions/{surveyId}/questions/{questionId}")
async def _get_question(ctx: Ctx, rec: Recording) -> Answers:
    """The showcase's question of the recorded type (every other type is listed by ``_list_questions``)."""
    wanted = (rec.result()["QuestionType"], rec.result()["Selector"])
    questions = (await ctx.ok("GET", f"/survey-definitions/{ctx.showcase}/questions"))["result"]["elements"]
    ids = [q["QuestionID"] for q in questions if (q["QuestionType"], q["Selector"]) == wanted]
    assert ids, f"the showcase survey has no {wanted} question"
    return [await ctx.call("GET", f"/survey-definitions/{ctx.showcase}/questions/{qid}") for qid in ids]


@drives("GET", "/surveys/{surveyId}/responses/{responseId}")
async def _get_response(ctx: Ctx, rec: Recording) -> Answers:
    routes = ctx.emu.families["surveys"]
    assert isinstance(routes, SurveyRoutes)
    routes.response_ready_seconds = 0.0
    survey = ctx.showcase
    questions = ctx.emu.data.survey_details[survey]["questions"]
    values: Json = {"finished": 1}
    for qid, question in questions.items():
        kind_ = question["questionType"]
        if kind_["type"] == "MC" and kind_["selector"] == "MAVR":
            values[qid] = ["1", "3"]
            values[f"{qid}_3_TEXT"] = "By carrier pigeon"
        elif kind_["type"] == "MC":
            values[qid] = int(next(iter(question["choices"])))
        elif kind_["type"] == "TE":
            values[f"{qid}_TEXT"] = "Fine."
    created = await ctx.ok("POST", f"/surveys/{survey}/responses", json_body={"values": values})
    return one(await ctx.call("GET", f"/surveys/{survey}/responses/{created['result']['responseId']}"))


@drives("GET", "/surveys/{surveyId}/responses", 404)
async def _list_responses(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/surveys/{ctx.survey(0)}/responses"))  # no such route: the gateway's 404


@drives("POST", "/surveys/{surveyId}/export-responses")
async def _start_export(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("POST", f"/surveys/{ctx.showcase}/export-responses", json_body={"format": "csv"}))


@drives("GET", "/surveys/{surveyId}/export-responses/{exportProgressId}")
async def _export_progress(ctx: Ctx, rec: Recording) -> Answers:
    """A finished job for a recording of one, else a job that never finishes (a recorded poll)."""
    survey = ctx.showcase
    if rec.result()["status"] == "complete":
        ctx.emu.set_export_duration(0)
    else:
        ctx.emu.stall_exports(survey)
    started = await ctx.ok("POST", f"/surveys/{survey}/export-responses", json_body={"format": "csv"})
    return one(await ctx.call("GET", f"/surveys/{survey}/export-responses/{started['result']['progressId']}"))


def _email_distribution(survey_id: str) -> Json:
    return {
        "message": {"libraryId": "UR_0123456789abcde", "messageId": "MS_0123456789abcde"},
        "recipients": {"mailingListId": "CG_0123456789abcde"},
        "header": {"fromEmail": "noreply@example.com", "fromName": "Team", "subject": "Hello"},
        "surveyLink": {"surveyId": survey_id, "type": "Individual"},
        "sendDate": "2024-05-01T10:00:00Z",
    }


def _seeded_distribution(ctx: Ctx, request_type: str) -> str:
    routes = ctx.emu.families["surveys"]
    assert isinstance(routes, SurveyRoutes)
    listed = routes._distributions.values()  # the seeded ids: emulator.data holds no distributions
    return next(str(d["id"]) for d in listed if d["requestType"] == request_type)


@drives("GET", "/distributions")
async def _list_distributions(ctx: Ctx, rec: Recording) -> Answers:
    assert not rec.result()["elements"], "only an empty list is recorded: list a survey without distributions"
    return one(await ctx.call("GET", "/distributions", params={"surveyId": ctx.survey(5)}))


@drives("POST", "/distributions")
async def _create_distribution(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("POST", "/distributions", json_body=_email_distribution(ctx.survey(0))))


@drives("GET", "/distributions/{distributionId}/links")
async def _links(ctx: Ctx, rec: Recording) -> Answers:
    distribution = _seeded_distribution(ctx, "GeneratedInvite")
    params = {"surveyId": ctx.survey(0), "pageSize": "2"}
    return one(await ctx.call("GET", f"/distributions/{distribution}/links", params=params))


@drives("GET", "/distributions/{distributionId}/links", 404)
async def _links_of_an_unknown_distribution(ctx: Ctx, rec: Recording) -> Answers:
    path = f"/distributions/{UNKNOWN['distribution']}/links"
    return one(await ctx.call("GET", path, params={"surveyId": ctx.survey(0)}))


@drives("GET", "/distributions/{distributionId}/history")
async def _history(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/distributions/{_seeded_distribution(ctx, 'Invite')}/history"))


@drives("GET", "/distributions/{distributionId}/history", 400)
async def _history_without_recipients(ctx: Ctx, rec: Recording) -> Answers:
    survey = ctx.survey(0)
    await ctx.ok("PUT", f"/surveys/{survey}", json_body={"isActive": True})
    body = {
        "surveyId": survey,
        "linkType": "Individual",
        "description": "x",
        "action": "CreateTransactionBatchDistribution",
    }
    created = await ctx.ok("POST", "/distributions", json_body=body)
    return one(await ctx.call("GET", f"/distributions/{created['result']['id']}/history"))


@drives("POST", "/divisions")
async def _create_division(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("POST", "/divisions", json_body={"name": "Research"}))


@drives("POST", "/divisions", 400)
async def _create_division_from_a_form(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("POST", "/divisions", data={"name": "Division Test"}))


@drives("PUT", "/divisions/{divisionId}")
async def _update_division(ctx: Ctx, rec: Recording) -> Answers:
    created = await ctx.ok("POST", "/divisions", json_body={"name": "Research"})
    return one(await ctx.call("PUT", f"/divisions/{created['result']['id']}", json_body={"name": "Renamed"}))


NEW_USER = {
    "username": "new.user@example.com",
    "firstName": "Nadia",
    "lastName": "Doe",
    "userType": "UT_BRANDADMIN",
    "email": "new.user@example.com",
    "password": "correct horse battery staple",
    "language": "EN",
}


@drives("POST", "/users")
async def _create_user(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("POST", "/users", json_body=NEW_USER))


@drives("GET", "/users/{userId}")
async def _get_user(ctx: Ctx, rec: Recording) -> Answers:
    created = (await ctx.ok("POST", "/users", json_body=NEW_USER))["result"]["id"]
    member = (await ctx.ok("GET", "/users"))["result"]["elements"][5]["id"]
    return [await ctx.call("GET", f"/users/{user}") for user in (ctx.emu.data.whoami["userId"], member, created)]


SUBSCRIPTION = {"topics": "controlpanel.activateSurvey", "publicationUrl": "https://hooks.example.com/q"}


@drives("POST", "/eventsubscriptions")
async def _create_subscription(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("POST", "/eventsubscriptions", json_body=SUBSCRIPTION))


@drives("GET", "/eventsubscriptions/{subscriptionId}")
async def _get_subscription(ctx: Ctx, rec: Recording) -> Answers:
    created = await ctx.ok("POST", "/eventsubscriptions", json_body=SUBSCRIPTION)
    return one(await ctx.call("GET", f"/eventsubscriptions/{created['result']['id']}"))


@drives("GET", "/eventsubscriptions/{subscriptionId}", 404)
async def _get_unknown_subscription(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", f"/eventsubscriptions/{UNKNOWN['subscription']}"))


@drives("DELETE", "/eventsubscriptions/{subscriptionId}")
async def _delete_subscription(ctx: Ctx, rec: Recording) -> Answers:
    created = await ctx.ok("POST", "/eventsubscriptions", json_body=SUBSCRIPTION)
    return one(await ctx.call("DELETE", f"/eventsubscriptions/{created['result']['id']}"))


@drives("GET", "/eventsubscriptions")
async def _list_subscriptions(ctx: Ctx, rec: Recording) -> Answers:
    """As many subscriptions as the recording lists: none, or some."""
    for existing in (await ctx.ok("GET", "/eventsubscriptions"))["result"]["elements"]:
        await ctx.ok("DELETE", f"/eventsubscriptions/{existing['id']}")
    for _ in rec.result()["elements"]:
        await ctx.ok("POST", "/eventsubscriptions", json_body=SUBSCRIPTION)
    return one(await ctx.call("GET", "/eventsubscriptions"))


async def _mailing_list_ids(ctx: Ctx) -> list[str]:
    return [str(ml["id"]) for ml in (await ctx.ok("GET", "/mailinglists"))["result"]["elements"]]


@drives("GET", "/mailinglists")
async def _list_mailing_lists(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", "/mailinglists"))


@drives("GET", "/mailinglists/{mailingListId}")
async def _get_mailing_list(ctx: Ctx, rec: Recording) -> Answers:
    return [await ctx.call("GET", f"/mailinglists/{list_id}") for list_id in await _mailing_list_ids(ctx)]


@drives("GET", "/mailinglists/{mailingListId}", 404)
async def _get_unknown_mailing_list(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", "/mailinglists/ML_000000000000000"))


@drives("GET", "/mailinglists/{mailingListId}", 400)
async def _get_malformed_mailing_list(ctx: Ctx, rec: Recording) -> Answers:
    return one(await ctx.call("GET", "/mailinglists/not-a-list"))


@drives("GET", "/mailinglists/{mailingListId}/contacts")
async def _list_mailing_list_contacts(ctx: Ctx, rec: Recording) -> Answers:
    first = (await _mailing_list_ids(ctx))[0]
    return one(await ctx.call("GET", f"/mailinglists/{first}/contacts", params={"pageSize": "10"}))


# --- the comparison ------------------------------------------------------------------------------


def compare(rec: Recording, body: Json) -> list[str]:
    """Rules (a) and (b) for one emulator answer against ``rec`` (an empty list: same shape)."""
    key = key_of(rec)
    recorded: Json = rec.json()
    found: list[str] = []
    # The envelope: top-level keys, then meta (one shape for the whole API).
    found += [f"top-level {k!r}: not in any recording of the endpoint" for k in set(body) - root_keys(key)]
    found += [f"top-level {k!r}: recorded, missing" for k in set(recorded) - set(body)]
    meta = meta_union(rec.status >= 400)
    found += problems(body.get("meta"), meta.root, "meta", meta.anchors)
    recorded_meta = recorded.get("meta") or {}
    found += [f"meta.{k}: recorded, missing" for k in set(recorded_meta) - set(body.get("meta") or {})]
    recorded_error = recorded_meta.get("error") or {}
    answered_error = (body.get("meta") or {}).get("error") or {}
    found += [f"meta.error.{k}: recorded, missing" for k in set(recorded_error) - set(answered_error)]
    if "result" not in recorded:
        return found
    # The result: (a) against every recording of the endpoint, (b) against this one.
    union = result_union(key)
    result = body.get("result")
    found += problems(result, union.root, "result", union.anchors)
    wanted = recorded["result"]
    exempt = EXEMPT.get(key, {})
    if isinstance(wanted, dict) and isinstance(result, dict):
        found += [f"result.{k}: recorded, missing" for k in set(wanted) - set(result) - set(exempt)]
        recorded_elements = wanted.get("elements")
        if isinstance(recorded_elements, list) and recorded_elements:
            elements = result.get("elements") or []
            if not elements:
                found.append("result.elements: the recording lists elements, the emulator none (drive it with some)")
            always = set.intersection(*(set(e) for e in recorded_elements)) - set(exempt)
            for index, element in enumerate(elements):
                found += [f"result.elements[{index}].{k}: recorded, missing" for k in sorted(always - set(element))]
    return found


@pytest.fixture
async def ctx() -> AsyncIterator[Ctx]:
    async with (
        QualtricsEmulator(rate_limits=None, surveys=8, contacts=30, export_seconds=0.0) as emu,
        aiohttp.ClientSession() as http,
    ):
        yield Ctx(emu, http)


SHAPE_CASES = [r for r in json_recordings() if served(r)]


@pytest.mark.parametrize("rec", SHAPE_CASES, ids=[r.id for r in SHAPE_CASES])
async def test_emulator_answer_has_the_recorded_shape(ctx: Ctx, rec: Recording) -> None:
    driver = DRIVERS[key_of(rec)]
    proxied = "notice" in (rec.json().get("meta") or {})
    ctx.emu.proxied_host = "az1.qualtrics.com" if proxied else None
    ctx.emu.proxy_next_pages = proxied  # a recorded proxied page's nextPage names the other host
    answers = await driver(ctx, rec)
    assert answers
    for status, body in answers:
        assert status == rec.status, (status, body)
        found = compare(rec, body)
        assert not found, f"{rec.id}: the emulator's answer leaves the recorded shape:\n  " + "\n  ".join(found)


def test_every_recording_is_driven_or_listed() -> None:
    """No recording is skipped silently, and no driver or listing is stale."""
    keys = {key_of(r) for r in load_recordings()}
    for rec in load_recordings():
        if not served(rec):
            continue
        if rec.is_json:
            assert key_of(rec) in DRIVERS, f"{rec.id}: no driver for {key_of(rec)} and not in NOT_SERVED"
        else:
            assert key_of(rec) == EXPORT_FILE, f"{rec.id}: a recorded file of an endpoint nothing compares"
    assert set(DRIVERS) <= keys, set(DRIVERS) - keys
    assert set(NOT_SERVED) <= {(r.method, r.endpoint) for r in load_recordings()}
    assert set(EXEMPT) <= set(DRIVERS)


async def test_endpoints_listed_as_not_served_are_not_served(ctx: Ctx) -> None:
    """Each answers the gateway's 404, so the listing cannot hide an endpoint that is served."""
    for method, endpoint in NOT_SERVED:
        path = re.sub(r"\{(\w+)\}", "ML_0123456789abcde", endpoint)
        status, body = await ctx.call(method, path, json_body={})
        assert status == 404, (method, endpoint, body)
        assert body["meta"]["error"] == {"errorMessage": "The requested resource does not exist."}


def test_the_comparison_fails_on_a_renamed_or_retyped_key() -> None:
    """The checker itself: a key spelled the way the emulator once did, or a wrong type, is caught."""
    rec = next(r for r in json_recordings() if r.id == "distributions/qualtrics-r-distribution-history")
    good: Json = json.loads(json.dumps(rec.json()))
    assert compare(rec, good) == []
    renamed = json.loads(json.dumps(good))
    entry = renamed["result"]["elements"][0]
    entry["distributionID"] = entry.pop("distributionId")
    assert sorted(compare(rec, renamed)) == [
        "result.elements[0].distributionID: not in any recording",
        "result.elements[0].distributionId: recorded, missing",
    ]
    retyped = json.loads(json.dumps(good))
    retyped["result"]["elements"][0]["sentAt"] = 1622573963161
    assert compare(rec, retyped) == ["result.elements[0].sentAt: int, recorded ['string']"]
    question = next(r for r in json_recordings() if r.id == "survey_definitions/qualtrics-r-fetch-description-2021")
    definition = json.loads(json.dumps(question.json()))
    definition["result"]["QuestionCount"] = 17  # recorded as a string
    definition["result"]["Questions"]["QID14"]["Validation"] = ["None"]
    assert sorted(compare(question, definition)) == [
        "result.QuestionCount: int, recorded ['string']",
        "result.Questions.<QID14>.Validation: list, recorded ['object', 'string']",
    ]


# --- export files --------------------------------------------------------------------------------

FILE_CASES = [r for r in load_recordings() if key_of(r) == EXPORT_FILE]
_DATA_SUFFIX = re.compile(r"QID\d+(?:#\d+)?_(.+)")


def _layout(member: bytes) -> tuple[list[list[str]], list[Json]]:
    text = member.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows, [json.loads(cell) for cell in rows[2]]


def _recorded_layout() -> tuple[set[str], set[str], set[str]]:
    """Union over the recorded files: ImportId object keys, non-question ImportIds, question ImportId suffixes."""
    keys: set[str] = set()
    metadata: set[str] = set()
    suffixes: set[str] = set()
    for rec in FILE_CASES:
        with zipfile.ZipFile(io.BytesIO(rec.body)) as archive:
            _rows, imports = _layout(archive.read(archive.infolist()[0]))
        for cell in imports:
            keys |= set(cell)
            found = _DATA_SUFFIX.fullmatch(cell["ImportId"])
            if found:
                suffixes.add(re.sub(r"\d+", "N", found.group(1)))
            elif not cell["ImportId"].startswith("QID"):
                metadata.add(cell["ImportId"])
    return keys, metadata, suffixes


@pytest.mark.parametrize("rec", FILE_CASES, ids=[r.id for r in FILE_CASES])
async def test_export_file_has_the_recorded_layout(ctx: Ctx, rec: Recording) -> None:
    """The showcase survey's CSV export laid out like the recorded file: ZIP of one CSV, no BOM,
    CRLF rows, three header rows of names, labels and ImportId objects (keys, metadata ids and
    question-column suffixes among the recorded ones, ``choiceId`` included)."""
    with zipfile.ZipFile(io.BytesIO(rec.body)) as archive:
        (recorded_info,) = archive.infolist()
        recorded_member = archive.read(recorded_info)
    assert recorded_info.filename.endswith(".csv")
    ctx.emu.set_export_duration(0)
    survey = ctx.showcase
    started = await ctx.ok("POST", f"/surveys/{survey}/export-responses", json_body={"format": "csv"})
    for _ in range(50):
        progress = (await ctx.ok("GET", f"/surveys/{survey}/export-responses/{started['result']['progressId']}"))[
            "result"
        ]
        if progress["status"] == "complete":
            break
        await asyncio.sleep(0.01)
    async with ctx.http.get(
        f"{ctx.emu.api_url}/surveys/{survey}/export-responses/{progress['fileId']}/file",
        headers={"X-API-TOKEN": ctx.emu.api_token},
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == rec.content_type
        data = await resp.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (info,) = archive.infolist()
        member = archive.read(info)
    assert info.filename == ctx.emu.data.survey_details[survey]["name"] + ".csv"
    for raw in (recorded_member, member):
        assert not raw.startswith(b"\xef\xbb\xbf"), "current exports have no BOM"
        assert raw.endswith(b"\r\n")
    rows, imports = _layout(member)
    recorded_rows, _recorded_imports = _layout(recorded_member)
    assert len(rows[0]) == len(rows[1]) == len(rows[2])
    assert len(recorded_rows[0]) == len(recorded_rows[2])
    assert all(len(row) == len(rows[0]) for row in rows[3:])
    keys, metadata, suffixes = _recorded_layout()
    assert {"ImportId", "choiceId"} <= keys  # the recorded files show choiceId ...
    assert any("choiceId" in cell for cell in imports)  # ... and so does the emulator's
    for cell in imports:
        assert set(cell) <= keys, cell
        found = _DATA_SUFFIX.fullmatch(cell["ImportId"])
        if found:
            assert re.sub(r"\d+", "N", found.group(1)) in suffixes, cell
        elif not cell["ImportId"].startswith("QID"):
            assert cell["ImportId"] in metadata | set(ctx.emu.data.survey_details[survey]["exportColumnMap"]) | {
                e["name"] for e in ctx.emu.data.survey_details[survey]["embeddedData"]
            }, cell
    assert any("\n" in cell for cell in rows[1]), "a label with a line break (quoted, bare LF inside), as recorded"
    for raw in (recorded_member, member):
        assert _bare_line_feeds_outside_quotes(raw) == 0


def _bare_line_feeds_outside_quotes(raw: bytes) -> int:
    """Row ends are CRLF; a bare LF may only sit inside a quoted cell (as recorded)."""
    quoted = False
    bare = 0
    for index, byte in enumerate(raw):
        if byte == ord('"'):
            quoted = not quoted
        elif byte == ord("\n") and not quoted and raw[index - 1 : index] != b"\r":
            bare += 1
    return bare
