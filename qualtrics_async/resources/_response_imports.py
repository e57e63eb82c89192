"""``client.responses`` — response imports: import_file, import_url (placeholder until implemented)."""

from __future__ import annotations

from qualtrics_async.resources._base import Resource


class ResponseImportsMixin(Resource):
    """Placeholder."""

    __slots__ = ()
