"""Masking of sensitive personal information (ID numbers, phones) for display."""

import re

# A mobile number or an 18-character ID number inside other text, not part of a longer number.
_MOBILE_IN_TEXT_RE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_ID_IN_TEXT_RE = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


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
    text = _ID_IN_TEXT_RE.sub(lambda m: mask_id_number(m.group()), text)
    return _MOBILE_IN_TEXT_RE.sub(lambda m: mask_phone(m.group()), text)
