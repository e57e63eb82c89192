"""Incremental export decoders (D6, D8): ZIP member reader and CSV/TSV/JSON/NDJSON record decoders.

Files are built with the stdlib (``zipfile``, ``csv``, ``json``), split at random points, fed
in order, and the output must equal the source exactly; damaged files must raise
``ExportCorruptError`` with a message that says what is wrong.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qualtrics_async.errors import ConfigurationError, ExportCorruptError, ResponseValidationError
from qualtrics_async.exports._records import (
    CsvRecordDecoder,
    JsonRecordDecoder,
    NdjsonRecordDecoder,
    RecordDecoder,
    record_decoder,
)
from qualtrics_async.exports._zipstream import ZipMemberReader

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(SETTINGS, max_examples=60)

# Text that stresses both formats: separators, quotes, escapes, line breaks, non-ASCII, emoji.
TRICKY = ",;\t\"'\\/{}[]:\n\r\r\n é€😀\u2028"
text = st.lists(
    st.one_of(st.sampled_from([*TRICKY, "PK\x07\x08", '"}', "},{"]), st.characters(codec="utf-8")),
    max_size=16,
).map("".join)
cuts = st.lists(st.integers(min_value=0, max_value=1 << 30), max_size=12)


class NonSeekable(io.RawIOBase):
    """A write-only stream without tell/seek, so ``zipfile`` writes data descriptors."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.data += b
        return len(b)

    def tell(self) -> int:
        raise OSError("not seekable")


def make_zip(
    payload: bytes,
    *,
    method: int = zipfile.ZIP_DEFLATED,
    seekable: bool = True,
    zip64: bool = False,
    name: str = "Survey ü.csv",
) -> bytes:
    sink: io.BytesIO | NonSeekable = io.BytesIO() if seekable else NonSeekable()
    with zipfile.ZipFile(sink, "w", compression=method) as archive, archive.open(name, "w", force_zip64=zip64) as f:
        f.write(payload)
    return sink.getvalue() if isinstance(sink, io.BytesIO) else bytes(sink.data)


def pieces(blob: bytes, points: Sequence[int]) -> Iterator[bytes]:
    """``blob`` split at ``points`` (taken modulo its length), in order."""
    previous = 0
    for cut in sorted(p % (len(blob) + 1) for p in points):
        yield blob[previous:cut]
        previous = cut
    yield blob[previous:]


def unzip(blob: bytes, points: Sequence[int] = ()) -> tuple[bytes, ZipMemberReader]:
    reader = ZipMemberReader()
    out = [reader.feed(piece) for piece in pieces(blob, points)]
    out.append(reader.finish())
    return b"".join(out), reader


def decode(decoder: RecordDecoder, blob: bytes, points: Sequence[int] = ()) -> list[Any]:
    records: list[Any] = []
    for piece in pieces(blob, points):
        records += decoder.feed(piece)
    return records + decoder.finish()


def data_span(blob: bytes) -> tuple[int, int]:
    """Where the (only) member's compressed data is in ``blob``."""
    info = zipfile.ZipFile(io.BytesIO(blob)).infolist()[0]
    name_len, extra_len = struct.unpack_from("<HH", blob, 26)
    start = 30 + name_len + extra_len
    return start, start + info.compress_size


def end_record(blob: bytes) -> int:
    return blob.rindex(b"PK\x05\x06")


def with_end_offset(blob: bytes, delta: int) -> bytes:
    """``blob`` with the end record's central-directory offset moved by ``delta``."""
    at = end_record(blob) + 16
    (offset,) = struct.unpack_from("<I", blob, at)
    return blob[:at] + struct.pack("<I", offset + delta) + blob[at + 4 :]


# --- ZIP ----------------------------------------------------------------------------------

payloads = st.one_of(st.binary(max_size=3000), text.map(lambda s: (s * 40).encode()))
methods = st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])


@SETTINGS
@given(payload=payloads, method=methods, seekable=st.booleans(), zip64=st.booleans(), points=cuts)
def test_D6_zip_member_round_trips_at_any_split(
    payload: bytes, method: int, seekable: bool, zip64: bool, points: list[int]
) -> None:
    blob = make_zip(payload, method=method, seekable=seekable, zip64=zip64)
    out, reader = unzip(blob, points)
    assert out == payload
    assert reader.name == "Survey ü.csv"
    assert reader.members_seen == 1


def test_D6_zip_reader_yields_while_reading() -> None:
    payload = bytes(range(256)) * 4000
    blob = make_zip(payload, seekable=False)
    reader = ZipMemberReader()
    first = reader.feed(blob[: len(blob) // 2])
    assert first
    assert payload.startswith(first)
    assert reader.name == "Survey ü.csv"


@SETTINGS
@given(payload=payloads, method=methods, seekable=st.booleans(), zip64=st.booleans(), data=st.data())
def test_D8_truncated_zip_raises(payload: bytes, method: int, seekable: bool, zip64: bool, data: st.DataObject) -> None:
    blob = make_zip(payload, method=method, seekable=seekable, zip64=zip64)
    end = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="end")
    with pytest.raises(ExportCorruptError) as caught:
        unzip(blob[:end], data.draw(cuts, label="points"))
    message = str(caught.value)
    assert "download the export file again" in message
    if end:
        assert "truncated" in message


@SETTINGS
@given(payload=st.binary(min_size=1, max_size=2000), method=methods, seekable=st.booleans(), data=st.data())
def test_D8_flipped_data_byte_raises(payload: bytes, method: int, seekable: bool, data: st.DataObject) -> None:
    blob = bytearray(make_zip(payload, method=method, seekable=seekable))
    start, end = data_span(bytes(blob))
    at = data.draw(st.integers(min_value=start, max_value=end - 1), label="at")
    blob[at] ^= 1 << data.draw(st.integers(min_value=0, max_value=7), label="bit")
    try:
        out, _reader = unzip(bytes(blob), data.draw(cuts, label="points"))
    except ExportCorruptError as exc:
        message = str(exc)
    else:
        # Deflate has bits that do not matter (padding after the last block): then the data is intact.
        assert method == zipfile.ZIP_DEFLATED
        assert out == payload
        return
    if method == zipfile.ZIP_STORED and seekable:
        assert "CRC-32 mismatch" in message
    else:
        words = ("CRC-32", "invalid", "damaged", "does not end", "ends after", "size mismatch", "does not match")
        assert any(word in message for word in words), message


def test_D8_crc_mismatch_names_the_file_and_values() -> None:
    blob = bytearray(make_zip(b"a,b\n1,2\n", method=zipfile.ZIP_STORED))
    start, _end = data_span(bytes(blob))
    blob[start] ^= 0x20
    with pytest.raises(
        ExportCorruptError, match=r"CRC-32 mismatch for 'Survey ü.csv': its local header says [0-9a-f]{8}"
    ):
        unzip(bytes(blob))


def test_D8_garbage_instead_of_zip() -> None:
    with pytest.raises(ExportCorruptError, match=r"not a ZIP archive.*error page"):
        unzip(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")


def test_D8_bad_signature_after_the_member() -> None:
    blob = make_zip(b"x" * 100)
    at = blob.index(b"PK\x01\x02")
    damaged = blob[:at] + b"XX\x01\x02" + blob[at + 4 :]
    with pytest.raises(ExportCorruptError, match=rf"bad record signature b'XX\\x01\\x02' at byte {at}"):
        unzip(damaged, [at + 2])


def test_D8_empty_download_and_empty_archive() -> None:
    with pytest.raises(ExportCorruptError, match="empty"):
        unzip(b"")
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(ExportCorruptError, match="holds no file"):
        unzip(empty.getvalue())


def test_D8_second_member_is_refused() -> None:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("a.csv", "1")
        archive.writestr("b.csv", "2")
    with pytest.raises(ExportCorruptError, match=r"more than one file.*'a\.csv' was already read"):
        unzip(sink.getvalue())


def test_D8_unsupported_method_and_encryption() -> None:
    bz = make_zip(b"data" * 10, method=zipfile.ZIP_BZIP2)
    with pytest.raises(ExportCorruptError, match=r"compression method 12 \(bzip2\)"):
        unzip(bz)
    blob = bytearray(make_zip(b"data"))
    blob[6] |= 0x01  # general-purpose flag bit 0: encrypted
    with pytest.raises(ExportCorruptError, match="encrypted"):
        unzip(bytes(blob))


def test_D8_bytes_after_the_end_record() -> None:
    with pytest.raises(ExportCorruptError, match="3 unexpected bytes follow the end of the archive"):
        unzip(make_zip(b"abc") + b"xyz")


def test_D8_central_directory_must_match_the_member() -> None:
    blob = bytearray(make_zip(b"abc" * 50, seekable=False))
    central = blob.index(b"PK\x01\x02")
    blob[central + 16] ^= 0xFF  # the CRC-32 in the central entry
    with pytest.raises(ExportCorruptError, match="central directory entry"):
        unzip(bytes(blob))


def test_D8_end_record_must_locate_the_central_directory() -> None:
    with pytest.raises(ExportCorruptError, match="does not locate the central directory"):
        unzip(with_end_offset(make_zip(b"abc"), 1))


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_D6_data_descriptor_without_signature(method: int) -> None:
    payload = b"PK\x07\x08 looks like a descriptor " * 20
    blob = make_zip(payload, method=method, seekable=False)
    start, _ = data_span(blob)
    info = zipfile.ZipFile(io.BytesIO(blob)).infolist()[0]
    descriptor = start + info.compress_size
    assert blob[descriptor : descriptor + 4] == b"PK\x07\x08"
    unsigned = with_end_offset(blob[:descriptor] + blob[descriptor + 4 :], -4)
    assert zipfile.ZipFile(io.BytesIO(unsigned)).read(info.filename) == payload  # still a valid archive
    if method == zipfile.ZIP_STORED:
        # Without a signature nothing marks where stored data ends: the reader says so, never guesses.
        with pytest.raises(ExportCorruptError, match="before a data descriptor matching it"):
            unzip(unsigned)
    else:
        assert unzip(unsigned, [descriptor + 2])[0] == payload


def test_D6_data_descriptor_with_8_byte_sizes_and_no_zip64_field() -> None:
    payload = b"0123456789" * 100
    blob = make_zip(payload, seekable=False)
    start, _ = data_span(blob)
    info = zipfile.ZipFile(io.BytesIO(blob)).infolist()[0]
    at = start + info.compress_size
    wide = struct.pack("<4sIQQ", b"PK\x07\x08", info.CRC, info.compress_size, info.file_size)
    rewritten = with_end_offset(blob[:at] + wide + blob[at + 16 :], 8)
    assert zipfile.ZipFile(io.BytesIO(rewritten)).read(info.filename) == payload
    for point in range(at - 2, at + 30):
        assert unzip(rewritten, [point])[0] == payload


def test_D6_zip64_end_records() -> None:
    payload = b"zip64 end records " * 30
    blob = make_zip(payload)
    eocd = end_record(blob)
    _sig, _d, _cd, _on_disk, total, size, offset, _comment = struct.unpack_from("<4sHHHHIIH", blob, eocd)
    end64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, total, total, size, offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    eocd_record = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    rewritten = blob[:eocd] + end64 + locator + eocd_record
    assert zipfile.ZipFile(io.BytesIO(rewritten)).read("Survey ü.csv") == payload
    assert unzip(rewritten, [eocd + 3, eocd + 60])[0] == payload
    with pytest.raises(ExportCorruptError, match="truncated"):
        unzip(rewritten[:-10])


def test_D6_zip_name_follows_the_utf8_flag_like_zipfile() -> None:
    blob = bytearray(make_zip(b"x", name="Umfrage ü.csv"))
    for at in (0, blob.index(b"PK\x01\x02")):
        flag_at = at + (6 if at == 0 else 8)
        blob[flag_at + 1] &= ~0x08 & 0xFF  # clear bit 11 (UTF-8 names)
    expected = zipfile.ZipFile(io.BytesIO(bytes(blob))).infolist()[0].filename
    _out, reader = unzip(bytes(blob))
    assert reader.name == expected == "Umfrage ü.csv".encode().decode("cp437")


def test_D8_reader_stays_failed_and_finishes_once() -> None:
    reader = ZipMemberReader()
    with pytest.raises(ExportCorruptError) as first:
        reader.feed(b"garbage!")
    with pytest.raises(ExportCorruptError) as again:
        reader.feed(make_zip(b"ok"))
    assert again.value is first.value
    done = ZipMemberReader()
    done.feed(make_zip(b"ok"))
    done.finish()
    with pytest.raises(RuntimeError, match="already called"):
        done.feed(b"more")


# --- CSV / TSV ----------------------------------------------------------------------------

columns = st.lists(text.filter(bool), min_size=1, max_size=6, unique=True)


def write_csv(
    names: list[str],
    rows: list[list[str]],
    *,
    delimiter: str = ",",
    terminator: str = "\r\n",
    quote_all: bool = False,
    import_ids: list[str],
) -> str:
    sink = io.StringIO()
    if quote_all:
        writer = csv.writer(sink, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL)
    else:
        writer = csv.writer(sink, delimiter=delimiter, lineterminator=terminator)
    writer.writerow(names)
    writer.writerow([f"Label of {n}" for n in names])
    writer.writerow(import_ids)
    writer.writerows(rows)
    return sink.getvalue()


@SETTINGS
@given(
    names=columns,
    data=st.data(),
    delimiter=st.sampled_from([",", "\t"]),
    terminator=st.sampled_from(["\r\n", "\n"]),
    quote_all=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    final_newline=st.booleans(),
    points=cuts,
)
def test_D6_csv_records_round_trip_at_any_split(
    names: list[str],
    data: st.DataObject,
    delimiter: str,
    terminator: str,
    quote_all: bool,
    encoding: str,
    final_newline: bool,
    points: list[int],
) -> None:
    if terminator == "\n" and not quote_all:
        # csv.writer only quotes the line terminator's characters, so a lone CR would be unreadable by any reader.
        names = list(dict.fromkeys(n.replace("\r", "") for n in names if n.replace("\r", "")))
        assume(names)
    # Without a byte-order mark, a first name starting with U+FEFF is the bytes of one: no reader can tell.
    assume(encoding != "utf-8" or not names[0].startswith("\ufeff"))
    rows = data.draw(st.lists(st.lists(text, min_size=len(names), max_size=len(names)), max_size=8), label="rows")
    if terminator == "\n" and not quote_all:
        rows = [[cell.replace("\r", "") for cell in row] for row in rows]
    import_ids = [json.dumps({"ImportId": f"QID{i}"}) for i in range(len(names))]
    content = write_csv(
        names, rows, delimiter=delimiter, terminator=terminator, quote_all=quote_all, import_ids=import_ids
    )
    if not final_newline:
        content = content.removesuffix(terminator)
    decoder = record_decoder("csv" if delimiter == "," else "tsv")
    assert isinstance(decoder, CsvRecordDecoder)
    records = decode(decoder, content.encode(encoding), points)
    assert records == [dict(zip(names, row, strict=True)) for row in rows]
    assert decoder.columns == names
    assert decoder.labels == [f"Label of {n}" for n in names]
    assert decoder.import_ids == [{"ImportId": f"QID{i}"} for i in range(len(names))]
    assert decoder.count == len(rows)
    # The stdlib reads the same file the same way.
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    assert [dict(r) for r in list(reader)[2:]] == records


def test_D6_csv_headers_blank_lines_and_non_json_import_ids() -> None:
    content = 'a,b\r\nLabel A,Label B\r\n{"ImportId":"QID1"},_recordId\r\n\r\n1,"x\r\ny"\r\n\r\n2,z\r\n'
    decoder = CsvRecordDecoder(",")
    assert decode(decoder, content.encode(), [5, 40, 60]) == [{"a": "1", "b": "x\r\ny"}, {"a": "2", "b": "z"}]
    assert decoder.import_ids == [{"ImportId": "QID1"}, "_recordId"]
    assert decoder.columns == ["a", "b"]


def test_D6_csv_repeated_column_names_lose_no_column(caplog: pytest.LogCaptureFixture) -> None:
    # Recorded: matrix questions without export tags repeat the names "1", "2", ... in one export.
    content = (
        "ResponseId,1,2,1,2,1\r\n"
        "Response ID,Job - a,Job - b,Use - a,Use - b,Trust - a\r\n"
        '{"ImportId":"_recordId"},{"ImportId":"QID1_1"},{"ImportId":"QID1_2"},'
        '{"ImportId":"QID2_1"},{"ImportId":"QID2_2"},"not json"\r\n'
        "R_1,a,b,c,d,e\r\n"
    )
    decoder = CsvRecordDecoder(",")
    with caplog.at_level("WARNING", logger="qualtrics_async"):
        records = decode(decoder, content.encode(), [9, 50])
    assert decoder.columns == ["ResponseId", "1", "2", "QID2_1", "QID2_2", "1.3"]
    assert records == [dict(zip(decoder.columns, ["R_1", "a", "b", "c", "d", "e"], strict=True))]
    assert "'1' → 'QID2_1'" in caplog.text


def test_D6_csv_legacy_two_row_header_keeps_its_first_record() -> None:
    # The legacy export format (recorded): names V1..Vn, labels ResponseID..., no import-id row.
    content = "V1,V2,Q1\r\nResponseID,ResponseSet,A question\r\nR_1,Default,2\r\nR_2,Default,1\r\n"
    decoder = CsvRecordDecoder(",")
    assert decode(decoder, content.encode("utf-8-sig"), [4, 30]) == [
        {"V1": "R_1", "V2": "Default", "Q1": "2"},
        {"V1": "R_2", "V2": "Default", "Q1": "1"},
    ]
    assert (decoder.labels, decoder.import_ids) == (["ResponseID", "ResponseSet", "A question"], [])
    # Whatever the names: a third row without an import id is a record, never a header.
    assert decode(CsvRecordDecoder(","), b"ResponseID,Q1\nLabel,Label\nR_1,x\nR_2,y\n") == [
        {"ResponseID": "R_1", "Q1": "x"},
        {"ResponseID": "R_2", "Q1": "y"},
    ]
    # A legacy export without responses is empty, not truncated.
    assert decode(CsvRecordDecoder(","), b"V1,V2\r\nResponseID,ResponseSet\r\n") == []


class Typed(msgspec.Struct):
    responseId: str
    finished: bool
    duration: int
    progress: float


def test_D6_csv_records_converted_to_a_type() -> None:
    content = (
        "responseId,finished,duration,progress\n"
        "Response ID,Finished,Duration,Progress\n"
        '{"ImportId":"_recordId"},{"ImportId":"finished"},{"ImportId":"duration"},{"ImportId":"progress"}\n'
        "R_1,1,30,100\nR_2,0,5,42.5\n"
    )
    records = decode(record_decoder("csv", type=Typed), content.encode(), [70, 120])
    assert records == [Typed("R_1", True, 30, 100.0), Typed("R_2", False, 5, 42.5)]
    bad = content + "R_3,1,soon,1\n"
    with pytest.raises(ResponseValidationError, match="record 3 does not have the shape"):
        decode(record_decoder("csv", type=Typed), bad.encode())


def test_D8_csv_unterminated_quoted_field() -> None:
    content = 'a,b\nA,B\n"{}","{}"\n1,"never closed\n2,3\n'
    with pytest.raises(ExportCorruptError, match=r"ends inside a quoted field.*truncated"):
        decode(record_decoder("csv"), content.encode(), [3, 17, 30])


def test_D8_csv_row_with_the_wrong_width() -> None:
    content = 'a,b\nA,B\n"{""ImportId"":""a""}","{""ImportId"":""b""}"\n1,2\n3,4,5\n'
    with pytest.raises(
        ExportCorruptError, match=r"Record 2 \(line 5\) of the CSV export has 3 fields, the header has 2"
    ):
        decode(record_decoder("csv"), content.encode())
    # The legacy two-row header: its first record is line 3, and a wrong width there is caught too.
    legacy = "V1,V2\nResponseID,ResponseSet\nR_1,Default,extra\n"
    with pytest.raises(ExportCorruptError, match=r"Record 1 \(line 3\) of the CSV export has 3 fields"):
        decode(record_decoder("csv"), legacy.encode())


def test_D8_csv_truncated_headers_bad_utf8_and_empty() -> None:
    with pytest.raises(ExportCorruptError, match="within its 3 header rows"):
        decode(record_decoder("tsv"), b"a\tb\nA\tB\n")
    with pytest.raises(ExportCorruptError, match="not valid text"):
        decode(record_decoder("csv"), b"a,b\nA,B\n1,2\n\xff\xfe\xfd,x\n")
    with pytest.raises(ExportCorruptError, match="not valid text"):
        decode(record_decoder("csv"), "a,b\nA,B\n1,2\n3,é".encode()[:-1])  # cut inside a character
    with pytest.raises(ExportCorruptError, match="empty"):
        decode(record_decoder("csv"), b"")
    with pytest.raises(ExportCorruptError, match="malformed"):
        decode(record_decoder("csv"), b'a,b\nA,B\n1,2\n"x"y,2\n')


# --- JSON ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=8,
)
responses = st.lists(st.dictionaries(text, values, max_size=6), max_size=8)


@SETTINGS
@given(
    records=responses,
    before=st.dictionaries(text.filter(lambda k: k != "responses"), values, max_size=2),
    after=st.dictionaries(text.filter(lambda k: k != "responses"), values, max_size=2),
    indent=st.sampled_from([None, 0, 2]),
    ascii_only=st.booleans(),
    bom=st.booleans(),
    points=cuts,
)
def test_D6_json_records_round_trip_at_any_split(
    records: list[dict[str, Any]],
    before: dict[str, Any],
    after: dict[str, Any],
    indent: int | None,
    ascii_only: bool,
    bom: bool,
    points: list[int],
) -> None:
    assume(not set(before) & set(after))
    document = {**before, "responses": records, **after}
    blob = json.dumps(document, indent=indent, ensure_ascii=ascii_only).encode()
    decoder = record_decoder("json")
    assert isinstance(decoder, JsonRecordDecoder)
    assert decode(decoder, codecs.BOM_UTF8 + blob if bom else blob, points) == records
    assert decoder.count == len(records)


def test_D6_json_fast_and_scanning_paths_agree_on_large_chunks() -> None:
    records = [
        {"responseId": f"R_{i}", "values": {"QID1": i, "text": 'he said "},{" and \\ left'}, "labels": {}}
        for i in range(2000)
    ]
    blob = json.dumps({"responses": records, "meta": {"n": [1, {"x": "]"}]}}).encode()
    for size in (1, 7, 1000, 65536, len(blob)):
        decoder = JsonRecordDecoder()
        got = [r for at in range(0, len(blob), size) for r in decoder.feed(blob[at : at + size])]
        assert got + decoder.finish() == records


class Response(msgspec.Struct):
    responseId: str
    values: dict[str, Any]


def test_D6_json_typed_records_and_validation_errors() -> None:
    blob = b'{"responses": [{"responseId": "R_1", "values": {"QID1": 1}}, {"responseId": "R_2", "values": {}}]}'
    assert decode(record_decoder("json", type=Response), blob, [30]) == [
        Response("R_1", {"QID1": 1}),
        Response("R_2", {}),
    ]
    bad = b'{"responses": [{"responseId": "R_1", "values": {}}, {"responseId": 2, "values": {}}]}'
    with pytest.raises(ResponseValidationError, match=r"record 2 does not have the shape.*\$\.responseId"):
        decode(record_decoder("json", type=Response), bad)


@FEWER
@given(records=responses.filter(bool), data=st.data())
def test_D8_truncated_json_raises(records: list[dict[str, Any]], data: st.DataObject) -> None:
    blob = json.dumps({"responses": records}).encode()
    end = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="end")
    with pytest.raises(ExportCorruptError, match=r"truncated|empty"):
        decode(record_decoder("json"), blob[:end], data.draw(cuts, label="points"))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b'[{"a": 1}]', 'does not start with "{"'),
        (b'{"responses": {"a": 1}}', '"responses" is not an array'),
        (b'{"result": []}', 'no "responses" array'),
        (b'{"responses": [{"a": 1}, 2, {"b": 3}]}', "a comma and an object"),
        (b'{"responses": [{"a": 1},]}', "not closed properly"),
        (b'{"responses": [{"a": 1} {"b": 2}]}', "a comma and an object"),
        (b'{"responses": [{"a": tru}]}', "record 1 is not JSON"),
        (b'{"responses": [{"a": 1}]} {}', "data after the end"),
        (b'{"responses": [], "x": [1, }', "a top-level value is not JSON"),
        (b'{"responses": [], "x": nope}', "a top-level value is not JSON"),
        (b'{"responses": [], "responses": []}', 'a second "responses" array'),
        (b'{"responses": [{"a": "b"}', "inside the responses array, after 1 records: the file is truncated"),
    ],
)
def test_D8_malformed_json(document: bytes, message: str) -> None:
    for size in (1, 5, len(document)):
        with pytest.raises(ExportCorruptError, match=message):
            decode(JsonRecordDecoder(), document, list(range(size, len(document), size)))


# --- NDJSON -------------------------------------------------------------------------------


@SETTINGS
@given(
    records=st.lists(values, max_size=10),
    newline=st.sampled_from(["\n", "\r\n"]),
    blank_lines=st.booleans(),
    final_newline=st.booleans(),
    points=cuts,
)
def test_D6_ndjson_records_round_trip_at_any_split(
    records: list[Any], newline: str, blank_lines: bool, final_newline: bool, points: list[int]
) -> None:
    separator = newline * 2 if blank_lines else newline
    content = separator.join(json.dumps(r, ensure_ascii=False) for r in records)
    if final_newline and records:
        content += newline
    decoder = record_decoder("ndjson")
    assert isinstance(decoder, NdjsonRecordDecoder)
    assert decode(decoder, content.encode(), points) == records


@FEWER
@given(records=st.lists(st.dictionaries(text, values, min_size=1, max_size=4), min_size=1, max_size=6), data=st.data())
def test_D8_truncated_ndjson_raises(records: list[dict[str, Any]], data: st.DataObject) -> None:
    lines = [json.dumps(r).encode() for r in records]
    last = lines[-1]
    end = data.draw(st.integers(min_value=1, max_value=len(last) - 1), label="end")
    blob = b"\n".join([*lines[:-1], last[:end]])
    with pytest.raises(ExportCorruptError, match=f"ends in the middle of line {len(lines)}.*truncated"):
        decode(record_decoder("ndjson"), blob, data.draw(cuts, label="points"))


def test_D8_ndjson_bad_line_and_typed_records() -> None:
    with pytest.raises(ExportCorruptError, match="Line 3 of the NDJSON export is not JSON"):
        decode(record_decoder("ndjson"), b'{"a": 1}\n\n{"a": }\n{"a": 2}\n')
    blob = codecs.BOM_UTF8 + b'{"responseId": "R_1", "values": {}}\n{"responseId": "R_2", "values": {"Q": 1}}\n'
    assert decode(record_decoder("ndjson", type=Response), blob, [2, 50]) == [
        Response("R_1", {}),
        Response("R_2", {"Q": 1}),
    ]
    with pytest.raises(ResponseValidationError, match="record 2 does not have the shape"):
        decode(record_decoder("ndjson", type=Response), b'{"responseId": "R_1", "values": {}}\n{"values": {}}\n')


# --- Together -----------------------------------------------------------------------------


@SETTINGS
@given(
    names=columns,
    data=st.data(),
    method=methods,
    seekable=st.booleans(),
    points=cuts,
)
def test_D6_zip_then_csv_pipeline(
    names: list[str], data: st.DataObject, method: int, seekable: bool, points: list[int]
) -> None:
    rows = data.draw(st.lists(st.lists(text, min_size=len(names), max_size=len(names)), max_size=6), label="rows")
    content = write_csv(names, rows, import_ids=[json.dumps({"ImportId": n}) for n in names])
    blob = make_zip(content.encode("utf-8-sig"), method=method, seekable=seekable)
    reader, decoder = ZipMemberReader(), record_decoder("csv")
    records: list[Any] = []
    for piece in pieces(blob, points):
        records += decoder.feed(reader.feed(piece))
    records += decoder.feed(reader.finish())
    records += decoder.finish()
    assert records == [dict(zip(names, row, strict=True)) for row in rows]


def test_D6_memory_is_bounded_by_a_chunk_and_a_record() -> None:
    answers = {f"QID{i}": 'answer, with "quotes"\nand lines' for i in range(20)}
    record: dict[str, Any] = {"responseId": "R_x", "values": answers}
    count = 3000
    size = 4096
    blobs = {
        "json": json.dumps({"responses": [record] * count}).encode(),
        "ndjson": b"".join(json.dumps(record).encode() + b"\n" for _ in range(count)),
    }
    names = ["responseId", *answers]
    row = ["R_x", *answers.values()]
    blobs["csv"] = write_csv(names, [row] * count, import_ids=[json.dumps({"ImportId": n}) for n in names]).encode()
    for fmt, blob in blobs.items():
        longest = 2 * len(json.dumps(record))
        decoder = record_decoder(fmt)
        total = 0
        for at in range(0, len(blob), size):
            total += len(decoder.feed(blob[at : at + size]))
            if isinstance(decoder, JsonRecordDecoder):
                held = len(decoder._buf)
            elif isinstance(decoder, CsvRecordDecoder):
                held = sum(map(len, decoder._parts))
            else:
                assert isinstance(decoder, NdjsonRecordDecoder)
                held = sum(map(len, decoder._parts))
            assert held <= size + longest, fmt
        assert total + len(decoder.finish()) == count


def test_D6_zip_reader_does_not_buffer_the_member() -> None:
    payload = bytes(range(256)) * 8000
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        for seekable in (True, False):
            blob = make_zip(payload, method=method, seekable=seekable)
            reader = ZipMemberReader()
            out = bytearray()
            for at in range(0, len(blob), 4096):
                out += reader.feed(blob[at : at + 4096])
                assert len(reader._pending) < 128
            out += reader.finish()
            assert out == payload
            assert zlib.crc32(out) == zipfile.ZipFile(io.BytesIO(blob)).infolist()[0].CRC


def test_only_streamable_formats() -> None:
    for fmt in ("CSV", "tsv", "Json", "ndjson"):
        assert isinstance(record_decoder(fmt), RecordDecoder)
    for fmt in ("spss", "xml", "xlsx"):
        with pytest.raises(ConfigurationError, match="only csv, tsv, json, ndjson can"):
            record_decoder(fmt)
    with pytest.raises(ValueError, match="cannot be streamed"):
        record_decoder("xml")


def test_D8_decoders_stay_failed() -> None:
    for fmt, bad in (("json", b"[]"), ("ndjson", b"{]\n"), ("csv", b"a\nA\nQ\n1,2\n")):
        decoder = record_decoder(fmt)
        with pytest.raises(ExportCorruptError) as first:
            decode(decoder, bad)
        with pytest.raises(ExportCorruptError) as again:
            decoder.feed(b"\n")
        assert again.value is first.value


def test_decoders_finish_once() -> None:
    for fmt, blob in (("json", b'{"responses": []}'), ("ndjson", b""), ("csv", b'a\nA\n"{""ImportId"":""a""}"\n')):
        decoder = record_decoder(fmt)
        assert decode(decoder, blob) == []
        with pytest.raises(RuntimeError, match="already called"):
            decoder.feed(b"x")
        with pytest.raises(RuntimeError, match="already called"):
            decoder.finish()
