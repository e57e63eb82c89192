"""Resources of this family (placeholder until implemented)."""

from __future__ import annotations

from qualtrics_async.resources._base import Resource


class Distributions(Resource):
    """Placeholder."""

    __slots__ = ()
