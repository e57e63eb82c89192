"""``client.distributions``: email distributions, generated links, history, reminders, thank-yous, SMS."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

from qualtrics_async._session import QueryParams
from qualtrics_async.errors import ConfigurationError, ServerError
from qualtrics_async.models import distributions as m
from qualtrics_async.resources._base import Body, Resource

_ONE = "/distributions/{distributionId}"
_SMS_ONE = "/distributions/sms/{smsDistributionId}"


def _survey_query(survey_id: str, **extra: str | int | bool | None) -> QueryParams:
    """Query parameters with the ``surveyId`` Qualtrics requires, refused early when empty."""
    if not survey_id:
        raise ConfigurationError("survey_id is required: Qualtrics lists distributions per survey")
    return {"surveyId": survey_id} | {k: v for k, v in extra.items() if v is not None}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ConfigurationError(f"dates must carry a time zone (Qualtrics needs one), got {moment!r}")
    return moment.isoformat().replace("+00:00", "Z")


class Distributions(Resource):
    """Distributions of surveys (``/distributions``).

    Example::

        async for dist in client.distributions.list("SV_123"):
            print(dist.id, dist.request_type, dist.stats.sent if dist.stats else 0)
    """

    __slots__ = ()

    def list(
        self,
        survey_id: str,
        *,
        request_type: str | None = None,
        mailing_list_id: str | None = None,
        send_start: datetime | None = None,
        send_end: datetime | None = None,
        page_size: int | None = None,
        new_pagination_scheme: bool = True,
    ) -> AsyncGenerator[m.Distribution, None]:
        """The distributions of a survey (``survey_id`` is required), optionally filtered.

        Endpoint: ``GET /distributions`` (3000/min).

        ``request_type`` filters on ``Invite``, ``Reminder``, ``ThankYou``, ``GeneratedInvite``,
        ...; ``send_start`` (inclusive) and ``send_end`` (exclusive) on the send date (aware
        datetimes). Pages use Qualtrics' newer token scheme unless ``new_pagination_scheme``
        is false.

        Raises:
            ConfigurationError: an empty ``survey_id`` or a naive datetime (before any request).
        """
        params = _survey_query(
            survey_id,
            distributionRequestType=request_type,
            mailingListId=mailing_list_id,
            sendStartDate=_iso(send_start),
            sendEndDate=_iso(send_end),
            pageSize=page_size,
            useNewPaginationScheme=True if new_pagination_scheme else None,
        )
        return self._list("/distributions", m.Distribution, params=params)

    async def get(self, distribution_id: str, survey_id: str) -> m.Distribution:
        """One distribution of survey ``survey_id``, with its delivery stats.

        Endpoint: ``GET /distributions/{distributionId}`` (3000/min).
        """
        params = _survey_query(survey_id)
        return await self._get(_ONE, m.Distribution, params=params, distributionId=distribution_id)

    async def create_email(self, distribution: m.EmailDistribution | Body) -> str:
        """Send (or schedule, with a future ``send_date``) an email distribution; return its id (``EMD_...``).

        Endpoint: ``POST /distributions`` (3000/min).
        """
        created: m.DistributionCreated = await self._create("/distributions", distribution, m.DistributionCreated)
        return created.id

    async def generate_links(self, links: m.GenerateLinks | Body) -> str:
        """Generate personal survey links without sending anything; return the distribution's id.

        Endpoint: ``POST /distributions`` (3000/min).

        The survey must be active. Read the links with :meth:`links`.
        """
        created: m.DistributionCreated = await self._create("/distributions", links, m.DistributionCreated)
        return created.id

    def links(self, distribution_id: str, survey_id: str) -> AsyncGenerator[m.DistributionLink, None]:
        """The personal links of a generated-links distribution, one per contact.

        Endpoint: ``GET /distributions/{distributionId}/links`` (500/min).
        Endpoint: ``GET /distributions/{distributionId}`` (3000/min).

        Qualtrics answers 500 for a distribution that has no links (not ``GeneratedInvite``,
        qualtrics-api.md §2.2): after the usual retries the distribution is read once, and
        if it is indeed not a links distribution nothing is yielded; any other 500 is raised.
        """
        return self._links(distribution_id, survey_id)

    async def _links(self, distribution_id: str, survey_id: str) -> AsyncGenerator[m.DistributionLink, None]:
        params = _survey_query(survey_id)
        items: AsyncGenerator[m.DistributionLink, None] = self._list(
            _ONE + "/links", m.DistributionLink, params=params, distributionId=distribution_id
        )
        try:
            async for link in items:
                yield link
        except ServerError as exc:
            if exc.status != 500 or (await self.get(distribution_id, survey_id)).request_type == "GeneratedInvite":
                raise
        finally:
            await items.aclose()

    def history(self, distribution_id: str) -> AsyncGenerator[m.DistributionHistoryEntry, None]:
        """What happened to each recipient: sent, opened, started, finished.

        Endpoint: ``GET /distributions/{distributionId}/history`` (300/min).
        """
        return self._list(_ONE + "/history", m.DistributionHistoryEntry, distributionId=distribution_id)

    async def create_reminder(self, distribution_id: str, reminder: m.FollowUp | Body) -> str:
        """Schedule a reminder for an email distribution; return the reminder's distribution id.

        Endpoint: ``POST /distributions/{distributionId}/reminders`` (3000/min).
        """
        return await self._follow_up("/reminders", distribution_id, reminder)

    async def create_thank_you(self, distribution_id: str, thank_you: m.FollowUp | Body) -> str:
        """Schedule a thank-you for an email distribution; return the thank-you's distribution id.

        Endpoint: ``POST /distributions/{distributionId}/thankyous`` (3000/min).
        """
        return await self._follow_up("/thankyous", distribution_id, thank_you)

    async def _follow_up(self, kind: str, distribution_id: str, body: m.FollowUp | Body) -> str:
        created: m.FollowUpCreated = await self._create(
            _ONE + kind, body, m.FollowUpCreated, distributionId=distribution_id
        )
        return created.distribution_id

    async def delete(self, distribution_id: str) -> None:
        """Delete (cancel) a distribution.

        Endpoint: ``DELETE /distributions/{distributionId}`` (3000/min).
        """
        await self._delete(_ONE, distributionId=distribution_id)

    # -- SMS ----------------------------------------------------------------------------------

    async def create_sms(self, sms: m.NewSmsDistribution | Body) -> str:
        """Send (or schedule) an SMS distribution; return its id (``SMSD_...``).

        Endpoint: ``POST /distributions/sms`` (1000/min).
        """
        created: m.DistributionCreated = await self._create("/distributions/sms", sms, m.DistributionCreated)
        return created.id

    def list_sms(self, survey_id: str) -> AsyncGenerator[m.SmsDistribution, None]:
        """The SMS distributions of a survey (``survey_id`` is required).

        Endpoint: ``GET /distributions/sms`` (1000/min).
        """
        return self._list("/distributions/sms", m.SmsDistribution, params=_survey_query(survey_id))

    async def get_sms(self, sms_distribution_id: str) -> m.SmsDistribution:
        """One SMS distribution.

        Endpoint: ``GET /distributions/sms/{smsDistributionId}`` (1000/min).
        """
        return await self._get(_SMS_ONE, m.SmsDistribution, smsDistributionId=sms_distribution_id)

    async def delete_sms(self, sms_distribution_id: str) -> None:
        """Delete (cancel) an SMS distribution.

        Endpoint: ``DELETE /distributions/sms/{smsDistributionId}`` (1000/min).
        """
        await self._delete(_SMS_ONE, smsDistributionId=sms_distribution_id)


__all__ = ["Distributions"]
