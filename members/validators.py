"""ID numbers and phone numbers: normalizing what people and Excel type, and validating it.

Pure functions, no database. ``normalize_*`` accept what a form or a roster cell holds (str, int,
float) and return the canonical text, or raise ``ValidationError`` with a Chinese message and a
code; ``validate_*`` are model-field validators for values that should already be canonical.
Rules: DOMAIN.md ("Members") and ROSTER-FORMAT.md ("Values").

Error codes:

- ID numbers: ``id_required``, ``id_excel_number`` (Excel turned the number into a float and lost
  the last digits), ``id_length`` (wrong length or characters), ``id_birth_date``, ``id_check``,
  ``id_not_normalized`` (validator only).
- Phones: ``phone_required``, ``phone_invalid``, ``phone_not_normalized`` (validator only).
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# GB 11643-1999 check character: weights of the first 17 digits, sum mod 11 indexes the string.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)

MALE = "male"
FEMALE = "female"

# Full-width ASCII forms (０-９, Ｘ, －, （ …) to their ASCII counterparts.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_ZERO_WIDTH_RE = re.compile("[\u200b-\u200d\u2060\ufeff]")
# What Excel shows for a long number: 1.10105E+17, 1.10105e17.
_SCIENTIFIC_RE = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+", re.ASCII)
_DECIMAL_RE = re.compile(r"(\d+)\.(\d*)", re.ASCII)
_ID18_RE = re.compile(r"\d{17}[\dX]", re.ASCII)
_ID15_RE = re.compile(r"\d{15}", re.ASCII)
# Excel keeps 15 significant digits: an 18-digit number comes back with its last three digits 0.
_EXCEL_LOST_DIGITS = 3
_APOSTROPHES = "'\u2018\u2019"
_DIGITS = "0123456789"

_MOBILE_RE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_COUNTRY_PREFIXES = ("+86", "0086", "86")
_HYPHENS_RE = re.compile("[-\u2010-\u2015\u2212\ufe58\ufe63]")
# Three-digit area codes: 010 (Beijing) and 020-029; every other area code has four digits.
_AREA3_RE = re.compile(r"010|02\d", re.ASCII)
_AREA4_RE = re.compile(r"0[3-9]\d\d", re.ASCII)
_LOCAL_NUMBER_RE = re.compile(r"[1-9]\d{6,7}", re.ASCII)
_EXPLICIT_AREA_RE = re.compile(r"\((\d+)\)(.*)|(\d+)-(.*)", re.ASCII)

ID_MESSAGES = {
    "id_required": _("请填写公民身份号码"),
    "id_excel_number": _(
        "身份证号被 Excel 转成了数字，后几位已丢失，请将该列设置为文本格式后重新填写"
    ),
    "id_length": _("公民身份号码应为 18 位（旧号码为 15 位），实际为 %(length)d 位"),
    "id_characters": _("公民身份号码含有非法字符“%(chars)s”：只能由数字组成，最后一位可以是 X"),
    "id_birth_date": _("身份证号中的出生日期 %(birth)s 不是有效日期"),
    "id_birth_future": _("身份证号中的出生日期 %(birth)s 晚于今天"),
    "id_birth_too_early": _("身份证号中的出生日期 %(birth)s 早于 1900 年"),
    "id_check": _("身份证号校验位错误：最后一位应为 %(expected)s，实际为 %(actual)s"),
    "id_not_normalized": _("公民身份号码应写作 %(normalized)s"),
}
PHONE_MESSAGES = {
    "phone_required": _("请填写联系电话"),
    "phone_invalid": _(
        "联系电话 %(value)s 格式不正确：手机号应为 11 位且以 13-19 开头，"
        "固定电话应为区号加号码（如 0359-1234567）"
    ),
    "phone_not_normalized": _("联系电话应写作 %(normalized)s"),
}


def _error(messages: dict, key: str, code: str | None = None, **params) -> ValidationError:
    return ValidationError(messages[key], code=code or key, params=params or None)


def _clean_text(raw: str) -> str:
    """Fold full-width forms, drop whitespace, zero-width characters and leading apostrophes."""
    text = _ZERO_WIDTH_RE.sub("", str(raw).translate(_FULL_WIDTH))
    text = "".join(text.split())  # str.split() knows every Unicode space, U+3000 included
    return text.lstrip(_APOSTROPHES)


def _is_blank(raw) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True  # an empty cell as some readers return it
    return isinstance(raw, str) and not _clean_text(raw)


# ---------------------------------------------------------------------------------------------
# ID numbers (公民身份号码, GB 11643-1999)


def id_check_char(first17: str) -> str:
    """The check character for the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(digit) * weight for digit, weight in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def _check_birth_date(birth: str) -> datetime.date:
    try:
        born = datetime.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8]))
    except ValueError:
        raise _error(ID_MESSAGES, "id_birth_date", birth=birth) from None
    if born > datetime.date.today():
        raise _error(ID_MESSAGES, "id_birth_future", code="id_birth_date", birth=birth)
    if born < ID_EARLIEST_BIRTH_DATE:
        raise _error(ID_MESSAGES, "id_birth_too_early", code="id_birth_date", birth=birth)
    return born


def _id_text(raw) -> str:
    """The ID number as text, rejecting numbers Excel has damaged."""
    if isinstance(raw, float):
        # A float of 15 digits is an old ID number kept whole (xlrd reads every number as a
        # float); anything longer has lost its last digits to Excel's 15 significant digits.
        if math.isfinite(raw) and raw.is_integer() and 1e14 <= raw < 1e15:
            return str(int(raw))
        raise _error(ID_MESSAGES, "id_excel_number")
    text = _clean_text(raw).replace("x", "X")
    if _SCIENTIFIC_RE.fullmatch(text):
        raise _error(ID_MESSAGES, "id_excel_number")
    decimal = _DECIMAL_RE.fullmatch(text)
    if decimal:
        whole, fraction = decimal.groups()
        if len(whole) == 15 and not fraction.strip("0"):
            return whole  # 110105491231002.0: an old number, every digit still there
        if len(whole) >= 15:
            raise _error(ID_MESSAGES, "id_excel_number")
    return text


def has_id_number_shape(text: str) -> bool:
    """Whether ``text`` is written like a whole ID number (18 characters, or an old 15), right
    or wrong: what a search box typed into may be told apart from a name or four characters."""
    return bool(_ID18_RE.fullmatch(text.upper()) or _ID15_RE.fullmatch(text))


def normalize_id_number(raw) -> str:
    """The canonical 18-character ID number (upper-case X) for what was typed or read.

    Accepts str, int or float. Raises ValidationError (codes: see the module docstring).
    """
    if _is_blank(raw):
        raise _error(ID_MESSAGES, "id_required")
    text = _id_text(raw)
    if _ID15_RE.fullmatch(text):
        # An old 15-digit number: 6 area digits, YYMMDD, 3 sequence digits, born in the 1900s.
        _check_birth_date("19" + text[6:12])
        first17 = text[:6] + "19" + text[6:]
        return first17 + id_check_char(first17)
    if not _ID18_RE.fullmatch(text):
        # Wrong characters are named whatever the length: "110105-19491231-002X" has the 18
        # characters of a number, and "实际为 20 位" would leave the user counting digits. X is
        # allowed where a check character stands (18th, or last), not in an old 15-digit number.
        allowed = [_DIGITS] * len(text)
        if len(text) != 15:
            for index in {17, len(text) - 1} & set(range(len(text))):
                allowed[index] = _DIGITS + "X"
        bad = dict.fromkeys(c for c, ok in zip(text, allowed, strict=True) if c not in ok)
        if bad:
            raise _error(ID_MESSAGES, "id_characters", code="id_length", chars="".join(bad))
        raise _error(ID_MESSAGES, "id_length", length=len(text))
    expected = id_check_char(text[:17])
    if text[17] != expected and text.endswith("0" * _EXCEL_LOST_DIGITS):
        raise _error(ID_MESSAGES, "id_excel_number")
    _check_birth_date(text[6:14])
    if text[17] != expected:
        raise _error(ID_MESSAGES, "id_check", expected=expected, actual=text[17])
    return text


@dataclass(frozen=True)
class IdNumberInfo:
    """What an ID number says about its holder."""

    area_code: str
    birth_date: datetime.date
    gender: str  # MALE ("male") or FEMALE ("female"), the values of members.choices.Gender

    def age_on(self, day: datetime.date) -> int:
        """Age in whole years on ``day`` (born on 29 February: a year older on 1 March)."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def id_number_info(id_number: str) -> IdNumberInfo:
    """Area code, birth date and gender (17th digit: odd male, even female) of an ID number.

    Meant for normalized 18-character numbers; anything else is normalized first (and may raise
    ValidationError).
    """
    number = normalize_id_number(id_number)
    return IdNumberInfo(
        area_code=number[:6],
        birth_date=datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
        gender=MALE if int(number[16]) % 2 else FEMALE,
    )


def validate_id_number(value: str) -> None:
    """Model-field validator: the value must be a valid, already normalized ID number."""
    normalized = normalize_id_number(value)
    if normalized != value:
        raise _error(ID_MESSAGES, "id_not_normalized", normalized=normalized)


# ---------------------------------------------------------------------------------------------
# Phone numbers


def _phone_text(raw) -> str:
    if isinstance(raw, float):
        if not (math.isfinite(raw) and raw.is_integer()):
            raise _error(PHONE_MESSAGES, "phone_invalid", value=str(raw))
        raw = int(raw)
    return _clean_text(raw)


def _landline(text: str) -> str | None:
    """``0359-1234567`` for a landline written any usual way, else None."""
    explicit = _EXPLICIT_AREA_RE.fullmatch(text)
    if explicit:
        area = explicit.group(1) or explicit.group(3)
        number = _HYPHENS_RE.sub("", explicit.group(2) or explicit.group(4) or "")
    else:
        digits = _HYPHENS_RE.sub("", text)
        if not digits.startswith("0"):
            return None
        split = 3 if digits[:2] in ("01", "02") else 4
        area, number = digits[:split], digits[split:]
    area_ok = _AREA3_RE.fullmatch(area) or _AREA4_RE.fullmatch(area)
    if area_ok and _LOCAL_NUMBER_RE.fullmatch(number):
        return f"{area}-{number}"
    return None


def normalize_phone(raw) -> str:
    """The canonical phone number: 11 digits for a mobile, ``0359-1234567`` for a landline.

    Accepts str or int (and a whole float, as spreadsheet readers return numbers). Spaces,
    hyphens, full-width digits and a +86 / 0086 / 86 country code before a mobile (+86 / 0086
    before a landline) are removed.
    Raises ValidationError (codes ``phone_required``, ``phone_invalid``).
    """
    if _is_blank(raw):
        raise _error(PHONE_MESSAGES, "phone_required")
    text = _phone_text(raw)
    compact = _HYPHENS_RE.sub("", text)
    if _MOBILE_RE.fullmatch(compact):
        return compact
    for prefix in _COUNTRY_PREFIXES:
        if compact.startswith(prefix) and _MOBILE_RE.fullmatch(compact[len(prefix) :]):
            return compact[len(prefix) :]
    landline = _landline(text) or _landline(_national(text))
    if landline:
        return landline
    raise _error(PHONE_MESSAGES, "phone_invalid", value=str(raw).strip())


def _national(text: str) -> str:
    """A landline written with the country code (``+86 359 1234567``, ``0086-0359-1234567``,
    ``+86(359)1234567``) as dialled at home: the code off, the trunk 0 before the area code."""
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            rest = text[len(prefix) :].lstrip("-")
            opening = "(" if rest.startswith("(") else ""
            rest = rest.removeprefix(opening)
            return f"{opening}{'' if rest.startswith('0') else '0'}{rest}"
    return ""


def validate_phone(value: str) -> None:
    """Model-field validator: the value must be a valid, already normalized phone number."""
    normalized = normalize_phone(value)
    if normalized != value:
        raise _error(PHONE_MESSAGES, "phone_not_normalized", normalized=normalized)
