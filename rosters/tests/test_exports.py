"""Ledgers, error reports and the blank template (rosters/exports.py, rosters/template.py)."""

import codecs
import csv
import datetime
import io

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from branches.tests.factories import make_branch
from members.models import Member
from members.tests.factories import make_member
from rosters import services
from rosters.choices import ImportStatus
from rosters.exports import (
    export_ledger,
    ledger_branches,
    write_bad_rows,
    write_error_report,
    write_ledger,
)
from rosters.readers import RosterFileError, open_table
from rosters.schema import MEMBER_SCHEMA
from rosters.template import write_template

from .rosterdata import HEADERS, member_rows, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(tree, homes, tmp_path):
    """Eight members imported from a roster, with the awkward values a ledger must survive."""
    rows = member_rows(8, homes=homes)
    rows[0]["备注"] = '\'=HYPERLINK("http://x")'  # typed with Excel's text apostrophe
    rows[1]["工作单位"] = "-外包-"
    rows[2]["流入地党组织"] = tree["functional"].code
    rows[3]["流入地党组织"] = "西安市雁塔区流动党员党支部"
    rows[4]["党员类型"] = "预备党员"
    rows[4]["转正日期"] = ""
    rows[5]["详细地址"] = "@家"
    rows[6]["工作单位"] = "+86科技"
    path = write_xlsx(tmp_path / "in.xlsx", rows)
    record = services.roster_import(source=path, filename=path.name)
    assert record.status == ImportStatus.IMPORTED, record.errors
    return rows


def export(tree, fmt, scope=None, members=None) -> bytes:
    out = io.BytesIO()
    export_ledger(
        members_qs=members if members is not None else Member.objects.all(),
        orgs=ledger_branches(scope),
        fmt=fmt,
        out=out,
    )
    return out.getvalue()


def test_county_ledger_has_one_sheet_per_branch(tree, imported):
    book = load_workbook(io.BytesIO(export(tree, "xlsx")))
    assert book.sheetnames == ["东村党支部", "西村党支部"]
    sheet = book["东村党支部"]
    assert sheet["A1"].value.startswith("东村党支部流动党员台账")
    assert [c.value for c in sheet[2]] == HEADERS
    assert sheet.freeze_panes == "C3"
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert len(rows) == 4
    id_cells = [row[4] for row in sheet.iter_rows(min_row=3)]
    assert all(c.data_type == "s" and c.number_format == "@" for c in id_cells)
    assert {r[4] for r in rows} == {row["公民身份号码"] for row in imported[0::2]}


def test_formulas_are_escaped(tree, imported):
    book = load_workbook(io.BytesIO(export(tree, "xlsx")))
    values = [c for sheet in book for row in sheet.iter_rows(min_row=3) for c in row]
    texts = {c.value for c in values if isinstance(c.value, str)}
    assert '\'=HYPERLINK("http://x")' in texts
    assert "'-外包-" in texts and "'@家" in texts and "'+86科技" in texts
    assert not any(c.data_type == "f" for c in values)


def test_a_branch_ledger_is_one_table_and_a_committee_ledger_a_book(tree, imported):
    assert load_workbook(io.BytesIO(export(tree, "xlsx", scope=tree["village"]))).sheetnames == [
        "东村党支部"
    ]
    assert (
        len(load_workbook(io.BytesIO(export(tree, "xlsx", scope=tree["township"]))).sheetnames) == 2
    )


def test_a_books_sheets_follow_the_tree_not_the_order_of_creation(tree):
    # Siblings are listed by code on the tree and organization pages; a book in the order
    # the branches were created (ids compared as text in their paths: /1/10/ before /1/9/)
    # reads 007-011 before 001-006, as the demo county's 解店镇 did.
    township = tree["township"]
    later = make_branch(parent=township, name="北村党支部", code="T-02")
    earlier = make_branch(parent=township, name="南村党支部", code="T-01")
    for branch in (later, earlier):
        make_member(home_org=branch, name="台账乙")
    book = load_workbook(io.BytesIO(export(tree, "xlsx", scope=township)))
    assert book.sheetnames == ["南村党支部", "北村党支部"]
    rows = list(csv.reader(io.StringIO(export(tree, "csv", scope=township).decode("utf-8-sig"))))
    assert [row[11] for row in rows[1:]] == ["南村党支部", "北村党支部"]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_functional_branchs_table_is_the_members_it_organizes(tree, imported, tmp_path, fmt):
    from rosters.exports import ledger_of

    functional = tree["functional"]
    branches, name = ledger_of(functional)
    assert (branches, name) == ([functional], functional.name)
    path = tmp_path / f"functional.{fmt}"
    out = io.BytesIO()
    assert export_ledger(members_qs=Member.objects.all(), orgs=branches, fmt=fmt, out=out) == 1
    path.write_bytes(out.getvalue())
    if fmt == "xlsx":
        sheet = load_workbook(path)[functional.name]
        rows = [list(r) for r in sheet.iter_rows(min_row=3, values_only=True)]
    else:
        rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))[1:]
    # The member whose current mobility it organizes, with their 组织关系 in their home branch.
    ((row),) = rows
    assert str(row[4]).strip() == imported[2]["公民身份号码"]
    member = Member.objects.by_id_number(imported[2]["公民身份号码"]).get()
    assert row[HEADERS.index("组织关系所在党组织")] == member.home_org.name
    assert row[HEADERS.index("流入地党组织")] == functional.name
    record = services.roster_import(source=path, filename=path.name)
    assert (record.status, record.rows_unchanged, record.rows_bad) == (ImportStatus.IMPORTED, 1, 0)


def test_csv_ledger(tree, imported):
    data = export(tree, "csv")
    assert data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    assert len(rows) == 9
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, 9)]
    assert all(r[4].startswith("\t") and len(r[4]) == 19 for r in rows[1:])
    assert any(r[20] == '\'=HYPERLINK("http://x")' for r in rows[1:])


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_an_export_imports_back_unchanged(tree, imported, tmp_path, fmt):
    path = tmp_path / f"ledger.{fmt}"
    path.write_bytes(export(tree, fmt))
    sheets = ["东村党支部", "西村党支部"] if fmt == "xlsx" else [None]
    unchanged = 0
    for sheet in sheets:
        record = services.roster_import(source=path, filename=path.name, sheet=sheet)
        assert record.status == ImportStatus.IMPORTED, record.errors
        assert record.rows_created == record.rows_updated == record.rows_bad == 0
        unchanged += record.rows_unchanged
    assert unchanged == 8
    member = Member.objects.by_id_number(imported[0]["公民身份号码"]).get()
    assert member.remarks == '=HYPERLINK("http://x")'


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_value_starting_with_an_apostrophe_comes_back_unchanged(tree, imported, tmp_path, fmt):
    """The import takes an export's escape apostrophe off: one the value has must survive."""
    number = imported[2]["公民身份号码"]  # a member of 东村
    Member.objects.by_id_number(number).update(remarks="'=x")
    path = tmp_path / f"ledger.{fmt}"
    path.write_bytes(export(tree, fmt, scope=tree["village"]))
    record = services.roster_import(source=path, filename=path.name)
    assert record.status == ImportStatus.IMPORTED, record.errors
    assert record.rows_unchanged == 4 and record.rows_updated == 0
    assert Member.objects.by_id_number(number).get().remarks == "'=x"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_line_breaks_control_characters_and_escape_lookalikes_come_back_unchanged(
    tree, imported, tmp_path, fmt
):
    """XML cannot carry a carriage return or most control characters, and _x000D_ is how
    SpreadsheetML writes one: each survives the xlsx ledger as typed."""
    odd = {
        "remarks": "第一行\r\n第二行\x0b完",
        "employer": "单位\x01",
        "destination_address": "a\rb _x000D_ _x005F_",
    }
    number = imported[2]["公民身份号码"]  # a member of 东村
    member = Member.objects.by_id_number(number).get()
    Member.objects.filter(pk=member.pk).update(remarks=odd["remarks"])
    member.mobilities.update(
        employer=odd["employer"], destination_address=odd["destination_address"]
    )
    path = tmp_path / f"ledger.{fmt}"
    path.write_bytes(export(tree, fmt, scope=tree["village"]))
    record = services.roster_import(source=path, filename=path.name)
    assert record.status == ImportStatus.IMPORTED, record.errors
    assert record.rows_unchanged == 4 and record.rows_updated == 0
    member = Member.objects.by_id_number(number).get()
    current = member.mobilities.get()
    assert (member.remarks, current.employer, current.destination_address) == tuple(odd.values())


def test_reports_hold_control_characters_in_xlsx(tmp_path):
    out = tmp_path / "report.xlsx"
    with out.open("wb") as handle:
        write_error_report([[3, "备注", "第一行\x0b第二行\x01", "示例"]], handle, "xlsx")
    with out.open("rb") as handle:
        rows = CalamineWorkbook.from_filelike(handle).get_sheet_by_index(0).to_python()
    assert rows[1][2] == "第一行\x0b第二行\x01"


def test_a_shared_organization_name_is_exported_as_its_code(tree, imported, tmp_path):
    make_branch(parent=tree["root"], name="东村党支部")
    data = export(tree, "csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert {r[11] for r in rows[1:]} == {tree["village"].code, "西村党支部"}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_name_that_is_another_organizations_code_is_exported_as_the_code(
    tree, imported, tmp_path, fmt
):
    # The import looks a cell up as a code first: 东村党支部 would name this branch, and the
    # ledger imported back would move 东村's members into it.
    make_branch(parent=tree["root"], name="北村党支部", code="东村党支部")
    path = tmp_path / f"ledger.{fmt}"
    path.write_bytes(export(tree, fmt, scope=tree["village"]))
    record = services.roster_import(source=path, filename=path.name)
    assert record.status == ImportStatus.IMPORTED, record.errors
    assert (record.rows_unchanged, record.rows_updated) == (4, 0)
    assert set(Member.objects.values_list("home_org__name", flat=True)) == {
        "东村党支部",
        "西村党支部",
    }


def test_export_reads_members_in_a_few_queries(
    tree, homes, tmp_path, django_assert_max_num_queries
):
    path = write_xlsx(tmp_path / "in.xlsx", member_rows(40, homes=homes))
    services.roster_import(source=path, filename=path.name)
    with django_assert_max_num_queries(8):
        export(tree, "xlsx")


def test_export_of_nothing_is_a_valid_workbook(tree):
    book = load_workbook(io.BytesIO(export(tree, "xlsx")))
    assert book.sheetnames == ["台账"]


# --- error reports -----------------------------------------------------------------------------

ERRORS = [[4, "公民身份号码", "1.1010519491231e+17", "身份证号被 Excel 转成了数字"],
          [6, "备注", "=1+2", "示例"]]  # fmt: skip


def test_error_report_as_csv():
    out = io.BytesIO()
    write_error_report(ERRORS, out, "csv")
    assert out.getvalue().startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    first = [str(v) for v in ERRORS[0]]
    first[2] = "\t" + first[2]  # the value column stays text in Excel
    assert rows == [["行号", "列", "值", "错误"], first,
                    ["6", "备注", "\t'=1+2", "示例"]]  # fmt: skip


def test_error_report_as_xlsx():
    out = io.BytesIO()
    write_error_report(ERRORS, out, "xlsx")
    sheet = load_workbook(out).active
    assert [c.value for c in sheet[1]] == ["行号", "列", "值", "错误"]
    assert sheet["A2"].value == 4 and sheet["C2"].number_format == "@"
    assert sheet["C3"].value == "'=1+2"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_bad_rows_come_back_fixable(tree, homes, tmp_path, fmt):
    rows = member_rows(4, homes=homes)
    rows[1]["联系电话"] = "123"
    rows[3]["公民身份号码"] = "11010519491231002"  # 17 characters
    path = write_xlsx(tmp_path / "in.xlsx", rows)
    record = services.roster_import(source=path, filename=path.name)
    out = tmp_path / f"bad.{fmt}"
    with out.open("wb") as handle:
        write_bad_rows(record.bad_rows, handle, fmt)
    with open_table(out, filename=out.name, schema=MEMBER_SCHEMA) as table:
        assert table.warnings == []  # its 错误 column is the download's own: read back silently
        got = [(n, table.values(cells)) for n, cells in table.rows]
    assert [values["id_number"].strip() for _n, values in got] == [
        "" + rows[1]["公民身份号码"],
        "11010519491231002",
    ]
    if fmt == "csv":  # behind a tab, as in ledgers, so Excel keeps all 18 digits
        assert {values["id_number"][:1] for _n, values in got} == {"\t"}
    if fmt == "xlsx":
        sheet = load_workbook(out).active
        assert sheet.cell(row=1, column=22).value == "错误"
        assert sheet.cell(row=2, column=22).value.startswith("联系电话 123 格式不正确")
        assert sheet.cell(row=2, column=5).number_format == "@"


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_bad_rows_uploaded_still_bad_come_back_with_one_error_column(tree, homes, tmp_path, fmt):
    rows = member_rows(2, homes=homes)
    rows[1]["联系电话"] = "123"
    path = write_xlsx(tmp_path / "in.xlsx", rows)
    first = tmp_path / f"bad1.{fmt}"
    with first.open("wb") as handle:
        write_bad_rows(
            services.roster_import(source=path, filename="in.xlsx").bad_rows, handle, fmt
        )
    # Uploaded again unchanged: still bad, and its download has one 错误 column, this time's.
    again = services.roster_import(source=first, filename=first.name)
    second = tmp_path / f"bad2.{fmt}"
    with second.open("wb") as handle:
        write_bad_rows(again.bad_rows, handle, fmt)
    with open_table(second, filename=second.name, schema=MEMBER_SCHEMA) as table:
        assert table.headers.count("错误") == 1 and not table.warnings
        ((_n, cells),) = list(table.rows)
        assert cells[table.headers.index("错误")].startswith("联系电话 123 格式不正确")
        # Row 3 of the file first uploaded, row 2 of the copy uploaded again.
        assert cells[table.headers.index("错误")].endswith("（原文件第 2 行）")


def test_the_bad_rows_copy_says_which_row_of_the_uploaded_file_each_was(tree, homes, tmp_path):
    """Its rows are numbered anew: 与第 2 行…重复 must not point into the copy."""
    rows = member_rows(3, homes=homes)
    rows[2]["公民身份号码"] = rows[0]["公民身份号码"]
    path = write_xlsx(tmp_path / "in.xlsx", rows)
    copy = tmp_path / "bad.xlsx"
    with copy.open("wb") as handle:
        write_bad_rows(
            services.roster_import(source=path, filename="in.xlsx").bad_rows, handle, "xlsx"
        )
    with open_table(copy, filename=copy.name, schema=MEMBER_SCHEMA) as table:
        ((number, cells),) = list(table.rows)
        reason = cells[table.headers.index("错误")]
    assert number == 2
    assert "与第 2 行" in reason and reason.endswith("（原文件第 4 行）")


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_date_cell_with_a_time_of_day_comes_back_as_its_day(tree, homes, tmp_path, fmt):
    """The import reads the day of a date cell; the bad rows give that day back, not a text
    with the time of day that the import would refuse."""
    rows = member_rows(1, homes=homes)
    rows[0]["外出日期"] = datetime.datetime(2024, 3, 1, 8, 30)
    rows[0]["联系电话"] = "坏号码"
    path = write_xlsx(tmp_path / "in.xlsx", rows)
    record = services.roster_import(source=path, filename=path.name)
    assert record.rows_bad == 1
    out = tmp_path / f"bad.{fmt}"
    with out.open("wb") as handle:
        write_bad_rows(record.bad_rows, handle, fmt)
    fixed = tmp_path / "fixed.csv"
    with open_table(out, filename=out.name, schema=MEMBER_SCHEMA) as table:
        ((_n, cells),) = table.rows
        values = table.values(cells)
    assert values["left_on"] == "2024-03-01"
    fixed_row = {**rows[0], "外出日期": values["left_on"], "联系电话": "13800138000"}
    write_csv(fixed, [fixed_row])
    record = services.roster_import(source=fixed, filename=fixed.name)
    assert record.status == ImportStatus.IMPORTED, record.errors
    member = Member.objects.by_id_number(rows[0]["公民身份号码"]).get()
    assert member.mobilities.get().left_on == datetime.date(2024, 3, 1)


def test_headers_and_titles_of_downloads_are_never_formulas():
    bad = {"headers": ["=HYPERLINK(1)", "姓名"], "rows": [[3, ["x", "张三"], "示例"]]}
    out = io.BytesIO()
    write_bad_rows(bad, out, "xlsx", title="=1+2 导出人 a")
    sheet = load_workbook(out).active
    assert [c.value for c in sheet[1]][:1] == ["'=1+2 导出人 a"]
    assert [c.value for c in sheet[2]] == ["'=HYPERLINK(1)", "姓名", "错误"]
    assert sheet["A2"].data_type != "f" and sheet["A1"].data_type != "f"
    out = io.BytesIO()
    write_bad_rows(bad, out, "csv", title="=1+2 导出人 a")
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert rows[:2] == [["'=1+2 导出人 a"], ["'=HYPERLINK(1)", "姓名", "错误"]]
    # A ledger's CSV title line, whose organization name could start with "=".
    out = io.BytesIO()
    write_ledger(out, fmt="csv", heading="=x党支部台账", mark="导出人 a",
                 members_qs=Member.objects.none(), orgs=[])  # fmt: skip
    assert out.getvalue().decode("utf-8-sig").splitlines()[0] == "'=x党支部台账 导出人 a"


# --- the blank template ------------------------------------------------------------------------


def test_the_blank_template(tmp_path):
    path = tmp_path / "template.xlsx"
    with path.open("wb") as handle:
        write_template(handle)
    book = load_workbook(path)
    sheet = book.worksheets[0]
    assert sheet["A1"].value == "流动党员登记表"
    assert [c.value for c in sheet[2]] == HEADERS
    id_col = HEADERS.index("公民身份号码") + 1
    assert sheet.cell(row=3, column=id_col).number_format == "@"
    assert sheet.cell(row=500, column=id_col).number_format == "@"
    # Dates that may be a year and month are text (2019.07 in a date cell is a 1905 date).
    for header in ("入党日期", "转正日期", "外出日期"):
        assert sheet.cell(row=3, column=HEADERS.index(header) + 1).number_format == "@"
    assert sheet.cell(row=3, column=HEADERS.index("出生日期") + 1).number_format == "yyyy-mm-dd"
    lists = {
        str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1
        for dv in sheet.data_validations.dataValidation
    }
    letters = {h: chr(ord("A") + i) for i, h in enumerate(HEADERS)}
    assert set(lists) == {letters[h] for h in ("性别", "民族", "学历", "党员类型", "外出原因")}
    options = book["选项"]
    assert options.sheet_state == "hidden"
    ethnic_column = lists[letters["民族"]].split("!")[1].split(":")[0].replace("$", "")
    column = [c.value for c in options[ethnic_column.rstrip("0123456789")]]
    assert "汉族" in column and len([v for v in column if v]) == 56
    with (
        pytest.raises(RosterFileError, match="表头（第 2 行）下面没有数据"),
        open_table(path, filename=path.name, schema=MEMBER_SCHEMA),
    ):
        pass


# --- sheet names -------------------------------------------------------------------------------


def test_a_control_character_in_a_branch_name_leaves_the_book_readable(tree, tmp_path):
    # An organization file can bring one in (a vertical tab from a cell, a line break); in
    # workbook.xml it made the whole book unreadable to Excel, openpyxl and the import.
    branch = make_branch(parent=tree["township"], name="南村\x0b党支部")
    make_member(home_org=branch, name="台账丙")
    path = tmp_path / "book.xlsx"
    path.write_bytes(export(tree, "xlsx", scope=tree["township"]))
    assert load_workbook(path).sheetnames == ["南村 党支部"]
    assert CalamineWorkbook.from_path(str(path)).sheet_names == ["南村 党支部"]


def test_sheet_names_excel_refuses_are_changed(tree, tmp_path):
    # Excel refuses a sheet name ending (or starting) with an apostrophe, also when the cut to
    # 31 characters leaves one at the end, and the name it keeps for its change history.
    township = tree["township"]
    cut = "万荣县驻北京市朝阳区流动党员第一联合党支部委员会流动党员甲乙" + "'党支部"
    for index, name in enumerate((cut, "History", "历史记录")):
        make_member(home_org=make_branch(parent=township, name=name), name=f"台账{'丙丁戊'[index]}")
    names = load_workbook(io.BytesIO(export(tree, "xlsx", scope=township))).sheetnames
    assert len(names[0]) == 30 and cut.startswith(names[0]) and not names[0].endswith("'")
    assert names[1:] == ["History(2)", "历史记录(2)"]


def test_sheet_names_fit_excels_limit_in_its_own_count(tree):
    # Excel counts a name's UTF-16 units: a character beyond the BMP (𠮷, a rare character of
    # a place name) takes two of the 31.
    township = tree["township"]
    for index in range(2):
        branch = make_branch(parent=township, name="𠮷" * 20 + "村党支部")
        make_member(home_org=branch, name=f"台账{'丙丁'[index]}")
    names = load_workbook(io.BytesIO(export(tree, "xlsx", scope=township))).sheetnames
    assert names == ["𠮷" * 15, "𠮷" * 14 + "(2)"]


def test_each_sheet_of_a_book_names_its_branch_above_the_header(tree, imported):
    # The tab may be cut short or numbered, and a printed sheet shows none: the title row says
    # whose table it is, as the book's title and watermark do.
    twin = make_branch(parent=tree["township"], name="东村党支部", code="T-TWIN")
    make_member(home_org=twin, name="台账丙")
    out = io.BytesIO()
    branches = ledger_branches(tree["township"])
    write_ledger(out, fmt="xlsx", heading="测试镇党委流动党员台账", mark="导出人 a",
                 members_qs=Member.objects.all(), orgs=branches)  # fmt: skip
    book = load_workbook(out)
    assert [sheet["A1"].value for sheet in book] == [
        f"测试镇党委流动党员台账：东村党支部（{tree['village'].code}） 导出人 a",
        "测试镇党委流动党员台账：西村党支部 导出人 a",
        "测试镇党委流动党员台账：东村党支部（T-TWIN） 导出人 a",
    ]
    # A branch's own table is titled by it already.
    out = io.BytesIO()
    write_ledger(out, fmt="xlsx", heading="西村党支部流动党员台账", mark="导出人 a",
                 members_qs=Member.objects.all(), orgs=[tree["other"]])  # fmt: skip
    assert load_workbook(out).active["A1"].value == "西村党支部流动党员台账 导出人 a"
