"""The emulator's seeded dataset: identity, surveys, XM directories and their contacts.

Everything is drawn from one ``random.Random(seed)`` and a fixed base date, so a seed
always yields the same data (tests compare what they fetched against
``QualtricsEmulator.data``). Shapes follow ``qualtrics-api.md`` §1.3 (whoami), §7.3
(the ``/surveys`` list) and §8 (directories, contacts). ``GET /surveys/{surveyId}`` (the
legacy "Get Survey") answers the recorded shape: ``questions`` (``questionType``,
``questionText``, ``questionLabel``, ``validation``, ``questionName``, ``choices`` /
``subQuestions`` keyed by choice number), ``exportColumnMap`` (export tag -> ``question`` and,
per column, ``subQuestion``/``choice``/``textEntry`` references), ``blocks``, ``flow``,
``embeddedData``, ``comments``, ``loopAndMerge`` and ``responseCounts``.

The third seeded survey (the *showcase*, when ``surveys >= 3``) also holds what recorded
surveys hold beyond plain questions: a multiple-answer question (``MAVR``) whose "Other"
choice takes text, the built-in ``Timing`` question (``PageTimer``: First Click, Last Click,
Page Submit, Click Count) and the built-in ``Meta`` question (``Browser``). Their legacy
form is the recorded one: Timing choices carry recodes and export as ``{tag}_{n}`` (with
``choice``), Meta choices carry none and export as ``{tag}_{n}_TEXT``, a multiple-answer
question exports one ``{tag}_{n}`` per choice and ``{tag}_{n}_TEXT`` (with ``textEntry``)
for its text choice. The multiple-answer question's wording holds a line break, as recorded
question texts do (so export header cells carry a bare LF inside quotes).
"""

from __future__ import annotations

import random
import string
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Json = dict[str, Any]

_ALNUM = string.ascii_letters + string.digits
_BASE_DATE = datetime(2021, 1, 4, 9, 0, 0, tzinfo=UTC)

# The first name mixes unicode, "/" and ":" so even `surveys=1` exercises the file-name
# hazards users hit when a survey title becomes an archive member name (PEERS.md pain 7).
_SURVEY_NAMES = (
    "Kundenzufriedenheit: Q{q} / {year} — Zürich",
    "Employee Pulse / {month} {year}",
    "Net Promoter Score: follow-up #{n}",
    "Enquête de satisfaction — été {year}",
    "顧客満足度調査 {year}",
    "Product Feedback: v{n}.{q}",
    "Onboarding Survey",
    "Event Registration / RSVP ({month})",
    "Café ☕ Preferences",
    "Training Evaluation: Module {n}",
    "Website Usability Test",
    "Ñandú: encuesta de campo {year}",
)
# fmt: off
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Gustavo", "Hana", "Ivan", "Jürgen",
                "Kofi", "Léa", "Mei", "Nils", "Olu", "Priya", "Quinn", "Renée", "Søren", "Zoë")
_LAST_NAMES = ("Abara", "Brown", "Castro", "Dubois", "Eriksen", "Fischer", "García", "Hoang", "Ito",
               "Jensen", "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Petrov", "Rossi",
               "Smith", "Tanaka", "Weiß")
# fmt: on
_LANGUAGES = ("EN", "EN", "EN", "ES", "DE", "FR", "JA", "PT-BR")
STATUS_LABELS = {0: "IP Address", 1: "Survey Preview", 2: "Survey Test", 4: "Imported", 16: "Offline"}
"""The label of each response ``status`` code (the "Response Type" of an export, recorded)."""
_SEGMENTS = ("enterprise", "smb", "consumer", "partner")


@dataclass(frozen=True, slots=True)
class EmulatorData:
    """The data an emulator serves, fixed at construction from its seed.

    Attributes:
        whoami: the ``GET /whoami`` result.
        surveys: ``GET /surveys`` elements, in the order the API lists them.
        survey_details: ``GET /surveys/{surveyId}`` results keyed by survey id.
        directories: ``GET /directories`` elements; the first is the default directory,
            and one directory is always empty.
        contacts: full contact records keyed by directory id (list order = API order).
            Use :func:`contact_element` for the list-endpoint shape.
    """

    whoami: Json
    surveys: list[Json]
    survey_details: dict[str, Json]
    directories: list[Json]
    contacts: dict[str, list[Json]]
    _contact_index: dict[tuple[str, str], Json] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {(pool, c["contactId"]): c for pool, contacts in self.contacts.items() for c in contacts}
        object.__setattr__(self, "_contact_index", index)  # frozen dataclass: set once, here

    @property
    def default_directory_id(self) -> str:
        """Id of the directory flagged ``isDefault`` (the one holding the seeded contacts)."""
        return str(next(d["directoryId"] for d in self.directories if d["isDefault"]))

    @property
    def empty_directory_id(self) -> str:
        """Id of a directory with no contacts (for empty-collection tests)."""
        return str(next(d["directoryId"] for d in self.directories if d["contactCount"] == 0))

    def find_contact(self, directory_id: str, contact_id: str) -> Json | None:
        """The full record of one contact, or ``None``."""
        return self._contact_index.get((directory_id, contact_id))

    def find_directory(self, directory_id: str) -> Json | None:
        """The ``GET /directories`` element of one directory, or ``None``."""
        return next((d for d in self.directories if d["directoryId"] == directory_id), None)

    def add_contact(self, directory_id: str, contact: Json) -> None:
        """Store a contact created through the API (listed last; ``contactCount`` follows)."""
        self.contacts[directory_id].append(contact)
        self._contact_index[(directory_id, contact["contactId"])] = contact
        directory = self.find_directory(directory_id)
        if directory is not None:
            directory["contactCount"] = len(self.contacts[directory_id])

    def remove_contact(self, directory_id: str, contact_id: str) -> Json | None:
        """Forget a contact deleted through the API; returns its record, or ``None`` if unknown."""
        contact = self._contact_index.pop((directory_id, contact_id), None)
        if contact is not None:
            stored = self.contacts[directory_id]
            del stored[next(i for i, c in enumerate(stored) if c is contact)]
            directory = self.find_directory(directory_id)
            if directory is not None:
                directory["contactCount"] = len(stored)
        return contact


_LIST_FIELDS = ("contactId", "firstName", "lastName", "email", "phone", "extRef", "language", "unsubscribed")


def contact_element(contact: Json, *, include_embedded: bool = False) -> Json:
    """The ``GET /directories/{id}/contacts`` element for a full contact record."""
    element = {key: contact[key] for key in _LIST_FIELDS}
    if include_embedded:
        element["embeddedData"] = dict(contact["embeddedData"])
    return element


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix, the way Qualtrics writes survey dates."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Ids:
    """Qualtrics-looking ids (``PREFIX_`` + 15 alphanumerics), unique within one dataset."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def __call__(self, prefix: str) -> str:
        while True:
            ident = f"{prefix}_{''.join(self._rng.choices(_ALNUM, k=15))}"
            if ident not in self._seen:
                self._seen.add(ident)
                return ident


def build_data(seed: int, *, surveys: int, contacts: int) -> EmulatorData:
    """Generate the dataset for ``seed`` with ``surveys`` surveys and ``contacts`` contacts."""
    if surveys < 0 or contacts < 0:
        raise ValueError("surveys and contacts must be >= 0")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    ids = _Ids(rng)
    brand_id = ids("BR")
    user_id = ids("UR")
    whoami: Json = {
        "brandId": brand_id,
        "userId": user_id,
        "userName": f"emulator.user@example.com#{brand_id}",
        "accountType": "UT_BRANDADMIN",
        "firstName": "Emma",
        "lastName": "Ulator",
        "email": "emulator.user@example.com",
        "datacenter": "iad1",
    }
    survey_list: list[Json] = []
    details: dict[str, Json] = {}
    for index in range(surveys):
        element, detail = _survey(rng, ids, index, owner_id=user_id, brand_id=brand_id)
        if index == SHOWCASE_INDEX:
            _add_builtin_questions(detail)
        survey_list.append(element)
        details[element["id"]] = detail

    default_id, empty_id = ids("POOL"), ids("POOL")
    default_contacts = [_contact(rng, ids, n) for n in range(contacts)]
    directories: list[Json] = [
        _directory(default_id, "Default Directory", len(default_contacts), is_default=True),
        _directory(empty_id, "Archive (empty)", 0, is_default=False),
    ]
    by_directory: dict[str, list[Json]] = {default_id: default_contacts, empty_id: []}
    # A few small directories, so that GET /directories (5 per page) paginates too.
    for name in _SMALL_DIRECTORIES:
        small_id = ids("POOL")
        small = [_contact(rng, ids, n) for n in range(rng.randint(1, 5))]
        directories.append(_directory(small_id, name, len(small), is_default=False))
        by_directory[small_id] = small
    return EmulatorData(
        whoami=whoami,
        surveys=survey_list,
        survey_details=details,
        directories=directories,
        contacts=by_directory,
    )


_SMALL_DIRECTORIES = ("Panel — Nordics", "Customers: EMEA / APAC", "Beta testers", "Événements 2025")


def _directory(directory_id: str, name: str, count: int, *, is_default: bool) -> Json:
    return {
        "directoryId": directory_id,
        "name": name,
        "contactCount": count,
        "isDefault": is_default,
        "deduplicationCriteria": {
            "email": True,
            "firstName": False,
            "lastName": False,
            "externalDataReference": True,
            "phone": False,
        },
    }


def _survey(rng: random.Random, ids: _Ids, index: int, *, owner_id: str, brand_id: str) -> tuple[Json, Json]:
    survey_id = ids("SV")
    template = _SURVEY_NAMES[index % len(_SURVEY_NAMES)]
    name = template.format(q=rng.randint(1, 4), year=2021 + rng.randint(0, 4), month=rng.choice(_MONTHS), n=index + 1)
    created = _BASE_DATE + timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86_399))
    modified = created + timedelta(days=rng.randint(0, 120), seconds=rng.randint(0, 86_399))
    active = rng.random() < 0.7
    element: Json = {
        "id": survey_id,
        "name": name,
        "ownerId": owner_id,
        "lastModified": iso(modified),
        "creationDate": iso(created),
        "isActive": active,
    }
    questions, export_map, block_elements = _questions(rng)
    block_id = ids("BL")
    expires = rng.random() < 0.3
    detail: Json = {
        "id": survey_id,
        "name": name,
        "ownerId": owner_id,
        "organizationId": brand_id,
        "isActive": active,
        "creationDate": iso(created),
        "lastModifiedDate": iso(modified),
        "expiration": {
            "startDate": iso(created) if expires else None,
            "endDate": iso(modified + timedelta(days=365)) if expires else None,
        },
        "questions": questions,
        "exportColumnMap": export_map,
        "blocks": {block_id: {"description": "Default Question Block", "elements": block_elements}},
        "flow": [{"id": block_id, "type": "Block"}],
        "embeddedData": [{"name": "source", "defaultValue": ""}],
        "comments": {},
        "loopAndMerge": {},
        "responseCounts": {"auditable": rng.randint(0, 5_000), "generated": 0, "deleted": rng.randint(0, 20)},
    }
    return element, detail


def _questions(rng: random.Random) -> tuple[Json, Json, list[Json]]:
    questions: Json = {}
    export_map: Json = {}
    elements: list[Json] = []
    for number in range(1, rng.randint(2, 6) + 1):
        qid = f"QID{number}"
        name = f"Q{number}"
        kind = rng.choice(("MC", "TE", "Matrix"))
        question: Json = {
            "questionText": f"Question {number}: how would you rate us?",
            "questionLabel": None,
            "questionName": name,
            "validation": {"doesForceResponse": rng.random() < 0.3},
        }
        if kind == "MC":
            question["questionType"] = {"type": "MC", "selector": "SAVR", "subSelector": "TX"}
            question["choices"] = _choices(("Yes", "No", "Maybe"))
            export_map[name] = {"question": qid}
        elif kind == "TE":
            question["questionType"] = {"type": "TE", "selector": "SL", "subSelector": None}
            export_map[f"{name}_TEXT"] = {"question": qid}
        else:
            question["questionType"] = {"type": "Matrix", "selector": "Likert", "subSelector": "SingleAnswer"}
            question["choices"] = _choices(("Disagree", "Neutral", "Agree"))
            question["subQuestions"] = {
                str(i): {"recode": str(i), "description": label, "choiceText": label}
                for i, label in enumerate(("Speed", "Quality"), start=1)
            }
            for i in (1, 2):
                export_map[f"{name}_{i}"] = {"question": qid, "subQuestion": f"{qid}.subQuestions.{i}"}
        questions[qid] = question
        elements.append({"type": "Question", "questionId": qid})
    return questions, export_map, elements


SHOWCASE_INDEX = 2
"""Index (in ``EmulatorData.surveys``) of the seeded survey with the built-in Timing and Meta
questions and a multiple-answer question, as recorded surveys have them."""

TIMING_CHOICES = ("First Click", "Last Click", "Page Submit", "Click Count")
"""The four measures of a ``Timing`` (``PageTimer``) question, in choice order (recorded)."""
META_CHOICES = ("Browser", "Version", "Operating System", "Screen Resolution")
"""The choices of a ``Meta`` (``Browser``) question the emulator seeds (recorded ones add
Flash Version, Java Support and User Agent, which the recorded exports leave out)."""


def _add_builtin_questions(detail: Json) -> None:
    """Append a multiple-answer question, a Timing and a Meta question to a seeded survey."""
    questions: Json = detail["questions"]
    export_map: Json = detail["exportColumnMap"]
    block = next(iter(detail["blocks"].values()))
    first = len(questions) + 1
    multi, timing, meta = (f"QID{first + n}" for n in range(3))
    questions[multi] = {
        "questionType": {"type": "MC", "selector": "MAVR", "subSelector": "TX"},
        "questionText": "Which channels do you use to reach us?\nSelect all that apply.",
        "questionLabel": None,
        "validation": {"doesForceResponse": False},
        "questionName": f"Q{first}",
        "choices": _choices(("Email", "Phone", "Other")),
    }
    questions[multi]["choices"]["3"]["textEntry"] = {}
    for key in ("1", "2", "3"):
        export_map[f"Q{first}_{key}"] = {"question": multi, "choice": f"{multi}.choices.{key}"}
    export_map[f"Q{first}_3_TEXT"] = {
        "question": multi,
        "choice": f"{multi}.choices.3",
        "textEntry": f"{multi}.choices.3.textEntry",
    }
    questions[timing] = {
        "questionType": {"type": "Timing", "selector": "PageTimer", "subSelector": None},
        "questionText": "Timing",
        "questionLabel": None,
        "validation": {"doesForceResponse": False},
        "questionName": "timing",
        "choices": _choices(TIMING_CHOICES),
    }
    for number in range(1, len(TIMING_CHOICES) + 1):
        export_map[f"timing_{number}"] = {"question": timing, "choice": f"{timing}.choices.{number}"}
    meta_choices = _choices(META_CHOICES)
    for choice in meta_choices.values():
        del choice["recode"]  # recorded: Meta choices carry no recode
    questions[meta] = {
        "questionType": {"type": "Meta", "selector": "Browser", "subSelector": None},
        "questionText": "Browser Meta Info",
        "questionLabel": None,
        "validation": {"doesForceResponse": False},
        "questionName": "metainfo",
        "choices": meta_choices,
    }
    for number in range(1, len(META_CHOICES) + 1):
        export_map[f"metainfo_{number}_TEXT"] = {"question": meta, "choice": f"{meta}.choices.{number}"}
    block["elements"].extend({"type": "Question", "questionId": qid} for qid in (multi, timing, meta))


def _choices(labels: tuple[str, ...]) -> Json:
    return {
        str(i): {
            "recode": str(i),
            "description": label,
            "choiceText": label,
            "imageDescription": None,
            "variableName": None,
            "analyze": True,
        }
        for i, label in enumerate(labels, start=1)
    }


def _ascii(text: str) -> str:
    """``"søren.o'brien"`` -> ``"soren.obrien"``: unicode names, plain-ASCII email addresses."""
    text = text.replace("ø", "o").replace("ß", "ss").replace("'", "")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _contact(rng: random.Random, ids: _Ids, number: int) -> Json:
    first = rng.choice(_FIRST_NAMES)
    last = rng.choice(_LAST_NAMES)
    local = _ascii(f"{first}.{last}".lower())
    created = _BASE_DATE + timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86_399))
    modified = created + timedelta(days=rng.randint(0, 60))
    return {
        "contactId": ids("CID"),
        "firstName": first,
        "lastName": last,
        "email": f"{local}{number}@example.com",
        "phone": f"+1555{rng.randint(0, 9_999_999):07d}" if rng.random() < 0.6 else None,
        "extRef": f"EXT-{number:06d}",
        "language": rng.choice(_LANGUAGES),
        "unsubscribed": rng.random() < 0.1,
        "embeddedData": {"segment": rng.choice(_SEGMENTS), "score": str(rng.randint(0, 10))},
        "mailingListMembership": {},
        "stats": {},
        # XM Directory contact dates are epoch milliseconds (qualtrics-api.md §5.1).
        "creationDate": int(created.timestamp() * 1000),
        "lastModified": int(modified.timestamp() * 1000),
    }


LONG_TEXT_QUESTION = "Please tell us more about your experience."
"""Question text of the long free-text question ``extra_survey(long_text=True)`` adds."""


def extra_survey(
    seed: int, number: int, name: str, *, owner_id: str, brand_id: str, created: datetime, long_text: bool
) -> tuple[Json, Json]:
    """A survey created after construction (``QualtricsEmulator.add_survey``).

    Same shapes as the seeded surveys (``GET /surveys`` element, ``GET /surveys/{id}``
    detail), drawn from ``(seed, number)`` so it is reproducible, with the given ``name``
    verbatim and ``created`` as creation and last-modified date. ``long_text`` appends a
    free-text (TE) question, the one big answers go to.
    """
    rng = random.Random(f"extra-survey:{seed}:{number}")  # noqa: S311 - reproducible test data, not secrets
    ids = _Ids(rng)
    element, detail = _survey(rng, ids, number, owner_id=owner_id, brand_id=brand_id)
    for record in (element, detail):
        record["name"] = name
        record["creationDate"] = iso(created)
        record["isActive"] = True
    element["lastModified"] = detail["lastModifiedDate"] = iso(created)
    detail["expiration"] = {"startDate": None, "endDate": None}
    detail["responseCounts"] = {"auditable": 0, "generated": 0, "deleted": 0}
    if long_text:
        questions: Json = detail["questions"]
        number_next = len(questions) + 1
        qid, tag = f"QID{number_next}", f"Q{number_next}"
        questions[qid] = {
            "questionText": LONG_TEXT_QUESTION,
            "questionLabel": None,
            "questionName": tag,
            "validation": {"doesForceResponse": False},
            "questionType": {"type": "TE", "selector": "ESTB", "subSelector": None},
        }
        detail["exportColumnMap"][f"{tag}_TEXT"] = {"question": qid}
        block = next(iter(detail["blocks"].values()))
        block["elements"].append({"type": "Question", "questionId": qid})
    return element, detail
