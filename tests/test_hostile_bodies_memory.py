"""D9–D13: bodies built to exhaust memory or disk are cut at their SizeLimits bound.

A raw loopback server (tests/rawserver.py) sends what a hostile or broken server could: a
JSON answer larger than ``SizeLimits.json_bytes`` (declared or chunked, D9), a gzip bomb on
a JSON call (D10), deeply nested JSON inside an export's records (D11), a ZIP bomb whose
one CSV field inflates to 512 MiB or whose member inflates past its declared size (D12), a
download longer than it declared or than ``SizeLimits.download_bytes`` (D13). The real
client (real aiohttp) reads them; each raises the documented error, the server sees no
retry, and nothing is left on disk (docs/exports.md, "Hostile export files").

Memory is measured in a fresh interpreter that runs both the server and the client: peak
RSS (``VmHWM`` of ``/proc/self/status``) after a warm-up and again after the bomb. The bombs
are built without ever holding their inflated bytes: the deflate of one 1 MiB block, flushed
so it is independent of what came before, is repeated.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from qualtrics_async import QualtricsClient, SizeLimits
from qualtrics_async.errors import (
    ExportCorruptError,
    QualtricsError,
    ResponseDecodeError,
    ResponseTooLargeError,
)
from qualtrics_async.exports import ExportState
from qualtrics_async.exports._extract import extract_single_member
from qualtrics_async.exports._records import record_decoder
from qualtrics_async.exports._zipstream import ZipMemberReader
from tests.conftest import FAST_RETRY, FAST_TIMEOUTS, TOKEN
from tests.rawserver import RawServer, Reply, json_reply, raw, response_head

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
_BLOCK = b"a" * MiB
CSV_HEAD = b'ResponseId,Q1\r\nResponse ID,Question 1\r\n{"ImportId":"_recordId"},{"ImportId":"QID1"}\r\n'
DONE = ExportState(survey_id="SV_1", progress_id="ES_1", format="csv", compress=True, status="complete", file_id="F1")
FILE_PATH = "/API/v3/surveys/SV_1/export-responses/F1/file"


# -- bombs, built in O(1 MiB) work whatever their inflated size ------------------------------


def deflate_repeat(prefix: bytes, count: int, suffix: bytes, block: bytes = _BLOCK) -> tuple[bytes, int, int]:
    """Raw deflate of ``prefix + block * count + suffix``; returns (data, CRC-32, inflated size).

    Each part ends with a full flush (byte-aligned, dictionary reset), so the compressed
    block does not depend on what came before and is simply repeated.
    """
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflater.compress(prefix) + deflater.flush(zlib.Z_FULL_FLUSH)
    body = deflater.compress(block) + deflater.flush(zlib.Z_FULL_FLUSH)
    tail = deflater.compress(suffix) + deflater.flush()
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    return head + body * count + tail, crc, len(prefix) + count * len(block) + len(suffix)


def zip_bomb(
    prefix: bytes,
    count: int,
    suffix: bytes,
    *,
    name: bytes = b"Bomb survey.csv",
    declared_size: int | None = None,
    descriptor: bool = False,
    block: bytes = _BLOCK,
) -> bytes:
    """A one-file deflate ZIP archive of ``prefix + block * count + suffix`` (under 4 GiB inflated).

    ``declared_size`` makes the headers lie about the inflated size; ``descriptor`` leaves
    the sizes out of the local header (flag bit 3) and puts them in a data descriptor.
    """
    data, crc, size = deflate_repeat(prefix, count, suffix, block)
    declared = size if declared_size is None else declared_size
    flags = 0x08 if descriptor else 0
    local_fields = (0, 0, 0) if descriptor else (crc, len(data), declared)
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, flags, 8, 0, 0x21, *local_fields, len(name), 0) + name
    trailer = struct.pack("<4sIII", b"PK\x07\x08", crc, len(data), declared) if descriptor else b""
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, flags, 8, 0, 0x21, crc, len(data), declared, len(name), 0, 0,
            0, 0, 0, 0,
        )
        + name
    )  # fmt: skip
    offset = len(local) + len(data) + len(trailer)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), offset, 0)
    return local + data + trailer + central + end


def gzip_bomb(prefix: bytes, count: int, suffix: bytes) -> bytes:
    """A gzip member of ``prefix + 1 MiB * count + suffix``."""
    data, crc, size = deflate_repeat(prefix, count, suffix)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + data + struct.pack("<II", crc, size & 0xFFFFFFFF)


def chunked(body: bytes, piece: int = 64 * 1024) -> bytes:
    """``body`` in HTTP/1.1 chunked encoding, with its last chunk."""
    parts = [b"%x\r\n%b\r\n" % (len(body[i : i + piece]), body[i : i + piece]) for i in range(0, len(body), piece)]
    return b"".join(parts) + b"0\r\n\r\n"


def file_reply(body: bytes, headers: dict[str, str] | None = None, *, then: str = "keep") -> Reply:
    """The export file with a correct Content-Length (unless ``headers`` say otherwise)."""
    fields = {"Content-Type": "application/zip", "Content-Length": str(len(body))}
    fields.update(headers or {})
    return raw(response_head(200, fields) + body, then=then)


def chunked_reply(body: bytes, content_type: str = "application/zip") -> Reply:
    return raw(response_head(200, {"Content-Type": content_type, "Transfer-Encoding": "chunked"}) + chunked(body))


EXPORT_FLOW = (
    json_reply({"progressId": "ES_1", "percentComplete": 0.0, "status": "inProgress"}),
    json_reply({"progressId": "ES_1", "percentComplete": 100.0, "status": "complete", "fileId": "F1"}),
)
"""``POST export-responses`` then one ``GET`` of its progress: the replies before the file."""


def client_for(server: RawServer, **limits: int) -> QualtricsClient:
    return QualtricsClient(
        TOKEN,
        base_url=server.base_url,
        retry=FAST_RETRY,
        timeouts=FAST_TIMEOUTS,
        env={},
        size_limits=SizeLimits(**limits),
    )


def file_requests(server: RawServer) -> int:
    return sum(request.path == FILE_PATH for request in server.requests)


# -- measured in a fresh interpreter -----------------------------------------------------------


def _peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes (``VmHWM``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def _measure(replies: tuple[Reply, ...], limits: dict[str, int], scenario: str) -> dict[str, Any]:
    """Warm up with one call, then run ``scenario`` against the server; report error and growth."""
    from qualtrics_async.exports import _records, _zipstream  # noqa: F401 - imported lazily by records()

    warm_up = json_reply({"userId": "UR_1"})
    async with RawServer(warm_up, *replies) as server, client_for(server, **limits) as client:
        await client.request("GET", "/whoami")
        gc.collect()
        before = _peak_rss()
        error: QualtricsError | None = None
        records = 0
        try:
            if scenario == "stream-csv":
                async for _record in client.responses.stream("SV_1", format="csv"):
                    records += 1
            elif scenario == "json-call":
                await client.request("GET", "/whoami")
        except QualtricsError as exc:
            error = exc
        after = _peak_rss()
        paths = [request.path for request in server.requests[1:]]
    return {
        "growth": after - before,
        "records": records,
        "error": type(error).__name__ if error else None,
        "setting": getattr(error, "setting", None),
        "limit": getattr(error, "limit", None),
        "message": str(error) if error else None,
        "paths": paths,
    }


def child(case: str) -> None:
    """Entry point of the measuring interpreter (``python -c``): one JSON report on stdout."""
    if case == "zip-bomb":
        # A 0.5 MiB export whose CSV record 1 has one quoted field of 512 MiB.
        bomb = zip_bomb(CSV_HEAD + b'R_1,"', 512, b'"\r\n')
        replies: tuple[Reply, ...] = (*EXPORT_FLOW, file_reply(bomb))
        report = asyncio.run(_measure(replies, {"record_bytes": 8 * MiB}, "stream-csv"))
        report["body"] = len(bomb)
    else:
        # ~2 MiB of gzip that inflates to 2 GiB, on a JSON call.
        bomb = gzip_bomb(b'{"result": {"userId": "', 2048, b'"}, "meta": {}}')
        head = {"Content-Type": "application/json", "Content-Encoding": "gzip", "Content-Length": str(len(bomb))}
        replies = (raw(response_head(200, head) + bomb),)
        report = asyncio.run(_measure(replies, {"json_bytes": 16 * MiB}, "json-call"))
        report["body"] = len(bomb)
    print(json.dumps(report))


def run_child(case: str) -> dict[str, Any]:
    code = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom tests.test_hostile_bodies_memory import child\n"
    process = subprocess.run(
        [sys.executable, "-c", code + f"child({case!r})"], cwd=ROOT, capture_output=True, timeout=120, check=False
    )
    assert process.returncode == 0, process.stderr.decode()[-3000:]
    report: dict[str, Any] = json.loads(process.stdout)
    return report


def test_D12_zip_bomb_with_one_512_MB_field_stays_within_record_bytes() -> None:
    report = run_child("zip-bomb")
    assert report["body"] < 600 * 1024  # half a MiB on the wire, 512 MiB inflated
    assert report["error"] == "ResponseTooLargeError", report
    assert report["setting"] == "SizeLimits.record_bytes", report
    assert report["limit"] == 8 * MiB, report
    assert "Record 1 (line 4) of the CSV export" in report["message"], report
    assert "size_limits=SizeLimits(record_bytes=...)" in report["message"], report
    assert report["records"] == 0
    assert report["growth"] < 64 * MiB, report
    # start, one poll, one download: the bomb was not downloaded again
    assert report["paths"] == [
        "/API/v3/surveys/SV_1/export-responses",
        "/API/v3/surveys/SV_1/export-responses/ES_1",
        FILE_PATH,
    ], report


def test_D10_gzip_bomb_on_a_json_call_is_cut_at_json_bytes() -> None:
    report = run_child("gzip-bomb")
    assert report["body"] < 3 * MiB  # 2 MiB of gzip for 2 GiB of JSON
    assert report["error"] == "ResponseTooLargeError", report
    assert report["setting"] == "SizeLimits.json_bytes", report
    assert report["limit"] == 16 * MiB
    assert report["growth"] < 64 * MiB, report
    assert report["paths"] == ["/API/v3/whoami"], report  # exactly one request: not retried


# -- D12: the ZIP reader and the record decoders, unit by unit --------------------------------


def test_D12_bomb_builders_make_valid_archives() -> None:
    blob = zip_bomb(b"head,", 3, b",tail\r\n", block=b"xy" * 1000)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.read("Bomb survey.csv") == b"head," + b"xy" * 3000 + b",tail\r\n"
    reader = ZipMemberReader()
    assert reader.feed(blob) == b"head," + b"xy" * 3000 + b",tail\r\n"
    reader.finish()
    described = zip_bomb(b"a", 2, b"b", block=b"z" * 500, descriptor=True)
    assert ZipMemberReader().feed(described) == b"a" + b"z" * 1000 + b"b"
    assert gzip.decompress(gzip_bomb(b"{", 1, b"}")) == b"{" + _BLOCK + b"}"


def test_D12_zip_reader_inflates_a_bomb_a_piece_at_a_time() -> None:
    bomb = zip_bomb(b"", 64, b"")  # 64 MiB from 66 KiB
    reader = ZipMemberReader(piece_size=256 * 1024)
    pieces = reader.pieces(bomb[: len(bomb) // 2])
    largest = seen = 0
    for piece in pieces:
        largest = max(largest, len(piece))
        seen += len(piece)
    assert largest <= 256 * 1024
    assert seen > 16 * MiB
    for piece in reader.pieces(bomb[len(bomb) // 2 :]):
        seen += len(piece)
    assert seen == 64 * MiB
    assert reader.finish() == b""


def test_D12_member_inflating_past_its_declared_size_is_corrupt() -> None:
    bomb = zip_bomb(b"", 512, b"", declared_size=MiB)  # says 1 MiB, inflates to 512 MiB
    reader = ZipMemberReader()
    seen: list[int] = []
    with pytest.raises(ExportCorruptError, match=r"inflates past the 1048576 bytes its local header declares"):
        seen.extend(len(piece) for piece in reader.pieces(bomb))
    assert sum(seen) <= MiB
    with pytest.raises(ExportCorruptError):  # the reader stays failed
        reader.feed(b"more")


def test_D12_member_inflating_past_download_bytes_is_too_large() -> None:
    bomb = zip_bomb(b"", 512, b"", descriptor=True)  # no size before the data
    reader = ZipMemberReader(max_size=4 * MiB)
    with pytest.raises(ResponseTooLargeError, match=r"SizeLimits\.download_bytes") as caught:
        for _piece in reader.pieces(bomb):
            pass
    assert caught.value.limit == 4 * MiB
    assert caught.value.setting == "SizeLimits.download_bytes"


def test_D12_an_abandoned_pieces_iteration_leaves_the_reader_unusable() -> None:
    reader = ZipMemberReader(piece_size=1024)
    pieces = reader.pieces(zip_bomb(b"", 1, b""))
    next(pieces)
    pieces.close()
    with pytest.raises(RuntimeError, match="abandoned"):
        reader.feed(b"x")


@pytest.mark.parametrize(
    ("format", "prefix", "filler", "what"),
    [
        ("csv", CSV_HEAD + b'R_1,"', b"a", "Record 1 (line 4) of the CSV export"),
        ("csv", CSV_HEAD + b"R_1,", b"a", "Record 1 (line 4) of the CSV export"),  # unquoted, no line break
        ("csv", b'ResponseId,"', b"a", "A header row (line 1) of the CSV export"),
        ("csv", CSV_HEAD + b'R_1,"', b"a\r\n", "Record 1 (line 4) of the CSV export"),  # line breaks inside quotes
        ("tsv", CSV_HEAD.replace(b",", b"\t") + b'R_1\t"', b"a", "Record 1 (line 4) of the TSV export"),
        ("ndjson", b'{"responseId": "R_1"}\n{"values": "', b"a", "Line 2 of the NDJSON export"),
        ("json", b'{"responses": [{"responseId": "R_1"}, {"values": "', b"a", "Record 2 of the JSON export"),
        ("json", b'{"responses": [{"v": [', b"1,", "Record 1 of the JSON export"),
        ("json", b'{"responses": [], "other": "', b"a", "A top-level key or value of the JSON export"),
        ("json", b'{"responses": [], "other": {"x": "', b"a", "A top-level value of the JSON export"),
        ("json", b'{"a', b"a", "A top-level key or value of the JSON export"),
    ],
)
def test_D12_every_decoder_bounds_one_record(format: str, prefix: bytes, filler: bytes, what: str) -> None:
    limit = MiB
    decoder = record_decoder(format, record_bytes=limit)
    step = filler * (64 * 1024 // len(filler))
    fed = [len(prefix)]
    records = decoder.feed(prefix)

    def feed_until_refused() -> None:
        while sum(fed) < 64 * MiB:
            records.extend(decoder.feed(step))
            fed.append(len(step))

    with pytest.raises(ResponseTooLargeError) as caught:
        feed_until_refused()
    # refused within one chunk of the bound, not at the end of the record
    assert sum(fed) <= limit + len(prefix) + 2 * len(step)
    assert caught.value.setting == "SizeLimits.record_bytes"
    assert caught.value.limit == limit
    assert what in str(caught.value)
    with pytest.raises(ResponseTooLargeError):  # the decoder stays failed
        decoder.feed(b"\n")
    assert len(records) <= 1


@pytest.mark.parametrize("format", ["csv", "ndjson", "json"])
def test_D12_records_under_the_bound_still_decode_in_any_chunking(format: str) -> None:
    big = "x" * 300_000
    if format == "csv":
        data = CSV_HEAD + f'R_1,"{big}"\r\nR_2,"short"\r\n'.encode()
    elif format == "ndjson":
        data = json.dumps({"responseId": "R_1", "v": big}).encode() + b"\n" + b'{"responseId": "R_2"}\n'
    else:
        data = json.dumps({"responses": [{"responseId": "R_1", "v": big}, {"responseId": "R_2"}]}).encode()
    for step in (1000, 65_536, len(data)):
        decoder = record_decoder(format, record_bytes=400_000)
        records = [r for i in range(0, len(data), step) for r in decoder.feed(data[i : i + step])]
        records += decoder.finish()
        assert len(records) == 2


def test_D12_extraction_refuses_a_member_declared_past_download_bytes(tmp_path: Path) -> None:
    archive = tmp_path / "export.zip"
    archive.write_bytes(zip_bomb(b"", 8, b""))  # 8 MiB declared and real
    with pytest.raises(ResponseTooLargeError, match=r"SizeLimits\.download_bytes"):
        extract_single_member(archive, tmp_path, fallback="SV_1.csv", max_size=4 * MiB)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export.zip"]
    path = extract_single_member(archive, tmp_path, fallback="SV_1.csv", max_size=8 * MiB)
    assert path.stat().st_size == 8 * MiB


async def test_D12_export_refuses_a_member_declared_past_download_bytes(tmp_path: Path) -> None:
    # 8 KiB on the wire, 8 MiB declared inflated, download_bytes 4 MiB: the check of the
    # downloaded archive refuses it before inflating anything, and nothing is left.
    bomb = zip_bomb(b"", 8, b"")
    async with (
        RawServer(*EXPORT_FLOW, file_reply(bomb)) as server,
        client_for(server, download_bytes=4 * MiB) as client,
    ):
        with pytest.raises(ResponseTooLargeError, match=r"SizeLimits\.download_bytes") as caught:
            await client.responses.export("SV_1", tmp_path, extract=True)
    assert caught.value.limit == 4 * MiB
    assert file_requests(server) == 1  # not downloaded again
    assert list(tmp_path.iterdir()) == []


async def test_D12_streamed_member_inflating_past_its_declared_size_raises() -> None:
    # Declares 1 MiB, inflates to 512 MiB of short NDJSON lines: stopped after 1 MiB.
    line = b'{"responseId": "R_1"}\n'
    block = line * (MiB // len(line))
    bomb = zip_bomb(b"", 512, b"", declared_size=MiB, block=block, name=b"Bomb.ndjson")
    state = ExportState(survey_id="SV_1", progress_id="ES_1", format="ndjson", status="complete", file_id="F1")
    records: list[Any] = []
    async with RawServer(file_reply(bomb)) as server, client_for(server) as client:
        with pytest.raises(ExportCorruptError, match="inflates past"):
            await _collect(client.responses.resume_export(state).records(), records)
    assert len(records) <= MiB // len(line)
    assert file_requests(server) == 1


# -- D11: deeply nested JSON inside an export's records ---------------------------------------

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    ("format", "body"),
    [
        ("ndjson", b'{"responseId": "R_1"}\n{"values": ' + DEEP + b"}\n"),
        ("ndjson", DEEP + b"\n"),
        ("json", b'{"responses": [{"responseId": "R_1"}, {"values": ' + DEEP + b"}]}"),
        ("json", b'{"responses": [], "other": ' + DEEP + b"}"),
    ],
)
async def test_D11_deeply_nested_json_in_a_streamed_export_is_a_corrupt_file(format: str, body: bytes) -> None:
    state = ExportState(survey_id="SV_1", progress_id="ES_1", format=format, status="complete", file_id="F1")
    reply = file_reply(body, {"Content-Type": "application/octet-stream"})
    async with RawServer(reply) as server, client_for(server) as client:
        with pytest.raises(ExportCorruptError, match="nested too deeply"):
            [r async for r in client.responses.resume_export(state).records()]
    assert file_requests(server) == 1


def test_D11_deeply_nested_import_id_cell_is_kept_as_text() -> None:
    decoder = record_decoder("csv")
    deep = DEEP.decode()
    records = decoder.feed(f'ResponseId,Q1\r\nResponse ID,Q\r\n"{deep}",x\r\nR_1,y\r\n'.encode())
    records += decoder.finish()
    assert records[-1] == {"ResponseId": "R_1", "Q1": "y"}


# -- D13: downloads past their declared size or download_bytes -------------------------------


async def test_D13_declared_size_past_download_bytes_is_refused_before_reading(tmp_path: Path) -> None:
    head = response_head(200, {"Content-Type": "application/zip", "Content-Length": str(10 << 30)})
    async with (
        RawServer(raw(head + b"PK\x03\x04" + b"\0" * 4096, then="close")) as server,
        client_for(server, download_bytes=MiB) as client,
    ):
        with pytest.raises(ResponseTooLargeError, match=r"declared 10 GiB.*SizeLimits\.download_bytes") as caught:
            await client.responses.resume_export(DONE).download(tmp_path / "x.zip")
    assert caught.value.setting == "SizeLimits.download_bytes"
    assert caught.value.limit == MiB
    assert file_requests(server) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["download", "records", "uploaded-file", "read-uploaded-file"])
async def test_D13_body_without_a_length_stops_at_download_bytes(tmp_path: Path, how: str) -> None:
    body = CSV_HEAD + b"".join(b"R_%d,answer\r\n" % i for i in range(300_000))  # 5 MiB, chunked
    reply = chunked_reply(body, content_type="text/csv")
    async with RawServer(reply) as server, client_for(server, download_bytes=MiB) as client:
        with pytest.raises(ResponseTooLargeError, match=r"SizeLimits\.download_bytes") as caught:
            await _fetch_with(client, how, tmp_path)
    assert caught.value.limit == MiB
    assert server.request_count == 1  # not retried, not downloaded again
    assert list(tmp_path.iterdir()) == []


async def test_D13_content_encoded_download_is_refused_before_reading(tmp_path: Path) -> None:
    # Accept-Encoding: identity was asked; a gzip body would be inflated by aiohttp (here
    # 256 MiB from 270 KiB) and its bytes could not be counted against Content-Length.
    bomb = gzip_bomb(b"PK\x03\x04", 256, b"")
    reply = file_reply(bomb, {"Content-Encoding": "gzip"})
    async with RawServer(reply) as server, client_for(server) as client:
        with pytest.raises(ResponseDecodeError, match="Content-Encoding 'gzip'") as caught:
            await client.responses.resume_export(DONE).download(tmp_path / "x.zip")
    assert not isinstance(caught.value, ExportCorruptError)
    assert server.requests[0].headers["accept-encoding"] == "identity"
    assert file_requests(server) == 1
    assert list(tmp_path.iterdir()) == []


async def test_D13_resumed_body_longer_than_declared_stops_at_once(tmp_path: Path) -> None:
    # The first answer declares N bytes and drops halfway; the second ignores the range and
    # sends, chunked, far more than N: it stops at byte N + one chunk, is not retried, and
    # the file is not downloaded a third time.
    data = bytes(range(256)) * 4096  # 1 MiB
    first = file_reply(data[: len(data) // 2], {"Content-Length": str(len(data)), "ETag": '"v1"'}, then="close")
    second = chunked_reply(data + b"\0" * (8 * MiB), content_type="application/zip")
    async with RawServer(first, second) as server, client_for(server) as client:
        with pytest.raises(ResponseTooLargeError, match="goes on past the 1048576 bytes its server declared") as caught:
            await client.responses.resume_export(DONE).download(tmp_path / "x.zip")
    assert caught.value.setting == "Content-Length"
    assert caught.value.limit == len(data)
    assert file_requests(server) == 2
    assert list(tmp_path.iterdir()) == []


async def test_D13_range_answer_longer_than_its_range_stops_at_once(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096
    half = len(data) // 2
    first = file_reply(
        data[:half], {"Content-Length": str(len(data)), "Accept-Ranges": "bytes", "ETag": '"v1"'}, then="close"
    )
    rest = data[half:] + b"\0" * (4 * MiB)
    second = raw(
        response_head(
            206,
            {
                "Content-Type": "application/zip",
                "Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}",
                "Content-Length": str(len(rest)),
            },
            reason="Partial Content",
        )
        + rest
    )
    async with RawServer(first, second) as server, client_for(server) as client:
        with pytest.raises(ResponseTooLargeError, match="goes on past"):
            await client.responses.resume_export(DONE).download(tmp_path / "x.zip")
    assert [r.headers.get("range") for r in server.requests] == [None, f"bytes={half}-"]
    assert list(tmp_path.iterdir()) == []


async def _collect(records: AsyncIterator[Any], into: list[Any]) -> None:
    async for record in records:
        into.append(record)


async def _fetch_with(client: QualtricsClient, how: str, folder: Path) -> None:
    if how == "download":
        await client.responses.resume_export(DONE).download(folder / "x.zip")
    elif how == "records":
        await _collect(client.responses.resume_export(DONE).records(), [])
    elif how == "uploaded-file":
        await client.responses.download_uploaded_file("SV_1", "R_1", "F_1", folder / "upload.bin")
    else:
        await client.responses.read_uploaded_file("SV_1", "R_1", "F_1")


# -- D9: a JSON answer past json_bytes ---------------------------------------------------------


async def test_D9_declared_json_answer_past_json_bytes_is_refused_before_reading() -> None:
    head = response_head(200, {"Content-Type": "application/json", "Content-Length": str(512 * MiB)})
    async with (
        RawServer(raw(head + b'{"result": {"x": "' + b"a" * 4096, then="close")) as server,
        client_for(server, json_bytes=MiB) as client,
    ):
        with pytest.raises(ResponseTooLargeError, match=r"SizeLimits\.json_bytes") as caught:
            await client.request("GET", "/whoami")
    assert caught.value.limit == MiB
    assert "size_limits=SizeLimits(json_bytes=...)" in str(caught.value)
    assert server.request_count == 1


async def test_D9_chunked_json_answer_past_json_bytes_stops_there() -> None:
    body = b'{"result": {"x": "' + b"a" * (3 * MiB) + b'"}, "meta": {}}'
    async with (
        RawServer(chunked_reply(body, content_type="application/json")) as server,
        client_for(server, json_bytes=MiB) as client,
    ):
        with pytest.raises(ResponseTooLargeError, match=r"SizeLimits\.json_bytes") as caught:
            await client.request("GET", "/whoami")
    assert caught.value.setting == "SizeLimits.json_bytes"
    assert server.request_count == 1
