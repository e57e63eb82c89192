"""Distribution models (qualtrics-api.md §9): email distributions, generated links, history, SMS."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from qualtrics_async._wire import as_flag
from qualtrics_async.errors import ConfigurationError
from qualtrics_async.models._base import Model

LinkType = Literal["Individual", "Multiple", "Anonymous"]


class DistributionHeaders(Model):
    """The email header of a distribution (``header`` in a create body, ``headers`` when read)."""

    from_email: str | None = None
    from_name: str | None = None
    reply_to_email: str | None = None
    subject: str | None = None


class Recipients(Model):
    """Who a distribution goes to: exactly one id when creating."""

    mailing_list_id: str | None = None
    contact_id: str | None = None
    transaction_batch_id: str | None = None
    sample_id: str | None = None
    library_id: str | None = None


class DistributionMessage(Model):
    """The message: a library message (``library_id`` + ``message_id``) or ``message_text``."""

    library_id: str | None = None
    message_id: str | None = None
    message_text: str | None = None
    message_type: str | None = None


class SurveyLinkSpec(Model):
    """``surveyLink`` of a new email distribution."""

    survey_id: str
    type: LinkType
    expiration_date: datetime | None = None


class SurveyLink(Model):
    """``surveyLink`` of a distribution as read."""

    survey_id: str | None = None
    expiration_date: datetime | None = None
    link_type: str | None = None


class DistributionStats(Model):
    """Delivery counters of a distribution."""

    sent: int = 0
    failed: int = 0
    started: int = 0
    bounced: int = 0
    opened: int = 0
    skipped: int = 0
    finished: int = 0
    complaints: int = 0
    blocked: int = 0


class Distribution(Model):
    """``GET /distributions`` element and ``GET /distributions/{distributionId}``.

    ``request_type`` is ``Invite``, ``Reminder``, ``ThankYou``, ``GeneratedInvite``, ...
    """

    id: str
    parent_distribution_id: str | None = None
    owner_id: str | None = None
    organization_id: str | None = None
    request_status: str | None = None
    request_type: str | None = None
    send_date: datetime | None = None
    created_date: datetime | None = None
    modified_date: datetime | None = None
    headers: DistributionHeaders | None = None
    recipients: Recipients | None = None
    message: DistributionMessage | None = None
    survey_link: SurveyLink | None = None
    stats: DistributionStats | None = None
    embedded_data: dict[str, Any] | None = None


class EmailDistribution(Model):
    """Body of ``POST /distributions`` that sends an email (``send_date`` must carry a zone)."""

    message: DistributionMessage
    recipients: Recipients
    header: DistributionHeaders
    survey_link: SurveyLinkSpec
    send_date: datetime
    embedded_data: dict[str, str] | None = None

    def __post_init__(self) -> None:
        _require_zone(self, ("send_date",))


class GenerateLinks(Model):
    """Body of ``POST /distributions`` that generates personal links without sending anything.

    The survey must be active; ``action`` is ``CreateDistribution`` (with ``mailing_list_id``)
    or ``CreateTransactionBatchDistribution``.
    """

    survey_id: str
    description: str
    link_type: LinkType
    action: Literal["CreateDistribution", "CreateTransactionBatchDistribution"]
    mailing_list_id: str | None = None
    expiration_date: datetime | None = None

    def __post_init__(self) -> None:
        _require_zone(self, ("expiration_date",))


class FollowUp(Model):
    """Body of ``POST /distributions/{distributionId}/reminders`` and ``.../thankyous``."""

    message: DistributionMessage
    header: DistributionHeaders
    send_date: datetime
    embedded_data: dict[str, str] | None = None

    def __post_init__(self) -> None:
        _require_zone(self, ("send_date",))


class DistributionCreated(Model):
    """``result`` of ``POST /distributions`` and ``POST /distributions/sms``."""

    id: str


class FollowUpCreated(Model):
    """``result`` of ``POST /distributions/{distributionId}/reminders`` (and thank-yous)."""

    distribution_id: str


class DistributionLink(Model):
    """``GET /distributions/{distributionId}/links`` element: one contact's personal link."""

    link: str
    contact_id: str | None = None
    transaction_id: str | None = None
    exceeded_contact_frequency: bool | None = None
    link_expiration: datetime | None = None
    status: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    external_data_reference: str | None = None
    email: str | None = None
    _unsubscribed: bool | str | int | None = msgspec.field(default=None, name="unsubscribed")

    @property
    def unsubscribed(self) -> bool | None:
        """Whether the contact opted out (sent as ``false`` or, in older answers, ``"0"``/``"1"``)."""
        return as_flag(self._unsubscribed)


class DistributionHistoryEntry(Model):
    """``GET /distributions/{distributionId}/history`` element: one recipient's history."""

    contact_id: str | None = None
    contact_lookup_id: str | None = None
    distribution_id: str | None = None
    status: str | None = None
    survey_link: str | None = None
    contact_frequency_rule_id: str | None = None
    response_id: str | None = None
    response_completed_at: datetime | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    response_started_at: datetime | None = None
    survey_session_id: str | None = None


class SmsRecipients(Model):
    """Who an SMS distribution goes to."""

    mailing_list_id: str
    contact_id: str | None = None


class NewSmsDistribution(Model):
    """Body of ``POST /distributions/sms``.

    ``method`` ``Reminder``/``ThankYou`` needs ``parent_distribution_id`` (an SMS distribution;
    the fact sheet marks the child path UNCERTAIN).
    """

    survey_id: str
    name: str
    method: Literal["Invite", "Interactive", "Reminder", "ThankYou"]
    recipients: SmsRecipients
    message: DistributionMessage
    send_date: datetime
    parent_distribution_id: str | None = None

    def __post_init__(self) -> None:
        _require_zone(self, ("send_date",))


class SmsDistribution(Model):
    """``GET /distributions/sms`` element and ``GET /distributions/sms/{smsDistributionId}``."""

    id: str
    name: str | None = None
    method: str | None = None
    survey_id: str | None = None
    send_date: datetime | None = None
    created_date: datetime | None = None
    parent_distribution_id: str | None = None
    request_status: str | None = None
    recipients: SmsRecipients | None = None
    message: DistributionMessage | None = None
    stats: dict[str, int] | None = None


def _require_zone(body: Model, names: tuple[str, ...]) -> None:
    """Refuse a naive datetime in a write body: Qualtrics needs the zone (§5.1)."""
    for name in names:
        moment = getattr(body, name)
        if isinstance(moment, datetime) and moment.utcoffset() is None:
            raise ConfigurationError(
                f"{type(body).__name__}.{name} has no time zone; use an aware datetime, e.g. tzinfo=timezone.utc"
            )
