"""Resources of this family (placeholder until implemented)."""

from __future__ import annotations

from qualtrics_async.resources._base import Resource


class Directories(Resource):
    """Placeholder."""

    __slots__ = ()


class Contacts(Resource):
    """Placeholder."""

    __slots__ = ()


class MailingLists(Resource):
    """Placeholder."""

    __slots__ = ()


class Transactions(Resource):
    """Placeholder."""

    __slots__ = ()


class Segments(Resource):
    """Placeholder."""

    __slots__ = ()


class Samples(Resource):
    """Placeholder."""

    __slots__ = ()
