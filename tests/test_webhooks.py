"""Receiving event-subscription webhooks: HMAC-SHA512 of MSG, replay cache, typed events (I5).

Bodies are built here from the fact sheet (qualtrics-api.md §12.2) with urllib and hmac,
independently of qualtrics_async.webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qualtrics_async._secret import Secret
from qualtrics_async.errors import ConfigurationError, QualtricsError
from qualtrics_async.webhooks import (
    FORM_CONTENT_TYPE,
    CompletedResponseEvent,
    GenericEvent,
    PartialResponseEvent,
    RecipientSessionStartedEvent,
    ReplayCache,
    SurveyActivatedEvent,
    SurveyDeactivatedEvent,
    SurveyEngineEvent,
    ThreeSixtyEvent,
    WebhookError,
    WebhookEvent,
    WebhookPayloadError,
    WebhookReceiver,
    WebhookReplayError,
    WebhookVerificationError,
    encode_delivery,
    parse_event,
    parse_form,
    sign,
    verify_signature,
)

# A published vector: kyma-incubator/connector-tools qualtrics-event-gw/pkg/hmac/hmac_test.go (S-KYMA).
KYMA_KEY = "kyma4ever"
KYMA_MSG = (
    '{"Status":"Complete","SurveyID":"SV_1AmkKSDmoZ4XlQx","ResponseID":"R_0B7IcnXszjEUHLP",'
    '"CompletedDate":"2019-06-25 07:58:25","BrandID":"sapdevelopment"}'
)
KYMA_HMAC = (
    "c2c585a404c239aa3063b462cc33551d3ed3ed2de0899f58d456fc0ef7ebef6f"
    "3c3af44957989bd0592603e41edde9528f7d9ed09ee128bf719aa12f46e5c598"
)
KYMA_TOPIC = "sapdevelopment.surveyengine.completedResponse.SV_1AmkKSDmoZ4XlQx"

KEY = "q-shared-key-2024"
ACTIVATE_MSG = '{"Status":"Active","SurveyID":"SV_0123456789abcde","BrandID":"acme"}'
ACTIVATE_HMAC = (
    "9e5d9862e58f02e368395ae84a8445f50233c306e6adf2acdee8b6eb29b7459c"
    "9e41a95a7d67baec26ad7b96b696f59312900cbf6bfa5a1574dcc0a6aa140238"
)

SURVEY = "SV_0123456789abcde"
BRAND = "acme"


def hmac_hex(msg: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), msg.encode(), hashlib.sha512).hexdigest()


def form(topic: str | None, msg: str | None, signature: str | None = None, **extra: str) -> bytes:
    fields: dict[str, str] = {}
    if topic is not None:
        fields["Topic"] = topic
    if msg is not None:
        fields["MSG"] = msg
    if signature is not None:
        fields["HMAC"] = signature
    fields.update(extra)
    return urllib.parse.urlencode(fields).encode()


def signed(topic: str, attributes: dict[str, Any], key: str = KEY) -> bytes:
    msg = json.dumps(attributes, separators=(",", ":"))
    return form(topic, msg, hmac_hex(msg, key))


def completed(response_id: str = "R_abc", *, date: str = "2024-05-01 10:00:00", **overrides: Any) -> dict[str, Any]:
    attributes = {
        "Status": "Complete",
        "SurveyID": SURVEY,
        "ResponseID": response_id,
        "RecipientID": "MLRP_x1",
        "ResponseEventContext": "ctx-42",
        "DistributionID": "EMD_d1",
        "CompletedDate": date,
        "BrandID": BRAND,
    }
    attributes.update(overrides)
    return attributes


def receiver(**options: Any) -> WebhookReceiver:
    return WebhookReceiver(shared_key=KEY, **options)


# --- signatures ------------------------------------------------------------------------------


def test_I5_known_hmac_vectors() -> None:
    assert hmac_hex(KYMA_MSG, KYMA_KEY) == KYMA_HMAC  # the test's own computation agrees with the source
    assert sign(KYMA_MSG, KYMA_KEY) == KYMA_HMAC
    assert sign(ACTIVATE_MSG.encode(), KEY.encode()) == ACTIVATE_HMAC
    assert sign(ACTIVATE_MSG, Secret(KEY)) == hmac_hex(ACTIVATE_MSG) == ACTIVATE_HMAC
    verify_signature(KYMA_MSG, KYMA_HMAC, KYMA_KEY)
    verify_signature(KYMA_MSG, KYMA_HMAC.upper(), KYMA_KEY)  # hex case carries no meaning


def test_I5_published_delivery_parses_into_completed_response() -> None:
    body = form(KYMA_TOPIC, KYMA_MSG, KYMA_HMAC, undefined="")  # as in the S-KYMA curl example
    event = WebhookReceiver(shared_key=KYMA_KEY).parse(body, "application/x-www-form-urlencoded; charset=utf-8")
    assert isinstance(event, CompletedResponseEvent)
    assert event.verified is True
    assert event.topic == KYMA_TOPIC
    assert event.topic_name == "surveyengine.completedResponse.SV_1AmkKSDmoZ4XlQx"
    assert (event.survey_id, event.response_id, event.brand_id) == (
        "SV_1AmkKSDmoZ4XlQx",
        "R_0B7IcnXszjEUHLP",
        "sapdevelopment",
    )
    assert event.status == "Complete"
    assert event.completed_at == datetime(2019, 6, 25, 7, 58, 25, tzinfo=UTC)
    assert event.occurred_at == event.completed_at
    assert event.delivery_id == hashlib.sha256(KYMA_MSG.encode()).hexdigest()
    assert event.attributes == json.loads(KYMA_MSG)


def test_I5_forged_signature_is_rejected_without_echoing_the_key() -> None:
    body = signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed(), key="attacker-key")
    with pytest.raises(WebhookVerificationError, match="does not match") as caught:
        receiver().parse(body, FORM_CONTENT_TYPE)
    msg = json.dumps(completed(), separators=(",", ":"))
    for text in (str(caught.value), repr(caught.value)):
        assert KEY not in text
        assert hmac_hex(msg) not in text  # never a signing oracle


def test_I5_tampered_msg_is_rejected() -> None:
    original = json.dumps(completed("R_original"), separators=(",", ":"))
    tampered = original.replace("R_original", "R_attacker")
    body = form(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", tampered, hmac_hex(original))
    with pytest.raises(WebhookVerificationError, match="does not match"):
        receiver().parse(body, FORM_CONTENT_TYPE)
    flipped = hmac_hex(original)[:-1] + ("0" if hmac_hex(original)[-1] != "0" else "1")
    with pytest.raises(WebhookVerificationError, match="does not match"):
        receiver().parse(form(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", original, flipped), FORM_CONTENT_TYPE)


@pytest.mark.parametrize(
    ("signature", "match"),
    [
        (None, "no HMAC"),
        ("", "no HMAC"),
        ("abc123", "not a hex HMAC-SHA512"),
        ("zz" * 64, "not a hex HMAC-SHA512"),
        ("é" * 128, "not a hex HMAC-SHA512"),
        (hashlib.sha256(b"x").hexdigest(), "not a hex HMAC-SHA512"),  # SHA-256 claims (AlexQ) are wrong
    ],
)
def test_I5_missing_or_malformed_hmac_is_rejected(signature: str | None, match: str) -> None:
    body = form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, signature)
    with pytest.raises(WebhookVerificationError, match=match):
        receiver().parse(body, FORM_CONTENT_TYPE)


def test_I5_form_without_msg_is_unauthenticated_when_a_key_is_set() -> None:
    body = form(f"{BRAND}.controlpanel.activateSurvey", None, ACTIVATE_HMAC, Status="Active", SurveyID=SURVEY)
    with pytest.raises(WebhookVerificationError, match="no MSG"):
        receiver().parse(body, FORM_CONTENT_TYPE)


@pytest.mark.parametrize(
    ("topic", "attributes", "match"),
    [
        (f"{BRAND}.surveyengine.partialResponse.{SURVEY}", completed(), "'Partial' event but the signed MSG says"),
        (f"{BRAND}.surveyengine.completedResponse.SV_other", completed(), "another survey"),
        (f"evil.surveyengine.completedResponse.{SURVEY}", completed(), "another brand"),
        (f"{BRAND}.controlpanel.deactivateSurvey", json.loads(ACTIVATE_MSG), "'Inactive' event"),
    ],
)
def test_I5_topic_relabelled_against_the_signed_msg_is_rejected(
    topic: str, attributes: dict[str, Any], match: str
) -> None:
    # The HMAC covers MSG only: a valid MSG under another Topic must not pass as another event.
    with pytest.raises(WebhookVerificationError, match=match):
        receiver().parse(signed(topic, attributes), FORM_CONTENT_TYPE)


# --- replay protection -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_I5_replay_is_rejected_until_the_ttl_passes() -> None:
    clock = FakeClock()
    rx = receiver(replay_ttl=60.0, clock=clock)
    body = signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed())
    first = rx.parse(body, FORM_CONTENT_TYPE)
    with pytest.raises(WebhookReplayError, match="already accepted") as caught:
        rx.parse(body, FORM_CONTENT_TYPE)
    assert caught.value.delivery_id == first.delivery_id
    assert not isinstance(caught.value, WebhookVerificationError)  # a redelivery is acknowledged, not a 401
    # The same signed MSG under a relabelled topic is still the same delivery.
    relabelled = body.replace(BRAND.encode() + b".surveyengine", b"surveyengine")
    with pytest.raises(WebhookReplayError):
        rx.parse(relabelled, FORM_CONTENT_TYPE)
    clock.now += 59.0
    with pytest.raises(WebhookReplayError):
        rx.parse(body, FORM_CONTENT_TYPE)
    clock.now += 2.0
    assert rx.parse(body, FORM_CONTENT_TYPE).delivery_id == first.delivery_id


def test_I5_rejected_forgery_does_not_block_the_real_delivery() -> None:
    rx = receiver()
    attributes = completed()
    msg = json.dumps(attributes, separators=(",", ":"))
    topic = f"{BRAND}.surveyengine.completedResponse.{SURVEY}"
    with pytest.raises(WebhookVerificationError):
        rx.parse(form(topic, msg, hmac_hex(msg, "wrong")), FORM_CONTENT_TYPE)
    assert isinstance(rx.parse(form(topic, msg, hmac_hex(msg)), FORM_CONTENT_TYPE), CompletedResponseEvent)


def test_I5_forget_accepts_a_redelivery_after_failed_processing() -> None:
    rx = receiver()
    body = signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed())
    event = rx.parse(body, FORM_CONTENT_TYPE)
    rx.forget(event)
    assert rx.parse(body, FORM_CONTENT_TYPE) == event


def test_I5_replay_cache_is_bounded_and_evicts_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cache = ReplayCache(ttl=3600, max_entries=3, clock=clock)
    with caplog.at_level(logging.WARNING, logger="qualtrics_async"):
        assert all(cache.remember(key) for key in ("a", "b", "c", "d"))
    assert len(cache) == 3
    assert cache.remember("a") is True  # evicted: no longer detected (the documented limit)
    assert cache.remember("d") is False
    assert "replay cache is full" in caplog.text
    clock.now += 3600
    assert len(cache) == 3
    assert cache.remember("d") is True  # expired entries are purged on the next call
    assert len(cache) == 1


def test_I5_max_age_rejects_old_events_by_their_date() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rx = receiver(max_age=300)
    topic = f"{BRAND}.surveyengine.completedResponse.{SURVEY}"
    fresh = (now - timedelta(seconds=10)).strftime("%Y-%m-%d %H:%M:%S")
    stale = (now - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    accepted = rx.parse(signed(topic, completed("R_1", date=fresh)), FORM_CONTENT_TYPE)
    assert isinstance(accepted, CompletedResponseEvent)
    assert accepted.response_id == "R_1"
    with pytest.raises(WebhookReplayError, match="old, more than max_age"):
        rx.parse(signed(topic, completed("R_2", date=stale)), FORM_CONTENT_TYPE)
    # Activation events carry no date: only the cache protects them.
    assert isinstance(
        rx.parse(form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, ACTIVATE_HMAC), FORM_CONTENT_TYPE),
        SurveyActivatedEvent,
    )


def test_replay_cache_can_be_disabled_or_replaced() -> None:
    body = signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed())
    rx = receiver(replay_ttl=None)
    assert rx.parse(body, FORM_CONTENT_TYPE) == rx.parse(body, FORM_CONTENT_TYPE)

    class Store:
        def __init__(self) -> None:
            self.keys: set[str] = set()

        def remember(self, key: str) -> bool:
            new = key not in self.keys
            self.keys.add(key)
            return new

        def forget(self, key: str) -> None:
            self.keys.discard(key)

    store = Store()
    shared = [receiver(replay_guard=store), receiver(replay_guard=store)]  # two "workers"
    event = shared[0].parse(body, FORM_CONTENT_TYPE)
    assert store.keys == {event.delivery_id}
    with pytest.raises(WebhookReplayError):
        shared[1].parse(body, FORM_CONTENT_TYPE)


# --- event types -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "attributes", "cls"),
    [
        (
            "controlpanel.activateSurvey",
            {"Status": "Active", "SurveyID": SURVEY, "BrandID": BRAND},
            SurveyActivatedEvent,
        ),
        (
            "controlpanel.deactivateSurvey",
            {"Status": "Inactive", "SurveyID": SURVEY, "BrandID": BRAND},
            SurveyDeactivatedEvent,
        ),
        (
            f"surveyengine.startedRecipientSession.{SURVEY}",
            {
                "Status": "Started",
                "SurveyID": SURVEY,
                "RecipientID": "MLRP_1",
                "ResponseEventContext": "c",
                "DistributionID": "EMD_1",
                "StartedDate": "2024-05-01 09:00:00",
                "BrandID": BRAND,
            },
            RecipientSessionStartedEvent,
        ),
        (
            f"surveyengine.partialResponse.{SURVEY}",
            completed("R_p", Status="Partial"),
            PartialResponseEvent,
        ),
        (f"surveyengine.completedResponse.{SURVEY}", completed(), CompletedResponseEvent),
    ],
)
def test_documented_topics_parse_into_typed_events(
    topic: str, attributes: dict[str, Any], cls: type[WebhookEvent]
) -> None:
    for delivered in (f"{BRAND}.{topic}", topic):  # brand-prefixed as delivered (S-KYMA), or not
        event = parse_event(signed(delivered, attributes), FORM_CONTENT_TYPE, shared_key=KEY)
        assert type(event) is cls
        assert event.topic == delivered
        assert event.topic_name == topic
        assert event.brand_id == BRAND
        assert event.attributes == attributes
        assert getattr(event, "survey_id") == SURVEY  # noqa: B009 - every documented event names its survey
        assert getattr(event, "status") == attributes["Status"]  # noqa: B009


def test_started_session_exposes_its_fields_and_date() -> None:
    attributes = {
        "Status": "Started",
        "SurveyID": SURVEY,
        "RecipientID": "MLRP_1",
        "ResponseEventContext": "campaign-7",
        "DistributionID": "EMD_1",
        "StartedDate": "2024-05-01 09:00:00",
        "BrandID": BRAND,
    }
    event = parse_event(
        signed(f"{BRAND}.surveyengine.startedRecipientSession.{SURVEY}", attributes), FORM_CONTENT_TYPE, shared_key=KEY
    )
    assert isinstance(event, RecipientSessionStartedEvent)
    assert (event.recipient_id, event.response_event_context, event.distribution_id) == (
        "MLRP_1",
        "campaign-7",
        "EMD_1",
    )
    assert event.response_id is None
    assert event.started_at == datetime(2024, 5, 1, 9, tzinfo=UTC)
    assert event.completed_at is None
    assert event.occurred_at == event.started_at


@pytest.mark.parametrize(
    ("topic", "cls", "topic_name"),
    [
        (f"{BRAND}.distribution.emailSent", GenericEvent, "distribution.emailSent"),  # not documented
        (f"{BRAND}.xmdirectory.contactCreated", GenericEvent, "xmdirectory.contactCreated"),  # not documented
        (f"{BRAND}.controlpanel.somethingNew", GenericEvent, "controlpanel.somethingNew"),
        (f"{BRAND}.surveyengine.recodedResponse.{SURVEY}", SurveyEngineEvent, f"surveyengine.recodedResponse.{SURVEY}"),
        (f"{BRAND}.threesixty.statusChanged", ThreeSixtyEvent, "threesixty.statusChanged"),
        ("no-dots-at-all", GenericEvent, "no-dots-at-all"),
    ],
)
def test_unknown_topics_parse_into_generic_events(topic: str, cls: type[WebhookEvent], topic_name: str) -> None:
    attributes = {"SurveyID": SURVEY, "ResponseID": "R_9", "NewField": {"nested": [1, 2]}, "BrandID": BRAND}
    event = parse_event(signed(topic, attributes), FORM_CONTENT_TYPE, shared_key=KEY)
    assert type(event) is cls
    assert event.topic_name == topic_name
    assert event.attributes["NewField"] == {"nested": [1, 2]}
    assert event.brand_id == BRAND
    if isinstance(event, SurveyEngineEvent):
        assert event.response_id == "R_9"


def test_unknown_msg_fields_are_kept_but_not_required() -> None:
    event = parse_event(
        signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed(Extra=1, topic="x")),
        FORM_CONTENT_TYPE,
        shared_key=KEY,
    )
    assert isinstance(event, CompletedResponseEvent)
    assert event.attributes["Extra"] == 1
    assert event.topic == f"{BRAND}.surveyengine.completedResponse.{SURVEY}"  # MSG cannot overwrite the envelope


# --- bad payloads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "match"),
    [
        ('{"Status":"Complete",', "not a JSON object"),
        ("[1, 2]", "not a JSON object"),
        ("", "not a JSON object"),
        ("U2FsdGVkX1+abc/def==", "encrypt: true"),
        ('{"Status":"Complete","SurveyID":5}', "SurveyID"),
        ('{"Status":"Complete","CompletedDate":"yesterday"}', "CompletedDate"),
        ('{"Status":"Complete","SurveyID":"\\ud800"}', "not a JSON object"),  # lone surrogate (D5)
    ],
)
def test_malformed_msg_is_a_payload_error(msg: str, match: str) -> None:
    body = form(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", msg, hmac_hex(msg))
    with pytest.raises(WebhookPayloadError, match=match):
        receiver().parse(body, FORM_CONTENT_TYPE)


@pytest.mark.parametrize(
    "content_type",
    [None, "", "application/json", "multipart/form-data; boundary=x", "text/plain", "application/x-www-form"],
)
def test_wrong_content_type_is_a_payload_error(content_type: str | None) -> None:
    body = form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, ACTIVATE_HMAC)
    with pytest.raises(WebhookPayloadError, match="content type"):
        receiver().parse(body, content_type)


def test_content_type_is_matched_case_insensitively_with_parameters() -> None:
    body = form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, ACTIVATE_HMAC)
    event = receiver().parse(body, "Application/X-WWW-Form-Urlencoded ; charset=UTF-8")
    assert isinstance(event, SurveyActivatedEvent)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (form(None, ACTIVATE_MSG, ACTIVATE_HMAC), "no Topic"),
        (form("", ACTIVATE_MSG, ACTIVATE_HMAC), "no Topic"),
        (form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, ACTIVATE_HMAC) + b"&MSG=%7B%7D", "2 MSG fields"),
        (form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, ACTIVATE_HMAC) + b"&HMAC=00", "2 HMAC fields"),
        (b"Topic=a&MSG=%FF%FE", "UTF-8 form"),
        (b"\xff\xfe", "UTF-8 form"),
        (b"&".join(b"f%d=1" % i for i in range(100)), "at most"),
        (b"Topic=x&MSG=" + b"a" * 70_000, "more than"),
    ],
)
def test_malformed_forms_are_payload_errors(body: bytes, match: str) -> None:
    with pytest.raises(WebhookPayloadError, match=match):
        receiver().parse(body, FORM_CONTENT_TYPE)


def test_already_parsed_forms_are_accepted() -> None:
    topic = f"{BRAND}.controlpanel.activateSurvey"
    single = {"Topic": topic, "MSG": ACTIVATE_MSG, "HMAC": ACTIVATE_HMAC}
    assert isinstance(parse_event(single, shared_key=KEY), SurveyActivatedEvent)
    as_lists = urllib.parse.parse_qs(form(topic, ACTIVATE_MSG, ACTIVATE_HMAC).decode())
    assert isinstance(parse_event(as_lists, shared_key=KEY), SurveyActivatedEvent)

    class MultiDict(dict[str, str]):  # Starlette's FormData: get() shows one value, getlist() all
        def __init__(self, pairs: list[tuple[str, str]]) -> None:
            super().__init__(pairs)
            self.pairs = pairs

        def getlist(self, name: str) -> list[str]:
            return [v for k, v in self.pairs if k == name]

    twice = MultiDict([("Topic", topic), ("MSG", "{}"), ("MSG", ACTIVATE_MSG), ("HMAC", ACTIVATE_HMAC)])
    with pytest.raises(WebhookPayloadError, match="2 MSG fields"):
        parse_event(twice, shared_key=KEY)
    with pytest.raises(WebhookPayloadError, match="not text"):
        parse_event({"Topic": topic, "MSG": b"{}", "HMAC": ACTIVATE_HMAC}, shared_key=KEY)
    with pytest.raises(WebhookPayloadError, match="not text"):
        parse_event({"Topic": topic, "MSG": '{"SurveyID":"\ud800"}', "HMAC": ACTIVATE_HMAC}, shared_key=KEY)


def test_parse_form_reads_the_three_fields_without_verifying() -> None:
    delivery = parse_form(form(KYMA_TOPIC, KYMA_MSG, KYMA_HMAC), FORM_CONTENT_TYPE)
    assert (delivery.topic, delivery.msg, delivery.signature) == (KYMA_TOPIC, KYMA_MSG, KYMA_HMAC)
    assert KYMA_HMAC not in repr(delivery)


def test_encode_delivery_matches_the_form_qualtrics_posts() -> None:
    body = encode_delivery(KYMA_TOPIC, KYMA_MSG, KYMA_KEY)
    assert urllib.parse.parse_qs(body.decode()) == {"Topic": [KYMA_TOPIC], "MSG": [KYMA_MSG], "HMAC": [KYMA_HMAC]}
    unsigned = urllib.parse.parse_qs(encode_delivery("controlpanel.activateSurvey", {"Status": "Active"}).decode())
    assert unsigned == {"Topic": ["controlpanel.activateSurvey"], "MSG": ['{"Status":"Active"}']}


# --- unsigned subscriptions and configuration ------------------------------------------------


def test_a_key_is_required_unless_unsigned_deliveries_are_allowed() -> None:
    with pytest.raises(ConfigurationError, match="shared_key"):
        WebhookReceiver()
    with pytest.raises(ConfigurationError, match="shared_key"):
        parse_event(form("controlpanel.activateSurvey", ACTIVATE_MSG), FORM_CONTENT_TYPE)
    with pytest.raises(ConfigurationError, match="empty"):
        WebhookReceiver(shared_key="")
    with pytest.raises(ConfigurationError, match="positive"):
        WebhookReceiver(shared_key=KEY, replay_ttl=0)
    with pytest.raises(ConfigurationError, match="positive"):
        WebhookReceiver(shared_key=KEY, max_age=-1)


def test_unsigned_deliveries_when_allowed_are_marked_unverified() -> None:
    rx = WebhookReceiver(allow_unsigned=True)
    event = rx.parse(form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG, "not-checked"), FORM_CONTENT_TYPE)
    assert isinstance(event, SurveyActivatedEvent)
    assert event.verified is False
    # Top-level attributes instead of MSG (seen by some receivers; UNCERTAIN).
    flat = rx.parse(
        form(f"{BRAND}.controlpanel.deactivateSurvey", None, Status="Inactive", SurveyID=SURVEY, BrandID=BRAND),
        FORM_CONTENT_TYPE,
    )
    assert isinstance(flat, SurveyDeactivatedEvent)
    assert (flat.status, flat.survey_id, flat.brand_id) == ("Inactive", SURVEY, BRAND)
    with pytest.raises(WebhookReplayError):
        rx.parse(
            form(f"{BRAND}.controlpanel.deactivateSurvey", None, BrandID=BRAND, SurveyID=SURVEY, Status="Inactive"),
            FORM_CONTENT_TYPE,
        )


def test_I1_I5_shared_key_never_appears_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret_key = "whk-SECRET-9d3e1b"
    raised: list[WebhookError] = []
    with caplog.at_level(logging.DEBUG):
        for rx in (WebhookReceiver(shared_key=secret_key), WebhookReceiver(shared_key=secret_key.encode())):
            assert secret_key not in repr(rx)
            for body in (
                signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed(), key="other"),
                form(f"{BRAND}.controlpanel.activateSurvey", ACTIVATE_MSG),
                form(f"{BRAND}.controlpanel.activateSurvey", secret_key, hmac_hex(secret_key, secret_key)),
                signed(f"{BRAND}.surveyengine.completedResponse.{SURVEY}", completed(), key=secret_key),
            ):
                for _ in range(2):
                    try:
                        rx.parse(body, FORM_CONTENT_TYPE)
                    except WebhookError as exc:
                        raised.append(exc)
    assert len(raised) == 14  # per receiver: 2 forged, 2 unsigned, 2 secret-as-MSG, 1 replay
    assert all(isinstance(exc, QualtricsError) for exc in raised)
    for error in raised:
        assert secret_key not in str(error) + repr(error)
    assert secret_key not in caplog.text
    assert "rejected" in caplog.text
