"""Incremental (sans-I/O) reader of the one-file ZIP archive a response export downloads as.

:class:`ZipMemberReader` is fed the archive's bytes in order, as they arrive, and returns the
member's decompressed bytes as soon as they are available, so a download can be decoded
while it runs with memory bounded by about one chunk. It checks everything ``zipfile``
would check once the file is whole: signatures, the CRC-32 and sizes of the member against
its local header or data descriptor, and the central directory and end record against what
was read, so a truncated or damaged download raises :class:`ExportCorruptError`.

Inflation is bounded (docs/exports.md, "Hostile export files"): the member is inflated at
most :data:`PIECE_SIZE` bytes at a time, so a ZIP bomb (a few hundred KiB that inflate to
gigabytes) costs one piece of memory, not the inflated chunk; and the inflated total is
checked while it grows, against the size the local header declares (past it:
:class:`ExportCorruptError`) and against ``SizeLimits.download_bytes`` (past it:
:class:`~qualtrics_async.errors.ResponseTooLargeError`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Generator, Iterator
from typing import Final

from qualtrics_async._config import SizeLimits
from qualtrics_async._sansio import too_large
from qualtrics_async.errors import ExportCorruptError, ResponseTooLargeError

__all__ = ["PIECE_SIZE", "ZipMemberReader"]

PIECE_SIZE: Final = 1 << 18
"""The most bytes :meth:`ZipMemberReader.pieces` returns at once (inflated with ``max_length``)."""

_LOCAL: Final = b"PK\x03\x04"
_CENTRAL: Final = b"PK\x01\x02"
_DIGITAL_SIGNATURE: Final = b"PK\x05\x05"
_END: Final = b"PK\x05\x06"
_END64: Final = b"PK\x06\x06"
_LOCATOR64: Final = b"PK\x06\x07"
_DESCRIPTOR: Final = b"PK\x07\x08"
# What may follow a member's data: another member or the central directory (possibly preceded
# by the ZIP64 end record when there are no central entries, or by the central directory's
# digital signature). Checked after a data descriptor to tell its layouts apart.
_AFTER_MEMBER: Final = frozenset({_LOCAL, _CENTRAL, _END, _END64, _DIGITAL_SIGNATURE})

_LOCAL_HEADER: Final = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL_HEADER: Final = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END_RECORD: Final = struct.Struct("<4sHHHHIIH")
_END64_RECORD: Final = struct.Struct("<4sQHHIIQQQQ")
_LOCATOR64_RECORD: Final = struct.Struct("<4sIQI")
_EXTRA_HEADER: Final = struct.Struct("<HH")
_ZIP64_EXTRA_ID: Final = 0x0001

_STORED: Final = 0
_DEFLATED: Final = 8
_FLAG_ENCRYPTED: Final = 0x0001
_FLAG_DESCRIPTOR: Final = 0x0008
_FLAG_STRONG_ENCRYPTION: Final = 0x0040
_FLAG_UTF8: Final = 0x0800
_U32_MAX: Final = 0xFFFFFFFF
_U16_MAX: Final = 0xFFFF

# The longest data descriptor (signature, CRC-32, two 8-byte sizes) plus the signature after it.
_DESCRIPTOR_WINDOW: Final = 28
# A one-file archive's central directory and end records fit in well under this (names,
# extra fields and comments are each at most 64 KiB); more means this is not such an archive.
_MAX_TRAILER: Final = 1 << 20

_METHOD_NAMES: Final = {1: "shrink", 6: "implode", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstandard", 95: "xz"}

_HEADER, _INFLATE, _STORED_KNOWN, _STORED_SCAN, _DATA_DESCRIPTOR, _TRAILER, _DONE = range(7)

_RETRY = "download the export file again"


class _Member:
    """What the local header of one member says, and what its data turned out to be."""

    __slots__ = (
        "compressed",
        "crc",
        "declared_compressed",
        "declared_crc",
        "declared_size",
        "flags",
        "name",
        "offset",
        "raw_name",
        "size",
        "zip64",
    )

    def __init__(self, offset: int, flags: int, raw_name: bytes) -> None:
        self.offset = offset
        self.flags = flags
        self.raw_name = raw_name
        self.name = raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", errors="replace")
        self.declared_crc = 0
        self.declared_compressed = 0
        self.declared_size = 0
        self.zip64 = False
        self.crc = 0
        self.size = 0
        self.compressed = 0


class ZipMemberReader:
    """Decompress the single file of a ZIP archive from its bytes, fed in order.

    Usage::

        reader = ZipMemberReader(max_size=limits.download_bytes)
        async for chunk in response_body:
            for piece in reader.pieces(chunk):  # at most piece_size bytes each
                sink(piece)
        sink(reader.finish())  # raises ExportCorruptError unless the archive was whole

    Supported: the deflate and stored methods; data descriptors (general-purpose flag bit
    3) with or without their optional signature, with 4- or 8-byte (ZIP64) sizes; ZIP64
    extra fields and end records. A stored member whose size is only given by a data
    descriptor (what ``zipfile`` writes to an unseekable stream) is read by looking for the
    descriptor's signature and accepting it only where the CRC-32 and both sizes it carries
    match the data before it and a ZIP record follows it; such a descriptor without its
    signature cannot be found, and the archive is reported as damaged at :meth:`finish`.
    Deflate, the method Qualtrics uses, ends by itself, so its descriptor needs no search.

    Qualtrics puts exactly one file in an export archive. A second member would have to
    be concatenated (two CSV header blocks in one stream) or silently dropped; neither is
    right, so it raises :class:`ExportCorruptError` as soon as its header appears.

    Everything after the member (central directory, ZIP64 end records, end record) is
    buffered (a few hundred bytes for such an archive) and checked at :meth:`finish`: the
    entry count, the central entry's CRC-32, sizes, name and offset against the member read,
    the directory's size and offset, and that the end record ends exactly where the input
    does. A chunk may end anywhere, inside a header or a signature included.

    Memory: besides the trailer, at most a partial header or descriptor is kept between
    calls. :meth:`pieces` returns the inflated bytes ``piece_size`` at a time, inflating
    each piece only when it is asked for, so a chunk that inflates a thousandfold (a ZIP
    bomb, or a very repetitive file) never exists whole; :meth:`feed` joins them (the whole
    inflated chunk, for callers that bound their chunks themselves).

    Bounds, checked while the member inflates: a member whose local header declares its size
    (general-purpose flag bit 3 clear) raises :class:`ExportCorruptError` as soon as it
    inflates past that size, and any member raises
    :class:`~qualtrics_async.errors.ResponseTooLargeError` past ``max_size`` (what
    ``SizeLimits.download_bytes`` allows; a data descriptor or the central directory,
    which come after the data, are checked when they are read).
    """

    __slots__ = (
        "_busy",
        "_error",
        "_inflater",
        "_max_size",
        "_member",
        "_members_seen",
        "_offset",
        "_pending",
        "_piece_size",
        "_state",
        "_trailer",
        "_trailer_offset",
    )

    def __init__(self, *, max_size: int | None = None, piece_size: int = PIECE_SIZE) -> None:
        if piece_size < 1:
            raise ValueError(f"piece_size must be positive, got {piece_size!r}")
        self._max_size = SizeLimits().download_bytes if max_size is None else max_size
        self._piece_size = piece_size
        self._busy = False  # a pieces() iteration is under way
        self._state = _HEADER
        self._pending = b""  # unconsumed input: a partial header or descriptor, a few bytes of held-back data
        self._offset = 0  # absolute offset of _pending[0] in the archive
        self._member: _Member | None = None
        self._members_seen = 0
        self._inflater: zlib._Decompress | None = None
        self._trailer = bytearray()
        self._trailer_offset = 0  # absolute offset of _trailer[0]
        self._error: ExportCorruptError | ResponseTooLargeError | RuntimeError | None = None

    @property
    def name(self) -> str | None:
        """The member's file name (``{survey name}.{format}``) once its header was read."""
        return self._member.name if self._member is not None else None

    @property
    def members_seen(self) -> int:
        """How many local file headers were read so far (1 for a whole export archive)."""
        return self._members_seen

    def feed(self, chunk: bytes) -> bytes:
        """Take the next bytes of the archive; return the decompressed bytes they complete.

        The result may be empty (a header is not complete yet, say). It is the whole
        inflation of ``chunk``: use :meth:`pieces` to hold at most ``piece_size`` at once.

        Raises:
            ExportCorruptError: the bytes so far cannot be a whole one-file archive
                (bad signature, unsupported method, encryption, CRC-32 or size mismatch,
                a member inflating past the size its header declares).
            ResponseTooLargeError: the member inflates past ``max_size``.
        """
        out = list(self.pieces(chunk))
        return out[0] if len(out) == 1 else b"".join(out)

    def pieces(self, chunk: bytes) -> Generator[bytes, None, None]:
        """Take the next bytes of the archive; yield the decompressed bytes they complete.

        Each piece holds at most ``piece_size`` bytes and is inflated only when the
        iteration asks for it, so memory holds one piece whatever the compression ratio.
        Iterate to the end before feeding more; a reader whose iteration was abandoned
        halfway cannot be used further (its state is between two pieces).

        Raises:
            ExportCorruptError, ResponseTooLargeError: as :meth:`feed`, while iterating.
        """
        self._check_usable()
        if not chunk:
            return
        data = self._pending + chunk if self._pending else bytes(chunk)
        self._pending = b""
        self._busy = True
        ended = False
        try:
            used = yield from self._run(data)
            ended = True
        except (ExportCorruptError, ResponseTooLargeError) as exc:
            self._error = exc
            raise
        finally:
            self._busy = False
            if not ended and self._error is None:
                self._error = RuntimeError("a ZipMemberReader.pieces() iteration was abandoned halfway")
        self._pending = data[used:]
        self._offset += used

    def finish(self) -> bytes:
        """Signal the end of the input and verify the whole archive.

        Returns the output still held back, which is always empty for a whole archive
        (every byte of the member is returned by :meth:`feed` as soon as it is read).

        Raises:
            ExportCorruptError: the archive is truncated, holds no file, or its central
                directory or end record does not match what was read.
        """
        self._check_usable()
        try:
            if self._state == _STORED_SCAN:
                raise self._corrupt(
                    f"the download ended inside the data of {self._member_label()} before a data descriptor "
                    "matching it: the file is truncated or its data damaged"
                )
            if self._state in (_INFLATE, _STORED_KNOWN, _DATA_DESCRIPTOR):
                raise self._corrupt(
                    f"the download ended inside the data of {self._member_label()}: the file is truncated"
                )
            if self._state == _HEADER:
                if self._offset + len(self._pending) == 0:
                    raise self._corrupt("the export file is empty")
                raise self._corrupt("the download ended before the ZIP central directory: the file is truncated")
            self._check_trailer()
        except ExportCorruptError as exc:
            self._error = exc
            raise
        self._state = _DONE
        return b""

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._busy:
            raise RuntimeError("ZipMemberReader was fed again before the previous pieces() iteration ended")
        if self._state == _DONE:
            raise RuntimeError("ZipMemberReader.finish() was already called")

    def _corrupt(self, what: str) -> ExportCorruptError:
        return ExportCorruptError(f"Corrupt export ZIP archive: {what}; {_RETRY}.")

    def _member_label(self) -> str:
        return repr(self._member.name) if self._member is not None else "the archive"

    def _run(self, data: bytes) -> Generator[bytes, None, int]:
        """Consume as much of ``data`` as can be; yield the output; return the bytes used."""
        i = 0
        n = len(data)
        while i < n:
            state = self._state
            out: list[bytes] = []
            if state == _INFLATE:
                i = yield from self._inflate(data, i)
            elif state == _STORED_KNOWN:
                i = self._copy_stored(data, i, out)
                yield from self._sliced(out)
            elif state == _TRAILER:
                self._trailer += memoryview(data)[i:]
                if len(self._trailer) > _MAX_TRAILER:
                    raise self._corrupt(
                        f"more than {_MAX_TRAILER} bytes follow the file's data, which a one-file archive never has"
                    )
                return n
            else:
                if state == _HEADER:
                    used = self._read_header(data, i)
                elif state == _DATA_DESCRIPTOR:
                    used = self._read_descriptor(data, i)
                else:
                    used = self._scan_stored(data, i, out)
                    yield from self._sliced(out)
                if used == i and self._state == state:
                    return i  # needs more input
                i = used
        return i

    def _sliced(self, out: list[bytes]) -> Iterator[bytes]:
        """Stored output (at most a chunk), in pieces of at most ``piece_size``."""
        size = self._piece_size
        for piece in out:
            if len(piece) <= size:
                yield piece
            else:
                for start in range(0, len(piece), size):
                    yield piece[start : start + size]

    def _read_header(self, data: bytes, i: int) -> int:
        """Parse a signature at ``data[i:]``: a local header, or the start of the trailer."""
        if len(data) - i < 4:
            return i
        signature = data[i : i + 4]
        if signature != _LOCAL:
            if signature in (_CENTRAL, _END, _END64, _DIGITAL_SIGNATURE):
                self._state = _TRAILER
                self._trailer_offset = self._offset + i
                return i
            where = self._offset + i
            if where == 0:
                raise self._corrupt(
                    f"the export file is not a ZIP archive (it starts with {data[i : i + 16]!r}); "
                    "Qualtrics or a proxy may have sent an error page instead"
                )
            raise self._corrupt(f"bad record signature {signature!r} at byte {where}")
        if len(data) - i < _LOCAL_HEADER.size:
            return i
        (_sig, _version, flags, method, _time, _date, crc, csize, usize, name_len, extra_len) = (
            _LOCAL_HEADER.unpack_from(data, i)
        )
        end: int = i + _LOCAL_HEADER.size + name_len + extra_len
        if len(data) < end:
            return i
        if self._members_seen:
            raise self._corrupt(
                "the archive holds more than one file, but a Qualtrics export holds exactly one "
                f"({self._member_label()} was already read)"
            )
        name_start = i + _LOCAL_HEADER.size
        member = _Member(self._offset + i, flags, data[name_start : name_start + name_len])
        self._member = member
        self._members_seen += 1
        if flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
            raise ExportCorruptError(
                f"The export archive's file {member.name!r} is encrypted, which is not supported; "
                "export again without a password"
            )
        if method not in (_STORED, _DEFLATED):
            label = _METHOD_NAMES.get(method, "unknown")
            raise ExportCorruptError(
                f"The export archive's file {member.name!r} uses compression method {method} ({label}); "
                "only deflate and stored can be streamed: download the file and open it with a tool that reads it"
            )
        member.declared_crc = crc
        member.declared_compressed = csize
        member.declared_size = usize
        zip64 = _zip64_sizes(data[name_start + name_len : end])
        if zip64 is not None:
            member.zip64 = True
            if usize == _U32_MAX or csize == _U32_MAX:
                member.declared_size, member.declared_compressed = zip64
        if method == _DEFLATED:
            self._inflater = zlib.decompressobj(-15)
            self._state = _INFLATE
        elif not flags & _FLAG_DESCRIPTOR or member.declared_compressed:
            self._state = _STORED_KNOWN
        else:
            self._state = _STORED_SCAN
        return end

    def _inflate(self, data: bytes, i: int) -> Generator[bytes, None, int]:
        member = self._member
        inflater = self._inflater
        assert member is not None
        assert inflater is not None
        n = len(data)
        stop = n
        if not member.flags & _FLAG_DESCRIPTOR:
            stop = min(n, i + member.declared_compressed - member.compressed)
        size = self._piece_size
        source: bytes | memoryview = memoryview(data)[i:stop]
        while True:
            # max_length bounds each piece; the input it did not reach waits in unconsumed_tail.
            try:
                piece = inflater.decompress(source, size)
            except zlib.error as exc:
                raise self._corrupt(f"the compressed data of {member.name!r} is invalid ({exc})") from None
            if piece:
                member.crc = zlib.crc32(piece, member.crc)
                member.size += len(piece)
                self._check_growth(member)
                yield piece
            source = inflater.unconsumed_tail
            # A full piece may leave output inside zlib even with no input left: ask again.
            if inflater.eof or (not source and len(piece) < size):
                break
        if not inflater.eof:
            member.compressed += stop - i
            if stop < n:
                raise self._corrupt(
                    f"the compressed data of {member.name!r} does not end where its header says "
                    f"({member.declared_compressed} bytes)"
                )
            return n
        used_to = stop - len(inflater.unused_data)
        member.compressed += used_to - i
        self._inflater = None
        if not member.flags & _FLAG_DESCRIPTOR and member.compressed != member.declared_compressed:
            raise self._corrupt(
                f"the compressed data of {member.name!r} ends after {member.compressed} bytes, "
                f"its header says {member.declared_compressed}"
            )
        self._end_of_data()
        return used_to

    def _copy_stored(self, data: bytes, i: int, out: list[bytes]) -> int:
        member = self._member
        assert member is not None
        take = min(len(data) - i, member.declared_compressed - member.compressed)
        piece = data[i : i + take]
        if piece:
            member.crc = zlib.crc32(piece, member.crc)
            member.size += take
            member.compressed += take
            self._check_growth(member)
            out.append(piece)
        if member.compressed == member.declared_compressed:
            self._end_of_data()
        return i + take

    def _scan_stored(self, data: bytes, i: int, out: list[bytes]) -> int:
        """Pass stored data through until a data descriptor that matches it; hold back what may be one."""
        member = self._member
        assert member is not None
        n = len(data)
        while True:
            j = data.find(_DESCRIPTOR, i)
            if j < 0:
                keep = max(i, n - (len(_DESCRIPTOR) - 1))
                self._emit_stored(data, i, keep, out)
                return keep
            if n - j < _DESCRIPTOR_WINDOW:
                self._emit_stored(data, i, j, out)
                return j
            crc = zlib.crc32(memoryview(data)[i:j], member.crc)
            size = member.size + (j - i)
            length = _match_descriptor(data, j, crc, size, size, (member.zip64, not member.zip64), signed_only=True)
            if length:
                self._emit_stored(data, i, j, out)
                self._end_of_data(checked=True)
                return j + length
            self._emit_stored(data, i, j + 1, out)
            i = j + 1

    def _emit_stored(self, data: bytes, start: int, stop: int, out: list[bytes]) -> None:
        if stop > start:
            member = self._member
            assert member is not None
            piece = data[start:stop]
            member.crc = zlib.crc32(piece, member.crc)
            member.size += len(piece)
            member.compressed += len(piece)
            self._check_growth(member)
            out.append(piece)

    def _check_growth(self, member: _Member) -> None:
        """Refuse a member as soon as it holds more than its header declares, or than ``max_size``."""
        if not member.flags & _FLAG_DESCRIPTOR and member.size > member.declared_size:
            raise self._corrupt(
                f"size mismatch for {member.name!r}: it inflates past the {member.declared_size} bytes "
                "its local header declares"
            )
        if member.size > self._max_size:
            raise too_large(
                f"The file {member.name!r} of the export archive, inflated,", self._max_size, "download_bytes"
            )

    def _end_of_data(self, *, checked: bool = False) -> None:
        member = self._member
        assert member is not None
        if member.flags & _FLAG_DESCRIPTOR and not checked:
            self._state = _DATA_DESCRIPTOR
            return
        if not checked:
            self._check_member(member.declared_crc, member.declared_size, "local header")
        self._state = _HEADER

    def _check_member(self, crc: int, size: int, source: str) -> None:
        member = self._member
        assert member is not None
        if member.crc != crc:
            raise self._corrupt(
                f"CRC-32 mismatch for {member.name!r}: its {source} says {crc:08x}, the data gives {member.crc:08x}"
            )
        if member.size != size:
            raise self._corrupt(
                f"size mismatch for {member.name!r}: its {source} says {size} bytes, the data holds {member.size}"
            )

    def _read_descriptor(self, data: bytes, i: int) -> int:
        if len(data) - i < _DESCRIPTOR_WINDOW:
            return i
        member = self._member
        assert member is not None
        widths = (member.zip64, not member.zip64)
        length = _match_descriptor(data, i, member.crc, member.compressed, member.size, widths, signed_only=False)
        if not length:
            # No layout matches: report against the layout the header announces.
            start = i + 4 if data[i : i + 4] == _DESCRIPTOR else i
            fmt = "<IQQ" if member.zip64 else "<III"
            crc, _compressed, size = struct.unpack_from(fmt, data, start)
            self._check_member(crc, size, "data descriptor")
            raise self._corrupt(f"the data descriptor of {member.name!r} does not match its data")
        self._state = _HEADER
        return i + length

    def _check_trailer(self) -> None:
        member = self._member
        if member is None:
            raise self._corrupt("the archive holds no file")
        t = bytes(self._trailer)
        base: int = self._trailer_offset
        p = 0
        entries = 0
        while t.startswith(_CENTRAL, p):
            if len(t) - p < _CENTRAL_HEADER.size:
                raise self._truncated_trailer()
            fields = _CENTRAL_HEADER.unpack_from(t, p)
            crc, csize, usize, name_len, extra_len, comment_len = fields[7:13]
            offset = fields[16]
            end = p + _CENTRAL_HEADER.size + name_len + extra_len + comment_len
            if len(t) < end:
                raise self._truncated_trailer()
            name_start = p + _CENTRAL_HEADER.size
            extra = t[name_start + name_len : name_start + name_len + extra_len]
            usize, csize, offset = _zip64_central(extra, usize, csize, offset)
            entries += 1
            if entries == 1:
                if t[name_start : name_start + name_len] != member.raw_name:
                    raise self._corrupt(f"the central directory names another file than {member.name!r}")
                self._check_member(crc, usize, "central directory entry")
                if csize != member.compressed or offset != member.offset:
                    raise self._corrupt(f"the central directory entry of {member.name!r} does not match its data")
            p = end
        central_size = p
        if t.startswith(_DIGITAL_SIGNATURE, p):
            if len(t) - p < 6:
                raise self._truncated_trailer()
            p += 6 + struct.unpack_from("<H", t, p + 4)[0]
        total64: int | None = None
        size64 = offset64 = 0
        if t.startswith(_END64, p):
            if len(t) - p < _END64_RECORD.size:
                raise self._truncated_trailer()
            _sig, record_size, _made, _need, _disk, _cd_disk, _on_disk, total64, size64, offset64 = (
                _END64_RECORD.unpack_from(t, p)
            )
            end64 = p
            p += 12 + record_size
            if len(t) - p < _LOCATOR64_RECORD.size:
                raise self._truncated_trailer()
            sig, _disk, where, _disks = _LOCATOR64_RECORD.unpack_from(t, p)
            if sig != _LOCATOR64 or where != base + end64:
                raise self._corrupt("the ZIP64 end-of-central-directory locator is missing or wrong")
            p += _LOCATOR64_RECORD.size
        if not t.startswith(_END, p):
            if len(t) - p < 4 and _END.startswith(t[p:]):
                raise self._truncated_trailer()
            raise self._corrupt(f"bad record signature {t[p : p + 4]!r} at byte {base + p}")
        if len(t) - p < _END_RECORD.size:
            raise self._truncated_trailer()
        _sig, _disk, _cd_disk, _on_disk, total, size, offset, comment_len = _END_RECORD.unpack_from(t, p)
        end = p + _END_RECORD.size + comment_len
        if len(t) < end:
            raise self._truncated_trailer()
        if len(t) > end:
            raise self._corrupt(f"{len(t) - end} unexpected bytes follow the end of the archive")
        if total64 is not None:
            total = total64 if total == _U16_MAX else total
            size = size64 if size == _U32_MAX else size
            offset = offset64 if offset == _U32_MAX else offset
        if total != entries or entries != self._members_seen:
            raise self._corrupt(
                f"the end record counts {total} files and the central directory lists {entries}, "
                f"but the archive holds {self._members_seen}"
            )
        if size != central_size or offset != base:
            raise self._corrupt("the end record does not locate the central directory where it is")

    def _truncated_trailer(self) -> ExportCorruptError:
        return self._corrupt("the download ended inside the central directory or end record: the file is truncated")


def _zip64_extra(extra: bytes) -> bytes | None:
    """The body of the ZIP64 extra field (tag 0x0001) among ``extra``, if there is one."""
    p = 0
    while p + _EXTRA_HEADER.size <= len(extra):
        tag, size = _EXTRA_HEADER.unpack_from(extra, p)
        p += _EXTRA_HEADER.size
        if p + size > len(extra):
            raise ExportCorruptError(f"Corrupt export ZIP archive: an extra field overruns its header; {_RETRY}.")
        if tag == _ZIP64_EXTRA_ID:
            return extra[p : p + size]
        p += size
    return None


def _zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    """The (uncompressed, compressed) sizes of a local header's ZIP64 extra field, if it has one."""
    body = _zip64_extra(extra)
    if body is None:
        return None
    if len(body) >= 16:
        usize, csize = struct.unpack_from("<QQ", body)
        return usize, csize
    if len(body) >= 8:
        (usize,) = struct.unpack_from("<Q", body)
        return usize, usize
    return 0, 0


def _zip64_central(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """A central entry's sizes and offset, with the ZIP64 extra field's values where they are 0xFFFFFFFF."""
    body = _zip64_extra(extra)
    values = [usize, csize, offset]
    if body is not None:
        q = 0
        for k in range(3):
            if values[k] == _U32_MAX and q + 8 <= len(body):
                (values[k],) = struct.unpack_from("<Q", body, q)
                q += 8
    return values[0], values[1], values[2]


def _match_descriptor(
    data: bytes, i: int, crc: int, compressed: int, size: int, widths: tuple[bool, bool], *, signed_only: bool
) -> int:
    """The length of the data descriptor at ``data[i:]`` that carries these values, or 0.

    The descriptor's signature is optional and its sizes are 4 or 8 bytes (``widths`` gives
    the order to try, ZIP64 first when the local header had a ZIP64 extra field); a layout
    counts only if the 4 bytes after it are a record signature. ``data[i:]`` holds at least
    ``_DESCRIPTOR_WINDOW`` bytes.
    """
    layouts = [True] if data.startswith(_DESCRIPTOR, i) else []
    if not signed_only:
        layouts.append(False)  # a CRC-32 can look like the signature, so try both
    for has_signature in layouts:
        start = i + 4 if has_signature else i
        for wide in widths:
            fmt = "<IQQ" if wide else "<III"
            got = struct.unpack_from(fmt, data, start)
            length = start - i + struct.calcsize(fmt)
            if got == (crc, compressed, size) and data[i + length : i + length + 4] in _AFTER_MEMBER:
                return length
    return 0
