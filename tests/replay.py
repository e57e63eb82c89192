"""Recorded Qualtrics answers (``tests/recordings``) and a loopback server that replays them.

``load_recordings()`` reads every body with its sidecar; a :class:`ReplayServer` answers each
request from the first rule whose method and route template match, with the recorded bytes,
status and content type, and keeps every request it saw so a test can check what the client
sent (the path it built, the body of a PUT).
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from yarl import URL

RECORDINGS = Path(__file__).parent / "recordings"
API_PREFIX = "/API/v3"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Recording:
    """One recorded answer: its body (bytes as kept) and its sidecar."""

    family: str
    name: str
    body: bytes
    source: dict[str, Any]
    suffix: str

    @property
    def id(self) -> str:
        return f"{self.family}/{self.name}"

    @property
    def method(self) -> str:
        return str(self.source["method"])

    @property
    def endpoint(self) -> str:
        return str(self.source["endpoint"])

    @property
    def status(self) -> int:
        return int(self.source["status"])

    @property
    def content_type(self) -> str:
        return str(self.source["content_type"])

    @property
    def is_json(self) -> bool:
        return self.suffix == ".json"

    def json(self) -> Any:
        return json.loads(self.body)

    def result(self) -> Any:
        """``result`` of the recorded envelope."""
        return self.json()["result"]

    def ids(self) -> dict[str, str]:
        """The path parameters of the recorded URL (``{"surveyId": "SV_…"}``); placeholders
        stand in for the ids a source left out of its URL."""
        names = _PLACEHOLDER.findall(self.endpoint)
        url = str(self.source.get("url") or "")
        match = template_regex(self.endpoint).search(URL(url).path) if url else None
        if match is None:
            return {name: f"{name[:2].upper()}_recorded" for name in names}
        return {name: match.group(name) for name in names}

    def query(self) -> dict[str, str]:
        url = str(self.source.get("url") or "")
        return dict(URL(url).query) if url else {}


@functools.cache
def load_recordings() -> tuple[Recording, ...]:
    """Every recording under ``tests/recordings``, sorted by family and name."""
    found: list[Recording] = []
    orphans = [
        p
        for p in RECORDINGS.glob("*/*")
        if not p.name.endswith(".source.toml") and not (p.parent / (p.name.split(".", 1)[0] + ".source.toml")).is_file()
    ]
    if orphans:
        raise AssertionError(f"recorded bodies without a sidecar (say where they come from): {orphans}")
    for sidecar in sorted(RECORDINGS.glob("*/*.source.toml")):
        name = sidecar.name.removesuffix(".source.toml")
        bodies = [p for p in sidecar.parent.glob(name + ".*") if p.name != sidecar.name]
        if len(bodies) != 1:
            raise AssertionError(f"{sidecar}: expected one body file beside it, found {bodies}")
        with sidecar.open("rb") as handle:
            source = tomllib.load(handle)
        found.append(Recording(sidecar.parent.name, name, bodies[0].read_bytes(), source, bodies[0].suffix))
    return tuple(found)


def recording(recording_id: str) -> Recording:
    """The recording ``family/name``."""
    for rec in load_recordings():
        if rec.id == recording_id:
            return rec
    raise KeyError(recording_id)


def recordings_of(method: str, endpoint: str, *, status: int | None = None) -> list[Recording]:
    return [
        r
        for r in load_recordings()
        if r.method == method and r.endpoint == endpoint and (status is None or r.status == status)
    ]


@functools.cache
def template_regex(template: str) -> re.Pattern[str]:
    """A pattern matching the API path of ``template`` (``/API/v3`` prefix and trailing ``/`` optional)."""
    parts = re.split(r"(\{\w+\})", template.rstrip("/"))
    pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"(?:{re.escape(API_PREFIX)})?{pattern}/?$")


@dataclass
class Rule:
    method: str
    template: str
    status: int
    body: bytes
    content_type: str
    times: int | None = None  # None: for ever


@dataclass(frozen=True)
class Seen:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class ReplayServer:
    """A loopback HTTP server answering with recorded bodies. Use as ``async with``."""

    rules: list[Rule] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _runner: web.ServerRunner | None = None
    port: int = 0

    def answer(self, rec: Recording, *, template: str | None = None, times: int | None = None) -> Self:
        """Answer requests to the recording's endpoint (or ``template``) with it."""
        self.rules.append(Rule(rec.method, template or rec.endpoint, rec.status, rec.body, rec.content_type, times))
        return self

    def answer_raw(
        self, method: str, template: str, body: bytes, *, status: int = 200, content_type: str = "application/json"
    ) -> Self:
        self.rules.append(Rule(method, template, status, body, content_type))
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests_to(self, method: str, template: str) -> Iterator[Seen]:
        regex = template_regex(template)
        return (s for s in self.seen if s.method == method and regex.match(s.path))

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.query), body))
        for rule in self.rules:
            if rule.method == request.method and template_regex(rule.template).match(request.path):
                if rule.times is not None:
                    if rule.times <= 0:
                        continue
                    rule.times -= 1
                return web.Response(status=rule.status, body=rule.body, headers={"Content-Type": rule.content_type})
        return web.Response(status=599, text=f"no recording for {request.method} {request.path}")

    async def __aenter__(self) -> Self:
        self._runner = web.ServerRunner(web.Server(self._handle))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
