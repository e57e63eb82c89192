"""Survey models (``/surveys``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import msgspec

from qualtrics_async._wire import (
    Flag,
    Keys,
    Object,
    Raw,
    Text,
    ViewList,
    Views,
    WireMap,
    WireObject,
    list_of,
    parse_when,
    views_of,
)
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


class Choice(WireObject):
    """One choice (or scale point, or matrix answer) of a question, every member kept.

    ``text_entry`` and ``exclusive_answer`` read the wire's ``1``, ``"true"`` and ``true``
    alike (all three are seen in recorded definitions); setting ``text_entry=True`` writes
    ``"true"`` and ``False`` removes the member, as recorded choices have it. Other members
    (``Image``, ``Analyze``, ``RecodeValue``, ...) are the dict's keys.

    Example::

        Choice(display="Other", text_entry=True)
    """

    __slots__ = ()

    display = Text("Display")
    text_entry = Flag("TextEntry", true_value="true", false_value=None)
    exclusive_answer = Flag("ExclusiveAnswer")

    def __init__(
        self,
        wire: Mapping[str, Any] | None = None,
        /,
        *,
        display: str | None = None,
        text_entry: bool | int | str | None = None,
        exclusive_answer: bool | None = None,
    ) -> None:
        super().__init__(wire or {})
        _assign(
            self,
            {
                "Display": display,
                "TextEntry": Choice.text_entry.wire_value(text_entry),
                "ExclusiveAnswer": exclusive_answer,
            },
        )


class Question(WireObject):
    """A question of a survey definition: the whole QSF object, typed accessors on top.

    Questions are authored content: besides the members read here, a question carries display
    logic, randomisation, recodes, ``AdditionalQuestions`` (side by side), and members that
    differ by type and age of the survey. All of them are kept, so a question read with
    :meth:`SurveyDefinitions.get_question`, changed and passed to
    :meth:`SurveyDefinitions.update_question` sends back everything it read. Any member is
    ``question["WireName"]``.

    ``question_type``/``selector``/``sub_selector`` are QSF codes (``MC``/``SAVR``/``TX``,
    ``TE``/``SL``, ``Matrix``/``Likert``/``SingleAnswer``, ``DB``/``TB``; the built-in
    ``Timing``/``PageTimer`` and ``Meta``/``Browser`` appear in ordinary surveys).
    ``validation`` is ``None`` when Qualtrics sends the string ``"None"``; ``choice_order``
    gives the choice keys as strings, whether the wire has ``"1"`` or ``1``.

    Example::

        Question(
            question_text="Do you like it?",
            question_type="MC",
            selector="SAVR",
            sub_selector="TX",
            choices={"1": Choice(display="Yes"), "2": Choice(display="No")},
            choice_order=[1, 2],
        )
    """

    __slots__ = ()

    _identifying: ClassVar[Mapping[str, type | tuple[type, ...]]] = {
        "QuestionID": str,
        "QuestionType": str,
        "Selector": str,
        "SubSelector": str,
        "DataExportTag": str,
    }
    _children: ClassVar[Mapping[str, Callable[[Any], Any]]] = {
        "Choices": views_of(Choice),
        "Answers": views_of(Choice),
    }

    question_id = Text("QuestionID")
    question_text = Text("QuestionText")
    question_type = Text("QuestionType")
    selector = Text("Selector")
    sub_selector = Text("SubSelector")
    data_export_tag = Text("DataExportTag")
    question_description = Text("QuestionDescription")
    choices = Views("Choices", Choice)
    choice_order = Keys("ChoiceOrder")
    answers = Views("Answers", Choice)
    answer_order = Keys("AnswerOrder")
    validation = Object("Validation")
    configuration = Object("Configuration")
    language = Raw("Language")

    def __init__(
        self,
        wire: Mapping[str, Any] | None = None,
        /,
        *,
        question_text: str | None = None,
        question_type: str | None = None,
        selector: str | None = None,
        question_id: str | None = None,
        sub_selector: str | None = None,
        data_export_tag: str | None = None,
        question_description: str | None = None,
        choices: Mapping[str, Choice | Mapping[str, Any]] | None = None,
        choice_order: Sequence[int | str] | None = None,
        answers: Mapping[str, Choice | Mapping[str, Any]] | None = None,
        answer_order: Sequence[int | str] | None = None,
        validation: Mapping[str, Any] | None = None,
        configuration: Mapping[str, Any] | None = None,
        language: Any = None,
    ) -> None:
        super().__init__(wire or {})
        _assign(
            self,
            {
                "QuestionText": question_text,
                "QuestionType": question_type,
                "Selector": selector,
                "QuestionID": question_id,
                "SubSelector": sub_selector,
                "DataExportTag": data_export_tag,
                "QuestionDescription": question_description,
                "Choices": None if choices is None else views_of(Choice)(dict(choices)),
                "ChoiceOrder": None if choice_order is None else list(choice_order),
                "Answers": None if answers is None else views_of(Choice)(dict(answers)),
                "AnswerOrder": None if answer_order is None else list(answer_order),
                "Validation": None if validation is None else dict(validation),
                "Configuration": None if configuration is None else dict(configuration),
                "Language": language,
            },
        )

    @property
    def force_response(self) -> bool:
        """Whether an answer is required (``Validation.Settings.ForceResponse`` is ``ON``)."""
        settings = (self.validation or {}).get("Settings")
        return isinstance(settings, dict) and str(settings.get("ForceResponse", "")).upper() == "ON"


class QuestionCreated(DefinitionModel):
    """``result`` of ``POST /survey-definitions/{surveyId}/questions``."""

    question_id: str = msgspec.field(name="QuestionID")


class BlockElement(WireObject):
    """An element of a block: a question (``type="Question"``) or a page break (``"Page Break"``)."""

    __slots__ = ()

    _identifying: ClassVar[Mapping[str, type | tuple[type, ...]]] = {"Type": str, "QuestionID": str}

    type = Text("Type")
    question_id = Text("QuestionID")

    def __init__(
        self,
        wire: Mapping[str, Any] | None = None,
        /,
        *,
        type: str | None = None,
        question_id: str | None = None,
    ) -> None:
        super().__init__(wire or {})
        _assign(self, {"Type": type, "QuestionID": question_id})


class Block(WireObject):
    """A block of a survey definition (``type`` ``Default``, ``Standard`` or ``Trash``), every
    member kept (``Options`` with looping and randomisation, ``SubType``, ...), so a block read
    with :meth:`SurveyDefinitions.get_block` can be changed and written back whole."""

    __slots__ = ()

    _identifying: ClassVar[Mapping[str, type | tuple[type, ...]]] = {"Type": str, "ID": str}
    _children: ClassVar[Mapping[str, Callable[[Any], Any]]] = {"BlockElements": list_of(BlockElement)}

    type = Text("Type")
    description = Text("Description")
    id = Text("ID")
    block_elements = ViewList("BlockElements", BlockElement)
    options = Object("Options")

    def __init__(
        self,
        wire: Mapping[str, Any] | None = None,
        /,
        *,
        type: str | None = None,
        description: str | None = None,
        id: str | None = None,
        block_elements: Sequence[BlockElement | Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(wire or {})
        _assign(
            self,
            {
                "Type": type,
                "Description": description,
                "ID": id,
                "BlockElements": None if block_elements is None else list_of(BlockElement)(list(block_elements)),
            },
        )

    @property
    def question_ids(self) -> list[str]:
        """The ids of the block's questions, in order."""
        return [e.question_id for e in self.block_elements or () if e.question_id is not None]


class BlockCreated(DefinitionModel):
    """``result`` of ``POST /survey-definitions/{surveyId}/blocks``."""

    block_id: str = msgspec.field(name="BlockID")
    flow_id: str | None = msgspec.field(default=None, name="FlowID")


class SurveyFlow(WireObject):
    """``GET``/``PUT /survey-definitions/{surveyId}/flow``: the root of the survey flow.

    Flow elements (blocks, branches, groups, embedded data, randomizers, ...) are plain JSON,
    and every member of the root is kept, so a flow read, changed and written back loses
    nothing.
    """

    __slots__ = ()

    _identifying: ClassVar[Mapping[str, type | tuple[type, ...]]] = {"FlowID": str, "Type": str, "Flow": list}

    flow_id = Text("FlowID")
    type = Text("Type")
    properties = Object("Properties")

    def __init__(
        self,
        wire: Mapping[str, Any] | None = None,
        /,
        *,
        flow_id: str | None = None,
        type: str | None = None,
        flow: Sequence[Mapping[str, Any]] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(wire or {})
        _assign(
            self,
            {
                "FlowID": flow_id,
                "Type": type,
                "Flow": None if flow is None else [dict(e) for e in flow],
                "Properties": None if properties is None else dict(properties),
            },
        )

    @property
    def flow(self) -> list[dict[str, Any]]:
        """The flow's elements (plain JSON objects), the wire's own list: change it in place,
        or assign a new list. A flow without elements reads a new empty list (assign it)."""
        elements = self.get("Flow")
        return elements if isinstance(elements, list) else []

    @flow.setter
    def flow(self, elements: Sequence[Mapping[str, Any]]) -> None:
        self["Flow"] = [dict(e) for e in elements]


class QuestionMap(WireMap[Question]):
    """The ``Questions`` of a definition, keyed by question id (``[]`` when there are none)."""

    __slots__ = ()
    _item = Question


class BlockMap(WireMap[Block]):
    """The ``Blocks`` of a definition, keyed by block id (``[]`` when there are none)."""

    __slots__ = ()
    _item = Block


class JsonMap(WireMap[Any]):
    """An object of plain JSON values (``SurveyOptions``, ``ProjectInfo``; ``[]`` reads ``{}``)."""

    __slots__ = ()


class SurveyDefinition(DefinitionModel):
    """``GET /survey-definitions/{surveyId}``: the whole definition.

    The top level is as recorded from live tenants (docs/fidelity.md): owner, creator and
    brand ids, ISO 8601 dates, ``QuestionCount`` (a string on the wire, an int here),
    ``ProjectInfo``; the language and the creation, start and expiration dates live in
    ``SurveyOptions`` and are read from there by the properties of the same names.
    """

    survey_id: str = msgspec.field(name="SurveyID")
    survey_name: str
    survey_status: str | None = None
    survey_owner_id: str | None = msgspec.field(default=None, name="OwnerID")
    creator_id: str | None = msgspec.field(default=None, name="CreatorID")
    survey_brand_id: str | None = msgspec.field(default=None, name="BrandID")
    brand_base_url: str | None = msgspec.field(default=None, name="BrandBaseURL")
    last_modified: datetime | None = None
    last_accessed: datetime | None = None
    last_activated: datetime | None = None
    project_info: JsonMap = msgspec.field(default_factory=JsonMap)
    questions: QuestionMap = msgspec.field(default_factory=QuestionMap)
    blocks: BlockMap = msgspec.field(default_factory=BlockMap)
    survey_flow: SurveyFlow | None = None
    survey_options: JsonMap = msgspec.field(default_factory=JsonMap)
    response_sets: Any = None
    scoring: Any = None
    _question_count: str | int | None = msgspec.field(default=None, name="QuestionCount")

    @property
    def question_count(self) -> int | None:
        """``QuestionCount`` as an int (Qualtrics sends it as a string)."""
        count = self._question_count
        if isinstance(count, str):
            return int(count) if count.strip().isdigit() else None
        return count

    @property
    def project_category(self) -> str | None:
        """``ProjectInfo.ProjectCategory``: ``CORE``, ``CX``, ``EX``, ``BX`` or ``PX``."""
        return Text("ProjectCategory").read(self.project_info.get("ProjectCategory"))

    @property
    def survey_language(self) -> str | None:
        """``SurveyOptions.SurveyLanguage`` (``EN``, ``DE``, ``PT-BR``, ...)."""
        return Text("SurveyLanguage").read(self.survey_options.get("SurveyLanguage"))

    @property
    def survey_creation_date(self) -> datetime | None:
        """``SurveyOptions.SurveyCreationDate`` as an aware datetime."""
        return parse_when(self.survey_options.get("SurveyCreationDate"))

    @property
    def survey_start_date(self) -> datetime | None:
        """``SurveyOptions.SurveyStartDate`` (``None`` when the survey has no start date)."""
        return parse_when(self.survey_options.get("SurveyStartDate"))

    @property
    def survey_expiration_date(self) -> datetime | None:
        """``SurveyOptions.SurveyExpirationDate`` (``None`` when the survey does not expire)."""
        return parse_when(self.survey_options.get("SurveyExpirationDate"))


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


def _assign(view: WireObject, members: Mapping[str, Any]) -> None:
    """Set the members given (``None`` leaves a member as it is)."""
    for name, value in members.items():
        if value is not None:
            view[name] = value
