"""The emulator checked against the fact sheet (qualtrics-api.md), with raw aiohttp only.

Nothing here uses the project's client: the emulator stands in for Qualtrics, so its
behaviour is pinned by what Qualtrics documents, not by what the client does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from qualtrics_async._ratelimit import RateLimits
from qualtrics_async.testing import EmulatorStats, Fault, QualtricsEmulator
from qualtrics_async.testing._data import contact_element

Json = dict[str, Any]

QUALTRICS_ID = re.compile(r"^(SV|POOL|CID|UR|BR)_[A-Za-z0-9]{15}$")

pytestmark = pytest.mark.usefixtures("server_stays_quiet")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def emulator() -> AsyncIterator[QualtricsEmulator]:
    async with QualtricsEmulator(rate_limits=None) as emu:
        yield emu


def auth(emu: QualtricsEmulator) -> dict[str, str]:
    return {"X-API-TOKEN": emu.api_token}


async def get(
    http: aiohttp.ClientSession, url: str | URL, headers: dict[str, str] | None = None, **params: str
) -> tuple[int, Json]:
    async with http.get(url, headers=headers, params=params or None) as resp:
        body: Json = await resp.json()
        return resp.status, body


async def walk(http: aiohttp.ClientSession, url: str, emu: QualtricsEmulator) -> tuple[list[Json], list[str]]:
    """Follow ``nextPage`` verbatim; return all elements and the URLs fetched."""
    elements: list[Json] = []
    urls: list[str] = []
    next_url: str | None = url
    while next_url is not None:
        assert len(urls) < 50, "pagination does not terminate"
        urls.append(next_url)
        status, body = await get(http, URL(next_url, encoded=True), auth(emu))
        assert status == 200, body
        elements.extend(body["result"]["elements"])
        next_url = body["result"]["nextPage"]
    return elements, urls


async def eventually(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


def assert_error(body: Json, status: int) -> None:
    meta = body["meta"]
    assert meta["httpStatus"].startswith(f"{status} - ")
    assert uuid.UUID(meta["requestId"]).version == 4
    assert meta["error"]["errorMessage"]
    assert meta["error"]["errorCode"]
    assert "result" not in body


# --- envelope, routing -----------------------------------------------------------------------


async def test_envelope_and_request_id(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    request_ids = set()
    for _ in range(2):
        async with http.get(emulator.api_url + "/whoami", headers=auth(emulator)) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            body = await resp.json()
        assert body["meta"]["httpStatus"] == "200 - OK"
        assert "error" not in body["meta"]
        request_ids.add(body["meta"]["requestId"])
        assert uuid.UUID(body["meta"]["requestId"]).version == 4
    assert len(request_ids) == 2
    result = body["result"]
    assert set(result) == {
        "brandId",
        "userId",
        "userName",
        "accountType",
        "firstName",
        "lastName",
        "email",
        "datacenter",
    }
    assert result == emulator.data.whoami
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.api_url == emulator.base_url + "/API/v3"


async def test_unknown_routes_are_404_envelopes(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    """The gateway's own recorded not-found answer: no errorCode, no requestId."""
    for method, url in [
        ("GET", emulator.api_url + "/no-such-thing"),
        ("POST", emulator.api_url + "/whoami"),
        ("GET", emulator.api_url),
        ("GET", emulator.base_url + "/elsewhere"),
        ("GET", f"{emulator.api_url}/surveys/{emulator.data.surveys[0]['id']}/responses"),
    ]:
        async with http.request(method, url, headers=auth(emulator)) as resp:
            assert resp.status == 404, url
            assert resp.content_type == "application/json"
            assert await resp.json() == {
                "meta": {
                    "httpStatus": "404 - Not Found",
                    "error": {"errorMessage": "The requested resource does not exist."},
                }
            }


# --- authentication --------------------------------------------------------------------------


async def test_api_token_header(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    url = emulator.api_url + "/whoami"
    assert (await get(http, url, {"x-api-token": emulator.api_token}))[0] == 200  # header name case-insensitive
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        status, body = await get(http, url, headers)
        assert status == 400, headers  # recorded: no credentials at all is a 400, not a 401
        assert_error(body, 400)
        assert body["meta"]["error"] == {
            "errorMessage": "Expected authorization in headers, but none provided.",
            "errorCode": "ATP_2",
        }
    for headers in (
        {"X-API-TOKEN": "wrong"},
        {"X-API-TOKEN": emulator.api_token.upper()},
        {"Authorization": "Bearer not-a-token"},
    ):
        status, body = await get(http, url, headers)
        assert status == 401, headers
        assert_error(body, 401)


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def mint(http: aiohttp.ClientSession, emu: QualtricsEmulator, **form: str) -> tuple[int, Json]:
    data = {"grant_type": "client_credentials", **form}
    async with http.post(
        emu.base_url + "/oauth2/token", data=data, headers=basic(emu.client_id, emu.client_secret)
    ) as resp:
        body: Json = await resp.json()
        return resp.status, body


async def test_oauth_client_credentials(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    status, token = await mint(http, emulator, scope="read:surveys  read:users")
    assert status == 200
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert token["scope"] == "read:surveys read:users"
    assert emulator.stats.tokens_issued == 1
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await get(http, emulator.api_url + "/whoami", bearer))[0] == 200


async def test_oauth_rejects_bad_clients_and_grants(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    url = emulator.base_url + "/oauth2/token"
    form = {"grant_type": "client_credentials"}
    for headers in (
        basic(emulator.client_id, "wrong"),
        basic("who", emulator.client_secret),
        {"Authorization": "Basic !!!"},
        {"Authorization": f"Bearer {emulator.api_token}"},
        {},
    ):
        async with http.post(url, data=form, headers=headers) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"] == "invalid_client"
    status, body = await mint(http, emulator, grant_type="password")
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = await mint(http, emulator, grant_type="")
    assert (status, body["error"]) == (400, "invalid_request")
    assert emulator.stats.tokens_issued == 0


async def test_tokens_expire(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator(rate_limits=None, token_ttl=0.5) as emu:
        _, first = await mint(http, emu)
        assert first["expires_in"] == 0.5
        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        assert (await get(http, emu.api_url + "/whoami", bearer))[0] == 200
        await asyncio.sleep(0.55)
        status, body = await get(http, emu.api_url + "/whoami", bearer)
        assert status == 401
        assert "expired" in body["meta"]["error"]["errorMessage"]

        _, second = await mint(http, emu)
        bearer = {"Authorization": f"Bearer {second['access_token']}"}
        assert (await get(http, emu.api_url + "/whoami", bearer))[0] == 200
        emu.expire_tokens()
        assert (await get(http, emu.api_url + "/whoami", bearer))[0] == 401
        assert (await get(http, emu.api_url + "/whoami", auth(emu)))[0] == 200  # API tokens are unaffected
        assert emu.stats.tokens_issued == 2


# --- data and pagination ---------------------------------------------------------------------


def test_data_is_deterministic_and_qualtrics_shaped() -> None:
    one, again, other = (QualtricsEmulator(seed=s).data for s in (7, 7, 8))
    assert one == again
    assert one.surveys != other.surveys
    ids = [s["id"] for s in one.surveys] + [d["directoryId"] for d in one.directories]
    ids += [c["contactId"] for c in one.contacts[one.default_directory_id]]
    ids += [one.whoami["userId"], one.whoami["brandId"]]
    assert all(QUALTRICS_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    names = " ".join(s["name"] for s in one.surveys)
    assert "/" in names
    assert ":" in names
    assert any(ord(ch) > 127 for ch in names)
    assert all(s["creationDate"].endswith("Z") for s in one.surveys)


async def test_surveys_offset_pagination(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    elements, urls = await walk(http, emulator.api_url + "/surveys?pageSize=50", emulator)
    assert elements == emulator.data.surveys
    assert len(urls) == 3  # 120 surveys in pages of 50
    assert URL(urls[1]).query == {"pageSize": "50", "offset": "50"}
    assert urls[2].startswith(emulator.api_url + "/surveys?")
    assert set(elements[0]) == {"id", "name", "ownerId", "lastModified", "creationDate", "isActive"}
    status, body = await get(http, emulator.api_url + "/surveys", auth(emulator))
    assert status == 200
    assert len(body["result"]["elements"]) == 100  # the default data spans two pages
    assert URL(body["result"]["nextPage"]).query["offset"] == "100"


async def test_surveys_page_size_cap(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator(rate_limits=None, surveys=150, contacts=0) as emu:
        status, body = await get(http, emu.api_url + "/surveys", auth(emu), pageSize="1000")
        assert status == 200
        assert len(body["result"]["elements"]) == 100
        assert URL(body["result"]["nextPage"]).query["offset"] == "100"
        for bad in ({"pageSize": "0"}, {"pageSize": "ten"}, {"offset": "-1"}):
            status, body = await get(http, emu.api_url + "/surveys", auth(emu), **bad)
            assert status == 400, bad
            assert_error(body, 400)


async def test_get_survey(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    survey_id = emulator.data.surveys[0]["id"]
    status, body = await get(http, f"{emulator.api_url}/surveys/{survey_id}", auth(emulator))
    assert status == 200
    survey = body["result"]
    assert survey["id"] == survey_id
    for key in (
        "name",
        "ownerId",
        "organizationId",
        "isActive",
        "creationDate",
        "lastModifiedDate",
        "expiration",
        "questions",
        "exportColumnMap",
        "blocks",
        "flow",
        "embeddedData",
        "comments",
        "loopAndMerge",
        "responseCounts",
    ):
        assert key in survey, key
    assert set(survey["responseCounts"]) == {"auditable", "generated", "deleted"}
    assert all(qid.startswith("QID") and "questionType" in q for qid, q in survey["questions"].items())
    status, body = await get(http, emulator.api_url + "/surveys/SV_000000000000000", auth(emulator))
    assert status == 404
    assert_error(body, 404)


async def test_directories_skip_token_pagination(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    elements, urls = await walk(http, emulator.api_url + "/directories?pageSize=1", emulator)
    assert elements == emulator.data.directories
    assert len(elements) >= 2
    assert len(urls) == len(elements)
    assert "skipToken" in URL(urls[1]).query
    default = next(d for d in elements if d["isDefault"])
    assert default["contactCount"] == 250
    assert any(d["contactCount"] == 0 for d in elements)
    assert set(default["deduplicationCriteria"]) == {"email", "firstName", "lastName", "externalDataReference", "phone"}


async def test_contacts_walk_every_page(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    directory = emulator.data.default_directory_id
    start = f"{emulator.api_url}/directories/{directory}/contacts?includeEmbedded=true"
    elements, urls = await walk(http, start, emulator)
    assert len(urls) == 3  # 250 contacts, 100 per page by default
    assert elements == [contact_element(c, include_embedded=True) for c in emulator.data.contacts[directory]]
    assert all(URL(u).query.get("includeEmbedded") == "true" for u in urls)  # nextPage keeps the query

    plain, _ = await walk(http, f"{emulator.api_url}/directories/{directory}/contacts?pageSize=100", emulator)
    assert set(plain[0]) == {
        "contactId",
        "firstName",
        "lastName",
        "email",
        "phone",
        "extRef",
        "language",
        "unsubscribed",
    }
    assert len({c["contactId"] for c in plain}) == 250


async def test_empty_directory(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    url = f"{emulator.api_url}/directories/{emulator.data.empty_directory_id}/contacts"
    status, body = await get(http, url, auth(emulator))
    assert status == 200
    assert body["result"] == {"elements": [], "nextPage": None}


async def test_contacts_page_size_and_skip_token_validation(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    directory = emulator.data.default_directory_id
    url = f"{emulator.api_url}/directories/{directory}/contacts"
    assert (await get(http, url, auth(emulator), pageSize="100"))[0] == 200
    for params in ({"pageSize": "101"}, {"pageSize": "0"}, {"skipToken": "not-a-token"}, {"includeEmbedded": "maybe"}):
        status, body = await get(http, url, auth(emulator), **params)
        assert status == 400, params
        assert_error(body, 400)
    # A real token from another listing is rejected too: tokens are bound to their collection.
    _, body = await get(http, emulator.api_url + "/directories", auth(emulator), pageSize="1")
    foreign = URL(body["result"]["nextPage"]).query["skipToken"]
    assert (await get(http, url, auth(emulator), skipToken=foreign))[0] == 400


async def test_get_contact(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    directory = emulator.data.default_directory_id
    contact = emulator.data.contacts[directory][3]
    status, body = await get(
        http, f"{emulator.api_url}/directories/{directory}/contacts/{contact['contactId']}", auth(emulator)
    )
    assert status == 200
    assert body["result"] == contact
    assert isinstance(body["result"]["creationDate"], int)  # epoch ms, qualtrics-api.md §5.1
    for path in (
        f"/directories/{directory}/contacts/CID_000000000000000",
        f"/directories/POOL_000000000000000/contacts/{contact['contactId']}",
        "/directories/POOL_000000000000000/contacts",
    ):
        status, body = await get(http, emulator.api_url + path, auth(emulator))
        assert status == 404, path
        assert_error(body, 404)


# --- rate limits -----------------------------------------------------------------------------


async def test_sliding_window_answers_429_and_unauthenticated_calls_are_not_counted(
    http: aiohttp.ClientSession,
) -> None:
    limits = RateLimits(brand_per_minute=5, include_defaults=False, window_seconds=1.0)
    async with QualtricsEmulator(rate_limits=limits, limit_mode="sliding") as emu:
        url = emu.api_url + "/whoami"
        for _ in range(8):  # no brand can be charged for these
            assert (await get(http, url))[0] == 400  # no credentials: ATP_2
        started = time.monotonic()
        for _ in range(5):
            assert (await get(http, url, auth(emu)))[0] == 200
        async with http.get(url, headers=auth(emu)) as resp:
            assert resp.status == 429
            assert "Retry-After" not in resp.headers
            body = await resp.json()
        assert_error(body, 429)
        assert "too many requests" in body["meta"]["error"]["errorMessage"].lower()
        assert emu.stats.throttled == 1
        await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()) + 0.05)
        assert (await get(http, url, auth(emu)))[0] == 200
        assert emu.stats.max_in_window(1.0, exclude_statuses=(400, 429)) <= 5


async def test_retry_after_only_when_enabled(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(brand_per_minute=2, include_defaults=False, window_seconds=3.0)
    async with QualtricsEmulator(rate_limits=limits, retry_after_header=True) as emu:
        for _ in range(2):
            assert (await get(http, emu.api_url + "/whoami", auth(emu)))[0] == 200
        async with http.get(emu.api_url + "/whoami", headers=auth(emu)) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] in {"1", "2", "3"}  # whole seconds until room, >= 1


async def test_endpoint_limit_is_separate_from_brand_limit(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(brand_per_minute=None, endpoints={"GET /whoami": 2}, include_defaults=False, window_seconds=5.0)
    async with QualtricsEmulator(rate_limits=limits) as emu:
        statuses = [(await get(http, emu.api_url + "/whoami", auth(emu)))[0] for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert (await get(http, emu.api_url + "/surveys", auth(emu)))[0] == 200
        assert emu.stats.by_route["GET /whoami"] == 3


async def test_published_table_is_enforced_for_any_route(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(window_seconds=5.0)  # the published table, run 12x faster
    route = limits.route("POST", "/surveys/SV_x/export-responses")
    assert route.per_minute is not None
    per_window = math.ceil(route.per_minute)
    # sliding: exact counts (a leaky bucket drains while 100 export jobs are created)
    async with QualtricsEmulator(rate_limits=limits, limit_mode="sliding") as emu:
        url = f"{emu.api_url}/surveys/{emu.data.surveys[0]['id']}/export-responses"
        statuses = []
        for _ in range(per_window + 1):
            async with http.post(url, headers=auth(emu), json={"format": "csv"}) as resp:
                statuses.append(resp.status)
        assert statuses == [200] * per_window + [429]
        assert emu.stats.by_route[route.key or ""] == per_window + 1
        assert (await get(http, emu.api_url + "/whoami", auth(emu)))[0] == 200  # other endpoints unaffected


async def test_concurrent_burst_admits_exactly_the_limit(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(brand_per_minute=10, include_defaults=False, window_seconds=5.0)
    async with QualtricsEmulator(rate_limits=limits) as emu:
        results = await asyncio.gather(*(get(http, emu.api_url + "/whoami", auth(emu)) for _ in range(40)))
        assert sorted(status for status, _ in results) == [200] * 10 + [429] * 30
        assert emu.stats.throttled == 30
        assert emu.stats.max_in_window(5.0) == 10


async def test_rejected_requests_consume_nothing(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(brand_per_minute=3, include_defaults=False, window_seconds=1.0)
    async with QualtricsEmulator(rate_limits=limits, limit_mode="sliding") as emu:
        url = emu.api_url + "/whoami"
        started = time.monotonic()
        assert [(await get(http, url, auth(emu)))[0] for _ in range(3)] == [200] * 3
        while time.monotonic() < started + 0.7:
            assert (await get(http, url, auth(emu)))[0] == 429
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, started + 1.0 - time.monotonic()) + 0.05)
        assert (await get(http, url, auth(emu)))[0] == 200
        assert emu.stats.max_in_window(1.0) <= 3


async def test_leaky_bucket_mode(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(brand_per_minute=2, include_defaults=False, window_seconds=1.0)
    async with QualtricsEmulator(rate_limits=limits, limit_mode="leaky") as emu:
        url = emu.api_url + "/whoami"
        assert [(await get(http, url, auth(emu)))[0] for _ in range(3)] == [200, 200, 429]
        await asyncio.sleep(0.6)  # drains 2/s: room for one more, not two
        assert [(await get(http, url, auth(emu)))[0] for _ in range(2)] == [200, 429]


# --- faults ----------------------------------------------------------------------------------


async def test_fault_status_fires_times_then_clears(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    fault = emulator.inject("GET", "/surveys*", status=503, error_code="SERVER_9.9", error_message="boom", times=2)
    assert isinstance(fault, Fault)
    for _ in range(2):
        status, body = await get(http, emulator.api_url + "/surveys", auth(emulator))
        assert status == 503
        assert body["meta"]["httpStatus"] == "503 - Temporary Internal Server Error"
        assert body["meta"]["error"] == {"errorMessage": "boom", "errorCode": "SERVER_9.9"}
    assert (await get(http, emulator.api_url + "/surveys", auth(emulator)))[0] == 200
    assert (fault.fired, fault.remaining) == (2, 0)
    assert emulator.stats.faults_fired == 2


async def test_fault_retry_after_text_is_verbatim(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    for text in ("Wed, 21 Oct 2015 07:28:00 GMT", "soon", "-5"):
        emulator.inject(path="/whoami", status=429, retry_after=text)
        async with http.get(emulator.api_url + "/whoami", headers=auth(emulator)) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == text
            assert_error(await resp.json(), 429)


async def test_fault_html_and_raw_bodies(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    url = emulator.api_url + "/whoami"
    emulator.inject("GET", "/whoami", html=True)
    async with http.get(url, headers=auth(emulator)) as resp:
        assert resp.status == 502
        assert resp.content_type == "text/html"
        assert "<html>" in await resp.text()

    emulator.inject("GET", "/whoami", body=b'{"result": {"userId": "UR_', status=200)
    async with http.get(url, headers=auth(emulator)) as resp:
        assert resp.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(await resp.read())

    emulator.inject("GET", "/whoami", body=b"<p>maintenance</p>", content_type="text/html")
    async with http.get(url, headers=auth(emulator)) as resp:
        assert (resp.status, resp.content_type) == (200, "text/html")

    emulator.inject("GET", "/whoami", body=b'{"foo": 1}')
    assert await get(http, url, auth(emulator)) == (200, {"foo": 1})


async def test_fault_headers_notice_and_next_page(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    emulator.inject("GET", "/whoami", headers={"X-Proxy": "edge-1"}, notice="Request proxied to fra1")
    async with http.get(emulator.api_url + "/whoami", headers=auth(emulator)) as resp:
        assert resp.headers["X-Proxy"] == "edge-1"
        body = await resp.json()
    assert body["meta"]["notice"] == "Request proxied to fra1"
    assert body["result"] == emulator.data.whoami

    emulator.inject("GET", "/surveys", next_page="{self}")
    url = emulator.api_url + "/surveys?pageSize=2"
    status, body = await get(http, URL(url, encoded=True), auth(emulator))
    assert status == 200
    assert body["result"]["nextPage"] == url  # a page that points at itself


async def test_proxied_host_puts_the_recorded_notice_on_every_answer(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    notice = "Request proxied. For faster response times, use this host instead: az1.qualtrics.com"
    url = emulator.api_url + "/whoami"
    assert "notice" not in (await get(http, url, auth(emulator)))[1]["meta"]  # off by default
    emulator.proxied_host = "az1.qualtrics.com"
    for path, headers in (
        ("/whoami", auth(emulator)),
        ("/surveys/SV_000000000000000", auth(emulator)),  # errors too
        ("/whoami", {}),  # and the missing-credentials answer
        ("/no-such-thing", auth(emulator)),
    ):
        _status, body = await get(http, emulator.api_url + path, headers)
        assert body["meta"]["notice"] == notice, path
    emulator.inject("GET", "/whoami", notice="Request proxied to fra1")  # a chosen notice wins
    assert (await get(http, url, auth(emulator)))[1]["meta"]["notice"] == "Request proxied to fra1"
    emulator.proxied_host = None
    assert "notice" not in (await get(http, url, auth(emulator)))[1]["meta"]
    async with QualtricsEmulator(rate_limits=None, proxied_host="sjc1.qualtrics.com") as emu:
        _status, body = await get(http, emu.api_url + "/whoami", auth(emu))
        assert body["meta"]["notice"].endswith("use this host instead: sjc1.qualtrics.com")


async def test_proxied_next_pages_name_the_proxied_host(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    """As recorded: a proxied page's nextPage names the other host, with proxyDepth/proxyInfo."""
    emulator.proxied_host = "az1.qualtrics.com"
    emulator.proxy_next_pages = True
    _status, body = await get(http, emulator.api_url + "/surveys", auth(emulator), pageSize="2")
    next_page = URL(body["result"]["nextPage"])
    assert (next_page.scheme, next_page.host, next_page.path) == ("https", "az1.qualtrics.com", "/API/v3/surveys")
    assert next_page.query["proxyDepth"] == "1"
    assert json.loads(next_page.query["proxyInfo"]) == {"proxyDepth": 1}
    own_host = URL(emulator.api_url + "/surveys").with_query(next_page.query)  # the same path and query, asked here
    status, second = await get(http, own_host, auth(emulator))
    assert status == 200
    assert [s["id"] for s in second["result"]["elements"]] == [s["id"] for s in emulator.data.surveys[2:4]]


async def test_fault_redirect(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    emulator.inject("GET", "/whoami", redirect_to="https://fra1.qualtrics.com/API/v3/whoami")
    async with http.get(emulator.api_url + "/whoami", headers=auth(emulator), allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "https://fra1.qualtrics.com/API/v3/whoami"


async def test_fault_delay(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    emulator.inject("GET", "/whoami", delay=0.25, status=500)
    started = time.monotonic()
    status, _ = await get(http, emulator.api_url + "/whoami", auth(emulator))
    assert status == 500
    assert time.monotonic() - started >= 0.25


async def test_fault_drop(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    # aiohttp re-sends an idempotent request once after a disconnect, so drop twice.
    fault = emulator.inject("GET", "/whoami", drop=True, times=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(http, emulator.api_url + "/whoami", auth(emulator))
    assert fault.fired == 2
    assert (await get(http, emulator.api_url + "/whoami", auth(emulator)))[0] == 200
    assert emulator.stats.statuses[0] == 2


async def test_fault_truncate(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    emulator.inject("GET", "/surveys", truncate=True)
    with pytest.raises(aiohttp.ClientPayloadError):
        await get(http, emulator.api_url + "/surveys", auth(emulator))
    assert (await get(http, emulator.api_url + "/surveys", auth(emulator)))[0] == 200


async def test_fault_drip(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    emulator.inject("GET", "/whoami", drip=0.002)
    started = time.monotonic()
    async with http.get(emulator.api_url + "/whoami", headers=auth(emulator)) as resp:
        raw = await resp.read()
    elapsed = time.monotonic() - started
    assert json.loads(raw)["result"] == emulator.data.whoami
    assert elapsed >= (len(raw) - 1) * 0.002


async def test_fault_hang_until_client_gives_up(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    emulator.inject("GET", "/whoami", hang=True)
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(
            emulator.api_url + "/whoami", headers=auth(emulator), timeout=aiohttp.ClientTimeout(total=0.2)
        ):
            pass
    assert (await get(http, emulator.api_url + "/whoami", auth(emulator)))[0] == 200
    # The abandoned handler is cancelled once the server sees the disconnect (status 0: nothing sent).
    await eventually(lambda: emulator.stats.statuses[0] == 1)


async def test_close_ends_hanging_handlers(http: aiohttp.ClientSession) -> None:
    emu = QualtricsEmulator(rate_limits=None)
    await emu.start()
    emu.inject(hang=True, times=3)

    async def call() -> int:
        async with http.get(emu.api_url + "/whoami", headers=auth(emu)) as resp:
            return resp.status

    tasks = [asyncio.create_task(call()) for _ in range(3)]
    await eventually(lambda: emu.stats.faults_fired == 3)
    started = time.monotonic()
    await emu.close()
    assert time.monotonic() - started < 1.0
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, aiohttp.ClientError) for r in results), results


async def test_fault_matching_rules(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    post_only = emulator.inject("POST", "/whoami", status=500)
    first = emulator.inject("GET", "/surveys/*", status=502)
    second = emulator.inject("GET", "/surveys/*", status=503)
    token_fault = emulator.inject(path="/oauth2/token", status=503)
    survey_url = f"{emulator.api_url}/surveys/{emulator.data.surveys[0]['id']}"

    assert (await get(http, emulator.api_url + "/whoami", auth(emulator)))[0] == 200  # GET is not POST
    assert (await get(http, emulator.api_url + "/surveys", auth(emulator)))[0] == 200  # "/surveys/*" needs a "/"
    assert [(await get(http, survey_url, auth(emulator)))[0] for _ in range(3)] == [502, 503, 200]
    assert (await mint(http, emulator))[0] == 503
    assert (post_only.fired, first.fired, second.fired, token_fault.fired) == (0, 1, 1, 1)
    emulator.clear_faults()
    async with http.post(emulator.api_url + "/whoami", headers=auth(emulator)) as resp:
        assert resp.status == 404


async def test_faults_apply_after_auth_and_rate_limit(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(brand_per_minute=1, include_defaults=False, window_seconds=5.0)
    async with QualtricsEmulator(rate_limits=limits) as emu:
        fault = emu.inject("GET", "/whoami", status=500, times=2)
        assert (await get(http, emu.api_url + "/whoami"))[0] == 400  # no credentials: the fault waits
        assert (await get(http, emu.api_url + "/whoami", auth(emu)))[0] == 500
        assert (await get(http, emu.api_url + "/whoami", auth(emu)))[0] == 429  # throttled: fault not used up
        assert (fault.fired, fault.remaining) == (1, 1)


def test_fault_options_are_validated() -> None:
    emu = QualtricsEmulator(rate_limits=None)
    for options in (
        {"drop": True, "status": 500},
        {"hang": True, "drop": True},
        {"times": 0},
        {"truncate": True, "drip": 0.1},
        {"html": True, "body": b"x"},
        {"status": 42},
        {"redirect_to": "http://x", "status": 500},
        {"error_code": "X_1"},
        {"drip": 0.0},
    ):
        with pytest.raises(ValueError, match=r"."):
            emu.inject(**options)


# --- stats -----------------------------------------------------------------------------------


async def test_stats(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    stats = emulator.stats
    assert isinstance(stats, EmulatorStats)
    survey_id = emulator.data.surveys[0]["id"]
    await get(http, emulator.api_url + "/whoami", auth(emulator))
    await get(http, f"{emulator.api_url}/surveys/{survey_id}", auth(emulator))
    await get(http, emulator.api_url + "/whoami")
    await get(http, emulator.api_url + "/surveys/SV_aaaaaaaaaaaaaaa/nothing/1234", auth(emulator))
    assert stats.requests == 4
    assert stats.by_route == {"GET /whoami": 2, "GET /surveys/{surveyId}": 1, "GET /surveys/{id}/nothing/{id}": 1}
    assert stats.statuses == {200: 2, 400: 1, 404: 1}
    assert [(method, path, status) for _t, method, path, status in stats.log] == [
        ("GET", "/API/v3/whoami", 200),
        ("GET", f"/API/v3/surveys/{survey_id}", 200),
        ("GET", "/API/v3/whoami", 400),
        ("GET", "/API/v3/surveys/SV_aaaaaaaaaaaaaaa/nothing/1234", 404),
    ]
    times = [t for t, *_ in stats.log]
    assert times == sorted(times)
    assert times[-1] <= time.monotonic()
    emulator.reset_stats()
    assert stats.requests == 0
    assert not stats.log
    assert not stats.by_route


async def test_default_emulator_uses_published_route_keys(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator() as emu:
        assert emu.rate_limits is not None
        await get(http, f"{emu.api_url}/directories/{emu.data.default_directory_id}/contacts", auth(emu))
        key = emu.rate_limits.route("GET", "/directories/POOL_x/contacts").key
        assert key is not None
        assert emu.stats.by_route == {key: 1}


# --- running it: thread, pytest fixture, CLI -------------------------------------------------


def fetch(url: str, token: str) -> tuple[int, Json]:
    request = urllib.request.Request(url, headers={"X-API-TOKEN": token})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.load(err)


def test_in_thread_from_sync_code() -> None:
    with QualtricsEmulator.in_thread(seed=3, rate_limits=None) as emu:
        status, body = fetch(emu.api_url + "/whoami", emu.api_token)
        assert status == 200
        assert body["result"] == emu.data.whoami
        emu.inject("GET", "/whoami", status=503)  # from this thread, while the server runs in its own
        assert fetch(emu.api_url + "/whoami", emu.api_token)[0] == 503
        url = emu.api_url + "/whoami"
    with pytest.raises(urllib.error.URLError):
        fetch(url, "x")  # stopped on exit


async def test_in_thread_from_async_code(http: aiohttp.ClientSession) -> None:
    with QualtricsEmulator.in_thread(rate_limits=None) as emu:
        assert (await get(http, emu.api_url + "/whoami", auth(emu)))[0] == 200


def test_pytest_fixture_in_sync_test(qualtrics_emulator: QualtricsEmulator) -> None:
    status, body = fetch(qualtrics_emulator.api_url + "/surveys", qualtrics_emulator.api_token)
    assert status == 200
    assert [s["id"] for s in body["result"]["elements"]] == [s["id"] for s in qualtrics_emulator.data.surveys[:100]]


async def test_pytest_fixture_in_async_test(qualtrics_emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    qualtrics_emulator.inject("GET", "/whoami", status=503)
    url = qualtrics_emulator.api_url + "/whoami"
    assert (await get(http, url, auth(qualtrics_emulator)))[0] == 503
    assert (await get(http, url, auth(qualtrics_emulator)))[0] == 200
    assert qualtrics_emulator.rate_limits is not None  # the fixture enforces the published table


@contextlib.contextmanager
def cli(*args: str) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-m", "qualtrics_async.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def test_cli_serves_until_interrupted() -> None:
    with cli("--port", "0", "--seed", "5", "--no-rate-limits") as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        base_url = lines[0].split()[-1]
        token = lines[2].split()[-1]
        assert token == "emulator-token"
        status, body = fetch(base_url + "/API/v3/whoami", token)
        assert status == 200
        assert body["result"] == QualtricsEmulator(seed=5).data.whoami
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Stopped." in out
        assert "Traceback" not in err


async def test_oauth_token_scopes_are_enforced(http: aiohttp.ClientSession) -> None:
    async with QualtricsEmulator(rate_limits=None, oauth_scopes=("read:surveys", "read:directories")) as emu:
        basic = base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        async with http.post(
            emu.token_url, data={"grant_type": "client_credentials", "scope": "read:surveys"}, headers=headers
        ) as resp:
            assert resp.status == 200
            token = (await resp.json())["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await get(http, emu.api_url + "/surveys", bearer))[0] == 200
        assert (await get(http, emu.api_url + "/whoami", bearer))[0] == 200
        status, body = await get(http, emu.api_url + "/directories", bearer)
        assert status == 403
        assert "read:directories" in body["meta"]["error"]["errorMessage"]
        async with http.post(
            emu.token_url, data={"grant_type": "client_credentials", "scope": "manage:all"}, headers=headers
        ) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_scope"
        async with http.post(emu.token_url, data={"grant_type": "client_credentials"}, headers=headers) as resp:
            assert (await resp.json())["scope"] == "read:directories read:surveys"  # all the client's scopes


async def test_contacts_page_size_with_the_new_pagination_scheme(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emulator.api_url}/directories/{emulator.data.default_directory_id}/contacts"
    status, body = await get(http, url, auth(emulator), pageSize="1000", useNewPaginationScheme="true")
    assert status == 200
    assert len(body["result"]["elements"]) == 250
    status, body = await get(http, url, auth(emulator), useNewPaginationScheme="true")
    assert len(body["result"]["elements"]) == 100  # the default page size stays 100
    assert (await get(http, url, auth(emulator), pageSize="1000"))[0] == 400


async def test_empty_path_segments_match_no_route(emulator: QualtricsEmulator, http: aiohttp.ClientSession) -> None:
    assert (await get(http, emulator.api_url + "//whoami", auth(emulator)))[0] == 404
    assert (await get(http, emulator.api_url + "/whoami/", auth(emulator)))[0] == 200


async def test_directories_paginate_with_the_default_data(
    emulator: QualtricsEmulator, http: aiohttp.ClientSession
) -> None:
    elements, urls = await walk(http, emulator.api_url + "/directories", emulator)
    assert elements == emulator.data.directories
    assert len(urls) == 2  # more directories than one page of 5
