from portal.masking import mask_id_number, mask_phone


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
