"""``python -m qualtrics_async.testing``: run a Qualtrics API emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from qualtrics_async.testing._emulator import DEFAULT_RATE_LIMITS, QualtricsEmulator, serve


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until interrupted, and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m qualtrics_async.testing",
        description="Run a local emulator of the Qualtrics REST API v3 (for tests and demos).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind, 0 = any free port (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data (default: %(default)s)")
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="do not enforce the published rate limits (no 429s)"
    )
    args = parser.parse_args(argv)

    def announce(emulator: QualtricsEmulator) -> None:
        print(f"Qualtrics emulator listening on {emulator.base_url}", flush=True)
        print(f"  API base URL:   {emulator.api_url}")
        print(f"  X-API-TOKEN:    {emulator.api_token}")
        print(f"  OAuth client:   {emulator.client_id} / {emulator.client_secret} at {emulator.token_url}")
        print("Press Ctrl-C to stop.", flush=True)

    rate_limits = None if args.no_rate_limits else DEFAULT_RATE_LIMITS
    # Ctrl-C (SIGINT) stops it even when started from a script in the background, where the
    # shell makes children ignore SIGINT and Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        asyncio.run(serve(host=args.host, port=args.port, seed=args.seed, rate_limits=rate_limits, on_ready=announce))
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
