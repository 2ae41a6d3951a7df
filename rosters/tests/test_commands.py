"""import_roster, import_orgs and export_ledger (rosters/management/commands/)."""

import csv
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from branches.models import Organization
from branches.tests.factories import make_branch, make_committee
from members.models import Member, Mobility
from portal.choices import AccessEventKind, Role
from portal.commandline import os_user
from portal.embedded import database_url
from portal.models import AccessEvent
from portal.tests.factories import make_user
from rosters.models import RosterImport

from .files import rewrite_zip
from .rosterdata import HEADERS, member_rows, write_csv, write_xlsx

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


def call(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def import_with_reports(path: Path) -> tuple[int, str, Path, Path]:
    """import_roster with an error report and a bad-rows copy beside the file: (exit status,
    output, report, copy)."""
    errors, bad = path.with_name("errors.csv"), path.with_name("bad.xlsx")
    code, out, _err = call(
        "import_roster", str(path), "--errors", str(errors), "--bad-rows", str(bad)
    )
    return code, out, errors, bad


def test_a_good_roster_exits_0(tmp_path, tree, homes):
    make_user(Role.COUNTY_ADMIN, tree["root"], username="county")
    path = write_xlsx(tmp_path / "r.xlsx", member_rows(5, homes=homes))
    code, out, err = call("import_roster", str(path), "--user", "county")
    assert (code, err) == (0, "")
    assert out.strip() == "已导入：读取 5 行：新增 5，更新 0，未变 0，错误 0"
    assert Member.objects.count() == 5
    assert RosterImport.objects.get().user.username == "county"
    # Who ran the command stays on the record beside the account it is recorded as.
    assert RosterImport.objects.get().operator == f"county（命令行，系统用户 {os_user()}）"


def test_user_must_keep_ledgers_and_is_held_to_their_scope(tmp_path, tree, homes):
    """--user records an import or export as that account's: it does only what they could."""
    make_user(Role.BRANCH_SECRETARY, tree["village"], username="secretary")
    elsewhere = make_committee(parent=tree["root"], name="另镇党委")
    make_branch(parent=elsewhere, name="另村党支部")
    make_user(Role.COMMITTEE_STAFF, elsewhere, username="other_staff")
    path = write_xlsx(tmp_path / "r.xlsx", member_rows(2, homes=homes))
    code, _out, err = call("import_roster", str(path), "--user", "secretary")
    assert (code, err.strip()) == (
        2,
        "用户“secretary”没有导入登记表、导出台账的权限，不能记为其操作",
    )
    code, out, _err = call("import_roster", str(path), "--user", "other_staff")
    assert code == 1 and "不在您的管辖范围内" in out and not Member.objects.exists()
    assert call("import_roster", str(path))[0] == 0  # the operator alone: no limit
    out_file = tmp_path / "x.csv"
    code, _out, err = call("export_ledger", "--org", tree["village"].code, "--user", "other_staff",
                           "-o", str(out_file))  # fmt: skip
    assert (code, err.strip()) == (1, "用户“other_staff”没有导出“东村党支部”台账的权限")
    code, _out, err = call("export_ledger", "--user", "secretary", "-o", str(out_file))
    assert code == 1 and "没有导入登记表、导出台账的权限" in err
    # Without --org, the ledgers the account keeps: here, none of the two members.
    assert call("export_ledger", "--user", "other_staff", "-o", str(out_file))[0] == 0
    event = AccessEvent.objects.get(kind=AccessEventKind.EXPORT)
    assert event.detail["rows"] == 0 and event.user.username == "other_staff"


def test_an_import_without_user_is_recorded_as_the_system_user(tmp_path, homes):
    path = write_xlsx(tmp_path / "r.xlsx", member_rows(2, homes=homes))
    assert call("import_roster", str(path))[0] == 0
    record = RosterImport.objects.get()
    assert record.user is None and record.ip_address is None
    assert record.operator.startswith("命令行（系统用户 ")
    contexts = (
        apps.get_model("members", "MemberEvent")
        .objects.filter(pgh_context__roster_import=record.pk)
        .values_list("pgh_context", flat=True)
    )
    assert [c["username"] for c in contexts] == [record.operator] * 2


def test_bad_rows_exit_1_and_write_nothing(tmp_path, homes):
    rows = member_rows(5, homes=homes)
    rows[2]["公民身份号码"] = 110105194912310000.0
    path = write_xlsx(tmp_path / "r.xlsx", rows)
    code, out, errors, bad = import_with_reports(path)
    assert code == 1
    assert Member.objects.count() == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        "读取 5 行：新增 4，更新 0，未变 0，错误 1。因有错误行，本次未导入任何数据"
    )
    assert lines[1] == (
        "  第 4 行【公民身份号码】“1.1010519491231e+17”：身份证号被 Excel 转成了数字，"
        "后几位已丢失，请将该列设置为文本格式后重新填写"
    )
    report = list(csv.reader(io.StringIO(errors.read_text(encoding="utf-8-sig"))))
    assert report[0][0].startswith("导出人 命令行（系统用户 ")  # the watermark, above the header
    assert report[1] == ["行号", "列", "值", "错误"] and report[2][0] == "4"
    assert {errors.stat().st_mode & 0o777, bad.stat().st_mode & 0o777} == {0o600}
    assert load_workbook(bad).active.cell(row=2, column=22).value == "错误"


def test_reports_written_by_an_import_are_watermarked_and_recorded_as_exports(tmp_path, homes):
    """--errors and --bad-rows write the file's ID numbers out again, like the browser's
    downloads of an import's reports: who and when above the header, an export event each."""
    rows = member_rows(3, homes=homes)
    rows[1]["入党日期"] = "1900-01-01"
    path = write_csv(tmp_path / "r.csv", rows)
    errors, bad = tmp_path / "errors.xlsx", tmp_path / "bad.csv"
    code, _out, _err = call(
        "import_roster", str(path), "--errors", str(errors), "--bad-rows", str(bad)
    )
    assert code == 1
    record = RosterImport.objects.get()
    mark = f"导出人 {record.operator} 导出时间 "
    assert load_workbook(errors).active.cell(row=1, column=1).value.startswith(mark)
    copy = list(csv.reader(io.StringIO(bad.read_text(encoding="utf-8-sig"))))
    assert copy[0][0].startswith(mark) and copy[1][-1] == "错误"
    events = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).order_by("pk")
    assert [(e.username, e.object_id, e.detail) for e in events] == [
        (
            record.operator,
            str(record.pk),
            {"scope": f"import:{record.pk}:{what}", "rows": 1, "format": fmt, "source": "command"},
        )
        for what, fmt in (("errors", "xlsx"), ("bad-rows", "csv"))
    ]


def _with_error_cells(tmp_path, fmt, rows):
    """Row 3's 流入地党组织 is a VLOOKUP gone wrong (#N/A), row 4's 工作单位 a #REF!."""
    inflow, employer = HEADERS.index("流入地党组织"), HEADERS.index("工作单位")
    path = tmp_path / f"r.{fmt}"
    if fmt == "xlsx":
        path = write_xlsx(path, rows)
        book = load_workbook(path)
        sheet = book.active
        sheet.cell(row=3, column=inflow + 1).value = "#N/A"  # openpyxl writes it as an error
        sheet.cell(row=4, column=employer + 1).value = "#REF!"
        assert sheet.cell(row=3, column=inflow + 1).data_type == "e"
        book.save(path)
        # As Excel writes a failed formula: the formula, then its cached error value.
        formula = '<c r="{ref}" t="e"><f>VLOOKUP(B3,字典!A:B,2,0)</f><v>#N/A</v></c>'
        ref = f"{get_column_letter(inflow + 1)}3"
        path = rewrite_zip(
            path,
            tmp_path / "formula.xlsx",
            {
                "xl/worksheets/sheet1.xml": lambda xml: re.sub(
                    rf'<c r="{ref}"[^>]*><v>#N/A</v></c>', formula.format(ref=ref), xml
                )
            },
        )
        assert b"VLOOKUP" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    else:
        import xlwt

        book = xlwt.Workbook(encoding="utf-8")
        sheet = book.add_sheet("登记表")
        for c, header in enumerate(HEADERS):
            sheet.write(0, c, header)
        for r, row in enumerate(rows, start=1):
            for c, header in enumerate(HEADERS):
                if row[header] is not None and (r, c) not in ((2, inflow), (3, employer)):
                    sheet.write(r, c, str(row[header]))
        sheet.row(2).set_cell_error(inflow, 0x2A)  # #N/A
        sheet.row(3).set_cell_error(employer, 0x17)  # #REF!
        book.save(str(path))
    return path


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
def test_error_cells_are_refused_not_stored(tmp_path, homes, fmt):
    """python-calamine reads an error cell as empty and xlrd as a code: neither "#N/A" nor
    nothing may be stored for what the user sees as an error."""
    rows = member_rows(4, homes=homes)
    path = _with_error_cells(tmp_path, fmt, rows)
    code, out, errors, bad = import_with_reports(path)
    assert code == 1
    assert Member.objects.count() == 0
    lines = out.splitlines()
    assert lines[0].startswith("读取 4 行：新增 2，更新 0，未变 0，错误 2")
    assert lines[1:3] == [
        "  第 3 行【流入地党组织】“#N/A”：单元格是公式错误“#N/A”，不是实际的值：请改为要导入的内容",
        "  第 4 行【工作单位】“#REF!”：单元格是公式错误“#REF!”，不是实际的值：请改为要导入的内容",
    ]
    report = list(csv.reader(io.StringIO(errors.read_text(encoding="utf-8-sig"))))
    # (the value column starts with a tab, as in every error report, so Excel shows it whole;
    # the watermark and the header come first)
    assert [(r[0], r[1], r[2].strip()) for r in report[2:]] == [
        ("3", "流入地党组织", "#N/A"),
        ("4", "工作单位", "#REF!"),
    ]
    # The bad-rows copy keeps the error where it was, for the user to correct.
    copy = load_workbook(bad).active
    assert copy.cell(row=3, column=HEADERS.index("流入地党组织") + 1).value == "#N/A"
    # With --skip-invalid the two good rows go in, and the others stay out.
    assert call("import_roster", str(path), "--skip-invalid")[0] == 1
    assert Member.objects.count() == 2


def test_nul_characters_from_legacy_exports_are_dropped(tmp_path, homes):
    """Invisible, and refused by PostgreSQL: a NUL must not pass the preview and then fail the
    import's COPY."""
    rows = member_rows(40, homes=homes)
    rows[38]["工作单位"] = "宏达\x00建筑"
    rows[39]["姓名"] = "王\x00五"
    rows[0]["姓名"] = "赵\x00六"  # in the first bytes too, where binary files are told apart
    path = write_csv(tmp_path / "r.csv", rows)
    code, out, err = call("import_roster", str(path))
    assert (code, err) == (0, ""), out
    assert Member.objects.filter(name="王五").count() == 1
    assert Member.objects.filter(name="赵六").count() == 1
    assert Mobility.objects.filter(employer="宏达建筑").count() == 1


def test_skip_invalid_imports_the_rest_and_still_exits_1(tmp_path, homes):
    rows = member_rows(5, homes=homes)
    rows[0]["流入地"] = "火星"
    code, out, _err = call(
        "import_roster", str(write_csv(tmp_path / "r.csv", rows)), "--skip-invalid"
    )
    assert code == 1
    assert Member.objects.count() == 4
    assert "1 个错误行已跳过" in out


def test_dry_run(tmp_path, homes):
    path = write_xlsx(tmp_path / "r.xlsx", member_rows(3, homes=homes))
    code, out, _err = call("import_roster", str(path), "--dry-run")
    assert code == 0
    assert out.startswith("预览（未写入）：读取 3 行：新增 3")
    assert Member.objects.count() == 0


def test_a_sheet_can_be_picked(tmp_path, homes):
    path = write_xlsx(tmp_path / "r.xlsx", member_rows(2, homes=homes), sheet_title="第二批")
    assert call("import_roster", str(path), "--sheet", "第二批")[0] == 0
    code, _out, err = call("import_roster", str(path), "--sheet", "第三批")
    assert code == 2 and "没有名为“第三批”的工作表" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothere.xlsx"], "找不到文件“nothere.xlsx”"),
        (["{file}", "--user", "nobody"], "没有用户名为“nobody”的用户"),
        (["{file}", "--errors", "report.txt"], "无法识别输出文件“report.txt”的格式：请用 .csv 或 .xlsx 结尾"),  # noqa: E501
        (["{pdf}"], "无法读取文件：这是一个PDF文件，不是表格：请上传 .xlsx、.xls 或 .csv 文件"),
    ],
)  # fmt: skip
def test_unreadable_input_exits_2(tmp_path, homes, args, message):
    good = write_xlsx(tmp_path / "r.xlsx", member_rows(1, homes=homes))
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF-1.5")
    args = [a.format(file=good, pdf=pdf) for a in args]
    code, _out, err = call("import_roster", *args)
    assert code == 2
    assert err.strip() == message
    assert Member.objects.count() == 0


def test_import_orgs(tmp_path, tree):
    headers = ["组织编码", "组织名称", "上级组织编码", "组织类别", "支部类型"]
    rows = [
        {"组织编码": "N2", "组织名称": "新村党支部", "上级组织编码": "N1", "组织类别": "党支部",
         "支部类型": "建制型"},
        {"组织编码": "N1", "组织名称": "新镇党委", "上级组织编码": tree["root"].code,
         "组织类别": "党委", "支部类型": ""},
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "o.xlsx", rows, headers=headers)
    code, out, _err = call("import_orgs", str(path))
    assert code == 0, out
    assert Organization.objects.get(code="N2").parent.code == "N1"
    rows.append({"组织编码": "N3", "组织名称": "坏", "上级组织编码": "NOPE", "组织类别": "党委"})
    path = write_xlsx(tmp_path / "o2.xlsx", rows, headers=headers)
    code, out, _err = call("import_orgs", str(path))
    assert code == 1 and "第 4 行【上级组织编码】" in out


def test_export_ledger(tmp_path, tree, homes):
    call("import_roster", str(write_xlsx(tmp_path / "r.xlsx", member_rows(6, homes=homes))))
    county, branch, book = tmp_path / "county.xlsx", tmp_path / "branch.xlsx", tmp_path / "t.xlsx"
    assert call("export_ledger", "-o", str(county))[:2] == (0, f"已导出 6 名流动党员到 {county}\n")
    assert load_workbook(county).sheetnames == ["东村党支部", "西村党支部"]
    assert call("export_ledger", "--org", tree["village"].code, "-o", str(branch))[0] == 0
    assert load_workbook(branch).sheetnames == ["东村党支部"]
    assert call("export_ledger", "--org", tree["township"].code, "-o", str(book))[0] == 0
    assert len(load_workbook(book).sheetnames) == 2
    flat = tmp_path / "county.csv"
    flat.write_text("an older file, readable by all")
    flat.chmod(0o644)
    assert call("export_ledger", "-o", str(flat))[0] == 0
    # ID numbers and phones in clear: for the owner's eyes only, whatever the umask.
    assert {county.stat().st_mode & 0o777, flat.stat().st_mode & 0o777} == {0o600}
    lines = flat.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 8 and lines[0].startswith("全县流动党员台账 导出人 命令行（系统用户 ")
    code, _out, err = call("export_ledger", "--org", "NOPE", "-o", str(flat))
    assert (code, err.strip()) == (1, "没有组织编码为“NOPE”的党组织")
    # The export imports back unchanged.
    code, out, _err = call("import_roster", str(flat))
    assert code == 0 and "未变 6" in out


def test_export_ledger_is_watermarked_and_recorded(tmp_path, tree, homes):
    staff = make_user(Role.COUNTY_ADMIN, tree["root"], username="county")
    call("import_roster", str(write_xlsx(tmp_path / "r.xlsx", member_rows(6, homes=homes))))
    branch = tmp_path / "branch.xlsx"
    assert call("export_ledger", "--org", tree["village"].code, "--user", "county",
                "-o", str(branch))[0] == 0  # fmt: skip
    title = load_workbook(branch, read_only=True).active["A1"].value
    who = f"county（命令行，系统用户 {os_user()}）"
    assert title.startswith(f"{tree['village'].name}流动党员台账 导出人 {who} 导出时间 ")
    assert "导出）" not in title  # the watermark's time, not a second date after it
    everything = tmp_path / "all.csv"
    assert call("export_ledger", "-o", str(everything))[0] == 0
    by_user, by_shell = AccessEvent.objects.filter(kind=AccessEventKind.EXPORT).order_by("pk")
    assert (by_user.user, by_user.object_id) == (staff, str(tree["village"].pk))
    assert by_user.detail == {
        "scope": tree["village"].code, "rows": 3, "format": "xlsx", "source": "command"
    }  # fmt: skip
    assert by_shell.user is None and by_shell.username.startswith("命令行（系统用户 ")
    assert by_shell.detail["rows"] == 6 and by_shell.detail["scope"] == "ledger:all"
    # An unknown account is refused before anything is written or recorded.
    code, _out, err = call("export_ledger", "--user", "nobody", "-o", str(tmp_path / "x.csv"))
    assert (code, err.strip()) == (1, "没有用户名为“nobody”的用户")
    assert not (tmp_path / "x.csv").exists() and AccessEvent.objects.count() == 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_exit_statuses_of_the_real_command(tmp_path, homes):
    """The statuses a shell script sees, from a separate process on the test database."""
    url = database_url(connection.settings_dict)
    env = {**os.environ, "DATABASE_URL": url, "PORTAL_ALLOW_DEV_SECRET": "1"}

    def status(path):
        return subprocess.run(
            [sys.executable, "manage.py", "import_roster", str(path)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        ).returncode  # fmt: skip

    rows = member_rows(3, homes=homes)
    good = write_xlsx(tmp_path / "good.xlsx", rows)
    bad = write_xlsx(tmp_path / "bad.xlsx", [{**rows[0], "联系电话": "1"}])
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF")
    assert [status(good), status(bad), status(pdf)] == [0, 1, 2]
    assert Member.objects.count() == 3


def test_an_import_refused_for_the_server_does_not_blame_the_file(tmp_path, homes, settings):
    """A new lookup key not yet applied (rotate_encryption_keys --rehash) fails the import, but
    the file is fine: the command says why, not 无法读取文件."""
    from portal import crypto

    path = write_csv(tmp_path / "r.csv", member_rows(2, homes=homes))
    assert call("import_roster", str(path))[0] == 0
    settings.PORTAL_LOOKUP_KEY = "a-new-lookup-key-not-yet-applied"
    crypto.reset_key_cache()
    try:
        code, _, err = call("import_roster", str(path))
    finally:
        crypto.reset_key_cache()
    assert code == 2
    assert "rotate_encryption_keys --rehash" in err and "无法读取文件" not in err


def test_import_orgs_as_a_user_writes_only_where_they_keep_ledgers(tmp_path, tree):
    """--user as committee staff who is also a branch secretary elsewhere: the branch they
    only see is not theirs to rename."""
    from portal.models import RoleAssignment

    staff = make_user(Role.COMMITTEE_STAFF, tree["township"], username="staff")
    RoleAssignment.objects.create(
        user=staff, role=Role.BRANCH_SECRETARY, organization=tree["functional"]
    )
    functional = tree["functional"]
    row = {"组织编码": functional.code, "组织名称": "驻西安党支部（改）",
           "上级组织编码": tree["root"].code, "组织类别": "党支部",
           "支部类型": "功能型"}  # fmt: skip
    path = write_xlsx(tmp_path / "o.xlsx", [row], headers=list(row))
    code, out, _err = call("import_orgs", str(path), "--user", "staff")
    assert code == 1 and "属于您管辖范围以外的党组织，不能修改" in out
    assert Organization.objects.get(pk=functional.pk).name == functional.name
