"""Client configuration: where to connect, which credentials, timeouts and retry policy.

Everything here is validated before the first request, so bad input fails fast with a
message that says how to fix it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from yarl import URL

from qualtrics_async._secret import Secret
from qualtrics_async.errors import ConfigurationError

API_PREFIX = "/API/v3"

KNOWN_DATACENTERS: Mapping[str, str] = {
    "iad1": "Washington DC area (formerly co1)",
    "sjc1": "San Jose, California (formerly az1)",
    "yul1": "Canada",
    "fra1": "European Union (formerly eu2/eu)",
    "lhr1": "London, UK",
    "syd1": "Sydney, Australia (formerly au1)",
    "sin1": "Singapore",
    "hnd1": "Tokyo, Japan",
    "gov1": "US Government",
    "ca1": "common in Qualtrics' own examples",
    "co1": "legacy alias of iad1",
    "az1": "legacy alias of sjc1",
    "eu": "legacy alias of fra1",
    "au1": "legacy alias of syd1",
}
"""Datacenter ids from qualtrics-api.md §1.2. Brand vanity hosts go through ``base_url``."""

_DATACENTER_RE = re.compile(r"^[a-z0-9]+$")
_QUALTRICS_HOST_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)?\.qualtrics\.com$")


def is_qualtrics_host_url(url: URL) -> bool:
    """Whether ``url`` is ``https`` on the default port of a Qualtrics datacenter or brand host
    (``iad1.qualtrics.com``, ``acme.az1.qualtrics.com``); nothing else matches."""
    host = (url.host or "").lower().rstrip(".")
    return url.scheme.lower() == "https" and url.port in (None, 443) and bool(_QUALTRICS_HOST_RE.fullmatch(host))


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Time limits, in seconds.

    Attributes:
        connect: to open a TCP+TLS connection.
        sock_read: the longest silence between two reads of a response (it matters for
            streamed downloads, which have no total limit, and whenever it is below ``attempt``).
        attempt: one whole attempt of a JSON call, headers and body. This is what stops a
            server that drips one byte at a time, which ``sock_read`` alone never does.
        call: the whole call, every retry and backoff included (``None``: no limit).
    """

    connect: float = 10.0
    sock_read: float = 60.0
    attempt: float = 60.0
    call: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("connect", "sock_read", "attempt", "call"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigurationError(f"Timeouts.{name} must be a positive number of seconds, got {value!r}")


_MiB = 1 << 20
_MAX_RECORD_BYTES = (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class SizeLimits:
    """How much the client reads of what a server sends: every body has a bound
    (docs/errors.md, "Bodies that are too large").

    A server that answers more than a bound (a runaway listing, a gzip or ZIP bomb, a proxy
    gone wrong) gets :class:`~qualtrics_async.errors.ResponseTooLargeError` naming the bound,
    the call is not retried, and nothing is left on disk. Raise a bound only for answers you
    expect to be that large.

    Attributes:
        json_bytes: one JSON answer, counted after ``Content-Encoding`` is undone (64 MiB; a
            Qualtrics page of 100 elements is well under 1 MiB, a survey definition a few MiB).
        error_bytes: what is read of an error answer for its message (64 KiB); the rest is
            discarded, never an error.
        record_bytes: one streamed record of an export: a CSV record, an NDJSON line or one
            JSON/XML element (16 MiB). Memory while streaming stays within a few chunks plus this.
        download_bytes: one export file on disk, and the most a member of it may inflate to
            when extracted (8 GiB; Qualtrics caps an export at a few GiB). A file larger than
            the size its server declared is refused whatever this bound.
    """

    json_bytes: int = 64 * _MiB
    error_bytes: int = 64 * 1024
    record_bytes: int = 16 * _MiB
    download_bytes: int = 8 * 1024 * _MiB

    def __post_init__(self) -> None:
        for name in ("json_bytes", "error_bytes", "record_bytes", "download_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
                raise ConfigurationError(f"SizeLimits.{name} must be a whole number of bytes >= 1024, got {value!r}")
        if self.record_bytes > _MAX_RECORD_BYTES:  # the csv module's field limit is a C long
            raise ConfigurationError(
                f"SizeLimits.record_bytes must be at most {_MAX_RECORD_BYTES}, got {self.record_bytes}"
            )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying again.

    Attributes:
        max_attempts: attempts per call, the first included.
        base_delay: full-jitter backoff base for errors: wait ``U(0, min(max_delay, base·2ⁿ))``.
        throttle_base_delay: the same base for 429s without ``Retry-After``.
        max_delay: the cap of one backoff wait.
        max_retry_after: the longest ``Retry-After`` honoured; a longer one raises
            :class:`~qualtrics_async.errors.RateLimitError` so the caller decides.
        budget: retry budget shared by the client (botocore's retry quota): each retry
            spends ``retry_cost`` (``timeout_cost`` after a timeout), each success refunds
            one unit. When it runs out, calls fail fast instead of amplifying an outage.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    throttle_base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    budget: int = 500
    retry_cost: int = 5
    timeout_cost: int = 10

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.throttle_base_delay < 0 or self.max_delay < 0:
            raise ConfigurationError("RetryPolicy delays must not be negative")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The host root (``origin``) and the API root (``origin/API/v3``)."""

    origin: URL
    api_root: URL = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_root", self.origin.with_path(API_PREFIX))

    def same_origin(self, url: URL) -> bool:
        """Whether ``url`` has this endpoint's scheme, host and port (``:443`` spelled out or not)."""
        return url.is_absolute() and _origin_key(url) == _origin_key(self.origin)


def _origin_key(url: URL) -> tuple[str, str, int | None]:
    return url.scheme.lower(), (url.host or "").lower().rstrip("."), url.port


def is_loopback(host: str | None) -> bool:
    """True for ``localhost`` and any 127.0.0.0/8 or ::1 address."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _env(name: str, env: Mapping[str, str]) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def resolve_endpoint(base_url: str | None, datacenter: str | None, env: Mapping[str, str] | None = None) -> Endpoint:
    """Work out the host root from ``base_url`` or ``datacenter`` (arguments, then environment)."""
    env = os.environ if env is None else env
    if base_url is None and datacenter is None:
        base_url = _env("QUALTRICS_BASE_URL", env)
        if base_url is None:
            datacenter = _env("QUALTRICS_DATACENTER", env)
    if base_url is not None:
        return Endpoint(_parse_base_url(base_url))
    if datacenter is None:
        raise ConfigurationError(
            "no datacenter: pass datacenter='iad1' (your account's datacenter id, see Account Settings > "
            "Qualtrics IDs) or base_url='https://<brand>.<dc>.qualtrics.com', or set QUALTRICS_DATACENTER "
            "or QUALTRICS_BASE_URL"
        )
    return Endpoint(URL.build(scheme="https", host=f"{validate_datacenter(datacenter)}.qualtrics.com"))


def validate_datacenter(datacenter: str) -> str:
    """Check a datacenter id against the known ids; returns it lower-cased."""
    dc = datacenter.strip().lower()
    if not _DATACENTER_RE.match(dc):
        raise ConfigurationError(
            f"datacenter {datacenter!r} is not a datacenter id: use the short id such as 'iad1' or 'fra1' "
            "(not a URL or host name); for a brand host pass base_url='https://<brand>.<dc>.qualtrics.com'"
        )
    if dc not in KNOWN_DATACENTERS:
        known = ", ".join(sorted(KNOWN_DATACENTERS))
        raise ConfigurationError(
            f"unknown datacenter {datacenter!r}; known ids: {known}. If your account uses another host, "
            "pass base_url='https://<host>' instead"
        )
    return dc


def _parse_base_url(raw: str) -> URL:
    try:
        url = URL(raw.strip())
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"base_url {raw!r} is not a URL: {exc}") from None
    if not url.is_absolute() or url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url {raw!r} must be an absolute http(s) URL such as 'https://iad1.qualtrics.com'"
        )
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"base_url {raw!r} uses plain http to a non-loopback host, which would send your token "
            "unencrypted: use https (plain http is only accepted for 127.0.0.1/localhost, e.g. the emulator)"
        )
    if url.user or url.password:
        raise ConfigurationError("base_url must not contain user:password; pass credentials as arguments")
    path = url.path.rstrip("/")
    if path not in ("", API_PREFIX):
        raise ConfigurationError(
            f"base_url {raw!r} has the path {url.path!r}; give the host root (e.g. 'https://iad1.qualtrics.com'), "
            f"optionally ending in {API_PREFIX!r}"
        )
    if url.query_string or url.fragment:
        raise ConfigurationError(f"base_url {raw!r} must not have a query string or fragment")
    default_port = {"http": 80, "https": 443}[url.scheme]
    port = url.port if url.port != default_port else None
    return URL.build(scheme=url.scheme, host=url.host.lower().rstrip("."), port=port)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Either an API token or an OAuth client id + secret (with optional scopes)."""

    api_token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    scopes: tuple[str, ...] = ()

    @property
    def is_oauth(self) -> bool:
        return self.client_id is not None


def resolve_credentials(
    api_token: str | None,
    client_id: str | None,
    client_secret: str | None,
    scopes: str | tuple[str, ...] | list[str] | None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """Pick the credentials: explicit arguments first, then the environment."""
    env = os.environ if env is None else env
    explicit_token = api_token is not None
    explicit_oauth = client_id is not None or client_secret is not None
    if explicit_token and explicit_oauth:
        raise ConfigurationError("pass either api_token or client_id/client_secret, not both")
    if not explicit_token and not explicit_oauth:
        api_token = _env("QUALTRICS_API_TOKEN", env)
        if api_token is None:
            client_id = _env("QUALTRICS_CLIENT_ID", env)
            client_secret = _env("QUALTRICS_CLIENT_SECRET", env)
    if api_token is not None:
        if not api_token.strip():
            raise ConfigurationError("api_token is empty: pass the token from Account Settings > Qualtrics IDs")
        if any(c in api_token for c in "\r\n"):
            raise ConfigurationError("api_token contains a line break; check how it was read")
        return Credentials(api_token=Secret(api_token.strip()))
    if client_id is not None or client_secret is not None:
        if not client_id or not client_secret:
            missing = "client_secret (QUALTRICS_CLIENT_SECRET)" if client_id else "client_id (QUALTRICS_CLIENT_ID)"
            raise ConfigurationError(f"OAuth needs both a client id and a client secret; {missing} is missing")
        scope_tuple = tuple(scopes.split()) if isinstance(scopes, str) else tuple(scopes or ())
        return Credentials(client_id=client_id, client_secret=Secret(client_secret), scopes=scope_tuple)
    raise ConfigurationError(
        "no credentials: pass api_token=... (or set QUALTRICS_API_TOKEN), or OAuth client_id=... and "
        "client_secret=... (or set QUALTRICS_CLIENT_ID and QUALTRICS_CLIENT_SECRET)"
    )
