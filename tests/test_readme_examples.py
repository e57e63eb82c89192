"""The README's code examples run as written, against the emulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import make_client

README = Path(__file__).resolve().parent.parent / "README.md"


def _example(name: str) -> dict[str, Any]:
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.+?)\n```", README.read_text(), re.S)
    assert match, f"README.md has no example marked {name!r}"
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(match.group(1), f"README.md:{name}", "exec"), namespace)
    return namespace


async def test_readme_endpoints_example(emulator: QualtricsEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    tour = _example("endpoints")["tour"]
    survey = emulator.data.surveys[0]
    async with make_client(emulator) as client:
        await tour(client, survey["id"], emulator.data.default_directory_id)
    out = capsys.readouterr().out
    assert survey["name"] in out
    contacts = emulator.data.contacts[emulator.data.default_directory_id]
    assert contacts[0]["contactId"] in out
    assert out.count(contacts[-1]["contactId"]) == 2  # streamed once, and again after resuming


async def test_readme_emulator_example() -> None:
    await _example("emulator")["test_my_etl_job"]()


async def test_readme_export_example(
    emulator: QualtricsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly = _example("export")["nightly"]
    ids = [s["id"] for s in emulator.data.surveys[:3]]
    emulator.set_export_duration(0.2)
    async with make_client(emulator) as client:
        await nightly(client, ids, tmp_path)
    out = capsys.readouterr().out
    assert str(tmp_path / "first.zip") in out
    assert (tmp_path / "sample.zip").stat().st_size > 0
    assert all((tmp_path / f"{sid}.zip").exists() for sid in ids)
    assert "full " in out  # the first incremental run exports everything


async def test_readme_bulk_import_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sync_contacts = _example("bulk-import")["sync_contacts"]
    csv_file = tmp_path / "crm.csv"
    csv_file.write_text("email,First Name,Customer no\nann1@example.org,Ann,CRM-1\nzed@example.org,Zed,CRM-9999\n")
    async with QualtricsEmulator(seed=5) as emulator:
        pool = emulator.data.default_directory_id
        before = len(emulator.data.contacts[pool])
        async with make_client(emulator) as client:
            await sync_contacts(client, pool, csv_file, tmp_path)
        out = capsys.readouterr().out
        assert "2500 added, 0 updated, 0 failed, 0 invalid, 0 unknown, into CG_" in out
        assert "2500/? contacts" in out  # a generator has no length: the total is unknown
        assert "2 contacts from crm.csv" in out
        assert len(emulator.data.contacts[pool]) == before + 2501  # ann1 merged (same email and extRef)
    assert (tmp_path / "crm.ckpt").exists()


def test_readme_families_table_matches_the_client() -> None:
    import functools
    import inspect

    from qualtrics_async import QualtricsClient
    from qualtrics_async.resources._base import Resource

    table = README.read_text().split("<!-- families-table -->", 1)[1].split("\n\n", 1)[0]
    listed: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        attribute = re.fullmatch(r"`client\.(\w+)`", cells[1])
        if attribute:
            names = {m.group(0) for m in re.finditer(r"\b[a-z_]+\b", re.sub(r"\([^)]*\)", "", cells[2]))}
            listed.setdefault(attribute.group(1), set()).update(names)
    resources = {
        name: inspect.get_annotations(prop.func, eval_str=True)["return"]
        for name, prop in vars(QualtricsClient).items()
        if isinstance(prop, functools.cached_property)
    }
    assert set(listed) == set(resources), "every resource attribute has a row, and every row a resource"
    for name, cls in resources.items():
        public = {
            m
            for klass in cls.__mro__
            if klass not in (Resource, object)
            for m, v in vars(klass).items()
            if not m.startswith("_") and callable(v)
        }
        assert listed[name] == public, f"client.{name}: README lists {sorted(listed[name] ^ public)} differently"


def test_readme_webhooks_example() -> None:
    namespace = _example("webhooks")
    assert namespace["event"].survey_id == "SV_123"


@pytest.mark.redis
async def test_readme_redis_limiter_example(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two of the README's workers, concurrently, against one emulator: both done, one budget, no 429."""
    import asyncio

    from redis.asyncio import Redis

    worker = _example("redis-limiter")["worker"]
    async with QualtricsEmulator(seed=1) as emulator:
        monkeypatch.setenv("QUALTRICS_API_TOKEN", emulator.api_token)
        monkeypatch.setenv("QUALTRICS_BASE_URL", emulator.base_url)
        surveys = emulator.data.surveys[:6]
        await asyncio.gather(
            worker([s["id"] for s in surveys[:3]], redis_url), worker([s["id"] for s in surveys[3:]], redis_url)
        )
        assert emulator.stats.throttled == 0
    out = capsys.readouterr().out
    assert all(s["name"] in out for s in surveys)
    assert "namespace='acme-brand', state='shared'" in out
    observer = Redis.from_url(redis_url)
    try:
        assert await observer.exists("qa:{acme-brand}:brand")
    finally:
        await observer.aclose()
