import pytest
from django.contrib.auth.models import AnonymousUser

from portal.masking import mask_id_number, mask_in_text, mask_phone


def test_id_number_mask_keeps_area_prefix_and_last_four():
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_id_number("") == ""


def test_phone_masks():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("0359-1234567") == "0359-***4567"


def test_phones_and_id_numbers_inside_text_are_masked():
    from portal.masking import mask_in_text

    assert mask_in_text("/api/v1/members/?q=13800138000&page_size=5") == (
        "/api/v1/members/?q=138****8000&page_size=5"
    )
    assert mask_in_text("q=11010519491231002x") == "q=1101**********002x"
    # Other numbers are left alone: ids, dates, codes, longer runs.
    for text in ("/members/1380013/", "backup-20261125-173000.dump", "q=138001380001", "140822000"):
        assert mask_in_text(text) == text


def test_phones_written_with_separators_prefixes_or_area_codes_are_masked_inside_text():
    from portal.masking import mask_in_text

    cases = {
        "冯敏琴 183-0002-8885": "冯敏琴 183-****-8885",
        "138 0013 8000": "138 **** 8000",
        "+8613800138000": "+86138****8000",
        "0086-13800138000": "0086-138****8000",
        "父亲 0359-5123456": "父亲 0359-***3456",
        "(0359)5123456": "(0359)***3456",
        "（0359）5123456": "（0359）***3456",
        "0351 12345678": "0351 ****5678",
    }
    for text, masked in cases.items():
        assert mask_in_text(text) == masked, text
    # Dates and times keep their digits.
    for text in ("2019-07-01", "q=2026-11-25 12:30:00", "left_on=2024.03.01"):
        assert mask_in_text(text) == text


@pytest.mark.django_db
def test_a_recorded_address_is_decoded_before_it_is_masked(rf):
    from portal.access import record_access
    from portal.choices import AccessEventKind

    request = rf.get("/members/?q=138+0013+8000&org=%E4%B8%87")
    request.user = AnonymousUser()
    event = record_access(kind=AccessEventKind.EXPORT, request=request, username="x")
    assert event.path == "/members/?q=138 **** 8000&org=万"


def test_an_eighteen_digit_number_without_a_birth_date_is_no_id_number():
    # A company's unified social credit code in an employer's name stays as it is.
    text = "统一社会信用代码 911101087226181512"
    assert mask_in_text(text) == text
    assert mask_in_text("身份证 11010519491231002X") == "身份证 1101**********002X"
    assert mask_in_text("号码 110105194913310021") == "号码 110105194913310021"  # 13th month
