"""No name from an id, a server or a user ever makes the client write outside the chosen folder.

I9: survey ids (``../../x``, ``..\\x``, absolute paths, ``CON``, NUL, 400 characters), file
ids and ZIP member names from a hostile server, through ``export``, ``export_many``,
``export_incremental`` and the CLI's ``export``: every file lands inside ``dest``, real ids
keep their exact names, and every error raised is a ``QualtricsError``.

I11: the CLI's failures CSV is mode 0600, written atomically, and no cell of it can be read
as a formula by a spreadsheet.

Real loopback HTTP throughout: the bundled emulator, or ``tests.rawserver`` for answers the
emulator never gives (a server that accepts any survey id and names its file ``../../evil``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import stat
import sys
import unicodedata
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qualtrics_async import QualtricsClient, RateLimits
from qualtrics_async._safename import MAX_NAME_BYTES, path_in, safe_name
from qualtrics_async.cli._contacts import neutralise_formula, write_failures
from qualtrics_async.contact_import import ImportReport
from qualtrics_async.contact_import._report import ContactFailure
from qualtrics_async.errors import ConfigurationError, QualtricsError
from qualtrics_async.exports import ExportFailure, ExportResult, safe_filename
from qualtrics_async.testing import QualtricsEmulator
from tests.conftest import FAST_RETRY, FAST_TIMEOUTS, TOKEN, make_client
from tests.rawserver import Conn, RawServer, Reply, Request, envelope, full_response

SCRIPT = Path(sys.executable).parent / "qualtrics-async"

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the names ---------------------------------------------------------------------------------

REAL_IDS = [
    "SV_1RHtIM0ZnJiPNhs",
    "SV_abc",
    "SV_ABC",
    "ES_0d3hZdqGzsM8qOp",
    "FILE_5pHf4l0n9Qw2xYz",
    "POOL_0a1b2c3d4e5f6g7",
    "1dc3b6b6-4f8e-4bb7-a6a1-2b5c1d1c3d1e",
    "1dc3b6b6-4f8e-4bb7-a6a1-2b5c1d1c3d1e-def",
]

HOSTILE_IDS = [
    "../../x",
    "..\\x",
    "..\\..\\x",
    "/etc/x",
    "a/../../b",
    "CON",
    "nul.txt",
    "x\x00y",
    "a" * 400,
    "..",
    ".",
    "",
    " ",
    "-rf",
    "...",
    "x\u202eexe.txt",
    "a\nb",
    "C:x",
    "\uff0e\uff0e\uff0fx",  # full-width "../x"
]

FRAGMENTS = ["/", "\\", ".", "..", "\x00", "\x7f", "\x85", "\ud800", "-", " ", ":", "CON", "nul", "COM1", "\u202e",
             "\uff0f", "é", "e\u0301", "a", "SV_", ".csv", "\t", "\u2028", "_", "ß", "\U0001f600"]  # fmt: skip
texts = st.one_of(
    st.text(),
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join),
    st.lists(st.sampled_from(FRAGMENTS), min_size=60, max_size=200).map("".join),
    st.text(min_size=140, max_size=600),
)
real_ids = st.one_of(
    st.from_regex(r"(SV|ES|FILE|UR|BR|POOL|CG|ML|R|GR|EMD)_[A-Za-z0-9]{1,40}", fullmatch=True),
    st.uuids().map(str),
)


def _rules_hold(name: str, max_bytes: int = MAX_NAME_BYTES) -> None:
    assert name
    assert name not in (".", "..")
    assert set(name) != {"."}
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in name), ascii(name)
    assert not name.startswith((".", "-")), name
    assert name == name.strip(), ascii(name)
    assert not name.endswith("."), name
    assert len(name.encode("utf-8")) <= max_bytes
    assert name.partition(".")[0].rstrip(" ").upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@SETTINGS
@given(texts)
@example("../../x")
@example("a" * 400)
@example("é" * 400 + ".csv")
def test_I9_safe_name_is_a_plain_bounded_name_for_any_text(text: str) -> None:
    for tag in (True, False):
        name = safe_name(text, fallback="survey", tag_changes=tag)
        _rules_hold(name)
        assert safe_name(text, fallback="survey", tag_changes=tag) == name  # deterministic
        assert safe_name(name, fallback="other", tag_changes=tag) == name  # a safe name is kept as is
        folder = Path("/srv/exports")
        joined = path_in(folder, name)
        assert joined.parent == folder
        assert Path(os.path.normpath(joined)).parent == folder
        assert Path(os.path.normpath(folder / (name + ".part"))).parent == folder


@SETTINGS
@given(texts, st.integers(min_value=48, max_value=255))
def test_I9_safe_name_respects_any_byte_bound(text: str, max_bytes: int) -> None:
    _rules_hold(safe_name(text, fallback="f", max_bytes=max_bytes), max_bytes)


@SETTINGS
@given(texts)
def test_I9_a_changed_name_carries_the_hash_of_its_text(text: str) -> None:
    name = safe_name(text, fallback="survey")
    if name != text:
        assert re.search(r"-[0-9a-f]{8}(\.[A-Za-z0-9]{1,16})?$", name), name


@SETTINGS
@given(real_ids)
def test_I9_real_ids_keep_their_exact_names(survey_id: str) -> None:
    assert safe_name(survey_id, fallback="survey") == survey_id


@pytest.mark.parametrize("survey_id", REAL_IDS)
def test_I9_the_ids_of_the_docs_keep_their_exact_names(survey_id: str) -> None:
    assert safe_name(survey_id, fallback="survey") == survey_id


def test_I9_changed_names_do_not_collide_with_the_names_they_look_like() -> None:
    assert safe_name("a_b", fallback="f") == "a_b"
    assert safe_name("a/b", fallback="f").startswith("a_b-")
    assert safe_name("a\\b", fallback="f").startswith("a_b-")
    assert len({safe_name(t, fallback="f") for t in ("a_b", "a/b", "a\\b", "a:b", "a\x00b")}) == 5
    assert safe_name("..", fallback="f") != safe_name("...", fallback="f")
    long_a, long_b = "a" * 300 + "1", "a" * 300 + "2"  # the same first 150 bytes
    assert safe_name(long_a, fallback="f") != safe_name(long_b, fallback="f")
    # Case is kept: real ids differ in more than case (docs/exports.md, "File names").
    assert safe_name("SV_abc", fallback="f") != safe_name("SV_ABC", fallback="f")


def test_I9_recognisable_names_and_device_names() -> None:
    assert safe_name("../../x", fallback="f") == "_.._x-9cdf6a50"  # as docs/exports.md shows
    assert safe_name("CON", fallback="f").startswith("_CON-")
    assert safe_name("con.tar.gz", fallback="f", tag_changes=False) == "_con.tar.gz"
    assert safe_name("COM1 .csv", fallback="f", tag_changes=False) == "_COM1 .csv"
    assert safe_name("-rf", fallback="f", tag_changes=False) == "_rf"
    assert safe_name("", fallback="survey").startswith("survey-")
    assert safe_name("..", fallback="../fallback.csv", tag_changes=False) == "_fallback.csv"
    long = safe_name("é" * 400 + ".csv", fallback="f")
    assert long.endswith(".csv")
    assert len(long.encode()) <= MAX_NAME_BYTES
    # The ZIP member names of the extract path keep their old, readable form.
    assert safe_filename("../../etc/passwd", fallback="f") == "_.._etc_passwd"
    readable = safe_filename("Employee Pulse / May 2025: Zürich.csv", fallback="f")
    assert readable == "Employee Pulse _ May 2025_ Zürich.csv"


@pytest.mark.parametrize("name", ["../x", "..", ".", "", "a/b", "a\\b", "/etc/x", "x\x00y"])
def test_I9_path_in_refuses_anything_but_a_plain_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="refusing to write") as caught:
        path_in(tmp_path, name)
    assert repr(name) in str(caught.value)
    assert "pass an id or name without them" in str(caught.value)


# -- helpers -----------------------------------------------------------------------------------


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _layout(tmp_path: Path) -> Path:
    """``tmp_path/up2/up1/dest``: a traversal of one or two levels would land in the watched tree."""
    dest = tmp_path / "up2" / "up1" / "dest"
    dest.mkdir(parents=True)
    return dest


def _only_inside(tmp_path: Path, before: set[str], dest: Path) -> list[str]:
    """What appeared in the tree, checked to be all inside ``dest``; returns the new names in ``dest``."""
    prefix = dest.relative_to(tmp_path).as_posix() + "/"
    new = _tree(tmp_path) - before
    outside = sorted(p for p in new if not p.startswith(prefix))
    assert outside == [], f"written outside dest: {outside}"
    return sorted(p[len(prefix) :] for p in new)


def _hostile_ids(tmp_path: Path) -> list[str]:
    """The traversal ids, with absolute ones that point into the watched tree instead of ``/etc``.

    Against a server that exports any id, a regression must litter the test's own folder,
    never the machine (``/etc/x`` is driven against the emulator, which answers 404).
    """
    relative = [i for i in HOSTILE_IDS if not i.startswith("/")]
    return [*relative, str(tmp_path / "up2" / "abs"), str(tmp_path / "up2" / "up1" / "abs2")]


def _zip(member: str, data: bytes = b"ResponseId,Q1\r\nR_1,yes\r\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("placeholder", date_time=(2025, 1, 1, 0, 0, 0))
        info.filename = member  # verbatim, as a hostile server would write it
        archive.writestr(info, data)
    return buffer.getvalue()


def any_survey(*, file_id: str, member: str) -> Reply:
    """A server that exports any survey id at once, names its file ``file_id`` and its member ``member``."""
    archive = _zip(member)

    async def reply(conn: Conn, request: Request) -> None:
        if request.method == "POST":
            body = envelope({"progressId": "ES_0d3hZdqGzsM8qOp", "percentComplete": 0.0, "status": "inProgress"})
            await conn.send(full_response(200, body))
        elif request.path.endswith("/file"):
            await conn.send(full_response(200, archive, content_type="application/zip"))
        else:
            result = {"status": "complete", "percentComplete": 100.0, "fileId": file_id, "continuationToken": "ct_1"}
            await conn.send(full_response(200, envelope(result)))

    return reply


def raw_client(server: RawServer) -> QualtricsClient:
    return QualtricsClient(
        TOKEN,
        base_url=server.base_url,
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
        rate_limits=RateLimits.unlimited(),
        env={},
    )


HOSTILE_FILE_IDS = ["../../evil", "..\\..\\evil", "/tmp/evil", "CON", "f" * 300, "a/../../b"]
HOSTILE_MEMBERS = ["../../evil.csv", "/abs/evil.csv", "..\\..\\evil.csv", "CON.csv", "..", "a/../../../b.csv"]


# -- I9: the API, against a server that accepts any id ---------------------------------------


@pytest.mark.parametrize(("file_id", "member"), list(zip(HOSTILE_FILE_IDS, HOSTILE_MEMBERS, strict=True)))
@pytest.mark.parametrize("extract", [False, True])
async def test_I9_export_many_of_traversal_ids_writes_only_inside_dest(
    tmp_path: Path, file_id: str, member: str, extract: bool
) -> None:
    dest = _layout(tmp_path)
    before = _tree(tmp_path)
    ids = [*_hostile_ids(tmp_path), *REAL_IDS[:2]]
    async with RawServer(any_survey(file_id=file_id, member=member)) as server, raw_client(server) as client:
        outcomes = [o async for o in client.responses.export_many(ids, dest, extract=extract, timeout=20)]
    written = _only_inside(tmp_path, before, dest)
    by_id = {o.survey_id: o for o in outcomes}
    assert sorted(by_id) == sorted(ids)
    extension = "csv" if extract else "zip"
    for survey_id in REAL_IDS[:2]:
        result = by_id[survey_id]
        assert isinstance(result, ExportResult), result
        assert result.path == dest / f"{survey_id}.{extension}"  # a real id keeps its exact name
    for outcome in outcomes:
        if isinstance(outcome, ExportFailure):
            assert isinstance(outcome.error, QualtricsError)
            assert outcome.survey_id in ("", ".", ".."), outcome  # the only ids no URL can carry
        else:
            assert outcome.path.parent == dest
            assert outcome.path.name == f"{safe_name(outcome.survey_id, fallback='survey')}.{extension}"
            assert stat.S_IMODE(outcome.path.stat().st_mode) == 0o600
    assert not [n for n in written if n.endswith((".part", ".download"))]
    assert len(written) == len(ids) - 3  # one file per exported survey, nothing else
    assert all("/" not in name for name in written)


@pytest.mark.parametrize("member", HOSTILE_MEMBERS)
async def test_I9_extract_into_a_folder_names_the_member_safely(tmp_path: Path, member: str) -> None:
    dest = _layout(tmp_path)
    before = _tree(tmp_path)
    async with RawServer(any_survey(file_id="../../evil", member=member)) as server, raw_client(server) as client:
        result = await client.responses.export("../../x", dest, extract=True, timeout=20)
    assert _only_inside(tmp_path, before, dest) == [result.path.name]
    assert result.path.parent == dest
    assert result.member_name == member
    assert result.path.read_bytes().startswith(b"ResponseId")


@pytest.mark.parametrize("survey_id", ["../../x", "..\\x", "<absolute>", "a/../../b", "CON", "x\x00y", "a" * 400])
async def test_I9_export_incremental_keeps_its_state_and_runs_inside_dest(tmp_path: Path, survey_id: str) -> None:
    dest = _layout(tmp_path)
    if survey_id == "<absolute>":
        survey_id = str(tmp_path / "up2" / "abs")  # inside the watched tree, never the machine's /etc
    before = _tree(tmp_path)
    async with RawServer(any_survey(file_id="../../evil", member="../x.csv")) as server, raw_client(server) as client:
        first = await client.responses.export_incremental(survey_id, dest, timeout=20)
        second = await client.responses.export_incremental(survey_id, dest, timeout=20)
    written = _only_inside(tmp_path, before, dest)
    safe = safe_name(survey_id, fallback="survey")
    assert (first.mode, second.mode) == ("full", "continuation")
    assert first.export.path == dest / f"{safe}-00001-full.zip"
    assert second.export.path == dest / f"{safe}-00002-continuation.zip"
    assert f"{safe}.sync.json" in written
    assert second.state.survey_id == survey_id  # the state still names the real id
    assert all(len(name.encode()) <= 255 for name in written)


async def test_I9_export_incremental_of_a_real_id_keeps_the_documented_names(tmp_path: Path) -> None:
    survey_id = REAL_IDS[0]
    async with RawServer(any_survey(file_id="F1", member="x.csv")) as server, raw_client(server) as client:
        run = await client.responses.export_incremental(survey_id, tmp_path, timeout=20)
    assert run.export.path == tmp_path / f"{survey_id}-00001-full.zip"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        f"{survey_id}-00001-full.zip",
        f"{survey_id}.sync.json",
    ]


# -- I9: the API, against the emulator ---------------------------------------------------------


@pytest.fixture
async def emulator() -> AsyncIterator[QualtricsEmulator]:
    """The emulator without its rate limits (two dozen export starts would be paced over 15 s)."""
    async with QualtricsEmulator(seed=1, rate_limits=None) as emu:
        emu.set_export_duration(0.1)
        yield emu


async def test_I9_emulator_unknown_traversal_ids_fail_as_qualtrics_errors_and_write_nothing(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    dest = _layout(tmp_path)
    before = _tree(tmp_path)
    real = emulator.data.surveys[0]["id"]
    async with make_client(emulator, rate_limits=RateLimits.unlimited()) as client:
        ids = [*_hostile_ids(tmp_path), "/etc/x", "/etc/passwd", real]  # the emulator answers 404: safe to try
        outcomes = [o async for o in client.responses.export_many(ids, dest)]
        with pytest.raises(QualtricsError):
            await client.responses.export("../../x", dest, extract=True)
        with pytest.raises(QualtricsError):
            await client.responses.export_incremental("../../x", dest)
    assert _only_inside(tmp_path, before, dest) == [f"{real}.zip"]  # a failed run saves no state
    for outcome in outcomes:
        if outcome.survey_id == real:
            assert isinstance(outcome, ExportResult)
        else:
            assert isinstance(outcome, ExportFailure)
            assert isinstance(outcome.error, QualtricsError)


@pytest.mark.parametrize("name", ["../../evil", "/abs/evil", "..", "CON", "a\\..\\..\\b", "x" * 300])
async def test_I9_emulator_survey_named_like_a_path_extracts_inside_dest(
    emulator: QualtricsEmulator, tmp_path: Path, name: str
) -> None:
    survey_id = emulator.add_survey(name, responses=3)
    dest = _layout(tmp_path)
    before = _tree(tmp_path)
    async with make_client(emulator) as client:
        result = await client.responses.export(survey_id, dest, extract=True)
    assert _only_inside(tmp_path, before, dest) == [result.path.name]
    assert result.path.name == safe_filename(f"{name}.csv", fallback=f"{survey_id}.csv")


# -- I9: the command line ----------------------------------------------------------------------


async def _cli(*args: str, base_url: str, home: Path) -> tuple[int, str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PYTHONIOENCODING": "utf-8",
        "QUALTRICS_API_TOKEN": TOKEN,
        "QUALTRICS_BASE_URL": base_url,
    }
    process = await asyncio.create_subprocess_exec(
        str(SCRIPT), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


CLI_IDS = ["../../x", "..\\x", "a/../../b", "CON", "a" * 400]  # argv cannot carry NUL


@pytest.mark.parametrize("mode", ["zip", "extract", "incremental"])
async def test_I9_cli_export_of_traversal_ids_writes_only_inside_the_output(tmp_path: Path, mode: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    dest = _layout(tmp_path)
    state = tmp_path / "up2" / "up1" / "dest" / "state"
    ids = [*CLI_IDS, str(tmp_path / "up2" / "abs"), REAL_IDS[0]]
    extra = {"zip": [], "extract": ["--extract"], "incremental": ["--incremental", str(state)]}[mode]
    before = _tree(tmp_path)
    async with RawServer(any_survey(file_id="../../evil", member="../../evil.csv")) as server:
        code, out, err = await _cli("export", *ids, "-o", str(dest), *extra, base_url=server.base_url, home=home)
    assert code == 0, err + out
    written = _only_inside(tmp_path, before, dest)
    extension = "csv" if mode == "extract" else "zip"
    if mode == "incremental":
        assert f"{REAL_IDS[0]}-00001-full.zip" in written
        assert f"state/{REAL_IDS[0]}.sync.json" in written  # the documented name, unchanged
        assert sum(1 for n in written if n.startswith("state/") and n.endswith(".sync.json")) == len(ids)
    else:
        assert f"{REAL_IDS[0]}.{extension}" in written
        assert sorted(written) == sorted(f"{safe_name(i, fallback='survey')}.{extension}" for i in ids)
    assert f"exported {len(ids)} of {len(ids)} surveys" in out


async def test_I9_cli_export_against_the_emulator_fails_the_traversal_ids_only(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    dest = _layout(tmp_path)
    real = emulator.data.surveys[0]["id"]
    before = _tree(tmp_path)
    code, out, _err = await _cli("export", *CLI_IDS, real, "-o", str(dest), base_url=emulator.base_url, home=home)
    assert code == 1
    assert _only_inside(tmp_path, before, dest) == [f"{real}.zip"]
    assert out.count("FAILED") == len(CLI_IDS)


# -- I11: the failures CSV ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        (" =1", "' =1"),
        ("\n@x", "'\n@x"),
        ("\uff1dcmd", "'\uff1dcmd"),
        ("a=b", "a=b"),
        ('{"email": "=cmd"}', '{"email": "=cmd"}'),
        ("", ""),
        ("12", "12"),
    ],
)
def test_I11_formula_cells_are_neutralised(cell: str, expected: str) -> None:
    assert neutralise_formula(cell) == expected


def _report() -> ImportReport:
    report = ImportReport(directory_id="POOL_1", mailing_list_id="CG_1")
    formula = '=HYPERLINK("http://x")'
    report.failures.append(
        ContactFailure(0, {"email": "=cmd@example.org"}, formula, "rejected", 2, "=cmd|' /C calc'!A0")
    )
    report.failures.append(ContactFailure(1, {"email": "b@example.org"}, "@SUM(1)", "invalid", 3, "+req"))
    return report


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_I11_failures_csv_is_private_whole_and_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv.failures.csv"
    path.write_text("an old, readable file\n")
    path.chmod(0o644)
    write_failures(_report(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .part left
    rows = _rows(path)
    assert rows[0]["request_id"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["reason"] == '\'=HYPERLINK("http://x")'
    assert rows[1]["request_id"] == "'+req"
    assert rows[1]["reason"] == "'@SUM(1)"
    assert json.loads(rows[0]["contact"]) == {"email": "=cmd@example.org"}  # JSON starts with "{": kept
    assert [row["line"] for row in rows] == ["2", "3"]


def test_I11_a_failing_write_leaves_the_previous_file_and_no_part(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("previous\n")
    report = _report()
    report.failures.append(ContactFailure(2, object(), "unencodable", "failed"))
    with pytest.raises(TypeError):
        write_failures(report, path)
    assert path.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="O_NOFOLLOW is POSIX")
def test_I11_a_symlink_planted_at_the_part_name_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    path = tmp_path / "f.csv"
    (tmp_path / "f.csv.part").symlink_to(victim)
    write_failures(_report(), path)
    assert victim.read_text() == "keep me\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.is_symlink()


async def test_I11_cli_failures_csv_is_0600_and_neutralises_a_server_request_id(
    emulator: QualtricsEmulator, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    source = tmp_path / "crm.csv"
    source.write_text("email,firstName\n=cmd@example.org,Ann\n")
    hostile_id = f"=cmd|' /C calc'!A0 {uuid.uuid4()}"
    body = json.dumps(
        {
            "meta": {
                "httpStatus": "400 - Bad Request",
                "requestId": hostile_id,
                "error": {"errorMessage": "-1+1 is not a contact", "errorCode": "QVAL_1"},
            }
        }
    ).encode()
    emulator.inject("POST", "/directories/*/mailinglists/*/transactioncontacts", status=400, body=body, times=5)
    code, out, err = await _cli(
        "contacts", "import", str(source), "--directory", emulator.data.default_directory_id,
        base_url=emulator.base_url, home=home,
    )  # fmt: skip
    assert code == 1, err + out
    failures = tmp_path / "crm.csv.failures.csv"
    assert stat.S_IMODE(failures.stat().st_mode) == 0o600
    assert not (tmp_path / "crm.csv.failures.csv.part").exists()
    rows = _rows(failures)
    assert [row["request_id"] for row in rows] == ["'" + hostile_id]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    assert json.loads(rows[0]["contact"])["email"] == "=cmd@example.org"
