"""Administration: ``client.organizations``, ``client.divisions``, ``client.groups``,
``client.users``, ``client.libraries``, ``client.event_subscriptions`` and
``client.legacy_mailing_lists`` (qualtrics-api.md §10, §11, §12.1).

Most of these endpoints need a brand administrator's credentials; Qualtrics answers 403
(:class:`~qualtrics_async.errors.PermissionDeniedError`) otherwise. Creates return the new
item's id; every create and update takes a typed model (:mod:`qualtrics_async.models`) or a
plain dict of wire names.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Iterator
from typing import Any, TypeVar

import anyio
import msgspec

from qualtrics_async._logging import logger
from qualtrics_async._multipart import FormPart, multipart_body
from qualtrics_async._sansio import build_path
from qualtrics_async._secret import Secret
from qualtrics_async.errors import ConfigurationError, ResponseDecodeError
from qualtrics_async.models.admin import (
    ApiTokenResult,
    Created,
    Division,
    EventSubscription,
    Graphic,
    GraphicType,
    Group,
    LegacyContact,
    LegacyMailingList,
    Library,
    LibraryMessage,
    MessageCategory,
    Organization,
    User,
)
from qualtrics_async.resources._base import Body, Resource

T = TypeVar("T")


class _AdminResource(Resource):
    """The family's shared steps: POSTs that must answer a ``result`` (a new id, a token)."""

    __slots__ = ()

    async def _post_for(self, path: str, body: Body | None, result_type: type[T]) -> T:
        """``POST`` to ``path``; a clear error when Qualtrics answers without a ``result``."""
        result: T | None = await self._send("POST", path, body, result_type)
        if result is None:
            raise ResponseDecodeError(
                "the answer has no 'result' (expected one from this POST)", method="POST", path=path
            )
        return result

    async def _create_id(self, template: str, body: Body, **ids: str) -> str:
        """Create an item; its id (from ``result.id``)."""
        created = await self._post_for(build_path(template, **ids), body, Created)
        return created.id


MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # file uploads, qualtrics-api.md §4.1


class Organizations(_AdminResource):
    """The brand's organization (``/organizations``). Limited to 5 requests a minute.

    Example::

        me = await client.whoami()
        org = await client.organizations.get(me.brand_id)
    """

    __slots__ = ()

    async def get(self, organization_id: str) -> Organization:
        """The organization (brand) ``organization_id`` — the ``brand_id`` of :meth:`QualtricsClient.whoami`.

        Endpoint: ``GET /organizations/{organizationId}`` (5/min).

        Raises:
            NotFoundError: no such organization.
        """
        return await self._get("/organizations/{organizationId}", Organization, organizationId=organization_id)


class Divisions(_AdminResource):
    """Divisions of the brand (``/divisions``; brand administrators only).

    Example::

        division_id = await client.divisions.create(DivisionCreate(name="Research", division_admins=["UR_1"]))
        await client.divisions.update(division_id, DivisionUpdate(status="Disabled"))
    """

    __slots__ = ()

    async def create(self, body: Body) -> str:
        """Create a division (:class:`~qualtrics_async.models.DivisionCreate` or a dict); returns its id (``DV_…``).

        Endpoint: ``POST /divisions`` (3000/min).

        Raises:
            BadRequestError: a missing name, or an unknown administrator id.
        """
        return await self._create_id("/divisions", body)

    async def get(self, division_id: str) -> Division:
        """One division.

        Endpoint: ``GET /divisions/{divisionId}`` (3000/min).

        Raises:
            NotFoundError: no such division.
        """
        return await self._get("/divisions/{divisionId}", Division, divisionId=division_id)

    async def update(self, division_id: str, body: Body) -> None:
        """Change a division's name, status (``Active``/``Disabled``) or permissions
        (:class:`~qualtrics_async.models.DivisionUpdate` or a dict).

        Endpoint: ``PUT /divisions/{divisionId}`` (3000/min).
        """
        await self._update("/divisions/{divisionId}", body, divisionId=division_id)


class Groups(_AdminResource):
    """Groups and their members (``/groups``).

    Example::

        group_id = await client.groups.create(GroupCreate(type="GT_123", name="Analysts"))
        await client.groups.add_member(group_id, "UR_456")
        async for user in client.groups.list_members(group_id):
            print(user.username)
    """

    __slots__ = ()

    def list(self) -> AsyncGenerator[Group, None]:
        """Every group of the brand, page by page.

        Endpoint: ``GET /groups`` (600/min).
        """
        return self._list("/groups", Group)

    async def create(self, body: Body) -> str:
        """Create a group (:class:`~qualtrics_async.models.GroupCreate` or a dict); returns its id (``GR_…``).

        Endpoint: ``POST /groups`` (600/min).
        """
        return await self._create_id("/groups", body)

    async def get(self, group_id: str) -> Group:
        """One group.

        Endpoint: ``GET /groups/{groupId}`` (600/min).

        Raises:
            NotFoundError: no such group.
        """
        return await self._get("/groups/{groupId}", Group, groupId=group_id)

    async def update(self, group_id: str, body: Body) -> None:
        """Change a group (:class:`~qualtrics_async.models.GroupUpdate` or a dict).

        Endpoint: ``PUT /groups/{groupId}`` (600/min).
        """
        await self._update("/groups/{groupId}", body, groupId=group_id)

    async def delete(self, group_id: str) -> None:
        """Delete a group (its members stay users of the brand).

        Endpoint: ``DELETE /groups/{groupId}`` (600/min).
        """
        await self._delete("/groups/{groupId}", groupId=group_id)

    def list_members(self, group_id: str) -> AsyncGenerator[User, None]:
        """The users in a group, page by page.

        Endpoint: ``GET /groups/{groupId}/members`` (1000/min).
        """
        return self._list("/groups/{groupId}/members", User, groupId=group_id)

    async def add_member(self, group_id: str, user_id: str) -> None:
        """Add the user ``user_id`` (``UR_…``) to a group.

        Endpoint: ``POST /groups/{groupId}/members`` (600/min).
        """
        await self._create("/groups/{groupId}/members", {"userId": user_id}, groupId=group_id)

    async def remove_member(self, group_id: str, user_id: str) -> None:
        """Take the user ``user_id`` out of a group (the user is not deleted).

        Endpoint: ``DELETE /groups/{groupId}/members/{userId}`` (3000/min).

        Raises:
            NotFoundError: no such group, or the user is not a member.
        """
        await self._delete("/groups/{groupId}/members/{userId}", groupId=group_id, userId=user_id)


class Users(_AdminResource):
    """Users of the brand and their API tokens (``/users``; brand administrators only).

    API tokens are returned as :class:`~qualtrics_async._secret.Secret`: their ``repr`` and
    ``str`` are masked; call ``.reveal()`` where the value is really needed.

    Example::

        user_id = await client.users.create(UserCreate(username="ana@example.com", ...))
        token = await client.users.regenerate_api_token(user_id)
        vault.store(user_id, token.reveal())
    """

    __slots__ = ()

    def list(self) -> AsyncGenerator[User, None]:
        """Every user of the brand, page by page.

        Endpoint: ``GET /users`` (3000/min).
        """
        return self._list("/users", User)

    async def create(self, body: Body) -> str:
        """Create a user (:class:`~qualtrics_async.models.UserCreate` or a dict); returns its id (``UR_…``).

        Endpoint: ``POST /users`` (3000/min).

        Raises:
            BadRequestError: a missing or invalid field.
            ConflictError: the username is taken (the status is UNCERTAIN for Qualtrics).
        """
        with _masked(_wire(body), "password"):
            return await self._create_id("/users", body)

    async def get(self, user_id: str) -> User:
        """One user.

        Endpoint: ``GET /users/{userId}`` (3000/min).

        Raises:
            NotFoundError: no such user.
        """
        return await self._get("/users/{userId}", User, userId=user_id)

    async def update(self, user_id: str, body: Body) -> None:
        """Change a user, e.g. ``UserUpdate(status="Disabled")`` (or a dict).

        Endpoint: ``PUT /users/{userId}`` (3000/min).
        """
        with _masked(_wire(body), "password"):
            await self._update("/users/{userId}", body, userId=user_id)

    async def delete(self, user_id: str) -> None:
        """Delete a user.

        Endpoint: ``DELETE /users/{userId}`` (3000/min).
        """
        await self._delete("/users/{userId}", userId=user_id)

    async def get_api_token(self, user_id: str) -> Secret:
        """The user's current API token, as a :class:`~qualtrics_async._secret.Secret`.

        Endpoint: ``GET /users/{userId}/apitoken`` (3000/min).

        Raises:
            NotFoundError: no such user, or the user has no token yet
                (see :meth:`regenerate_api_token`).
        """
        result: ApiTokenResult = await self._get("/users/{userId}/apitoken", ApiTokenResult, userId=user_id)
        return Secret(result.api_token)

    async def regenerate_api_token(self, user_id: str) -> Secret:
        """Generate a new API token for the user; the old one stops working at once.

        Not retried after an ambiguous failure (a second call would replace the token again).

        Endpoint: ``POST /users/{userId}/apitoken`` (3000/min).
        """
        result = await self._post_for(build_path("/users/{userId}/apitoken", userId=user_id), None, ApiTokenResult)
        return Secret(result.api_token)


class Libraries(_AdminResource):
    """Libraries, their messages and their graphics (``/libraries``).

    A library id is a user id (``UR_…``, the user's own library) or a group id (``GR_…``).

    Example::

        async for library in client.libraries.list():
            async for message in client.libraries.list_messages(library.library_id, category="invite"):
                print(message.id, message.description)
    """

    __slots__ = ()

    def list(self) -> AsyncGenerator[Library, None]:
        """Every library the user can see, page by page.

        Endpoint: ``GET /libraries`` (3000/min).
        """
        return self._list("/libraries", Library)

    # -- messages ----------------------------------------------------------------------------

    def list_messages(
        self, library_id: str, *, category: MessageCategory | None = None
    ) -> AsyncGenerator[LibraryMessage, None]:
        """The messages of a library (without their texts; see :meth:`get_message`), optionally of one category.

        Endpoint: ``GET /libraries/{libraryId}/messages`` (3000/min).
        """
        params = None if category is None else {"category": category}
        return self._list("/libraries/{libraryId}/messages", LibraryMessage, params=params, libraryId=library_id)

    async def get_message(self, library_id: str, message_id: str) -> LibraryMessage:
        """One message with its texts by language.

        Endpoint: ``GET /libraries/{libraryId}/messages/{messageId}`` (3000/min).

        Raises:
            NotFoundError: no such library or message.
        """
        template = "/libraries/{libraryId}/messages/{messageId}"
        return await self._get(template, LibraryMessage, libraryId=library_id, messageId=message_id)

    async def create_message(self, library_id: str, body: Body) -> str:
        """Create a message (:class:`~qualtrics_async.models.LibraryMessageCreate` or a dict); returns its ``MS_…`` id.

        Endpoint: ``POST /libraries/{libraryId}/messages`` (3000/min).
        """
        return await self._create_id("/libraries/{libraryId}/messages", body, libraryId=library_id)

    async def update_message(self, library_id: str, message_id: str, body: Body) -> None:
        """Change a message (:class:`~qualtrics_async.models.LibraryMessageUpdate` or a dict).

        Endpoint: ``PUT /libraries/{libraryId}/messages/{messageId}`` (3000/min).
        """
        template = "/libraries/{libraryId}/messages/{messageId}"
        await self._update(template, body, libraryId=library_id, messageId=message_id)

    async def delete_message(self, library_id: str, message_id: str) -> None:
        """Delete a message.

        Endpoint: ``DELETE /libraries/{libraryId}/messages/{messageId}`` (3000/min).
        """
        await self._delete("/libraries/{libraryId}/messages/{messageId}", libraryId=library_id, messageId=message_id)

    # -- graphics ----------------------------------------------------------------------------

    def list_graphics(self, library_id: str) -> AsyncGenerator[Graphic, None]:
        """The graphics of a library, page by page.

        Not in the fact sheet (which lists only upload and delete): UNCERTAIN, verify on a tenant.

        Endpoint: ``GET /libraries/{libraryId}/graphics`` (brand limit only).
        """
        return self._list("/libraries/{libraryId}/graphics", Graphic, libraryId=library_id)

    async def get_graphic(self, library_id: str, graphic_id: str) -> Graphic:
        """One graphic.

        Not in the fact sheet (which lists only upload and delete): UNCERTAIN, verify on a tenant.

        Endpoint: ``GET /libraries/{libraryId}/graphics/{graphicId}`` (brand limit only).
        """
        template = "/libraries/{libraryId}/graphics/{graphicId}"
        return await self._get(template, Graphic, libraryId=library_id, graphicId=graphic_id)

    async def upload_graphic(self, library_id: str, body: Body) -> str:
        """Add an image that Qualtrics fetches from a URL; returns the graphic's id (``IM_…``).

        ``body`` is a :class:`~qualtrics_async.models.GraphicUpload` (or a dict):
        ``file_url``, ``content_type`` (image/jpeg, image/gif or image/png), and optionally
        ``name`` and ``folder``. To upload a local file, use :meth:`upload_graphic_file`.

        Endpoint: ``POST /libraries/{libraryId}/graphics`` (3000/min).
        """
        return await self._create_id("/libraries/{libraryId}/graphics", body, libraryId=library_id)

    async def upload_graphic_file(
        self,
        library_id: str,
        source: str | os.PathLike[str] | bytes,
        *,
        content_type: GraphicType,
        name: str | None = None,
        folder: str | None = None,
    ) -> str:
        """Upload an image file (multipart/form-data, 5 MB at most); returns its id (``IM_…``).

        Endpoint: ``POST /libraries/{libraryId}/graphics`` (3000/min).
        """
        if isinstance(source, bytes):
            content, filename = source, name or "graphic"
        else:
            path = anyio.Path(os.fspath(source))
            content, filename = await path.read_bytes(), path.name
        if len(content) > MAX_UPLOAD_BYTES:
            raise ConfigurationError(
                f"the image is {len(content):,} bytes; Qualtrics takes files up to 5 MB: resize or compress it"
            )
        parts = [FormPart("file", content, filename, content_type)]
        parts += [FormPart(key, value.encode()) for key, value in (("name", name), ("folder", folder)) if value]
        body, form_type = multipart_body(parts)
        created: Created | None = await self._client.request(
            "POST",
            build_path("/libraries/{libraryId}/graphics", libraryId=library_id),
            result_type=Created,
            content=body,
            content_type=form_type,
        )
        if created is None:
            raise ResponseDecodeError("the answer has no 'result' (expected the graphic's id)", method="POST")
        return created.id

    async def delete_graphic(self, library_id: str, graphic_id: str) -> None:
        """Delete a graphic.

        Endpoint: ``DELETE /libraries/{libraryId}/graphics/{graphicId}`` (3000/min).
        """
        await self._delete("/libraries/{libraryId}/graphics/{graphicId}", libraryId=library_id, graphicId=graphic_id)


class EventSubscriptions(_AdminResource):
    """Event subscriptions (webhooks): management only (``/eventsubscriptions``).

    These are **brand-administrator** endpoints (others get a 403), limited to 120 requests
    a minute. A subscription's ``sharedKey`` is a **secret**: Qualtrics signs every
    delivery with it (HMAC-SHA512 of ``MSG``), so keep it in a secret store, never in logs or
    code; :class:`~qualtrics_async.models.EventSubscriptionCreate` masks it in its ``repr``,
    the client never logs request bodies, and Qualtrics never returns it.

    Example::

        sub_id = await client.event_subscriptions.create(
            EventSubscriptionCreate(
                topics="surveyengine.completedResponse.SV_123",
                publication_url="https://hooks.example.com/qualtrics",
                shared_key=os.environ["WEBHOOK_KEY"],
            )
        )
    """

    __slots__ = ()

    def list(self) -> AsyncGenerator[EventSubscription, None]:
        """Every event subscription of the brand (brand administrators only).

        Endpoint: ``GET /eventsubscriptions`` (120/min).
        """
        return self._list("/eventsubscriptions", EventSubscription)

    async def create(self, body: Body) -> str:
        """Subscribe ``publicationUrl`` to a topic; returns the subscription's id (``SUB_…``).

        ``body`` is a :class:`~qualtrics_async.models.EventSubscriptionCreate` (or a dict
        with ``topics``, ``publicationUrl``, ``encrypt``, ``sharedKey``). The ``sharedKey``
        is a secret (see the class). Brand administrators only.

        Endpoint: ``POST /eventsubscriptions`` (120/min).

        Raises:
            BadRequestError: an unknown topic or an invalid URL.
            PermissionDeniedError: not a brand administrator.
        """
        wire = _wire(body)
        if not wire.get("sharedKey"):
            logger.warning(
                "creating an event subscription without a sharedKey: its deliveries cannot be verified "
                "(qualtrics_async.webhooks needs the key to check their HMAC)"
            )
        if str(wire.get("publicationUrl", "")).startswith("http://"):
            logger.warning("the event subscription's publicationUrl is plain http: deliveries travel unencrypted")
        with _masked(wire, "sharedKey"):
            return await self._create_id("/eventsubscriptions", body)

    async def get(self, subscription_id: str) -> EventSubscription:
        """One event subscription (without its ``sharedKey``; brand administrators only).

        Endpoint: ``GET /eventsubscriptions/{subscriptionId}`` (120/min).
        """
        return await self._get(
            "/eventsubscriptions/{subscriptionId}", EventSubscription, subscriptionId=subscription_id
        )

    async def delete(self, subscription_id: str) -> None:
        """Stop a subscription's deliveries and delete it (brand administrators only).

        Endpoint: ``DELETE /eventsubscriptions/{subscriptionId}`` (120/min).
        """
        await self._delete("/eventsubscriptions/{subscriptionId}", subscriptionId=subscription_id)


class LegacyMailingLists(_AdminResource):
    """Research Core ("Insights Platform") mailing lists and their contacts (``/mailinglists``).

    **Retired:** Qualtrics retired these Research Core endpoints on 2026-06-30 in favour of
    XM Directory; use ``client.mailing_lists`` and ``client.contacts`` instead. Kept,
    read-only, for brands not yet migrated and for reading old lists.
    """

    __slots__ = ()

    def list(self) -> AsyncGenerator[LegacyMailingList, None]:
        """Every Research Core mailing list, page by page.

        Retired by Qualtrics in 2026 in favour of XM Directory (``client.mailing_lists``).

        Endpoint: ``GET /mailinglists`` (3000/min).
        """
        return self._list("/mailinglists", LegacyMailingList)

    async def get(self, mailing_list_id: str) -> LegacyMailingList:
        """One Research Core mailing list (``ML_…``).

        Retired by Qualtrics in 2026 in favour of XM Directory (``client.mailing_lists``).

        Endpoint: ``GET /mailinglists/{mailingListId}`` (3000/min).

        Raises:
            NotFoundError: no such mailing list.
        """
        return await self._get("/mailinglists/{mailingListId}", LegacyMailingList, mailingListId=mailing_list_id)

    def list_contacts(self, mailing_list_id: str) -> AsyncGenerator[LegacyContact, None]:
        """The contacts (``MLRP_…``) of a Research Core mailing list, page by page.

        Retired by Qualtrics in 2026 in favour of XM Directory (``client.contacts``).

        Endpoint: ``GET /mailinglists/{mailingListId}/contacts`` (3000/min).
        """
        return self._list("/mailinglists/{mailingListId}/contacts", LegacyContact, mailingListId=mailing_list_id)


__all__ = [
    "Divisions",
    "EventSubscriptions",
    "Groups",
    "LegacyMailingLists",
    "Libraries",
    "Organizations",
    "Users",
]


def _wire(body: Body) -> dict[str, Any]:
    """The body's wire fields (camelCase names), to read a value from it."""
    wire = msgspec.to_builtins(body) if isinstance(body, msgspec.Struct) else dict(body)
    return wire if isinstance(wire, dict) else {}


@contextlib.contextmanager
def _masked(wire: dict[str, Any], field: str) -> Iterator[None]:
    """Register ``wire[field]`` (a password, a shared key) with the log filter during a call,
    so an error message or log line that echoes it is masked."""
    value = wire.get(field)
    guard = Secret(value) if isinstance(value, str) and value else None
    try:
        yield
    finally:
        del guard
