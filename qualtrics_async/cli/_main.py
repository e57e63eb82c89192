"""The command line's parser, its dispatch, and the exit codes.

Exit codes: 0 success; 1 an API error (the message includes Qualtrics' requestId) or a
partly failed job; 2 a usage error (bad arguments, credentials or settings); 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import msgspec

from qualtrics_async import QualtricsClient, __version__
from qualtrics_async._config import KNOWN_DATACENTERS
from qualtrics_async.cli._console import Display
from qualtrics_async.cli._credentials import CredentialFlags, client_environment
from qualtrics_async.errors import ConfigurationError, QualtricsError
from qualtrics_async.exports import FORMATS

EXIT_OK, EXIT_API_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_CREDENTIALS_HELP = """\
credentials, first found wins: the flags below; QUALTRICS_API_TOKEN (or QUALTRICS_CLIENT_ID and
QUALTRICS_CLIENT_SECRET) with QUALTRICS_DATACENTER or QUALTRICS_BASE_URL; a profile in
~/.config/qualtrics-async/config.toml (chmod 600). Prefer the environment or the profile to
--token: a flag is visible to other users in the process list.
"""


def _add_common(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """The connection and output options, accepted before and after the command."""
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log every request (never credentials)"
    )
    parser.add_argument(
        "--no-progress", action="store_true", default=default, help="no live progress bars even on a terminal"
    )
    auth = parser.add_argument_group("connection")
    auth.add_argument(
        "--datacenter", default=default, help=f"datacenter id, e.g. {', '.join(sorted(KNOWN_DATACENTERS)[:3])}"
    )
    auth.add_argument(
        "--base-url", default=default, help="host root instead of a datacenter, e.g. https://brand.iad1.qualtrics.com"
    )
    auth.add_argument("--token", default=default, help="API token (prefer QUALTRICS_API_TOKEN or a profile)")
    auth.add_argument("--client-id", default=default, help="OAuth client id")
    auth.add_argument(
        "--client-secret", default=default, help="OAuth client secret (prefer QUALTRICS_CLIENT_SECRET or a profile)"
    )
    auth.add_argument(
        "--profile", default=default, help="profile (table) of the config file; default [default] or QUALTRICS_PROFILE"
    )
    auth.add_argument("--config", default=default, help="config file (default ~/.config/qualtrics-async/config.toml)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qualtrics-async",
        description="Qualtrics API v3 from the command line: exports, contact imports, the bundled emulator.",
        epilog=_CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"qualtrics-async {__version__}")
    _add_common(parser, default=None)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, default=argparse.SUPPRESS)  # after the command: overrides only what is given

    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    whoami = sub.add_parser("whoami", help="who the credentials belong to", parents=[common])
    whoami.add_argument("--json", action="store_true", help="print JSON")

    surveys = sub.add_parser("surveys", help="surveys").add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = surveys.add_parser(
        "list", help="list every survey (a table, or --json / --ndjson for pipes)", parents=[common]
    )
    shape = listing.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON array")
    shape.add_argument("--ndjson", action="store_true", help="one JSON object per line, as pages arrive")

    export = sub.add_parser(
        "export", help="export survey responses to files, several surveys at once", parents=[common]
    )
    export.add_argument("survey_ids", nargs="+", metavar="SURVEY_ID")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the files (created)")
    export.add_argument("--format", choices=FORMATS, default="csv")
    window = export.add_mutually_exclusive_group()
    window.add_argument("--since", metavar="ISO", help="only responses recorded since, e.g. 2026-01-31T00:00:00Z")
    window.add_argument(
        "--incremental",
        metavar="STATE",
        help="export only what is new since the last run; STATE is the state file (one survey) or a folder of "
        "them (several)",
    )
    export.add_argument("--concurrency", type=int, default=8, help="surveys exported at once (default 8)")
    export.add_argument("--extract", action="store_true", help="unzip: write SURVEY_ID.FORMAT instead of the zip")

    contacts = sub.add_parser("contacts", help="XM Directory contacts").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    importing = contacts.add_parser("import", help="bulk-import a CSV of contacts into a directory", parents=[common])
    importing.add_argument("file", metavar="FILE.csv")
    importing.add_argument("--directory", required=True, metavar="POOL_ID", help="the directory (POOL_...)")
    importing.add_argument("--mailing-list", metavar="CG_ID", help="add them to this mailing list too")
    importing.add_argument("--checkpoint", metavar="FILE", help="journal to resume an interrupted import from")
    importing.add_argument(
        "--failures", metavar="FILE", help="where to write failed contacts (default FILE.failures.csv)"
    )
    importing.add_argument("--batch-size", type=int, default=None, help="contacts per request (default 10000)")
    importing.add_argument("--concurrency", type=int, default=None, help="requests in flight (default 4)")

    emulator = sub.add_parser("emulator", help="run the bundled Qualtrics emulator until Ctrl-C")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    emulator.add_argument("--seed", type=int, default=0)
    emulator.add_argument("--no-rate-limits", action="store_true", help="do not enforce the published rate limits")

    demo = sub.add_parser(
        "demo", help="the main job against the bundled emulator (no credentials, no network)", parents=[common]
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the emulator's generated data")
    demo.add_argument("--surveys", type=int, default=12, help="surveys in the emulator, all exported")
    demo.add_argument("--contacts", type=int, default=1000, help="contacts already in the emulator's directory")
    demo.add_argument("--import-contacts", type=int, default=5000, help="contacts in the CSV the demo imports")
    demo.add_argument("--output", default=None, help="folder for the files (default: a new temporary folder)")
    return parser


def make_client(args: argparse.Namespace, env: dict[str, str] | None = None) -> QualtricsClient:
    """A client from the flags, the environment and the profile file (see :mod:`._credentials`)."""
    flags = CredentialFlags(
        api_token=args.token,
        datacenter=args.datacenter,
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        profile=args.profile,
        config=args.config,
    )
    settings = client_environment(flags, os.environ if env is None else env)
    scopes = settings.pop("QUALTRICS_SCOPES", None)
    return QualtricsClient(env=settings, scopes=scopes)


def print_json(value: Any) -> None:
    """Write ``value`` (models included) as one line of JSON to stdout."""
    sys.stdout.write(msgspec.json.encode(msgspec.to_builtins(value)).decode() + "\n")


async def _whoami(args: argparse.Namespace, display: Display) -> int:
    async with make_client(args) as client:
        me = await client.whoami()
    if args.json:
        print_json(me)
        return EXIT_OK
    rows = [(name, value) for name, value in msgspec.structs.asdict(me).items() if value is not None]
    display.table(("field", "value"), rows)
    return EXIT_OK


async def _surveys_list(args: argparse.Namespace, display: Display) -> int:
    async with make_client(args) as client:
        if args.ndjson:
            async for survey in client.surveys.list():
                print_json(survey)
            return EXIT_OK
        surveys = [survey async for survey in client.surveys.list()]
    if args.json:
        print_json(surveys)
        return EXIT_OK
    rows = [
        (s.id, "active" if s.is_active else "inactive", s.last_modified.date() if s.last_modified else "", s.name)
        for s in surveys
    ]
    display.table(("id", "state", "modified", "name"), rows, title=f"{len(surveys)} surveys")
    return EXIT_OK


def _command(args: argparse.Namespace) -> Callable[[argparse.Namespace, Display], Coroutine[Any, Any, int]]:
    from qualtrics_async.cli import _contacts, _demo, _export

    if args.command == "whoami":
        return _whoami
    if args.command == "surveys":
        return _surveys_list
    if args.command == "export":
        return _export.run
    if args.command == "contacts":
        return _contacts.run
    return _demo.run


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    package = logging.getLogger("qualtrics_async")
    package.addHandler(handler)
    package.setLevel(logging.DEBUG if verbose else logging.WARNING)
    package.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qualtrics-async`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    _configure_logging(args.verbose)
    if args.command == "emulator":
        from qualtrics_async.testing.__main__ import main as emulator_main

        emulator_args = ["--host", args.host, "--port", str(args.port), "--seed", str(args.seed)]
        if args.no_rate_limits:
            emulator_args.append("--no-rate-limits")
        return emulator_main(emulator_args)
    display = Display(live=not args.no_progress)
    command = _command(args)
    try:
        return asyncio.run(command(args, display))
    except ConfigurationError as exc:
        print(f"qualtrics-async: error: {exc}", file=sys.stderr)
        print("(settings come from flags, QUALTRICS_* variables or a profile file: see qualtrics-async --help)",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    except QualtricsError as exc:
        print(f"qualtrics-async: error: {exc}", file=sys.stderr)
        return EXIT_API_ERROR
    except OSError as exc:
        print(f"qualtrics-async: error: {exc}", file=sys.stderr)
        return EXIT_API_ERROR
    except KeyboardInterrupt:
        print("qualtrics-async: interrupted", file=sys.stderr)
        checkpoint = getattr(args, "checkpoint", None)
        if checkpoint:
            print(
                f"qualtrics-async: the checkpoint {checkpoint} holds every batch that settled; run the same "
                "command again to resume",
                file=sys.stderr,
            )
        return EXIT_INTERRUPTED
