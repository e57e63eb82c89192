"""``client.surveys``: the surveys of the account."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from qualtrics_async._sansio import build_path
from qualtrics_async.models.surveys import Survey, SurveySummary
from qualtrics_async.resources._base import Resource


class Surveys(Resource):
    """List and read surveys (``/surveys``)."""

    __slots__ = ()

    def list(self) -> AsyncGenerator[SurveySummary, None]:
        """Every survey visible to the user, streamed page by page.

        Example::

            async for survey in client.surveys.list():
                print(survey.id, survey.name, survey.is_active)
        """
        return self._client.paginate("/surveys", item_type=SurveySummary)

    async def get(self, survey_id: str) -> Survey:
        """One survey with its questions, blocks, flow and response counts.

        Raises:
            NotFoundError: no survey ``survey_id`` is visible to this user.
        """
        result: Survey = await self._client.request(
            "GET", build_path("/surveys/{surveyId}", surveyId=survey_id), result_type=Survey
        )
        return result
