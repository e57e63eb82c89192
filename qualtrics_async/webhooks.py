"""Receiving Qualtrics event-subscription webhooks: verify, de-duplicate, parse.

Qualtrics POSTs each event to a subscription's ``publicationUrl`` as an
``application/x-www-form-urlencoded`` form (not JSON) with three fields
(qualtrics-api.md §12.2):

* ``Topic`` — the topic, prefixed with the brand id on delivery:
  ``{brandId}.surveyengine.completedResponse.SV_…``;
* ``MSG`` — a JSON *string* with the event's attributes (ids, a status, a UTC date);
* ``HMAC`` — when the subscription has a ``sharedKey``: the lowercase hex HMAC-SHA512 of
  the raw ``MSG`` string keyed with the ``sharedKey``.

Typical use, in any web framework::

    receiver = WebhookReceiver(shared_key=os.environ["QUALTRICS_WEBHOOK_KEY"])

    def on_post(body: bytes, content_type: str) -> int:
        try:
            event = receiver.parse(body, content_type)
        except WebhookVerificationError:
            return 401          # forged, tampered or unsigned
        except WebhookPayloadError:
            return 400          # not a Qualtrics delivery
        except WebhookReplayError:
            return 200          # already seen: acknowledge, do not process twice
        match event:
            case CompletedResponseEvent(survey_id=survey_id, response_id=response_id):
                ...             # fetch it: client.responses.get(survey_id, response_id)
        return 200

``examples/fastapi_webhooks.py`` shows a complete FastAPI app.

Security properties and their limits:

* The signature is checked with :func:`hmac.compare_digest`. Error messages never contain the
  key or the expected digest (that would make the receiver a signing oracle).
* The ``HMAC`` covers ``MSG`` only, **not** ``Topic``. The typed fields therefore come from
  ``MSG``; the topic only selects the event class, and a topic that contradicts the signed
  ``MSG`` (another survey id, another brand, a status of another topic) is rejected as forged.
* Qualtrics deliveries carry **no timestamp or nonce** of their own (§12.2: ids, a status and,
  for response events only, ``CompletedDate``/``StartedDate``). Replays are caught by a
  :class:`ReplayCache` keyed by the SHA-256 of ``MSG`` (:attr:`WebhookEvent.delivery_id`),
  which holds each digest for ``replay_ttl`` seconds (default 24 h) and at most
  ``replay_max_entries`` digests (the oldest are dropped first, with a warning). The cache
  lives in **one process**: with several workers or hosts, keep the digests in a shared store
  (pass your own :class:`ReplayGuard`, or use :func:`parse_event` and an atomic
  ``SET delivery_id NX EX ttl`` in Redis). A delivery replayed after ``replay_ttl`` passes
  unless ``max_age`` rejects it by its date; activation events have no date, so only the
  cache protects them.
* Encrypted subscriptions (``encrypt: true``) are not supported: the cipher mode is not
  documented (§12.2, UNCERTAIN). Create subscriptions with ``encrypt: false`` and use HTTPS
  plus a ``sharedKey``.

Documented choices (where the fact sheet is silent or UNCERTAIN):

* A repeated ``Topic``, ``MSG`` or ``HMAC`` field is rejected: which copy is signed and which
  is processed must not be ambiguous.
* Without a shared key (``allow_unsigned=True`` only), a form with no ``MSG`` is read as the
  attributes themselves (some receivers see them as top-level form fields; §12.2, UNCERTAIN).
  With a shared key such a form has nothing signed and is rejected.
* Topics the fact sheet lists get typed events; any other ``surveyengine.*`` topic gets a
  :class:`SurveyEngineEvent` (the response-event fields, all optional), ``threesixty.*`` a
  :class:`ThreeSixtyEvent` (no field list is documented: read :attr:`~WebhookEvent.attributes`),
  and every other topic (distribution, XM Directory contact, …: none is documented) a
  :class:`GenericEvent`. A new topic never fails to parse.
* Dates (``YYYY-MM-DD HH:MM:SS``, UTC per §5.1) are kept as sent and exposed as aware
  datetimes (``completed_at``/``started_at``); an empty string counts as absent.
* A replayed delivery raises :class:`WebhookReplayError`, not a verification error: Qualtrics'
  redelivery policy is undocumented (§12.2), and a legitimate redelivery should be
  acknowledged (2xx) without being processed again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Protocol

import msgspec

from qualtrics_async._decoding import decode_any
from qualtrics_async._logging import logger, warn_once
from qualtrics_async._secret import Secret
from qualtrics_async.errors import ConfigurationError, QualtricsError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_REPLAY_MAX_ENTRIES",
    "DEFAULT_REPLAY_TTL",
    "FORM_CONTENT_TYPE",
    "CompletedResponseEvent",
    "GenericEvent",
    "PartialResponseEvent",
    "RecipientSessionStartedEvent",
    "ReplayCache",
    "ReplayGuard",
    "SharedKey",
    "SurveyActivatedEvent",
    "SurveyDeactivatedEvent",
    "SurveyEngineEvent",
    "SurveyStatusEvent",
    "ThreeSixtyEvent",
    "WebhookDelivery",
    "WebhookError",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookReplayError",
    "WebhookVerificationError",
    "encode_delivery",
    "parse_event",
    "parse_form",
    "sign",
    "verify_signature",
]

FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
"""The content type of every Qualtrics delivery (qualtrics-api.md §12.2)."""

DEFAULT_REPLAY_TTL: Final = 24 * 3600.0
"""Seconds a delivery's digest is remembered by default."""

DEFAULT_REPLAY_MAX_ENTRIES: Final = 100_000
"""Digests remembered at most by default (about 10 MB)."""

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
"""Largest body accepted by default; a delivery carries a few ids, well under 1 KB."""

_MAX_FORM_FIELDS: Final = 32
_HMAC_HEX_LENGTH: Final = 2 * hashlib.sha512().digest_size
_TOPIC_FIELD: Final = "Topic"
_MSG_FIELD: Final = "MSG"
_HMAC_FIELD: Final = "HMAC"

SharedKey = str | bytes | Secret
"""A subscription's ``sharedKey``: text (UTF-8 encoded), bytes, or a :class:`~qualtrics_async._secret.Secret`."""


# --- errors -----------------------------------------------------------------------------------


class WebhookError(QualtricsError):
    """Root of the webhook errors; none of them ever carries the shared key."""


class WebhookVerificationError(WebhookError):
    """The delivery is not authentic: ``HMAC`` missing, forged, or not matching ``MSG``, or a
    ``Topic`` that contradicts the signed ``MSG``. Answer 401."""


class WebhookPayloadError(WebhookError, ValueError):
    """The body is not a Qualtrics delivery: wrong content type, too large, not a form, a
    missing field, ``MSG`` that is not a JSON object, or a field of the wrong type. Answer 400."""


class WebhookReplayError(WebhookError):
    """The delivery was accepted before (or is older than ``max_age``).

    Attributes:
        delivery_id: the SHA-256 of ``MSG`` that identified it.
    """

    def __init__(self, message: str, *, delivery_id: str) -> None:
        super().__init__(message)
        self.delivery_id = delivery_id


# --- events -----------------------------------------------------------------------------------


def _utc(value: str | None, name: str) -> datetime | None:
    """A webhook date (``YYYY-MM-DD HH:MM:SS``, UTC) as an aware datetime; ``""`` is absent."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date (expected 'YYYY-MM-DD HH:MM:SS', UTC)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every parsed delivery.

    Attributes:
        topic: the ``Topic`` as delivered, brand prefix included (not covered by the HMAC).
        topic_name: the topic without the brand prefix, e.g. ``surveyengine.completedResponse.SV_…``.
        brand_id: ``BrandID`` from ``MSG``, else the topic's brand prefix.
        attributes: the whole decoded ``MSG``, unknown attributes included.
        delivery_id: SHA-256 (hex) of the raw ``MSG``; the replay-protection key. Use it (or
            a response id) to make processing idempotent.
        verified: whether the ``HMAC`` was checked against the shared key.
    """

    topic: str = ""
    topic_name: str = ""
    brand_id: str | None = msgspec.field(default=None, name="BrandID")
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    delivery_id: str = ""
    verified: bool = False

    expected_status: ClassVar[str | None] = None
    """The ``Status`` the topic implies, when the documentation names one."""

    @property
    def occurred_at(self) -> datetime | None:
        """When the event happened, if ``MSG`` says (only response events carry a date)."""
        return None


class SurveyStatusEvent(WebhookEvent, frozen=True, kw_only=True):
    """A survey was activated or deactivated (``controlpanel.activateSurvey`` / ``deactivateSurvey``).

    Attributes:
        status: ``Active`` or ``Inactive``.
        survey_id: the survey (``SV_…``).
    """

    status: str | None = msgspec.field(default=None, name="Status")
    survey_id: str | None = msgspec.field(default=None, name="SurveyID")


class SurveyActivatedEvent(SurveyStatusEvent, frozen=True, kw_only=True):
    """``controlpanel.activateSurvey``: ``Status`` is ``Active``."""

    expected_status: ClassVar[str | None] = "Active"


class SurveyDeactivatedEvent(SurveyStatusEvent, frozen=True, kw_only=True):
    """``controlpanel.deactivateSurvey``: ``Status`` is ``Inactive``."""

    expected_status: ClassVar[str | None] = "Inactive"


class SurveyEngineEvent(WebhookEvent, frozen=True, kw_only=True):
    """A ``surveyengine.*`` event; also the event of a ``surveyengine`` topic this library does
    not know yet. Which attributes are present depends on the topic.

    Attributes:
        status: ``Started``, ``Partial`` or ``Complete`` for the documented topics.
        survey_id: the survey (``SV_…``).
        response_id: the response (``R_…``); fetch it with ``client.responses.get``.
        recipient_id: the recipient, for distributed surveys.
        response_event_context: the ``ResponseEventContext`` embedded data (≤ 50 characters).
        distribution_id: the distribution that sent the survey.
        started_date, completed_date: UTC ``YYYY-MM-DD HH:MM:SS`` as sent.
    """

    status: str | None = msgspec.field(default=None, name="Status")
    survey_id: str | None = msgspec.field(default=None, name="SurveyID")
    response_id: str | None = msgspec.field(default=None, name="ResponseID")
    recipient_id: str | None = msgspec.field(default=None, name="RecipientID")
    response_event_context: str | None = msgspec.field(default=None, name="ResponseEventContext")
    distribution_id: str | None = msgspec.field(default=None, name="DistributionID")
    started_date: str | None = msgspec.field(default=None, name="StartedDate")
    completed_date: str | None = msgspec.field(default=None, name="CompletedDate")

    def __post_init__(self) -> None:
        _utc(self.started_date, "StartedDate")  # reject a malformed date at parse time, not later
        _utc(self.completed_date, "CompletedDate")

    @property
    def started_at(self) -> datetime | None:
        """``StartedDate`` as an aware UTC datetime."""
        return _utc(self.started_date, "StartedDate")

    @property
    def completed_at(self) -> datetime | None:
        """``CompletedDate`` as an aware UTC datetime."""
        return _utc(self.completed_date, "CompletedDate")

    @property
    def occurred_at(self) -> datetime | None:
        """``CompletedDate``, else ``StartedDate``."""
        return self.completed_at or self.started_at


class RecipientSessionStartedEvent(SurveyEngineEvent, frozen=True, kw_only=True):
    """``surveyengine.startedRecipientSession.{SurveyID}``: a recipient opened the survey (``Started``)."""

    expected_status: ClassVar[str | None] = "Started"


class PartialResponseEvent(SurveyEngineEvent, frozen=True, kw_only=True):
    """``surveyengine.partialResponse.{SurveyID}``: a partial response was recorded (``Partial``)."""

    expected_status: ClassVar[str | None] = "Partial"


class CompletedResponseEvent(SurveyEngineEvent, frozen=True, kw_only=True):
    """``surveyengine.completedResponse.{SurveyID}``: a response was completed (``Complete``)."""

    expected_status: ClassVar[str | None] = "Complete"


class ThreeSixtyEvent(WebhookEvent, frozen=True, kw_only=True):
    """A ``threesixty.*`` event (360 projects). Its ``MSG`` fields are not documented: read
    :attr:`attributes`."""


class GenericEvent(WebhookEvent, frozen=True, kw_only=True):
    """An event of a topic this library has no class for (distribution, directory, new topics):
    dispatch on :attr:`topic_name` and read :attr:`attributes`."""


_FAMILIES: Final[dict[str, tuple[dict[str, type[WebhookEvent]], type[WebhookEvent]]]] = {
    "controlpanel": (
        {"activateSurvey": SurveyActivatedEvent, "deactivateSurvey": SurveyDeactivatedEvent},
        GenericEvent,
    ),
    "surveyengine": (
        {
            "startedRecipientSession": RecipientSessionStartedEvent,
            "partialResponse": PartialResponseEvent,
            "completedResponse": CompletedResponseEvent,
        },
        SurveyEngineEvent,
    ),
    "threesixty": ({}, ThreeSixtyEvent),
}
"""Topic family → (event name → class, class for the family's other events)."""

_KNOWN_STATUSES: Final = frozenset(
    status for names, _ in _FAMILIES.values() for cls in names.values() if (status := cls.expected_status)
)
_ENVELOPE_FIELDS: Final = frozenset({"topic", "topic_name", "attributes", "delivery_id", "verified"})


# --- the wire: form, signature ------------------------------------------------------------------


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """The three form fields of a delivery, before verification.

    Attributes:
        topic: ``Topic``.
        msg: ``MSG``, the raw JSON string the signature covers (``None`` if absent).
        signature: ``HMAC`` (``None`` if absent).
        fields: every form field (single values), for unsigned top-level-attribute deliveries.
    """

    topic: str
    msg: str | None = None
    signature: str | None = None
    fields: dict[str, str] = msgspec.field(default_factory=dict)

    def __repr__(self) -> str:
        signature = "None" if self.signature is None else "'…'"
        return f"WebhookDelivery(topic={self.topic!r}, msg={self.msg!r}, signature={signature})"


def _key_bytes(shared_key: SharedKey) -> bytes:
    if isinstance(shared_key, Secret):
        shared_key = shared_key.reveal()
    key = shared_key.encode() if isinstance(shared_key, str) else bytes(shared_key)
    if not key:
        raise ConfigurationError("the webhook shared key is empty")
    return key


def sign(msg: str | bytes, shared_key: SharedKey) -> str:
    """The ``HMAC`` Qualtrics sends with ``msg``: lowercase hex HMAC-SHA512 keyed with ``shared_key``."""
    data = msg.encode() if isinstance(msg, str) else msg
    return hmac.new(_key_bytes(shared_key), data, hashlib.sha512).hexdigest()


def verify_signature(msg: str | None, signature: str | None, shared_key: SharedKey) -> None:
    """Check ``signature`` (the ``HMAC`` field) against ``msg`` in constant time.

    Hex case is ignored. The message of the error says what was wrong, never the key or the
    expected digest.

    Raises:
        WebhookVerificationError: ``MSG`` or ``HMAC`` is missing, or the signature does not match.
    """
    if msg is None:
        raise WebhookVerificationError("the delivery has no MSG field, so nothing is signed")
    if not signature:
        raise WebhookVerificationError("the delivery has no HMAC signature, but a shared key is configured")
    try:
        received = bytes.fromhex(signature.strip()) if signature.isascii() else b""
    except ValueError:
        received = b""
    if len(received) * 2 != _HMAC_HEX_LENGTH:
        raise WebhookVerificationError("the HMAC field is not a hex HMAC-SHA512 digest")
    expected = hmac.new(_key_bytes(shared_key), msg.encode(), hashlib.sha512).digest()
    if not hmac.compare_digest(expected, received):
        raise WebhookVerificationError("the HMAC signature does not match MSG (forged, tampered, or another key)")


def _values(fields: Mapping[str, Any], name: str) -> list[str]:
    """Every value of form field ``name`` (mappings of lists, of single values, or with ``getlist``)."""
    getlist = getattr(fields, "getlist", None)  # multi-dicts (Starlette's FormData) hide repeats behind get()
    value: Any = getlist(name) if callable(getlist) else fields.get(name)
    if value is None:
        return []
    values = [value] if isinstance(value, str) or not isinstance(value, Sequence) else list(value)
    if not all(isinstance(v, str) and _is_utf8(v) for v in values):
        raise WebhookPayloadError(f"the form field {name} is not text")
    return values


def _is_utf8(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 (a lone surrogate does not; it is signed and hashed as UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _single(fields: Mapping[str, Any], name: str) -> str | None:
    values = _values(fields, name)
    if len(values) > 1:
        raise WebhookPayloadError(f"the form has {len(values)} {name} fields; a delivery has exactly one")
    return values[0] if values else None


def _form_fields(body: bytes, content_type: str | None, max_body_bytes: int) -> dict[str, list[str]]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        shown = media_type[:100] or "none"  # echoed in a 400: bounded
        raise WebhookPayloadError(f"content type {shown!r} is not {FORM_CONTENT_TYPE!r}; Qualtrics posts a form")
    if len(body) > max_body_bytes:
        raise WebhookPayloadError(f"the body has {len(body)} bytes, more than the {max_body_bytes} accepted")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookPayloadError(f"the body is not a UTF-8 form of at most {_MAX_FORM_FIELDS} fields") from exc
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def parse_form(
    body: bytes | Mapping[str, Any],
    content_type: str | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> WebhookDelivery:
    """Read the ``Topic``, ``MSG`` and ``HMAC`` fields of a delivery, without verifying anything.

    ``body`` is the raw request body (then ``content_type`` must be the form type) or a form
    your framework already parsed (a mapping of names to a value or a list of values; the
    content type is then not checked).

    Raises:
        WebhookPayloadError: wrong content type, too large, not a form, a repeated or missing
            ``Topic``, a repeated ``MSG`` or ``HMAC``.
    """
    fields: Mapping[str, Any] = (
        _form_fields(bytes(body), content_type, max_body_bytes) if isinstance(body, bytes | bytearray) else body
    )
    topic = _single(fields, _TOPIC_FIELD)
    if not topic:
        raise WebhookPayloadError("the form has no Topic field")
    return WebhookDelivery(
        topic=topic,
        msg=_single(fields, _MSG_FIELD),
        signature=_single(fields, _HMAC_FIELD),
        fields={name: values[-1] for name in fields if (values := _values(fields, name))},
    )


def encode_delivery(topic: str, msg: str | Mapping[str, Any], shared_key: SharedKey | None = None) -> bytes:
    """A form body as Qualtrics would post it (``HMAC`` added when ``shared_key`` is given).

    Use it to test your endpoint; ``msg`` is the JSON string or the attributes to encode.
    """
    text = msg if isinstance(msg, str) else json.dumps(dict(msg), separators=(",", ":"))
    fields = {_TOPIC_FIELD: topic, _MSG_FIELD: text}
    if shared_key is not None:
        fields[_HMAC_FIELD] = sign(text, shared_key)
    return urllib.parse.urlencode(fields).encode()


# --- building the event -----------------------------------------------------------------------


def _split_topic(topic: str, brand_id: str | None) -> tuple[str, str | None]:
    """``(topic without the brand prefix, the prefix)``."""
    segments = topic.split(".")
    if segments[0] in _FAMILIES:
        return topic, None
    if len(segments) > 1 and segments[1] in _FAMILIES:
        return ".".join(segments[1:]), segments[0]
    if brand_id and topic.startswith(brand_id + "."):
        return topic[len(brand_id) + 1 :], brand_id
    return topic, None


def _event_class(topic_name: str) -> type[WebhookEvent]:
    family, _, rest = topic_name.partition(".")
    if family not in _FAMILIES:
        return GenericEvent
    names, fallback = _FAMILIES[family]
    return names.get(rest.partition(".")[0], fallback)


def _decode_msg(msg: str) -> dict[str, Any]:
    try:
        attributes = decode_any(msg)
    except msgspec.DecodeError:  # NestingTooDeepError included: a 400, never a 500
        attributes = None
    if not isinstance(attributes, dict):
        raise WebhookPayloadError(
            "MSG is not a JSON object (a subscription created with encrypt: true sends it AES-encrypted, "
            "which is not supported: use encrypt: false over HTTPS with a sharedKey)"
        )
    return attributes


def _check_topic(event: WebhookEvent, topic_brand: str | None) -> None:
    """Reject a ``Topic`` (unsigned) that contradicts the ``MSG`` (signed)."""
    if topic_brand is not None and event.brand_id is not None and topic_brand != event.brand_id:
        raise WebhookVerificationError("the Topic names another brand than the signed MSG")
    if isinstance(event, SurveyEngineEvent) and event.survey_id:
        segments = event.topic_name.split(".")
        if len(segments) > 2 and segments[2] != event.survey_id:
            raise WebhookVerificationError("the Topic names another survey than the signed MSG")
    status = getattr(event, "status", None)
    expected = type(event).expected_status
    if expected is not None and status in _KNOWN_STATUSES and status != expected:
        raise WebhookVerificationError(f"the Topic is a {expected!r} event but the signed MSG says {status!r}")


def _build_event(delivery: WebhookDelivery, *, verified: bool) -> WebhookEvent:
    if delivery.msg is not None:
        attributes = _decode_msg(delivery.msg)
        delivery_id = hashlib.sha256(delivery.msg.encode()).hexdigest()
    else:  # unsigned top-level attributes (allow_unsigned only)
        attributes = {k: v for k, v in delivery.fields.items() if k not in (_TOPIC_FIELD, _HMAC_FIELD)}
        delivery_id = hashlib.sha256(urllib.parse.urlencode(sorted(attributes.items())).encode()).hexdigest()
    brand = attributes.get("BrandID")
    topic_name, topic_brand = _split_topic(delivery.topic, brand if isinstance(brand, str) else None)
    cls = _event_class(topic_name)
    typed = {k: v for k, v in attributes.items() if k not in _ENVELOPE_FIELDS}
    try:
        event = msgspec.convert(typed, type=cls, strict=True)
    except msgspec.ValidationError as exc:
        raise WebhookPayloadError(f"MSG does not fit {cls.__name__}: {exc}") from None
    event = msgspec.structs.replace(
        event,
        topic=delivery.topic,
        topic_name=topic_name,
        brand_id=event.brand_id if event.brand_id is not None else topic_brand,
        attributes=attributes,
        delivery_id=delivery_id,
        verified=verified,
    )
    _check_topic(event, topic_brand)
    return event


def parse_event(
    body: bytes | Mapping[str, Any],
    content_type: str | None = None,
    *,
    shared_key: SharedKey | None = None,
    allow_unsigned: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> WebhookEvent:
    """Verify and parse one delivery, statelessly (no replay protection: see :class:`WebhookReceiver`).

    ``body`` and ``content_type`` are as for :func:`parse_form`. With ``shared_key`` the
    ``HMAC`` must match; without one, ``allow_unsigned=True`` is required and nothing is
    verified.

    Raises:
        WebhookVerificationError: missing or wrong signature, or a topic contradicting ``MSG``.
        WebhookPayloadError: not a Qualtrics delivery (see :func:`parse_form`), or ``MSG`` is
            not a JSON object of the expected shape.
        ConfigurationError: neither ``shared_key`` nor ``allow_unsigned``.
    """
    if shared_key is None and not allow_unsigned:
        raise ConfigurationError(
            "pass the subscription's shared_key (its sharedKey), or allow_unsigned=True to accept "
            "deliveries nobody can authenticate"
        )
    delivery = parse_form(body, content_type, max_body_bytes=max_body_bytes)
    if shared_key is not None:
        verify_signature(delivery.msg, delivery.signature, shared_key)
    return _build_event(delivery, verified=shared_key is not None)


# --- replay protection ------------------------------------------------------------------------


class ReplayGuard(Protocol):
    """Remembers delivery ids; implement it over a shared store to cover several processes."""

    def remember(self, key: str) -> bool:
        """Record ``key``; ``False`` if it was already recorded (and not expired)."""
        ...

    def forget(self, key: str) -> None:
        """Drop ``key``, so a redelivery is accepted again."""
        ...


class ReplayCache:
    """An in-process, bounded, thread-safe set of recently seen delivery ids.

    Each id is kept ``ttl`` seconds; at most ``max_entries`` ids are kept, the oldest dropped
    first (logged once: beyond that size, replays of dropped ids go unnoticed). One process
    only; see the module docs for several workers.
    """

    __slots__ = ("_clock", "_entries", "_lock", "max_entries", "ttl")

    def __init__(
        self,
        ttl: float = DEFAULT_REPLAY_TTL,
        max_entries: int = DEFAULT_REPLAY_MAX_ENTRIES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl <= 0:
            raise ConfigurationError(f"replay ttl must be positive, got {ttl!r}")
        if max_entries < 1:
            raise ConfigurationError(f"replay max_entries must be at least 1, got {max_entries!r}")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, float] = OrderedDict()  # key → expiry, in expiry order
        self._lock = threading.Lock()

    def remember(self, key: str) -> bool:
        """Record ``key``; ``False`` if it was seen within the last ``ttl`` seconds."""
        now = self._clock()
        with self._lock:
            entries = self._entries
            while entries and next(iter(entries.values())) <= now:
                entries.popitem(last=False)
            if key in entries:
                return False
            entries[key] = now + self.ttl
            if len(entries) > self.max_entries:
                entries.popitem(last=False)
                warn_once(
                    "webhook-replay-cache-full",
                    "webhook replay cache is full (%d ids): the oldest are dropped before their ttl, "
                    "so replays of them are no longer detected",
                    self.max_entries,
                )
            return True

    def forget(self, key: str) -> None:
        """Drop ``key`` (e.g. when processing failed and a redelivery should be accepted)."""
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


# --- the receiver -----------------------------------------------------------------------------


class WebhookReceiver:
    """Verifies, de-duplicates and parses deliveries of one subscription (or several sharing a key).

    Args:
        shared_key: the subscription's ``sharedKey``. Required unless ``allow_unsigned``.
        allow_unsigned: accept deliveries without verification (only for subscriptions
            created without a ``sharedKey``; anyone can then forge events).
        replay_ttl: seconds a delivery is remembered (``None``: no in-process replay cache).
        replay_max_entries: most deliveries remembered.
        replay_guard: a store to use instead of the in-process cache (e.g. over Redis).
        max_age: reject events whose ``CompletedDate``/``StartedDate`` is older than this many
            seconds (``None``: no age check). Set it at most ``replay_ttl`` to close the window
            after the cache forgets; events without a date are not age-checked.
        max_body_bytes: largest raw body accepted.
        clock: monotonic time source for the replay cache (tests).

    Example::

        receiver = WebhookReceiver(shared_key=os.environ["QUALTRICS_WEBHOOK_KEY"])
        event = receiver.parse(body, request.headers["content-type"])
    """

    __slots__ = ("_allow_unsigned", "_guard", "_key", "_redacted", "max_age", "max_body_bytes")

    def __init__(
        self,
        shared_key: SharedKey | None = None,
        *,
        allow_unsigned: bool = False,
        replay_ttl: float | None = DEFAULT_REPLAY_TTL,
        replay_max_entries: int = DEFAULT_REPLAY_MAX_ENTRIES,
        replay_guard: ReplayGuard | None = None,
        max_age: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if shared_key is None and not allow_unsigned:
            raise ConfigurationError(
                "WebhookReceiver needs the subscription's shared_key (its sharedKey); pass "
                "allow_unsigned=True only for subscriptions created without one"
            )
        if max_age is not None and max_age <= 0:
            raise ConfigurationError(f"max_age must be positive, got {max_age!r}")
        self._key = None if shared_key is None else _key_bytes(shared_key)  # empty: an error now, not per request
        # Kept alive so the log filter masks the key should it ever reach a log record.
        self._redacted = shared_key if isinstance(shared_key, Secret) else None
        if isinstance(shared_key, str):
            self._redacted = Secret(shared_key)
        self._allow_unsigned = allow_unsigned
        self._guard: ReplayGuard | None = replay_guard
        if replay_guard is None and replay_ttl is not None:
            self._guard = ReplayCache(replay_ttl, replay_max_entries, clock=clock)
        self.max_age = max_age
        self.max_body_bytes = max_body_bytes

    def __repr__(self) -> str:
        return (
            f"WebhookReceiver(shared_key={'***' if self._key else None}, replay_guard={type(self._guard).__name__}, "
            f"max_age={self.max_age!r})"
        )

    def parse(self, body: bytes | Mapping[str, Any], content_type: str | None = None) -> WebhookEvent:
        """Verify, check for replay and parse one delivery.

        ``body`` is the raw request body with its ``content_type``, or an already-parsed form.
        The delivery is remembered only once it is accepted, so a rejected forgery cannot
        block the real one.

        Raises:
            WebhookVerificationError: missing or wrong signature, or a topic contradicting ``MSG``.
            WebhookPayloadError: not a Qualtrics delivery, or a malformed ``MSG``.
            WebhookReplayError: seen before (within ``replay_ttl``), or older than ``max_age``.
        """
        try:
            event = parse_event(
                body,
                content_type,
                shared_key=self._key,
                allow_unsigned=self._allow_unsigned,
                max_body_bytes=self.max_body_bytes,
            )
            self._check_fresh(event)
        except WebhookError as exc:
            logger.info("qualtrics webhook rejected (%s): %s", type(exc).__name__, exc.message)
            raise
        logger.debug("qualtrics webhook accepted: %s (%s)", event.topic_name, event.delivery_id[:12])
        return event

    def forget(self, event: WebhookEvent) -> None:
        """Accept ``event`` again if it is redelivered (call it when processing it failed)."""
        if self._guard is not None:
            self._guard.forget(event.delivery_id)

    def _check_fresh(self, event: WebhookEvent) -> None:
        occurred = event.occurred_at
        if self.max_age is not None and occurred is not None:
            age = (datetime.now(UTC) - occurred).total_seconds()
            if age > self.max_age:
                raise WebhookReplayError(
                    f"the event is {age:.0f} s old, more than max_age={self.max_age:g} s", delivery_id=event.delivery_id
                )
        if self._guard is not None and not self._guard.remember(event.delivery_id):
            raise WebhookReplayError(
                f"delivery {event.delivery_id[:12]}… was already accepted (replay or redelivery)",
                delivery_id=event.delivery_id,
            )
