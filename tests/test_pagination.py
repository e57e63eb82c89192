"""Streaming paginated collections: offset and skipToken styles, loops, foreign URLs, resume (E1–E5)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qualtrics_async._config import resolve_endpoint
from qualtrics_async.errors import PaginationError, UnsafeURLError
from qualtrics_async.models import Contact, SurveySummary
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client


async def test_E1_offset_pagination_yields_every_survey_in_order() -> None:
    async with QualtricsEmulator(seed=3, surveys=230) as emulator, make_client(emulator) as client:
        surveys = [s async for s in client.surveys.list()]
        assert all(isinstance(s, SurveySummary) for s in surveys)
        assert [s.id for s in surveys] == [s["id"] for s in emulator.data.surveys]
        assert len(surveys) == 230
        assert emulator.stats.requests == 3  # 100 + 100 + 30


async def test_E1_skiptoken_pagination_yields_every_contact_exactly_once(emulator: QualtricsEmulator) -> None:
    pool = emulator.data.default_directory_id
    async with make_client(emulator) as client:
        contacts = [
            c async for c in client.paginate(f"/directories/{pool}/contacts", {"pageSize": 7}, item_type=Contact)
        ]
    expected = [c["contactId"] for c in emulator.data.contacts[pool]]
    assert [c.contact_id for c in contacts] == expected
    assert len(set(expected)) == len(expected) == 250
    assert emulator.stats.requests == -(-250 // 7)


async def test_E1_empty_collection_yields_nothing(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        items = [c async for c in client.paginate(f"/directories/{emulator.data.empty_directory_id}/contacts")]
    assert items == []
    assert emulator.stats.requests == 1


async def test_E1_plain_dicts_without_item_type(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        first: dict[str, Any] = await anext(aiter(client.paginate("/directories")))
    assert "directoryId" in first


async def test_E3_repeated_next_page_raises_instead_of_looping(emulator: QualtricsEmulator) -> None:
    emulator.inject("GET", "/surveys", next_page="{self}", times=100)
    async with make_client(emulator) as client:
        with pytest.raises(PaginationError, match="repeats"):
            _ = [s async for s in client.surveys.list()]
    assert emulator.stats.requests == 1


async def test_E3_a_cycle_over_several_pages_is_detected(emulator: QualtricsEmulator) -> None:
    pool = emulator.data.default_directory_id
    async with make_client(emulator) as client:
        pages = client.pages(f"/directories/{pool}/contacts", {"pageSize": 10})
        first = await anext(pages)
        second = await anext(pages)
        assert first.next_page is not None
        assert second.next_page is not None
        # The third page points back at the second.
        emulator.inject("GET", "/directories/*/contacts", next_page=first.next_page)
        with pytest.raises(PaginationError):
            await anext(pages)
        await pages.aclose()


@pytest.mark.parametrize(
    "foreign",
    [
        "https://evil.example.com/API/v3/surveys?offset=100",
        "http://127.0.0.2:9/API/v3/surveys?offset=100",
        "{scheme_swap}",
        "{other_port}",
    ],
)
async def test_E2_next_page_on_another_origin_is_refused(emulator: QualtricsEmulator, foreign: str) -> None:
    if foreign == "{scheme_swap}":
        foreign = emulator.base_url.replace("http://", "https://") + "/API/v3/surveys?offset=100"
    elif foreign == "{other_port}":
        foreign = emulator.base_url.rsplit(":", 1)[0] + ":1/API/v3/surveys?offset=100"
    emulator.inject("GET", "/surveys", next_page=foreign)
    async with make_client(emulator) as client:
        seen: list[SurveySummary] = []

        async def walk() -> None:
            async for survey in client.surveys.list():
                seen.append(survey)

        with pytest.raises(UnsafeURLError, match="refusing to send credentials"):
            await walk()
    assert len(seen) == 100  # the first page was delivered before the bad link was refused
    assert emulator.stats.requests == 1


async def test_E4_failed_page_is_retried_with_the_same_token_no_gaps_no_duplicates(
    emulator: QualtricsEmulator,
) -> None:
    pool = emulator.data.default_directory_id
    async with make_client(emulator) as client:
        ids: list[str] = []
        pages = client.pages(f"/directories/{pool}/contacts", {"pageSize": 50}, item_type=Contact)
        async for page in pages:
            ids.extend(c.contact_id for c in page.elements)
            if len(ids) == 50:
                emulator.inject("GET", "/directories/*/contacts", status=503, times=2)
    assert ids == [c["contactId"] for c in emulator.data.contacts[pool]]
    assert emulator.stats.requests == 5 + 2


async def test_E4_resume_from_a_saved_next_page(emulator: QualtricsEmulator) -> None:
    pool = emulator.data.default_directory_id
    async with make_client(emulator) as client:
        pages = client.pages(f"/directories/{pool}/contacts", {"pageSize": 100}, item_type=Contact)
        first = await anext(pages)
        await pages.aclose()  # the job "crashes" here, having saved first.next_page
    assert first.next_page is not None
    async with make_client(emulator) as client:
        rest = [c async for c in client.paginate(first.next_page, item_type=Contact)]
    ids = [c.contact_id for c in first.elements] + [c.contact_id for c in rest]
    assert ids == [c["contactId"] for c in emulator.data.contacts[pool]]


async def test_E5_breaking_out_leaves_no_open_response_and_the_client_usable(emulator: QualtricsEmulator) -> None:
    async with make_client(emulator) as client:
        async for _survey in client.surveys.list():
            break
        me = await client.whoami()  # the pool is healthy
    assert me.user_id
    assert emulator.stats.requests == 2


_ORIGIN = "https://iad1.qualtrics.com"


@given(
    scheme=st.sampled_from(["https", "http", "ftp"]),
    host=st.sampled_from(
        [
            "iad1.qualtrics.com",
            "IAD1.qualtrics.com",
            "evil.com",
            "iad1.qualtrics.com.evil.com",
            "sjc1.qualtrics.com",
            "brand.az1.qualtrics.com",
            "evilqualtrics.com",
            "qualtrics.com",
        ]
    ),
    port=st.sampled_from(["", ":443", ":8443", ":80"]),
    path=st.sampled_from(["/API/v3/surveys", "/API/v3", "/other", "/API/v3x/surveys", "/API/v3/../x"]),
    query=st.text(alphabet="abc=&%?0123456789", max_size=10),
)
def test_E2_next_page_validation_never_lets_a_foreign_origin_through(
    scheme: str, host: str, port: str, path: str, query: str
) -> None:
    from yarl import URL

    from qualtrics_async._session import Session

    session = Session.__new__(Session)  # only target() is exercised: no I/O
    session.endpoint = resolve_endpoint(_ORIGIN, None, {})
    session._api_root = str(session.endpoint.api_root)
    session._targets = {}
    url = f"{scheme}://{host}{port}{path}?{query}"
    # Another Qualtrics host (a proxied answer's nextPage) is asked of our own origin instead.
    qualtrics_host = host.lower().endswith(".qualtrics.com") and host.count(".") in (2, 3)
    same_origin = scheme == "https" and qualtrics_host and port in ("", ":443")
    inside_api = path == "/API/v3" or path.startswith("/API/v3/")
    try:
        target = session.target(url)
    except UnsafeURLError:
        assert not (same_origin and inside_api) or ".." in path
    else:
        assert ".." not in path
        assert same_origin
        assert inside_api
        assert URL(str(target.url)).host == "iad1.qualtrics.com"
        assert str(target.url).lower().startswith("https://iad1.qualtrics.com/api/v3")


async def test_E2_a_walk_served_through_another_datacenter_stays_on_our_host() -> None:
    # Recorded: a proxied answer's nextPage names the datacenter that served it. The walk goes
    # on, every page asked of the configured host (the token goes nowhere else).
    async with QualtricsEmulator(seed=3, surveys=230, proxied_host="az1.qualtrics.com", proxy_next_pages=True) as emu:
        emu.stats.requests = 0
        async with make_client(emu) as client:
            pages = [page async for page in client.pages("/surveys")]
        assert all(p.next_page is None or p.next_page.startswith("https://az1.qualtrics.com/") for p in pages)
        assert sum(len(p.elements) for p in pages) == 230
        assert len(pages) == 3
        assert emu.stats.requests == 3


@pytest.mark.parametrize(
    "next_page",
    [
        "https://evil.com\\@az1.qualtrics.com/API/v3/surveys",  # a backslash the URL parser refuses
        "https://ä.qualtrics.com/API/v3/surveys",  # a host that is not ASCII
        "https://az1.qualtrics.com/API/v3/.%2e/.%2e/secret",  # dot segments, encoded
        "https://az1.qualtrics.com/API/v3/surveys%2F..%2F..%2Fsecret",  # an encoded slash
        "https://az1.qualtrics.com/API/v3/surveys\\..\\secret",
        "https://az1.qualtrics.com:8443/API/v3/surveys",
        "http://az1.qualtrics.com/API/v3/surveys",
    ],
)
def test_E2_a_hostile_next_page_is_refused_with_a_library_error(next_page: str) -> None:
    from qualtrics_async._session import Session

    session = Session.__new__(Session)  # only target() is exercised: no I/O
    session.endpoint = resolve_endpoint("https://iad1.qualtrics.com", None, {})
    session._api_root = str(session.endpoint.api_root)
    session._targets = {}
    with pytest.raises(UnsafeURLError):
        session.target(next_page)
