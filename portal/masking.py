"""Masking of sensitive personal information (ID numbers, phones) for display."""


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` → ``1101**********002X``: area prefix and last four stay."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


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
