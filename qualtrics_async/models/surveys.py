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
