"""Masking of sensitive personal information (ID numbers, phones) for display."""

import datetime
import re

# An 18-character ID number, a mobile number or a landline inside other text, not part of a
# longer number. Phones are found the ways people write them: ``13800138000``,
# ``138-0013-8000``, ``138 0013 8000``, ``+86 13800138000``, ``0086-138…``, ``0359-5123456``,
# ``0359 5123456``, ``(0359)5123456``; a date (``2019-07-01``) has other groups and stays.
_ID_IN_TEXT_RE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
_MOBILE_IN_TEXT_RE = re.compile(
    r"(?<![0-9+])(?P<prefix>(?:\+|00)86[ -]?)?(?P<number>1[3-9][0-9](?:[ -]?[0-9]{4}){2})(?![0-9])"
)
_LANDLINE_IN_TEXT_RE = re.compile(
    r"(?<![0-9])(?P<prefix>[(（]0[0-9]{2,3}[)）] ?|0[0-9]{2,3}[ -])(?P<number>[0-9]{7,8})(?![0-9])"
)


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` → ``1101**********002X``: area prefix and last four stay."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_birth_date(value) -> str:
    """``1949-12-31`` → ``1949-**-**``: beside the masked ID number (area and last four in
    sight), the full date would give back all but two of the digits it hides."""
    if not value:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:4] + "-**-**"


def mask_phone(value: str) -> str:
    """``13800138000`` → ``138****8000``; ``0359-1234567`` → ``0359-***4567``."""
    if not value:
        return ""
    if "-" in value:
        area, number = value.split("-", 1)
        return f"{area}-{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_in_text(text: str) -> str:
    """``text`` with every mobile number and ID number in it masked: what someone searched
    for, in a recorded URL or filter, is kept the way the pages show it."""
    text = _ID_IN_TEXT_RE.sub(_mask_if_id_number, text)
    text = _MOBILE_IN_TEXT_RE.sub(lambda m: (m["prefix"] or "") + _hide(m["number"], 3), text)
    return _LANDLINE_IN_TEXT_RE.sub(lambda m: m["prefix"] + _hide(m["number"], 0), text)


def _mask_if_id_number(match: re.Match) -> str:
    """An 18-character number whose characters 7–14 are a birth date: an ID number. Others of
    that length stay (a company's 统一社会信用代码 such as 911101087226181512)."""
    number = match.group()
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return number
    return mask_id_number(number) if 1900 <= born.year <= 2099 else number


def _hide(number: str, head: int) -> str:
    """The digits of ``number`` but the first ``head`` and the last four as ``*``; separators
    stay: ``138-0013-8000`` → ``138-****-8000``, as mask_phone shows ``138****8000``."""
    total = sum(c.isdigit() for c in number)
    out, seen = [], 0
    for c in number:
        if c.isdigit():
            out.append(c if seen < head or seen >= total - 4 else "*")
            seen += 1
        else:
            out.append(c)
    return "".join(out)
