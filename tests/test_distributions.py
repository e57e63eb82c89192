"""``client.distributions`` against the emulator: email, generated links, history, follow-ups, SMS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from qualtrics_async import models as m
from qualtrics_async.errors import BadRequestError, ConfigurationError, NotFoundError
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client

HEADER = m.DistributionHeaders(from_email="team@example.com", from_name="Team", subject="Tell us")
MESSAGE = m.DistributionMessage(library_id="UR_lib000000000000", message_id="MS_msg000000000000")
PAST = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def email(
    survey_id: str, *, send_date: datetime = PAST, embedded_data: dict[str, str] | None = None
) -> m.EmailDistribution:
    return m.EmailDistribution(
        message=MESSAGE,
        recipients=m.Recipients(mailing_list_id="CG_list0000000001"),
        header=HEADER,
        survey_link=m.SurveyLinkSpec(survey_id=survey_id, type="Individual"),
        send_date=send_date,
        embedded_data=embedded_data,
    )


def active_survey(emulator: QualtricsEmulator, *, active: bool = True) -> str:
    return str(next(s["id"] for s in emulator.data.surveys if s["isActive"] is active))


async def test_list_refuses_a_missing_survey_id_before_any_request(emulator: QualtricsEmulator) -> None:
    before = emulator.stats.requests
    async with make_client(emulator) as client:
        with pytest.raises(ConfigurationError, match="survey_id is required"):
            client.distributions.list("")
        with pytest.raises(ConfigurationError, match="survey_id is required"):
            await client.distributions.get("EMD_x", "")
        with pytest.raises(ConfigurationError, match="time zone"):
            client.distributions.list("SV_1", send_start=datetime(2024, 1, 1))
    assert emulator.stats.requests == before


@pytest.mark.parametrize("new_scheme", [True, False])
async def test_E1_list_follows_every_page_in_both_schemes(emulator: QualtricsEmulator, new_scheme: bool) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    async with make_client(emulator) as client:
        paged = [d async for d in client.distributions.list(survey_id, page_size=2, new_pagination_scheme=new_scheme)]
        whole = [d async for d in client.distributions.list(survey_id)]
    assert len(paged) == 6
    assert [d.id for d in paged] == [d.id for d in whole]
    assert {d.request_type for d in paged} == {"Invite", "GeneratedInvite"}
    assert all(d.survey_link is not None and d.survey_link.survey_id == survey_id for d in paged)


async def test_list_filters_by_type_and_send_date(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    async with make_client(emulator) as client:
        invites = [d async for d in client.distributions.list(survey_id, request_type="Invite")]
        dates = sorted(d.send_date for d in invites if d.send_date is not None)
        later = [d async for d in client.distributions.list(survey_id, request_type="Invite", send_start=dates[2])]
        earlier = [d async for d in client.distributions.list(survey_id, request_type="Invite", send_end=dates[2])]
    assert len(invites) == 5
    assert len(later) == 3
    assert len(earlier) == 2


async def test_create_email_then_get_then_list_then_delete_then_404(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[5]["id"]
    async with make_client(emulator) as client:
        distribution_id = await client.distributions.create_email(email(survey_id, embedded_data={"wave": "1"}))
        assert distribution_id.startswith("EMD_")
        got = await client.distributions.get(distribution_id, survey_id)
        assert got.request_type == "Invite"
        assert got.request_status == "Done"
        assert got.send_date == PAST
        assert got.headers is not None
        assert got.headers.subject == "Tell us"
        assert got.stats is not None
        assert got.stats.sent > 0
        assert got.embedded_data == {"wave": "1"}
        assert [d.id async for d in client.distributions.list(survey_id)] == [distribution_id]
        history = [h async for h in client.distributions.history(distribution_id)]
        assert len(history) == got.stats.sent
        assert all(h.distribution_id == distribution_id and h.sent_at == PAST for h in history)
        with pytest.raises(NotFoundError):
            await client.distributions.get(distribution_id, emulator.data.surveys[0]["id"])
        await client.distributions.delete(distribution_id)
        with pytest.raises(NotFoundError):
            await client.distributions.get(distribution_id, survey_id)


async def test_create_email_names_what_is_wrong(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    too_many = {f"k{n}": "v" for n in range(11)}
    async with make_client(emulator) as client:
        with pytest.raises(BadRequestError, match="at most 10"):
            await client.distributions.create_email(email(survey_id, embedded_data=too_many))
        with pytest.raises(BadRequestError, match="exactly one"):
            await client.distributions.create_email({**_wire(email(survey_id)), "recipients": {}})
        with pytest.raises(BadRequestError, match="sendDate"):
            await client.distributions.create_email({**_wire(email(survey_id)), "sendDate": "2024-01-01 10:00:00"})
        with pytest.raises(NotFoundError):
            await client.distributions.create_email(email("SV_unknown00000000"))


async def test_scheduled_email_is_pending_until_its_send_date(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[6]["id"]
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    async with make_client(emulator) as client:
        distribution_id = await client.distributions.create_email(email(survey_id, send_date=future))
        got = await client.distributions.get(distribution_id, survey_id)
        history = [h async for h in client.distributions.history(distribution_id)]
    assert got.request_status == "Pending"
    assert got.stats is not None
    assert got.stats.sent == 0
    assert {h.status for h in history} == {"Pending"}


async def test_generate_links_then_read_one_link_per_contact(emulator: QualtricsEmulator) -> None:
    survey_id = active_survey(emulator)
    async with make_client(emulator) as client:
        distribution_id = await client.distributions.generate_links(
            m.GenerateLinks(
                survey_id=survey_id,
                description="Panel links",
                link_type="Individual",
                action="CreateDistribution",
                mailing_list_id="CG_panel000000001",
                expiration_date=datetime(2031, 1, 1, tzinfo=UTC),
            )
        )
        got = await client.distributions.get(distribution_id, survey_id)
        links = [link async for link in client.distributions.links(distribution_id, survey_id)]
        history = [h async for h in client.distributions.history(distribution_id)]
    assert got.request_type == "GeneratedInvite"
    assert got.request_status == "Generated"
    assert 3 <= len(links) <= 12
    assert len({link.link for link in links}) == len(links)
    assert all(link.link.startswith("https://") and survey_id in link.link for link in links)
    assert all(link.link_expiration == datetime(2031, 1, 1, tzinfo=UTC) for link in links)
    assert {link.contact_id for link in links} == {h.contact_id for h in history}


async def test_generate_links_needs_an_active_survey(emulator: QualtricsEmulator) -> None:
    body = m.GenerateLinks(
        survey_id=active_survey(emulator, active=False),
        description="x",
        link_type="Anonymous",
        action="CreateDistribution",
        mailing_list_id="CG_panel000000001",
    )
    async with make_client(emulator) as client:
        with pytest.raises(BadRequestError, match="must be active"):
            await client.distributions.generate_links(body)


async def test_links_of_an_email_distribution_are_none_not_an_error(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[1]["id"]
    async with make_client(emulator) as client:
        invite = next(iter([d async for d in client.distributions.list(survey_id)]))
        assert invite.request_type == "Invite"
        assert [link async for link in client.distributions.links(invite.id, survey_id)] == []
    assert emulator.stats.statuses[500] >= 1  # Qualtrics' answer for "no links" (§2.2), retried, then understood


async def test_reminder_and_thank_you_follow_an_email_distribution(emulator: QualtricsEmulator) -> None:
    survey_id = active_survey(emulator)
    follow_up = m.FollowUp(message=MESSAGE, header=HEADER, send_date=PAST)
    async with make_client(emulator) as client:
        parent = await client.distributions.create_email(email(survey_id))
        reminder = await client.distributions.create_reminder(parent, follow_up)
        thanks = await client.distributions.create_thank_you(parent, follow_up)
        got = {d.id: d async for d in client.distributions.list(survey_id)}
        links = {
            "surveyId": survey_id,
            "description": "d",
            "linkType": "Multiple",
            "action": "CreateDistribution",
            "mailingListId": "CG_x000000000000",
        }
        links_id = await client.distributions.generate_links(links)
        with pytest.raises(BadRequestError, match="Invite"):
            await client.distributions.create_reminder(links_id, follow_up)
        with pytest.raises(NotFoundError):
            await client.distributions.create_reminder("EMD_unknown0000000", follow_up)
    assert got[reminder].request_type == "Reminder"
    assert got[reminder].parent_distribution_id == parent
    assert got[thanks].request_type == "ThankYou"
    assert got[thanks].parent_distribution_id == parent


async def test_sms_round_trip(emulator: QualtricsEmulator) -> None:
    survey_id = emulator.data.surveys[8]["id"]
    sms = m.NewSmsDistribution(
        survey_id=survey_id,
        name="SMS wave",
        method="Invite",
        recipients=m.SmsRecipients(mailing_list_id="CG_sms0000000001"),
        message=m.DistributionMessage(message_text="Take our survey: ${l://SurveyURL}"),
        send_date=PAST,
    )
    async with make_client(emulator) as client:
        sms_id = await client.distributions.create_sms(sms)
        assert sms_id.startswith("SMSD_")
        got = await client.distributions.get_sms(sms_id)
        assert (got.name, got.method, got.request_status) == ("SMS wave", "Invite", "Done")
        reminder = {
            "surveyId": survey_id,
            "name": "SMS reminder",
            "method": "Reminder",
            "recipients": {"mailingListId": "CG_sms0000000001"},
            "message": {"messageText": "Reminder"},
            "sendDate": "2024-02-01T00:00:00Z",
        }
        with pytest.raises(BadRequestError, match="parentDistributionId"):
            await client.distributions.create_sms(reminder)
        child = await client.distributions.create_sms({**reminder, "parentDistributionId": sms_id})
        listed = [s async for s in client.distributions.list_sms(survey_id)]
        assert [s.id for s in listed] == [sms_id, child]
        assert listed[1].parent_distribution_id == sms_id
        await client.distributions.delete_sms(sms_id)
        with pytest.raises(NotFoundError):
            await client.distributions.get_sms(sms_id)
        with pytest.raises(ConfigurationError):
            client.distributions.list_sms("")


def _wire(body: m.EmailDistribution) -> dict[str, object]:
    decoded: dict[str, object] = msgspec.json.decode(msgspec.json.encode(body))
    return decoded


def test_write_bodies_refuse_naive_datetimes() -> None:
    from datetime import datetime

    from qualtrics_async.errors import ConfigurationError
    from qualtrics_async.models import FollowUp

    with pytest.raises(ConfigurationError, match="send_date has no time zone"):
        FollowUp(message={"libraryId": "UR_1", "messageId": "MS_1"}, header={}, send_date=datetime(2030, 1, 1))  # type: ignore[arg-type]
