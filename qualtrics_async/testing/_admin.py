"""Emulator routes of the administration family (qualtrics-api.md §10, §11, §12.1; paging §3).

Organizations, divisions, groups (and their members), users (and their API tokens),
libraries (messages and graphics), event subscriptions (management only) and the legacy
Research Core mailing lists. The seeded data comes from ``FamilyContext.rng("admin")`` and
the identity of ``/whoami``, so a seed always gives the same data.

Seeded: the organization of the ``/whoami`` brand; one division; 120 users (the ``/whoami``
user first, so ``GET /users`` has two pages); 3 groups; libraries with messages and
graphics; one event subscription; 3 legacy mailing lists holding 130, 7 and 0 contacts.

Recorded answers (bodies recorded from live tenants) fix these shapes, and win over the fact
sheet where they differ:

* user (``GET /users/{userId}``): ``{id, username, email, firstName, lastName, userType,
  organizationId, divisionId, language, accountStatus, unsubscribed, accountCreationDate,
  accountExpirationDate, passwordLastChangedDate, passwordExpirationDate, lastLoginDate,
  permissions}``, ``permissions`` a tree section -> group -> permission ->
  ``{calculatedState, state}`` (a subset of the recorded permission names). ``GET /users``
  elements and group members are the same without ``permissions`` (no list was recorded; a
  tree per element would be most of the page). ``accountStatus`` is ``active`` (recorded)
  for an ``Enabled`` user and ``disabled`` (a documented guess) for a ``Disabled`` one. The
  ``status`` and ``timeZone`` of create/update bodies are kept but not echoed: no recorded
  user carries them. Seeded users have creation and last-login dates; a created one has
  never logged in (``lastLoginDate`` null).
* ``PUT /divisions/{divisionId}`` answers an empty ``result`` object (``{"result": {}}``).
* event subscription: ``{id, scope, topics, publicationUrl, encrypted, successfulCalls}``
  (``scope`` the brand id, ``encrypted`` the create body's ``encrypt``); an unknown id is a
  404 ``ESSG_2`` "<id> not found".
* legacy mailing list ``{id, libraryId, name, category, folder}`` (``folder`` a path such as
  ``/Uncategorized``, or null); its contacts ``{id, firstName, lastName, email,
  externalDataReference, embeddedData, language, unsubscribed, responseHistory,
  emailHistory}`` (``embeddedData`` null when empty -- every seeded contact has some --,
  ``language`` the text ``"null"`` when unset, as on every seventh seeded contact: both
  recorded). An unknown ``ML_…`` id is a 404 ``PACC_6`` "Mailing List not found"; an id
  that is not an ``ML_…`` id a 400 ``GP_0`` (a 2016 recording shows ``GP_0`` for an unknown
  id, a 2018 one ``PACC_6``: the emulator follows the newer).
* a JSON body sent with another ``Content-Type`` is a 400 ``RP_0.1`` (see ``_routing.json_body``).

Documented choices, where the fact sheet is silent or UNCERTAIN:

* Ids: organizations are brand ids (``BR_…``, the ``brandId`` of ``/whoami``); divisions
  ``DV_…``, groups ``GR_…`` (§11 names ``GR_`` for group libraries), users ``UR_…``,
  messages ``MS_…``, graphics ``IM_…``, subscriptions ``SUB_…``, mailing lists ``ML_…``,
  their contacts ``MLRP_…``. A user type is ``UT_`` + letters/digits, a group type ``GT_…``.
* Every collection pages in the ``offset`` style, 100 per page at most (a larger
  ``pageSize`` is clamped). §3 gives 100 for users, groups and event subscriptions and no
  size for the others.
* Results hold the fields the fact sheet's bodies name, plus ``id``:
  organization ``{id, name, baseUrl, type, status}`` (§11 says only "org info (brand id)");
  division ``{id, name, status, divisionAdmins, permissions}``;
  group ``{id, name, type, divisionId}``;
  library ``{libraryId, libraryName}`` (the user's own library, id = its user id, and one
  per group, id = the group id);
  message ``{id, category, description, messages}`` (list elements leave out ``messages``);
  graphic ``{id, name, contentType, folder}``; users, subscriptions and mailing lists as
  recorded (above). A user's password and a subscription's ``sharedKey`` are never echoed.
  A create answers ``{id}`` (recorded for users, divisions, subscriptions); an update other
  than a division's, a delete and group-member changes answer ``meta`` only.
* Bodies are checked: an unknown field is a 400 (names are case-sensitive, §2.2), as is a
  missing required one. ``PUT /groups/{groupId}`` takes the create fields; ``PUT
  /users/{userId}`` takes the create fields plus ``status``.
* A second user with the same ``username`` is a 409 (the code is UNCERTAIN for Qualtrics).
  Adding a member who is already in the group changes nothing and succeeds; removing a
  user who is not a member is a 404.
* ``GET /users/{userId}/apitoken`` answers 404 until the user has a token (seeded users
  have one); ``POST`` generates a new 40-character token, replacing the old one.
* Graphics: §11 lists only ``POST`` and ``DELETE``; ``GET /libraries/{libraryId}/graphics``
  and ``GET …/graphics/{graphicId}`` are served too (not in the fact sheet). An upload is
  either JSON ``{fileUrl, contentType, name?, folder?}`` (``fileUrl`` an absolute http(s)
  URL; ``name`` defaults to its last path segment) or multipart/form-data with a ``file``
  part (its content type is the graphic's) and optional ``name``/``folder`` fields;
  ``contentType`` must be image/jpeg, image/gif or image/png; a file over 5 MB is a 413
  (§4.1: uploads max 5 MB).
* Event subscriptions: the create body is §12.1's (``topics``, ``publicationUrl``,
  ``encrypt``, ``sharedKey``); ``topics`` must be one of §12.1's topics, where a ``*`` may
  stand for the survey id, the event name or the whole topic; ``publicationUrl`` must be an
  absolute http(s) URL; ``encrypt: true`` without a ``sharedKey`` is a 400.
* Legacy mailing lists are served read-only (list, get, list contacts): Qualtrics retired
  these Research Core endpoints on 2026-06-30 (PEERS.md, qualtRics #386), and the client
  only reads them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from aiohttp import BodyPartReader, web

from qualtrics_async.models.admin import GraphicType, MessageCategory
from qualtrics_async.testing import _routing as api
from qualtrics_async.testing._data import iso
from qualtrics_async.testing._routing import ApiError, Collection, FamilyContext, Json, RouteSpec

PAGE_SIZE = 100
USERS = 120
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # qualtrics-api.md §4.1
TOKEN_LENGTH = 40

MESSAGE_CATEGORIES = frozenset(get_args(MessageCategory))  # the ten of qualtrics-api.md §11
GRAPHIC_TYPES = frozenset(get_args(GraphicType))  # image/jpeg, image/gif, image/png
DIVISION_STATUSES = frozenset({"Active", "Disabled"})
USER_STATUSES = frozenset({"Enabled", "Disabled"})

_THREESIXTY = (
    r"created|statusChanged|person\.statusChanged|evaluationStatusChanged"
    r"|nominationCreated|nominationRemoved|reportReady"
)
TOPIC = re.compile(
    r"\*"
    r"|controlpanel\.(?:activateSurvey|deactivateSurvey|\*)"
    r"|surveyengine\.(?:startedRecipientSession|partialResponse|completedResponse|\*)\.(?:SV_[A-Za-z0-9]+|\*)"
    r"|surveyengine\.\*"
    rf"|threesixty\.(?:{_THREESIXTY}|\*)"
)
_USER_TYPE = re.compile(r"UT_[A-Za-z0-9]+")
_MAILING_LIST_ID = re.compile(r"ML_[A-Za-z0-9]+")
_GROUP_TYPE = re.compile(r"GT_[A-Za-z0-9]+")
_ALNUM = string.ascii_letters + string.digits

_DIVISION_FIELDS = ("name", "divisionAdmins", "permissions")
_GROUP_FIELDS = ("type", "name", "divisionId")
_USER_REQUIRED = ("username", "firstName", "lastName", "userType", "email", "password", "language")
_USER_FIELDS = (*_USER_REQUIRED, "timeZone", "divisionId", "accountExpirationDate")
_USER_PUBLIC = (
    "id",
    "username",
    "email",
    "firstName",
    "lastName",
    "userType",
    "organizationId",
    "divisionId",
    "language",
    "accountStatus",
    "unsubscribed",
    "accountCreationDate",
    "accountExpirationDate",
    "passwordLastChangedDate",
    "passwordExpirationDate",
    "lastLoginDate",
)
"""A user as recorded (``GET /users/{userId}``, in recorded order; ``permissions`` follows)."""
_ACCOUNT_STATUS = {"Enabled": "active", "Disabled": "disabled"}
# A subset of the recorded permission tree: section -> group -> permission names.
_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "controlPanel": {
        "accountPermissions": ("accessApi", "createSurveys", "shareSurveys", "useDashboards", "approveSurveys"),
        "libraryPermissions": ("useSurveyLibrary", "manageSurveyLibrary", "useMailingLists", "manageMailingLists"),
    },
    "contacts": {"accountPermissions": ("manageDirectory", "accessPortal")},
    "siteIntercept": {"accountPermissions": ("accessSiteIntercept", "administerSiteIntercept")},
}
_USER_EPOCH = datetime(2019, 1, 7, 9, 0, tzinfo=UTC)
_MESSAGE_FIELDS = ("category", "description", "messages")
_SUBSCRIPTION_FIELDS = ("topics", "publicationUrl", "encrypt", "sharedKey")

# fmt: off
_FIRST = ("Ada", "Björn", "Chiara", "Dev", "Elif", "Femi", "Grace", "Hiro", "Inès", "José", "Kai", "Lena")
_LAST = ("Achebe", "Bergström", "Conti", "Das", "Erdoğan", "Fofana", "Hopper", "Ishikawa", "Jansen", "Kim")
_LANGUAGES = ("EN", "EN", "DE", "FR", "ES", "JA")
_ZONES = ("America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC")
_SEED_MESSAGES = (("invite", "Invitation"), ("reminder", "Reminder"), ("thankYou", "Thank you"),
                  ("endOfSurvey", "End of survey"), ("emailSubject", "Subject"), ("general", "Footer"),
                  ("validation", "Validation"), ("smsInvite", "SMS invitation"))
_SEED_GRAPHICS = (("logo.png", "image/png"), ("banner.jpg", "image/jpeg"), ("spinner.gif", "image/gif"))
# fmt: on


class _PerOwner:
    """Collections of one kind, one per owner (a library's messages, a mailing list's contacts)."""

    def __init__(self, kind: str, prefix: str, rng: random.Random) -> None:
        self.kind, self.prefix, self._rng = kind, prefix, rng
        self._stores: dict[str, Collection] = {}

    def of(self, owner_id: str) -> Collection:
        """The collection of ``owner_id`` (made on first use)."""
        store = self._stores.get(owner_id)
        if store is None:
            store = self._stores[owner_id] = Collection(self.kind, self.prefix, self._rng)
        return store

    def drop(self, owner_id: str) -> None:
        self._stores.pop(owner_id, None)


class AdminRoutes:
    """The administration family of the emulator (its stores are public for test assertions)."""

    def __init__(self, context: FamilyContext) -> None:
        self.context = context
        rng = context.rng("admin")
        self._rng = rng
        whoami = context.data.whoami
        self.brand_id: str = whoami["brandId"]
        self.user_id: str = whoami["userId"]
        self.organization: Json = {
            "id": self.brand_id,
            "name": "Emulated Brand",
            "baseUrl": "https://emulated.iad1.qualtrics.com",
            "type": "Enterprise",
            "status": "Active",
        }
        self.divisions = Collection("Division", "DV", rng)
        self.groups = Collection("Group", "GR", rng)
        self.users = Collection("User", "UR", rng)
        self.members: dict[str, list[str]] = {}
        """Group id → member user ids, in the order they were added."""
        self.api_tokens: dict[str, str] = {}
        """User id → current API token."""
        self.messages = _PerOwner("Message", "MS", rng)
        """The messages of each library."""
        self.graphics = _PerOwner("Graphic", "IM", rng)
        """The graphics of each library."""
        self.subscriptions = Collection("Event subscription", "SUB", rng)
        self.shared_keys: dict[str, str] = {}
        """Subscription id → sharedKey (kept server-side only)."""
        self.mailing_lists = Collection("Mailing list", "ML", rng)
        self.list_contacts = _PerOwner("Contact", "MLRP", rng)
        """The contacts of each mailing list."""
        self._seed(whoami)

    # --- seeded data -----------------------------------------------------------------------

    def _seed(self, whoami: Json) -> None:
        rng = self._rng
        member_type = "UT_" + "".join(rng.choices(_ALNUM, k=15))
        self.divisions.add(
            {
                "name": "Headquarters",
                "status": "Active",
                "divisionAdmins": [self.user_id],
                "permissions": {"manageDivision": True},
            }
        )
        admin = {
            "id": self.user_id,
            "username": whoami["userName"],
            "firstName": whoami["firstName"],
            "lastName": whoami["lastName"],
            "userType": whoami["accountType"],
            "email": whoami["email"],
        }
        self.users.add(self._user(admin, rng))
        for number in range(1, USERS):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower()}.{number}@example.com"
            fields = {"username": email, "firstName": first, "lastName": last, "userType": member_type, "email": email}
            self.users.add(self._user(fields, rng))
        users = [user["id"] for user in self.users.values()]
        for user_id in users:
            self.api_tokens[user_id] = self._token()
        for number, name in enumerate(("Research team", "Marketing", "Customer experience")):
            group_type = "GT_" + "".join(rng.choices(_ALNUM, k=15))
            group = self.groups.add({"name": name, "type": group_type, "divisionId": None})
            self.members[group["id"]] = [self.user_id, *rng.sample(users[1:], 3 + number)]
        library_ids = [library["libraryId"] for library in self._libraries()]
        for category, title in _SEED_MESSAGES:
            self.messages.of(library_ids[0]).add(
                {
                    "category": category,
                    "description": f"{title} (default)",
                    "messages": {"EN": f"<p>{title}</p>", "DE": f"<p>{title} (DE)</p>"},
                }
            )
        self.messages.of(library_ids[1]).add(
            {"category": "invite", "description": "Team invitation", "messages": {"EN": "<p>Join us</p>"}}
        )
        for name, content_type in (
            ("logo.png", "image/png"),
            ("banner.jpg", "image/jpeg"),
            ("spinner.gif", "image/gif"),
        ):
            self.graphics.of(library_ids[0]).add({"name": name, "contentType": content_type, "folder": None})
        subscription = self.subscriptions.add(
            {
                "scope": self.brand_id,
                "topics": "surveyengine.completedResponse.*",
                "publicationUrl": "https://hooks.example.com/qualtrics",
                "encrypted": False,
                "successfulCalls": 17,
            }
        )
        self.shared_keys[subscription["id"]] = self._token()
        for name, count, folder in (
            ("Panel A", 130, "/Uncategorized"),
            ("Pilot", 7, "/Pilots"),
            ("Empty list", 0, None),
        ):
            mailing_list = self.mailing_lists.add(
                {"libraryId": self.user_id, "name": name, "category": "Unassigned", "folder": folder}
            )
            contacts = self.list_contacts.of(mailing_list["id"])
            for number in range(count):
                first, last = rng.choice(_FIRST), rng.choice(_LAST)
                language = rng.choice(_LANGUAGES)
                unsubscribed = rng.random() < 0.1
                cohort = rng.choice(("2024", "2025"))
                contacts.add(
                    {
                        "firstName": first,
                        "lastName": last,
                        "email": f"{first.lower()}.{number}@example.org",
                        "externalDataReference": f"EXT-{number:04d}",
                        "embeddedData": {"cohort": cohort},
                        "language": language if number % 7 else "null",  # recorded: the text "null" when unset
                        "unsubscribed": unsubscribed,
                        "responseHistory": [],
                        "emailHistory": [],
                    }
                )

    def _user(self, fields: Json, rng: random.Random) -> Json:
        return self._account(
            {
                **fields,
                "language": rng.choice(_LANGUAGES),
                "timeZone": rng.choice(_ZONES),
                "divisionId": None,
                "accountExpirationDate": None,
                "status": "Enabled",
            },
            created=None,
        )

    def _account(self, user: Json, *, created: datetime | None) -> Json:
        """``user`` plus the account fields Qualtrics keeps (recorded): dates, brand, permissions.

        Seeded users get dates drawn from their username (not from the family's rng, so the
        seeded data does not shift); a user created through the API is created now and has
        never logged in.
        """
        if created is None:
            digest = hashlib.blake2b(str(user["username"]).encode(), digest_size=8).digest()
            created = _USER_EPOCH + timedelta(days=digest[0] * 4 + digest[1] % 4, seconds=digest[2] * 331)
            login: datetime | None = created + timedelta(days=30 + digest[3] * 2, seconds=digest[4] * 97)
        else:
            login = None
        admin = user["userType"] == "UT_BRANDADMIN"
        permissions: Json = {}
        for section, groups in _PERMISSIONS.items():
            state = "on" if admin or section == "controlPanel" else "off"
            permissions[section] = {
                group: {name: {"calculatedState": state, "state": "userType"} for name in names}
                for group, names in groups.items()
            }
        return {
            **user,
            "organizationId": self.brand_id,
            "unsubscribed": False,
            "accountCreationDate": iso(created),
            "passwordLastChangedDate": iso(created),
            "passwordExpirationDate": None,
            "lastLoginDate": None if login is None else iso(login),
            "permissions": permissions,
        }

    def _token(self) -> str:
        return "".join(self._rng.choices(_ALNUM, k=TOKEN_LENGTH))

    def _libraries(self) -> list[Json]:
        admin = self.users.find(self.user_id) or {"firstName": "", "lastName": ""}
        own = {"libraryId": self.user_id, "libraryName": f"{admin['firstName']} {admin['lastName']}".strip()}
        return [own, *({"libraryId": g["id"], "libraryName": g["name"]} for g in self.groups.values())]

    def _library(self, stores: _PerOwner, library_id: str) -> Collection:
        if library_id != self.user_id and library_id not in self.groups:
            raise api.not_found("Library", library_id)
        return stores.of(library_id)

    # --- routes ----------------------------------------------------------------------------

    def routes(self) -> Iterable[RouteSpec]:
        table: tuple[tuple[str, str, api.Handler, str], ...] = (
            ("GET", "/organizations/{organizationId}", self._get_organization, "organizations"),
            ("POST", "/divisions", self._create_division, "divisions"),
            ("GET", "/divisions/{divisionId}", self._get_division, "divisions"),
            ("PUT", "/divisions/{divisionId}", self._update_division, "divisions"),
            ("GET", "/groups", self._list_groups, "groups"),
            ("POST", "/groups", self._create_group, "groups"),
            ("GET", "/groups/{groupId}", self._get_group, "groups"),
            ("PUT", "/groups/{groupId}", self._update_group, "groups"),
            ("DELETE", "/groups/{groupId}", self._delete_group, "groups"),
            ("GET", "/groups/{groupId}/members", self._list_members, "groups"),
            ("POST", "/groups/{groupId}/members", self._add_member, "groups"),
            ("DELETE", "/groups/{groupId}/members/{userId}", self._remove_member, "groups"),
            ("GET", "/users", self._list_users, "users"),
            ("POST", "/users", self._create_user, "users"),
            ("GET", "/users/{userId}", self._get_user, "users"),
            ("PUT", "/users/{userId}", self._update_user, "users"),
            ("DELETE", "/users/{userId}", self._delete_user, "users"),
            ("GET", "/users/{userId}/apitoken", self._get_api_token, "users"),
            ("POST", "/users/{userId}/apitoken", self._new_api_token, "users"),
            ("GET", "/libraries", self._list_libraries, "libraries"),
            ("GET", "/libraries/{libraryId}/messages", self._list_messages, "libraries"),
            ("POST", "/libraries/{libraryId}/messages", self._create_message, "libraries"),
            ("GET", "/libraries/{libraryId}/messages/{messageId}", self._get_message, "libraries"),
            ("PUT", "/libraries/{libraryId}/messages/{messageId}", self._update_message, "libraries"),
            ("DELETE", "/libraries/{libraryId}/messages/{messageId}", self._delete_message, "libraries"),
            ("GET", "/libraries/{libraryId}/graphics", self._list_graphics, "libraries"),
            ("POST", "/libraries/{libraryId}/graphics", self._upload_graphic, "libraries"),
            ("GET", "/libraries/{libraryId}/graphics/{graphicId}", self._get_graphic, "libraries"),
            ("DELETE", "/libraries/{libraryId}/graphics/{graphicId}", self._delete_graphic, "libraries"),
            ("GET", "/eventsubscriptions", self._list_subscriptions, "subscriptions"),
            ("POST", "/eventsubscriptions", self._create_subscription, "subscriptions"),
            ("GET", "/eventsubscriptions/{subscriptionId}", self._get_subscription, "subscriptions"),
            ("DELETE", "/eventsubscriptions/{subscriptionId}", self._delete_subscription, "subscriptions"),
            ("GET", "/mailinglists", self._list_mailing_lists, "mailing_lists"),
            ("GET", "/mailinglists/{mailingListId}", self._get_mailing_list, "mailing_lists"),
            ("GET", "/mailinglists/{mailingListId}/contacts", self._list_list_contacts, "mailing_list_contacts"),
        )
        return [RouteSpec(method, template, handler, scope) for method, template, handler, scope in table]

    # --- organizations and divisions --------------------------------------------------------

    def _get_organization(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        if params["organizationId"] != self.brand_id:
            raise api.not_found("Organization", params["organizationId"])
        return dict(self.organization)

    async def _create_division(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await api.json_body(request, required=("name",))
        api.check_fields(body, _DIVISION_FIELDS)
        admins = body.get("divisionAdmins", [])
        if not isinstance(admins, list) or not all(isinstance(a, str) and a in self.users for a in admins):
            raise api.bad_request("divisionAdmins must be a list of existing user ids (UR_...).")
        permissions = _object(body, "permissions")
        division = self.divisions.add(
            {"name": _text(body, "name"), "status": "Active", "divisionAdmins": admins, "permissions": permissions}
        )
        return {"id": division["id"]}

    def _get_division(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self.divisions.get(params["divisionId"]))

    async def _update_division(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        self.divisions.get(params["divisionId"])
        body = await api.json_body(request)
        api.check_fields(body, ("name", "status", "permissions"))
        if "name" in body:
            _text(body, "name")
        if "status" in body:
            _choice(body, "status", DIVISION_STATUSES)
        if "permissions" in body:
            _object(body, "permissions")
        self.divisions.update(params["divisionId"], body)
        return {}  # recorded: an empty result object, not meta only

    # --- groups -----------------------------------------------------------------------------

    def _list_groups(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return api.offset_page(request, self.groups.values(), PAGE_SIZE)

    async def _create_group(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await api.json_body(request, required=("type", "name"))
        group = self.groups.add({"divisionId": None, **self._group_fields(body)})
        self.members[group["id"]] = []
        return {"id": group["id"]}

    def _get_group(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self.groups.get(params["groupId"]))

    async def _update_group(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self.groups.get(params["groupId"])
        self.groups.update(params["groupId"], self._group_fields(await api.json_body(request)))

    def _delete_group(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        group_id = params["groupId"]
        self.groups.delete(group_id)
        with self.context.lock:
            self.members.pop(group_id, None)
            self.messages.drop(group_id)
            self.graphics.drop(group_id)

    def _group_fields(self, body: Json) -> Json:
        api.check_fields(body, _GROUP_FIELDS)
        if "name" in body:
            _text(body, "name")
        if "type" in body and not _GROUP_TYPE.fullmatch(_text(body, "type")):
            raise api.bad_request(f"Invalid group type {body['type']!r} (expected a GT_... id).")
        self._check_division(body)
        return body

    def _check_division(self, body: Json) -> None:
        division_id = body.get("divisionId")
        if division_id is not None and (not isinstance(division_id, str) or division_id not in self.divisions):
            raise api.bad_request(f"Unknown divisionId {division_id!r}.")

    def _list_members(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        self.groups.get(params["groupId"])
        members = [self._public_user(self.users.get(uid)) for uid in self.members.get(params["groupId"], [])]
        return api.offset_page(request, members, PAGE_SIZE)

    async def _add_member(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self.groups.get(params["groupId"])
        body = await api.json_body(request, required=("userId",))
        api.check_fields(body, ("userId",))
        user_id = self.users.get(_text(body, "userId"))["id"]
        with self.context.lock:
            members = self.members.setdefault(params["groupId"], [])
            if user_id not in members:
                members.append(user_id)

    def _remove_member(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        group_id, user_id = params["groupId"], params["userId"]
        self.groups.get(group_id)
        with self.context.lock:
            members = self.members.get(group_id, [])
            if user_id not in members:
                raise api.not_found("Group member", user_id)
            members.remove(user_id)

    # --- users ------------------------------------------------------------------------------

    def _list_users(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return api.offset_page(request, [self._public_user(u) for u in self.users.values()], PAGE_SIZE)

    async def _create_user(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await api.json_body(request, required=_USER_REQUIRED)
        fields = self._user_fields(body, _USER_FIELDS, user_id=None)
        defaults = {"timeZone": None, "divisionId": None, "accountExpirationDate": None, "status": "Enabled"}
        user = self.users.add(self._account({**defaults, **fields}, created=datetime.now(UTC).replace(microsecond=0)))
        return {"id": user["id"]}

    def _get_user(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        user = self.users.get(params["userId"])
        return {**self._public_user(user), "permissions": json.loads(json.dumps(user["permissions"]))}

    async def _update_user(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        user_id = self.users.get(params["userId"])["id"]
        fields = self._user_fields(await api.json_body(request), (*_USER_FIELDS, "status"), user_id=user_id)
        self.users.update(user_id, fields)

    def _delete_user(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        user_id = params["userId"]
        self.users.delete(user_id)
        with self.context.lock:
            self.api_tokens.pop(user_id, None)
            for members in self.members.values():
                if user_id in members:
                    members.remove(user_id)

    def _user_fields(self, body: Json, allowed: tuple[str, ...], *, user_id: str | None) -> Json:
        api.check_fields(body, allowed)
        for name in ("username", "firstName", "lastName", "email", "password", "language", "timeZone"):
            if name in body and (name != "timeZone" or body[name] is not None):
                _text(body, name)
        if "email" in body and "@" not in body["email"]:
            raise api.bad_request(f"Invalid email {body['email']!r}.")
        if "userType" in body and not _USER_TYPE.fullmatch(_text(body, "userType")):
            raise api.bad_request(f"Invalid userType {body['userType']!r} (expected a UT_... id).")
        if "status" in body:
            _choice(body, "status", USER_STATUSES)
        if body.get("accountExpirationDate") is not None:
            _timestamp(body, "accountExpirationDate")
        self._check_division(body)
        username = body.get("username")
        if username is not None and any(u["username"] == username and u["id"] != user_id for u in self.users.values()):
            raise ApiError(409, f"A user named {username!r} already exists.", "CONFLICT_0.1")
        return {name: value for name, value in body.items() if name != "password"}

    @staticmethod
    def _public_user(user: Json) -> Json:
        """A user as answered: the recorded fields (``status`` shows as ``accountStatus``)."""
        public = {name: user.get(name) for name in _USER_PUBLIC}
        public["accountStatus"] = _ACCOUNT_STATUS.get(str(user.get("status")), "active")
        return public

    def _get_api_token(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        user_id = self.users.get(params["userId"])["id"]
        token = self.api_tokens.get(user_id)
        if token is None:
            raise api.not_found("API token of user", user_id)
        return {"apiToken": token}

    def _new_api_token(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        user_id = self.users.get(params["userId"])["id"]
        with self.context.lock:
            token = self.api_tokens[user_id] = self._token()
        return {"apiToken": token}

    # --- libraries: messages ----------------------------------------------------------------

    def _list_libraries(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return api.offset_page(request, self._libraries(), PAGE_SIZE)

    def _list_messages(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        messages = self._library(self.messages, params["libraryId"]).values()
        category = request.query.get("category")
        if category is not None:
            if category not in MESSAGE_CATEGORIES:
                raise api.bad_request(
                    f"Invalid category {category!r}; one of: {', '.join(sorted(MESSAGE_CATEGORIES))}."
                )
            messages = [m for m in messages if m["category"] == category]
        elements = [{key: m[key] for key in ("id", "category", "description")} for m in messages]
        return api.offset_page(request, elements, PAGE_SIZE)

    async def _create_message(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        store = self._library(self.messages, params["libraryId"])
        body = await api.json_body(request, required=_MESSAGE_FIELDS)
        message = store.add(_message_fields(body))
        return {"id": message["id"]}

    def _get_message(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self._library(self.messages, params["libraryId"]).get(params["messageId"]))

    async def _update_message(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        store = self._library(self.messages, params["libraryId"])
        store.get(params["messageId"])
        store.update(params["messageId"], _message_fields(await api.json_body(request)))

    def _delete_message(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._library(self.messages, params["libraryId"]).delete(params["messageId"])

    # --- libraries: graphics ----------------------------------------------------------------

    def _list_graphics(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return api.offset_page(request, self._library(self.graphics, params["libraryId"]).values(), PAGE_SIZE)

    def _get_graphic(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self._library(self.graphics, params["libraryId"]).get(params["graphicId"]))

    def _delete_graphic(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._library(self.graphics, params["libraryId"]).delete(params["graphicId"])

    async def _upload_graphic(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        store = self._library(self.graphics, params["libraryId"])
        if request.content_type.startswith("multipart/"):
            fields = await _multipart_graphic(request)
        else:
            body = await api.json_body(request, required=("fileUrl", "contentType"))
            api.check_fields(body, ("fileUrl", "name", "contentType", "folder"))
            url = _http_url(body, "fileUrl")
            fields = {
                "name": _text(body, "name") if "name" in body else url.rstrip("/").rsplit("/", 1)[-1],
                "contentType": body["contentType"],
                "folder": body.get("folder"),
            }
        _choice(fields, "contentType", GRAPHIC_TYPES)
        if fields["folder"] is not None:
            _text(fields, "folder")
        graphic = store.add(fields)
        return {"id": graphic["id"]}

    # --- event subscriptions ----------------------------------------------------------------

    def _list_subscriptions(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return api.offset_page(request, self.subscriptions.values(), PAGE_SIZE)

    async def _create_subscription(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        body = await api.json_body(request, required=("topics", "publicationUrl"))
        api.check_fields(body, _SUBSCRIPTION_FIELDS)
        topics = _text(body, "topics")
        if not TOPIC.fullmatch(topics):
            raise api.bad_request(f"Unknown topic {topics!r}.")
        encrypt = body.get("encrypt", False)
        if not isinstance(encrypt, bool):
            raise api.bad_request("encrypt must be true or false.")
        shared_key = _text(body, "sharedKey") if body.get("sharedKey") is not None else None
        if encrypt and shared_key is None:
            raise api.bad_request("encrypt: true needs a sharedKey.")
        subscription = self.subscriptions.add(
            {
                "scope": self.brand_id,
                "topics": topics,
                "publicationUrl": _http_url(body, "publicationUrl"),
                "encrypted": encrypt,
                "successfulCalls": 0,
            }
        )
        if shared_key is not None:
            self.shared_keys[subscription["id"]] = shared_key
        return {"id": subscription["id"]}

    def _subscription(self, subscription_id: str) -> Json:
        """A stored subscription; an unknown id is a 404 ``ESSG_2`` "<id> not found" (recorded)."""
        found = self.subscriptions.find(subscription_id)
        if found is None:
            raise ApiError(404, f"{subscription_id} not found", "ESSG_2")
        return found

    def _get_subscription(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self._subscription(params["subscriptionId"]))

    def _delete_subscription(self, request: web.BaseRequest, params: dict[str, str]) -> None:
        self._subscription(params["subscriptionId"])
        self.subscriptions.delete(params["subscriptionId"])
        self.shared_keys.pop(params["subscriptionId"], None)

    # --- legacy mailing lists ---------------------------------------------------------------

    def _list_mailing_lists(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return api.offset_page(request, self.mailing_lists.values(), PAGE_SIZE)

    def _mailing_list(self, list_id: str) -> Json:
        """A list; as recorded, an unknown ``ML_…`` id is a 404 ``PACC_6`` and an id of another
        shape a 400 ``GP_0`` (an older recording answers ``GP_0`` for an unknown id too)."""
        if not _MAILING_LIST_ID.fullmatch(list_id):
            raise api.bad_request("Invalid mailingListId parameter. Mailing list not found", "GP_0")
        found = self.mailing_lists.find(list_id)
        if found is None:
            raise ApiError(404, "Mailing List not found", "PACC_6")
        return found

    def _get_mailing_list(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        return dict(self._mailing_list(params["mailingListId"]))

    def _list_list_contacts(self, request: web.BaseRequest, params: dict[str, str]) -> Json:
        list_id = self._mailing_list(params["mailingListId"])["id"]
        return api.offset_page(request, self.list_contacts.of(list_id).values(), PAGE_SIZE)


# --- body checks -------------------------------------------------------------------------------


def _text(body: Json, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise api.bad_request(f"{name} must be a non-empty string.")
    return value


def _choice(body: Mapping[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise api.bad_request(f"Invalid {name} {value!r}; one of: {', '.join(sorted(allowed))}.")
    return str(value)


def _object(body: Json, name: str) -> Json:
    value = body.get(name, {})
    if not isinstance(value, dict):
        raise api.bad_request(f"{name} must be a JSON object.")
    return value


def _timestamp(body: Json, name: str) -> None:
    try:
        datetime.fromisoformat(_text(body, name).replace("Z", "+00:00"))
    except ValueError:
        raise api.bad_request(f"{name} must be an ISO 8601 date-time, got {body[name]!r}.") from None


def _http_url(body: Json, name: str) -> str:
    url = _text(body, name)
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise api.bad_request(f"{name} must be an absolute http(s) URL, got {url!r}.")
    return url


def _message_fields(body: Json) -> Json:
    api.check_fields(body, _MESSAGE_FIELDS)
    if "category" in body:
        _choice(body, "category", MESSAGE_CATEGORIES)
    if "description" in body:
        _text(body, "description")
    if "messages" in body:
        texts = body["messages"]
        if not isinstance(texts, dict) or not texts or not all(isinstance(v, str) for v in texts.values()):
            raise api.bad_request('messages must map language codes to message texts, e.g. {"EN": "<p>Hi</p>"}.')
    return body


async def _multipart_graphic(request: web.BaseRequest) -> Json:
    """The fields of a multipart upload: a ``file`` part, optional ``name`` and ``folder`` parts.

    Read part by part (aiohttp's ``post()`` would stop at its 1 MB default, below the 5 MB limit).
    """
    fields: Json = {"name": None, "folder": None}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise api.bad_request("Nested multipart bodies are not accepted.")
            if part.name == "file":
                size = 0
                while chunk := await part.read_chunk():
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise ApiError(413, "The file is larger than 5 MB.", "BRE_0.4")
                fields["file"] = part.filename or "upload"
                fields["contentType"] = part.headers.get("Content-Type", "application/octet-stream")
            elif part.name in ("name", "folder"):
                fields[part.name] = (await part.text()) or None
            else:
                raise api.bad_request(f"Unknown form field {part.name!r}.")
    except (ValueError, AssertionError):  # aiohttp's parser: not multipart, or a malformed body
        raise ApiError(413, "Malformed multipart/form-data.", "BRE_0.4") from None
    if "file" not in fields:
        raise api.bad_request("A multipart upload needs a 'file' part.")
    return {"name": fields["name"] or fields["file"], "contentType": fields["contentType"], "folder": fields["folder"]}


__all__ = ["AdminRoutes"]
