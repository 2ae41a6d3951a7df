"""The blank registration roster (流动党员登记表) the portal publishes.

The header row in the template's order under a title row; the ID number and phone columns
formatted as text, so Excel keeps every digit; dropdowns for the closed lists; and a second
sheet explaining each column (imports read only the first sheet).
"""

from __future__ import annotations

from typing import IO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from members.choices import ETHNICITIES, Education, Gender, MemberType, OutflowReason

from . import constants
from .schema import MEMBER_SCHEMA, MONTH_DATE_KEYS

# Rows of the template that carry formats and dropdowns.
TEMPLATE_ROWS = 2000
HEADER_ROW = 2
_TEXT = "@"
_DATE = "yyyy-mm-dd"
_REQUIRED_FILL = PatternFill("solid", fgColor="F8CBAD")
_OPTIONAL_FILL = PatternFill("solid", fgColor="DDEBF7")
_LISTS_SHEET = constants.TEMPLATE_LISTS_SHEET

# Closed lists offered as dropdowns, by column key.
_LISTS = {
    "gender": [str(label) for label in Gender.labels],
    "ethnicity": list(ETHNICITIES),
    "education": [str(label) for label in Education.labels],
    "member_type": [str(label) for label in MemberType.labels],
    "reason": [str(label) for label in OutflowReason.labels],
}
# The columns that may be a year and month are text too: typed into a date cell, 2019.07 is the
# number 2019.07, which Excel shows (and stores) as the date 1905-07-11.
_TEXT_KEYS = ("id_number", "phone", "home_org", "certificate_no", *MONTH_DATE_KEYS)
_DATE_KEYS = ("birth_date",)
_NOTES = {
    "序号": gettext_lazy("可不填"),
    "姓名": gettext_lazy("必填，2 至 30 个字"),
    "性别": gettext_lazy("男 / 女，须与身份证号一致；可不填（按身份证号）"),
    "民族": gettext_lazy("56 个民族之一，如“汉族”"),
    "公民身份号码": gettext_lazy(
        "必填，18 位（旧 15 位号码可自动升位）；本列已设为文本格式，请勿改为数字"
    ),
    "出生日期": gettext_lazy("须与身份证号一致；可不填（按身份证号）"),
    "学历": gettext_lazy("研究生 / 大学本科 / 大学专科 / 中专 / 高中 / 初中及以下"),
    "联系电话": gettext_lazy("必填，手机号 11 位，或区号加号码（如 0359-1234567）"),
    "党员类型": gettext_lazy("必填，正式党员 / 预备党员"),
    "入党日期": gettext_lazy(
        "必填，如 2019-07-01、2019/7/1、2019年7月1日，也可只写年月（2019.07）；入党时须年满 18 周岁"
    ),
    "转正日期": gettext_lazy("正式党员必填，入党后 1 至 2 年之间；预备党员不填"),
    "组织关系所在党组织": gettext_lazy("必填，填组织编码或党组织全称；须为建制型或联合党支部"),
    "外出日期": gettext_lazy("必填，不晚于今天；可只写年月"),
    "外出原因": gettext_lazy("务工 / 经商 / 求学 / 随迁 / 其他"),
    "流入地": gettext_lazy("必填，至少到地级市，如“陕西省西安市”“北京市朝阳区”"),
    "详细地址": gettext_lazy("现居住地址"),
    "工作单位": gettext_lazy("务工或经商单位"),
    "流入地党组织": gettext_lazy("参加组织生活的党组织：系统内组织填编码或全称，否则填名称"),
    "活动证编号": gettext_lazy("流动党员活动证编号"),
    "联系人": gettext_lazy("家庭或单位联系人"),
    "备注": gettext_lazy(""),
}


def write_template(out: IO[bytes]) -> None:
    """Write the blank roster template (.xlsx) to ``out``."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("流动党员登记表")
    columns = MEMBER_SCHEMA.columns
    last = get_column_letter(len(columns))

    sheet["A1"] = _("流动党员登记表")
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.merge_cells(f"A1:{last}1")
    sheet.row_dimensions[1].height = 30

    lists_sheet = workbook.create_sheet(_LISTS_SHEET)
    lists_sheet.sheet_state = "hidden"
    notes_sheet = workbook.create_sheet(constants.TEMPLATE_NOTES_SHEET)
    notes_sheet.append([_("列"), _("是否必填"), _("说明")])
    for cell in notes_sheet[1]:
        cell.font = Font(bold=True)
    notes_sheet.column_dimensions["A"].width = 20
    notes_sheet.column_dimensions["B"].width = 10
    notes_sheet.column_dimensions["C"].width = 90

    first, end = HEADER_ROW + 1, HEADER_ROW + TEMPLATE_ROWS
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        header = sheet.cell(row=HEADER_ROW, column=index, value=column.header)
        header.font = Font(bold=True)
        header.fill = _REQUIRED_FILL if column.required else _OPTIONAL_FILL
        header.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        width = 21 if column.key == "id_number" else max(10, len(column.header) * 2 + 4)
        sheet.column_dimensions[letter].width = width
        number_format = (
            _TEXT if column.key in _TEXT_KEYS else _DATE if column.key in _DATE_KEYS else None
        )
        if number_format:
            # The column's default format (for rows typed beyond the template's) and each cell's.
            sheet.column_dimensions[letter].number_format = number_format
            for row in range(first, end + 1):
                sheet.cell(row=row, column=index).number_format = number_format
        if column.key in _LISTS:
            _dropdown(
                sheet, lists_sheet, column.key, column.header, f"{letter}{first}:{letter}{end}"
            )
        required = _("必填") if column.required else ""
        if column.key == "converted_on":
            required = _("正式党员必填")
        notes_sheet.append([column.header, required, str(_NOTES.get(column.header, ""))])
    sheet.freeze_panes = f"C{first}"
    workbook.save(out)


def _dropdown(sheet, lists_sheet, key: str, header: str, cells: str) -> None:
    """A list validation whose options live on the hidden sheet (56 民族 exceed the 255-character
    limit of an inline list)."""
    values = _LISTS[key]
    column = lists_sheet.max_column + 1 if lists_sheet.max_row > 1 or lists_sheet["A1"].value else 1
    letter = get_column_letter(column)
    for row, value in enumerate(values, start=1):
        lists_sheet.cell(row=row, column=column, value=value)
    source = f"{quote_sheetname(_LISTS_SHEET)}!${letter}$1:${letter}${len(values)}"
    validation = DataValidation(type="list", formula1=source, allow_blank=True)
    validation.error = _("请从下拉列表中选择%(header)s") % {"header": header}
    validation.errorTitle = header
    validation.showErrorMessage = True
    validation.add(cells)
    sheet.add_data_validation(validation)
