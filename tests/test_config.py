"""Bad input is refused before any request, with a message that says how to fix it (I4, H3)."""

from __future__ import annotations

import pytest

from qualtrics_async import LocalRateLimiter, QualtricsClient, RateLimits
from qualtrics_async.errors import ClientClosedError, ConfigurationError

TOKEN = "tok-1234567890"


def test_I4_datacenter_builds_https_base_url() -> None:
    client = QualtricsClient(TOKEN, datacenter="IAD1", env={})
    assert client.base_url == "https://iad1.qualtrics.com"


@pytest.mark.parametrize("bad", ["iad1.evil.com", "https://iad1.qualtrics.com", "iad1/../x", "", "iad 1", "iad1:8080"])
def test_I4_malformed_datacenter_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="datacenter"):
        QualtricsClient(TOKEN, datacenter=bad, env={})


def test_I4_unknown_datacenter_lists_known_ids() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown datacenter 'xyz9'.*iad1.*base_url"):
        QualtricsClient(TOKEN, datacenter="xyz9", env={})


def test_I4_plain_http_refused_unless_loopback() -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        QualtricsClient(TOKEN, base_url="http://iad1.qualtrics.com", env={})
    for host in ("127.0.0.1", "127.5.6.7", "localhost", "[::1]"):
        assert QualtricsClient(TOKEN, base_url=f"http://{host}:8080", env={}).base_url.startswith("http://")


@pytest.mark.parametrize(
    "url",
    ["https://iad1.qualtrics.com/API/v3", "https://iad1.qualtrics.com/API/v3/", "https://iad1.qualtrics.com/"],
)
def test_I4_base_url_accepts_trailing_api_v3(url: str) -> None:
    assert QualtricsClient(TOKEN, base_url=url, env={}).base_url == "https://iad1.qualtrics.com"


@pytest.mark.parametrize(
    "url",
    ["iad1.qualtrics.com", "ftp://iad1.qualtrics.com", "https://iad1.qualtrics.com/other", "https://u:p@h.com"],
)
def test_I4_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        QualtricsClient(TOKEN, base_url=url, env={})


def test_no_credentials_is_a_clear_error_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match=r"no credentials.*QUALTRICS_API_TOKEN.*QUALTRICS_CLIENT_ID"):
        QualtricsClient(datacenter="iad1", env={})


def test_no_datacenter_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match=r"no datacenter.*QUALTRICS_DATACENTER"):
        QualtricsClient(TOKEN, env={})


def test_oauth_needs_both_id_and_secret() -> None:
    with pytest.raises(ConfigurationError, match="client_secret"):
        QualtricsClient(client_id="abc", datacenter="iad1", env={})
    with pytest.raises(ConfigurationError, match="not both"):
        QualtricsClient(TOKEN, client_id="a", client_secret="b", datacenter="iad1", env={})


def test_settings_come_from_the_environment() -> None:
    env = {"QUALTRICS_API_TOKEN": TOKEN, "QUALTRICS_DATACENTER": "fra1"}
    client = QualtricsClient(env=env)
    assert client.base_url == "https://fra1.qualtrics.com"
    assert client.auth_kind == "api_token"
    env = {
        "QUALTRICS_CLIENT_ID": "id",
        "QUALTRICS_CLIENT_SECRET": "s3cret-value",
        "QUALTRICS_BASE_URL": "https://x.iad1.qualtrics.com",
    }
    client = QualtricsClient(env=env)
    assert client.auth_kind == "oauth"
    assert client.base_url == "https://x.iad1.qualtrics.com"


def test_arguments_win_over_the_environment() -> None:
    env = {"QUALTRICS_API_TOKEN": "env-token-value", "QUALTRICS_DATACENTER": "fra1"}
    client = QualtricsClient(client_id="id", client_secret="secret-value", datacenter="sjc1", env=env)
    assert client.auth_kind == "oauth"
    assert client.base_url == "https://sjc1.qualtrics.com"


def test_I1_client_repr_never_shows_credentials() -> None:
    client = QualtricsClient(TOKEN, datacenter="iad1", env={})
    assert TOKEN not in repr(client)
    oauth = QualtricsClient(client_id="cid", client_secret="the-secret-xyz", datacenter="iad1", env={})
    assert "the-secret-xyz" not in repr(oauth)
    assert "the-secret-xyz" not in repr(oauth.__dict__)
    assert TOKEN not in repr(client.__dict__)


async def test_H3_request_before_open_raises_client_closed() -> None:
    client = QualtricsClient(TOKEN, datacenter="iad1", env={})
    with pytest.raises(ClientClosedError, match="async with"):
        await client.request("GET", "/whoami")


def test_I4_explicit_default_port_is_the_same_origin() -> None:
    from yarl import URL

    from qualtrics_async._config import resolve_endpoint

    explicit = resolve_endpoint("https://IAD1.qualtrics.com:443/API/v3", None, {})
    implicit = resolve_endpoint(None, "iad1", {})
    assert str(explicit.origin) == str(implicit.origin) == "https://iad1.qualtrics.com"
    for endpoint in (explicit, implicit):
        assert endpoint.same_origin(URL("https://iad1.qualtrics.com/API/v3/surveys?offset=100"))
        assert endpoint.same_origin(URL("https://iad1.qualtrics.com:443/API/v3/surveys?offset=100"))
        assert not endpoint.same_origin(URL("https://iad1.qualtrics.com:8443/API/v3/surveys"))
        assert not endpoint.same_origin(URL("http://iad1.qualtrics.com/API/v3/surveys"))
        assert not endpoint.same_origin(URL("https://sjc1.qualtrics.com/API/v3/surveys"))


def test_nothing_configured_reports_every_missing_setting_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        QualtricsClient(env={})
    assert "no datacenter" in str(info.value)
    assert "no credentials" in str(info.value)


def test_a_passed_limiter_carries_the_limits_and_client_limits_are_refused() -> None:
    limits = RateLimits(brand_per_minute=600)
    limiter = LocalRateLimiter(limits)
    assert QualtricsClient(TOKEN, datacenter="iad1", limiter=limiter, env={}).rate_limits is limits
    for extra in ({"rate_limits": RateLimits()}, {"utilization": 0.5}):
        with pytest.raises(ConfigurationError, match="to the limiter"):
            QualtricsClient(TOKEN, datacenter="iad1", limiter=limiter, env={}, **extra)
