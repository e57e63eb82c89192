"""Single-response and response-import models (qualtrics-api.md §7.1, §7.2)."""

from __future__ import annotations

from typing import Any

import msgspec

from qualtrics_async.models._base import Model


class SingleResponse(Model):
    """``GET /surveys/{surveyId}/responses/{responseId}``: one response.

    ``values`` holds metadata (``startDate``, ``recordedDate``, ``finished``, ...), answers keyed
    by ImportId (``QID1``, ``QID2_TEXT``) and embedded data; ``labels`` the choice text of
    answered choices.
    """

    response_id: str
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    labels: dict[str, Any] = msgspec.field(default_factory=dict)
    displayed_fields: list[str] = msgspec.field(default_factory=list)
    displayed_values: dict[str, Any] = msgspec.field(default_factory=dict)


class NewResponse(Model):
    """Body of ``POST /surveys/{surveyId}/responses``: answers and metadata by ImportId."""

    values: dict[str, Any]


class ResponseCreated(Model):
    """``result`` of ``POST /surveys/{surveyId}/responses``."""

    response_id: str


class EmbeddedDataUpdate(Model):
    """Body of ``PUT /responses/{responseId}``.

    ``reset_recorded_date``: ``None`` leaves Qualtrics' default (true: ``recordedDate``
    becomes now; false: it moves by 1 ms).
    """

    survey_id: str
    embedded_data: dict[str, str]
    reset_recorded_date: bool | None = None


class UploadedFile(msgspec.Struct, frozen=True, kw_only=True):
    """A file attached to a new response's file-upload question (not a wire model).

    ``question_id`` is the question's QID (``"QID5"``); at most 5 files per response.
    """

    question_id: str
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


class ResponseSchema(Model):
    """``GET /surveys/{surveyId}/response-schema``: a JSON Schema (draft 2019-09) of a response.

    ``properties["values"]["properties"]`` describes each field (``dataType``, ``exportTag``,
    ``questionId``, ``oneOf`` choices); the schema is kept as plain JSON.
    """

    schema: str | None = msgspec.field(default=None, name="$schema")
    id: str | None = msgspec.field(default=None, name="$id")
    title: str | None = None
    type: str | None = None
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    required: list[str] | None = None


class JobError(Model):
    """``error`` of a failed import job (the shape of a failed export's, §2.1)."""

    error_code: str | None = None
    error_message: str | None = None


class ImportProgress(Model):
    """``result`` of ``POST``/``GET /surveys/{surveyId}/import-responses[/{importProgressId}]``."""

    percent_complete: float = 0.0
    status: str = "inProgress"
    progress_id: str | None = None
    error: JobError | None = None


class ImportPart(msgspec.Struct, frozen=True, kw_only=True):
    """One request of an import (a file larger than the per-request limit is sent in parts)."""

    progress_id: str
    records: int | None
    """Records sent in this part (``None`` for an import from a URL)."""
    size: int | None
    """Bytes sent in this part (``None`` for an import from a URL)."""
    idempotency_key: str | None


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What ``client.responses.import_file`` / ``import_url`` did: one entry per request sent."""

    survey_id: str
    parts: list[ImportPart]
    elapsed: float

    @property
    def records(self) -> int | None:
        """Records imported in all (``None`` when the file was fetched by Qualtrics from a URL)."""
        counts = [part.records for part in self.parts]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)
