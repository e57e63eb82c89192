"""Typed models of Qualtrics resources (msgspec Structs)."""

from qualtrics_async.models._base import Model
from qualtrics_async.models.common import WhoAmI
from qualtrics_async.models.directories import Contact, DeduplicationCriteria, Directory
from qualtrics_async.models.surveys import ResponseCounts, Survey, SurveyExpiration, SurveySummary

__all__ = [
    "Contact",
    "DeduplicationCriteria",
    "Directory",
    "Model",
    "ResponseCounts",
    "Survey",
    "SurveyExpiration",
    "SurveySummary",
    "WhoAmI",
]
