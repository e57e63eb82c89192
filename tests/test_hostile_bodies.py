"""D14: whatever a server answers, the client raises only :class:`QualtricsError`.

Hypothesis writes hostile answers (deep nesting, wrong types, invalid UTF-8, truncated
JSON, huge numbers, NaN and Infinity, lone surrogates, broken gzip, random statuses and
``nextPage`` values) and a raw loopback server sends them, as they are, to the real client.
For a set of untyped, typed and paginated calls, each call either returns or raises a
``QualtricsError``: never a ``RecursionError``, ``KeyError``, ``TypeError``,
``UnicodeError``, ``OverflowError`` or anything else a caller would not expect.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qualtrics_async import QualtricsClient, RateLimits, RetryPolicy, SizeLimits, Timeouts
from qualtrics_async.errors import QualtricsError
from tests.rawserver import Conn, RawServer, Request, response_head

TOKEN = "hostile-bodies-token-51c0"


@dataclass
class Script:
    """What the server answers next: status, headers and body bytes (set per example)."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b"{}"


async def _call_untyped(client: QualtricsClient) -> object:
    return await client.request("GET", "/surveys/SV_1")


async def _call_typed(client: QualtricsClient) -> object:
    return await client.surveys.get("SV_1")


async def _call_definition(client: QualtricsClient) -> object:
    definition = await client.survey_definitions.get("SV_1")
    return [q.question_text for q in definition.questions.values()]


async def _list_surveys(client: QualtricsClient) -> object:
    return [s async for s in client.surveys.list()]


async def _paginate_untyped(client: QualtricsClient) -> object:
    return [e async for e in client.paginate("/distributions", {"surveyId": "SV_1"})]


async def _list_contacts(client: QualtricsClient) -> object:
    return [c async for c in client.mailing_lists.list("POOL_1")]


async def _start_export(client: QualtricsClient) -> object:
    return await client.responses.start_export("SV_1")


async def _post(client: QualtricsClient) -> object:
    return await client.request("POST", "/mailinglists", json={"name": "x"})


CALLS: list[Callable[[QualtricsClient], Coroutine[Any, Any, object]]] = [
    _call_untyped,
    _call_typed,
    _call_definition,
    _list_surveys,
    _paginate_untyped,
    _list_contacts,
    _post,
    _start_export,
]


class Harness:
    """One server and one client on a private event loop, reused by every example."""

    def __init__(self) -> None:
        self.script = Script()
        self.runner = asyncio.Runner()
        self.server = RawServer(self._answer)
        self.runner.run(self.server.__aenter__())
        self.client = QualtricsClient(
            api_token=TOKEN,
            base_url=self.server.base_url,
            env={},
            retry=RetryPolicy(max_attempts=2, base_delay=0.0, throttle_base_delay=0.0, max_delay=0.0, budget=10**9),
            timeouts=Timeouts(connect=2.0, sock_read=2.0, attempt=3.0, call=10.0),
            rate_limits=RateLimits.unlimited(),
            size_limits=SizeLimits(json_bytes=1 << 20),
        )
        self.runner.run(self.client.open())

    async def _answer(self, conn: Conn, request: Request) -> None:
        script = self.script
        headers = [*script.headers, ("Content-Length", str(len(script.body)))]
        await conn.send(response_head(script.status, headers) + script.body)

    def run(self, call: Callable[[QualtricsClient], Coroutine[Any, Any, object]]) -> None:
        self.runner.run(call(self.client))

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.server.aclose())
        self.runner.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


# -- hostile bodies ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
known_keys = st.sampled_from(
    [
        "result",
        "meta",
        "elements",
        "nextPage",
        "id",
        "name",
        "httpStatus",
        "requestId",
        "error",
        "errorMessage",
        "errorCode",
        "Questions",
        "Blocks",
        "SurveyFlow",
        "QuestionText",
        "Choices",
        "SurveyID",
        "isActive",
        "creationDate",
        "lastModified",
        "ownerId",
        "notice",
    ]
)


@st.composite
def shaped_envelopes(draw: st.DrawFn) -> bytes:
    """Envelopes whose known keys hold values of any type, nested where Qualtrics nests them."""

    def shaped(depth: int) -> Any:
        if depth == 0:
            return draw(json_values)
        return draw(
            st.one_of(
                json_values,
                st.dictionaries(known_keys, st.deferred(lambda: st.just(shaped(depth - 1))), max_size=5),
                st.lists(st.deferred(lambda: st.just(shaped(depth - 1))), max_size=3),
            )
        )

    doc = {"result": shaped(3), "meta": shaped(2)}
    return json.dumps(doc).encode()


def _special_tokens() -> st.SearchStrategy[bytes]:
    specials = [
        b'"\\u00b2\\u00b2 - odd"',
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"1e999",
        b"-1e999",
        b"9" * 5000,
        b'"\\ud800"',
        b'"\\udfff x"',
    ]
    return st.sampled_from(specials).map(
        lambda token: (
            b'{"result": {"elements": ['
            + token
            + b'], "id": '
            + token
            + b'}, "meta": {"httpStatus": '
            + token
            + b', "requestId": '
            + token
            + b"}}"
        )
    )


def _deep() -> st.SearchStrategy[bytes]:
    return st.tuples(st.integers(500, 20_000), st.sampled_from([b"[", b'{"a":', b'{"result":'])).map(
        lambda pair: (
            pair[1] * pair[0] + (b"1" if pair[1] != b"[" else b"") + (b"]" if pair[1] == b"[" else b"}") * pair[0]
        )
    )


bodies = st.one_of(
    shaped_envelopes(),
    _special_tokens(),
    _deep(),
    st.binary(max_size=200),  # invalid UTF-8, garbage
    shaped_envelopes().flatmap(lambda body: st.integers(0, len(body)).map(lambda cut: body[:cut])),  # truncated
    st.builds(lambda value: json.dumps(value).encode(), json_values),  # JSON without an envelope
)


@st.composite
def answers(draw: st.DrawFn) -> Script:
    status = draw(st.sampled_from([200, 200, 200, 201, 202, 204, 400, 401, 404, 409, 429, 500, 503]))
    body = draw(bodies)
    headers = [("Content-Type", draw(st.sampled_from(["application/json", "text/html", "application/octet-stream"])))]
    if status == 429:
        odd = ["0", "-1", "abc", "1e9", "nan", "Wed, 21 Oct 2015", "Mon, 01 Jan 2025 00:00:00 +99999999999999999999"]
        headers.append(("Retry-After", draw(st.sampled_from(odd))))
    if draw(st.booleans()):  # server clock, read when an export starts
        headers.append(("Date", draw(st.sampled_from(["Mon, 01 Jan 2025 00:00:00 +99999999999999999999", "x", ""]))))
    if draw(st.integers(0, 9)) == 0:  # a compressed body, valid or not
        headers.append(("Content-Encoding", "gzip"))
        body = gzip.compress(body) if draw(st.booleans()) else body
    return Script(status, headers, body)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(script=answers(), call=st.sampled_from(CALLS))
# Answers that once let a non-library error out, kept as fixed examples.
@example(script=Script(204, [], b""), call=_list_surveys)
@example(
    script=Script(200, [], '{"result": {}, "meta": {"httpStatus": "\u00b2\u00b2 - x"}}'.encode()), call=_call_untyped
)
@example(script=Script(429, [("Retry-After", "Mon, 01 Jan 2025 00:00:00 +99999999999999999999")], b"{}"), call=_post)
@example(
    script=Script(
        200, [("Date", "Mon, 01 Jan 2025 00:00:00 +99999999999999999999")], b'{"result": {"progressId": "ES_1"}}'
    ),
    call=_start_export,
)
def test_D14_any_answer_returns_or_raises_a_qualtrics_error(
    harness: Harness, script: Script, call: Callable[[QualtricsClient], Coroutine[Any, Any, object]]
) -> None:
    harness.script = script
    error: QualtricsError | None = None
    try:
        harness.run(call)
    except QualtricsError as exc:
        error = exc
    assert error is None or TOKEN not in str(error)
