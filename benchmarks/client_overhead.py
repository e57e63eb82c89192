"""Client overhead: ``await client.request("GET", "/whoami")`` against raw aiohttp doing the same GETs.

Run from the repository root::

    .venv/bin/python -m benchmarks.client_overhead [--quick] [--strict]

Both sides send the same ``GET /API/v3/whoami`` with the same ``X-API-TOKEN`` header, with
64 concurrent workers sharing one connection pool of 100 (the client's default
``pool_size`` and aiohttp's default ``TCPConnector(limit=100)``), read the whole body and
decode the JSON envelope with msgspec (the raw side untyped, ``msgspec.json.Decoder()``;
the client through its own pipeline: ``Envelope[Any]``, meta check, retry bookkeeping,
deadlines). The client runs with ``rate_limits=RateLimits.unlimited()`` so no pacing
happens. Each server runs in a separate process, so its CPU does not compete with the
client's event loop:

* primary: a minimal ``aiohttp.web`` server answering a fixed, pre-encoded envelope (the
  target applies here: the client side is the bottleneck, so overhead is visible);
* reference: the bundled ``QualtricsEmulator`` with server-side limits off.

Rounds alternate raw/client (ABBA order) to cancel drift; the tables report the median of
the rounds, and the client-process CPU time per request (``time.process_time``), which the
server's speed does not affect.

Target: client requests/s >= 0.8 x raw aiohttp requests/s (median of rounds, primary server).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):  # run as a file: python benchmarks/client_overhead.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import msgspec
from aiohttp import web

from benchmarks._common import LOOPBACK, Options, Verdicts, finish, main_entry, median, print_header, stop_child, table
from qualtrics_async import QualtricsClient, RateLimits
from qualtrics_async.testing import QualtricsEmulator

TARGET_RATIO = 0.8
TOKEN = "benchmark-token"  # a fake credential for a loopback server
CONCURRENCY = 64
POOL_SIZE = 100
ROUND_TIME_LIMIT = 20.0  # seconds; a round stops early past this, whatever its count

ServerKind = Literal["fixed", "emulator"]

WHOAMI = {
    "brandId": "BR_3fZ9kQ2mX8pL1vN",
    "userId": "UR_8aB2cD4eF6gH0jK",
    "userName": "emulator.user@example.com#BR_3fZ9kQ2mX8pL1vN",
    "accountType": "UT_BRANDADMIN",
    "firstName": "Emma",
    "lastName": "Ulator",
    "email": "emulator.user@example.com",
    "datacenter": "iad1",
}
FIXED_BODY = msgspec.json.encode(
    {"result": WHOAMI, "meta": {"httpStatus": "200 - OK", "requestId": "0b7c3c1e-1b0b-4d8e-9f43-5d2f3c8b9e10"}}
)
UNAUTHORIZED_BODY = msgspec.json.encode(
    {"meta": {"httpStatus": "401 - Unauthorized", "error": {"errorMessage": "bad token", "errorCode": "AUTH_1.2"}}}
)


@dataclass(frozen=True, slots=True)
class Plan:
    requests_per_round: int
    rounds: int  # per side, per server
    servers: tuple[ServerKind, ...]


FULL = Plan(requests_per_round=3000, rounds=9, servers=("fixed", "emulator"))
QUICK = Plan(requests_per_round=600, rounds=3, servers=("fixed", "emulator"))


# --- the server process -----------------------------------------------------------------------


async def _fixed_handler(request: web.BaseRequest) -> web.StreamResponse:
    if request.headers.get("X-API-TOKEN") != TOKEN:
        return web.Response(status=401, body=UNAUTHORIZED_BODY, content_type="application/json")
    if request.path != "/API/v3/whoami":
        return web.Response(status=404, content_type="application/json", body=b'{"meta":{"httpStatus":"404"}}')
    return web.Response(body=FIXED_BODY, content_type="application/json")


async def _serve(kind: ServerKind, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)  # the parent writes (or closes its end) to stop us
    if kind == "fixed":
        runner = web.ServerRunner(web.Server(_fixed_handler, access_log=None))
        await runner.setup()
        try:
            site = web.TCPSite(runner, LOOPBACK, 0)
            await site.start()
            conn.send(runner.addresses[0][1])
            await stop.wait()
        finally:
            await runner.cleanup()
    else:
        async with QualtricsEmulator(host=LOOPBACK, port=0, api_token=TOKEN, rate_limits=None) as emulator:
            conn.send(int(emulator.base_url.rsplit(":", 1)[1]))
            await stop.wait()


def _server_process(kind: ServerKind, conn: Connection) -> None:
    asyncio.run(_serve(kind, conn))


@contextmanager
def server_in_process(kind: ServerKind) -> Iterator[int]:
    """Start a loopback server of ``kind`` in a child process; yield its port; stop it."""
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    process = ctx.Process(target=_server_process, args=(kind, child_end), name=f"bench-{kind}-server", daemon=True)
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(60):
            raise RuntimeError(f"the {kind} server process did not report its port within 60 s")
        port = parent_end.recv()
        if not isinstance(port, int):
            raise TypeError(f"unexpected message from the server process: {port!r}")
        yield port
    finally:
        stop_child(parent_end, process)


# --- the client side ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Round:
    done: int
    elapsed: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu / self.done


async def run_round(fetch: Callable[[], Awaitable[None]], total: int) -> Round:
    """``total`` fetches by ``CONCURRENCY`` workers (bounded by ROUND_TIME_LIMIT too)."""
    remaining = total
    done = 0
    gc.collect()
    started = time.perf_counter()
    stop_at = started + ROUND_TIME_LIMIT
    cpu_started = time.process_time()

    async def worker() -> None:
        nonlocal remaining, done
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            await fetch()
            done += 1

    async with asyncio.TaskGroup() as tg:
        for _ in range(CONCURRENCY):
            tg.create_task(worker())
    return Round(done, time.perf_counter() - started, time.process_time() - cpu_started)


@dataclass(slots=True)
class Sides:
    raw: list[Round]
    client: list[Round]


async def measure(port: int, plan: Plan) -> Sides:
    origin = f"http://{LOOPBACK}:{port}"
    url = f"{origin}/API/v3/whoami"
    headers = {"X-API-TOKEN": TOKEN}
    decoder = msgspec.json.Decoder()
    sides = Sides([], [])
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL_SIZE)) as http,
        QualtricsClient(
            api_token=TOKEN, base_url=origin, rate_limits=RateLimits.unlimited(), pool_size=POOL_SIZE, env={}
        ) as client,
    ):

        async def raw_fetch() -> None:
            async with http.get(url, headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"raw GET answered HTTP {resp.status}")
            document: Any = decoder.decode(body)
            if not document["result"]["userId"]:
                raise RuntimeError("no userId")

        async def client_fetch() -> None:
            result = await client.request("GET", "/whoami")
            if not result["userId"]:
                raise RuntimeError("no userId")

        # Warm-up (not counted): open the connections, fill caches.
        await run_round(raw_fetch, max(200, plan.requests_per_round // 4))
        await run_round(client_fetch, max(200, plan.requests_per_round // 4))
        for index in range(plan.rounds):
            order: tuple[tuple[Callable[[], Awaitable[None]], list[Round]], ...] = (
                (raw_fetch, sides.raw),
                (client_fetch, sides.client),
            )
            if index % 2:  # ABBA: raw, client, client, raw, raw, client, ...
                order = order[::-1]
            for fetch, results in order:
                results.append(await run_round(fetch, plan.requests_per_round))
    return sides


SERVER_TITLES: dict[ServerKind, str] = {
    "fixed": "primary: minimal aiohttp.web server, fixed envelope (separate process)",
    "emulator": "reference: QualtricsEmulator(rate_limits=None) (separate process)",
}


def report(kind: ServerKind, sides: Sides) -> float:
    """Print one server's results; return the client/raw ratio of median req/s."""
    print()
    print(f"server: {SERVER_TITLES[kind]}")
    rows = []
    for index, (raw, client) in enumerate(zip(sides.raw, sides.client, strict=True), start=1):
        rows.append(
            (
                f"round {index}",
                f"{raw.rate:,.0f}",
                f"{client.rate:,.0f}",
                f"{client.rate / raw.rate:.2f}",
                f"{raw.cpu_us:.0f}",
                f"{client.cpu_us:.0f}",
            )
        )
    table(("", "raw req/s", "client req/s", "ratio", "raw CPU us/req", "client CPU us/req"), rows)
    raw_rate = median([r.rate for r in sides.raw])
    client_rate = median([r.rate for r in sides.client])
    raw_cpu = median([r.cpu_us for r in sides.raw])
    client_cpu = median([r.cpu_us for r in sides.client])
    ratio = client_rate / raw_rate
    print()
    table(
        ("median of rounds", "raw aiohttp", "QualtricsClient", "client / raw"),
        [
            ("requests/s", f"{raw_rate:,.0f}", f"{client_rate:,.0f}", f"{ratio:.2f}x"),
            ("client-process CPU us/request", f"{raw_cpu:.0f}", f"{client_cpu:.0f}", f"{client_cpu / raw_cpu:.2f}x"),
        ],
    )
    print(f"the client adds {client_cpu - raw_cpu:.0f} us of CPU per request over raw aiohttp (median)")
    return ratio


async def amain(options: Options) -> int:
    plan = QUICK if options.quick else FULL
    print_header(
        "client_overhead: QualtricsClient.request('GET', '/whoami') vs raw aiohttp",
        options,
        notes=(
            f"{CONCURRENCY} concurrent workers, one pool of {POOL_SIZE} connections per side, "
            f"{plan.requests_per_round} requests per round, {plan.rounds} rounds per side, ABBA-interleaved, "
            "plus one uncounted warm-up round per side",
            "raw side: session.get(url, headers={'X-API-TOKEN': ...}) -> await resp.read() -> "
            "msgspec.json.Decoder().decode(body) (untyped) -> result['userId']",
            "client side: rate_limits=RateLimits.unlimited(), default retry policy and timeouts",
            "figures are the median of the rounds; CPU is time.process_time() of this (client) process",
            f"all traffic on {LOOPBACK}; each server runs in its own process",
        ),
    )
    verdicts = Verdicts()
    for kind in plan.servers:
        with server_in_process(kind) as port:
            sides = await measure(port, plan)
        ratio = report(kind, sides)
        if kind == "fixed":
            verdicts.check(
                f"client req/s / raw aiohttp req/s = {ratio:.2f} (target >= {TARGET_RATIO})", ratio >= TARGET_RATIO
            )
        else:
            print(f"(reference only, no target: ratio {ratio:.2f})")
    return finish(verdicts, options)


def run(options: Options) -> int:
    return asyncio.run(amain(options))


if __name__ == "__main__":
    main_entry(run, "Requests/s of QualtricsClient.request against raw aiohttp on loopback.")
