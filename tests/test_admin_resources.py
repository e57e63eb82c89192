"""Administration resources against the emulator over loopback (qualtrics-api.md §10, §11, §12.1).

Round trips (create, get, list, update, delete, then 404) for every family, pagination
over more than one page, the errors Qualtrics answers with, and secrets kept secret
(API tokens as :class:`Secret`, shared keys and passwords masked).
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any, cast

import aiohttp
import pytest

from qualtrics_async import RateLimits
from qualtrics_async._secret import Secret
from qualtrics_async.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QualtricsError,
    ResponseDecodeError,
)
from qualtrics_async.models import (
    DivisionCreate,
    DivisionUpdate,
    EventSubscriptionCreate,
    GraphicUpload,
    GroupCreate,
    GroupUpdate,
    LibraryMessageCreate,
    LibraryMessageUpdate,
    UserCreate,
    UserUpdate,
)
from qualtrics_async.testing import QualtricsEmulator
from qualtrics_async.testing._admin import AdminRoutes
from tests.conftest import TOKEN, make_client

SHARED_KEY = "shared-KEY-9d8c7b6a"
PASSWORD = "pw-SECRET-1e2f3a"


def admin_of(emulator: QualtricsEmulator) -> AdminRoutes:
    """The emulator's administration store (to compare what the client fetched)."""
    return cast(AdminRoutes, emulator.families["admin"])


def new_user(number: int = 1, **changes: Any) -> UserCreate:
    fields: dict[str, Any] = {
        "username": f"new.user.{number}@example.com",
        "first_name": "Nadia",
        "last_name": "Novak",
        "user_type": "UT_BRANDADMIN",
        "email": f"new.user.{number}@example.com",
        "password": PASSWORD,
        "language": "EN",
    }
    return UserCreate(**(fields | changes))


# --- organizations and divisions ---------------------------------------------------------------


async def test_A5_organization_get_answers_the_whoami_brand_within_its_5_per_minute_limit() -> None:
    """``GET /organizations/{organizationId}`` allows 5 a minute: the client paces itself (the
    window is shrunk to one second on both sides so the test runs fast) and is never throttled."""
    fast = RateLimits(window_seconds=1.0)
    async with (
        QualtricsEmulator(seed=1, rate_limits=fast) as emulator,
        make_client(emulator, rate_limits=fast) as client,
    ):
        me = await client.whoami()
        assert me.brand_id is not None
        for _ in range(6):
            org = await client.organizations.get(me.brand_id)
            assert org.id == me.brand_id
            assert org.name == admin_of(emulator).organization["name"]
        with pytest.raises(NotFoundError):
            await client.organizations.get("BR_doesNotExist00")
        assert emulator.stats.throttled == 0


async def test_division_create_get_update_round_trip(emulator: QualtricsEmulator) -> None:
    admin_id = admin_of(emulator).user_id
    async with make_client(emulator) as client:
        body = DivisionCreate(name="Research", division_admins=[admin_id], permissions={"manageUsers": True})
        division_id = await client.divisions.create(body)
        assert division_id.startswith("DV_")
        division = await client.divisions.get(division_id)
        assert (division.name, division.status, division.division_admins) == ("Research", "Active", [admin_id])
        assert division.permissions == {"manageUsers": True}
        await client.divisions.update(division_id, DivisionUpdate(name="Research EU", status="Disabled"))
        changed = await client.divisions.get(division_id)
        assert (changed.name, changed.status, changed.permissions) == ("Research EU", "Disabled", {"manageUsers": True})
        await client.divisions.update(division_id, {"status": "Active"})  # a plain dict works too
        assert (await client.divisions.get(division_id)).status == "Active"
        with pytest.raises(NotFoundError):
            await client.divisions.get("DV_doesNotExist00")


async def test_division_errors_name_the_bad_field(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(BadRequestError, match="divisionAdmins"):
            await client.divisions.create(DivisionCreate(name="X", division_admins=["UR_nobody"]))
        division_id = await client.divisions.create({"name": "Y"})
        with pytest.raises(BadRequestError, match="status"):
            await client.divisions.update(division_id, {"status": "Paused"})
        with pytest.raises(BadRequestError, match="Unknown field"):
            await client.divisions.update(division_id, {"Name": "case matters"})


# --- groups ------------------------------------------------------------------------------------


async def test_groups_list_yields_every_group(emulator: QualtricsEmulator) -> None:
    expected = [g["id"] for g in admin_of(emulator).groups.values()]
    async with make_client(emulator) as client:
        listed = [group async for group in client.groups.list()]
    assert [g.id for g in listed] == expected
    assert all(g.name and g.type and g.type.startswith("GT_") for g in listed)


async def test_group_create_get_update_list_delete_then_404(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        division_id = await client.divisions.create({"name": "Ops"})
        group_id = await client.groups.create(GroupCreate(type="GT_analysts01", name="Analysts"))
        assert group_id.startswith("GR_")
        group = await client.groups.get(group_id)
        assert (group.id, group.name, group.type, group.division_id) == (group_id, "Analysts", "GT_analysts01", None)
        await client.groups.update(group_id, GroupUpdate(name="Senior analysts", division_id=division_id))
        group = await client.groups.get(group_id)
        assert (group.name, group.division_id) == ("Senior analysts", division_id)
        assert group_id in [g.id async for g in client.groups.list()]
        await client.groups.delete(group_id)
        assert group_id not in [g.id async for g in client.groups.list()]
        with pytest.raises(NotFoundError):
            await client.groups.get(group_id)
        with pytest.raises(NotFoundError):
            await client.groups.delete(group_id)
        with pytest.raises(BadRequestError, match="group type"):
            await client.groups.create({"type": "analysts", "name": "No type id"})


async def test_group_members_add_list_remove(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    user_id = store.users.values()[5]["id"]
    async with make_client(emulator) as client:
        group_id = await client.groups.create({"type": "GT_team", "name": "Team"})
        assert [u async for u in client.groups.list_members(group_id)] == []
        await client.groups.add_member(group_id, user_id)
        await client.groups.add_member(group_id, user_id)  # a second add changes nothing
        members = [u async for u in client.groups.list_members(group_id)]
        assert [m.id for m in members] == [user_id]
        assert members[0].username == store.users.get(user_id)["username"]
        await client.groups.remove_member(group_id, user_id)
        assert [u async for u in client.groups.list_members(group_id)] == []
        with pytest.raises(NotFoundError):
            await client.groups.remove_member(group_id, user_id)
        with pytest.raises(NotFoundError):
            await client.groups.add_member(group_id, "UR_nobody0000000")


# --- users -------------------------------------------------------------------------------------


async def test_users_list_follows_offset_pages_to_every_user(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    async with make_client(emulator) as client:
        users = [user async for user in client.users.list()]
    assert len(users) == len(store.users) > 100  # more than one page
    assert [u.id for u in users] == [u["id"] for u in store.users.values()]
    assert users[0].id == store.user_id
    assert emulator.stats.by_route["GET /users"] == 2


async def test_user_create_get_update_list_delete_then_404(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        user_id = await client.users.create(new_user(time_zone="Europe/Paris"))
        assert user_id.startswith("UR_")
        user = await client.users.get(user_id)
        # Recorded users carry accountStatus ("active"), and neither status nor timeZone.
        assert (user.username, user.first_name, user.user_type, user.language, user.account_status) == (
            "new.user.1@example.com",
            "Nadia",
            "UT_BRANDADMIN",
            "EN",
            "active",
        )
        assert user.account_creation_date is not None
        raw = await client.request("GET", f"/users/{user_id}")
        assert "password" not in raw
        assert PASSWORD not in str(raw)
        await client.users.update(user_id, UserUpdate(status="Disabled", language="DE"))
        user = await client.users.get(user_id)
        assert (user.account_status, user.language, user.first_name) == ("disabled", "DE", "Nadia")
        assert user_id in [u.id async for u in client.users.list()]
        await client.users.delete(user_id)
        with pytest.raises(NotFoundError):
            await client.users.get(user_id)
        assert user_id not in [u.id async for u in client.users.list()]


async def test_user_create_errors_are_clear(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        await client.users.create(new_user(2))
        with pytest.raises(ConflictError, match="already exists"):
            await client.users.create(new_user(2))
        with pytest.raises(BadRequestError, match="password"):
            await client.users.create({"username": "x@example.com", "firstName": "X", "lastName": "Y"})
        with pytest.raises(BadRequestError, match="userType"):
            await client.users.create(new_user(3, user_type="admin"))


async def test_I1_user_api_token_is_a_secret_and_regenerating_replaces_it(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        async with make_client(emulator) as client:
            user_id = await client.users.create(new_user())
            with pytest.raises(NotFoundError):
                await client.users.get_api_token(user_id)  # no token until one is generated
            first = await client.users.regenerate_api_token(user_id)
            assert isinstance(first, Secret)
            assert first.reveal() == admin_of(emulator).api_tokens[user_id]
            assert first.reveal() not in repr(first) + str(first) + f"{first}"
            assert await client.users.get_api_token(user_id) == first
            second = await client.users.regenerate_api_token(user_id)
            assert second != first
            assert (await client.users.get_api_token(user_id)).reveal() == second.reveal()
    for token in (first.reveal(), second.reveal()):
        assert token not in caplog.text


async def test_seeded_user_api_token_matches_the_emulator(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    user_id = store.users.values()[7]["id"]
    async with make_client(emulator) as client:
        token = await client.users.get_api_token(user_id)
        assert token.reveal() == store.api_tokens[user_id]
        with pytest.raises(NotFoundError):
            await client.users.get_api_token("UR_nobody0000000")


async def test_I1_user_bodies_never_show_the_password() -> None:
    body = new_user()
    assert PASSWORD not in repr(body)
    assert PASSWORD not in str(body)
    assert PASSWORD not in repr(UserUpdate(password=PASSWORD))
    assert "password=None" in repr(UserUpdate(status="Enabled"))


async def test_create_without_a_result_is_a_clear_error(emulator: QualtricsEmulator) -> None:
    emulator.inject("POST", "/groups", body=b'{"meta": {"httpStatus": "200 - OK", "requestId": "r-1"}}')
    async with make_client(emulator) as client:
        with pytest.raises(ResponseDecodeError, match="no 'result'"):
            await client.groups.create({"type": "GT_x", "name": "X"})


# --- libraries ---------------------------------------------------------------------------------


async def test_libraries_list_the_users_own_and_each_groups(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    async with make_client(emulator) as client:
        libraries = [library async for library in client.libraries.list()]
    assert [lib.library_id for lib in libraries] == [store.user_id, *(g["id"] for g in store.groups.values())]
    assert libraries[0].library_name == "Emma Ulator"


async def test_library_messages_list_and_filter_by_category(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    library_id = store.user_id
    async with make_client(emulator) as client:
        messages = [m async for m in client.libraries.list_messages(library_id)]
        invites = [m async for m in client.libraries.list_messages(library_id, category="invite")]
        with pytest.raises(NotFoundError):
            _ = [m async for m in client.libraries.list_messages("UR_nobody0000000")]
    assert [m.id for m in messages] == [m["id"] for m in store.messages.of(library_id).values()]
    assert all(m.messages is None for m in messages)  # list elements leave the texts out
    assert [m.category for m in invites] == ["invite"]


async def test_library_message_create_get_update_list_delete_then_404(emulator: QualtricsEmulator) -> None:
    group_library = admin_of(emulator).groups.values()[0]["id"]
    async with make_client(emulator) as client:
        body = LibraryMessageCreate(category="reminder", description="Nudge", messages={"EN": "<p>Reminder</p>"})
        message_id = await client.libraries.create_message(group_library, body)
        assert message_id.startswith("MS_")
        message = await client.libraries.get_message(group_library, message_id)
        assert (message.category, message.description, message.messages) == (
            "reminder",
            "Nudge",
            {"EN": "<p>Reminder</p>"},
        )
        update = LibraryMessageUpdate(messages={"EN": "<p>Last call</p>", "FR": "<p>Dernier rappel</p>"})
        await client.libraries.update_message(group_library, message_id, update)
        message = await client.libraries.get_message(group_library, message_id)
        assert (message.description, message.messages) == (
            "Nudge",
            {"EN": "<p>Last call</p>", "FR": "<p>Dernier rappel</p>"},
        )
        reminders = [m.id async for m in client.libraries.list_messages(group_library, category="reminder")]
        assert reminders == [message_id]
        await client.libraries.delete_message(group_library, message_id)
        with pytest.raises(NotFoundError):
            await client.libraries.get_message(group_library, message_id)
        with pytest.raises(BadRequestError, match="category"):
            await client.libraries.create_message(
                group_library, {"category": "bogus", "description": "d", "messages": {"EN": "x"}}
            )


async def test_library_graphics_upload_get_list_delete_then_404(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    library_id = store.user_id
    async with make_client(emulator) as client:
        seeded = [g async for g in client.libraries.list_graphics(library_id)]
        assert [g.id for g in seeded] == [g["id"] for g in store.graphics.of(library_id).values()]
        upload = GraphicUpload(
            file_url="https://cdn.example.com/img/badge.png", content_type="image/png", folder="Badges"
        )
        graphic_id = await client.libraries.upload_graphic(library_id, upload)
        assert graphic_id.startswith("IM_")
        graphic = await client.libraries.get_graphic(library_id, graphic_id)
        assert (graphic.name, graphic.content_type, graphic.folder) == ("badge.png", "image/png", "Badges")
        assert graphic_id in [g.id async for g in client.libraries.list_graphics(library_id)]
        await client.libraries.delete_graphic(library_id, graphic_id)
        with pytest.raises(NotFoundError):
            await client.libraries.get_graphic(library_id, graphic_id)
        with pytest.raises(NotFoundError):
            await client.libraries.delete_graphic(library_id, graphic_id)
        with pytest.raises(BadRequestError, match="contentType"):
            await client.libraries.upload_graphic(
                library_id, {"fileUrl": "https://x.example/a.bmp", "contentType": "image/bmp"}
            )


async def test_emulator_accepts_a_multipart_graphic_upload_up_to_5_mb(emulator: QualtricsEmulator) -> None:
    """The emulator also takes the multipart form of the upload (§11), as Qualtrics does."""
    library_id = admin_of(emulator).user_id
    url = f"{emulator.api_url}/libraries/{library_id}/graphics"
    async with aiohttp.ClientSession(headers={"X-API-TOKEN": TOKEN}) as http:
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(b"\x89PNG" + b"\0" * 2_000_000), filename="big.png", content_type="image/png")
        form.add_field("folder", "Uploads")
        async with http.post(url, data=form) as resp:
            assert resp.status == 200
            graphic_id = (await resp.json())["result"]["id"]
        too_big = aiohttp.FormData()
        too_big.add_field(
            "file", io.BytesIO(b"\0" * (5 * 1024 * 1024 + 1)), filename="huge.gif", content_type="image/gif"
        )
        async with http.post(url, data=too_big) as resp:
            assert resp.status == 413
    graphic = admin_of(emulator).graphics.of(library_id).get(graphic_id)
    assert graphic == {"id": graphic_id, "name": "big.png", "contentType": "image/png", "folder": "Uploads"}


# --- event subscriptions -----------------------------------------------------------------------


async def test_event_subscription_create_get_list_delete_then_404(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    store = admin_of(emulator)
    body = EventSubscriptionCreate(
        topics="surveyengine.completedResponse.SV_abc123",
        publication_url="https://hooks.example.com/q",
        encrypt=False,
        shared_key=SHARED_KEY,
    )
    assert SHARED_KEY not in repr(body)
    with caplog.at_level(logging.DEBUG):
        async with make_client(emulator) as client:
            subscription_id = await client.event_subscriptions.create(body)
            assert subscription_id.startswith("SUB_")
            assert store.shared_keys[subscription_id] == SHARED_KEY
            subscription = await client.event_subscriptions.get(subscription_id)
            assert (subscription.topics, subscription.publication_url, subscription.encrypted) == (
                "surveyengine.completedResponse.SV_abc123",
                "https://hooks.example.com/q",
                False,
            )
            raw = await client.request("GET", f"/eventsubscriptions/{subscription_id}")
            assert "sharedKey" not in raw
            listed = [s.id async for s in client.event_subscriptions.list()]
            assert listed == [s["id"] for s in store.subscriptions.values()]
            assert subscription_id in listed
            await client.event_subscriptions.delete(subscription_id)
            with pytest.raises(NotFoundError):
                await client.event_subscriptions.get(subscription_id)
            assert subscription_id not in [s.id async for s in client.event_subscriptions.list()]
    assert SHARED_KEY not in caplog.text


async def test_event_subscription_rejects_unknown_topics_and_keyless_encryption(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        with pytest.raises(BadRequestError, match="topic"):
            await client.event_subscriptions.create({"topics": "survey.done", "publicationUrl": "https://h.example"})
        with pytest.raises(BadRequestError, match="sharedKey"):
            await client.event_subscriptions.create(
                EventSubscriptionCreate(topics="*", publication_url="https://h.example", encrypt=True)
            )
        with pytest.raises(BadRequestError, match="publicationUrl"):
            await client.event_subscriptions.create({"topics": "threesixty.*", "publicationUrl": "ftp://h.example"})


async def test_event_subscriptions_need_the_subscriptions_scope() -> None:
    """An OAuth token without manage:subscriptions can read subscriptions but not create them."""
    async with (
        QualtricsEmulator(seed=1, oauth_scopes=("read:subscriptions",)) as emulator,
        make_client(emulator, client_id="emulator-client", client_secret="emulator-secret") as client,
    ):
        assert len([s async for s in client.event_subscriptions.list()]) == 1
        with pytest.raises(PermissionDeniedError):
            await client.event_subscriptions.create({"topics": "*", "publicationUrl": "https://h.example"})


# --- legacy mailing lists ----------------------------------------------------------------------


async def test_legacy_mailing_lists_list_get_and_404(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    async with make_client(emulator) as client:
        lists = [ml async for ml in client.legacy_mailing_lists.list()]
        assert [ml.id for ml in lists] == [ml["id"] for ml in store.mailing_lists.values()]
        one = await client.legacy_mailing_lists.get(lists[1].id)
        assert (one.id, one.name, one.library_id) == (lists[1].id, "Pilot", store.user_id)
        with pytest.raises(NotFoundError):
            await client.legacy_mailing_lists.get("ML_nothing0000000")


async def test_legacy_mailing_list_contacts_follow_pages_and_empty_lists_are_empty(emulator: QualtricsEmulator) -> None:
    store = admin_of(emulator)
    panel, _pilot, empty = (ml["id"] for ml in store.mailing_lists.values())
    async with make_client(emulator) as client:
        contacts = [c async for c in client.legacy_mailing_lists.list_contacts(panel)]
        assert [c async for c in client.legacy_mailing_lists.list_contacts(empty)] == []
        with pytest.raises(NotFoundError):
            _ = [c async for c in client.legacy_mailing_lists.list_contacts("ML_nothing0000000")]
    assert len(contacts) == 130  # two offset pages
    assert [c.id for c in contacts] == [c["id"] for c in store.list_contacts.of(panel).values()]
    assert all(c.id.startswith("MLRP_") and c.external_data_reference and c.embedded_data for c in contacts)


async def test_I5_a_subscription_without_a_shared_key_or_over_http_is_warned_about(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="qualtrics_async")
    async with make_client(emulator) as client:
        await client.event_subscriptions.create(
            {"topics": "surveyengine.completedResponse.SV_1", "publicationUrl": "http://hooks.example/q"}
        )
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "without a sharedKey" in messages
    assert "plain http" in messages


async def test_library_graphic_file_upload_round_trips(emulator: QualtricsEmulator, tmp_path: Any) -> None:
    library_id = admin_of(emulator).user_id
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 2048
    image = tmp_path / "logo.png"
    image.write_bytes(png)
    async with make_client(emulator) as client:
        from_path = await client.libraries.upload_graphic_file(library_id, image, content_type="image/png")
        from_bytes = await client.libraries.upload_graphic_file(
            library_id, png, content_type="image/png", name="inline.png", folder="Logos"
        )
        first = await client.libraries.get_graphic(library_id, from_path)
        second = await client.libraries.get_graphic(library_id, from_bytes)
        before = emulator.stats.requests
        with pytest.raises(ConfigurationError, match="5 MB"):
            await client.libraries.upload_graphic_file(
                library_id, b"x" * (5 * 1024 * 1024 + 1), content_type="image/png"
            )
        assert emulator.stats.requests == before
    assert (first.name, first.content_type) == ("logo.png", "image/png")
    assert (second.name, second.folder) == ("inline.png", "Logos")


async def test_I1_a_password_echoed_by_the_server_is_masked_in_logs(
    emulator: QualtricsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    password = "Sup3r-secret-pa55word"
    emulator.inject("POST", "/users", status=429, error_message=f"slow down, {password}")
    caplog.set_level(logging.DEBUG, logger="qualtrics_async")
    body = {
        "username": "new.user@example.com",
        "password": password,
        "firstName": "New",
        "lastName": "User",
        "userType": "UT_PARTICIPANT",
        "email": "new.user@example.com",
        "language": "EN",
    }
    async with make_client(emulator) as client:
        # the body may not suit the emulator; the log line of the 429 retry is what matters
        with contextlib.suppress(QualtricsError):
            await client.users.create(body)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "slow down" in logged
    assert password not in logged
