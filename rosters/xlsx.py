"""A small streaming .xlsx writer for ledgers: rows go straight into the zip as sheet XML.

openpyxl's write-only mode builds a cell object and an XML element for every value, about
25 µs a cell: ten minutes' worth of a county's ledger per million cells. Ledgers need little
of a spreadsheet — text, whole numbers and dates, a few fixed styles, column widths and frozen
panes — so this writes that much of SpreadsheetML itself, the same file openpyxl would give
(strings inline rather than in a shared table, which also keeps memory constant). Any reader
of .xlsx reads it: Excel, WPS, LibreOffice, openpyxl and python-calamine.
"""

from __future__ import annotations

import datetime
import re
import zipfile
from collections.abc import Iterable, Sequence
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

from openpyxl.utils import get_column_letter

# Cell styles (indexes into cellXfs of styles.xml below).
PLAIN, DATE, TEXT, TITLE, HEADER = range(5)
_EPOCH = datetime.date(1899, 12, 30)  # Excel's day 0 (1900 date system, after the leap bug)
# Characters XML 1.0 does not allow, and the carriage return (XML reads it as a line feed):
# SpreadsheetML writes them as _xHHHH_, and a text that already looks like one gets its
# underscore escaped (_x005F_), so that Excel, WPS and python-calamine read back the value
# that was written.
_ESCAPED = re.compile(r"[\x00-\x08\x0b-\x0d\x0e-\x1f\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_FLUSH_ROWS = 500

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'  # noqa: E501
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'  # noqa: E501
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'  # noqa: E501
    "{sheets}</Types>"
)
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'  # noqa: E501
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    "<sheets>{sheets}</sheets></workbook>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    "{sheets}"
    '<Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'  # noqa: E501
    "</Relationships>"
)
_SHEET_REL = (
    '<Relationship Id="rId{n}" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet{n}.xml"/>'
)
# The styles openpyxl gives the ledger: dates yyyy-mm-dd, ID numbers as text (@), the title
# bold 14 pt, the header bold on a pink fill, centred and wrapped.
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="3">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b val="1"/><sz val="14"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="3"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="00F2DCDB"/><bgColor indexed="64"/>'
    "</patternFill></fill></fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" '
    'applyAlignment="1"><alignment horizontal="center" vertical="center" wrapText="1"/></xf>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_SHEET_START = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
)


def spreadsheet_text(value: str) -> str:
    """``value`` as a cell's text holds it: _xHHHH_ for what XML cannot carry (see above)."""
    if "_x" in value:
        value = _LOOKS_ESCAPED.sub(r"_x005F_\1", value)
    if not value.isprintable():
        value = _ESCAPED.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    return value


def _text(value: str) -> str:
    value = spreadsheet_text(value)
    if "&" in value or "<" in value or ">" in value:
        value = escape(value)
    return value


class Sheet:
    """One worksheet being written; rows are appended in order."""

    def __init__(self, handle: IO[bytes], columns: int) -> None:
        self.handle = handle
        self.letters = [get_column_letter(i) for i in range(1, columns + 1)]
        self.number = 0
        self.pending: list[str] = []

    def append(self, values: Sequence[Any], styles: dict[int, int] | None = None) -> None:
        """A row: str, int, float, date or None per cell; ``styles`` by column index."""
        self.number += 1
        n = self.number
        letters = self.letters
        parts = [f'<row r="{n}">']
        for index, value in enumerate(values):
            if value is None or value == "":
                continue
            ref = f"{letters[index]}{n}"
            style = styles.get(index, PLAIN) if styles else PLAIN
            s = f' s="{style}"' if style else ""
            kind = type(value)
            if kind is str:
                parts.append(
                    f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">'
                    f"{_text(value)}</t></is></c>"
                )
            elif kind is int or kind is float:
                parts.append(f'<c r="{ref}"{s}><v>{value!r}</v></c>')
            elif kind is datetime.date:
                parts.append(f'<c r="{ref}" s="{style or DATE}"><v>{(value - _EPOCH).days}</v></c>')
            elif isinstance(value, bool):
                parts.append(f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>')
            else:
                parts.append(
                    f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">'
                    f"{_text(str(value))}</t></is></c>"
                )
        parts.append("</row>")
        self.pending.append("".join(parts))
        if len(self.pending) >= _FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.handle.write("".join(self.pending).encode())
            self.pending = []


class Workbook:
    """Sheets written one after the other into ``out`` (any writable binary file)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6)
        self.names: list[str] = []
        self.current: tuple[IO[bytes], Sheet] | None = None

    def add_sheet(self, name: str, widths: Iterable[float], *, freeze: str | None = None) -> Sheet:
        """Start a sheet (closing the previous one); ``freeze`` is the first unfrozen cell."""
        self._close_sheet()
        self.names.append(name)
        handle = self.zip.open(f"xl/worksheets/sheet{len(self.names)}.xml", "w")
        widths = list(widths)
        head = [_SHEET_START]
        if freeze:
            column, row = re.fullmatch(r"([A-Z]+)(\d+)", freeze).groups()
            x_split = sum((ord(c) - 64) * 26**i for i, c in enumerate(reversed(column))) - 1
            y_split = int(row) - 1
            pane = "bottomRight" if x_split and y_split else "bottomLeft" if y_split else "topRight"
            attrs = (f' xSplit="{x_split}"' if x_split else "") + (
                f' ySplit="{y_split}"' if y_split else ""
            )
            head.append(
                f'<sheetViews><sheetView workbookViewId="0"><pane{attrs} topLeftCell="{freeze}" '
                f'activePane="{pane}" state="frozen"/>'
                f'<selection pane="{pane}" activeCell="{freeze}" sqref="{freeze}"/>'
                "</sheetView></sheetViews>"
            )
        if widths:
            head.append("<cols>")
            head += [
                f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                for i, w in enumerate(widths, start=1)
            ]
            head.append("</cols>")
        head.append("<sheetData>")
        handle.write("".join(head).encode())
        sheet = Sheet(handle, max(len(widths), 1))
        self.current = (handle, sheet)
        return sheet

    def _close_sheet(self) -> None:
        if self.current is not None:
            handle, sheet = self.current
            sheet.flush()
            handle.write(b"</sheetData></worksheet>")
            handle.close()
            self.current = None

    def close(self) -> None:
        self._close_sheet()
        n = range(1, len(self.names) + 1)
        self.zip.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.format(sheets="".join(_SHEET_TYPE.format(n=i) for i in n)),
        )
        self.zip.writestr("_rels/.rels", _ROOT_RELS)
        sheets = "".join(
            f'<sheet name={quoteattr(name)} sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self.names, start=1)
        )
        self.zip.writestr("xl/workbook.xml", _WORKBOOK.format(sheets=sheets))
        self.zip.writestr(
            "xl/_rels/workbook.xml.rels",
            _WORKBOOK_RELS.format(sheets="".join(_SHEET_REL.format(n=i) for i in n)),
        )
        self.zip.writestr("xl/styles.xml", _STYLES)
        self.zip.close()
