"""``client.survey_definitions``: build and edit surveys (``/survey-definitions``).

The survey-definitions API speaks QSF: PascalCase fields (``SurveyName``, ``QuestionText``,
``BlockElements``) and, for the metadata dates, MySQL ``YYYY-MM-DD HH:MM:SS`` strings
(qualtrics-api.md §5.1, §7.3). The models in :mod:`qualtrics_async.models.surveys` carry
Pythonic names and the right wire spellings.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from qualtrics_async._sansio import build_path
from qualtrics_async.errors import ConfigurationError
from qualtrics_async.models import surveys as m
from qualtrics_async.resources._base import Body, Resource

_SURVEY = "/survey-definitions/{surveyId}"
_QUESTIONS = _SURVEY + "/questions"
_QUESTION = _QUESTIONS + "/{questionId}"
_BLOCK = _SURVEY + "/blocks/{blockId}"
_VERSIONS = _SURVEY + "/versions"
_QUOTAS = _SURVEY + "/quotas"
_QUOTA = _QUOTAS + "/{quotaId}"


_WRITABLE_METADATA = ("SurveyName", "SurveyDescription", "SurveyStatus", "SurveyStartDate", "SurveyExpirationDate")
_MYSQL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class SurveyDefinitions(Resource):
    """Survey definitions: metadata, questions, blocks, flow, options, versions, quotas.

    Example::

        created = await client.survey_definitions.create(NewSurveyDefinition(survey_name="Pulse"))
        qid = await client.survey_definitions.create_question(
            created.survey_id,
            Question(question_text="How are you?", question_type="TE", selector="SL"),
        )
        await client.survey_definitions.create_version(created.survey_id, NewVersion(description="v1"))
    """

    __slots__ = ()

    # -- the survey ---------------------------------------------------------------------------

    async def create(self, survey: m.NewSurveyDefinition | Body) -> m.SurveyDefinitionCreated:
        """Create an empty survey (one default block); return its id and default block id.

        Endpoint: ``POST /survey-definitions`` (3000/min).
        """
        return await self._create("/survey-definitions", survey, m.SurveyDefinitionCreated)

    async def get(self, survey_id: str) -> m.SurveyDefinition:
        """The whole definition: metadata, questions, blocks, flow and options.

        Endpoint: ``GET /survey-definitions/{surveyId}`` (3000/min).
        """
        return await self._get(_SURVEY, m.SurveyDefinition, surveyId=survey_id)

    async def get_qsf(self, survey_id: str) -> dict[str, Any]:
        """The survey as a QSF document (``SurveyEntry`` + ``SurveyElements``), e.g. for
        ``client.surveys.import_file``.

        Endpoint: ``GET /survey-definitions/{surveyId}`` (3000/min).
        """
        return await self._get(_SURVEY, dict[str, Any], params={"format": "qsf"}, surveyId=survey_id)

    async def delete(self, survey_id: str) -> None:
        """Delete the survey.

        Endpoint: ``DELETE /survey-definitions/{surveyId}`` (3000/min).
        """
        await self._delete(_SURVEY, surveyId=survey_id)

    async def get_metadata(self, survey_id: str) -> m.DefinitionMetadata:
        """Name, description, status and dates (MySQL DATETIME strings).

        Endpoint: ``GET /survey-definitions/{surveyId}/metadata`` (3000/min).
        """
        return await self._get(_SURVEY + "/metadata", m.DefinitionMetadata, surveyId=survey_id)

    async def update_metadata(self, survey_id: str, metadata: m.DefinitionMetadata | Body) -> None:
        """Change name, description, status (``Active``/``Inactive``) or dates (``YYYY-MM-DD HH:MM:SS``).

        A :class:`~qualtrics_async.models.DefinitionMetadata` read with :meth:`get_metadata`
        may be passed back: only the writable fields are sent, and dates must have the MySQL
        form.

        Endpoint: ``PUT /survey-definitions/{surveyId}/metadata`` (3000/min).
        """
        if isinstance(metadata, m.DefinitionMetadata):
            wire = msgspec.to_builtins(metadata)
            metadata = {name: wire[name] for name in _WRITABLE_METADATA if name in wire}
        for name in ("SurveyStartDate", "SurveyExpirationDate"):
            value = metadata.get(name) if isinstance(metadata, dict) else None
            if value is not None and not _MYSQL_DATETIME.fullmatch(str(value)):
                raise ConfigurationError(
                    f"{name}={value!r} must be 'YYYY-MM-DD HH:MM:SS' (Qualtrics refuses ISO 8601 here)"
                )
        await self._update(_SURVEY + "/metadata", metadata, surveyId=survey_id)

    # -- questions ----------------------------------------------------------------------------

    def list_questions(self, survey_id: str) -> AsyncGenerator[m.Question, None]:
        """Every question of the survey.

        Endpoint: ``GET /survey-definitions/{surveyId}/questions`` (3000/min).
        """
        return self._list(_QUESTIONS, m.Question, surveyId=survey_id)

    async def get_question(self, survey_id: str, question_id: str) -> m.Question:
        """One question, every member kept (typed accessors for the common ones); change it
        and pass it to :meth:`update_question` to edit it without losing anything.

        Endpoint: ``GET /survey-definitions/{surveyId}/questions/{questionId}`` (3000/min).
        """
        return await self._get(_QUESTION, m.Question, surveyId=survey_id, questionId=question_id)

    async def get_question_raw(self, survey_id: str, question_id: str) -> dict[str, Any]:
        """One question as a plain ``dict`` (what :meth:`get_question` returns, minus the accessors).

        Endpoint: ``GET /survey-definitions/{surveyId}/questions/{questionId}`` (3000/min).
        """
        return await self._get(_QUESTION, dict[str, Any], surveyId=survey_id, questionId=question_id)

    async def create_question(self, survey_id: str, question: m.Question | Body, *, block_id: str | None = None) -> str:
        """Add a question (to ``block_id``, default: the default block); return its ``QIDn``.

        Endpoint: ``POST /survey-definitions/{surveyId}/questions`` (3000/min).
        """
        path = build_path(_QUESTIONS, surveyId=survey_id)
        params = None if block_id is None else {"blockId": block_id}
        created: m.QuestionCreated = await self._send("POST", path, question, m.QuestionCreated, params=params)
        return created.question_id

    async def update_question(self, survey_id: str, question_id: str, question: m.Question | Body) -> None:
        """Replace a question (the whole question: members not sent are dropped by Qualtrics).

        A :class:`~qualtrics_async.models.Question` read with :meth:`get_question` (or from
        :meth:`get`) keeps every member it was read with, display logic, randomisation and
        recodes included, so read, change and pass it back.

        Endpoint: ``PUT /survey-definitions/{surveyId}/questions/{questionId}`` (3000/min).
        """
        await self._update(_QUESTION, question, surveyId=survey_id, questionId=question_id)

    async def delete_question(self, survey_id: str, question_id: str) -> None:
        """Delete a question.

        Endpoint: ``DELETE /survey-definitions/{surveyId}/questions/{questionId}`` (3000/min).
        """
        await self._delete(_QUESTION, surveyId=survey_id, questionId=question_id)

    # -- blocks -------------------------------------------------------------------------------

    async def create_block(self, survey_id: str, block: m.Block | Body) -> m.BlockCreated:
        """Add a block (``type="Standard"``) at the end of the flow; return its ids.

        Endpoint: ``POST /survey-definitions/{surveyId}/blocks`` (3000/min).
        """
        return await self._create(_SURVEY + "/blocks", block, m.BlockCreated, surveyId=survey_id)

    async def get_block(self, survey_id: str, block_id: str) -> m.Block:
        """One block and its elements.

        Endpoint: ``GET /survey-definitions/{surveyId}/blocks/{blockId}`` (3000/min).
        """
        return await self._get(_BLOCK, m.Block, surveyId=survey_id, blockId=block_id)

    async def update_block(self, survey_id: str, block_id: str, block: m.Block | Body) -> None:
        """Replace a block's description and elements (questions move between blocks this way).

        The whole block is replaced: pass the :class:`~qualtrics_async.models.Block` read with
        :meth:`get_block` (it keeps its ``Options``, looping and randomisation settings), changed.

        Endpoint: ``PUT /survey-definitions/{surveyId}/blocks/{blockId}`` (3000/min).
        """
        await self._update(_BLOCK, block, surveyId=survey_id, blockId=block_id)

    async def delete_block(self, survey_id: str, block_id: str) -> None:
        """Delete a block and its questions (not the default block).

        Endpoint: ``DELETE /survey-definitions/{surveyId}/blocks/{blockId}`` (3000/min).
        """
        await self._delete(_BLOCK, surveyId=survey_id, blockId=block_id)

    # -- flow and options -----------------------------------------------------------------------

    async def get_flow(self, survey_id: str) -> m.SurveyFlow:
        """The survey flow (its elements as plain JSON, every member kept).

        Endpoint: ``GET /survey-definitions/{surveyId}/flow`` (3000/min).
        """
        return await self._get(_SURVEY + "/flow", m.SurveyFlow, surveyId=survey_id)

    async def update_flow(self, survey_id: str, flow: m.SurveyFlow | Body) -> None:
        """Replace the survey flow.

        Endpoint: ``PUT /survey-definitions/{surveyId}/flow`` (3000/min).
        """
        await self._update(_SURVEY + "/flow", flow, surveyId=survey_id)

    async def get_options(self, survey_id: str) -> dict[str, Any]:
        """The survey options (``BackButton``, ``SurveyProtection``, ... as plain JSON).

        Endpoint: ``GET /survey-definitions/{surveyId}/options`` (3000/min).
        """
        return await self._get(_SURVEY + "/options", dict[str, Any], surveyId=survey_id)

    async def update_options(self, survey_id: str, options: Body) -> None:
        """Change survey options (PascalCase keys, e.g. ``{"BackButton": "true"}``).

        Endpoint: ``PUT /survey-definitions/{surveyId}/options`` (3000/min).
        """
        await self._update(_SURVEY + "/options", options, surveyId=survey_id)

    # -- versions (publishing) ------------------------------------------------------------------

    def list_versions(self, survey_id: str) -> AsyncGenerator[m.SurveyVersion, None]:
        """Every saved version of the definition.

        Endpoint: ``GET /survey-definitions/{surveyId}/versions`` (3000/min).
        """
        return self._list(_VERSIONS, m.SurveyVersion, surveyId=survey_id)

    async def create_version(self, survey_id: str, version: m.NewVersion | Body) -> m.SurveyVersion:
        """Save a version; with ``published=True`` (the default) this publishes the survey.

        Endpoint: ``POST /survey-definitions/{surveyId}/versions`` (3000/min).
        """
        return await self._create(_VERSIONS, version, m.SurveyVersion, surveyId=survey_id)

    async def get_version(self, survey_id: str, version_id: str) -> m.SurveyVersion:
        """One version's metadata.

        Endpoint: ``GET /survey-definitions/{surveyId}/versions/{versionId}`` (3000/min).
        """
        return await self._get(_VERSIONS + "/{versionId}", m.SurveyVersion, surveyId=survey_id, versionId=version_id)

    # -- quotas -------------------------------------------------------------------------------

    def list_quotas(self, survey_id: str) -> AsyncGenerator[m.Quota, None]:
        """Every quota of the survey.

        Endpoint: ``GET /survey-definitions/{surveyId}/quotas`` (3000/min).
        """
        return self._list(_QUOTAS, m.Quota, surveyId=survey_id)

    async def create_quota(self, survey_id: str, quota: m.Quota | Body) -> str:
        """Add a quota; return its id.

        Endpoint: ``POST /survey-definitions/{surveyId}/quotas`` (3000/min).
        """
        created: m.QuotaCreated = await self._create(_QUOTAS, quota, m.QuotaCreated, surveyId=survey_id)
        return created.quota_id

    async def get_quota(self, survey_id: str, quota_id: str) -> m.Quota:
        """One quota.

        Endpoint: ``GET /survey-definitions/{surveyId}/quotas/{quotaId}`` (3000/min).
        """
        return await self._get(_QUOTA, m.Quota, surveyId=survey_id, quotaId=quota_id)

    async def update_quota(self, survey_id: str, quota_id: str, quota: m.Quota | Body) -> None:
        """Replace a quota.

        Endpoint: ``PUT /survey-definitions/{surveyId}/quotas/{quotaId}`` (3000/min).
        """
        await self._update(_QUOTA, quota, surveyId=survey_id, quotaId=quota_id)

    async def delete_quota(self, survey_id: str, quota_id: str) -> None:
        """Delete a quota.

        Endpoint: ``DELETE /survey-definitions/{surveyId}/quotas/{quotaId}`` (3000/min).
        """
        await self._delete(_QUOTA, surveyId=survey_id, quotaId=quota_id)


__all__ = ["SurveyDefinitions"]
