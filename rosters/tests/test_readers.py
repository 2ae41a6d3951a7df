"""Reading roster files (rosters/readers.py): formats, headers, rows, and files refused."""

import datetime
import struct
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook

from rosters.readers import RosterFileError, open_table
from rosters.schema import MEMBER_SCHEMA, ORG_SCHEMA

from .files import encrypted_xlsx, lying_zip, rewrite_zip, with_shared_strings, zip_bomb
from .rosterdata import HEADERS, csv_text, member_row, write_csv, write_xls, write_xlsx

ROWS = [member_row(i, home="B000001") for i in range(3)]


def read(source, *, filename=None, schema=MEMBER_SCHEMA, **kw):
    """(table, [(row number, values by key)]) of a file."""
    name = filename or getattr(source, "name", "roster.xlsx")
    with open_table(source, filename=name, schema=schema, **kw) as table:
        return table, [(n, table.values(cells)) for n, cells in table.rows]


def refused(source, **kw) -> str:
    with pytest.raises(RosterFileError) as info:
        read(source, **kw)
    message = str(info.value)
    assert message and "\n" not in message
    return message


# --- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_three_formats_read_the_same_rows(tmp_path, fmt):
    writer = {"xlsx": write_xlsx, "xls": write_xls, "csv": write_csv}[fmt]
    path = writer(tmp_path / f"r.{fmt}", ROWS)
    table, rows = read(path)
    assert table.format == fmt
    assert table.header_row == 1
    assert [n for n, _v in rows] == [2, 3, 4]
    assert [v["id_number"] for _n, v in rows] == [r["公民身份号码"] for r in ROWS]
    assert rows[0][1]["home_org"] == "B000001"
    assert table.warnings == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_encodings(tmp_path, encoding):
    path = write_csv(tmp_path / "r.csv", ROWS, encoding=encoding)
    _table, rows = read(path)
    assert rows[1][1]["name"] == ROWS[1]["姓名"]
    assert rows[2][1]["destination"] == ROWS[2]["流入地"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # An exported UTF-8 ledger with rows appended by a tool writing GBK.
        (
            csv_text(ROWS).encode("utf-8-sig") + "王五,男\n".encode("gbk"),
            "CSV 文件开头标明是 UTF-8 编码，但第 5 行起有不是该编码的内容",
        ),
        # Cut short in the middle of a character.
        (
            csv_text(ROWS).encode("utf-8-sig") + "王".encode()[:2],
            "CSV 文件开头标明是 UTF-8 编码，但第 5 行起",
        ),
        (csv_text(ROWS).encode("utf-16") + b"\x00", "CSV 文件开头标明是 UTF-16 编码，但第 5 行起"),
    ],
)
def test_a_csv_that_breaks_the_encoding_its_mark_names(tmp_path, data, expected):
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    assert refused(path).startswith(expected)


def test_csv_with_tabs_or_semicolons(tmp_path):
    for delimiter in ("\t", ";"):
        path = tmp_path / "r.csv"
        path.write_text(csv_text(ROWS, delimiter=delimiter), encoding="utf-8")
        _table, rows = read(path)
        assert rows[0][1]["phone"] == ROWS[0]["联系电话"]


def test_excels_sep_line_is_not_a_row(tmp_path):
    """Excel hides "sep=;" and numbers the header 1: so do the messages."""
    path = tmp_path / "r.csv"
    path.write_text("sep=;\n" + csv_text(ROWS, delimiter=";"), encoding="utf-8")
    table, rows = read(path)
    assert table.header_row == 1
    assert [n for n, _v in rows] == [2, 3, 4]
    assert rows[0][1]["phone"] == ROWS[0]["联系电话"]


def test_tab_separated_text_under_a_title_line(tmp_path):
    """Excel's "Unicode text": tabs, with the roster's title alone on the first line."""
    path = tmp_path / "r.txt"
    path.write_text("万荣县流动党员登记表\n" + csv_text(ROWS, delimiter="\t"), encoding="utf-16")
    table, rows = read(path)
    assert table.header_row == 2
    assert [v["name"] for _n, v in rows] == [r["姓名"] for r in ROWS]


def test_xlsx_cells_keep_their_types(tmp_path):
    rows = [member_row(0, home="B1", 入党日期=datetime.date(2010, 7, 1), 联系电话=13800138000)]
    _table, [(_number, values)] = read(write_xlsx(tmp_path / "r.xlsx", rows))
    assert values["joined_on"] == datetime.date(2010, 7, 1)
    assert values["phone"] == 13800138000.0


def test_xlsx_id_number_typed_as_a_number_is_read_as_a_float(tmp_path):
    rows = [member_row(0, home="B1", 公民身份号码=110105194912310021)]
    _table, [(_n, values)] = read(write_xlsx(tmp_path / "r.xlsx", rows))
    assert isinstance(values["id_number"], float)


def test_xls_dates_are_dates(tmp_path):
    rows = [member_row(0, home="B1", 外出日期=datetime.date(2020, 3, 1))]
    _table, [(_n, values)] = read(write_xls(tmp_path / "r.xls", rows))
    assert values["left_on"] == datetime.datetime(2020, 3, 1)


def test_extension_does_not_decide(tmp_path):
    """An xlsx named .csv is read as xlsx: the bytes say what a file is."""
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    renamed = tmp_path / "roster.csv"
    renamed.write_bytes(path.read_bytes())
    table, rows = read(renamed)
    assert table.format == "xlsx" and len(rows) == 3


def test_file_objects_and_bytes(tmp_path):
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    with path.open("rb") as handle:
        assert len(read(handle, filename="r.xlsx")[1]) == 3
    assert len(read(path.read_bytes(), filename="r.xlsx")[1]) == 3


# --- header and rows ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_title_rows_above_the_header_are_skipped(tmp_path, fmt):
    writer = {"xlsx": write_xlsx, "xls": write_xls, "csv": write_csv}[fmt]
    titles = [["万荣县流动党员登记表"], ["填报日期：2026年11月1日"], []]
    table, rows = read(writer(tmp_path / f"r.{fmt}", ROWS, title_rows=titles))
    assert table.header_row == 4
    assert [n for n, _v in rows] == [5, 6, 7]


def test_merged_title_and_empty_leading_rows_in_xlsx(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet["B3"] = "万荣县流动党员登记表"
    sheet.merge_cells("B3:H3")
    for col, header in enumerate(HEADERS, start=2):
        sheet.cell(row=5, column=col, value=header)
    for col, header in enumerate(HEADERS, start=2):
        sheet.cell(row=6, column=col, value=ROWS[0][header])
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    table, rows = read(path)
    assert table.header_row == 5
    assert rows[0][0] == 6
    assert rows[0][1]["name"] == ROWS[0]["姓名"]


def test_header_synonyms_spaces_and_full_width(tmp_path):
    renamed = {
        "公民身份号码": "身份证号",
        "联系电话": "手 机",
        "学历": "文化程度",
        "组织关系所在党组织": "所在党支部",
        "外出日期": "外出时间",
        "流入地": "流向地",
        "姓名": "＊姓　名",  # full-width star and space
        "党员类型": " 人员类别 ",
    }
    rows = [{renamed.get(k, k): v for k, v in row.items()} for row in ROWS]
    table, values = read(write_xlsx(tmp_path / "r.xlsx", rows))
    assert values[0][1]["id_number"] == ROWS[0]["公民身份号码"]
    assert values[0][1]["phone"] == ROWS[0]["联系电话"]
    assert table.header_of("phone", MEMBER_SCHEMA) == "手 机"
    assert table.warnings == []


# Every synonym of ROSTER-FORMAT.md's member table, by the column it names.
CONTRACT_SYNONYMS = [
    ("seq", "编号"),
    ("id_number", "身份证号"),
    ("id_number", "身份证号码"),
    ("id_number", "身份证"),
    ("education", "文化程度"),
    ("phone", "手机号码"),
    ("phone", "手机"),
    ("phone", "电话"),
    ("member_type", "人员类别"),
    ("joined_on", "入党时间"),
    ("converted_on", "转正时间"),
    ("home_org", "所在党支部"),
    ("home_org", "党组织名称"),
    ("left_on", "外出时间"),
    ("destination", "外出地点"),
    ("destination", "流向地"),
    ("destination_address", "现居住地址"),
    ("employer", "务工单位"),
    ("inflow_org", "参加组织生活的党组织"),
    ("certificate_no", "流动党员活动证号"),
]


@pytest.mark.parametrize(("key", "synonym"), CONTRACT_SYNONYMS)
def test_every_contract_synonym_names_its_column(tmp_path, key, synonym):
    header = MEMBER_SCHEMA.column(key).header
    rows = ROWS[:1]
    renamed = [{(synonym if k == header else k): v for k, v in row.items()} for row in rows]
    table, values = read(write_csv(tmp_path / "r.csv", renamed))
    assert table.header_of(key, MEMBER_SCHEMA) == synonym
    assert values[0][1][key] == str(rows[0][header])  # as read from CSV: text


def test_unknown_columns_are_a_warning(tmp_path):
    rows = [{**row, "籍贯": "万荣", "QQ号": "1"} for row in ROWS]
    table, values = read(write_xlsx(tmp_path / "r.xlsx", rows))
    assert len(values) == 3
    assert table.warnings == ["以下列不在模板中，已忽略：“籍贯”、“QQ号”"]


def test_two_columns_for_one_field_is_a_warning(tmp_path):
    rows = [{**row, "手机": "13900000000"} for row in ROWS]
    table, values = read(write_xlsx(tmp_path / "r.xlsx", rows))
    assert values[0][1]["phone"] == ROWS[0]["联系电话"]
    assert "只读取“联系电话”列" in table.warnings[0]


def test_missing_required_column_is_one_sentence(tmp_path):
    rows = [{k: v for k, v in row.items() if k not in ("联系电话", "流入地")} for row in ROWS]
    message = refused(write_xlsx(tmp_path / "r.xlsx", rows))
    assert message == (
        "表头（第 1 行）缺少必填列：“联系电话”、“流入地”，请按模板补上这些列后重新上传"
    )


def test_no_header_row(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "公民身份号码"} for row in ROWS]
    message = refused(write_xlsx(tmp_path / "r.xlsx", rows))
    assert message.startswith("找不到表头：前 30 行中没有同时含有“姓名”和“公民身份号码”")


def test_blank_rows_and_rows_with_only_a_number_are_skipped(tmp_path):
    blank = dict.fromkeys(HEADERS)
    only_seq = {**blank, "序号": 7}
    spaces = {**blank, "姓名": "  ", "备注": "\u200b"}
    rows = [ROWS[0], blank, only_seq, spaces, ROWS[1]]
    _table, values = read(write_xlsx(tmp_path / "r.xlsx", rows))
    assert [n for n, _v in values] == [2, 6]


def test_org_files_have_their_own_header(tmp_path):
    rows = [{"组织编码": "C1", "组织名称": "中共测试县委", "组织类别": "党委"}]
    path = write_xlsx(tmp_path / "o.xlsx", rows, title_rows=[["组织架构"]])
    table, values = read(path, schema=ORG_SCHEMA)
    assert table.header_row == 2
    assert values == [(3, {"code": "C1", "name": "中共测试县委", "kind": "党委"})]


# --- sheets ------------------------------------------------------------------------------------


def instructions_first(path, *, first: str, rows: list[dict]):
    """A book whose first sheet is instructions and whose second, 登记表, holds the roster."""
    workbook = Workbook()
    workbook.active.title = first
    workbook.active["A1"] = "请在“登记表”工作表中填写"
    sheet = workbook.create_sheet("登记表")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append([row[h] for h in HEADERS])
    workbook.save(path)
    return path


def test_only_the_first_sheet_unless_another_is_picked(tmp_path):
    path = instructions_first(tmp_path / "r.xlsx", first="说明", rows=ROWS[:1])
    assert refused(path).startswith("找不到表头")
    assert read(path, sheet="登记表")[1][0][0] == 2
    assert read(path, sheet="2")[1][0][0] == 2
    assert refused(path, sheet="花名册") == "文件中没有名为“花名册”的工作表（现有：说明、登记表）"


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_a_book_read_at_its_first_sheet_names_the_sheets_left_unread(tmp_path, fmt):
    """A committee's ledger has one sheet per branch: uploaded back whole, only the first is
    read, as the contract says, and the preview says which were not."""
    writer = {"xlsx": write_xlsx, "xls": write_xls}[fmt]
    branches = [f"第{i}村党支部" for i in range(2, 9)]
    path = writer(tmp_path / f"book.{fmt}", ROWS, extra_sheets=branches)
    table, rows = read(path)
    assert len(rows) == 3
    assert table.warnings == [
        "只读取了第一个工作表“登记表”；其余工作表（“第2村党支部”、“第3村党支部”、“第4村党支部”、"
        "“第5村党支部”、“第6村党支部”等 7 个）未读取，要导入它们，请指定工作表名称或序号后分别导入"
    ]
    assert read(path, sheet="1")[0].warnings == []
    assert read(path, sheet="登记表")[0].warnings == []


def test_the_portals_own_template_and_hidden_sheets_are_not_named(tmp_path):
    """The template carries a hidden 选项 sheet and its 填写说明, a bad-rows copy its 错误清单:
    none is a roster left unread."""
    from openpyxl import load_workbook

    from rosters.template import write_template

    path = tmp_path / "template.xlsx"
    with path.open("wb") as out:
        write_template(out)
    book = load_workbook(path)
    book.create_sheet("错误清单")
    book.create_sheet("字典").sheet_state = "hidden"
    sheet = book.worksheets[0]
    for column, cell in enumerate(sheet[2], start=1):  # under the template's header row
        sheet.cell(row=3, column=column).value = ROWS[0].get(cell.value)
    book.save(path)
    table, rows = read(path)
    assert len(rows) == 1
    assert table.warnings == []


def hidden_dictionary_first(path, fmt: str, rows: list[dict]):
    """A book opening on a hidden 字典 sheet (the lists behind a county template's dropdowns),
    the roster on the second sheet, the first tab a user sees."""
    if fmt == "xlsx":
        workbook = Workbook()
        workbook.active.title = "字典"
        workbook.active.append(["党员类型", "正式党员"])
        workbook.active.sheet_state = "hidden"
        sheet = workbook.create_sheet("登记表")
        workbook.active = 1
        sheet.append(HEADERS)
        for row in rows:
            sheet.append([row[h] for h in HEADERS])
        workbook.save(path)
    else:
        import xlwt

        workbook = xlwt.Workbook(encoding="utf-8")
        dictionary = workbook.add_sheet("字典")
        dictionary.write(0, 0, "党员类型")
        dictionary.visibility = 1  # hidden
        sheet = workbook.add_sheet("登记表")
        for c, header in enumerate(HEADERS):
            sheet.write(0, c, header)
        for r, row in enumerate(rows, start=1):
            for c, header in enumerate(HEADERS):
                value = row[header]
                if isinstance(value, datetime.date):
                    value = value.isoformat()
                if value is not None:
                    sheet.write(r, c, value)
        workbook.set_active_sheet(1)
        workbook.save(str(path))
    return path


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_a_book_opening_on_a_hidden_sheet_is_read_from_the_first_visible_one(tmp_path, fmt):
    path = hidden_dictionary_first(tmp_path / f"r.{fmt}", fmt, ROWS)
    table, rows = read(path)
    assert [n for n, _v in rows] == [2, 3, 4]
    assert rows[0][1]["name"] == ROWS[0]["姓名"]
    assert table.sheet_name == "登记表" and table.warnings == []
    # Picked by number, the tabs a user sees are counted; a hidden sheet is picked by name.
    assert read(path, sheet="1")[1] == rows
    assert refused(path, sheet="2").startswith("文件中没有名为“2”的工作表")
    assert refused(path, sheet="字典").startswith("找不到表头：工作表“字典”")


# --- merged cells ------------------------------------------------------------------------------


def _merged_roster(tmp_path, fmt):
    """Four members sharing 工作单位, merged down rows 3–6, under a section title merged across
    row 2 (一、外出务工), as county rosters are laid out."""
    rows = [member_row(i, home="B000001") for i in range(4)]
    employer = HEADERS.index("工作单位")
    table = [list(HEADERS), ["一、外出务工"] + [None] * (len(HEADERS) - 1)]
    for i, row in enumerate(rows):
        table.append([row[h] if (h != "工作单位" or i == 0) else None for h in HEADERS])
    table[2][employer] = "西安市某建筑公司"
    path = tmp_path / f"merged.{fmt}"
    if fmt == "xlsx":
        workbook = Workbook()
        sheet = workbook.active
        for line in table:
            sheet.append(line)
        sheet.merge_cells(
            start_row=3, start_column=employer + 1, end_row=6, end_column=employer + 1
        )
        sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(HEADERS))
        workbook.save(path)
    else:
        import xlwt

        workbook = xlwt.Workbook(encoding="utf-8")
        sheet = workbook.add_sheet("登记表")
        for r, line in enumerate(table):
            for c, value in enumerate(line):
                if value is not None and not (r == 1 and c == 0) and not (c == employer and r == 2):
                    sheet.write(r, c, str(value) if not isinstance(value, str) else value)
        sheet.write_merge(1, 1, 0, len(HEADERS) - 1, "一、外出务工")
        sheet.write_merge(2, 5, employer, employer, "西安市某建筑公司")
        workbook.save(str(path))
    return path, rows


def test_merges_outside_the_read_columns_and_errors_merged_down(tmp_path):
    """A merge in an empty column left of the table is not read into another column; an error
    value merged down is refused in every row it covers."""
    path = tmp_path / "r.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([None, *HEADERS])
    for row in ROWS:
        sheet.append([None, *(row[h] for h in HEADERS)])
    sheet.merge_cells("A2:A4")  # nothing in column A
    remarks = HEADERS.index("备注") + 2
    sheet.cell(row=2, column=remarks).value = "第一行备注"
    workbook.save(path)
    table, rows = read(path)
    assert [v["remarks"] for _n, v in rows] == ["第一行备注", "", ""]
    assert table.warnings == []

    inflow = HEADERS.index("流入地党组织") + 2
    sheet.cell(row=2, column=inflow).value = "#N/A"
    for r in (3, 4):
        sheet.cell(row=r, column=inflow).value = None
    sheet.merge_cells(start_row=2, start_column=inflow, end_row=4, end_column=inflow)
    workbook.save(path)
    from rosters.schema import CellError, ErrorCells

    _table, rows = read(path)
    assert all(type(v) is ErrorCells and v["inflow_org"] == CellError("#N/A") for _n, v in rows)


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_a_value_merged_down_several_rows_is_read_in_each(tmp_path, fmt):
    """What the user sees in every row is what the import reads, and the preview says so."""
    path, rows = _merged_roster(tmp_path, fmt)
    table, values = read(path)
    assert [n for n, _v in values] == [3, 4, 5, 6]  # the section title row is skipped
    assert [v["employer"] for _n, v in values] == ["西安市某建筑公司"] * 4
    assert [v["id_number"] for _n, v in values] == [r["公民身份号码"] for r in rows]
    assert table.warnings == [
        "合并单元格已按每行填写读取：“工作单位”第 3–6 行，合并的值用于其中每一行，请在预览中核对"
    ]


# --- refused files -----------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "r.xlsx"
    path.write_bytes(b"")
    assert refused(path) == "文件是空的，没有任何内容"


def test_empty_sheet_and_header_only(tmp_path):
    path = tmp_path / "r.xlsx"
    Workbook().save(path)
    assert refused(path) == "文件中没有任何内容"
    assert refused(write_xlsx(tmp_path / "h.xlsx", [], headers=HEADERS)) == (
        "表头（第 1 行）下面没有数据，文件中没有可导入的内容"
    )


@pytest.mark.parametrize("name", ["r.xls", "r.xlsx", "r.et"])
def test_text_saved_under_a_spreadsheet_name_is_read_as_csv(tmp_path, name):
    """Systems export tab-separated text named .xls; it is read as what it is."""
    path = tmp_path / name
    path.write_text(csv_text(ROWS).replace(",", "\t"), encoding="gbk")
    table, rows = read(path, filename=name)
    assert table.format == "csv"
    assert [v["name"] for _n, v in rows] == [r["姓名"] for r in ROWS]
    ext = name[1:]
    assert table.warnings == [f"文件名是 {ext}，内容却是文本（逗号或制表符分隔），已按 CSV 读取"]


def test_a_book_without_the_header_on_its_first_sheet_names_its_sheets(tmp_path):
    path = instructions_first(tmp_path / "r.xlsx", first="填表说明", rows=[])
    assert refused(path) == (
        "找不到表头：工作表“填表说明”前 30 行中没有同时含有“姓名”和“公民身份号码”或“身份证号”或"
        "“身份证号码”或“身份证”的一行，请使用登记表模板；文件还有工作表“登记表”，登记表如在其中，"
        "请指定工作表后重新上传"
    )


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"%PDF-1.7\n...", "r.xlsx", "这是一个PDF文件，不是表格：请上传 .xlsx、.xls 或 .csv 文件"),
        (b"\x89PNG\r\n\x1a\n....", "r.csv", "这是一个图片文件，不是表格：请上传 .xlsx、.xls 或 .csv 文件"),  # noqa: E501
        (b"<html><table>", "r.xls", "文件内容是网页或 XML，不是 Excel 表格：请在 Excel 或 WPS 中另存为 .xlsx 后上传"),  # noqa: E501
        ("\ufeff<html><table>".encode(), "r.xls", "文件内容是网页或 XML，不是 Excel 表格：请在 Excel 或 WPS 中另存为 .xlsx 后上传"),  # noqa: E501
        ("<html><table>".encode("utf-16"), "r.xls", "文件内容是网页或 XML，不是 Excel 表格：请在 Excel 或 WPS 中另存为 .xlsx 后上传"),  # noqa: E501
        (b"MIME-Version: 1.0\r\nContent-Type: multipart/related", "r.xls", "文件内容是网页或 XML，不是 Excel 表格：请在 Excel 或 WPS 中另存为 .xlsx 后上传"),  # noqa: E501
        ("姓名,公民身份号码".encode(), "r.pdf", "无法识别文件“r.pdf”：它不是 Excel 表格（.xlsx、.xls）或 CSV 文件"),  # noqa: E501
        (b"\x00\x01\x02binary", "r.dat", "无法识别文件“r.dat”：它不是 Excel 表格（.xlsx、.xls）或 CSV 文件"),  # noqa: E501
    ],
)  # fmt: skip
def test_not_a_spreadsheet(tmp_path, content, name, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert refused(path, filename=name) == expected


@pytest.mark.parametrize(("fmt", "name"), [("xlsx", "r.xls"), ("xls", "r.xlsx"), ("xlsx", "r")])
def test_a_file_goes_by_its_content_not_its_name(tmp_path, fmt, name):
    """On the command line too, where the file is read from its path."""
    writer = {"xlsx": write_xlsx, "xls": write_xls}[fmt]
    path = writer(tmp_path / name, ROWS)
    table, rows = read(path)
    assert table.format == fmt
    assert [v["id_number"] for _n, v in rows] == [r["公民身份号码"] for r in ROWS]


def test_a_word_document_is_not_a_spreadsheet(tmp_path):
    path = tmp_path / "r.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    assert refused(path).startswith("文件不是 Excel 表格")


def test_encrypted_xlsx(tmp_path):
    path = tmp_path / "r.xlsx"
    path.write_bytes(encrypted_xlsx())
    assert refused(path) == "文件设置了密码，无法读取：请去掉密码后重新上传"


def encrypted_xls(tmp_path) -> bytes:
    """An Excel 97-2003 workbook as Excel leaves it when a password is set: a FILEPASS record
    (here XOR obfuscation, key and verifier filler) right after the workbook's BOF record.

    Built from an xlwt file: the 16 bytes after the BOF (INTERFACEHDR, MMS, INTERFACEEND) become
    FILEPASS and INTERFACEHDR, so the OLE2 container needs no change. The records after it are
    not actually encrypted; readers stop at FILEPASS."""
    data = bytearray(write_xls(tmp_path / "plain.xls", ROWS).read_bytes())
    bof = data.find(b"\x09\x08\x10\x00\x00\x06\x05\x00")  # BOF, BIFF8 workbook globals
    after = bof + 4 + 16
    assert data[after : after + 16] == bytes.fromhex("e1000200b004c10002000000e2000000")
    filepass = struct.pack("<HHHHH", 0x002F, 6, 0x0000, 0xA5C3, 0x1B7E)
    data[after : after + 16] = filepass + bytes.fromhex("e1000200b004")
    return bytes(data)


@pytest.mark.parametrize("name", ["r.xls", "r.xlsx", "r.csv"])
def test_encrypted_xls(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(encrypted_xls(tmp_path))
    assert refused(path, filename=name) == "文件设置了密码，无法读取：请去掉密码后重新上传"


def test_encrypted_xlsx_named_xls(tmp_path):
    path = tmp_path / "r.xls"
    path.write_bytes(encrypted_xlsx())
    assert refused(path) == "文件设置了密码，无法读取：请去掉密码后重新上传"


def test_a_broken_csv_row_is_named_in_chinese_by_its_row_number(tmp_path):
    rows = [member_row(n, home="B1") for n in range(3)]
    rows[0]["备注"] = "第一行\n第二行\n第三行"  # one cell over three lines: row 2 still
    rows[1]["备注"] = "长" * 140_000  # beyond the csv module's field limit
    path = write_csv(tmp_path / "r.csv", rows)
    message = refused(path)
    assert message == "CSV 文件第 3 行格式有误：有单元格超过 131072 个字符"


def test_damaged_xlsx(tmp_path):
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    damaged = tmp_path / "d.xlsx"
    damaged.write_bytes(path.read_bytes()[:2000])
    assert refused(damaged) == "文件已损坏，不是有效的 .xlsx 表格"


def test_upload_size_limit(tmp_path, settings):
    settings.ROSTER_MAX_UPLOAD_MB = 1
    path = tmp_path / "r.csv"
    path.write_bytes(csv_text(ROWS * 5000).encode())
    message = refused(path)
    assert message.startswith("文件大小 ") and "超过了 1 MB 的上限" in message
    assert len(read(path, upload_limit=False)[1]) == 15000


def test_zip_bomb_is_refused_without_unpacking(tmp_path):
    path = zip_bomb(tmp_path / "bomb.xlsx", megabytes=300)
    assert path.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        message = refused(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message.startswith("文件解压后体积异常（可能是压缩炸弹）")
    assert peak < 20 * 1024 * 1024


def test_zip_lying_about_its_sizes_is_refused(tmp_path, settings):
    settings.ROSTER_MAX_COMPRESSION_RATIO = 10**9  # only the unpacking itself can tell
    path = write_xlsx(tmp_path / "r.xlsx", ROWS * 50)
    message = refused(lying_zip(path, tmp_path / "lie.xlsx"))
    assert message in ("文件已损坏，不是有效的 .xlsx 表格",) or "压缩炸弹" in message


def test_dimension_claiming_a_million_rows_is_not_believed(tmp_path):
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    claim = lambda xml: xml.replace("<worksheet", "<worksheet", 1).replace(  # noqa: E731
        "<sheetData>", '<dimension ref="A1:XFD1048576"/><sheetData>', 1
    )
    big = rewrite_zip(path, tmp_path / "dim.xlsx", {"xl/worksheets/sheet1.xml": claim})
    _table, rows = read(big)
    assert len(rows) == 3


def test_a_stray_value_in_the_last_row_is_refused_before_parsing(tmp_path):
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    stray = lambda xml: xml.replace(  # noqa: E731
        "</sheetData>",
        '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t> </t></is></c></row></sheetData>',
    )
    far = rewrite_zip(path, tmp_path / "far.xlsx", {"xl/worksheets/sheet1.xml": stray})
    message = refused(far)
    assert "第 1048576 行" in message and "范围过大" in message


def test_formatting_far_below_is_harmless(tmp_path):
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    styled = lambda xml: xml.replace(  # noqa: E731
        "</sheetData>", '<row r="1048576"><c r="XFD1048576" s="0"/></row></sheetData>'
    )
    far = rewrite_zip(path, tmp_path / "far.xlsx", {"xl/worksheets/sheet1.xml": styled})
    assert len(read(far)[1]) == 3


@pytest.mark.parametrize(
    ("cell", "refused_"),
    [
        ('<c r="XFD4" t="inlineStr"><is><t>x</t></is></c>', True),
        # An attribute whose name merely ends in r: not a cell reference.
        ('<c r="V4" abbr="XFD4" t="inlineStr"><is><t>x</t></is></c>', False),
    ],
)
def test_a_stray_value_far_to_the_right_is_refused_before_parsing(
    tmp_path, settings, cell, refused_
):
    settings.ROSTER_MAX_SHEET_CELLS = 4 * 1000  # four rows up to column ALL, not XFD
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    stray = lambda xml: xml.replace("</row></sheetData>", f"{cell}</row></sheetData>")  # noqa: E731
    far = rewrite_zip(path, tmp_path / "far.xlsx", {"xl/worksheets/sheet1.xml": stray})
    if refused_:
        assert "范围过大" in refused(far)
    else:
        assert len(read(far)[1]) == 3


def _with_stray(tmp_path, fragment: str, *, before: str = "</sheetData>"):
    """The three-row roster with ``fragment`` written into its sheet XML before ``before``."""
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    stray = lambda xml: xml.replace(before, fragment + before, 1)  # noqa: E731
    return rewrite_zip(path, tmp_path / "stray.xlsx", {"xl/worksheets/sheet1.xml": stray})


VALUE = "<is><t>x</t></is></c></row>"


@pytest.mark.parametrize(
    "fragment",
    [
        f"<row r='5000'><c r='A5000' t='inlineStr'>{VALUE}",
        f'<row r="5000"><c\tr="A5000" t="inlineStr">{VALUE}',
        f'<row r="5000"><c\nt="inlineStr"\r\nr = "A5000">{VALUE}',
        f'<row r="5000"><c r="a5000" t="inlineStr">{VALUE}',
        f'<row r="5000"><c r="A00000005000" t="inlineStr">{VALUE}',
        # A "/>" inside a quoted value does not end the tag.
        f'<row r="5000"><c r="A5000" x="/>" t="inlineStr">{VALUE}',
        # An r inside another attribute's value is not the cell's reference.
        f'<row r="5000"><c x=" r=\'A1\'" r=\'A5000\' t="inlineStr">{VALUE}',
        # A cell without a reference is in its row.
        f"<row\nr='5000'><c t=\"inlineStr\">{VALUE}",
    ],
)
def test_a_far_row_is_found_however_the_xml_is_written(tmp_path, settings, fragment):
    """Quotes, whitespace and attribute order as any XML parser (and python-calamine) reads
    them: the audit's single-quoted r='XFD1048576' made calamine ask for 549 GB and abort."""
    settings.ROSTER_MAX_SHEET_CELLS = 26 * 4000
    message = refused(_with_stray(tmp_path, fragment))
    assert "第 5000 行" in message and "范围过大" in message


@pytest.mark.parametrize(
    "cell",
    [
        "<c r='XFD4' t='inlineStr'><is><t>x</t></is></c>",
        '<c\tr="xfd4" t="inlineStr"><is><t>x</t></is></c>',
        '<c t="n"\nr =\n"XFD4"><v>1</v></c>',
    ],
)
def test_a_far_column_is_found_however_the_xml_is_written(tmp_path, settings, cell):
    settings.ROSTER_MAX_SHEET_CELLS = 4 * 1000
    assert "范围过大" in refused(_with_stray(tmp_path, cell, before="</row></sheetData>"))


@pytest.mark.parametrize(
    "fragment",
    [
        "<row r='1048576'><c r='XFD1048576' t='inlineStr'><is><t>x</t></is></c></row>",
        '<row r="1048576"><c\tr="A1048576" t="inlineStr"><is><t>x</t></is></c></row>',
    ],
)
def test_the_audits_million_row_sheets_are_refused_before_parsing(tmp_path, fragment):
    message = refused(_with_stray(tmp_path, fragment))
    assert "第 1048576 行" in message and "范围过大" in message


@pytest.mark.parametrize(
    ("fragment", "row"),
    [
        ('<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row>', 1048576),
        ("<row r='1048576'><c t='inlineStr'><is><t>x</t></is></c></row>", 1048576),  # the row's
        ('<row r="1048576"><c r="A12345678" t="inlineStr"><is><t>x</t></is></c></row>', 12345678),
        ('<row r="999999"><c r="Z999999" t="inlineStr"><is><t>x</t></is></c></row>', 999999),
        # Not far down, but wide: 30,000 rows by 16,384 columns made calamine abort.
        ('<row r="30000"><c r="XFD30000" t="inlineStr"><is><t>x</t></is></c></row>', 30000),
    ],
)
def test_a_far_row_written_before_the_others_is_found(tmp_path, fragment, row):
    """python-calamine places rows written out of order: a far row first, then the roster's
    own rows, would have it allocate the whole range all the same."""
    path = _with_stray(tmp_path, fragment, before="<row ")
    message = refused(path)
    assert "范围过大" in message and f"第 {row} 行" in message


def test_a_narrow_far_row_first_in_a_wide_sheet_is_found(tmp_path):
    """Column XFD in an ordinary row makes the sheet 16,384 wide; a cell of column A in row
    99,999 written before the others would then have calamine ask for 52 GB."""
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)

    def hostile(xml):
        far = '<row r="99999"><c r="A99999" t="inlineStr"><is><t>x</t></is></c></row>'
        wide = '<c r="XFD4" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
        return xml.replace("<row ", far + "<row ", 1).replace("</row></sheetData>", wide, 1)

    stray = rewrite_zip(path, tmp_path / "stray.xlsx", {"xl/worksheets/sheet1.xml": hostile})
    message = refused(stray)
    assert "范围过大" in message and "第 99999 行" in message


def test_seven_digit_values_elsewhere_are_no_far_row(tmp_path):
    # A shared formula's range, a number in an attribute of no cell: not a row of content.
    fragment = (
        '<row r="5"><c r="B5"><f t="shared" ref="B5:B1048576" si="0">1+1</f><v>2</v></c></row>'
    )
    path = _with_stray(tmp_path, fragment)
    assert len(read(path)[1]) == 4  # the roster's three rows and this one, nothing refused


@pytest.mark.parametrize(
    "cell",
    [
        '<c r="A1048576" s="0"></c>',
        '<c r="U1048576" s="0"><v></v></c>',
        '<c r="XFD1048576" t="s">\n  <v></v>\n</c>',
        '<c r="XFD1048576" s="0" t="inlineStr"><v></v></c>',
    ],
)
def test_cells_without_a_value_far_below_are_harmless(tmp_path, cell):
    """Writers built on Go's encoding/xml (excelize) never self-close an empty cell."""
    path = _with_stray(tmp_path, f'<row r="1048576">{cell}</row>')
    assert len(read(path)[1]) == 3


@pytest.mark.parametrize(
    "cell",
    [
        '<c r="A5000" t="str"><v></v></c>',  # an empty string: calamine counts it
        '<c r="A5000"><v> </v></c>',
        '<c r="A5000" t="inlineStr"><is><t></t></is></c>',
    ],
)
def test_cells_python_calamine_counts_are_not_taken_for_empty(tmp_path, settings, cell):
    settings.ROSTER_MAX_SHEET_CELLS = 26 * 4000
    assert "范围过大" in refused(_with_stray(tmp_path, f'<row r="5000">{cell}</row>'))


TOO_MUCH_TEXT = (
    "文件中的文字内容异常庞大（共享字符串表过大），不像是一份登记表，已拒绝读取；"
    "如确为登记表，请拆分成几个文件分别导入"
)


def test_a_shared_strings_bomb_is_refused_before_calamine_loads_it(tmp_path):
    """As the audit's file: hundreds of MB of short strings at about 90:1, under the zip limits,
    which python-calamine loads whole before any sheet (2 GB of memory for 608 MB)."""
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    bomb = with_shared_strings(path, tmp_path / "sst.xlsx", entries=4_500_000)
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        message = refused(bomb)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == TOO_MUCH_TEXT
    assert peak < 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("setting", "value", "prefix", "entries"),
    [
        # Larger than the limit once unpacked (the size the zip declares): 1.8 MB.
        ("ROSTER_MAX_SHARED_STRINGS_MB", 1, "", 70_000),
        # Fewer bytes than the limit, but more entries.
        ("ROSTER_MAX_SHARED_STRINGS", 1000, "", 1001),
        ("ROSTER_MAX_SHARED_STRINGS", 1000, "x:", 1001),
    ],
)
def test_shared_strings_beyond_a_rosters_are_refused(
    tmp_path, settings, setting, value, prefix, entries
):
    setattr(settings, setting, value)
    path = write_xlsx(tmp_path / "r.xlsx", ROWS)
    bomb = with_shared_strings(path, tmp_path / "sst.xlsx", entries=entries, prefix=prefix)
    assert refused(bomb) == TOO_MUCH_TEXT
    if setting == "ROSTER_MAX_SHARED_STRINGS":
        fits = with_shared_strings(path, tmp_path / "fits.xlsx", entries=1000, prefix=prefix)
        assert len(read(fits)[1]) == 3


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_nul_characters_at_the_top_of_a_csv_are_dropped(tmp_path, encoding):
    """A legacy export padding cells with NULs is text: the NULs are dropped there as anywhere
    in the file, even within the first bytes, where binary files are told apart."""
    rows = [{**ROWS[0], "姓名": "王\x00五", "备注": "\x00\x00\x00"}, *ROWS[1:]]
    headers = ["序\x00号", *HEADERS[1:]]
    text = csv_text(rows).replace("序号", headers[0], 1)
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode(encoding))
    assert b"\x00" in path.read_bytes()[:100]
    table, values = read(path)
    assert table.format == "csv" and table.headers[0] == "序号"
    assert [v["name"] for _n, v in values] == ["王五", ROWS[1]["姓名"], ROWS[2]["姓名"]]
    assert values[0][1]["remarks"] == ""


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02\x03binary\x00\xff\xfe\x00",
        csv_text(ROWS).encode("utf-16-le"),  # UTF-16 without its byte order mark
        b"\x00" * 2000 + "姓名,公民身份号码".encode(),
        "姓名,公民身份号码\x00\x07\x00".encode(),
    ],
)
def test_binary_content_named_csv_is_still_refused(tmp_path, content):
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    assert refused(path) == "无法识别文件“r.csv”：它不是 Excel 表格（.xlsx、.xls）或 CSV 文件"


def test_a_roster_read_as_an_organization_file_says_which_kind_it_is(tmp_path):
    path = write_csv(tmp_path / "r.csv", ROWS)
    message = refused(path, schema=ORG_SCHEMA)
    assert message.startswith("这份文件是党员登记表，不是组织架构表")
    orgs = [{"组织编码": "N1", "组织名称": "新镇党委", "上级组织编码": "", "组织类别": "党委"}]
    message = refused(write_csv(tmp_path / "o.csv", orgs))
    assert message.startswith("这份文件是组织架构表，不是党员登记表")


def test_an_organization_file_without_its_header_is_not_sent_to_the_roster_template(tmp_path):
    """Organization files have no template: the message names their two headers only, and a
    book's other sheets as where the organization table may be."""
    book = Workbook()
    book.active.title = "说明"
    book.active.append(["本表填写各党组织"])
    book.create_sheet("组织")
    path = tmp_path / "orgs.xlsx"
    book.save(path)
    assert refused(path, schema=ORG_SCHEMA) == (
        "找不到表头：工作表“说明”前 30 行中没有同时含有“组织编码”和“组织名称”的一行；"
        "文件还有工作表“组织”，组织架构表如在其中，请指定工作表后重新上传"
    )


def test_a_book_whose_first_sheet_is_of_the_other_kind_names_its_other_sheets(tmp_path):
    book = Workbook()
    book.active.title = "组织架构"
    book.active.append(["组织编码", "组织名称", "上级组织编码", "组织类别"])
    roster = book.create_sheet("党员名册")
    roster.append(HEADERS)
    path = tmp_path / "book.xlsx"
    book.save(path)
    message = refused(path)
    assert "“党员名册”" in message and "请指定工作表" in message


def test_the_bad_rows_downloads_error_column_is_ignored_without_a_word(tmp_path):
    rows = [{**row, "错误": "联系电话 123 格式不正确"} for row in ROWS]
    table, read_rows = read(write_csv(tmp_path / "fixed.csv", rows))
    assert len(read_rows) == 3 and not any("错误" in w for w in table.warnings)
    table, _rows = read(write_csv(tmp_path / "other.csv", [{**r, "说明": "x"} for r in ROWS]))
    assert any("说明" in w for w in table.warnings)  # other unknown columns are still told


def test_a_missing_sheet_lists_ten_names_at_most(tmp_path):
    book = Workbook()
    for n in range(30):
        book.create_sheet(f"支部{n}")
    path = tmp_path / "book.xlsx"
    book.save(path)
    message = refused(path, sheet="没有这个")
    assert "支部8" in message and "支部20" not in message and "等 31 个" in message


def test_a_six_digit_row_first_in_a_long_sheet_is_found(tmp_path):
    """In a sheet past 100,000 rows, a row 999,999 of column Z written out of order would have
    calamine allocate 26 million cells."""
    body = "".join(f'<row r="{n}"><c r="A{n}"><v>1</v></c></row>' for n in range(5, 150_000))
    far = '<row r="999999"><c r="Z999999"><v>1</v></c></row>'
    rest = "".join(f'<row r="{n}"><c r="A{n}"><v>1</v></c></row>' for n in range(150_000, 150_010))
    message = refused(_with_stray(tmp_path, body + far + rest))
    assert "范围过大" in message and "第 999999 行" in message


def test_a_decoy_attribute_does_not_hide_a_far_wide_cell(tmp_path, settings):
    settings.ROSTER_MAX_SHEET_CELLS = 1_000_000
    wide = '<row r="5"><c r="GJH5"><v>1</v></c></row>'  # 5,000 columns wide, 25,000 cells
    decoy = '<row r="6"><c r="B6" xr="AB9999"><v>1</v></c></row>'
    far = '<row r="9998"><c r="AB9998"><v>1</v></c></row>'
    tail = '<row r="7"><c r="A7"><v>1</v></c></row>'
    message = refused(_with_stray(tmp_path, wide + decoy + far + tail))
    assert "范围过大" in message and "第 9998 行" in message


def test_thousands_of_digits_in_an_attribute_are_no_crash(tmp_path):
    path = _with_stray(tmp_path, f'<pageMargins footer="{"3" * 5000}"/>', before="</worksheet>")
    assert len(read(path)[1]) == 3
