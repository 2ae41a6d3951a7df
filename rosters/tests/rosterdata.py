"""Roster files for tests and the benchmark: valid rows, and writers for xlsx, xls and csv.

Rows are dicts keyed by the template's headers (ROSTER-FORMAT.md), so a test breaks one rule by
changing one cell. Every generated row is valid for the organizations it is given.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from members.validators import id_check_char
from rosters.schema import MEMBER_SCHEMA

HEADERS = MEMBER_SCHEMA.headers
_SURNAMES = "王李张刘杨赵陈郭贾薛梁孙高吴周"
_GIVEN = "建国军明伟强刚勇平斌海涛鹏辉波峰丽娟敏静霞芳燕红"
_PLACES = ("陕西省西安市雁塔区", "北京市朝阳区", "山西省太原市", "河南省郑州市", "广东省深圳市")
_REASONS = ("务工", "经商", "求学", "随迁", "其他")
_EDUCATION = ("研究生", "大学本科", "大学专科", "中专", "高中", "初中及以下")


def id_number(index: int, *, birth: datetime.date | None = None, male: bool = True) -> str:
    """A valid ID number, distinct for each index below 7 million (15,000 birth dates and 499
    sequence numbers, coprime, both cycling with the index; distinct for a given birth date
    below 499)."""
    birth = birth or datetime.date(1950, 1, 1) + datetime.timedelta(days=index % 15000)
    seq = index % 499 * 2 + (1 if male else 2)
    first17 = f"140822{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def member_row(index: int, *, home: str, inflow: str = "", **changes) -> dict[str, object]:
    """Row ``index`` of a roster: a full member, away for work, homed in ``home``."""
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=index % 15000)
    joined = datetime.date(birth.year + 25, 7, 1)
    male = index % 4 != 3
    row = {
        "序号": index + 1,
        "姓名": _SURNAMES[index % len(_SURNAMES)] + _GIVEN[index % len(_GIVEN)] + "一",
        "性别": "男" if male else "女",
        "民族": "汉族",
        "公民身份号码": id_number(index, birth=birth, male=male),
        "出生日期": birth.isoformat(),
        "学历": _EDUCATION[index % len(_EDUCATION)],
        "联系电话": f"138{index:08d}",
        "党员类型": "正式党员",
        "入党日期": joined.isoformat(),
        "转正日期": joined.replace(year=joined.year + 1).isoformat(),
        "组织关系所在党组织": home,
        "外出日期": "2020-03-01",
        "外出原因": _REASONS[index % len(_REASONS)],
        "流入地": _PLACES[index % len(_PLACES)],
        "详细地址": f"长安路 {index % 300 + 1} 号",
        "工作单位": "宏达建筑工程有限公司",
        "流入地党组织": inflow,
        "活动证编号": f"WR{index:06d}",
        "联系人": "李四",
        "备注": "",
    }
    row.update(changes)
    return row


def member_rows(count: int, *, homes: Sequence[str], start: int = 0, **changes):
    return [
        member_row(i, home=homes[i % len(homes)], **changes) for i in range(start, start + count)
    ]


def _table(
    rows: Iterable[dict], headers: Sequence[str] | None, title_rows: Sequence[Sequence] = ()
) -> Iterator[list]:
    rows = iter(rows)
    first = next(rows, None)
    headers = list(headers or (first.keys() if first else HEADERS))
    yield from (list(t) for t in title_rows)
    yield headers
    for row in [first, *rows] if first is not None else rows:
        yield [row.get(h) for h in headers]


def write_xlsx(
    path: Path,
    rows: Iterable[dict],
    *,
    headers: Sequence[str] | None = None,
    title_rows: Sequence[Sequence] = (),
    sheet_title: str = "登记表",
    extra_sheets: Sequence[str] = (),
) -> Path:
    """An xlsx (openpyxl write-only); values are written as given (str stays text)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    for line in _table(rows, headers, title_rows):
        sheet.append(line)
    for name in extra_sheets:
        workbook.create_sheet(name).append(["其他"])
    workbook.save(path)
    return path


def write_xls(
    path: Path,
    rows: Iterable[dict],
    *,
    headers: Sequence[str] | None = None,
    title_rows: Sequence[Sequence] = (),
    extra_sheets: Sequence[str] = (),
) -> Path:
    """An Excel 97-2003 file (xlwt, a development dependency)."""
    import xlwt

    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("登记表")
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for r, line in enumerate(_table(rows, headers, title_rows)):
        for c, value in enumerate(line):
            if isinstance(value, datetime.date):
                sheet.write(r, c, value, date_style)
            elif value is not None:
                sheet.write(r, c, value)
    for name in extra_sheets:
        workbook.add_sheet(name).write(0, 0, "其他")
    workbook.save(str(path))
    return path


def csv_text(
    rows: Iterable[dict],
    *,
    headers: Sequence[str] | None = None,
    title_rows: Sequence[Sequence] = (),
    delimiter: str = ",",
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    for line in _table(rows, headers, title_rows):
        writer.writerow(["" if v is None else v for v in line])
    return out.getvalue()


def write_csv(path: Path, rows: Iterable[dict], *, encoding: str = "utf-8-sig", **kw) -> Path:
    path.write_bytes(csv_text(rows, **kw).encode(encoding))
    return path
