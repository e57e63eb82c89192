"""Survey models (``/surveys``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from qualtrics_async.models._base import Model


class SurveySummary(Model):
    """An element of ``GET /surveys``."""

    id: str
    name: str
    owner_id: str | None = None
    last_modified: datetime | None = None
    creation_date: datetime | None = None
    is_active: bool | None = None


class SurveyExpiration(Model):
    """When a survey opens and closes (``null`` when not set)."""

    start_date: datetime | None = None
    end_date: datetime | None = None


class ResponseCounts(Model):
    """How many responses a survey holds."""

    auditable: int = 0
    generated: int = 0
    deleted: int = 0


class Survey(Model):
    """``GET /surveys/{surveyId}``: a survey with its questions, blocks and flow.

    The question, block and flow structures vary by question type and are kept as
    plain JSON (``dict``/``list``); use ``client.survey_definitions`` for the QSF view.
    """

    id: str
    name: str
    owner_id: str | None = None
    organization_id: str | None = None
    is_active: bool | None = None
    creation_date: datetime | None = None
    last_modified_date: datetime | None = None
    expiration: SurveyExpiration | None = None
    questions: dict[str, Any] = msgspec.field(default_factory=dict)
    export_column_map: dict[str, Any] = msgspec.field(default_factory=dict)
    blocks: dict[str, Any] = msgspec.field(default_factory=dict)
    flow: list[Any] = msgspec.field(default_factory=list)
    embedded_data: list[Any] = msgspec.field(default_factory=list)
    comments: dict[str, Any] = msgspec.field(default_factory=dict)
    loop_and_merge: dict[str, Any] = msgspec.field(default_factory=dict)
    response_counts: ResponseCounts | None = None


# --- survey management (``POST``/``PUT /surveys``) ------------------------------------------------


class SurveyCreated(Model):
    """``result`` of ``POST /surveys`` (import from a file or URL, or copy)."""

    id: str


class SurveyUpdate(Model):
    """Body of ``PUT /surveys/{surveyId}``: only the fields given are changed."""

    name: str | None = None
    is_active: bool | None = None
    expiration: SurveyExpiration | None = None
    owner_id: str | None = None


# --- survey definitions (``/survey-definitions``, PascalCase on the wire) -------------------------


class DefinitionModel(Model, rename="pascal"):
    """Base of the survey-definitions models: PascalCase wire names (``SurveyName``)."""


class NewSurveyDefinition(DefinitionModel, omit_defaults=False):
    """Body of ``POST /survey-definitions`` (every field is sent, defaults included).

    ``language`` is a code of qualtrics-api.md §5.2 (``EN``, ``DE``, ``PT-BR``, ...);
    ``project_category`` one of ``CORE``, ``CX``, ``EX``, ``BX``, ``PX``.
    """

    survey_name: str
    language: str = "EN"
    project_category: str = "CORE"


class SurveyDefinitionCreated(DefinitionModel):
    """``result`` of ``POST /survey-definitions``."""

    survey_id: str = msgspec.field(name="SurveyID")
    default_block_id: str | None = msgspec.field(default=None, name="DefaultBlockID")


class DefinitionMetadata(DefinitionModel):
    """``GET``/``PUT /survey-definitions/{surveyId}/metadata``.

    Dates are MySQL DATETIME strings, ``YYYY-MM-DD HH:MM:SS`` (not ISO 8601, §5.1);
    ``survey_status`` is ``Active`` or ``Inactive``. In a ``PUT`` body only the name,
    description, status and dates are sent.
    """

    survey_name: str | None = None
    survey_description: str | None = None
    survey_status: str | None = None
    survey_start_date: str | None = None
    survey_expiration_date: str | None = None
    survey_id: str | None = msgspec.field(default=None, name="SurveyID")
    survey_owner_id: str | None = msgspec.field(default=None, name="SurveyOwnerID")
    survey_creation_date: str | None = None
    last_modified: str | None = None


class Choice(DefinitionModel):
    """One choice (or scale point) of a question."""

    display: str
    text_entry: str | None = None
    exclusive_answer: bool | None = None


class Question(DefinitionModel):
    """A question of a survey definition (QSF fields; the common ones are modelled).

    ``question_type``/``selector``/``sub_selector`` are QSF codes (``MC``/``SAVR``/``TX``,
    ``TE``/``SL``, ``Matrix``/``Likert``/``SingleAnswer``, ``DB``/``TB``). Fields not modelled
    here are dropped when decoding: to edit an exotic question type without losing them,
    send a ``dict`` from :meth:`SurveyDefinitions.get_question_raw` instead.
    """

    question_text: str
    question_type: str
    selector: str
    question_id: str | None = msgspec.field(default=None, name="QuestionID")
    sub_selector: str | None = None
    data_export_tag: str | None = None
    question_description: str | None = None
    choices: dict[str, Choice] | None = None
    choice_order: list[int | str] | None = None
    answers: dict[str, Choice] | None = None
    answer_order: list[int | str] | None = None
    validation: dict[str, Any] | None = None
    configuration: dict[str, Any] | None = None
    language: Any = None


class QuestionCreated(DefinitionModel):
    """``result`` of ``POST /survey-definitions/{surveyId}/questions``."""

    question_id: str = msgspec.field(name="QuestionID")


class BlockElement(DefinitionModel):
    """An element of a block: a question (``type="Question"``) or a page break."""

    type: str
    question_id: str | None = msgspec.field(default=None, name="QuestionID")


class Block(DefinitionModel):
    """A block of a survey definition (``type`` ``Default`` or ``Standard``)."""

    type: str
    description: str
    id: str | None = msgspec.field(default=None, name="ID")
    block_elements: list[BlockElement] = msgspec.field(default_factory=list)


class BlockCreated(DefinitionModel):
    """``result`` of ``POST /survey-definitions/{surveyId}/blocks``."""

    block_id: str = msgspec.field(name="BlockID")
    flow_id: str | None = msgspec.field(default=None, name="FlowID")


class SurveyFlow(DefinitionModel):
    """``GET``/``PUT /survey-definitions/{surveyId}/flow``: the root of the survey flow.

    Flow elements (blocks, branches, embedded data, randomizers, ...) are kept as plain JSON
    so that a flow read, changed and written back loses nothing.
    """

    flow_id: str = msgspec.field(name="FlowID")
    type: str
    flow: list[dict[str, Any]] = msgspec.field(default_factory=list)
    properties: dict[str, Any] | None = None


class SurveyDefinition(DefinitionModel):
    """``GET /survey-definitions/{surveyId}``: the whole definition."""

    survey_id: str = msgspec.field(name="SurveyID")
    survey_name: str
    survey_description: str | None = None
    survey_owner_id: str | None = msgspec.field(default=None, name="SurveyOwnerID")
    survey_brand_id: str | None = msgspec.field(default=None, name="SurveyBrandID")
    survey_language: str | None = None
    survey_status: str | None = None
    survey_start_date: str | None = None
    survey_expiration_date: str | None = None
    survey_creation_date: str | None = None
    last_modified: str | None = None
    project_category: str | None = None
    questions: dict[str, Question] = msgspec.field(default_factory=dict)
    blocks: dict[str, Block] = msgspec.field(default_factory=dict)
    survey_flow: SurveyFlow | None = None
    survey_options: dict[str, Any] = msgspec.field(default_factory=dict)


class NewVersion(DefinitionModel, omit_defaults=False):
    """Body of ``POST /survey-definitions/{surveyId}/versions`` (``published=True`` publishes)."""

    description: str
    published: bool = True


class SurveyVersion(DefinitionModel):
    """A version of a survey definition (``POST`` answers id, number and date only)."""

    version_id: str = msgspec.field(name="VersionID")
    version_number: int | None = None
    description: str | None = None
    user_id: str | None = msgspec.field(default=None, name="UserID")
    creation_date: datetime | None = None
    published: bool | None = None


class Quota(DefinitionModel):
    """A quota of a survey definition (``occurrences`` is the quota's limit)."""

    name: str
    occurrences: int
    id: str | None = msgspec.field(default=None, name="ID")
    count: int | None = None
    logic: dict[str, Any] | None = None
    logic_type: str | None = None
    quota_action: str | None = None


class QuotaCreated(DefinitionModel):
    """``result`` of ``POST /survey-definitions/{surveyId}/quotas``."""

    quota_id: str = msgspec.field(name="QuotaID")
