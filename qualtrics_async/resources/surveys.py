"""``client.surveys``: the surveys of the account — list, read, import, copy, update, delete."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from qualtrics_async._decoding import json_encoder
from qualtrics_async._multipart import FormPart, multipart_body
from qualtrics_async.errors import ConfigurationError
from qualtrics_async.models.surveys import Survey, SurveyCreated, SurveySummary, SurveyUpdate
from qualtrics_async.resources._base import Body, Resource

if TYPE_CHECKING:
    from qualtrics_async._client import QualtricsClient

QSF_CONTENT_TYPE = "application/vnd.qualtrics.survey.qsf"
MAX_CONCURRENT_IMPORTS = 15
"""``POST /surveys`` (import survey) allows 15 concurrent requests (qualtrics-api.md §4.1)."""

QsfSource = str | os.PathLike[str] | bytes | Mapping[str, Any]
"""A QSF survey: a file path, its bytes, or the parsed document (``survey_definitions.get_qsf``)."""


class Surveys(Resource):
    """List, read, import, copy, update and delete surveys (``/surveys``).

    Imports and copies of one client run at most 15 at once (Qualtrics' concurrency cap
    for ``POST /surveys``); further calls wait their turn.
    """

    __slots__ = ("_import_slots",)

    def __init__(self, client: QualtricsClient) -> None:
        super().__init__(client)
        self._import_slots = asyncio.Semaphore(MAX_CONCURRENT_IMPORTS)

    def list(self) -> AsyncGenerator[SurveySummary, None]:
        """Every survey visible to the user, streamed page by page.

        Endpoint: ``GET /surveys`` (3000/min).

        Example::

            async for survey in client.surveys.list():
                print(survey.id, survey.name, survey.is_active)
        """
        return self._list("/surveys", SurveySummary)

    async def get(self, survey_id: str) -> Survey:
        """One survey with its questions, blocks, flow and response counts.

        Endpoint: ``GET /surveys/{surveyId}`` (3000/min).

        Raises:
            NotFoundError: no survey ``survey_id`` is visible to this user.
        """
        return await self._get("/surveys/{surveyId}", Survey, surveyId=survey_id)

    async def import_file(self, name: str, source: QsfSource, *, content_type: str = QSF_CONTENT_TYPE) -> str:
        """Create a survey called ``name`` from a QSF file; return its id.

        Endpoint: ``POST /surveys`` (3000/min).

        ``source`` is a path, the file's bytes, or a parsed QSF document (as returned by
        ``client.survey_definitions.get_qsf``). Qualtrics also takes TXT/DOC files: pass
        their ``content_type``. The JSON of ``GET /surveys/{surveyId}`` is *not* a QSF.

        Example::

            survey_id = await client.surveys.import_file("Pulse (copy)", "pulse.qsf")

        Raises:
            BadRequestError: the file is not a survey Qualtrics can read.
        """
        if isinstance(source, Mapping):
            content = json_encoder.encode(dict(source))
        elif isinstance(source, bytes):
            content = source
        else:
            content = await anyio.Path(os.fspath(source)).read_bytes()
        body, form_type = multipart_body(
            # A fixed file name: the survey's name travels in its own part (and may hold quotes).
            [FormPart("name", name.encode()), FormPart("file", content, "survey.qsf", content_type)]
        )
        return await self._post_survey(content=body, content_type=form_type)

    async def import_url(self, name: str, file_url: str) -> str:
        """Create a survey called ``name`` from a QSF file at a public URL; return its id.

        Endpoint: ``POST /surveys`` (3000/min).
        """
        if not file_url.startswith(("https://", "http://")):
            raise ConfigurationError(f"file_url must be an http(s) URL Qualtrics can fetch, got {file_url!r}")
        return await self._post_survey(json={"name": name, "fileUrl": file_url})

    async def copy(self, survey_id: str, name: str, *, owner_id: str | None = None) -> str:
        """Copy survey ``survey_id`` as ``name`` (to the user ``owner_id``, default: you); return the copy's id.

        Endpoint: ``POST /surveys`` (3000/min).
        Endpoint: ``GET /whoami`` (3000/min).
        """
        if owner_id is None:  # §7.3 sends both headers; the owner defaults to the caller
            owner_id = (await self._client.whoami()).user_id
        headers = {"X-COPY-SOURCE": survey_id, "X-COPY-DESTINATION-OWNER": owner_id}
        return await self._post_survey(json={"projectName": name}, headers=headers)

    async def _post_survey(self, **request: Any) -> str:
        """One ``POST /surveys`` within the concurrency cap (not retried when ambiguous)."""
        async with self._import_slots:
            created: SurveyCreated = await self._client.request(
                "POST", "/surveys", result_type=SurveyCreated, **request
            )
        return created.id

    async def update(self, survey_id: str, changes: SurveyUpdate | Body) -> None:
        """Rename, activate/deactivate, set the expiration or the owner of a survey.

        Endpoint: ``PUT /surveys/{surveyId}`` (3000/min).

        Example::

            await client.surveys.update("SV_123", SurveyUpdate(is_active=True))
        """
        await self._update("/surveys/{surveyId}", changes, surveyId=survey_id)

    async def delete(self, survey_id: str) -> None:
        """Delete a survey (and its responses).

        Endpoint: ``DELETE /surveys/{surveyId}`` (3000/min).
        """
        await self._delete("/surveys/{surveyId}", surveyId=survey_id)


__all__ = ["MAX_CONCURRENT_IMPORTS", "QSF_CONTENT_TYPE", "QsfSource", "Surveys"]
