"""The columns of roster and organization files and how a cell's value is read.

ROSTER-FORMAT.md is the contract: header names are matched after trimming and folding full-width
characters, with the synonyms it lists; dates come in the spellings it lists and nothing else is
guessed. Pure functions, no database.
"""

from __future__ import annotations

import datetime
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from branches.choices import BranchType, OrgKind
from members.choices import ETHNICITIES, Education, Gender, MemberType, OutflowReason

# ---------------------------------------------------------------------------------------------
# Headers

_HEADER_NOISE_RE = re.compile(r"[\s\u200b-\u200d\u2060\ufeff*:]+")


def header_key(value: object) -> str:
    """A header cell as compared: full-width folded, spaces and required-field stars removed."""
    if value is None:
        return ""
    return _HEADER_NOISE_RE.sub("", unicodedata.normalize("NFKC", str(value)))


@dataclass(frozen=True)
class Column:
    """A column of the template: its key in the code, its header and the headers also accepted."""

    key: str
    header: str
    synonyms: tuple[str, ...] = ()
    required: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.header, *self.synonyms)


@dataclass(frozen=True)
class Schema:
    """A file layout: its columns, and the two columns whose headers mark the header row."""

    title: str
    columns: tuple[Column, ...]
    anchors: tuple[str, str]
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = {header_key(name): col for col in self.columns for name in col.names}
        object.__setattr__(self, "by_name", names)

    def column(self, key: str) -> Column:
        return next(col for col in self.columns if col.key == key)

    def match(self, header: object) -> Column | None:
        """The column a header cell names, or None."""
        return self.by_name.get(header_key(header))

    @property
    def headers(self) -> list[str]:
        return [col.header for col in self.columns]


# ROSTER-FORMAT.md, "Member columns", in the template's order.
MEMBER_SCHEMA = Schema(
    title="流动党员登记表",
    columns=(
        Column("seq", "序号", ("编号",)),
        Column("name", "姓名", required=True),
        Column("gender", "性别"),
        Column("ethnicity", "民族"),
        Column("id_number", "公民身份号码", ("身份证号", "身份证号码", "身份证"), required=True),
        Column("birth_date", "出生日期"),
        Column("education", "学历", ("文化程度",)),
        Column("phone", "联系电话", ("手机号码", "手机", "电话"), required=True),
        Column("member_type", "党员类型", ("人员类别",), required=True),
        Column("joined_on", "入党日期", ("入党时间",), required=True),
        # Required for 正式党员 only: a row rule, not a column rule.
        Column("converted_on", "转正日期", ("转正时间",)),
        Column("home_org", "组织关系所在党组织", ("所在党支部", "党组织名称"), required=True),
        Column("left_on", "外出日期", ("外出时间",), required=True),
        Column("reason", "外出原因"),
        Column("destination", "流入地", ("外出地点", "流向地"), required=True),
        Column("destination_address", "详细地址", ("现居住地址",)),
        Column("employer", "工作单位", ("务工单位",)),
        Column("inflow_org", "流入地党组织", ("参加组织生活的党组织",)),
        Column("certificate_no", "活动证编号", ("流动党员活动证号",)),
        Column("contact_person", "联系人"),
        Column("remarks", "备注"),
    ),
    anchors=("name", "id_number"),
)

# ROSTER-FORMAT.md, "Organization files".
ORG_SCHEMA = Schema(
    title="党组织架构表",
    columns=(
        Column("seq", "序号", ("编号",)),
        Column("code", "组织编码", required=True),
        Column("name", "组织名称", required=True),
        Column("parent_code", "上级组织编码"),
        Column("kind", "组织类别"),  # optional: see services._kind_named_by
        Column("branch_type", "支部类型"),
        Column("location", "所在地"),
        Column("established_on", "成立日期"),
        Column("planned_end_on", "计划撤销日期"),
        Column("host_unit", "依托单位"),
        Column("phone", "联系电话"),
    ),
    anchors=("code", "name"),
)

# Columns whose dates may be given as a year and month (read as the first of the month).
MONTH_DATE_KEYS = frozenset({"joined_on", "converted_on", "left_on"})
# Every date column, of members and of organizations.
DATE_KEYS = MONTH_DATE_KEYS | {"birth_date", "established_on", "planned_end_on"}

# ---------------------------------------------------------------------------------------------
# Cells

_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
# Characters a spreadsheet may take as the start of a formula (CSV injection); exports put an
# apostrophe before a text cell starting with one, and imports take it off again.
FORMULA_PREFIXES = ("=", "+", "-", "@")


def needs_formula_escape(text: str) -> bool:
    """Whether an export puts an apostrophe before ``text``: it starts with a formula
    character, or with an apostrophe and one."""
    return text[:1] in FORMULA_PREFIXES or (text[:1] == "'" and text[1:2] in FORMULA_PREFIXES)


@dataclass(frozen=True)
class CellError:
    """A spreadsheet's error value (#N/A, #REF!, #VALUE!…): a formula that failed, not a value.

    The readers hand it over as such (python-calamine would give an empty cell, xlrd a code), so
    that the import refuses the cell instead of storing "#N/A" or nothing.
    """

    text: str

    def __str__(self) -> str:
        return self.text


class ErrorCells(dict):
    """The values of a row holding at least one :class:`CellError` (rows are marked by their
    type, so that the rows without one, nearly all, cost no search)."""


def cell_error_problems(raw: Mapping[str, object]) -> dict[str, str]:
    """Column key -> reason, for the error values of a row."""
    return {
        key: _("单元格是公式错误“%(error)s”，不是实际的值：请改为要导入的内容") % {"error": value}
        for key, value in raw.items()
        if type(value) is CellError
    }


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip() or not _ZERO_WIDTH_RE.sub("", value).strip()
    return isinstance(value, float) and math.isnan(value)


def cell_text(value: object) -> str:
    """A cell as text, the way the user sees it: whole numbers without ``.0``, dates ISO."""
    if value is None:
        return ""
    if type(value) is str:
        text = (value if value.isascii() else _ZERO_WIDTH_RE.sub("", value)).strip()
        if "\x00" in text:  # NUL, from legacy exports: invisible, and PostgreSQL refuses it
            text = text.replace("\x00", "").strip()
        if text[:1] == "'" and needs_formula_escape(text[1:]):
            text = text[1:]  # an export's formula escape (rosters.exports.escape_formula)
        return text
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


def display_value(value: object) -> str:
    """The value as read, for an error report."""
    return cell_text(value)


# ---------------------------------------------------------------------------------------------
# Dates

_SEPARATED_RE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})", re.ASCII)
_CHINESE_RE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日", re.ASCII)
_COMPACT_RE = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_MONTH_SEPARATED_RE = re.compile(r"(\d{4})[-/.](\d{1,2})", re.ASCII)
_MONTH_CHINESE_RE = re.compile(r"(\d{4})年(\d{1,2})月", re.ASCII)
_MONTH_COMPACT_RE = re.compile(r"(\d{4})(\d{2})", re.ASCII)
_MONTH_OR_OCTOBER_RE = re.compile(r"\d{4}\.1", re.ASCII)
EARLIEST_YEAR = 1900
LATEST_YEAR = 2100


def _date_format_error(text: str, allow_month: bool) -> ValidationError:
    if allow_month:
        message = _(
            "无法识别的日期“%(value)s”：请写成 2019-07-01、2019/7/1、2019.07.01、"
            "2019年7月1日 或 20190701，也可只写年月（如 2019.07）"
        )
    else:
        message = _(
            "无法识别的日期“%(value)s”：请写成 2019-07-01、2019/7/1、2019.07.01、"
            "2019年7月1日 或 20190701"
        )
    return ValidationError(message % {"value": text}, code="date_format")


def _make_date(text: str, year: str, month: str, day: str) -> datetime.date:
    y, m, d = int(year), int(month), int(day)
    if not EARLIEST_YEAR <= y <= LATEST_YEAR:
        raise ValidationError(
            _("日期“%(value)s”的年份不合理") % {"value": text}, code="date_invalid"
        )
    try:
        return datetime.date(y, m, d)
    except ValueError:
        raise ValidationError(
            _("日期“%(value)s”不存在") % {"value": text}, code="date_invalid"
        ) from None


_DIGITS_APART_RE = re.compile(r"\d\s+\d")


def parse_date(value: object, *, allow_month: bool = False) -> datetime.date | None:
    """A date from an Excel date cell or one of the spellings ROSTER-FORMAT.md lists.

    Year and month alone (``2019.07``, ``2019年7月``, ``201907``) only with ``allow_month``, read
    as the first of that month. Anything else raises ValidationError: a date is never guessed.
    """
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if is_blank(value):
        return None
    if isinstance(value, float | int) and not isinstance(value, bool):
        # A number typed in a General cell, such as 20190701; an Excel serial day number
        # (43647) is not accepted: it would be a guess at what the cell meant.
        text = cell_text(value)
    else:
        text = unicodedata.normalize("NFKC", cell_text(value)).strip()
        if _DIGITS_APART_RE.search(text):
            # 2010 1 1 is no listed spelling; read without its spaces it would be 201011,
            # November 2010: refused rather than guessed.
            raise _date_format_error(text, allow_month)
        text = "".join(text.split())
    if allow_month and _MONTH_OR_OCTOBER_RE.fullmatch(text):
        # 2019.1: January, or October typed as 2019.10 in a number cell, which Excel stores
        # (and writes to CSV) without the zero. Which one is unknowable, so it is refused.
        raise ValidationError(
            _(
                "日期“%(value)s”分不清是 %(year)s 年 1 月还是 10 月（Excel 会把 %(year)s.10 "
                "存成 %(value)s）：请写成 %(year)s-01 或 %(year)s-10，或把单元格设为文本后"
                "写成 %(year)s.01 或 %(year)s.10"
            )
            % {"value": text, "year": text[:4]},
            code="date_ambiguous",
        )
    for pattern in (_SEPARATED_RE, _CHINESE_RE):
        match = pattern.fullmatch(text)
        if match:
            groups = match.groups()
            year, month, day = (groups[0], groups[2], groups[3]) if len(groups) == 4 else groups
            return _make_date(text, year, month, day)
    match = _COMPACT_RE.fullmatch(text)
    if match:
        return _make_date(text, *match.groups())
    if allow_month:
        for pattern in (_MONTH_SEPARATED_RE, _MONTH_CHINESE_RE, _MONTH_COMPACT_RE):
            match = pattern.fullmatch(text)
            if match:
                return _make_date(text, match.group(1), match.group(2), "1")
    raise _date_format_error(text, allow_month)


def is_month_only(value: object) -> bool:
    """Whether a date cell that :func:`parse_date` reads holds a year and month alone."""
    if isinstance(value, datetime.date) or is_blank(value):
        return False
    text = "".join(unicodedata.normalize("NFKC", cell_text(value)).split())
    if any(p.fullmatch(text) for p in (_SEPARATED_RE, _CHINESE_RE, _COMPACT_RE)):
        return False
    return any(
        p.fullmatch(text) for p in (_MONTH_SEPARATED_RE, _MONTH_CHINESE_RE, _MONTH_COMPACT_RE)
    )


# ---------------------------------------------------------------------------------------------
# Closed lists


def _labels(choices) -> dict[str, str]:
    return {str(label): value for value, label in choices.choices}


def gender_values() -> dict[str, str]:
    return _labels(Gender)


def ethnicity_values() -> dict[str, str]:
    """The 56 names; the name without 族 is accepted too (``汉`` means ``汉族``)."""
    values = {name: name for name in ETHNICITIES}
    for name in ETHNICITIES:
        short = name.removesuffix("族")
        values.setdefault(short, name)
    return values


def education_values() -> dict[str, str]:
    """The template's six levels, and the usual short names of a few of them."""
    values = _labels(Education)
    values.update(
        {
            "本科": Education.BACHELOR,
            "大专": Education.JUNIOR_COLLEGE,
            "专科": Education.JUNIOR_COLLEGE,
            "硕士": Education.POSTGRADUATE,
            "博士": Education.POSTGRADUATE,
            "硕士研究生": Education.POSTGRADUATE,
            "博士研究生": Education.POSTGRADUATE,
        }
    )
    return values


def member_type_values() -> dict[str, str]:
    values = _labels(MemberType)
    values.update({"正式": MemberType.FULL, "预备": MemberType.PROBATIONARY})
    return values


def reason_values() -> dict[str, str]:
    return _labels(OutflowReason)


def org_kind_values() -> dict[str, str]:
    return _labels(OrgKind)


def branch_type_values() -> dict[str, str]:
    values = _labels(BranchType)
    values.update({"建制型党支部": BranchType.ESTABLISHED, "联合党支部": BranchType.JOINT})
    return values


# Lists longer than this are not spelled out in a message.
_MAX_LABELS_SHOWN = 8


def parse_choice(value: object, values: Mapping[str, str], *, header: str) -> str:
    """The stored value for a label of a closed list; "" for an empty cell."""
    text = "".join(unicodedata.normalize("NFKC", cell_text(value)).split())
    if not text:
        return ""
    try:
        return values[text]
    except KeyError:
        labels = [label for label in values if label in _canonical(values)]
        shown = "、".join(labels[:_MAX_LABELS_SHOWN])
        if len(labels) > _MAX_LABELS_SHOWN:
            shown += _("等 %(n)d 项") % {"n": len(labels)}
        raise ValidationError(
            _("“%(value)s”不是有效的%(header)s，应为：%(allowed)s")
            % {"value": text, "header": header, "allowed": shown},
            code="choice",
        ) from None


def _canonical(values: Mapping[str, str]) -> set[str]:
    """The labels that are the list's own names (not accepted short forms), for messages."""
    seen: dict[str, str] = {}
    for label, value in values.items():
        seen.setdefault(value, label)
    return set(seen.values())


def choice_label(choices, value: str) -> str:
    """The label a stored value is written as in files."""
    if not value:
        return ""
    return str(choices(value).label)
