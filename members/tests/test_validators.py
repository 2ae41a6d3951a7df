"""Tests for members.validators: ID numbers (GB 11643-1999) and phone numbers."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from members.validators import (
    ID_CHECK_CHARS,
    ID_WEIGHTS,
    IdNumberInfo,
    id_check_char,
    id_number_info,
    normalize_id_number,
    normalize_phone,
    validate_id_number,
    validate_phone,
)

VALID_ID = "11010519491231002X"
FULL_WIDTH_DIGITS = str.maketrans("0123456789xX", "０１２３４５６７８９ｘＸ")


def error_of(func, value) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        func(value)
    return caught.value


def code_of(func, value) -> str:
    return error_of(func, value).code


def message_of(func, value) -> str:
    (message,) = error_of(func, value).messages
    return str(message)


# --- strategies -------------------------------------------------------------------------------

areas = st.text(alphabet="0123456789", min_size=6, max_size=6)
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def valid_ids(draw, min_year=1900, max_year=None):
    today = datetime.date.today()
    born = draw(
        st.dates(
            min_value=datetime.date(min_year, 1, 1),
            max_value=min(today, datetime.date(max_year or today.year, 12, 31)),
        )
    )
    first17 = f"{draw(areas)}{born:%Y%m%d}{draw(sequences):03d}"
    return first17 + id_check_char(first17)


@st.composite
def noisy(draw, id_number):
    """The ID number as people and spreadsheets type it."""
    text = id_number
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH_DIGITS)
    if draw(st.booleans()):
        text = text.replace("X", "x")
    pieces = list(text)
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, len(pieces)))
        pieces.insert(where, draw(st.sampled_from([" ", "\u3000", "\u200b", "\ufeff", "\u2060"])))
    text = "".join(pieces)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["'", "\u2019"])) + text
    return text


# --- the check character ----------------------------------------------------------------------


def test_check_char_test_vector():
    assert id_check_char(VALID_ID[:17]) == "X"
    assert len(ID_WEIGHTS) == 17
    assert ID_CHECK_CHARS == "10X98765432"


@pytest.mark.parametrize("bad", ["", "1101051949123100", "110105194912310021", "1101051949123100A"])
def test_check_char_needs_17_digits(bad):
    with pytest.raises(ValueError):
        id_check_char(bad)


# --- normalize_id_number: accepted forms -----------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        VALID_ID,
        "11010519491231002x",
        " 110105 19491231 002X ",
        "\u3000110105194912310\u200b02X\u3000",
        "\ufeff11010519491231002X\u2060",
        "'11010519491231002X",
        "\u201911010519491231002X",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "110105491231002",  # old 15-digit number
        110105491231002,
        110105491231002.0,  # xlrd reads every number as a float: 15 digits survive
        "110105491231002.0",
    ],
)
def test_normalize_id_number_accepts(raw):
    assert normalize_id_number(raw) == VALID_ID


def make_id(first17_prefix: str, check: str | None = None) -> str:
    """A valid ID number starting with ``first17_prefix`` (14 characters: area and birth date),
    with the check character ``check`` if given."""
    for sequence in range(1000):
        first17 = f"{first17_prefix}{sequence:03d}"
        if check is None or id_check_char(first17) == check:
            return first17 + id_check_char(first17)
    raise AssertionError("no sequence gives that check character")  # pragma: no cover


def test_normalize_id_number_accepts_int_18_digits():
    number = make_id("11010519800101", check="7")
    assert normalize_id_number(int(number)) == number


def test_fifteen_digit_upgrade_example():
    assert normalize_id_number("110105491231002") == "11010519491231002X"


# --- normalize_id_number: errors -------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "\u200b", float("nan")])
def test_id_required(raw):
    assert code_of(normalize_id_number, raw) == "id_required"
    assert message_of(normalize_id_number, raw) == "请填写公民身份号码"


@pytest.mark.parametrize(
    "raw",
    [
        1.1010519491231002e17,  # a float of 18 digits
        110105194912310024.0,
        1.5,
        "1.10105E+17",
        "1.10105e17",
        "1.10105E17",
        "１.１０１０５Ｅ＋１７",
        "110105194912310000.0",
        "110105194912310000",
        110105194912310000,
        "11010519491231000.5",
    ],
)
def test_id_excel_number(raw):
    error = error_of(normalize_id_number, raw)
    assert error.code == "id_excel_number"
    assert "Excel" in error.messages[0]
    assert "文本格式" in error.messages[0]


def test_excel_message_text():
    assert message_of(normalize_id_number, "1.10105E+17") == (
        "身份证号被 Excel 转成了数字，后几位已丢失，请将该列设置为文本格式后重新填写"
    )


def test_trailing_zeros_with_a_right_check_are_fine():
    # A number ending in 000 whose check holds is a real number, not Excel damage.
    for area in range(110101, 110200):
        first17 = f"{area}19800101000"
        if id_check_char(first17) == "0":
            assert normalize_id_number(first17 + "0") == first17 + "0"
            return
    pytest.fail("no example found")  # pragma: no cover


@pytest.mark.parametrize(
    ("raw", "length"),
    [("123", 3), ("1101051949123100", 16), ("11010519491231002", 17), ("110105194912310021X", 19)],
)
def test_id_length(raw, length):
    error = error_of(normalize_id_number, raw)
    assert error.code == "id_length"
    assert error.messages == [f"公民身份号码应为 18 位（旧号码为 15 位），实际为 {length} 位"]


@pytest.mark.parametrize(
    ("raw", "chars"),
    [
        ("1101051949123100AX", "A"),
        ("X1010519491231002X", "X"),
        ("11010519491231002Y", "Y"),
        ("11010549123100X", "X"),  # an old 15-digit number has no X
        ("11010519491231002٣", "٣"),  # Arabic-Indic digit: not an ASCII digit
    ],
)
def test_id_illegal_characters(raw, chars):
    error = error_of(normalize_id_number, raw)
    assert error.code == "id_length"
    assert f"“{chars}”" in error.messages[0]


@pytest.mark.parametrize(
    ("raw", "chars"),
    [
        ("110105-19491231-002X", "-"),  # grouped with hyphens: 18 characters of the number
        ("110105.19491231.002X", "."),
        ("11010519491231002X号", "号"),
        ("1101051949123100２X/", "/"),  # full-width digits are folded; the slash is not
    ],
)
def test_id_illegal_characters_of_any_length(raw, chars):
    # Said even when the length is wrong: "实际为 20 位" would leave the user counting 18 digits.
    error = error_of(normalize_id_number, raw)
    assert error.code == "id_length"
    assert error.messages == [
        f"公民身份号码含有非法字符“{chars}”：只能由数字组成，最后一位可以是 X"
    ]


@pytest.mark.parametrize(
    ("first17", "birth", "words"),
    [
        ("11010519491331002", "19491331", "不是有效日期"),
        ("11010519490230002", "19490230", "不是有效日期"),
        ("11010519490000002", "19490000", "不是有效日期"),
        ("11010518991231002", "18991231", "早于 1900 年"),
        ("11010530000101002", "30000101", "晚于今天"),
    ],
)
def test_id_birth_date(first17, birth, words):
    raw = first17 + id_check_char(first17)
    error = error_of(normalize_id_number, raw)
    assert error.code == "id_birth_date"
    assert error.messages == [f"身份证号中的出生日期 {birth} {words}"]


def test_id_birth_date_message_text():
    assert message_of(normalize_id_number, "110105194913310023") == (
        "身份证号中的出生日期 19491331 不是有效日期"
    )


def test_id_birth_date_of_old_number():
    assert code_of(normalize_id_number, "110105491331002") == "id_birth_date"


def test_id_birth_date_today_is_fine():
    number = make_id(f"110105{datetime.date.today():%Y%m%d}")
    assert normalize_id_number(number) == number


def test_id_check():
    error = error_of(normalize_id_number, "110105194912310023")
    assert error.code == "id_check"
    assert error.params == {"expected": "X", "actual": "3"}
    assert error.messages == ["身份证号校验位错误：最后一位应为 X，实际为 3"]


# --- id_number_info -------------------------------------------------------------------------


def test_id_number_info():
    info = id_number_info(VALID_ID)
    assert info == IdNumberInfo(
        area_code="110105", birth_date=datetime.date(1949, 12, 31), gender="female"
    )
    first17 = "61011319900715003"  # 17th digit 3: male
    assert id_number_info(first17 + id_check_char(first17)).gender == "male"
    assert id_number_info(first17 + id_check_char(first17)).area_code == "610113"


def test_id_number_info_age():
    info = id_number_info(VALID_ID)
    assert info.age_on(datetime.date(1967, 12, 30)) == 17
    assert info.age_on(datetime.date(1967, 12, 31)) == 18


def test_id_number_info_rejects_invalid():
    with pytest.raises(ValidationError):
        id_number_info("110105194912310023")


# --- validate_id_number ---------------------------------------------------------------------


def test_validate_id_number():
    validate_id_number(VALID_ID)
    assert code_of(validate_id_number, "11010519491231002x") == "id_not_normalized"
    assert code_of(validate_id_number, "110105491231002") == "id_not_normalized"
    assert code_of(validate_id_number, "110105194912310023") == "id_check"
    assert code_of(validate_id_number, "") == "id_required"


# --- properties ------------------------------------------------------------------------------


@given(valid_ids())
def test_valid_ids_normalize_to_themselves(id_number):
    assert normalize_id_number(id_number) == id_number
    validate_id_number(id_number)


@given(st.one_of(st.text(max_size=25), valid_ids().flatmap(noisy), st.integers(), st.floats()))
def test_normalizing_twice_equals_normalizing_once(raw):
    try:
        once = normalize_id_number(raw)
    except ValidationError:
        return
    assert normalize_id_number(once) == once


@given(valid_ids().flatmap(lambda number: st.tuples(st.just(number), noisy(number))))
def test_noise_is_removed(pair):
    id_number, typed = pair
    assert normalize_id_number(typed) == id_number


@given(valid_ids())
def test_changing_one_digit_breaks_the_check(id_number):
    for position in range(17):
        for digit in "0123456789":
            if digit == id_number[position]:
                continue
            changed = id_number[:position] + digit + id_number[position + 1 :]
            allowed = {"id_check", "id_birth_date"}
            if changed.endswith("000"):
                allowed.add("id_excel_number")  # looks like Excel's 15 significant digits
            with pytest.raises(ValidationError) as caught:
                normalize_id_number(changed)
            assert caught.value.code in allowed, changed


@given(valid_ids(min_year=1900, max_year=1999))
def test_fifteen_digit_upgrade_round_trip(id_number):
    old = id_number[:6] + id_number[8:17]
    assert len(old) == 15
    assert normalize_id_number(old) == id_number
    if old[0] != "0":  # as a spreadsheet number
        assert normalize_id_number(int(old)) == id_number
        assert normalize_id_number(float(old)) == id_number


@given(valid_ids(), st.sampled_from(["x", "X", "ｘ", "Ｘ"]), st.booleans())
def test_full_width_and_lower_case_x_variants(id_number, x, full_width):
    first17 = id_number[:17].translate(FULL_WIDTH_DIGITS) if full_width else id_number[:17]
    last = x if id_number[17] == "X" else id_number[17]
    assert normalize_id_number(first17 + last) == id_number


# --- phones ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("19912345678", "19912345678"),
        (" 138 1234 5678 ", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+86-13812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("'13812345678", "13812345678"),
        (13812345678, "13812345678"),
        (13812345678.0, "13812345678"),
        ("0359-1234567", "0359-1234567"),
        ("(0359)1234567", "0359-1234567"),
        ("（０３５９）１２３４５６７", "0359-1234567"),
        ("03591234567", "0359-1234567"),
        ("0359 123 4567", "0359-1234567"),
        ("0359-123-4567", "0359-1234567"),
        ("0359—1234567", "0359-1234567"),
        ("+86 0359-1234567", "0359-1234567"),
        ("0086 0359 1234567", "0359-1234567"),
        ("+86 (0359) 1234567", "0359-1234567"),
        ("+86 359 1234567", "0359-1234567"),
        ("+86-10-12345678", "010-12345678"),
        ("+86(359)1234567", "0359-1234567"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("(010)12345678", "010-12345678"),
        ("021-1234567", "021-1234567"),
        ("02912345678", "029-12345678"),
        ("0471-12345678", "0471-12345678"),
    ],
)
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "  ", "\u3000", float("nan")])
def test_phone_required(raw):
    assert code_of(normalize_phone, raw) == "phone_required"
    assert message_of(normalize_phone, raw) == "请填写联系电话"


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "12812345678",  # 12x is not a mobile prefix
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "+8612812345678",
        "86-1234",
        "1234567",  # local number without area code
        "0359-123456",  # 6-digit number
        "0359-123456789",  # 9-digit number
        "0359-0234567",  # numbers do not start with 0
        "+86 0359-0234567",
        "+86 1234567",  # a country code, then no area code
        "013812345678",  # 013 is not an area code
        "02-01234567",
        "0123-1234567",  # four-digit area codes never start with 01/02
        "0359-1234567转123",  # extensions are not accepted yet
        "0359-1234567-123",
        "abc",
        1.5,
        3591234567,  # Excel dropped the leading 0
    ],
)
def test_phone_invalid(raw):
    error = error_of(normalize_phone, raw)
    assert error.code == "phone_invalid"


def test_phone_invalid_message():
    assert message_of(normalize_phone, "12345") == (
        "联系电话 12345 格式不正确：手机号应为 11 位且以 13-19 开头，"
        "固定电话应为区号加号码（如 0359-1234567）"
    )


def test_validate_phone():
    validate_phone("13812345678")
    validate_phone("0359-1234567")
    assert code_of(validate_phone, "03591234567") == "phone_not_normalized"
    assert code_of(validate_phone, "+8613812345678") == "phone_not_normalized"
    assert code_of(validate_phone, "12345") == "phone_invalid"
    assert code_of(validate_phone, "") == "phone_required"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobile_numbers_are_kept(number):
    assert normalize_phone(number) == number
    assert normalize_phone("+86 " + number) == number
    assert normalize_phone("0086" + number) == number


@given(st.one_of(st.text(max_size=20), st.integers()))
def test_normalize_phone_is_idempotent(raw):
    try:
        once = normalize_phone(raw)
    except ValidationError:
        return
    assert normalize_phone(once) == once
