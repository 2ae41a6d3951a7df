"""Ledgers (台账) out, and the error reports of an import, as .xlsx or .csv.

Ledgers use the roster's own column layout, so an exported ledger can be edited and imported
back unchanged: one branch gives one table (一支部一表), a committee a book with one sheet per
branch (一党委一册), the whole county the same with every branch (一县一库). A CSV has no
sheets: it is one table, the branch named in 组织关系所在党组织 on every row.

Cells are written so that a spreadsheet cannot misread them: ID numbers as text cells (number
format ``@``; in CSV behind a tab, which Excel keeps as text and imports strip), and any text
starting with ``=``, ``+``, ``-`` or ``@`` behind an apostrophe, so it is never run as a formula
(CSV injection); imports take the apostrophe off again. Exports stream: openpyxl's write-only
mode and querysets read with ``iterator()``, so 100,000 members take no more memory than 100.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from django.db.models import Count, FilteredRelation, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from branches.choices import OrgKind
from branches.models import Organization
from members.choices import Education, Gender, MemberType, OutflowReason
from portal import regions

from . import constants, xlsx
from .schema import MEMBER_SCHEMA, header_key, needs_formula_escape
from .validation import OrgDirectory

XLSX, CSV = "xlsx", "csv"
FORMATS = (XLSX, CSV)
TEXT_FORMAT = "@"
CHUNK_SIZE = 2000
# Excel's limit on sheet names (in UTF-16 units), and the characters it refuses in them.
_SHEET_NAME_MAX = 31
_SHEET_NAME_BAD = str.maketrans(dict.fromkeys("[]:*?/\\", "_"))
# The name Excel keeps for the sheet its change tracking lists changes on (History, and 历史记录
# in a Chinese Excel): it refuses a sheet of that name, whatever its case.
_SHEET_NAMES_RESERVED = frozenset({"history", "历史记录"})
# Control characters, which an organization file may bring into a name (a line break, a
# vertical tab): XML 1.0 cannot carry most of them in workbook.xml, where one makes the whole
# book unreadable (to Excel, openpyxl and the import alike). A space stands in for each.
_SHEET_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffe\uffff]")
# Column widths of the ledger, by header (characters).
_WIDTHS = {
    "公民身份号码": 21,
    "组织关系所在党组织": 26,
    "流入地": 20,
    "详细地址": 26,
    "工作单位": 24,
    "流入地党组织": 24,
    "联系电话": 14,
    "出生日期": 12,
    "入党日期": 12,
    "转正日期": 12,
    "外出日期": 12,
    "备注": 20,
}
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")
_TITLE_FONT = Font(bold=True, size=14)


def escape_formula(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets an apostrophe in front; so does text
    that already starts with an apostrophe and such a character, for the import takes one
    apostrophe off again (``'=x`` is exported ``''=x`` and comes back ``'=x``)."""
    if isinstance(value, str) and needs_formula_escape(value):
        return "'" + value
    return value


# ---------------------------------------------------------------------------------------------
# Ledgers

_LEDGER_FIELDS = (
    "name",
    "gender",
    "ethnicity",
    "id_number",
    "birth_date",
    "education",
    "phone",
    "member_type",
    "joined_on",
    "converted_on",
    "home_org_id",
    "remarks",
    "current__left_on",
    "current__reason",
    "current__destination_code",
    "current__destination_address",
    "current__employer",
    "current__inflow_org_id",
    "current__inflow_org_name",
    "current__certificate_no",
    "current__contact_person",
)


def _labels(choices) -> dict[str, str]:
    return {value: str(label) for value, label in choices.choices} | {"": ""}


def ledger_rows(members_qs: QuerySet, org_label: dict[int, str]) -> Iterator[list[Any]]:
    """The ledger's rows for these members, in the template's column order, streamed.

    Organizations are named from ``org_label`` (by id) rather than joined: the query stays a
    members-to-current-mobility join that PostgreSQL plans well even before it has statistics
    of a table an import has just filled.
    """
    genders, educations = _labels(Gender), _labels(Education)
    types, reasons = _labels(MemberType), _labels(OutflowReason)
    queryset = (
        members_qs.annotate(
            current=FilteredRelation("mobilities", condition=Q(mobilities__ended_on__isnull=True))
        )
        .order_by("name", "pk")
        .values_list(*_LEDGER_FIELDS)
    )
    places: dict[str, str] = {}
    for index, v in enumerate(queryset.iterator(chunk_size=CHUNK_SIZE), start=1):
        (
            name,
            gender,
            ethnicity,
            id_number,
            birth_date,
            education,
            phone,
            member_type,
            joined_on,
            converted_on,
            home_id,
            remarks,
            left_on,
            reason,
            destination,
            address,
            employer,
            inflow_id,
            inflow_name,
            certificate_no,
            contact_person,
        ) = v
        if destination and destination not in places:
            places[destination] = regions.full_name(destination)
        yield [
            index,
            name,
            genders[gender],
            ethnicity,
            id_number,
            birth_date,
            educations[education],
            phone,
            types[member_type],
            joined_on,
            converted_on,
            org_label[home_id],
            left_on,
            reasons[reason or ""],
            places.get(destination, "") if destination else "",
            address or "",
            employer or "",
            org_label[inflow_id] if inflow_id else inflow_name or "",
            certificate_no or "",
            contact_person or "",
            remarks,
        ]


def org_labels() -> dict[int, str]:
    """How organizations are named in a ledger, by id: the full name, or the code where the
    import would not find the organization by its name (it takes either): a name that is
    shared would be ambiguous, and one that is another organization's code names that one."""
    directory = OrgDirectory(Organization.objects.only("code", "name"))
    return {
        org.pk: org.name
        if directory.is_unique_name(org) and directory.find(org.name) is org
        else org.code
        for org in directory.orgs
    }


def ledger_branches(scope: Organization | None, orgs_qs: QuerySet | None = None) -> QuerySet:
    """The branches whose tables make up the ledger of ``scope`` (the county if None)."""
    orgs_qs = Organization.objects.all() if orgs_qs is None else orgs_qs
    branches = orgs_qs.membership_homes()
    if scope is not None:
        branches = branches.filter(path__startswith=scope.path)
    return branches.in_tree_order()  # the sheets in the order the tree pages list them


def ledger_orgs(scope) -> QuerySet[Organization]:
    """The organizations whose ledgers a user keeps: the subtrees of their ledger roles."""
    orgs = Organization.objects.all()
    return orgs if scope.everything else orgs.filter(scope.path_q("path", scope.ledger_paths))


def ledger_of(org: Organization | None, scope=None) -> tuple[list[Organization], str]:
    """The branches whose tables make up a ledger, and its name: ``org``'s (a branch's table or
    a committee's book), else every ledger ``scope`` keeps (the whole county without one).

    A functional or temporary branch is no member's home, but it has a table all the same: the
    mobile members it organizes (see ``export_ledger``)."""
    if org is not None and org.kind == OrgKind.BRANCH:
        return [org], org.name
    branches = list(ledger_branches(org, None if scope is None else ledger_orgs(scope)))
    if org is not None:
        return branches, org.name
    if scope is None or scope.everything:
        return branches, _("全县")
    return branches, _("我管辖的党组织")


def _cut(text: str, limit: int) -> str:
    """The start of ``text`` that fits in ``limit`` characters as Excel counts them: UTF-16
    units, two for a character beyond the BMP (rare characters of place names, 𬌗)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _sheet_name(name: str, used: set[str]) -> str:
    """A sheet name for a branch named ``name`` that Excel accepts and that is none of ``used``
    (lower-cased, as Excel compares sheet names regardless of case; the name is added to it)."""
    name = _SHEET_NAME_CONTROL.sub(" ", name).translate(_SHEET_NAME_BAD)
    # Neither end may be an apostrophe, the end a cut leaves included.
    base = _cut(name.strip("' ") or _("党支部"), _SHEET_NAME_MAX).rstrip("'")
    candidate, n = base, 2
    while candidate.lower() in used or candidate.lower() in _SHEET_NAMES_RESERVED:
        suffix = f"({n})"
        candidate, n = _cut(base, _SHEET_NAME_MAX - len(suffix)) + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def _id_column() -> int:
    return MEMBER_SCHEMA.headers.index(MEMBER_SCHEMA.column("id_number").header)


def export_ledger(
    *,
    members_qs: QuerySet,
    orgs: Iterable[Organization],
    fmt: str,
    out: IO[bytes],
    title: str | None = None,
    mark: str = "",
) -> int:
    """Write the ledger of ``members_qs`` to ``out``; returns the number of members written.

    ``members_qs`` is the caller's base queryset (already limited to what the user may see);
    ``orgs`` are the branches making up the ledger, one sheet each in xlsx (those without a
    member in ``members_qs`` are left out). A branch that holds no memberships (functional,
    temporary) stands for the members whose current mobility it organizes (流入地党组织): still
    the import layout, each member's 组织关系 in their home branch. ``fmt`` is "xlsx" or "csv".
    In xlsx, ``title`` and the watermark ``mark`` head each sheet (see :func:`_sheet_title`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown ledger format {fmt!r}")
    labels = org_labels()
    orgs = list(orgs)
    counts = dict(
        members_qs.filter(home_org__in=[o.pk for o in orgs if o.holds_memberships])
        .values_list("home_org")
        .annotate(n=Count("pk"))
        .values_list("home_org", "n")
    )
    tables = []
    for org in orgs:
        if org.holds_memberships:
            if counts.get(org.pk):
                tables.append((org, members_qs.filter(home_org=org)))
            continue
        organized = members_qs.filter(mobilities__ended_on__isnull=True, mobilities__inflow_org=org)
        if organized.exists():
            tables.append((org, organized))
    if fmt == CSV:
        return _ledger_csv(tables, labels, out)
    return _ledger_xlsx(tables, labels, out, title, mark)


def watermark(who: str) -> str:
    """Who exported a file and when, written into the file itself."""
    return _("导出人 %(user)s 导出时间 %(time)s") % {
        "user": who,
        "time": timezone.localtime().strftime("%Y-%m-%d %H:%M"),
    }


def write_ledger(out: IO[bytes], *, fmt: str, heading: str, mark: str, **kwargs) -> int:
    """``export_ledger`` with the watermark: in xlsx the title row above each sheet's header,
    in CSV a first line above the header. Imports skip both (the header is found below)."""
    if fmt == CSV:
        # export_ledger writes no title line in CSV. This one starts the file with the BOM
        # Excel needs; export_ledger's UTF-8-sig writer, opened past position 0, adds none.
        line = io.StringIO()
        csv.writer(line).writerow([escape_formula(f"{heading} {mark}")])
        out.write(codecs.BOM_UTF8 + line.getvalue().encode("utf-8"))
    return export_ledger(out=out, fmt=fmt, title=heading, mark=mark, **kwargs)


def _ledger_csv(tables, labels, out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    writer = csv.writer(text)
    writer.writerow(MEMBER_SCHEMA.headers)
    id_col = _id_column()
    written = 0
    for _org, queryset in tables:
        for row in ledger_rows(queryset, labels):
            written += 1
            row[0] = written
            cells = [_csv_cell(value) for value in row]
            cells[id_col] = "\t" + cells[id_col]  # Excel keeps it as text
            writer.writerow(cells)
    text.flush()
    text.detach()
    return written


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(escape_formula(value))


def _sheet_title(org: Organization, label: str, title: str | None, mark: str) -> str:
    """A sheet's title row: the ledger's title, followed by the sheet's branch unless it is that
    branch's own ledger (a book's tab may be cut short or numbered, and a printed sheet has no
    tab: each table says whose it is), then the watermark. Without a title, the branch's own
    and the day."""
    if title is None:
        return _("%(org)s流动党员台账（%(day)s导出）") % {
            "org": org.name,
            "day": f"{timezone.localdate():%Y-%m-%d}",
        }
    own = _("%(org)s流动党员台账") % {"org": org.name}
    if title != own:
        # A name two branches share is told apart by the code, as in the rows.
        named = org.name if label == org.name else f"{org.name}（{org.code}）"
        title = _("%(title)s：%(org)s") % {"title": title, "org": named}
    # A title given carries its watermark (who and when): no second date after it.
    return f"{title} {mark}" if mark else title


def _ledger_xlsx(tables, labels, out: IO[bytes], title: str | None, mark: str) -> int:
    """The ledger as .xlsx, through the streaming writer of ``xlsx.py`` (same layout, styles and
    cell types as :func:`_start_sheet` and openpyxl would give, at a tenth of the time)."""
    workbook = xlsx.Workbook(out)
    headers = MEMBER_SCHEMA.headers
    widths = [_WIDTHS.get(h, max(8, len(h) * 2 + 2)) for h in headers]
    header_styles = dict.fromkeys(range(len(headers)), xlsx.HEADER)
    used: set[str] = set()
    written = 0
    id_styles = {_id_column(): xlsx.TEXT}

    def start(name: str, heading: str) -> xlsx.Sheet:
        sheet = workbook.add_sheet(name, widths, freeze="C3")
        sheet.append([escape_formula(heading)], {0: xlsx.TITLE})
        sheet.append(headers, header_styles)
        return sheet

    for org, queryset in tables:
        heading = _sheet_title(org, labels[org.pk], title, mark)
        sheet = start(_sheet_name(org.name, used), heading)
        append = sheet.append
        for row in ledger_rows(queryset, labels):
            written += 1
            append([escape_formula(value) for value in row], id_styles)
    if not tables:
        empty = title or _("流动党员台账（无数据）")
        start(_("台账"), f"{empty} {mark}" if mark else empty)
    workbook.close()
    return written


def _text_cell(sheet, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = TEXT_FORMAT
    return cell


def _start_sheet(sheet, headers: Sequence[str], title: str | None) -> None:
    """Widths, frozen header, a title row above the header (imports skip it) and the header."""
    for index, header in enumerate(headers, start=1):
        width = _WIDTHS.get(header, max(8, len(header) * 2 + 2))
        sheet.column_dimensions[get_column_letter(index)].width = width
    first_data_row = 3 if title else 2
    sheet.freeze_panes = f"C{first_data_row}"
    if title:
        cell = WriteOnlyCell(sheet, value=escape_formula(title))
        cell.font = _TITLE_FONT
        sheet.append([cell])
    header_cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=xlsx.spreadsheet_text(escape_formula(header)))
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        header_cells.append(cell)
    sheet.append(header_cells)


# ---------------------------------------------------------------------------------------------
# Error reports

ERROR_HEADERS = ("行号", "列", "值", "错误")


def write_error_report(
    errors: Iterable[Sequence[Any]], out: IO[bytes], fmt: str, *, title: str | None = None
) -> None:
    """The problems of an import: one line each, columns 行号, 列, 值, 错误.

    ``title`` (the browser's downloads: who and when) goes on a line above the header.
    """
    headers = [_(h) for h in ERROR_HEADERS]
    rows = ([row, column, value, reason] for row, column, value, reason in errors)
    _write_table(headers, rows, out, fmt, text_columns={2}, title=title)


def write_bad_rows(bad_rows: dict, out: IO[bytes], fmt: str, *, title: str | None = None) -> None:
    """The bad rows as read, with an added 错误 column: fix them and upload the file again.

    ID numbers stay text (a text cell; in CSV behind a tab, as in ledgers), the file's own
    headers are escaped like any cell, and ``title`` goes above the header, which imports skip.
    """
    headers = list(bad_rows.get("headers") or [])
    # A file that was itself a bad-rows download brings last time's 错误 column: replaced.
    kept = [i for i, header in enumerate(headers) if str(header).strip() != constants.ERROR_COLUMN]
    if len(kept) < len(headers):
        headers = [headers[i] for i in kept]
        bad_rows = {
            **bad_rows,
            "rows": [
                (number, [cells[i] for i in kept if i < len(cells)], reasons)
                for number, cells, reasons in bad_rows.get("rows", [])
            ],
        }
    text_columns = {
        i
        for i, header in enumerate(headers)
        if (column := MEMBER_SCHEMA.by_name.get(header_key(header))) and column.key == "id_number"
    }
    # Row numbers in the reasons (与第 2 行的公民身份号码重复) are the uploaded file's; each
    # reason says which of its rows it was, as the copy's rows are numbered anew.
    rows = (
        [*cells, _("%(reasons)s（原文件第 %(n)s 行）") % {"reasons": reasons, "n": number}]
        for number, cells, reasons in bad_rows.get("rows", [])
    )
    _write_table(
        [*headers, _(constants.ERROR_COLUMN)],
        rows,
        out,
        fmt,
        text_columns=text_columns,
        title=title,
    )


def _write_table(
    headers: Sequence[str],
    rows: Iterable[list[Any]],
    out: IO[bytes],
    fmt: str,
    *,
    text_columns: set[int],
    title: str | None,
) -> None:
    if fmt == CSV:
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        if title:
            writer.writerow([_csv_cell(title)])
        writer.writerow([_csv_cell(header) for header in headers])
        for row in rows:
            cells = [_csv_cell(value) for value in row]
            for index in text_columns:
                if index < len(cells) and cells[index]:
                    cells[index] = "\t" + cells[index]  # Excel keeps it as text
            writer.writerow(cells)
        text.flush()
        text.detach()
        return
    if fmt != XLSX:
        raise ValueError(f"unknown report format {fmt!r}")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(constants.ERRORS_SHEET)
    _start_sheet(sheet, headers, title)
    for row in rows:
        cells = [escape_formula(value) for value in row]
        cells = [xlsx.spreadsheet_text(c) if type(c) is str else c for c in cells]
        for index in text_columns:
            if index < len(cells):
                cells[index] = _text_cell(sheet, cells[index])
        sheet.append(cells)
    workbook.save(out)
