"""Reading roster files: .xlsx (python-calamine), .xls (xlrd) and .csv, row by row.

:func:`open_table` checks the file before any parser sees it — size, what the bytes say it is
(not the extension), encryption, and for .xlsx the zip container (a zip bomb is refused before
anything is unpacked into memory) and the extent of the chosen sheet (python-calamine holds a
sheet as a dense grid from A1 to the last filled cell, so one stray value in row 1,048,576 would
ask for billions of cells) — then finds the header row below any title rows and yields the data
rows with the spreadsheet's own row numbers. Anything that makes the file unreadable raises
:class:`RosterFileError` carrying one Chinese sentence for the user.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any
from xml.etree import ElementTree

import python_calamine
import xlrd
import xlrd.compdoc
from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext as _

from . import constants
from .schema import MEMBER_SCHEMA, ORG_SCHEMA, CellError, ErrorCells, Schema, is_blank

logger = logging.getLogger(__name__)

XLSX, XLS, CSV = "xlsx", "xls", "csv"

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Files people upload by mistake, named so the message can say what the file is.
_OTHER_MAGIC = (
    (b"%PDF", "PDF"),
    (b"\x89PNG", _("图片")),
    (b"\xff\xd8\xff", _("图片")),
    (b"GIF8", _("图片")),
    (b"Rar!", _("压缩包")),
    (b"7z\xbc\xaf", _("压缩包")),
    (b"\x1f\x8b", _("压缩包")),
)
_TEXT_EXTENSIONS = (".csv", ".txt")
_SPREADSHEET_EXTENSIONS = (".xlsx", ".xls", ".xlsm", ".et")
_CHUNK = 1 << 20
# A complete row of sheet XML is never this long in a real file.
_MAX_ROW_XML = 32 << 20
# Small parts of an xlsx read whole (workbook.xml and its relationships).
_MAX_PART = 16 << 20


class RosterFileError(Exception):
    """The file cannot be read at all; ``str(error)`` is one Chinese sentence for the user."""


def _damaged(fmt: str) -> RosterFileError:
    return RosterFileError(_("文件已损坏，不是有效的 .%(fmt)s 表格") % {"fmt": fmt})


def limit(name: str) -> int:
    """A file limit: the Django setting of that name, else the default in constants.py."""
    return getattr(settings, name, getattr(constants, name))


@dataclass
class Table:
    """The header of a file's chosen sheet, and its data rows as they are read."""

    filename: str
    format: str
    sheet_name: str
    header_row: int
    # The header row's cells as text, in file order (the bad-rows copy repeats them).
    headers: list[str]
    # Column key -> position in a row.
    columns: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    # Data rows in the file (an estimate for CSV), for a progress bar.
    total_rows: int = 0
    rows: Iterator[tuple[int, list[Any]]] = field(default_factory=lambda: iter(()))

    def header_of(self, key: str, schema: Schema) -> str:
        """The column's header as the user wrote it, or the template's name if it is absent."""
        index = self.columns.get(key)
        if index is not None and self.headers[index]:
            return self.headers[index]
        return schema.column(key).header

    def values(self, cells: list[Any]) -> dict[str, Any]:
        """The row's cells by column key (missing trailing cells are None); an
        :class:`ErrorCells` for a row holding an error value (its cells are an ``_ErrorRow``)."""
        size = len(cells)
        values = {key: cells[i] if i < size else None for key, i in self.columns.items()}
        return values if type(cells) is not _ErrorRow else ErrorCells(values)


class _ErrorRow(list):
    """The cells of a row holding a :class:`CellError`."""


# ---------------------------------------------------------------------------------------------
# The source: a path, bytes, or a binary file object (an upload, a FieldFile, BytesIO)


@dataclass
class _Source:
    stream: IO[bytes]
    size: int
    path: str | None


@contextmanager
def _opened(source) -> Iterator[_Source]:
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError:
            raise RosterFileError(_("无法打开文件“%(name)s”") % {"name": path}) from None
        try:
            yield _Source(handle, os.path.getsize(path), path)
        finally:
            handle.close()
        return
    if isinstance(source, bytes | bytearray):
        yield _Source(io.BytesIO(source), len(source), None)
        return
    if isinstance(source, File):
        path = _local_path(source)
        if path:
            with _opened(path) as src:
                yield src
            return
        source.open("rb")
        stream = source
    else:
        stream = source
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    yield _Source(stream, size, None)


def _local_path(upload: File) -> str | None:
    """The file's path on this machine, if it has one (a stored upload, a temporary upload)."""
    if hasattr(upload, "temporary_file_path"):
        return upload.temporary_file_path()
    if getattr(getattr(upload, "storage", None), "ENCRYPTS", False):
        return None  # sealed on disk: only the storage's open() gives the file
    try:
        path = upload.path  # a FieldFile on the local file storage
    except (AttributeError, NotImplementedError, ValueError):
        return None
    return path if path and os.path.exists(path) else None


def _check_size(src: _Source, *, upload_limit: bool) -> None:
    if src.size == 0:
        raise RosterFileError(_("文件是空的，没有任何内容"))
    max_mb = limit("ROSTER_MAX_UPLOAD_MB")
    if upload_limit and src.size > max_mb * 1024 * 1024:
        raise RosterFileError(
            _("文件大小 %(size).1f MB，超过了 %(max)d MB 的上限，请拆分成几个文件分别导入")
            % {"size": src.size / 1024 / 1024, "max": max_mb}
        )


def _text_start(head: bytes) -> str:
    """The first characters of a text file after its byte order mark and leading blanks."""
    for mark, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(mark):
            return head[len(mark) :].decode(encoding, "ignore").lstrip()[:20]
    return head[:256].decode("latin-1").lstrip()[:20]


# Control characters that text never holds (tab, line feed and carriage return aside).
_BINARY_CONTROLS = bytes(set(range(32)) - {9, 10, 13})


def _text_with_nuls(head: bytes) -> bool:
    """Whether a file named .csv whose first bytes hold NUL characters is text all the same: a
    legacy export padding cells with NULs (read with them dropped, as anywhere in a CSV), not
    UTF-16 without a byte order mark (a NUL in every other byte) nor a binary file."""
    text = head.replace(b"\x00", b"")
    if len(text) * 3 < len(head) * 2 or text.translate(None, _BINARY_CONTROLS) != text:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(text)  # a cut character may end it
        except UnicodeDecodeError:
            continue
        return True
    return False


def detect_format(head: bytes, filename: str) -> str:
    """xlsx, xls or csv, from the file's first bytes; the extension only decides text files."""
    extension = Path(filename or "").suffix.lower()
    if head.startswith(ZIP_MAGIC) or head.startswith(EMPTY_ZIP_MAGIC):
        return XLSX
    if head.startswith(OLE2_MAGIC):
        return XLS
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            raise RosterFileError(
                _("这是一个%(what)s文件，不是表格：请上传 .xlsx、.xls 或 .csv 文件")
                % {"what": what}
            )
    looks_text = b"\x00" not in head[:4096] or head.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    )
    if extension in _TEXT_EXTENSIONS and (looks_text or _text_with_nuls(head[:4096])):
        return CSV
    if looks_text and _text_start(head).startswith(("<", "MIME-Version")):
        # Government systems often save a web page (or a web archive) as .xls.
        raise RosterFileError(
            _("文件内容是网页或 XML，不是 Excel 表格：请在 Excel 或 WPS 中另存为 .xlsx 后上传")
        )
    if looks_text and (not extension or extension in _SPREADSHEET_EXTENSIONS):
        # Text saved under a spreadsheet's name (an export of tab- or comma-separated values
        # named .xls): read as what it is, and open_table says so.
        return CSV
    raise RosterFileError(
        _("无法识别文件“%(name)s”：它不是 Excel 表格（.xlsx、.xls）或 CSV 文件")
        % {"name": filename}
    )


# ---------------------------------------------------------------------------------------------
# .xlsx: the zip container and the chosen sheet's extent, checked before calamine parses it


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > _MAX_PART:
        raise RosterFileError(_("表格文件结构异常（%(name)s 过大）") % {"name": info.filename})
    with zf.open(info) as handle:
        data = handle.read(_MAX_PART + 1)
    if len(data) > _MAX_PART:
        raise RosterFileError(_("表格文件结构异常（%(name)s 过大）") % {"name": info.filename})
    return data


def _parse_part(data: bytes) -> ElementTree.Element:
    """Parse a small XML part. Office never writes a DTD, so one (entity expansion attacks
    hide there) means a forged file, refused before the parser sees it."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise RosterFileError(_("表格文件结构异常，已拒绝读取"))
    return ElementTree.fromstring(data)  # noqa: S314 - no DTD, bounded size (_read_part)


def _xlsx_sheets(
    zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]
) -> list[tuple[str, str, bool]]:
    """(sheet name, path of its XML part, hidden) in workbook order."""
    try:
        workbook = _parse_part(_read_part(zf, infos["xl/workbook.xml"]))
        rels_info = infos.get("xl/_rels/workbook.xml.rels")
        rels = _parse_part(_read_part(zf, rels_info)) if rels_info else None
    except ElementTree.ParseError:
        raise RosterFileError(_("表格文件已损坏，无法读取工作表目录")) from None
    targets: dict[str, str] = {}
    if rels is not None:
        for rel in rels.iter():
            if _local(rel.tag) == "Relationship" and rel.get("Id") and rel.get("Target"):
                target = rel.get("Target")
                path = (
                    target.lstrip("/")
                    if target.startswith("/")
                    else str(PurePosixPath("xl") / target)
                )
                targets[rel.get("Id")] = os.path.normpath(path).replace(os.sep, "/")
    sheets = []
    for element in workbook.iter():
        if _local(element.tag) != "sheet":
            continue
        rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
        hidden = element.get("state", "visible") != "visible"
        sheets.append((element.get("name", ""), targets.get(rel_id, ""), hidden))
    return sheets


# Sheet names listed in a message, at most: a county's ledger book has one per branch.
_SHEETS_LISTED = 10


def _sheet_list(names: list[str]) -> str:
    shown = "、".join(names[:_SHEETS_LISTED])
    if len(names) > _SHEETS_LISTED:
        shown += _("等 %(n)d 个") % {"n": len(names)}
    return shown


def _pick_sheet(names: list[str], sheet: str | int | None, hidden: set[str]) -> int:
    """The index of the sheet the user picked, by name or by its number among the tabs Excel and
    WPS show (hidden sheets, such as a 字典 of dropdown lists, are not counted; they can still
    be picked by name); if none, the first tab shown."""
    if not names:
        raise RosterFileError(_("文件中没有工作表"))
    shown = [i for i, name in enumerate(names) if name not in hidden] or [0]
    if sheet is None or sheet == "":
        return shown[0]
    wanted = str(sheet).strip()
    for index, name in enumerate(names):
        if name.strip() == wanted:
            return index
    if wanted.isdigit() and 1 <= int(wanted) <= len(shown):
        return shown[int(wanted) - 1]
    raise RosterFileError(
        _("文件中没有名为“%(sheet)s”的工作表（现有：%(names)s）")
        % {"sheet": wanted, "names": _sheet_list(names)}
    )


_CELL_REF_RE = re.compile(rb'\br="([A-Z]{1,3})(\d{1,7})"')
# The sheet's own XML, read as an XML parser (and python-calamine) reads it: attributes in any
# order, after any XML whitespace, with either quote, spaces around "=". A reference is letters
# (either case: calamine reads "xfd1" as XFD1) and digits, leading zeros allowed.
# What may follow an element's name in its start tag.
_AFTER_NAME = (b" ", b"\t", b"\r", b"\n", b">", b"/")
_ATTR_RE = re.compile(
    rb"""[ \t\r\n]+([^ \t\r\n=/>]+)[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')"""
)
# The rest of a start tag after its name; ">" may stand in a quoted value, "<" may not (one
# character at a time: no nested repetition to backtrack through on a tag cut short).
_TAG_REST_RE = re.compile(rb"""(?:[^"'<>]|"[^"<]*"|'[^'<]*')*>""")
_REF_RE = re.compile(rb"([A-Za-z]+)(\d+)")
# An r attribute whose column has two letters or more, wherever it stands (a literal r first,
# so that the regex engine hunts for it); the tag around it is parsed when its column is wider
# or its row further down than any seen so far.
_WIDE_REF_RE = re.compile(rb"""r[ \t\r\n]*=[ \t\r\n]*["']([A-Za-z]{2,})0*(\d+)""")
# What a cell without a value holds (written by excelize and other writers that never
# self-close): nothing, or an empty <v> of a type python-calamine reads as empty.
_NO_VALUE_RE = re.compile(
    rb"[ \t\r\n]*(<(?:[\w.-]+:)?v[ \t\r\n]*></(?:[\w.-]+:)?v[ \t\r\n]*>[ \t\r\n]*)?"
    rb"</(?:[\w.-]+:)?c[ \t\r\n]*>"
)
_EMPTY_V_TYPES = (None, b"n", b"s", b"b", b"e", b"inlineStr")
# Every digit as "0" and either quote as '"', for finding row numbers with more digits than
# the last row's (digits ending an attribute value) in one search.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789'", b'0000000000"')
_ZERO = ord("0")
_FAR_ROW_MIN_DIGITS = 2
_FAR_ROW_MAX_DIGITS = 6
_PREFIX_RE = re.compile(rb"<(\w+:)?sheetData\b")
_ERROR_TYPE_RE = re.compile(rb"""\bt=["']e["']""")
_VALUE_RE = re.compile(rb"<(?:\w+:)?v>([^<]{0,64})</")


# A row number past any sheet's: what a reference of more digits than a sheet has reads as
# (Python refuses to convert thousands of digits, and no sheet may have that many rows).
_BEYOND_ROW = 10**10


def _row_number(digits: bytes) -> int:
    digits = digits.lstrip(b"0") or b"0"  # leading zeros count for nothing (A0005000)
    return int(digits) if len(digits) <= 10 else _BEYOND_ROW


def _column_index(letters: bytes) -> int:
    index = 0
    for char in letters.upper():
        index = index * 26 + (char - 64)
    return index


def _attributes(seg: bytes, name_end: int, tag_end: int) -> dict[bytes, bytes]:
    """The attributes of the start tag whose name ends at ``name_end``."""
    attributes: dict[bytes, bytes] = {}
    for match in _ATTR_RE.finditer(seg, name_end, tag_end):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        attributes[match.group(1)] = value  # a repeated name: the last, as calamine
    return attributes


class _ExtentScanner:
    """The last row and the widest column holding a value, from the sheet XML as it streams.

    Rows come in ascending order in a worksheet, so the last filled cell of the last segment
    that has one gives the last row; only cells with two- or three-letter columns are looked
    at for the width, which keeps this fast on ordinary sheets. Cells without a value
    (``<c .../>``, ``<c ...></c>``, an empty ``<v>``) are ignored, as calamine ignores them.
    """

    def __init__(self) -> None:
        self.prefix: bytes | None = None
        self.carry = b""
        self.last_row = 0
        self.width = 26  # at most Z without looking closer
        # Row number -> [(column from 0, error text)] of the cells holding an error value
        # (t="e"), which python-calamine reads as empty.
        self.errors: dict[int, list[tuple[int, str]]] = {}
        self.error_count = 0

    def feed(self, chunk: bytes) -> None:
        if self.prefix is None:
            buf = self.carry + chunk
            match = _PREFIX_RE.search(buf)
            if not match:
                self.carry = buf[-4096:]
                return
            self.prefix = match.group(1) or b""
            self.carry = buf[match.end() :]
            chunk = b""
        buf = self.carry + chunk
        cut = buf.rfind(b"</" + self.prefix + b"row>")
        if cut < 0:
            if len(buf) > _MAX_ROW_XML:
                raise RosterFileError(_("工作表结构异常：单行内容过长，无法读取"))
            self.carry = buf
            return
        self.carry = buf[cut:]
        self._segment(buf[:cut])

    def close(self) -> None:
        if self.carry and self.prefix is not None:
            self._segment(self.carry)
        self.carry = b""

    def _segment(self, seg: bytes) -> None:
        if b't="e"' in seg or b"t='e'" in seg:  # a plain search first: rare, and fast
            self._errors(seg)
        self._far_rows(seg)
        # A wide cell's row counts wherever it stands: far down and out of order, the range
        # python-calamine allocates is its row by its column. A tag is parsed when its cell
        # would widen the sheet, and for the furthest row of the segment's other wide cells.
        bottom, further = self.last_row, []
        for match in _WIDE_REF_RE.finditer(seg):
            if _column_index(match.group(1)) > self.width:  # rare: the sheet widens
                start = seg.rfind(b"<", 0, match.start())  # "<" never stands in a value
                cell = self._cell(seg, start) if start >= 0 else None
                if cell is not None and cell[1]:
                    self.width = max(self.width, _column_index(cell[1]))
                    bottom = max(bottom, cell[0] or self._row_of(seg, start) or 0)
            else:
                row = _row_number(match.group(2))
                if row > bottom:
                    further.append((row, match.start()))
        # The furthest of the others that holds a value: in rows in order, one tag parsed.
        for row, at in sorted(further, reverse=True):
            if row <= bottom:
                break
            start = seg.rfind(b"<", 0, at)
            cell = self._cell(seg, start) if start >= 0 else None
            if cell is not None and cell[1]:
                # Its own row, which need not be the number that put it first (a decoy
                # attribute ending in r= such as xr="AB9999"): the loop goes on past it.
                bottom = max(bottom, cell[0] or self._row_of(seg, start) or 0)
        self.last_row = bottom
        open_tag = b"<" + self.prefix + b"c"
        pos = seg.rfind(open_tag)
        while pos >= 0:
            cell = self._cell(seg, pos)
            if cell is not None:
                row, _letters = cell
                if row is None:
                    row = self._row_of(seg, pos)
                self.last_row = max(self.last_row, row or 0)
                return
            pos = seg.rfind(open_tag, 0, pos)

    def _far_rows(self, seg: bytes) -> None:
        """Cells of rows numbered with more digits than the last row so far, wherever they
        stand: python-calamine places rows written out of order (a far row first, ordinary
        ones after it), which the last cell of a segment would not show. Such a reference ends
        an attribute value with that many digits, found as as many zeros once every digit
        reads as one (bytes' translate and find: a tenth of a second on a 100,000-row sheet),
        six digits at most; the tags around the finds are parsed furthest first, until one
        holds a value. A cell of A to Z out of order, with as many digits as the last row's
        and fewer than six, stays unseen here (wide cells are seen by ``_segment``): at most
        99,999 rows by 26 columns."""
        bottom = self.last_row
        # Never more than six: rows of 100,000 and more are looked for in any sheet (a missed
        # row 999,999 of A to Z would be 26 million cells).
        digits = min(max(len(str(bottom)) + 1, _FAR_ROW_MIN_DIGITS), _FAR_ROW_MAX_DIGITS)
        shape = seg.translate(_DIGITS_AS_ZERO)
        mark = b"0" * digits + b'"'
        found = []
        pos = shape.find(mark)
        while pos >= 0:
            end = pos + digits  # the closing quote
            first = pos
            while first > 0 and shape[first - 1] == _ZERO:
                first -= 1
            number = _row_number(seg[first:end])
            if number > bottom:
                found.append((number, pos))
            pos = shape.find(mark, end + 1)
        # The furthest that holds a value: in rows in order, one tag parsed.
        for number, pos in sorted(found, reverse=True):
            if number <= bottom:
                break
            start = seg.rfind(b"<", 0, pos)
            if start >= 0:
                bottom = max(bottom, self._far_row_at(seg, start))
        self.last_row = bottom

    def _far_row_at(self, seg: bytes, start: int) -> int:
        """The row of the tag at ``start`` if it is a cell holding a value, or a row with one."""
        cell = self._cell(seg, start)
        if cell is not None:
            return cell[0] or self._row_of(seg, start) or 0
        row = self._row_tag(seg, start)
        if row is None or row[0] is None:
            return 0
        number, tag_end = row
        end = seg.find(b"</" + self.prefix + b"row", tag_end)
        end = len(seg) if end < 0 else end
        open_tag = b"<" + self.prefix + b"c"
        pos = seg.find(open_tag, tag_end, end)
        while pos >= 0:  # cells without a reference of their own take the row's number
            cell = self._cell(seg, pos)
            if cell is not None and cell[0] is None:
                return number
            pos = seg.find(open_tag, pos + 1, end)
        return 0

    def _cell(self, seg: bytes, pos: int) -> tuple[int | None, bytes] | None:
        """(row, column letters) of the cell whose start tag is at ``pos`` if it holds a value;
        None if it does not, or is no cell. The row is None for a cell without a reference."""
        name_end = pos + len(self.prefix) + 2
        if seg[pos:name_end] != b"<" + self.prefix + b"c" or (
            seg[name_end : name_end + 1] not in _AFTER_NAME
        ):
            return None
        rest = _TAG_REST_RE.match(seg, name_end)
        if rest is None or seg[rest.end() - 2 : rest.end()] == b"/>":
            return None  # not a whole tag, or a cell with formatting only
        attributes = _attributes(seg, name_end, rest.end())
        empty = _NO_VALUE_RE.match(seg, rest.end())
        if empty and (not empty.group(1) or attributes.get(b"t") in _EMPTY_V_TYPES):
            return None
        ref = _REF_RE.fullmatch(attributes.get(b"r", b""))
        if ref is None:
            return None, b""
        return _row_number(ref.group(2)), ref.group(1)

    def _row_tag(self, seg: bytes, start: int) -> tuple[int | None, int] | None:
        """(number from its r attribute or None, where the tag ends) of the row start tag at
        ``start``; None if no row tag starts there."""
        row_tag = b"<" + self.prefix + b"row"
        name_end = start + len(row_tag)
        if seg[start:name_end] != row_tag or seg[name_end : name_end + 1] not in _AFTER_NAME:
            return None
        rest = _TAG_REST_RE.match(seg, name_end)
        if rest is None:
            return None
        number = _attributes(seg, name_end, rest.end()).get(b"r", b"")
        return (_row_number(number) if number.isdigit() else None), rest.end()

    def _row_of(self, seg: bytes, pos: int) -> int | None:
        """The number of the row around the cell at ``pos``, from the row's r attribute."""
        row_tag = b"<" + self.prefix + b"row"
        start = seg.rfind(row_tag, 0, pos)
        while start >= 0:
            row = self._row_tag(seg, start)
            if row is not None:
                return row[0]
            start = seg.rfind(row_tag, 0, start)
        return None

    def _errors(self, seg: bytes) -> None:
        open_tag = b"<" + self.prefix + b"c"
        for match in _ERROR_TYPE_RE.finditer(seg):
            start = seg.rfind(open_tag, 0, match.start())
            end = seg.find(b">", match.end())
            ref = _CELL_REF_RE.search(seg, start, end) if start >= 0 and end > 0 else None
            if ref is None or seg[end - 1 : end] == b"/":
                continue  # no place to put it, or no value at all
            close = seg.find(b"</" + self.prefix + b"c>", end)
            value = _VALUE_RE.search(seg, end + 1, close if close > 0 else len(seg))
            text = value.group(1).decode("utf-8", "replace") if value else "#ERROR"
            self.error_count += 1
            if self.error_count > constants.MAX_ERROR_CELLS:
                raise RosterFileError(
                    _(
                        "工作表中公式出错的单元格（如 #N/A）超过 %(n)d 个：请先修正公式，或复制后"
                        "“粘贴为数值”再上传"
                    )
                    % {"n": constants.MAX_ERROR_CELLS}
                )
            row = int(ref.group(2))
            self.errors.setdefault(row, []).append((_column_index(ref.group(1)) - 1, text))


def _zip_bomb() -> RosterFileError:
    return RosterFileError(
        _("文件解压后体积异常（可能是压缩炸弹），已拒绝读取；如确为登记表，请另存为新文件后重试")
    )


# An entry of a shared strings table whose namespace has a prefix (<x:si>): its start tag only.
_PREFIXED_SI_RE = re.compile(rb"<[A-Za-z_][\w.-]{0,15}:si[ \t\r\n/>]")
_PREFIXED_SI_TAIL = 20


def _is_shared_strings(info: zipfile.ZipInfo) -> bool:
    return PurePosixPath(info.filename).name.lower() == "sharedstrings.xml"


def _too_much_text() -> RosterFileError:
    return RosterFileError(
        _(
            "文件中的文字内容异常庞大（共享字符串表过大），不像是一份登记表，已拒绝读取；"
            "如确为登记表，请拆分成几个文件分别导入"
        )
    )


def check_xlsx(
    stream: IO[bytes], sheet: str | int | None
) -> tuple[_Sheets, dict[int, list[tuple[int, str]]]]:
    """Check an .xlsx before parsing; returns its sheets (the chosen one among them) and the
    chosen sheet's error cells by row (``_ExtentScanner.errors``).

    Refuses a zip bomb from the sizes the zip declares and, to catch a zip that lies about
    them, by unpacking every entry in 1 MB pieces while counting (nothing is kept in memory).
    """
    try:
        zf = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _damaged(XLSX) from None
    with zf:
        infos = {info.filename: info for info in zf.infolist()}
        if "xl/workbook.xml" not in infos:
            raise RosterFileError(
                _("文件不是 Excel 表格（可能是 Word 文档或其他压缩文件），")
                + _("请上传 .xlsx、.xls 或 .csv 文件")
            )
        if any(info.flag_bits & 0x1 for info in infos.values()):
            raise RosterFileError(_("文件设置了密码，无法读取：请去掉密码后重新上传"))
        max_bytes = limit("ROSTER_MAX_UNPACKED_MB") * 1024 * 1024
        max_ratio = limit("ROSTER_MAX_COMPRESSION_RATIO")
        if sum(info.file_size for info in infos.values()) > max_bytes:
            raise _zip_bomb()
        for info in infos.values():
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _CHUNK and ratio > max_ratio:
                raise _zip_bomb()
        max_strings_bytes = limit("ROSTER_MAX_SHARED_STRINGS_MB") * 1024 * 1024
        max_strings = limit("ROSTER_MAX_SHARED_STRINGS")
        if any(_is_shared_strings(i) and i.file_size > max_strings_bytes for i in infos.values()):
            raise _too_much_text()
        sheets = _xlsx_sheets(zf, infos)
        names = [name for name, _path, _hidden in sheets]
        hidden = {name for name, _path, hidden in sheets if hidden}
        index = _pick_sheet(names, sheet, hidden)
        name, sheet_path, _hidden = sheets[index]
        scanner = _ExtentScanner()
        unpacked = 0
        for info in infos.values():
            scan = info.filename == sheet_path
            strings = _is_shared_strings(info)
            entry_bytes = entries = 0
            tail = b""
            try:
                with zf.open(info) as handle:
                    while chunk := handle.read(_CHUNK):
                        entry_bytes += len(chunk)
                        unpacked += len(chunk)
                        if entry_bytes > info.file_size or unpacked > max_bytes:
                            raise _zip_bomb()
                        if scan:
                            scanner.feed(chunk)
                        if strings:
                            # Entries (<si>, <si/>, <x:si>), counted across the pieces' seams:
                            # a mark is counted in the piece where it ends, so one lying whole
                            # in the previous piece's tail is not counted twice.
                            piece = tail + chunk
                            entries += chunk.count(b"<si") + (tail[-2:] + chunk[:2]).count(b"<si")
                            if b":si" in piece:
                                entries += sum(
                                    1
                                    for m in _PREFIXED_SI_RE.finditer(piece)
                                    if m.end() > len(tail)
                                )
                            tail = chunk[-_PREFIXED_SI_TAIL:]
                            if entries > max_strings:
                                raise _too_much_text()
                    if scan:
                        scanner.close()
            except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError):
                raise _damaged(XLSX) from None
        cells = scanner.last_row * scanner.width
        if cells > limit("ROSTER_MAX_SHEET_CELLS"):
            raise RosterFileError(
                _(
                    "工作表“%(sheet)s”的内容一直延伸到第 %(row)d 行，范围过大：请删除表格末尾多余的"
                    "行和列（或把数据复制到新表格）后重新上传"
                )
                % {"sheet": name, "row": scanner.last_row}
            )
        return _Sheets(names, index, hidden), scanner.errors


def _csv_problem(exc: csv.Error) -> str:
    """What the csv module's (English) error means, in a few words."""
    text = str(exc)
    if "field larger than field limit" in text:
        return _("有单元格超过 %(n)d 个字符") % {"n": csv.field_size_limit()}
    if "NUL" in text:
        return _("含有空字符，可能不是文本文件")
    if "new-line character" in text:
        return _("未加引号的单元格里有换行")
    return _("引号不成对或分隔符有误")


@dataclass
class _Sheets:
    """A book's sheets: their names, the one read, and those hidden from the user."""

    names: list[str]
    index: int = 0
    hidden: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.names[self.index]

    def others(self) -> list[str]:
        """The sheets not read that a user could take for rosters: visible ones, other than
        those the portal's own files carry (the template's notes, a bad-rows copy's list)."""
        return [
            name
            for i, name in enumerate(self.names)
            if i != self.index
            and name not in self.hidden
            and name not in constants.AUXILIARY_SHEETS
        ]


# A merged range of a sheet: first row, first column, last row, last column. Rows are the
# spreadsheet's numbers (from 1), columns positions in the cell lists that rows yield.
Merge = tuple[int, int, int, int]


def _xlsx_rows(
    src: _Source, index: int, errors: dict[int, list[tuple[int, str]]]
) -> tuple[Iterator[tuple[int, list[Any]]], int, list[Merge]]:
    src.stream.seek(0)
    try:
        # calamine picks its reader by the file name: an .xlsx named .xls goes by its content.
        if src.path and src.path.lower().endswith((".xlsx", ".xlsm")):
            workbook = python_calamine.CalamineWorkbook.from_path(src.path)
        else:
            workbook = python_calamine.CalamineWorkbook.from_filelike(src.stream)
        sheet = workbook.get_sheet_by_index(index)
    except python_calamine.PasswordError:
        raise RosterFileError(_("文件设置了密码，无法读取：请去掉密码后重新上传")) from None
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        logger.info("unreadable xlsx: %s", exc)
        raise _damaged(XLSX) from None
    end = sheet.end
    total = end[0] + 1 if end else 0
    # iter_rows starts at the sheet's first row but at its first used column.
    first_column = sheet.start[1] if sheet.start else 0
    merges = [
        (top + 1, left - first_column, bottom + 1, right - first_column)
        for (top, left), (bottom, right) in sheet.merged_cell_ranges or ()
    ]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        # iter_rows starts at the sheet's first row (leading empty rows included), so the
        # position is the spreadsheet's own row number.
        if not errors:
            yield from enumerate(sheet.iter_rows(), start=1)
        else:
            for number, cells in enumerate(sheet.iter_rows(), start=1):
                if number in errors:
                    cells = _ErrorRow(cells)
                    for column, text in errors[number]:
                        if 0 <= column - first_column < len(cells):
                            cells[column - first_column] = CellError(text)
                yield number, cells
        workbook.close()

    return rows(), total, merges


# ---------------------------------------------------------------------------------------------
# .xls: an OLE2 compound document (also the container of an encrypted .xlsx)


def _ole2_streams(data: bytes) -> list[str]:
    try:
        doc = xlrd.compdoc.CompDoc(data, logfile=io.StringIO())
    except Exception:  # noqa: BLE001 - any parse failure means the file is damaged
        raise _damaged(XLS) from None
    return [entry.name for entry in doc.dirlist]


def _xls_rows(
    src: _Source, sheet: str | int | None
) -> tuple[Iterator[tuple[int, list[Any]]], int, int, list[str], list[Merge]]:
    src.stream.seek(0)
    data = src.stream.read()
    streams = _ole2_streams(data)
    if "EncryptedPackage" in streams or "EncryptionInfo" in streams:
        raise RosterFileError(_("文件设置了密码，无法读取：请去掉密码后重新上传"))
    if "Workbook" not in streams and "Book" not in streams:
        raise RosterFileError(
            _("文件不是 Excel 表格（可能是 Word 文档等），请上传 .xlsx、.xls 或 .csv 文件")
        )
    try:
        book = xlrd.open_workbook(
            file_contents=data, on_demand=True, ragged_rows=True, logfile=io.StringIO()
        )
    except xlrd.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise RosterFileError(_("文件设置了密码，无法读取：请去掉密码后重新上传")) from None
        logger.info("unreadable xls: %s", exc)
        raise _damaged(XLS) from None
    except Exception:  # noqa: BLE001 - xlrd raises many kinds of errors on damaged files
        raise _damaged(XLS) from None
    names = book.sheet_names()
    index, hidden, merges = _xls_layout(data, names, sheet)
    xsheet = book.sheet_by_index(index)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for rowx in range(xsheet.nrows):
            types = xsheet.row_types(rowx)
            values = xsheet.row_values(rowx)
            cells: list[Any] = []
            for ctype, value in zip(types, values, strict=True):
                if ctype == xlrd.XL_CELL_DATE:
                    # A number formatted as a date but out of range stays a number.
                    with contextlib.suppress(ValueError, OverflowError, xlrd.xldate.XLDateError):
                        value = xlrd.xldate_as_datetime(value, book.datemode)
                elif ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                    value = None
                elif ctype == xlrd.XL_CELL_BOOLEAN:
                    value = bool(value)
                elif ctype == xlrd.XL_CELL_ERROR:
                    value = CellError(xlrd.error_text_from_code.get(value, "#ERROR"))
                    cells = _ErrorRow(cells)
                cells.append(value)
            yield rowx + 1, cells
        book.release_resources()

    return rows(), xsheet.nrows, _Sheets(names, index, hidden), merges


def _xls_layout(
    data: bytes, names: list[str], sheet: str | int | None
) -> tuple[int, set[str], list[Merge]]:
    """The sheet of an .xls to read (``_pick_sheet``), its hidden sheets and the merged ranges
    of the one read, from python-calamine (xlrd has them only with formatting_info, which loads
    every formatted blank cell: seconds and a hundred megabytes for a sheet of bordered empty
    rows). No hidden sheets nor merges if calamine cannot."""
    hidden: set[str] = set()
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            hidden = {
                meta.name
                for meta in workbook.sheets_metadata
                if meta.visible != python_calamine.SheetVisibleEnum.Visible
            } & set(names)
            index = _pick_sheet(names, sheet, hidden)
            ranges = workbook.get_sheet_by_index(index).merged_cell_ranges or ()
        finally:
            workbook.close()
    except (python_calamine.CalamineError, ValueError, OSError, IndexError):
        return _pick_sheet(names, sheet, hidden), hidden, []
    # xlrd's rows start at column A, as calamine's coordinates do.
    merges = [(top + 1, left, bottom + 1, right) for (top, left), (bottom, right) in ranges]
    return index, hidden, merges


# ---------------------------------------------------------------------------------------------
# .csv: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK)


def _csv_encoding(stream: IO[bytes]) -> str:
    """The file's encoding: the one its byte order mark names, else UTF-8, else GB18030, each
    tried on the whole file (a file that does not decode whole is refused here, not halfway)."""
    stream.seek(0)
    head = stream.read(4)
    if head.startswith(codecs.BOM_UTF8):
        named = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        named = "utf-16"
    else:
        named = None
    for encoding in (named,) if named else ("utf-8", "gb18030"):
        line = _undecodable_line(stream, encoding)
        if line is None:
            return encoding
        if named:
            # A file begun in one encoding and carried on in another: rows appended by a tool
            # writing GBK to an exported ledger, or a file cut short.
            raise RosterFileError(
                _(
                    "CSV 文件开头标明是 %(encoding)s 编码，但第 %(row)d 行起有不是该编码的内容"
                    "（可能由不同软件拼接，或文件不完整）：请在 Excel 中打开后另存为“CSV UTF-8”"
                    "再上传"
                )
                % {"encoding": "UTF-8" if named == "utf-8-sig" else "UTF-16", "row": line}
            )
    raise RosterFileError(_("无法识别 CSV 文件的编码：请在 Excel 中另存为“CSV UTF-8”后上传"))


def _undecodable_line(stream: IO[bytes], encoding: str) -> int | None:
    """The line (from 1) where ``stream`` stops decoding as ``encoding``; None if it decodes."""
    decoder = codecs.getincrementaldecoder(encoding)()
    stream.seek(0)
    lines = 0
    try:
        while chunk := stream.read(_CHUNK):
            text = decoder.decode(chunk)
            lines += text.count("\n")
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start].decode(exc.encoding, "replace")
        return lines + before.count("\n") + 1
    return None


_SEP_LINE_RE = re.compile(r"sep=(.)\r?\n?", re.IGNORECASE)


def _csv_delimiter(sample: str) -> str:
    """Excel's ``sep=`` line when there is one; else comma unless the lines where the header
    may be (a title line of one cell above it) clearly use tabs or semicolons."""
    named = _SEP_LINE_RE.match(sample)
    if named:
        return named.group(1)
    lines = [line for line in sample.splitlines() if line.strip()][: constants.HEADER_SEARCH_ROWS]
    counts = {d: max((line.count(d) for line in lines), default=0) for d in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _count_lines(stream: IO[bytes]) -> int:
    stream.seek(0)
    lines = 0
    last = b""
    while chunk := stream.read(_CHUNK):
        lines += chunk.count(b"\n")
        last = chunk
    return lines + (1 if last and not last.endswith(b"\n") else 0)


def _csv_rows(src: _Source) -> tuple[Iterator[tuple[int, list[Any]]], int]:
    encoding = _csv_encoding(src.stream)
    total = _count_lines(src.stream)
    src.stream.seek(0)
    text = io.TextIOWrapper(src.stream, encoding=encoding, newline="")
    sample = text.read(65536)
    text.seek(0)  # utf-8-sig and utf-16 drop the byte order mark themselves
    # NULs (legacy exports pad cells with them) are invisible and refused by PostgreSQL.
    lines = (line.replace("\x00", "") if "\x00" in line else line for line in text)
    reader = csv.reader(lines, delimiter=_csv_delimiter(sample))
    # Excel hides its "sep=," line and numbers the rows from the next one: so do we.
    sep_line = bool(_SEP_LINE_RE.match(sample))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 0
        try:
            if sep_line:
                next(reader, None)
            for number, cells in enumerate(reader, start=1):
                yield number, cells
        except csv.Error as exc:
            # The row as the spreadsheet numbers it (a quoted cell may span several lines).
            raise RosterFileError(
                _("CSV 文件第 %(row)d 行格式有误：%(detail)s")
                % {"row": number + 1, "detail": _csv_problem(exc)}
            ) from None
        finally:
            # Leave the binary stream open for its owner; if the owner already closed it
            # (a refused file's generator is closed late), there is nothing to detach.
            with contextlib.suppress(ValueError):
                text.detach()

    return rows(), total


# ---------------------------------------------------------------------------------------------
# The header row


def _other_kind(rows: list[list[Any]], schema: Schema) -> str:
    """What to say when the header found is the other kind of file's: a roster uploaded as an
    organization file, or the other way round ("" if it is not)."""
    other = ORG_SCHEMA if schema is MEMBER_SCHEMA else MEMBER_SCHEMA
    if (
        schema not in (MEMBER_SCHEMA, ORG_SCHEMA)
        or _find_header(iter(enumerate(rows, 1)), other) is None
    ):
        return ""
    if other is MEMBER_SCHEMA:
        return _(
            "这份文件是党员登记表，不是组织架构表：请按党员登记表导入（网页上“文件类型”选"
            "“党员登记表”，命令行用 import_roster）"
        )
    return _(
        "这份文件是组织架构表，不是党员登记表：请按组织架构导入（网页上“文件类型”选"
        "“组织架构”，命令行用 import_orgs）"
    )


def _find_header(
    rows: Iterator[tuple[int, list[Any]]], schema: Schema, seen: list | None = None
) -> tuple[int, list[Any]] | None:
    """The first row naming both anchor columns, within the first rows of the sheet. The rows
    looked at are added to ``seen``, if given."""
    first, second = schema.anchors
    seen_content = False
    for number, cells in rows:
        if seen is not None:
            seen.append(cells)
        keys = {col.key for col in (schema.match(c) for c in cells if isinstance(c, str)) if col}
        if first in keys and second in keys:
            return number, cells
        seen_content = seen_content or any(not is_blank(c) for c in cells)
        if number >= constants.HEADER_SEARCH_ROWS:
            break
    if not seen_content:
        raise RosterFileError(_("文件中没有任何内容"))
    return None


def _columns(
    headers: list[str], schema: Schema, header_row: int
) -> tuple[dict[str, int], list[str]]:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    warnings: list[str] = []
    for index, header in enumerate(headers):
        if not header:
            continue
        column = schema.match(header)
        if column is None and str(header).strip() == constants.ERROR_COLUMN:
            continue  # the bad-rows download's own column, back with the fixed rows
        if column is None:
            unknown.append(header)
        elif column.key in columns:
            warnings.append(
                _("“%(second)s”列与“%(first)s”列都表示%(name)s，只读取“%(first)s”列")
                % {
                    "first": headers[columns[column.key]],
                    "second": header,
                    "name": column.header,
                }
            )
        else:
            columns[column.key] = index
    missing = [col.header for col in schema.columns if col.required and col.key not in columns]
    if missing:
        raise RosterFileError(
            _("表头（第 %(row)d 行）缺少必填列：%(missing)s，请按模板补上这些列后重新上传")
            % {"row": header_row, "missing": "、".join(f"“{name}”" for name in missing)}
        )
    if unknown:
        warnings.insert(
            0,
            _("以下列不在模板中，已忽略：%(columns)s")
            % {"columns": "、".join(f"“{name}”" for name in unknown)},
        )
    return columns, warnings


def _data_rows(
    rows: Iterator[tuple[int, list[Any]]], skip_index: int | None
) -> Iterator[tuple[int, list[Any]]]:
    """Rows with content: blank rows, and rows empty apart from 序号, are skipped."""
    for number, cells in rows:
        for index, cell in enumerate(cells):
            if index != skip_index and not is_blank(cell):
                yield number, cells
                break


@contextmanager
def open_table(
    source,
    *,
    filename: str,
    schema: Schema,
    sheet: str | int | None = None,
    upload_limit: bool = True,
) -> Iterator[Table]:
    """Open a roster or organization file and find its header; yields a :class:`Table`.

    ``source`` is a path, bytes or a binary file object. ``upload_limit`` applies the upload
    size limit (ROSTER_MAX_UPLOAD_MB); operators importing from the command line may go past it.
    Raises :class:`RosterFileError`.
    """
    with _opened(source) as src:
        _check_size(src, upload_limit=upload_limit)
        head = src.stream.read(4096)
        src.stream.seek(0)
        fmt = detect_format(head, filename or (src.path or ""))
        merges: list[Merge] = []
        if fmt == XLSX:
            sheets, errors = check_xlsx(src.stream, sheet)
            rows, total, merges = _xlsx_rows(src, sheets.index, errors)
        elif fmt == XLS:
            rows, total, sheets, merges = _xls_rows(src, sheet)
        else:
            if sheet not in (None, "", 1, "1"):
                raise RosterFileError(_("CSV 文件只有一个工作表，不能选择工作表"))
            rows, total = _csv_rows(src)
            sheets = _Sheets([""])
        sheet_name = sheets.name
        others = sheets.others() if sheet in (None, "") else []
        looked_at: list[list[Any]] = []
        found = _find_header(rows, schema, looked_at)
        if found is None:
            # The other kind of file, unless another sheet may hold this kind (said below).
            other = "" if others else _other_kind(looked_at, schema)
            if other:
                raise RosterFileError(other)
            first, second = (schema.column(key) for key in schema.anchors)
            # Organization files have no template to download: their headers are named.
            members = schema is MEMBER_SCHEMA
            message = _("找不到表头：前 %(n)d 行中没有同时含有“%(first)s”和“%(second)s”的一行") % {
                "n": constants.HEADER_SEARCH_ROWS,
                "first": first.header,
                "second": "”或“".join(second.names),
            } + (_("，请使用登记表模板") if members else "")
            if len(sheets.names) > 1:
                # A book opening on 填表说明: say which sheet was read.
                message = message.replace(
                    _("找不到表头："),
                    _("找不到表头：工作表“%(sheet)s”") % {"sheet": sheet_name},
                    1,
                )
            if others:
                message += _(
                    "；文件还有工作表%(others)s，%(kind)s如在其中，请指定工作表后重新上传"
                ) % {
                    "others": "、".join(f"“{name}”" for name in others),
                    "kind": _("登记表") if members else _("组织架构表"),
                }
            raise RosterFileError(message)
        header_row, header_cells = found
        headers = [_header_text(cell) for cell in header_cells]
        columns, warnings = _columns(headers, schema, header_row)
        if others:
            warnings.append(_other_sheets(sheet_name, others))
        extension = Path(filename or src.path or "").suffix.lower()
        if fmt == CSV and extension in _SPREADSHEET_EXTENSIONS:
            warnings.append(
                _("文件名是 %(ext)s，内容却是文本（逗号或制表符分隔），已按 CSV 读取")
                % {"ext": extension}
            )
        # Ranges of data rows, in columns the rows hold (a range in an empty leading column
        # lies left of the first column python-calamine gives).
        filled = [m for m in merges if header_row < m[0] < m[2] and m[1] >= 0]
        if filled:
            rows = _fill_merged(rows, filled)
            warnings.append(_merged_warning(filled, headers))
        data = _data_rows(rows, columns.get("seq"))
        first_row = next(data, None)
        if first_row is None:
            raise RosterFileError(
                _("表头（第 %(row)d 行）下面没有数据，文件中没有可导入的内容") % {"row": header_row}
            )
        yield Table(
            filename=filename,
            format=fmt,
            sheet_name=sheet_name,
            header_row=header_row,
            headers=headers,
            columns=columns,
            warnings=warnings,
            total_rows=max(total - header_row, 1),
            rows=_chain(first_row, data),
        )


def _fill_merged(
    rows: Iterator[tuple[int, list[Any]]], merges: list[Merge]
) -> Iterator[tuple[int, list[Any]]]:
    """Rows with the value of each merged range copied down its first column.

    A roster merges 工作单位 or 流入地党组织 down the members who share it; the file holds the
    value in the range's first row only, and the rows below would read as blank. Only the
    first column is filled: a range merged across a row (a section title such as 一、外出务工)
    stays a row with one value, skipped like any row empty apart from 序号.
    """
    starting: dict[int, list[tuple[int, int]]] = {}
    for top, left, bottom, _right in merges:
        starting.setdefault(top, []).append((left, bottom))
    running: dict[int, tuple[Any, int]] = {}  # column -> (value, last row)
    for number, cells in rows:
        for column, (value, last) in list(running.items()):
            if number > last:
                del running[column]
            else:
                if type(value) is CellError and type(cells) is not _ErrorRow:
                    cells = _ErrorRow(cells)  # an error merged down is an error in each row
                if column >= len(cells):
                    cells = type(cells)([*cells, *([None] * (column - len(cells))), value])
                elif is_blank(cells[column]):
                    cells[column] = value
        for column, last in starting.get(number, ()):
            running[column] = (cells[column] if column < len(cells) else None, last)
        yield number, cells


def _merged_warning(merges: list[Merge], headers: list[str]) -> str:
    shown = [
        _("“%(column)s”第 %(top)d–%(bottom)d 行")
        % {"column": headers[left] if left < len(headers) else "", "top": top, "bottom": bottom}
        for top, left, bottom, _right in sorted(merges)[:5]
    ]
    more = _("等 %(n)d 处") % {"n": len(merges)} if len(merges) > 5 else ""
    return _(
        "合并单元格已按每行填写读取：%(ranges)s%(more)s，合并的值用于其中每一行，请在预览中核对"
    ) % {"ranges": "、".join(shown), "more": more}


def _other_sheets(read: str, others: list[str]) -> str:
    """A book read at its first sheet only, say a committee's ledger (one sheet per branch):
    the rest are named, so that nobody takes the first branch's import for the whole book."""
    shown = "、".join(f"“{name}”" for name in others[:5])
    if len(others) > 5:
        shown += _("等 %(n)d 个") % {"n": len(others)}
    return _(
        "只读取了第一个工作表“%(first)s”；其余工作表（%(others)s）未读取，"
        "要导入它们，请指定工作表名称或序号后分别导入"
    ) % {"first": read, "others": shown}


def _header_text(cell: Any) -> str:
    if cell is None:
        return ""
    return " ".join(str(cell).split())


def _chain(first: tuple[int, list[Any]], rest: Iterator[tuple[int, list[Any]]]):
    yield first
    yield from rest
