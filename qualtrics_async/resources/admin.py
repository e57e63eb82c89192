"""Resources of this family (placeholder until implemented)."""

from __future__ import annotations

from qualtrics_async.resources._base import Resource


class Organizations(Resource):
    """Placeholder."""

    __slots__ = ()


class Divisions(Resource):
    """Placeholder."""

    __slots__ = ()


class Groups(Resource):
    """Placeholder."""

    __slots__ = ()


class Users(Resource):
    """Placeholder."""

    __slots__ = ()


class Libraries(Resource):
    """Placeholder."""

    __slots__ = ()


class EventSubscriptions(Resource):
    """Placeholder."""

    __slots__ = ()


class LegacyMailingLists(Resource):
    """Placeholder."""

    __slots__ = ()
