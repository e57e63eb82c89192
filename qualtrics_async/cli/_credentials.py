"""Where the command line's credentials come from: flags, then environment, then a profile file.

The profile file is TOML, ``$XDG_CONFIG_HOME/qualtrics-async/config.toml`` by default (or
``--config`` / ``QUALTRICS_ASYNC_CONFIG``), one table per profile::

    [default]
    datacenter = "iad1"
    api_token = "..."

    [staging]
    base_url = "https://brand.fra1.qualtrics.com"
    client_id = "..."
    client_secret = "..."
    scopes = ["read:surveys", "read:users"]

A file that holds a credential must be readable by its owner only (``chmod 600``); any other
is refused. Values are merged into the ``QUALTRICS_*`` settings the client reads, so the
client's own checks (datacenter ids, URLs, missing credentials) apply unchanged.
"""

from __future__ import annotations

import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from qualtrics_async.errors import ConfigurationError

_SETTINGS = {
    "api_token": "QUALTRICS_API_TOKEN",
    "datacenter": "QUALTRICS_DATACENTER",
    "base_url": "QUALTRICS_BASE_URL",
    "client_id": "QUALTRICS_CLIENT_ID",
    "client_secret": "QUALTRICS_CLIENT_SECRET",
    "scopes": "QUALTRICS_SCOPES",
}
_SECRET_SETTINGS = frozenset({"api_token", "client_secret"})


@dataclass(frozen=True, slots=True)
class CredentialFlags:
    """What the command line was given (``None`` = not given)."""

    api_token: str | None = None
    datacenter: str | None = None
    base_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    profile: str | None = None
    config: str | None = None


def default_config_path(env: Mapping[str, str]) -> Path:
    """``$QUALTRICS_ASYNC_CONFIG``, else ``$XDG_CONFIG_HOME/qualtrics-async/config.toml`` (``~/.config``)."""
    explicit = env.get("QUALTRICS_ASYNC_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qualtrics-async" / "config.toml"


def load_profile(path: Path, name: str, *, required: bool) -> dict[str, str]:
    """The settings of profile ``name`` in ``path`` (empty when the file is absent and not ``required``)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if required:
            raise ConfigurationError(
                f"the profile file {path} does not exist; create it (chmod 600) or drop --config/--profile"
            ) from None
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read the profile file {path}: {exc}") from None
    holds_secret = any(isinstance(table, dict) and _SECRET_SETTINGS & table.keys() for table in document.values())
    if holds_secret and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"{path} holds a credential and other users can access it (mode {stat.filemode(info.st_mode)}); "
            f"run: chmod 600 {path}"
        )
    table = document.get(name)
    if table is None:
        if required:
            known = ", ".join(sorted(k for k, v in document.items() if isinstance(v, dict))) or "none"
            raise ConfigurationError(f"no profile [{name}] in {path} (profiles there: {known})")
        return {}
    if not isinstance(table, dict):
        raise ConfigurationError(f"[{name}] in {path} must be a table of settings")
    settings: dict[str, str] = {}
    for key, value in table.items():
        if key not in _SETTINGS:
            raise ConfigurationError(
                f"unknown setting {key!r} in profile [{name}] of {path}; known: {', '.join(_SETTINGS)}"
            )
        if key == "scopes" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = " ".join(value)
        if not isinstance(value, str):
            raise ConfigurationError(f"setting {key!r} in profile [{name}] of {path} must be a string")
        settings[_SETTINGS[key]] = value
    return settings


_HOST_KEYS = ("QUALTRICS_DATACENTER", "QUALTRICS_BASE_URL")
_CREDENTIAL_KEYS = ("QUALTRICS_API_TOKEN", "QUALTRICS_CLIENT_ID", "QUALTRICS_CLIENT_SECRET")


def _overlay(base: dict[str, str], top: Mapping[str, str]) -> dict[str, str]:
    """``top`` over ``base``; a layer that names a host or a credential replaces the lower one's whole kind."""
    merged = dict(base)
    for group in (_HOST_KEYS, _CREDENTIAL_KEYS):
        if any(key in top for key in group):
            for key in group:
                merged.pop(key, None)
    merged.update(top)
    return merged


def client_environment(flags: CredentialFlags, env: Mapping[str, str]) -> dict[str, str]:
    """The ``QUALTRICS_*`` settings for the client: flags over environment over the profile file.

    A layer that gives a host (datacenter or base URL) or a credential (token or OAuth
    client) replaces the lower layers' host or credential entirely, so a token in the
    environment is never mixed with a client secret from the profile.
    """
    path = Path(flags.config).expanduser() if flags.config else default_config_path(env)
    name = flags.profile or env.get("QUALTRICS_PROFILE") or "default"
    required = bool(flags.config or flags.profile or env.get("QUALTRICS_PROFILE"))
    merged = load_profile(path, name, required=required)
    merged = _overlay(merged, {key: value for key, value in env.items() if key in _SETTINGS.values() and value})
    given = {
        "QUALTRICS_API_TOKEN": flags.api_token,
        "QUALTRICS_DATACENTER": flags.datacenter,
        "QUALTRICS_BASE_URL": flags.base_url,
        "QUALTRICS_CLIENT_ID": flags.client_id,
        "QUALTRICS_CLIENT_SECRET": flags.client_secret,
    }
    return _overlay(merged, {key: value for key, value in given.items() if value})
