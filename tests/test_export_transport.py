"""Export downloads against a raw-socket server: answers the emulator never gives.

A server that sends no length, a chunked body cut after its last byte, a ZIP when
``compress=False`` was asked for (Qualtrics may compress a large export anyway, §6.2).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from qualtrics_async import QualtricsClient
from qualtrics_async.errors import ExportCorruptError
from qualtrics_async.exports import ExportState
from tests.conftest import FAST_RETRY, FAST_TIMEOUTS, TOKEN
from tests.rawserver import RawServer, json_reply, raw, response_head

CSV = b"ResponseId,Q1\r\n" + b"".join(b"R_%d,answer %d\r\n" % (i, i) for i in range(20_000))
DONE = ExportState(survey_id="SV_1", progress_id="ES_1", format="csv", compress=False, status="complete", file_id="F1")


def _client(server: RawServer) -> QualtricsClient:
    return QualtricsClient(TOKEN, base_url=server.base_url, retry=FAST_RETRY, timeouts=FAST_TIMEOUTS, env={})


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_D8_raw_file_without_a_length_never_takes_the_final_name(tmp_path: Path) -> None:
    # No Content-Length, not chunked: the body "ends" when the connection closes, here after
    # a third of the file. That cannot be told from a whole file, so it is refused.
    cut = raw(
        response_head(200, {"Content-Type": "application/csv", "Connection": "close"}) + CSV[: len(CSV) // 3],
        then="close",
    )
    async with RawServer(cut) as server, _client(server) as client:
        with pytest.raises(ExportCorruptError, match="did not say how long") as caught:
            await client.responses.resume_export(DONE).download(tmp_path / "x.csv")
    assert caught.value.file_id == "F1"
    assert _leftovers(tmp_path) == []


async def test_D8_streamed_records_without_a_length_raise_at_the_end(tmp_path: Path) -> None:
    cut = raw(response_head(200, {"Content-Type": "application/csv", "Connection": "close"}) + CSV[:5000], then="close")
    async with RawServer(cut) as server, _client(server) as client:
        with pytest.raises(ExportCorruptError, match="did not say how long"):
            [r async for r in client.responses.resume_export(DONE).records()]


async def test_F3_drop_after_the_last_chunk_resumes_to_a_whole_file(tmp_path: Path) -> None:
    # Every byte arrives but the chunked terminator does not; the resumed range then starts
    # at the end (416), so the file is downloaded again from the start.
    head = response_head(
        200,
        {"Content-Type": "application/csv", "Transfer-Encoding": "chunked", "Accept-Ranges": "bytes", "ETag": '"v1"'},
    )
    no_terminator = raw(head + b"%x\r\n" % len(CSV) + CSV + b"\r\n", then="close")
    not_satisfiable = raw(response_head(416, {"Content-Range": "bytes */*", "Content-Length": "0"}))
    whole = raw(response_head(200, {"Content-Type": "application/csv", "Content-Length": str(len(CSV))}) + CSV)
    async with RawServer(no_terminator, not_satisfiable, whole) as server, _client(server) as client:
        result = await client.responses.resume_export(DONE).download(tmp_path / "x.csv")
        ranges = [request.headers.get("range") for request in server.requests]
    assert (tmp_path / "x.csv").read_bytes() == CSV
    assert result.size == len(CSV)
    assert ranges == [None, f"bytes={len(CSV)}-", None]


async def test_F3_a_file_shorter_than_announced_is_never_whole(tmp_path: Path) -> None:
    # 10 bytes more were announced than exist: the resume is refused (416) and a fresh download
    # is no better, so the file never takes its name.
    head = response_head(
        200,
        {
            "Content-Type": "application/csv",
            "Content-Length": str(len(CSV) + 10),
            "Accept-Ranges": "bytes",
            "ETag": '"v1"',
        },
    )
    async with (
        RawServer(
            raw(head + CSV, then="close"),
            raw(response_head(416, {"Content-Range": f"bytes */{len(CSV)}", "Content-Length": "0"})),
        ) as server,
        _client(server) as client,
    ):
        with pytest.raises(ExportCorruptError):  # announced 10 bytes more than it has: never whole
            await client.responses.resume_export(DONE).download(tmp_path / "x.csv")
    assert _leftovers(tmp_path) == []


async def test_export_unzips_a_zip_sent_despite_compress_false(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Survey: one / two.csv", CSV)
    body = buffer.getvalue()
    replies = (
        json_reply({"progressId": "ES_1", "percentComplete": 0.0, "status": "inProgress"}),
        json_reply({"progressId": "ES_1", "percentComplete": 100.0, "status": "complete", "fileId": "F1"}),
        raw(response_head(200, {"Content-Type": "application/zip", "Content-Length": str(len(body))}) + body),
    )
    async with RawServer(*replies) as server, _client(server) as client:
        result = await client.responses.export("SV_1", tmp_path / "out.csv", compress=False)
    assert result.path == tmp_path / "out.csv"
    assert result.compressed
    assert result.member_name == "Survey: one / two.csv"
    assert (tmp_path / "out.csv").read_bytes() == CSV
    assert _leftovers(tmp_path) == ["out.csv"]
