"""Emulator family (placeholder: filled in by the family's implementation)."""

from __future__ import annotations

from collections.abc import Iterable

from qualtrics_async.testing._routing import FamilyContext, RouteSpec


class DirectoryRoutes:
    """Routes of this family."""

    def __init__(self, context: FamilyContext) -> None:
        self.context = context

    def routes(self) -> Iterable[RouteSpec]:
        return ()
