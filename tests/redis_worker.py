"""A worker process for the shared-limiter tests: concurrent callers through one ``RedisRateLimiter``.

Run as ``python tests/redis_worker.py CONFIG_JSON``. It prints one JSON line with its own
clock reading and waits for a line on stdin, so the test can start every worker at once
(whatever their clocks say); it then calls ``GET /whoami`` on the emulator from
``concurrency`` tasks for ``duration`` seconds and prints a JSON summary line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qualtrics_async import QualtricsClient, QualtricsError, RateLimits, RedisRateLimiter


async def run(config: dict[str, Any]) -> dict[str, Any]:
    limits = RateLimits(brand_per_minute=config["brand"], include_defaults=False, window_seconds=config["window"])
    calls = errors = 0
    async with (
        RedisRateLimiter(config["redis"], namespace=config["namespace"], limits=limits) as limiter,
        QualtricsClient(api_token=config["token"], base_url=config["base_url"], limiter=limiter, env={}) as client,
    ):
        print(json.dumps({"ready": True, "clock": time.time()}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        stop_at = time.monotonic() + float(config["duration"])

        async def caller() -> None:
            nonlocal calls, errors
            while time.monotonic() < stop_at:
                try:
                    await client.request("GET", "/whoami")
                    calls += 1
                except QualtricsError:
                    errors += 1

        async with asyncio.TaskGroup() as tg:
            for _ in range(int(config["concurrency"])):
                tg.create_task(caller())
    return {"done": True, "calls": calls, "errors": errors}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))), flush=True)
