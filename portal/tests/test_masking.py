from portal.masking import mask_id_number, mask_phone


def test_id_number_mask_keeps_area_prefix_and_last_four():
    assert mask_id_number("11010519491231002X") == "1101**********002X"
    assert mask_id_number("") == ""


def test_phone_masks():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("0359-1234567") == "0359-***4567"
