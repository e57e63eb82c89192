"""Emulator family: survey management, survey definitions, single responses, response imports, distributions.

Paths, bodies and result fields come from qualtrics-api.md §7.1 (single responses), §7.2
(response import), §7.3 (surveys, survey definitions) and §9 (distributions); pages follow §3.
Surveys created here (definitions, QSF import, copy) are written into the emulator's
:class:`EmulatorData`, so ``GET /surveys`` and ``GET /surveys/{surveyId}`` list them, and every
change through the definitions API is mirrored into the legacy ``GET /surveys/{surveyId}``
shape. A seeded survey gets its definition derived from that legacy shape the first time the
definitions API touches it.

Recorded answers (bodies recorded from live tenants) fix these shapes, and win over the fact
sheet:

* ``GET /survey-definitions/{surveyId}`` (JSON): ``QuestionCount`` (a string),
  ``SurveyOptions``, ``SurveyID``, ``SurveyName``, ``SurveyStatus``, ``LastModified``,
  ``BrandID``, ``OwnerID``, ``LastAccessed``, ``CreatorID``, ``LastActivated`` (ISO 8601 with
  ``Z``, or null), ``Questions``, ``Blocks``, ``ResponseSets`` (``{RS_…: "Default Response
  Set"}``), ``SurveyFlow``, ``Scoring``, ``ProjectInfo`` (``SurveyID``, ``ProjectCategory``,
  ``ProjectType``, ``CompositionType``, ``ContentBundle``) and ``BrandBaseURL``; no QSF
  ``SurveyEntry`` names at the top level. ``SurveyOptions`` holds the recorded option keys
  plus ``SurveyLanguage``, ``ActiveResponseSet``, ``SurveyStartDate``,
  ``SurveyExpirationDate``, ``SurveyCreationDate``. ``?format=qsf`` answers the QSF document
  (``SurveyEntry`` with MySQL dates, ``SurveyElements``), whose questions carry no
  ``QuestionText_Unsafe``.
* Questions look like recorded ones (see ``_definition_question``): ``QuestionText_Unsafe``,
  ``DefaultChoices``, ``DataVisibility``, ``GradingData: []``, ``Language: []``,
  ``NextChoiceId``, ``NextAnswerId``, ``Configuration``, ``Validation`` (the string ``"None"``
  for the built-in Timing question), ``ChoiceOrder`` (ints, or strings). A question created or
  replaced through the API gets the members it lacks of these. ``GET …/questions`` answers
  ``{"elements": [...]}`` with no ``nextPage`` key. An unknown survey on a ``…/questions``
  route is a 403 ``QMST_2.1`` "The operation is forbidden." (recorded for the list; the
  other definition routes answer 404).
* An unknown survey on the other routes is a 404 ``GSI_2`` "Survey not found."
* Single responses (``GET /surveys/{surveyId}/responses/{responseId}``): ``responseId``,
  ``values``, ``labels``, ``displayedFields``, ``displayedValues`` as recorded -- see
  ``_presented``: display orders ``QIDn_DO`` as arrays of strings, multiple-answer questions
  as arrays of strings, ``status``/``finished``/``progress``/``duration`` ints,
  ``startDate``/``endDate`` to the second and ``recordedDate`` with milliseconds, ``labels``
  with arrays where the value is one, ``displayedValues`` filled (choice numbers, ints).
* Distribution history elements: ``{contactId, contactLookupId, distributionId, status,
  surveyLink, contactFrequencyRuleId, responseId, responseCompletedAt, sentAt, openedAt,
  responseStartedAt, surveySessionId}`` (``distributionId`` with a lower-case d; times with
  milliseconds). The history of a distribution with no recipients and no parent is a 400
  ``CP_TD_GER_NP``. An unknown distribution is a 404 ``GED_3`` "Distribution not found."

Documented choices (the fact sheet is silent or UNCERTAIN):

* **Survey import/copy** (``POST /surveys``): multipart ``file`` + ``name``, or JSON
  ``{"name", "fileUrl"}``; the file must be a QSF document (JSON with ``SurveyEntry`` and
  ``SurveyElements``; TXT/DOC files answer 400). The emulator cannot fetch URLs: a ``fileUrl``
  must have been registered in :attr:`SurveyRoutes.remote_files`, else 400. A copy is JSON
  ``{"projectName"}`` with ``X-COPY-SOURCE`` (required) and ``X-COPY-DESTINATION-OWNER``
  (optional, default: the caller; must look like ``UR_…``). Import and copy answer
  ``result: {"id": "SV_…"}``; the survey is listed at once (no propagation delay). At most 15
  imports run at once (§4.1): more answer 429 "concurrent request limit"; an import takes
  :attr:`SurveyRoutes.survey_import_seconds` (default 0) so tests can make them overlap.
* ``PUT /surveys/{surveyId}`` takes ``name``, ``isActive``, ``expiration{startDate, endDate}``
  (ISO 8601 with a zone, or null) and ``ownerId``; it answers ``meta`` only.
* **Survey definitions**: PascalCase throughout. ``POST /survey-definitions`` requires
  ``SurveyName``, ``Language`` (the §5.2 enum) and ``ProjectCategory`` (``CORE, CX, EX, BX,
  PX``) and answers ``{"SurveyID", "DefaultBlockID"}``. ``?format=qsf`` answers a QSF
  document (elements ``BL``, ``FL``, ``SO``, ``SQ``) that the import accepts.
  ``…/metadata`` answers the ``SurveyEntry`` names with MySQL ``YYYY-MM-DD HH:MM:SS`` dates
  (§5.1; an ISO date in a ``PUT`` is a 400). Those dates are UTC here, a simplification: the
  recorded QSF of a survey gives them in the brand's local time (7 hours off the ISO ``Z``
  dates of its JSON definition), so clients must not read a zone into them.
  Questions need ``QuestionText``, ``QuestionType``, ``Selector``; a new one gets the next
  ``QIDn`` and goes to the block of query ``blockId`` (default: the default block); ``PUT``
  replaces it whole; the answer to a create is ``{"QuestionID"}``. Blocks: ``POST`` needs
  ``Type`` (``Standard``) and ``Description``, answers ``{"BlockID", "FlowID"}`` and appends
  the block to the flow; the default block cannot be deleted (400); deleting a block deletes
  its questions. ``PUT …/flow`` replaces the flow (``Type: "Root"``, blocks it names must
  exist). ``PUT …/options`` merges the keys given. Versions: ``POST`` ``{"Description",
  "Published"}`` answers ``{"VersionID", "VersionNumber", "CreationDate"}``; list elements and
  ``GET …/versions/{id}`` are ``{"VersionID", "VersionNumber", "Description", "UserID",
  "CreationDate", "Published"}``; ``?format=qsf`` on one version answers its QSF snapshot.
  Quotas need ``Name`` and ``Occurrences`` (int >= 0), get ``QO_…`` ids, and answer
  ``{"QuotaID"}``. Other lists answer ``{"elements", "nextPage": null}`` (never paginated).
* **Single responses**: ``POST`` answers ``{"responseId"}``; ``values`` must be an object, and
  question keys (``QIDn…``) must name a question of the survey. The stored ``values`` get
  ``recordedDate`` (now) and, when absent, ``startDate``/``endDate`` (now), ``status`` 0,
  ``progress`` 100, ``duration`` 0, ``finished`` 1; an answered multiple choice question
  gets its display order (all its choices, in order). A new response answers
  **202** ``{"message"}`` for :attr:`SurveyRoutes.response_ready_seconds` (default 0.2 s).
  Multipart uploads store each file under a ``F_…`` id and add ``{QID}_FILE_ID``,
  ``_FILE_NAME``, ``_FILE_SIZE``, ``_FILE_TYPE`` to ``values``. ``PUT /responses/{id}``
  requires ``surveyId`` (400) of the response (404 otherwise); keys that are not embedded
  data fields of the survey's flow are accepted and not shown (§7.1).
  ``resetRecordedDate`` false bumps ``recordedDate`` by 1 ms. Only responses created or
  imported through this API are served: responses that exist only in the export generator
  answer 404 here.
* ``Idempotency-Key`` (single responses and imports): a repeated key with the same request
  answers what the first answered (nothing is created twice); the same key with another
  request answers 409.
* **Response import**: a raw body up to :data:`MAX_IMPORT_BYTES` (5 MB, docs/imports.md; 413 above) with
  ``Content-Type: text/csv`` or ``text/tsv`` and header ``charset`` (``UTF-8``, the default;
  others 400); or JSON ``{"format", "fileUrl", "charset"}`` with a URL registered in
  :attr:`SurveyRoutes.remote_files` (an unknown URL makes the job ``failed``). The header rows
  are the rows up to the first whose first cell is an ``{"ImportId"…}`` object, within the
  first three; without one, a single header row. Each further record becomes a response
  (keyed by ImportId when given, else by column name). A record with more fields than the
  header makes the job ``failed`` with ``error{errorCode, errorMessage}``. The start answers
  ``{"progressId": "PGR_…", "percentComplete": 0.0, "status": "inProgress"}``; a job takes
  :attr:`SurveyRoutes.import_seconds` (default 0.2 s) and progress answers
  ``{percentComplete, status}`` (``inProgress|complete|failed``).
* ``GET …/response-schema`` answers a draft 2019-09 JSON Schema built from the survey's
  questions (``values``/``labels`` properties with ``dataType``, ``exportTag``,
  ``questionId``, ``oneOf`` for choices).
* **Distributions**: ``surveyId`` is required on the list (400) and on ``GET
  /distributions/{id}`` (400; 404 when it is not the distribution's survey). The list pages
  by ``offset``, or by ``skipToken`` with ``useNewPaginationScheme=true``, 100 at most.
  Recipients of a mailing list (``CG_…``), a transaction batch or a sample are a
  deterministic subset (3 to 12) of the default directory's contacts chosen from the id, so
  any id works. ``requestStatus``: ``Generated`` for generated links, else ``Done`` when
  ``sendDate`` has passed, ``Pending`` before. History entries are ``Success`` with
  ``sentAt`` = ``sendDate`` once sent, ``Pending`` before. Links of a non-link distribution
  answer 500 (§2.2). Email distributions need ``message`` (``libraryId`` + ``messageId``, or
  ``messageText``), ``recipients`` (exactly one id), ``header`` (``fromEmail``, ``fromName``,
  ``subject``), ``surveyLink`` (``surveyId``, ``type``), ``sendDate`` (ISO with a zone), and
  at most 10 ``embeddedData`` keys. Generated links need an active survey (400 otherwise).
  Reminders and thank-yous need an email (``Invite``) parent and answer ``{"distributionId"}``.
  SMS: ``Reminder``/``ThankYou`` need ``parentDistributionId`` naming an SMS distribution;
  ids ``SMSD_…``; ``GET /distributions/sms`` requires ``surveyId``.
* Seeded data (from ``FamilyContext.rng("surveys")``): the first survey has five email
  distributions and one generated-links distribution, the second two email distributions.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import operator
import random
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import BodyPartReader, web

from qualtrics_async.testing._data import STATUS_LABELS, iso
from qualtrics_async.testing._faults import Reply
from qualtrics_async.testing._routing import (
    ApiError,
    Collection,
    FamilyContext,
    Json,
    RouteSpec,
    bad_request,
    check_fields,
    json_body,
    not_found,
    offset_page,
    skip_page,
    survey_not_found,
)

MAX_IMPORT_BYTES = 5_000_000
"""A response import file is at most 5 MB (docs/imports.md); larger answers 413."""
MAX_UPLOAD_FILES = 5
"""A single response takes at most 5 uploaded files, ``file1`` to ``file5`` (Qualtrics' reference)."""
MAX_CONCURRENT_IMPORTS = 15
"""At most 15 survey imports (``POST /surveys``) run at once (Qualtrics' reference); more answer 429."""
MAX_EMBEDDED_DATA = 10
"""An email distribution takes at most 10 embedded data keys (§9)."""
DISTRIBUTIONS_PAGE_SIZE = 100

# fmt: off
LANGUAGES = frozenset((
    "AR", "ASM", "AZ-AZ", "BEL", "BG", "BN", "BS", "CA", "CEB", "CH", "CS", "CY", "DA", "DE", "EL", "EN_GB", "EN-US",
    "EN", "EO", "ES-ES", "ES", "ET", "FA", "FI", "FR-CA", "FR", "GU", "HE", "HE-ZA", "HI", "HIL", "HR", "HU", "HYE",
    "ID", "ISL", "IT", "JA", "KAN", "KAT", "KAZ", "KM", "KO", "LT", "LV", "MAL", "MAR", "MK", "MN", "MS", "MY", "NL",
    "NO", "ORI", "PA-IN", "PL", "PT-BR", "PT", "RO", "RU", "SIN", "SK", "SL", "SQI", "SR-ME", "SR", "SV", "SW", "TA",
    "TEL", "TGL", "TH", "TR", "UK", "UR", "VI", "ZH-S", "ZH-T",
))
# fmt: on
"""Language codes of the official survey-definitions spec (qualtrics-api.md §5.2)."""
PROJECT_CATEGORIES = frozenset({"CORE", "CX", "EX", "BX", "PX"})
LINK_TYPES = frozenset({"Individual", "Multiple", "Anonymous"})
SMS_METHODS = frozenset({"Invite", "Interactive", "Reminder", "ThankYou"})

_MYSQL = "%Y-%m-%d %H:%M:%S"
_MYSQL_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_ISO_ZONED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")
_QUESTION_KEY = re.compile(r"(QID\d+)(?:_.*)?")
_OWNER_ID = re.compile(r"UR_[A-Za-z0-9]+")
_DEFAULT_OPTIONS: Json = {
    "BackButton": "false",
    "SaveAndContinue": "true",
    "SurveyProtection": "PublicSurvey",
    "BallotBoxStuffingPrevention": "false",
    "NoIndex": "Yes",
    "SecureResponseFiles": "true",
    "SurveyExpiration": "None",
    "SurveyTermination": "DefaultMessage",
    "Header": "",
    "Footer": "",
    "ProgressBarDisplay": "None",
    "PartialData": "+1 week",
    "ValidationMessage": "",
    "PreviousButton": " ← ",
    "NextButton": " → ",
    "SkinLibrary": "Qualtrics",
    "SkinType": "MQ",
    "Skin": "xmskin",
    "NewScoring": 1,
}
"""Survey options of a new survey: the keys every recorded ``SO`` payload has, recorded values."""
_SCORING: Json = {
    "ScoringCategories": [],
    "ScoringCategoryGroups": [],
    "ScoringSummaryCategory": None,
    "ScoringSummaryAfterQuestions": 0,
    "ScoringSummaryAfterSurvey": 0,
    "DefaultScoringCategory": None,
    "AutoScoringCategory": None,
}
"""The ``Scoring`` of a survey without scoring categories (recorded)."""
_SURVEY_ENTRY = (
    "SurveyID",
    "SurveyName",
    "SurveyDescription",
    "SurveyOwnerID",
    "SurveyBrandID",
    "DivisionID",
    "SurveyLanguage",
    "SurveyActiveResponseSet",
    "SurveyStatus",
    "SurveyStartDate",
    "SurveyExpirationDate",
    "SurveyCreationDate",
    "CreatorID",
    "LastModified",
    "LastAccessed",
    "LastActivated",
    "Deleted",
)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    """A response date: ISO 8601 UTC with milliseconds, like the values of a JSON export."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _mysql(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime(_MYSQL)


def _from_mysql(text: str | None) -> datetime | None:
    return None if text is None else datetime.strptime(text, _MYSQL).replace(tzinfo=UTC)


def _from_iso(name: str, value: Any) -> datetime:
    """An ISO 8601 date with an explicit zone (§5.1), or a 400 naming the field."""
    if not isinstance(value, str) or not _ISO_ZONED.fullmatch(value):
        raise bad_request(
            f"Invalid value for {name!r}: {value!r} (expected ISO 8601 with a zone, e.g. 2024-01-01T00:00:00Z)."
        )
    return datetime.fromisoformat(value)


def _object(body: Mapping[str, Any], name: str, *, required: bool = True) -> Json:
    value = body.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{name!r} must be a JSON object.")
    return value


def _meta_reply(status: int, phrase: str, result: Json) -> Reply:
    """A 2xx answer other than 200 (the pipeline only writes 200 envelopes itself)."""
    meta = {"httpStatus": f"{status} - {phrase}", "requestId": str(uuid.uuid4())}
    return Reply(status, payload={"result": result, "meta": meta})


def _elements(items: Iterable[Json]) -> Json:
    return {"elements": list(items), "nextPage": None}


def _iso_of_mysql(text: str | None) -> str | None:
    """A stored MySQL DATETIME as the ISO 8601 ``Z`` form the JSON definition answers."""
    moment = _from_mysql(text)
    return None if moment is None else iso(moment)


def _normalized_question(body: Json, qid: str) -> Json:
    """A question as stored: the body plus the members Qualtrics adds (recorded on every question)."""
    question = {**body, "QuestionID": qid}
    question.setdefault("DataExportTag", f"Q{qid[3:]}")
    question.setdefault("QuestionText", "")
    question.setdefault("QuestionDescription", str(question["QuestionText"]))
    question.setdefault("Configuration", {"QuestionDescriptionOption": "UseText"})
    question.setdefault("Language", [])
    numbers = [int(k) for k in question.get("Choices") or {} if str(k).isdigit()]
    question.setdefault("NextChoiceId", max(numbers, default=0) + 1)
    answers = [int(k) for k in question.get("Answers") or {} if str(k).isdigit()]
    question.setdefault("NextAnswerId", max(answers, default=0) + 1)
    if question.get("QuestionType") not in ("Timing", "Meta"):  # recorded built-ins have none
        question.setdefault("DataVisibility", {"Private": False, "Hidden": False})
    question["QuestionText_Unsafe"] = question["QuestionText"]
    return question


# --- legacy survey shape <-> definition ---------------------------------------------------------


_MULTI_SELECTORS = frozenset({"MAVR", "MAHR", "MACOL", "MSB"})
"""Multiple-answer selectors: one export column per choice, and an array of answers."""


def is_multi_answer(kind: Mapping[str, Any]) -> bool:
    """Whether a legacy ``questionType`` takes several answers (``MAVR``, ``MAHR``, ...)."""
    return kind.get("type") == "MC" and kind.get("selector") in _MULTI_SELECTORS


def _display(rows: Mapping[str, Any], text_entry: Any = None) -> Json:
    """``{"1": {"Display": ...}}`` from legacy choices; a text choice gets ``TextEntry``."""
    out: Json = {}
    for key, choice in rows.items():
        entry: Json = {"Display": choice["choiceText"]}
        if "textEntry" in choice and text_entry is not None:
            entry["TextEntry"] = text_entry
        out[key] = entry
    return out


def _definition_question(qid: str, legacy: Json) -> Json:
    """The definition (``GET /survey-definitions``) form of a legacy question, as recorded.

    Recorded questions carry ``DefaultChoices: false``, ``GradingData: []``, ``Language: []``,
    ``NextChoiceId``/``NextAnswerId``, ``DataVisibility`` and ``QuestionText_Unsafe``. The
    built-in ``Timing`` question has ``Validation: "None"`` (a string) and no ``ChoiceOrder``;
    the built-in ``Meta`` question has no ``Validation`` and ``TextEntry: 1`` (an int) on every
    choice; the "Other" choice of a multiple choice question has ``TextEntry: "true"``.
    ``ChoiceOrder`` holds ints, and strings for multiple-answer questions (both recorded).
    """
    kind = legacy["questionType"]
    text = legacy["questionText"]
    force = "ON" if legacy.get("validation", {}).get("doesForceResponse") else "OFF"
    question: Json = {
        "QuestionText": text,
        "DefaultChoices": False,
        "DataExportTag": legacy["questionName"],
        "QuestionID": qid,
        "QuestionType": kind["type"],
        "Selector": kind["selector"],
    }
    if kind.get("subSelector"):
        question["SubSelector"] = kind["subSelector"]
    question["Configuration"] = {"QuestionDescriptionOption": "UseText"}
    question["QuestionDescription"] = text
    choices: Json = legacy.get("choices") or {}
    numbers = [int(key) for key in choices if key.isdigit()]
    if kind["type"] == "Timing":
        question["Configuration"].update({"MinSeconds": "0", "MaxSeconds": "0"})
        question["Choices"] = _display(choices)
        question["Validation"] = "None"
    elif kind["type"] == "Meta":
        question["Choices"] = {key: {"Display": c["choiceText"], "TextEntry": 1} for key, c in choices.items()}
    else:
        rows = legacy.get("subQuestions") if kind["type"] == "Matrix" else choices
        if rows:
            question["Choices"] = _display(rows, "true")
            order = list(rows)
            question["ChoiceOrder"] = order if is_multi_answer(kind) else [int(key) for key in order]
            numbers = [int(key) for key in rows if key.isdigit()]
        question["Validation"] = {"Settings": {"ForceResponse": force, "ForceResponseType": "ON", "Type": "None"}}
    question["GradingData"] = []
    question["Language"] = []
    question["NextChoiceId"] = max(numbers, default=0) + 1
    question["NextAnswerId"] = 1
    if kind["type"] == "Matrix" and choices:
        question["Answers"] = _display(choices)
        question["AnswerOrder"] = [int(key) for key in choices]
        question["NextAnswerId"] = max((int(k) for k in choices if k.isdigit()), default=0) + 1
    if kind["type"] not in ("Timing", "Meta"):
        question["DataVisibility"] = {"Private": False, "Hidden": False}
    question["QuestionText_Unsafe"] = text
    return question


def _legacy_choices(displays: Mapping[str, Any], *, full: bool, recode: bool = True, texts: bool = True) -> Json:
    choices: Json = {}
    for key, choice in displays.items():
        text = choice.get("Display", "") if isinstance(choice, dict) else str(choice)
        entry: Json = {"recode": str(key)} if recode else {}
        entry.update({"description": text, "choiceText": text})
        if full:
            entry.update({"imageDescription": None, "variableName": None, "analyze": True})
        if texts and isinstance(choice, dict) and choice.get("TextEntry") not in (None, False, "false", 0):
            entry["textEntry"] = {}
        choices[str(key)] = entry
    return choices


def _legacy_question(question: Json) -> tuple[Json, Json]:
    """The ``GET /surveys/{id}`` form of a definition question, and its export columns (as recorded)."""
    qid, tag, kind = (
        question["QuestionID"],
        question.get("DataExportTag") or question["QuestionID"],
        question["QuestionType"],
    )
    settings = (
        question.get("Validation", {}).get("Settings", {}) if isinstance(question.get("Validation"), dict) else {}
    )
    question_type = {"type": kind, "selector": question["Selector"], "subSelector": question.get("SubSelector")}
    legacy: Json = {
        "questionType": question_type,
        "questionText": question["QuestionText"],
        "questionLabel": None,
        "validation": {"doesForceResponse": settings.get("ForceResponse") == "ON"},
        "questionName": tag,
    }
    columns: Json = {}
    choices = question.get("Choices") or {}
    if kind == "Matrix":
        legacy["subQuestions"] = _legacy_choices(choices, full=False)
        legacy["choices"] = _legacy_choices(question.get("Answers") or {}, full=True)
        for key in choices:
            columns[f"{tag}_{key}"] = {"question": qid, "subQuestion": f"{qid}.subQuestions.{key}"}
    elif kind == "TE":
        columns[f"{tag}_TEXT"] = {"question": qid}
    elif kind == "Timing":
        legacy["choices"] = _legacy_choices(choices, full=True)
        for key in choices:
            columns[f"{tag}_{key}"] = {"question": qid, "choice": f"{qid}.choices.{key}"}
    elif kind == "Meta":
        legacy["choices"] = _legacy_choices(choices, full=True, recode=False, texts=False)  # recorded: bare
        for key in choices:
            columns[f"{tag}_{key}_TEXT"] = {"question": qid, "choice": f"{qid}.choices.{key}"}
    elif kind != "DB":
        if choices:
            legacy["choices"] = _legacy_choices(choices, full=True)
        texts = [key for key, c in legacy.get("choices", {}).items() if "textEntry" in c]
        if is_multi_answer(question_type):
            for key in choices:
                columns[f"{tag}_{key}"] = {"question": qid, "choice": f"{qid}.choices.{key}"}
                if key in texts:
                    columns[f"{tag}_{key}_TEXT"] = {
                        "question": qid,
                        "choice": f"{qid}.choices.{key}",
                        "textEntry": f"{qid}.choices.{key}.textEntry",
                    }
        else:
            columns[tag] = {"question": qid}
            if texts:
                columns[f"{tag}_TEXT"] = {"question": qid}
    return legacy, columns


@dataclass(eq=False)
class _Survey:
    """What the definitions API keeps about one survey (the source of its legacy shape)."""

    entry: Json
    questions: dict[str, Json]
    blocks: dict[str, Json]
    flow: Json
    options: Json
    project_category: str = "CORE"
    next_qid: int = 1
    next_flow: int = 2
    quotas: dict[str, Json] = field(default_factory=dict)
    versions: list[Json] = field(default_factory=list)

    def default_block(self) -> str:
        return next(bid for bid, block in self.blocks.items() if block["Type"] == "Default")

    def block_of(self, qid: str) -> Json | None:
        for block in self.blocks.values():
            if any(e.get("QuestionID") == qid for e in block["BlockElements"]):
                return block
        return None

    def flow_id(self) -> str:
        flow_id = f"FL_{self.next_flow}"
        self.next_flow += 1
        return flow_id

    def definition(self, brand_base_url: str) -> Json:
        """``GET /survey-definitions/{surveyId}`` (JSON): the recorded layout, in recorded key order."""
        entry = self.entry
        survey_id = entry["SurveyID"]
        response_set = entry["SurveyActiveResponseSet"]
        options = {
            **self.options,
            "SurveyLanguage": entry["SurveyLanguage"],
            "ActiveResponseSet": response_set,
            "SurveyStartDate": _iso_of_mysql(entry["SurveyStartDate"]),
            "SurveyExpirationDate": _iso_of_mysql(entry["SurveyExpirationDate"]),
            "SurveyCreationDate": _iso_of_mysql(entry["SurveyCreationDate"]),
        }
        return {
            "QuestionCount": str(len(self.questions)),
            "SurveyOptions": options,
            "SurveyID": survey_id,
            "SurveyName": entry["SurveyName"],
            "SurveyStatus": entry["SurveyStatus"],
            "LastModified": _iso_of_mysql(entry["LastModified"]),
            "BrandID": entry["SurveyBrandID"],
            "OwnerID": entry["SurveyOwnerID"],
            "LastAccessed": _iso_of_mysql(entry["LastAccessed"]),
            "CreatorID": entry["CreatorID"],
            "LastActivated": _iso_of_mysql(entry["LastActivated"]),
            "Questions": self.questions,
            "Blocks": self.blocks,
            "ResponseSets": {response_set: "Default Response Set"},
            "SurveyFlow": self.flow,
            "Scoring": json.loads(json.dumps(_SCORING)),
            "ProjectInfo": {
                "SurveyID": survey_id,
                "ProjectCategory": self.project_category,
                "ProjectType": None,
                "CompositionType": None,
                "ContentBundle": None,
            },
            "BrandBaseURL": brand_base_url,
        }

    def qsf(self) -> Json:
        survey_id = self.entry["SurveyID"]

        def element(kind: str, primary: str, payload: Any, secondary: str | None = None) -> Json:
            return {
                "SurveyID": survey_id,
                "Element": kind,
                "PrimaryAttribute": primary,
                "SecondaryAttribute": secondary,
                "TertiaryAttribute": None,
                "Payload": payload,
            }

        elements = [
            element("BL", "Survey Blocks", list(self.blocks.values())),
            element("FL", "Survey Flow", self.flow),
            element("SO", "Survey Options", self.options),
        ]
        elements += [
            element("SQ", qid, {k: v for k, v in q.items() if k != "QuestionText_Unsafe"}, q.get("QuestionText"))
            for qid, q in self.questions.items()
        ]  # recorded QSF questions carry no QuestionText_Unsafe
        return {"SurveyEntry": {key: self.entry.get(key) for key in _SURVEY_ENTRY}, "SurveyElements": elements}


# --- stored responses and jobs -------------------------------------------------------------------


@dataclass(eq=False)
class _ImportJob:
    progress_id: str
    survey_id: str
    started: float
    error: Json | None = None


@dataclass(eq=False)
class _Idempotent:
    fingerprint: str
    answer: Json


class SurveyRoutes:
    """Surveys, survey definitions, single responses, response imports and distributions.

    Attributes (test controls, settable at any time):
        response_ready_seconds: how long a new response answers 202 before it is available.
        import_seconds: how long a response import job takes.
        survey_import_seconds: how long ``POST /surveys`` (import, copy) takes to answer.
        remote_files: ``fileUrl`` -> bytes served to imports "from a URL".
        peak_concurrent_imports: the most survey imports seen in flight at once.
    """

    def __init__(self, context: FamilyContext) -> None:
        self.context = context
        self.data = context.data
        self.response_ready_seconds = 0.2
        self.import_seconds = 0.2
        self.survey_import_seconds = 0.0
        self.remote_files: dict[str, bytes] = {}
        self.peak_concurrent_imports = 0
        self._importing = 0
        self._lock = threading.RLock()
        rng = context.rng("surveys")
        self._rng = rng
        self._ids = Collection("Survey", "SV", rng)  # id source for surveys, blocks, quotas
        self._surveys: dict[str, _Survey] = {}
        self._responses = Collection("Response", "R", rng, id_field="responseId")
        self._ready_at: dict[str, float] = {}
        self._response_survey: dict[str, str] = {}
        self._files: dict[str, tuple[str, str, bytes, str]] = {}  # fileId -> (responseId, name, bytes, type)
        self._imports = Collection("Import", "PGR", rng, id_field="progressId")
        self._jobs: dict[str, _ImportJob] = {}
        self._idempotent: dict[str, _Idempotent] = {}
        self._distributions = Collection("Distribution", "EMD", rng)
        self._sms = Collection("SMS distribution", "SMSD", rng)
        self._seed_distributions(rng)

    # --- routes --------------------------------------------------------------------------------

    def routes(self) -> Iterable[RouteSpec]:
        s, d, r, dist = "surveys", "/survey-definitions/{surveyId}", "survey_responses", "distributions"
        one = "/surveys/{surveyId}/responses/{responseId}"
        table: list[tuple[str, str, Callable[..., Any], str]] = [
            ("POST", "/surveys", self._import_survey, s),
            ("PUT", "/surveys/{surveyId}", self._update_survey, s),
            ("DELETE", "/surveys/{surveyId}", self._delete_survey, s),
            ("POST", "/survey-definitions", self._create_definition, s),
            ("GET", d, self._get_definition, s),
            ("DELETE", d, self._delete_survey, s),
            ("GET", d + "/metadata", self._get_metadata, s),
            ("PUT", d + "/metadata", self._put_metadata, s),
            ("GET", d + "/questions", self._list_questions, s),
            ("POST", d + "/questions", self._create_question, s),
            ("GET", d + "/questions/{questionId}", self._get_question, s),
            ("PUT", d + "/questions/{questionId}", self._put_question, s),
            ("DELETE", d + "/questions/{questionId}", self._delete_question, s),
            ("POST", d + "/blocks", self._create_block, s),
            ("GET", d + "/blocks/{blockId}", self._get_block, s),
            ("PUT", d + "/blocks/{blockId}", self._put_block, s),
            ("DELETE", d + "/blocks/{blockId}", self._delete_block, s),
            ("GET", d + "/flow", self._get_flow, s),
            ("PUT", d + "/flow", self._put_flow, s),
            ("GET", d + "/options", self._get_options, s),
            ("PUT", d + "/options", self._put_options, s),
            ("GET", d + "/versions", self._list_versions, s),
            ("POST", d + "/versions", self._create_version, s),
            ("GET", d + "/versions/{versionId}", self._get_version, s),
            ("GET", d + "/quotas", self._list_quotas, s),
            ("POST", d + "/quotas", self._create_quota, s),
            ("GET", d + "/quotas/{quotaId}", self._get_quota, s),
            ("PUT", d + "/quotas/{quotaId}", self._put_quota, s),
            ("DELETE", d + "/quotas/{quotaId}", self._delete_quota, s),
            ("POST", "/surveys/{surveyId}/responses", self._create_response, r),
            ("GET", one, self._get_response, r),
            ("DELETE", one, self._delete_response, r),
            ("PUT", "/responses/{responseId}", self._update_response, r),
            ("GET", one + "/uploaded-files/{fileId}", self._get_file, r),
            ("DELETE", one + "/uploaded-files/{fileId}", self._delete_file, r),
            ("GET", "/surveys/{surveyId}/response-schema", self._response_schema, r),
            ("POST", "/surveys/{surveyId}/import-responses", self._start_import, r),
            ("GET", "/surveys/{surveyId}/import-responses/{importProgressId}", self._import_progress, r),
            ("GET", "/distributions", self._list_distributions, dist),
            ("POST", "/distributions", self._create_distribution, dist),
            ("GET", "/distributions/{distributionId}", self._get_distribution, dist),
            ("DELETE", "/distributions/{distributionId}", self._delete_distribution, dist),
            ("GET", "/distributions/{distributionId}/links", self._links, dist),
            ("GET", "/distributions/{distributionId}/history", self._history, dist),
            ("POST", "/distributions/{distributionId}/reminders", self._reminder, dist),
            ("POST", "/distributions/{distributionId}/thankyous", self._thank_you, dist),
            ("GET", "/distributions/sms", self._list_sms, dist),
            ("POST", "/distributions/sms", self._create_sms, dist),
            ("GET", "/distributions/sms/{smsDistributionId}", self._get_sms, dist),
            ("DELETE", "/distributions/sms/{smsDistributionId}", self._delete_sms, dist),
        ]
        return [RouteSpec(method, template, handler, scope) for method, template, handler, scope in table]

    # --- surveys: store and legacy mirror -----------------------------------------------------

    def _survey(self, survey_id: str) -> _Survey:
        """The definition of a survey, derived from its legacy shape the first time (404 if unknown)."""
        with self._lock:
            survey = self._surveys.get(survey_id)
            if survey is not None:
                return survey
            detail = self.data.survey_details.get(survey_id)
            if detail is None:
                raise survey_not_found()
            survey = self._derive(detail)
            self._surveys[survey_id] = survey
            return survey

    def _require_survey(self, survey_id: str) -> Json:
        detail = self.data.survey_details.get(survey_id)
        if detail is None:
            raise survey_not_found()
        return detail

    def _brand_base_url(self) -> str:
        """``BrandBaseURL`` of a definition: the brand's own host (recorded ``https://{brand}.qualtrics.com``)."""
        brand = re.sub(r"[^a-z0-9]", "", str(self.data.whoami["brandId"]).lower())
        return f"https://{brand}.qualtrics.com"

    def _derive(self, detail: Json) -> _Survey:
        expiration = detail.get("expiration") or {}
        created = datetime.fromisoformat(detail["creationDate"])
        modified = datetime.fromisoformat(detail["lastModifiedDate"])
        entry = self._entry(
            detail["id"],
            detail["name"],
            owner=detail.get("ownerId") or self.data.whoami["userId"],
            active=bool(detail.get("isActive")),
            created=created,
        )
        entry["LastModified"] = _mysql(modified)
        for key, name in (("SurveyStartDate", "startDate"), ("SurveyExpirationDate", "endDate")):
            if expiration.get(name):
                entry[key] = _mysql(datetime.fromisoformat(expiration[name]))
        questions = {qid: _definition_question(qid, q) for qid, q in detail.get("questions", {}).items()}
        blocks: dict[str, Json] = {}
        for position, (bid, block) in enumerate(detail.get("blocks", {}).items()):
            blocks[bid] = {
                "Type": "Default" if position == 0 else "Standard",
                "Description": block.get("description", ""),
                "ID": bid,
                "BlockElements": [
                    {"Type": "Question", "QuestionID": e["questionId"]}
                    for e in block.get("elements", [])
                    if e.get("type") == "Question"
                ],
            }
        survey = _Survey(entry, questions, blocks, {}, dict(_DEFAULT_OPTIONS))
        numbers = [int(qid[3:]) for qid in questions if qid[3:].isdigit()]
        survey.next_qid = max(numbers, default=0) + 1
        flow: list[Json] = []
        fields = detail.get("embeddedData") or []
        if fields:
            flow.append(
                {
                    "Type": "EmbeddedData",
                    "FlowID": survey.flow_id(),
                    "EmbeddedData": [
                        {
                            "Description": f["name"],
                            "Type": "Custom",
                            "Field": f["name"],
                            "VariableType": "String",
                            "Value": f.get("defaultValue", ""),
                        }
                        for f in fields
                    ],
                }
            )
        for element in detail.get("flow", []):
            if element.get("id") in blocks:
                kind = "Block" if blocks[element["id"]]["Type"] == "Default" else "Standard"
                flow.append({"Type": kind, "ID": element["id"], "FlowID": survey.flow_id()})
        survey.flow = {
            "Type": "Root",
            "FlowID": "FL_1",
            "Flow": flow,
            "Properties": {"Count": survey.next_flow - 1, "RemovedFieldsets": []},
        }
        return survey

    def _entry(self, survey_id: str, name: str, *, owner: str, active: bool, created: datetime) -> Json:
        return {
            "SurveyID": survey_id,
            "SurveyName": name,
            "SurveyDescription": None,
            "SurveyOwnerID": owner,
            "SurveyBrandID": self.data.whoami["brandId"],
            "DivisionID": None,
            "SurveyLanguage": "EN",
            "SurveyActiveResponseSet": "RS_" + self._ids.new_id()[3:],
            "SurveyStatus": "Active" if active else "Inactive",
            "SurveyStartDate": None,
            "SurveyExpirationDate": None,
            "SurveyCreationDate": _mysql(created),
            "CreatorID": self.data.whoami["userId"],
            "LastModified": _mysql(created),
            "LastAccessed": None,
            "LastActivated": _mysql(created) if active else None,
            "Deleted": None,
        }

    def _new_survey(self, name: str, *, owner: str | None = None, language: str = "EN") -> _Survey:
        """A new empty survey (one default block in the flow), registered and listed."""
        survey_id = self._ids.new_id()
        entry = self._entry(survey_id, name, owner=owner or self.data.whoami["userId"], active=False, created=_now())
        entry["SurveyLanguage"] = language
        block_id = "BL_" + self._ids.new_id()[3:]
        blocks = {
            block_id: {"Type": "Default", "Description": "Default Question Block", "ID": block_id, "BlockElements": []}
        }
        survey = _Survey(entry, {}, blocks, {}, dict(_DEFAULT_OPTIONS))
        survey.flow = {
            "FlowID": "FL_1",
            "Type": "Root",
            "Flow": [{"Type": "Block", "ID": block_id, "FlowID": survey.flow_id()}],
            "Properties": {"Count": 2, "RemovedFieldsets": []},
        }
        with self._lock:
            self._surveys[survey_id] = survey
        self._sync(survey, created=True)
        return survey

    def _sync(self, survey: _Survey, *, created: bool = False, touch: bool = True) -> None:
        """Mirror a definition into ``GET /surveys`` and ``GET /surveys/{id}`` (EmulatorData)."""
        entry = survey.entry
        if touch:
            entry["LastModified"] = _mysql(_now())
        questions: Json = {}
        columns: Json = {}
        for qid, question in survey.questions.items():
            questions[qid], extra = _legacy_question(question)
            columns.update(extra)
        blocks = {
            bid: {
                "description": block.get("Description", ""),
                "elements": [
                    {"type": "Question", "questionId": e["QuestionID"]}
                    for e in block["BlockElements"]
                    if e.get("Type") == "Question"
                ],
            }
            for bid, block in survey.blocks.items()
        }
        flow_elements = survey.flow.get("Flow", [])
        flow = [{"id": e["ID"], "type": "Block"} for e in flow_elements if e.get("Type") in ("Block", "Standard")]
        embedded = [
            {"name": f.get("Field"), "defaultValue": f.get("Value", "")}
            for e in flow_elements
            if e.get("Type") == "EmbeddedData"
            for f in e.get("EmbeddedData", [])
        ]
        survey_id = entry["SurveyID"]
        active = entry["SurveyStatus"] == "Active"
        start, end = _from_mysql(entry.get("SurveyStartDate")), _from_mysql(entry.get("SurveyExpirationDate"))
        created_at = iso(_from_mysql(entry["SurveyCreationDate"]) or _now())
        modified_at = iso(_from_mysql(entry["LastModified"]) or _now())
        with self.context.lock:
            previous = self.data.survey_details.get(survey_id, {})
            counts = previous.get("responseCounts") or {"auditable": 0, "generated": 0, "deleted": 0}
            self.data.survey_details[survey_id] = {
                "id": survey_id,
                "name": entry["SurveyName"],
                "ownerId": entry["SurveyOwnerID"],
                "organizationId": entry["SurveyBrandID"],
                "isActive": active,
                "creationDate": created_at,
                "lastModifiedDate": modified_at,
                "expiration": {"startDate": start and iso(start), "endDate": end and iso(end)},
                "questions": questions,
                "exportColumnMap": columns,
                "blocks": blocks,
                "flow": flow,
                "embeddedData": embedded,
                "comments": {},
                "loopAndMerge": {},
                "responseCounts": counts,
            }
            element = {
                "id": survey_id,
                "name": entry["SurveyName"],
                "ownerId": entry["SurveyOwnerID"],
                "lastModified": modified_at,
                "creationDate": created_at,
                "isActive": active,
            }
            if created:
                self.data.surveys.append(element)
            else:
                for listed in self.data.surveys:
                    if listed["id"] == survey_id:
                        listed.update(element)

    # --- POST /surveys (import, copy), PUT, DELETE ------------------------------------------

    async def _import_survey(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        with self._lock:
            if self._importing >= MAX_CONCURRENT_IMPORTS:
                raise ApiError(
                    429,
                    f"Concurrent request limit reached: at most {MAX_CONCURRENT_IMPORTS} survey imports at once.",
                    "RATE_0.2",
                )
            self._importing += 1
            self.peak_concurrent_imports = max(self.peak_concurrent_imports, self._importing)
        try:
            if self.survey_import_seconds:
                await asyncio.sleep(self.survey_import_seconds)
            source = request.headers.get("X-COPY-SOURCE")
            if source is not None:
                survey = await self._copy(request, source)
            elif request.content_type.startswith("multipart/"):
                survey = await self._import_multipart(request)
            else:
                body = await json_body(request, required=("name", "fileUrl"))
                check_fields(body, ("name", "fileUrl"))
                content = self.remote_files.get(body["fileUrl"])
                if content is None:
                    raise bad_request(f"Could not download the survey file from {body['fileUrl']!r}.", "BRE_0.9")
                survey = self._import_qsf(str(body["name"]), content)
        finally:
            with self._lock:
                self._importing -= 1
        return {"id": survey.entry["SurveyID"]}

    async def _import_multipart(self, request: web.BaseRequest) -> _Survey:
        reader = await request.multipart()
        name: str | None = None
        content: bytes | None = None
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "name":
                name = (await part.read()).decode("utf-8")
            elif part.name == "file":
                content = bytes(await part.read())
        if not name or content is None:
            raise bad_request("Missing required form field(s): 'file' and 'name' are both required.")
        return self._import_qsf(name, content)

    def _import_qsf(self, name: str, content: bytes) -> _Survey:
        try:
            qsf = json.loads(content.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            qsf = None
        if not isinstance(qsf, dict) or not isinstance(qsf.get("SurveyElements"), list):
            raise bad_request(
                "The survey file could not be parsed: expected a QSF document (SurveyEntry, SurveyElements)."
            )
        entry = qsf.get("SurveyEntry") or {}
        survey = self._new_survey(name, language=str(entry.get("SurveyLanguage") or "EN"))
        for element in qsf["SurveyElements"]:
            if not isinstance(element, dict):
                continue
            payload = element.get("Payload")
            kind = element.get("Element")
            if kind == "BL" and payload:
                blocks = payload.values() if isinstance(payload, dict) else payload
                survey.blocks = {b["ID"]: dict(b) for b in blocks if isinstance(b, dict) and b.get("Type") != "Trash"}
            elif kind == "FL" and isinstance(payload, dict):
                survey.flow = payload
            elif kind == "SO" and isinstance(payload, dict):
                survey.options = payload
            elif kind == "SQ" and isinstance(payload, dict) and payload.get("QuestionID"):
                survey.questions[payload["QuestionID"]] = _normalized_question(payload, payload["QuestionID"])
        if not any(b.get("Type") == "Default" for b in survey.blocks.values()) and survey.blocks:
            next(iter(survey.blocks.values()))["Type"] = "Default"
        numbers = [int(q[3:]) for q in survey.questions if q[3:].isdigit()]
        survey.next_qid = max(numbers, default=0) + 1
        survey.next_flow = max(_flow_numbers(survey.flow), default=1) + 1
        self._sync(survey)
        return survey

    async def _copy(self, request: web.BaseRequest, source_id: str) -> _Survey:
        body = await json_body(request, required=("projectName",))
        check_fields(body, ("projectName",))
        owner = request.headers.get("X-COPY-DESTINATION-OWNER")
        if owner is not None and not _OWNER_ID.fullmatch(owner):
            raise bad_request(f"Invalid X-COPY-DESTINATION-OWNER {owner!r}: expected a user id (UR_...).")
        source = self._survey(source_id)
        copy = self._new_survey(str(body["projectName"]), owner=owner)
        copied = json.loads(json.dumps([source.questions, source.blocks, source.flow, source.options]))
        copy.questions, copy.blocks, copy.flow, copy.options = copied
        copy.next_qid, copy.next_flow = source.next_qid, source.next_flow
        copy.entry["SurveyLanguage"] = source.entry["SurveyLanguage"]
        self._sync(copy)
        return copy

    async def _update_survey(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._survey(params["surveyId"])
        body = await json_body(request)
        check_fields(body, ("name", "isActive", "expiration", "ownerId"))
        entry = survey.entry
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"]:
                raise bad_request("Invalid value for 'name': a non-empty string is required.")
            entry["SurveyName"] = body["name"]
        if "isActive" in body:
            if not isinstance(body["isActive"], bool):
                raise bad_request("Invalid value for 'isActive': true or false.")
            entry["SurveyStatus"] = "Active" if body["isActive"] else "Inactive"
        if "ownerId" in body:
            if not isinstance(body["ownerId"], str) or not _OWNER_ID.fullmatch(body["ownerId"]):
                raise bad_request("Invalid value for 'ownerId': expected a user id (UR_...).")
            entry["SurveyOwnerID"] = body["ownerId"]
        if "expiration" in body:
            expiration = _object(body, "expiration")
            check_fields(expiration, ("startDate", "endDate"))
            for name, key in (("startDate", "SurveyStartDate"), ("endDate", "SurveyExpirationDate")):
                if name in expiration:
                    value = expiration[name]
                    entry[key] = None if value is None else _mysql(_from_iso(f"expiration.{name}", value))
        self._sync(survey)

    def _delete_survey(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey_id = params["surveyId"]
        self._require_survey(survey_id)
        with self.context.lock:
            self.data.survey_details.pop(survey_id, None)
            self.data.surveys[:] = [s for s in self.data.surveys if s["id"] != survey_id]
        with self._lock:
            self._surveys.pop(survey_id, None)

    # --- survey definitions --------------------------------------------------------------------

    async def _create_definition(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await json_body(request, required=("SurveyName", "Language", "ProjectCategory"))
        check_fields(body, ("SurveyName", "Language", "ProjectCategory", "SurveyEntry", "SurveyElements"))
        if body["Language"] not in LANGUAGES:
            raise bad_request(f"Invalid value for 'Language': {body['Language']!r} is not a language code.")
        if body["ProjectCategory"] not in PROJECT_CATEGORIES:
            raise bad_request(f"Invalid value for 'ProjectCategory': expected one of {sorted(PROJECT_CATEGORIES)}.")
        survey = self._new_survey(str(body["SurveyName"]), language=body["Language"])
        survey.project_category = body["ProjectCategory"]
        return {"SurveyID": survey.entry["SurveyID"], "DefaultBlockID": survey.default_block()}

    def _get_definition(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._survey(params["surveyId"])
        fmt = request.query.get("format")
        if fmt not in (None, "qsf"):
            raise bad_request(f"Invalid value for 'format': {fmt!r} (only 'qsf').")
        return survey.qsf() if fmt == "qsf" else survey.definition(self._brand_base_url())

    def _get_metadata(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        entry = self._survey(params["surveyId"]).entry
        return {
            "SurveyID": entry["SurveyID"],
            "SurveyName": entry["SurveyName"],
            "SurveyDescription": entry["SurveyDescription"],
            "SurveyOwnerID": entry["SurveyOwnerID"],
            "SurveyStatus": entry["SurveyStatus"],
            "SurveyStartDate": entry["SurveyStartDate"],
            "SurveyExpirationDate": entry["SurveyExpirationDate"],
            "SurveyCreationDate": entry["SurveyCreationDate"],
            "LastModified": entry["LastModified"],
        }

    async def _put_metadata(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._survey(params["surveyId"])
        body = await json_body(request)
        allowed = ("SurveyName", "SurveyDescription", "SurveyStatus", "SurveyStartDate", "SurveyExpirationDate")
        check_fields(body, allowed)
        for key in ("SurveyStartDate", "SurveyExpirationDate"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or not _MYSQL_RE.fullmatch(value)):
                raise bad_request(
                    f"Invalid value for {key!r}: {value!r} (expected a MySQL DATETIME, YYYY-MM-DD HH:MM:SS)."
                )
        if "SurveyStatus" in body and body["SurveyStatus"] not in ("Active", "Inactive"):
            raise bad_request("Invalid value for 'SurveyStatus': 'Active' or 'Inactive'.")
        if "SurveyName" in body and (not isinstance(body["SurveyName"], str) or not body["SurveyName"]):
            raise bad_request("Invalid value for 'SurveyName': a non-empty string is required.")
        survey.entry.update(body)
        self._sync(survey)

    def _questions_of(self, survey_id: str) -> _Survey:
        """The survey of a ``…/questions`` route: an unknown one is a 403 ``QMST_2.1`` (recorded)."""
        try:
            return self._survey(survey_id)
        except ApiError as exc:
            if exc.status != 404:
                raise
            raise ApiError(403, "The operation is forbidden.", "QMST_2.1") from None

    def _list_questions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        # Recorded: the question list answers ``elements`` only, no ``nextPage`` key.
        return {"elements": list(self._questions_of(params["surveyId"]).questions.values())}

    def _question(self, survey: _Survey, question_id: str) -> Json:
        question = survey.questions.get(question_id)
        if question is None:
            raise not_found("Question", question_id)
        return question

    def _get_question(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._question(self._questions_of(params["surveyId"]), params["questionId"])

    @staticmethod
    async def _question_body(request: web.BaseRequest) -> Json:
        body = await json_body(request, required=("QuestionText", "QuestionType", "Selector"))
        for key in ("Choices", "Answers", "Validation", "Configuration"):
            if key in body and not isinstance(body[key], dict):
                raise bad_request(f"{key!r} must be a JSON object.")
        return body

    async def _create_question(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._questions_of(params["surveyId"])
        body = await self._question_body(request)
        block_id = request.query.get("blockId") or survey.default_block()
        block = survey.blocks.get(block_id)
        if block is None:
            raise not_found("Block", block_id)
        qid = f"QID{survey.next_qid}"
        survey.next_qid += 1
        survey.questions[qid] = _normalized_question(body, qid)
        block["BlockElements"].append({"Type": "Question", "QuestionID": qid})
        self._sync(survey)
        return {"QuestionID": qid}

    async def _put_question(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._questions_of(params["surveyId"])
        qid = params["questionId"]
        previous = self._question(survey, qid)
        body = await self._question_body(request)
        body.setdefault("DataExportTag", previous.get("DataExportTag", f"Q{qid[3:]}"))
        survey.questions[qid] = _normalized_question(body, qid)
        self._sync(survey)

    def _delete_question(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._questions_of(params["surveyId"])
        qid = params["questionId"]
        self._question(survey, qid)
        del survey.questions[qid]
        for block in survey.blocks.values():
            block["BlockElements"] = [e for e in block["BlockElements"] if e.get("QuestionID") != qid]
        self._sync(survey)

    def _block(self, survey: _Survey, block_id: str) -> Json:
        block = survey.blocks.get(block_id)
        if block is None:
            raise not_found("Block", block_id)
        return block

    @staticmethod
    def _check_block_elements(survey: _Survey, body: Json) -> None:
        elements = body.get("BlockElements", [])
        if not isinstance(elements, list):
            raise bad_request("'BlockElements' must be a list.")
        for element in elements:
            if not isinstance(element, dict) or element.get("Type") != "Question":
                continue
            if element.get("QuestionID") not in survey.questions:
                raise bad_request(f"'BlockElements' names the unknown question {element.get('QuestionID')!r}.")

    async def _create_block(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._survey(params["surveyId"])
        body = await json_body(request, required=("Type", "Description"))
        check_fields(body, ("Type", "Description", "BlockElements", "Options"))
        if body["Type"] != "Standard":
            raise bad_request("Invalid value for 'Type': new blocks are 'Standard'.")
        self._check_block_elements(survey, body)
        block_id = "BL_" + self._ids.new_id()[3:]
        survey.blocks[block_id] = {
            "Type": "Standard",
            "Description": body["Description"],
            "ID": block_id,
            "BlockElements": list(body.get("BlockElements", [])),
        }
        flow_id = survey.flow_id()
        survey.flow.setdefault("Flow", []).append({"Type": "Standard", "ID": block_id, "FlowID": flow_id})
        survey.flow.setdefault("Properties", {})["Count"] = survey.next_flow - 1
        self._sync(survey)
        return {"BlockID": block_id, "FlowID": flow_id}

    def _get_block(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._block(self._survey(params["surveyId"]), params["blockId"])

    async def _put_block(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._survey(params["surveyId"])
        block = self._block(survey, params["blockId"])
        body = await json_body(request, required=("Type", "Description"))
        check_fields(body, ("Type", "Description", "BlockElements", "Options", "ID"))
        if body["Type"] != block["Type"]:
            raise bad_request(f"Invalid value for 'Type': this block is {block['Type']!r}.")
        self._check_block_elements(survey, body)
        block.update({k: v for k, v in body.items() if k != "ID"})
        self._sync(survey)

    def _delete_block(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._survey(params["surveyId"])
        block = self._block(survey, params["blockId"])
        if block["Type"] == "Default":
            raise bad_request("The default block cannot be deleted.")
        for element in block["BlockElements"]:
            survey.questions.pop(element.get("QuestionID", ""), None)
        del survey.blocks[params["blockId"]]
        survey.flow["Flow"] = [e for e in survey.flow.get("Flow", []) if e.get("ID") != params["blockId"]]
        self._sync(survey)

    def _get_flow(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._survey(params["surveyId"]).flow

    async def _put_flow(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._survey(params["surveyId"])
        body = await json_body(request, required=("FlowID", "Type", "Flow"))
        if body["Type"] != "Root" or not isinstance(body["Flow"], list):
            raise bad_request("The flow must be {'Type': 'Root', 'FlowID': ..., 'Flow': [...]}.")
        for element in _walk_flow(body["Flow"]):
            if element.get("Type") in ("Block", "Standard") and element.get("ID") not in survey.blocks:
                raise bad_request(f"The flow names the unknown block {element.get('ID')!r}.")
        survey.flow = body
        survey.next_flow = max(survey.next_flow, max(_flow_numbers(body), default=1) + 1)
        self._sync(survey)

    def _get_options(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._survey(params["surveyId"]).options

    async def _put_options(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey = self._survey(params["surveyId"])
        body = await json_body(request)
        lower = sorted(key for key in body if not key[:1].isupper())
        if lower:
            raise bad_request(f"Unknown option(s): {', '.join(lower)}. Option names are PascalCase.")
        survey.options.update(body)
        self._sync(survey)

    def _list_versions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._survey(params["surveyId"])
        return _elements({k: v for k, v in version.items() if k != "qsf"} for version in survey.versions)

    async def _create_version(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._survey(params["surveyId"])
        body = await json_body(request, required=("Description",))
        check_fields(body, ("Description", "Published"))
        published = body.get("Published", True)
        if not isinstance(published, bool):
            raise bad_request("Invalid value for 'Published': true or false.")
        number = len(survey.versions) + 1
        version_id = str(9_223_370_000_000_000_000 + self._rng.randrange(10**12))
        created = iso(_now())
        survey.versions.append(
            {
                "VersionID": version_id,
                "VersionNumber": number,
                "Description": body["Description"],
                "UserID": self.data.whoami["userId"],
                "CreationDate": created,
                "Published": published,
                "qsf": json.loads(json.dumps(survey.qsf())),
            }
        )
        return {"VersionID": version_id, "VersionNumber": number, "CreationDate": created}

    def _get_version(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._survey(params["surveyId"])
        for version in survey.versions:
            if version["VersionID"] == params["versionId"]:
                if request.query.get("format") == "qsf":
                    return dict(version["qsf"])
                return {k: v for k, v in version.items() if k != "qsf"}
        raise not_found("Version", params["versionId"])

    @staticmethod
    async def _quota_body(request: web.BaseRequest) -> Json:
        body = await json_body(request, required=("Name", "Occurrences"))
        occurrences = body["Occurrences"]
        if not isinstance(occurrences, int) or isinstance(occurrences, bool) or occurrences < 0:
            raise bad_request("Invalid value for 'Occurrences': an integer >= 0.")
        return body

    def _list_quotas(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return _elements(self._survey(params["surveyId"]).quotas.values())

    async def _create_quota(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey = self._survey(params["surveyId"])
        body = await self._quota_body(request)
        quota_id = "QO_" + self._ids.new_id()[3:]
        survey.quotas[quota_id] = {**body, "ID": quota_id, "Count": 0}
        return {"QuotaID": quota_id}

    def _quota(self, params: dict[str, str]) -> tuple[_Survey, Json]:
        survey = self._survey(params["surveyId"])
        quota = survey.quotas.get(params["quotaId"])
        if quota is None:
            raise not_found("Quota", params["quotaId"])
        return survey, quota

    def _get_quota(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._quota(params)[1]

    async def _put_quota(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey, quota = self._quota(params)
        body = await self._quota_body(request)
        survey.quotas[params["quotaId"]] = {**body, "ID": params["quotaId"], "Count": quota.get("Count", 0)}

    def _delete_quota(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        survey, _quota = self._quota(params)
        del survey.quotas[params["quotaId"]]

    # --- idempotency ---------------------------------------------------------------------------

    async def _once(
        self, request: web.BaseRequest, raw: bytes, scope: str, create: Callable[[], Awaitable[Json]]
    ) -> Json:
        """Run ``create`` once per ``Idempotency-Key`` (same key + same request: same answer)."""
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return await create()
        fingerprint = hashlib.sha256(scope.encode() + b"\0" + raw).hexdigest()
        with self._lock:
            seen = self._idempotent.get(key)
        if seen is not None:
            if seen.fingerprint != fingerprint:
                raise ApiError(409, "This Idempotency-Key was already used with a different request.", "CONFLICT_0.2")
            return dict(seen.answer)
        answer = await create()
        with self._lock:
            self._idempotent[key] = _Idempotent(fingerprint, dict(answer))
        return answer

    # --- single responses ----------------------------------------------------------------------

    async def _create_response(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = params["surveyId"]
        detail = self._require_survey(survey_id)
        files: list[tuple[str, str, bytes, str]] = []  # (question, name, bytes, type)
        if request.content_type.startswith("multipart/"):
            body, files, raw = await self._response_parts(request)
        else:
            raw = await request.read()
            body = await json_body(request, required=("values",))
        check_fields(body, ("values",))
        values = _object(body, "values")
        questions = detail.get("questions", {})
        unknown = sorted(k for k in values if (m := _QUESTION_KEY.fullmatch(k)) and m.group(1) not in questions)
        if unknown:
            raise bad_request(f"Unknown question(s) in 'values': {', '.join(unknown)}.")

        async def create() -> Json:
            return {"responseId": self._store_response(survey_id, detail, dict(values), files)}

        return await self._once(request, raw, f"response:{survey_id}", create)

    async def _response_parts(self, request: web.BaseRequest) -> tuple[Json, list[tuple[str, str, bytes, str]], bytes]:
        reader = await request.multipart()
        body: Json | None = None
        mapping: Json = {}
        uploads: dict[str, tuple[str, bytes, str]] = {}
        digest = hashlib.sha256()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            content = bytes(await part.read())
            digest.update(f"{part.name}\0".encode() + content)
            if part.name in ("response", "fileMapping"):
                try:
                    decoded = json.loads(content)
                except ValueError:
                    decoded = None
                if not isinstance(decoded, dict):
                    raise bad_request(f"The {part.name!r} part must be a JSON object.")
                if part.name == "response":
                    body = decoded
                else:
                    mapping = decoded
            elif part.name and re.fullmatch(rf"file[1-{MAX_UPLOAD_FILES}]", part.name):
                uploads[part.name] = (
                    part.filename or part.name,
                    content,
                    part.headers.get("Content-Type", "application/octet-stream"),
                )
            else:
                raise bad_request(
                    f"Unknown form part {part.name!r} (expected response, fileMapping, file1..file{MAX_UPLOAD_FILES})."
                )
        if body is None or "values" not in body:
            raise bad_request("Missing the 'response' part with 'values'.")
        files = []
        for name, question in mapping.items():
            if name not in uploads:
                raise bad_request(f"'fileMapping' names {name!r}, which is not an uploaded part.")
            filename, content, content_type = uploads[name]
            files.append((str(question), filename, content, content_type))
        return body, files, digest.digest()

    def _store_response(
        self, survey_id: str, detail: Json, values: Json, files: list[tuple[str, str, bytes, str]]
    ) -> str:
        now = _now()
        for key, default in (
            ("startDate", iso(now)),
            ("endDate", iso(now)),
            ("status", 0),
            ("progress", 100),
            ("duration", 0),
            ("finished", 1),
        ):
            values.setdefault(key, default)
        values["recordedDate"] = _stamp(datetime.now(UTC))  # recorded with milliseconds
        response = self._responses.add({"values": values})
        response_id: str = response["responseId"]
        for question, filename, content, content_type in files:
            file_id = "F_" + self._ids.new_id()[3:]
            self._files[file_id] = (response_id, filename, content, content_type)
            values.update(
                {
                    f"{question}_FILE_ID": file_id,
                    f"{question}_FILE_NAME": filename,
                    f"{question}_FILE_SIZE": len(content),
                    f"{question}_FILE_TYPE": content_type,
                }
            )
        response.update(_presented(detail.get("questions", {}), values))
        with self._lock:
            self._ready_at[response_id] = time.monotonic() + self.response_ready_seconds
            self._response_survey[response_id] = survey_id
        return response_id

    def _response(self, survey_id: str | None, response_id: str) -> Json:
        response = self._responses.find(response_id)
        if response is None or (survey_id is not None and self._response_survey.get(response_id) != survey_id):
            raise not_found("Response", response_id)
        return response

    def _get_response(self, request: web.BaseRequest, params: dict[str, str]) -> Json | Reply:
        self._require_survey(params["surveyId"])
        response = self._response(params["surveyId"], params["responseId"])
        if time.monotonic() < self._ready_at.get(params["responseId"], 0.0):
            return _meta_reply(202, "Accepted", {"message": "The response is not yet available. Try again later."})
        return dict(response)

    def _delete_response(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._require_survey(params["surveyId"])
        raw = request.query.get("decrementQuotas", "false")
        if raw not in ("true", "false"):
            raise bad_request(f"Invalid value for 'decrementQuotas': {raw!r} (true or false).")
        self._response(params["surveyId"], params["responseId"])
        self._responses.delete(params["responseId"])
        for file_id in [f for f, v in self._files.items() if v[0] == params["responseId"]]:
            del self._files[file_id]

    async def _update_response(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        body = await json_body(request, required=("surveyId",))
        check_fields(body, ("surveyId", "embeddedData", "resetRecordedDate"))
        detail = self._require_survey(str(body["surveyId"]))
        response = self._response(body["surveyId"], params["responseId"])
        embedded = _object(body, "embeddedData", required=False)
        reset = body.get("resetRecordedDate", True)
        if not isinstance(reset, bool):
            raise bad_request("Invalid value for 'resetRecordedDate': true or false.")
        defined = {f.get("name") for f in detail.get("embeddedData", [])}
        values = response["values"]
        values.update({k: str(v) for k, v in embedded.items() if k in defined})
        if reset:
            values["recordedDate"] = _stamp(_now())
        else:
            recorded = datetime.fromisoformat(str(values["recordedDate"]))
            values["recordedDate"] = _stamp(recorded + timedelta(milliseconds=1))

    def _uploaded(self, params: dict[str, str]) -> tuple[str, str, bytes, str]:
        self._require_survey(params["surveyId"])
        self._response(params["surveyId"], params["responseId"])
        entry = self._files.get(params["fileId"])
        if entry is None or entry[0] != params["responseId"]:
            raise not_found("File", params["fileId"])
        return entry

    def _get_file(self, request: web.BaseRequest, params: dict[str, str]) -> Reply:
        _response_id, name, content, content_type = self._uploaded(params)
        disposition = f'attachment; filename="{name.replace(chr(34), "")}"'
        return Reply(200, body=content, content_type=content_type, headers={"Content-Disposition": disposition})

    def _delete_file(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._uploaded(params)
        del self._files[params["fileId"]]

    def _response_schema(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = params["surveyId"]
        detail = self._require_survey(survey_id)
        values: Json = {
            "responseId": {"type": "string", "dataType": "metadata"},
            "startDate": {"type": "string", "format": "date-time", "dataType": "metadata"},
            "endDate": {"type": "string", "format": "date-time", "dataType": "metadata"},
            "recordedDate": {"type": "string", "format": "date-time", "dataType": "metadata"},
            "status": {"type": "number", "dataType": "metadata"},
            "progress": {"type": "number", "dataType": "metadata"},
            "duration": {"type": "number", "dataType": "metadata"},
            "finished": {"type": "number", "dataType": "metadata"},
        }
        labels: Json = {}
        for column, target in detail.get("exportColumnMap", {}).items():
            qid = target["question"]
            question = detail["questions"][qid]
            suffix = column.split("_", 1)[1] if "_" in column else ""
            key = f"{qid}_{suffix}" if suffix else qid
            prop: Json = {
                "description": question["questionText"],
                "dataType": "question",
                "exportTag": column,
                "questionId": qid,
            }
            choices = question.get("choices") or {}
            if suffix == "TEXT" or not choices:
                prop["type"] = "string"
            else:
                prop["type"] = "number"
                prop["oneOf"] = [{"label": c["choiceText"], "const": int(k)} for k, c in choices.items()]
                labels[key] = {"type": "string", "dataType": "question", "exportTag": column, "questionId": qid}
            values[key] = prop
        for embedded in detail.get("embeddedData", []):
            values[embedded["name"]] = {"type": "string", "dataType": "embeddedData"}
        return {
            "$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": f"https://{self.data.whoami['datacenter']}.qualtrics.com/API/v3/surveys/{survey_id}/response-schema",
            "title": detail["name"],
            "type": "object",
            "properties": {
                "responseId": {"type": "string"},
                "values": {"type": "object", "properties": values},
                "labels": {"type": "object", "properties": labels},
                "displayedFields": {"type": "array", "items": {"type": "string"}},
                "displayedValues": {"type": "object"},
            },
        }

    # --- response imports --------------------------------------------------------------------

    async def _start_import(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = params["surveyId"]
        detail = self._require_survey(survey_id)
        kind = request.content_type
        if kind == "application/json":
            raw = await request.read()
            body = await json_body(request, required=("format", "fileUrl"))
            check_fields(body, ("format", "fileUrl", "charset"))
            fmt, charset = body["format"], body.get("charset", "UTF-8")
            content = self.remote_files.get(str(body["fileUrl"]))
        elif kind in ("text/csv", "text/tsv", "text/tab-separated-values"):
            raw = await _read_capped(request, MAX_IMPORT_BYTES)
            fmt, charset, content = (
                ("csv" if kind == "text/csv" else "tsv"),
                request.headers.get("charset", "UTF-8"),
                raw,
            )
        else:
            raise bad_request(f"Unsupported Content-Type {kind!r}: send text/csv, text/tsv, or JSON with fileUrl.")
        if fmt not in ("csv", "tsv"):
            raise bad_request(f"Invalid value for 'format': {fmt!r} (csv or tsv).")
        if str(charset).upper().replace("-", "") != "UTF8":
            raise bad_request(f"Unsupported charset {charset!r}: only UTF-8.")

        async def create() -> Json:
            job = _ImportJob("", survey_id, time.monotonic())
            job.progress_id = self._imports.add({})["progressId"]
            if content is None:
                job.error = {"errorCode": "IMPORT_0.2", "errorMessage": "The file at fileUrl could not be downloaded."}
            else:
                job.error = self._import_records(survey_id, detail, content, "\t" if fmt == "tsv" else ",")
            with self._lock:
                self._jobs[job.progress_id] = job
            return {"progressId": job.progress_id, "percentComplete": 0.0, "status": "inProgress"}

        return await self._once(request, raw, f"import:{survey_id}", create)

    def _import_records(self, survey_id: str, detail: Json, content: bytes, delimiter: str) -> Json | None:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return {"errorCode": "IMPORT_0.3", "errorMessage": "The file is not valid UTF-8."}
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        header_rows = next(
            (n + 1 for n, row in enumerate(rows[:3]) if row and row[0].lstrip().startswith('{"ImportId"')), 1
        )
        if not rows:
            return {"errorCode": "IMPORT_0.4", "errorMessage": "The file is empty."}
        names = rows[0]
        if header_rows > 1:
            ids = [
                json.loads(cell).get("ImportId", names[n]) if cell.startswith("{") else names[n]
                for n, cell in enumerate(rows[header_rows - 1])
            ]
            names = [str(i) for i in ids]
        records = [row for row in rows[header_rows:] if any(cell.strip() for cell in row)]
        for number, row in enumerate(records, start=header_rows + 1):
            if len(row) > len(names):
                return {
                    "errorCode": "IMPORT_0.1",
                    "errorMessage": f"Record {number} has {len(row)} fields; the header has {len(names)}.",
                }
        for row in records:
            values = {name: cell for name, cell in zip(names, row, strict=False) if cell != ""}
            self._store_response(survey_id, detail, values, [])
        return None

    def _import_progress(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        self._require_survey(params["surveyId"])
        job = self._jobs.get(params["importProgressId"])
        if job is None or job.survey_id != params["surveyId"]:
            raise not_found("Import", params["importProgressId"])
        elapsed = time.monotonic() - job.started
        fraction = 1.0 if self.import_seconds <= 0 else min(1.0, elapsed / self.import_seconds)
        if fraction < 1.0:
            return {"percentComplete": round(fraction * 100, 1), "status": "inProgress"}
        if job.error is not None:
            return {"percentComplete": 100.0, "status": "failed", "error": dict(job.error)}
        return {"percentComplete": 100.0, "status": "complete"}

    # --- distributions -----------------------------------------------------------------------

    def _seed_distributions(self, rng: random.Random) -> None:
        surveys = self.data.surveys
        base = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
        for index, count in ((0, 5), (1, 2)):
            if index >= len(surveys):
                break
            survey_id = surveys[index]["id"]
            for number in range(count):
                send = base + timedelta(days=rng.randint(0, 400), minutes=rng.randint(0, 1439))
                body = {
                    "message": {
                        "libraryId": "UR_" + self._ids.new_id()[3:],
                        "messageId": "MS_" + self._ids.new_id()[3:],
                    },
                    "recipients": {"mailingListId": "CG_" + self._ids.new_id()[3:]},
                    "header": {
                        "fromEmail": "noreply@example.com",
                        "fromName": "Survey Team",
                        "replyToEmail": "team@example.com",
                        "subject": f"Your opinion matters ({number + 1})",
                    },
                    "surveyLink": {"surveyId": survey_id, "type": "Individual"},
                    "sendDate": iso(send),
                }
                self._store_distribution("Invite", body, created=send - timedelta(days=1))
            if index == 0:
                self._store_distribution(
                    "GeneratedInvite",
                    {
                        "surveyLink": {"surveyId": survey_id, "linkType": "Individual"},
                        "recipients": {"mailingListId": "CG_" + self._ids.new_id()[3:]},
                        "description": "Seeded links",
                        "sendDate": iso(base),
                    },
                    created=base,
                )

    def _recipients(self, recipients: Mapping[str, Any]) -> list[Json]:
        """The contacts a distribution goes to (a deterministic subset of the default directory)."""
        contacts = self.data.contacts.get(self.data.default_directory_id, [])
        contact_id = recipients.get("contactId")
        if contact_id:
            found = self.data.find_contact(self.data.default_directory_id, str(contact_id))
            return [
                found
                or {
                    "contactId": contact_id,
                    "firstName": None,
                    "lastName": None,
                    "email": None,
                    "extRef": None,
                    "unsubscribed": False,
                }
            ]
        source = next(
            (str(recipients[k]) for k in ("mailingListId", "transactionBatchId", "sampleId") if recipients.get(k)), ""
        )
        if not contacts or not source:
            return []
        pick = random.Random(f"{self.context.seed}:{source}")  # noqa: S311 - reproducible test data
        return pick.sample(contacts, min(len(contacts), pick.randint(3, 12)))

    def _store_distribution(
        self, request_type: str, body: Json, *, created: datetime | None = None, parent: str | None = None
    ) -> Json:
        send = _from_iso("sendDate", body["sendDate"]) if body.get("sendDate") else _now()
        created = created or _now()
        link = body.get("surveyLink", {})
        recipients = body.get("recipients", {})
        message = body.get("message", {})
        item: Json = {
            "parentDistributionId": parent,
            "ownerId": self.data.whoami["userId"],
            "organizationId": self.data.whoami["brandId"],
            "requestType": request_type,
            "sendDate": iso(send),
            "createdDate": iso(created),
            "modifiedDate": iso(created),
            "headers": {k: body.get("header", {}).get(k) for k in ("fromEmail", "replyToEmail", "fromName", "subject")},
            "recipients": {k: recipients.get(k) for k in ("mailingListId", "contactId", "libraryId", "sampleId")},
            "message": {
                "libraryId": message.get("libraryId"),
                "messageId": message.get("messageId"),
                "messageText": message.get("messageText"),
                "messageType": "InviteEmail" if message else None,
            },
            "surveyLink": {
                "surveyId": link.get("surveyId"),
                "expirationDate": link.get("expirationDate"),
                "linkType": link.get("linkType") or link.get("type"),
            },
            "embeddedData": body.get("embeddedData"),
            "_recipients": recipients,
            "_description": body.get("description"),
        }
        return self._distributions.add(item)

    def _public(self, item: Json) -> Json:
        result = {k: v for k, v in item.items() if not k.startswith("_")}
        sent = datetime.fromisoformat(item["sendDate"]) <= _now()
        if item["requestType"] == "GeneratedInvite":
            result["requestStatus"] = "Generated"
        else:
            result["requestStatus"] = "Done" if sent else "Pending"
        count = len(self._recipients(item["_recipients"])) if sent and item["requestType"] != "GeneratedInvite" else 0
        result["stats"] = {
            "sent": count,
            "failed": 0,
            "started": 0,
            "bounced": 0,
            "opened": 0,
            "skipped": 0,
            "finished": 0,
            "complaints": 0,
            "blocked": 0,
        }
        return result

    def _survey_query(self, request: web.BaseRequest) -> str:
        survey_id = request.query.get("surveyId")
        if not survey_id:
            raise bad_request("Missing required query parameter: surveyId.")
        return survey_id

    def _list_distributions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = self._survey_query(request)
        query = request.query
        items = [d for d in self._distributions.values() if d["surveyLink"]["surveyId"] == survey_id]
        if "distributionRequestType" in query:
            items = [d for d in items if d["requestType"] == query["distributionRequestType"]]
        if "mailingListId" in query:
            items = [d for d in items if d["recipients"].get("mailingListId") == query["mailingListId"]]
        for name, keep in (("sendStartDate", operator.ge), ("sendEndDate", operator.lt)):
            if name in query:
                bound = _from_iso(name, query[name])
                items = [d for d in items if keep(datetime.fromisoformat(d["sendDate"]), bound)]
        public = [self._public(d) for d in items]
        if query.get("useNewPaginationScheme", "false").lower() == "true":
            return skip_page(
                request, self.context.skip_tokens, f"distributions:{survey_id}", public, DISTRIBUTIONS_PAGE_SIZE
            )
        return offset_page(request, public, DISTRIBUTIONS_PAGE_SIZE)

    def _distribution(self, distribution_id: str) -> Json:
        """A stored distribution; an unknown id is a 404 ``GED_3`` "Distribution not found." (recorded)."""
        item = self._distributions.find(distribution_id)
        if item is None:
            raise ApiError(404, "Distribution not found.", "GED_3")
        return item

    def _get_distribution(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = self._survey_query(request)
        item = self._distribution(params["distributionId"])
        if item["surveyLink"]["surveyId"] != survey_id:
            raise ApiError(404, "Distribution not found.", "GED_3")
        return self._public(item)

    def _delete_distribution(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._distribution(params["distributionId"])
        self._distributions.delete(params["distributionId"])

    async def _create_distribution(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await json_body(request)
        if "linkType" in body or "action" in body:
            return self._generate_links(body)
        check_fields(body, ("message", "recipients", "header", "surveyLink", "embeddedData", "sendDate"))
        self._check_message(body)
        recipients = _object(body, "recipients")
        given = [k for k in ("mailingListId", "contactId", "transactionBatchId", "sampleId") if recipients.get(k)]
        if len(given) != 1:
            raise bad_request(
                "'recipients' needs exactly one of mailingListId, contactId, transactionBatchId, sampleId."
            )
        self._check_header(body)
        link = _object(body, "surveyLink")
        check_fields(link, ("surveyId", "expirationDate", "type"))
        self._require_survey(str(link.get("surveyId")))
        if link.get("type") not in LINK_TYPES:
            raise bad_request(f"Invalid value for 'surveyLink.type': expected one of {sorted(LINK_TYPES)}.")
        if link.get("expirationDate") is not None:
            _from_iso("surveyLink.expirationDate", link["expirationDate"])
        embedded = _object(body, "embeddedData", required=False)
        if len(embedded) > MAX_EMBEDDED_DATA:
            raise bad_request(f"'embeddedData' takes at most {MAX_EMBEDDED_DATA} keys, got {len(embedded)}.")
        _from_iso("sendDate", body.get("sendDate"))
        return {"id": self._store_distribution("Invite", body)["id"]}

    @staticmethod
    def _check_message(body: Json) -> None:
        message = _object(body, "message")
        check_fields(message, ("libraryId", "messageId", "messageText"))
        if not message.get("messageText") and not (message.get("libraryId") and message.get("messageId")):
            raise bad_request("'message' needs libraryId and messageId, or messageText.")

    @staticmethod
    def _check_header(body: Json) -> None:
        header = _object(body, "header")
        check_fields(header, ("fromEmail", "fromName", "replyToEmail", "subject"))
        missing = [k for k in ("fromEmail", "fromName", "subject") if not header.get(k)]
        if missing:
            raise bad_request(f"Missing required field(s) in 'header': {', '.join(missing)}.")

    def _generate_links(self, body: Json) -> Json:
        check_fields(body, ("surveyId", "linkType", "description", "action", "expirationDate", "mailingListId"))
        missing = [k for k in ("surveyId", "linkType", "description", "action") if not body.get(k)]
        if missing:
            raise bad_request(f"Missing required field(s): {', '.join(missing)}.")
        detail = self._require_survey(str(body["surveyId"]))
        if body["linkType"] not in LINK_TYPES:
            raise bad_request(f"Invalid value for 'linkType': expected one of {sorted(LINK_TYPES)}.")
        if body["action"] not in ("CreateDistribution", "CreateTransactionBatchDistribution"):
            raise bad_request("Invalid value for 'action': CreateDistribution or CreateTransactionBatchDistribution.")
        if body["action"] == "CreateDistribution" and not body.get("mailingListId"):
            raise bad_request("Missing required field: mailingListId.")
        if not detail.get("isActive"):
            raise bad_request("The survey must be active to generate links.", "BRE_0.10")
        expiration = body.get("expirationDate")
        if expiration is not None:
            _from_iso("expirationDate", expiration)
        stored = self._store_distribution(
            "GeneratedInvite",
            {
                "surveyLink": {
                    "surveyId": body["surveyId"],
                    "expirationDate": expiration,
                    "linkType": body["linkType"],
                },
                "recipients": {"mailingListId": body.get("mailingListId")},
                "description": body["description"],
            },
        )
        return {"id": stored["id"]}

    def _links(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = self._survey_query(request)
        item = self._distribution(params["distributionId"])
        if item["surveyLink"]["surveyId"] != survey_id:
            raise ApiError(404, "Distribution not found.", "GED_3")
        if item["requestType"] != "GeneratedInvite":
            raise ApiError(500, "An internal error occurred.", "SERVER_0.1")
        host = f"https://{self.data.whoami['datacenter']}.qualtrics.com"
        links = [
            {
                "contactId": c["contactId"],
                "transactionId": None,
                "link": f"{host}/jfe/form/{survey_id}?Q_DL={_link_token(item['id'], c['contactId'])}",
                "exceededContactFrequency": False,
                "linkExpiration": item["surveyLink"]["expirationDate"],
                "status": "Email not sent",
                "lastName": c.get("lastName"),
                "firstName": c.get("firstName"),
                "externalDataReference": c.get("extRef"),
                "email": c.get("email"),
                "unsubscribed": bool(c.get("unsubscribed")),
            }
            for c in self._recipients(item["_recipients"])
        ]
        return skip_page(request, self.context.skip_tokens, f"links:{item['id']}", links)

    def _history(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        """Per-recipient history, keyed as recorded (``distributionId`` with a lower-case d)."""
        item = self._distribution(params["distributionId"])
        source = item["_recipients"]
        if item["parentDistributionId"] is None and not any(
            source.get(k) for k in ("mailingListId", "contactId", "transactionBatchId", "sampleId")
        ):
            raise ApiError(
                400,
                f"The email-distribution({item['id']}) has no recipients and no parent. "
                "This distribution type may be unsupported.",
                "CP_TD_GER_NP",
            )
        sent = datetime.fromisoformat(item["sendDate"]) <= _now()
        generated = item["requestType"] == "GeneratedInvite"
        survey_id = item["surveyLink"]["surveyId"]
        host = f"https://{self.data.whoami['datacenter']}.qualtrics.com"
        sent_at = _stamp(datetime.fromisoformat(item["sendDate"])) if sent and not generated else None
        entries = []
        for contact in self._recipients(source):
            lookup = "MLRP_" + contact["contactId"][4:]
            entries.append(
                {
                    "contactId": contact["contactId"],
                    "contactLookupId": lookup,
                    "distributionId": item["id"],
                    "status": "Success" if sent_at else "Pending",
                    "surveyLink": f"{host}/jfe/form/{survey_id}?Q_CHL=email&Q_DL={item['id']}_{survey_id[3:]}_{lookup}",
                    "contactFrequencyRuleId": None,
                    "responseId": None,
                    "responseCompletedAt": None,
                    "sentAt": sent_at,
                    "openedAt": None,
                    "responseStartedAt": None,
                    "surveySessionId": None,
                }
            )
        return skip_page(request, self.context.skip_tokens, f"history:{item['id']}", entries)

    async def _follow_up(self, request: web.BaseRequest, params: dict[str, str], kind: str) -> Json:
        parent = self._distribution(params["distributionId"])
        body = await json_body(request)
        check_fields(body, ("message", "header", "embeddedData", "sendDate"))
        if parent["requestType"] != "Invite":
            raise bad_request(f"A {kind} needs an email (Invite) distribution as parent, not {parent['requestType']}.")
        self._check_message(body)
        self._check_header(body)
        _from_iso("sendDate", body.get("sendDate"))
        child = {**body, "surveyLink": parent["surveyLink"], "recipients": parent["_recipients"]}
        return {"distributionId": self._store_distribution(kind, child, parent=parent["id"])["id"]}

    async def _reminder(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return await self._follow_up(request, params, "Reminder")

    async def _thank_you(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return await self._follow_up(request, params, "ThankYou")

    def _sms_public(self, item: Json) -> Json:
        sent = datetime.fromisoformat(item["sendDate"]) <= _now()
        count = len(self._recipients(item["recipients"])) if sent else 0
        return {
            **item,
            "requestStatus": "Done" if sent else "Pending",
            "stats": {"sent": count, "failed": 0, "started": 0, "finished": 0},
        }

    def _list_sms(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        survey_id = self._survey_query(request)
        items = [self._sms_public(s) for s in self._sms.values() if s["surveyId"] == survey_id]
        return offset_page(request, items, DISTRIBUTIONS_PAGE_SIZE)

    async def _create_sms(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await json_body(request, required=("sendDate", "method", "surveyId", "name", "recipients", "message"))
        check_fields(body, ("sendDate", "method", "surveyId", "name", "recipients", "message", "parentDistributionId"))
        if body["method"] not in SMS_METHODS:
            raise bad_request(f"Invalid value for 'method': expected one of {sorted(SMS_METHODS)}.")
        self._require_survey(str(body["surveyId"]))
        self._check_message(body)
        recipients = _object(body, "recipients")
        check_fields(recipients, ("mailingListId", "contactId"))
        if not recipients.get("mailingListId"):
            raise bad_request("Missing required field: recipients.mailingListId.")
        parent = body.get("parentDistributionId")
        if body["method"] in ("Reminder", "ThankYou"):
            if not parent:
                raise bad_request(f"An SMS {body['method']} needs parentDistributionId.")
            self._sms.get(str(parent))
        send = _from_iso("sendDate", body["sendDate"])
        item = self._sms.add(
            {
                "name": body["name"],
                "method": body["method"],
                "surveyId": body["surveyId"],
                "sendDate": iso(send),
                "createdDate": iso(_now()),
                "parentDistributionId": parent,
                "recipients": {"mailingListId": recipients["mailingListId"], "contactId": recipients.get("contactId")},
                "message": {k: body["message"].get(k) for k in ("libraryId", "messageId", "messageText")},
            }
        )
        return {"id": item["id"]}

    def _get_sms(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return self._sms_public(self._sms.get(params["smsDistributionId"]))

    def _delete_sms(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._sms.delete(params["smsDistributionId"])


def _presented(questions: Mapping[str, Any], values: Json) -> Json:
    """``labels``, ``displayedFields`` and ``displayedValues`` of a stored response, and the
    display orders it adds to ``values`` -- the shape of the recorded single response.

    An answered multiple choice question (key = its QID) gets ``{QID}_DO``, its choices in
    display order as strings; a multiple-answer one (``MAVR``, ``MAHR``, ...) holds an array of
    strings (``"QID2": ["2"]``). ``labels`` hold the choice texts (arrays where the value is an
    array) plus ``status`` and ``finished`` as words; ``displayedValues`` the choice numbers
    (ints) shown per question; ``displayedFields`` the answered question fields.
    """
    labels: Json = {}
    status = values.get("status")
    if isinstance(status, int) and not isinstance(status, bool) and status in STATUS_LABELS:
        labels["status"] = STATUS_LABELS[status]
    finished = values.get("finished")
    if finished in (0, 1, "0", "1"):
        labels["finished"] = "True" if str(finished) == "1" else "False"
    displayed: Json = {}
    for key in [k for k in values if k in questions]:
        question = questions[key]
        choices: Json = question.get("choices") or {}
        if question.get("questionType", {}).get("type") != "MC" or not choices:
            continue
        value = values[key]
        if is_multi_answer(question["questionType"]):
            value = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            values[key] = value
        order = list(choices)
        values[f"{key}_DO"] = order
        texts = {number: str(choice["choiceText"]) for number, choice in choices.items()}
        if isinstance(value, list):
            labels[key] = [texts.get(str(v), str(v)) for v in value]
        elif str(value) in texts:
            labels[key] = texts[str(value)]
        labels[f"{key}_DO"] = [texts[number] for number in order]
        displayed[key] = [int(number) for number in order if number.isdigit()]
    fields = [k for k in values if _QUESTION_KEY.fullmatch(k) and not k.endswith("_DO")]
    return {"labels": labels, "displayedFields": fields, "displayedValues": displayed}


def _link_token(distribution_id: str, contact_id: str) -> str:
    return hashlib.sha256(f"{distribution_id}:{contact_id}".encode()).hexdigest()[:24]


def _walk_flow(elements: list[Any]) -> Iterable[Json]:
    for element in elements:
        if isinstance(element, dict):
            yield element
            children = element.get("Flow")
            if isinstance(children, list):
                yield from _walk_flow(children)


def _flow_numbers(flow: Json) -> list[int]:
    ids = [flow.get("FlowID", "")] + [e.get("FlowID", "") for e in _walk_flow(flow.get("Flow", []) or [])]
    return [int(i[3:]) for i in ids if isinstance(i, str) and i.startswith("FL_") and i[3:].isdigit()]


async def _read_capped(request: web.BaseRequest, limit: int) -> bytes:
    """The raw body, read past aiohttp's 1 MiB default cap; 413 above ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, f"The file is larger than the import limit of {limit} bytes.", "CreationResponseTooLarge"
            )
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["MAX_CONCURRENT_IMPORTS", "SurveyRoutes"]
