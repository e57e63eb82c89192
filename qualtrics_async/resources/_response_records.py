"""``client.responses`` — single responses: create, get, update, delete, uploaded files, schema (placeholder until implemented)."""

from __future__ import annotations

from qualtrics_async.resources._base import Resource


class ResponseRecordsMixin(Resource):
    """Placeholder."""

    __slots__ = ()
