"""The emulator's API families beyond the core routes, each a route provider (see ``_routing``)."""

from __future__ import annotations

from qualtrics_async.testing._admin import AdminRoutes
from qualtrics_async.testing._directory import DirectoryRoutes
from qualtrics_async.testing._routing import FamilyContext, RouteProvider
from qualtrics_async.testing._survey_api import SurveyRoutes


def family_providers(context: FamilyContext) -> dict[str, RouteProvider]:
    """One provider per family, sharing the emulator's context."""
    return {
        "admin": AdminRoutes(context),
        "surveys": SurveyRoutes(context),
        "directory": DirectoryRoutes(context),
    }
