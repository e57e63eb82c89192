"""The ``qualtrics-async`` console script, run for real in a subprocess against the emulator.

Exit codes: 0 success, 1 API error (or a partly failed job), 2 usage error, 130 Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import re
import shlex
import signal
import stat
import sys
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qualtrics_async.testing import QualtricsEmulator

SCRIPT = Path(sys.executable).parent / "qualtrics-async"
ESCAPE = "\x1b["


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
async def emu() -> AsyncIterator[QualtricsEmulator]:
    async with QualtricsEmulator(seed=3, surveys=6, contacts=40) as emulator:
        emulator.set_export_duration(0.2)
        yield emulator


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home of the test's own, so no real profile file is ever read."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def _env(home: Path, emulator: QualtricsEmulator | None = None, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PYTHONIOENCODING": "utf-8",
    }
    if emulator is not None:
        env["QUALTRICS_API_TOKEN"] = emulator.api_token
        env["QUALTRICS_BASE_URL"] = emulator.base_url
    env.update(extra)
    return env


async def cli(*args: str, env: dict[str, str], timeout: float = 60) -> Run:
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def _as_from_a_terminal() -> None:
    """Give the child SIGINT's default action, as a terminal's foreground job has.

    A shell script that starts the test run in the background makes its children ignore
    SIGINT, and Python leaves an ignored SIGINT ignored; Ctrl-C at a terminal never meets that.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.asynccontextmanager
async def interruptible(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """The console script, running as if from a terminal; killed if the test leaves it running."""
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=_as_from_a_terminal,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()


# -- reading -----------------------------------------------------------------------------------------


async def test_whoami_json(emu: QualtricsEmulator, home: Path) -> None:
    run = await cli("whoami", "--json", env=_env(home, emu))
    assert run.code == 0, run.err
    me = json.loads(run.out)
    assert me["userId"].startswith("UR_")
    assert me["brandId"].startswith("BR_")


async def test_surveys_list_as_json_ndjson_and_a_table(emu: QualtricsEmulator, home: Path) -> None:
    expected = {s["id"] for s in emu.data.surveys}
    as_json = await cli("surveys", "list", "--json", env=_env(home, emu))
    assert as_json.code == 0, as_json.err
    assert {s["id"] for s in json.loads(as_json.out)} == expected
    as_ndjson = await cli("surveys", "list", "--ndjson", env=_env(home, emu))
    assert {json.loads(line)["id"] for line in as_ndjson.out.splitlines()} == expected
    table = await cli("surveys", "list", env=_env(home, emu))
    assert table.code == 0
    assert all(survey_id in table.out for survey_id in expected)
    assert ESCAPE not in table.out  # not a terminal: plain text that pipes cleanly


# -- exports -----------------------------------------------------------------------------------------


async def test_export_writes_whole_files_and_a_summary(emu: QualtricsEmulator, home: Path, tmp_path: Path) -> None:
    ids = [s["id"] for s in emu.data.surveys[:3]]
    out = tmp_path / "out"
    run = await cli("export", *ids, "-o", str(out), "--concurrency", "2", env=_env(home, emu))
    assert run.code == 0, run.err
    assert "exported 3 of 3 surveys" in run.out
    assert ESCAPE not in run.out
    for survey_id in ids:
        archive = out / f"{survey_id}.zip"
        assert zipfile.ZipFile(archive).testzip() is None
        assert str(archive) in run.out
    assert not list(out.glob("*.part"))


async def test_export_extract_and_formats(emu: QualtricsEmulator, home: Path, tmp_path: Path) -> None:
    survey_id = emu.data.surveys[0]["id"]
    run = await cli("export", survey_id, "-o", str(tmp_path), "--format", "ndjson", "--extract", env=_env(home, emu))
    assert run.code == 0, run.err
    lines = (tmp_path / f"{survey_id}.ndjson").read_text().splitlines()
    assert lines
    assert all("responseId" in json.loads(line) for line in lines)


async def test_export_incremental_then_only_what_is_new(emu: QualtricsEmulator, home: Path, tmp_path: Path) -> None:
    ids = [s["id"] for s in emu.data.surveys[:2]]
    state = tmp_path / "state"
    first = await cli("export", *ids, "-o", str(tmp_path / "out"), "--incremental", str(state), env=_env(home, emu))
    assert first.code == 0, first.err
    assert first.out.count("(full)") == 2
    assert sorted(p.name for p in state.glob("*.sync.json")) == sorted(f"{sid}.sync.json" for sid in ids)
    emu.add_responses(ids[0], 3)
    second = await cli("export", *ids, "-o", str(tmp_path / "out"), "--incremental", str(state), env=_env(home, emu))
    assert second.code == 0, second.err
    assert second.out.count("(continuation)") == 2


async def test_export_of_an_unknown_survey_exits_1_with_the_request_id(
    emu: QualtricsEmulator, home: Path, tmp_path: Path
) -> None:
    good = emu.data.surveys[0]["id"]
    run = await cli("export", good, "SV_doesNotExist00", "-o", str(tmp_path), env=_env(home, emu))
    assert run.code == 1
    assert "SV_doesNotExist00  FAILED" in run.out
    assert "requestId" in run.out
    assert (tmp_path / f"{good}.zip").exists()  # the other survey still landed


async def test_ctrl_c_mid_download_exits_130_and_leaves_no_partial_file(
    emu: QualtricsEmulator, home: Path, tmp_path: Path
) -> None:
    survey_id = emu.data.surveys[0]["id"]
    out = tmp_path / "out"
    emu.inject("GET", "/surveys/*/export-responses/*/file", drip=0.02, times=10)  # 50 bytes/s
    async with interruptible("export", survey_id, "-o", str(out), env=_env(home, emu)) as process:
        async with asyncio.timeout(30):
            while not list(out.glob("*.part")):  # noqa: ASYNC110 - the file is the event
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    assert list(out.iterdir()) == []  # neither the .part nor a final file


# -- contacts ----------------------------------------------------------------------------------------


async def test_contacts_import_reports_and_writes_failures(emu: QualtricsEmulator, home: Path, tmp_path: Path) -> None:
    pool = emu.data.default_directory_id
    source = tmp_path / "crm.csv"
    source.write_text(
        "email,First Name,extRef\n"
        "a1@example.org,Ann,C-1\n"
        "b2@example.org,Bob,C-2\n"
        "c3@nowhere.invalid,Cy,C-3\n"
        "not-an-email,Di,C-4\n"
    )
    checkpoint = tmp_path / "crm.ckpt"
    run = await cli(
        "contacts",
        "import",
        str(source),
        "--directory",
        pool,
        "--checkpoint",
        str(checkpoint),
        env=_env(home, emu),
    )
    assert run.code == 1, run.err  # two contacts did not land
    assert "4 contacts from crm.csv" in run.out
    assert "2 added" in run.out
    with (tmp_path / "crm.csv.failures.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["kind"] for row in rows) == ["failed", "invalid"]
    assert {json.loads(row["contact"]).get("email") for row in rows} == {"c3@nowhere.invalid", "not-an-email"}
    assert all(row["reason"] for row in rows)
    assert checkpoint.exists()


async def test_contacts_import_all_landed_exits_0(emu: QualtricsEmulator, home: Path, tmp_path: Path) -> None:
    source = tmp_path / "ok.csv"
    source.write_text("email,firstName\n" + "".join(f"p{i}@example.org,P{i}\n" for i in range(25)))
    run = await cli(
        "contacts", "import", str(source), "--directory", emu.data.default_directory_id, env=_env(home, emu)
    )
    assert run.code == 0, run.err
    assert "25 added" in run.out
    assert not (tmp_path / "ok.csv.failures.csv").exists()


# -- credentials and errors --------------------------------------------------------------------------


async def test_a_bad_token_exits_1_without_echoing_it(emu: QualtricsEmulator, home: Path) -> None:
    secret = "bad-token-4f9a2c7e1d"
    run = await cli("whoami", env=_env(home, emu, QUALTRICS_API_TOKEN=secret))
    assert run.code == 1
    assert "401" in run.err or "authentic" in run.err.lower()
    assert "requestId" in run.err
    assert secret not in run.out
    assert secret not in run.err
    flag = await cli("--verbose", "--token", secret, "whoami", env=_env(home, emu))
    assert flag.code == 1
    assert secret not in flag.out
    assert secret not in flag.err
    assert "GET /whoami" in flag.err  # --verbose logs the requests, never the credentials


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--datacenter", "xyz9", "whoami"], "unknown datacenter 'xyz9'"),
        (["whoami"], "no credentials"),
        (["export", "SV_1", "-o", "x", "--concurrency", "0"], "--concurrency must be at least 1"),
        (["no-such-command"], "invalid choice"),
    ],
)
async def test_usage_errors_exit_2(home: Path, args: list[str], message: str) -> None:
    env = _env(home, QUALTRICS_DATACENTER="iad1")
    if "--concurrency" in args:
        env["QUALTRICS_API_TOKEN"] = "some-token-value"
    run = await cli(*args, env=env)
    assert run.code == 2, (run.out, run.err)
    assert message in run.err


def _profile(home: Path, text: str, mode: int) -> Path:
    path = home / ".config" / "qualtrics-async" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


async def test_a_profile_file_readable_by_others_is_refused(emu: QualtricsEmulator, home: Path) -> None:
    path = _profile(home, f'[default]\napi_token = "{emu.api_token}"\nbase_url = "{emu.base_url}"\n', 0o644)
    run = await cli("whoami", env=_env(home))
    assert run.code == 2
    assert f"chmod 600 {path}" in run.err
    assert emu.api_token not in run.err
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    ok = await cli("whoami", "--json", env=_env(home))
    assert ok.code == 0, ok.err


async def test_profiles_flags_and_environment_in_that_order(emu: QualtricsEmulator, home: Path) -> None:
    _profile(
        home,
        f'[default]\napi_token = "wrong-default-token"\nbase_url = "{emu.base_url}"\n\n'
        f'[work]\napi_token = "{emu.api_token}"\nbase_url = "{emu.base_url}"\n',
        0o600,
    )
    assert (await cli("whoami", env=_env(home))).code == 1  # the default profile's token is refused
    assert (await cli("--profile", "work", "whoami", env=_env(home))).code == 0
    assert (await cli("whoami", env=_env(home, QUALTRICS_API_TOKEN=emu.api_token))).code == 0  # env over file
    missing = await cli("--profile", "nope", "whoami", env=_env(home))
    assert missing.code == 2
    assert "no profile [nope]" in missing.err


# -- the documented examples ---------------------------------------------------------------------------


async def test_every_command_line_in_the_cli_docs_runs(emu: QualtricsEmulator, home: Path, tmp_path: Path) -> None:
    """Each line of docs/cli.md's examples, with the emulator's ids for the ones shown, exits 0."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    block = re.search(r"<!-- cli-examples -->\s*```sh\n(.+?)\n```", docs, re.S)
    assert block, "docs/cli.md must mark its examples with <!-- cli-examples -->"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) >= 8
    surveys = iter(s["id"] for s in emu.data.surveys)
    ids: dict[str, str] = {}

    def real(token: str) -> str:
        if token.startswith("SV_"):
            return ids.setdefault(token, next(surveys))
        if token.startswith("POOL_"):
            return emu.data.default_directory_id
        return token

    (tmp_path / "crm.csv").write_text("email,firstName\nann@example.org,Ann\nbob@example.org,Bob\n")
    for line in lines:
        argv = [real(token) for token in shlex.split(line)]
        assert argv[0] == "qualtrics-async", line
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT), *argv[1:], env=_env(home, emu), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, (line, err.decode()[-2000:])
        assert out.strip(), line


async def test_ctrl_c_mid_import_keeps_the_checkpoint_and_the_rerun_resumes(
    emu: QualtricsEmulator, home: Path, tmp_path: Path
) -> None:
    pool = emu.data.default_directory_id
    source = tmp_path / "big.csv"
    source.write_text("email,extRef\n" + "".join(f"x{i}@example.org,X-{i}\n" for i in range(3000)))
    checkpoint = tmp_path / "big.ckpt"
    args = ["contacts", "import", str(source), "--directory", pool, "--checkpoint", str(checkpoint)]
    emu.inject("POST", "/directories/*/mailinglists/*/transactioncontacts", delay=0.4, times=100)
    async with interruptible(*args, "--batch-size", "300", "--concurrency", "1", env=_env(home, emu)) as process:
        async with asyncio.timeout(30):
            while len(emu.directory.import_jobs) < 2:  # noqa: ASYNC110 - the server's jobs are the event
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 130, err.decode()
    assert f"the checkpoint {checkpoint} holds every batch that settled" in err.decode()
    sent_before = sum(job.received for job in emu.directory.import_jobs)
    assert 0 < sent_before < 3000
    emu.clear_faults()
    rerun = await cli(*args, "--batch-size", "300", env=_env(home, emu))
    assert rerun.code in (0, 1), rerun.err  # 1 when a batch cut mid-send is reported unknown, not re-sent
    assert "3,000 contacts from big.csv" in rerun.out
    assert sum(job.received for job in emu.directory.import_jobs) <= 3000  # nothing sent twice
