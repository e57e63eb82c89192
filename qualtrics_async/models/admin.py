"""Administration models: organizations, divisions, groups, users, libraries, event
subscriptions and legacy Research Core mailing lists (qualtrics-api.md §10, §11, §12.1).

Field names come from the bodies the fact sheet lists; where it names no result fields
(an organization, a group, a graphic) the fields are the plausible few noted on each class.
Request bodies (``...Create`` / ``...Update``) leave out every field left at ``None``.
Bodies that carry a credential (a user's ``password``, a subscription's ``sharedKey``)
never show it in their ``repr``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from qualtrics_async.models._base import Model

MessageCategory = Literal[
    "invite",
    "inactiveSurvey",
    "reminder",
    "thankYou",
    "endOfSurvey",
    "general",
    "validation",
    "lookAndFeel",
    "emailSubject",
    "smsInvite",
]
"""The categories of library messages (qualtrics-api.md §11)."""

GraphicType = Literal["image/jpeg", "image/gif", "image/png"]
"""The image types a library graphic may have."""


def _masked_repr(model: msgspec.Struct, secret: str) -> str:
    """``Name(field=value, ...)`` with the value of the ``secret`` field replaced by ``***``."""
    shown = (
        f"{name}={'***' if name == secret and value is not None else repr(value)}"
        for name, value in msgspec.structs.asdict(model).items()
    )
    return f"{type(model).__name__}({', '.join(shown)})"


class Created(Model):
    """``result`` of a create: the new item's id."""

    id: str


class ApiTokenResult(Model):
    """``result`` of ``GET``/``POST /users/{userId}/apitoken`` (wrapped in a Secret by the client)."""

    api_token: str

    def __repr__(self) -> str:
        return "ApiTokenResult(api_token=***)"


# --- organizations and divisions ---------------------------------------------------------------


class Organization(Model):
    """``GET /organizations/{organizationId}``: the brand (its id is the brand id of ``/whoami``).

    The fact sheet says only "org info (brand id)"; ``name``, ``base_url``, ``type`` and
    ``status`` are plausible extras and may be ``None``.
    """

    id: str
    name: str | None = None
    base_url: str | None = None
    type: str | None = None
    status: str | None = None


class Division(Model):
    """A division (``DV_…``) of the brand."""

    id: str
    name: str | None = None
    status: str | None = None
    division_admins: list[str] | None = None
    permissions: dict[str, Any] | None = None


class DivisionCreate(Model):
    """Body of ``POST /divisions``: a name, its administrators (``UR_…``) and permissions."""

    name: str
    division_admins: list[str] | None = None
    permissions: dict[str, Any] | None = None


class DivisionUpdate(Model):
    """Body of ``PUT /divisions/{divisionId}``: only the fields that are set are sent."""

    name: str | None = None
    status: Literal["Active", "Disabled"] | None = None
    permissions: dict[str, Any] | None = None


# --- groups ------------------------------------------------------------------------------------


class GroupUpdate(Model):
    """Body of ``PUT /groups/{groupId}``: only the fields that are set are sent."""

    type: str | None = None
    name: str | None = None
    division_id: str | None = None


class GroupCreate(GroupUpdate, kw_only=True):
    """Body of ``POST /groups``: a group type (``GT_…``), a name and optionally a division."""

    type: str
    name: str


class Group(Model):
    """A group (``GR_…``); its library has the same id."""

    id: str
    name: str | None = None
    type: str | None = None
    division_id: str | None = None


# --- users -------------------------------------------------------------------------------------


class _UserFields(Model):
    """What a user is made of, in results and in bodies alike."""

    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    user_type: str | None = None
    email: str | None = None
    language: str | None = None
    time_zone: str | None = None
    division_id: str | None = None
    account_expiration_date: datetime | None = None


class _UserBody(_UserFields):
    """A user body: the fields, and a password its ``repr`` never shows."""

    password: str | None = None

    def __repr__(self) -> str:
        return _masked_repr(self, "password")


class UserUpdate(_UserBody):
    """Body of ``PUT /users/{userId}``, e.g. ``UserUpdate(status="Disabled")``; only set fields are sent."""

    status: Literal["Enabled", "Disabled"] | None = None


class UserCreate(_UserBody, kw_only=True):
    """Body of ``POST /users`` (brand administrators only); ``user_type`` is a ``UT_…`` id."""

    username: str
    first_name: str
    last_name: str
    user_type: str
    email: str
    password: str
    language: str


class User(_UserFields, kw_only=True):
    """A user (``UR_…``), as ``GET /users`` lists it and ``GET /users/{userId}`` answers
    (never with a password).

    ``account_status`` is the recorded ``accountStatus`` (``active``, ...); ``status`` is the
    ``Enabled``/``Disabled`` of an update body, which no recorded answer carries.
    ``permissions`` is the brand's permission tree as sent (each leaf ``{state, calculatedState}``).
    """

    id: str
    status: str | None = None
    account_status: str | None = None
    organization_id: str | None = None
    unsubscribed: bool | None = None
    account_creation_date: datetime | None = None
    last_login_date: datetime | None = None
    password_expiration_date: datetime | None = None
    password_last_changed_date: datetime | None = None
    permissions: dict[str, Any] | None = None


# --- libraries ---------------------------------------------------------------------------------


class Library(Model):
    """A library visible to the user: its own (``UR_…``) or a group's (``GR_…``)."""

    library_id: str
    library_name: str | None = None


class LibraryMessageUpdate(Model):
    """Body of ``PUT /libraries/{libraryId}/messages/{messageId}``: only set fields are sent."""

    category: MessageCategory | None = None
    description: str | None = None
    messages: dict[str, str] | None = None


class LibraryMessageCreate(LibraryMessageUpdate, kw_only=True):
    """Body of ``POST /libraries/{libraryId}/messages``: ``messages`` maps a language code
    (``"EN"``) to the message text (HTML)."""

    category: MessageCategory
    description: str
    messages: dict[str, str]


class LibraryMessage(Model):
    """A library message (``MS_…``); list elements leave ``messages`` (the texts) out."""

    id: str
    category: str | None = None
    description: str | None = None
    messages: dict[str, str] | None = None


class GraphicUpload(Model):
    """Body of ``POST /libraries/{libraryId}/graphics`` in its URL form: Qualtrics fetches
    the image from ``file_url``. The fact sheet marks this body UNCERTAIN."""

    file_url: str
    content_type: GraphicType
    name: str | None = None
    folder: str | None = None


class Graphic(Model):
    """A library graphic (``IM_…``). The fact sheet names no result fields: these mirror the upload's."""

    id: str
    name: str | None = None
    content_type: str | None = None
    folder: str | None = None


# --- event subscriptions -----------------------------------------------------------------------


class EventSubscriptionCreate(Model):
    """Body of ``POST /eventsubscriptions`` (brand administrators only).

    ``topics`` is one topic, e.g. ``"surveyengine.completedResponse.SV_123"`` (``*``
    wildcards allowed); ``publication_url`` receives the events. ``shared_key`` is a
    secret: Qualtrics signs each delivery with it (HMAC-SHA512), so keep it out of logs and
    source code; this body's ``repr`` masks it.
    """

    topics: str
    publication_url: str
    encrypt: bool | None = None
    shared_key: str | None = None

    def __repr__(self) -> str:
        return _masked_repr(self, "shared_key")


class EventSubscription(Model):
    """An event subscription (``SUB_…``), as recorded; Qualtrics never returns its ``sharedKey``.

    ``topics`` is one topic string; ``encrypted`` answers the create body's ``encrypt``;
    ``scope`` is the brand id; ``successful_calls`` counts the deliveries made.
    """

    id: str
    topics: str | None = None
    publication_url: str | None = None
    encrypted: bool | None = None
    scope: str | None = None
    successful_calls: int | None = None


# --- legacy Research Core mailing lists --------------------------------------------------------


class LegacyMailingList(Model):
    """A Research Core mailing list (``ML_…``), retired by Qualtrics on 2026-06-30.

    ``folder`` is the list's folder in the library (``/Uncategorized`` by default).
    """

    id: str
    library_id: str | None = None
    name: str | None = None
    category: str | None = None
    folder: str | None = None


class LegacyContact(Model):
    """A contact (``MLRP_…``) of a Research Core mailing list, as ``GET`` answers it.

    ``external_data_reference`` is ``externalDataReference`` on the wire (a create body says
    ``externalDataRef``). ``language`` is whatever the list holds, the text ``"null"``
    included; ``response_history`` and ``email_history`` are kept as plain JSON.
    """

    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    external_data_reference: str | None = None
    language: str | None = None
    unsubscribed: bool | None = None
    embedded_data: dict[str, Any] | None = None
    response_history: list[Any] | None = None
    email_history: list[Any] | None = None
