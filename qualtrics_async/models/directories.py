"""XM Directory models (``/directories``)."""

from __future__ import annotations

from typing import Any

import msgspec

from qualtrics_async.models._base import Model


class DeduplicationCriteria(Model):
    """Which fields a directory uses to recognise an existing contact."""

    email: bool = False
    first_name: bool = False
    last_name: bool = False
    external_data_reference: bool = False
    phone: bool = False


class Directory(Model):
    """An element of ``GET /directories`` (a "pool", id ``POOL_…``)."""

    directory_id: str
    name: str | None = None
    contact_count: int | None = None
    is_default: bool | None = None
    deduplication_criteria: DeduplicationCriteria | None = None


class Contact(Model):
    """An XM Directory contact (id ``CID_…``)."""

    contact_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    ext_ref: str | None = None
    language: str | None = None
    unsubscribed: bool | None = None
    embedded_data: dict[str, Any] | None = msgspec.field(default=None)
