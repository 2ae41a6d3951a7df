"""Hostile and odd files for the reader tests, built in the test run (nothing binary committed)."""

from __future__ import annotations

import io
import random
import string
import struct
import zipfile
from pathlib import Path

_FREE, _END, _FAT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
_SECTOR = 512


def _dir_entry(name: str, kind: int, *, child=_FREE, right=_FREE, start=_END, size=0) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return struct.pack(
        "<64sHBBIII16sIQQIII",
        encoded.ljust(64, b"\0"),
        len(encoded),
        kind,
        1,  # black
        _FREE,  # left sibling
        right,
        child,
        b"\0" * 16,
        0,
        0,
        0,
        start,
        size,
        0,
    )


def encrypted_xlsx() -> bytes:
    """What Excel writes for a password-protected .xlsx: an OLE2 compound document holding
    EncryptionInfo and EncryptedPackage streams (contents are filler here)."""
    stream = 4096  # at the mini-stream cutoff, so both streams live in ordinary sectors
    per_stream = stream // _SECTOR
    header = bytearray(_SECTOR)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, 1, 0, 4096, _END, 0, _END, 0)
    difat = [0] + [_FREE] * 108
    struct.pack_into("<109I", header, 76, *difat)
    fat = [_FAT, _END]
    for first in (2, 2 + per_stream):
        fat += [first + i + 1 for i in range(per_stream - 1)] + [_END]
    fat += [_FREE] * (128 - len(fat))
    directory = (
        _dir_entry("Root Entry", 5, child=1)
        + _dir_entry("EncryptionInfo", 2, right=2, start=2, size=stream)
        + _dir_entry("EncryptedPackage", 2, start=2 + per_stream, size=stream)
        + _dir_entry("", 0)
    )
    return bytes(header) + struct.pack("<128I", *fat) + directory + b"\x5a" * (2 * stream)


def rewrite_zip(source: Path, target: Path, changes: dict[str, callable]) -> Path:
    """Copy an xlsx, passing the named entries' text through the given functions."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in changes:
                data = changes[item.filename](data.decode()).encode()
            zout.writestr(item, data)
    return target


def zip_bomb(path: Path, *, megabytes: int = 300) -> Path:
    """An .xlsx-shaped zip whose sheet unpacks to ``megabytes`` of spaces (a few hundred KB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr(
            "xl/workbook.xml",
            '<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets>'
            "</workbook>",
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/>'
            "</Relationships>",
        )
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as handle:
            chunk = b" " * (1 << 20)
            for _ in range(megabytes):
                handle.write(chunk)
    return path


def lying_zip(source: Path, target: Path) -> Path:
    """An xlsx whose sheet entry claims to unpack to 100 bytes (both headers patched)."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    # Local file header: uncompressed size at offset 22.
    struct.pack_into("<I", data, info.header_offset + 22, 100)
    # Central directory entry: uncompressed size at offset 24 of the entry.
    name = info.filename.encode()
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        (name_length,) = struct.unpack_from("<H", data, pos + 28)
        if data[pos + 46 : pos + 46 + name_length] == name:
            struct.pack_into("<I", data, pos + 24, 100)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    target.write_bytes(bytes(data))
    return target


def with_shared_strings(source: Path, target: Path, *, entries: int, prefix: str = "") -> Path:
    """A copy of an xlsx carrying an xl/sharedStrings.xml of ``entries`` short strings (their
    elements named with ``prefix``, such as "x:"). Written in pieces from a block of 1,000
    random strings, it compresses about 90:1, under the zip limits, as the audit's file did."""
    rng = random.Random(7)
    entry = [
        f"<{prefix}si><{prefix}t>{''.join(rng.choices(string.ascii_letters, k=8))}"
        f"</{prefix}t></{prefix}si>".encode()
        for _ in range(1000)
    ]
    block = b"".join(entry)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        with zout.open("xl/sharedStrings.xml", "w", force_zip64=True) as handle:
            handle.write(
                b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats'
                b'.org/spreadsheetml/2006/main" xmlns:x="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main">'
            )
            for _ in range(entries // 1000):
                handle.write(block)
            handle.write(b"".join(entry[: entries % 1000]) + b"</sst>")
    return target
