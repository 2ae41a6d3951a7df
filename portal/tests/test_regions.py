"""Tests for portal.regions: the GB/T 2260 table, names and parsing place names."""

import csv

import pytest
from django.core.exceptions import ValidationError

from portal import regions
from portal.regions import (
    DATA_FILE,
    Region,
    children,
    city_of,
    full_name,
    get_region,
    is_city_level_or_below,
    parse_place,
    province_choices,
    province_of,
    provinces,
)


def parse_error(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_place(text)
    return caught.value


# --- the data file --------------------------------------------------------------------------


def test_data_file_is_consistent():
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["code", "name", "level", "parent_code"]
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes))
    by_code = {row["code"]: row for row in rows}
    expected_parent_level = {"province": None, "city": "province", "county": "city"}
    for row in rows:
        assert len(row["code"]) == 6 and row["code"].isdigit(), row
        assert row["name"], row
        parent_level = expected_parent_level[row["level"]]
        if parent_level is None:
            assert row["parent_code"] == "" and row["code"].endswith("0000")
        else:
            parent = by_code[row["parent_code"]]
            assert parent["level"] == parent_level
            prefix = 2 if row["level"] == "city" else 4
            assert row["code"][:prefix] == parent["code"][:prefix]


def test_counts():
    table = regions._table().by_code.values()
    province_count = sum(1 for r in table if r.level == "province")
    real_cities = [r for r in table if r.level == "city" and not r.is_pseudo]
    counties = [r for r in table if r.level == "county"]
    # 31 mainland provinces; Hong Kong, Macao and Taiwan have no codes in the source.
    assert province_count == len(provinces()) == 31
    assert 330 <= len(real_cities) <= 345
    assert 2800 <= len(counties) <= 3000
    assert get_region("810000") is None


def test_provinces_sorted():
    codes = [r.code for r in provinces()]
    assert codes == sorted(codes)
    assert codes[0] == "110000"
    assert all(r.level == "province" and r.parent_code is None for r in provinces())
    assert province_choices()[0] == ("110000", "北京市")
    assert ("610000", "陕西省") in province_choices()
    assert len(province_choices()) == 31


def test_get_region():
    assert get_region("610113") == Region("610113", "雁塔区", "county", "610100")
    assert get_region("610100") == Region("610100", "西安市", "city", "610000")
    assert get_region("610000") == Region("610000", "陕西省", "province", None)
    assert get_region("999999") is None
    assert get_region("") is None


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("610113", "陕西省西安市雁塔区"),
        ("610100", "陕西省西安市"),
        ("610000", "陕西省"),
        ("110105", "北京市朝阳区"),  # the 市辖区 pseudo-city is skipped
        ("110100", "北京市"),
        ("500229", "重庆市城口县"),  # under the 县 pseudo-city
        ("429004", "湖北省仙桃市"),  # 省直辖县级行政区划 skipped
        ("441900", "广东省东莞市"),
        ("150430", "内蒙古自治区赤峰市敖汉旗"),
        ("999999", ""),
    ],
)
def test_full_name(code, name):
    assert full_name(code) == name


def test_province_of_and_city_of():
    assert province_of("610113").code == "610000"
    assert province_of("610000").code == "610000"
    assert province_of("999999") is None
    assert city_of("610113").code == "610100"
    assert city_of("610100").code == "610100"
    assert city_of("610000") is None
    # A municipality acts as its own city.
    assert city_of("110105").code == "110000"
    assert city_of("110000").code == "110000"
    assert city_of("500229").code == "500000"
    # A county administered directly by its province acts as its own city.
    assert city_of("429004").code == "429004"
    assert city_of("429000") is None


def test_is_city_level_or_below():
    assert is_city_level_or_below(get_region("110000"))  # 北京市
    assert is_city_level_or_below(get_region("500000"))  # 重庆市
    assert is_city_level_or_below(get_region("610100"))
    assert is_city_level_or_below(get_region("610113"))
    assert is_city_level_or_below(get_region("429004"))  # 仙桃市
    assert not is_city_level_or_below(get_region("610000"))
    assert not is_city_level_or_below(get_region("429000"))  # the container, not a place
    assert not is_city_level_or_below(None)
    assert is_city_level_or_below("610113")


def test_children_skip_pseudo_cities():
    beijing = children("110000")
    assert all(r.level == "county" for r in beijing)
    assert "110105" in [r.code for r in beijing]
    chongqing = [r.code for r in children("500000")]
    assert "500101" in chongqing and "500229" in chongqing
    hubei = [r.code for r in children("420000")]
    assert "420100" in hubei and "429004" in hubei and "429000" not in hubei
    assert [r.code for r in children("610100")][:1] == ["610102"]
    assert children("999999") == []


# --- parse_place ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("北京市朝阳区", "110105"),
        ("陕西省西安市", "610100"),
        ("陕西西安", "610100"),
        ("北京", "110000"),
        ("北京市", "110000"),
        ("西安市雁塔区", "610113"),
        ("陕西西安雁塔", "610113"),
        ("内蒙古赤峰市敖汉旗", "150430"),
        ("广西南宁", "450100"),
        ("陕西省西安市雁塔区小寨路1号", "610113"),
        ("陕西省 西安市 雁塔区", "610113"),
        ("陕西　西安", "610100"),  # full-width space
        ("陕西·西安", "610100"),
        ("中国陕西省西安市", "610100"),
        ("西安", "610100"),  # a unique city short name, province left out
        ("西安市", "610100"),
        ("雁塔区", "610113"),  # a unique county full name
        ("北京朝阳", "110105"),
        ("上海浦东", "310115"),
        ("天津市滨海新区", "120116"),
        ("重庆万州", "500101"),
        ("重庆市城口县", "500229"),
        ("湖北仙桃", "429004"),
        ("仙桃市", "429004"),
        ("广东东莞", "441900"),
        ("新疆伊犁", "654000"),
        ("湖北省恩施州利川市", "422802"),
        ("吉林省吉林市", "220200"),
        ("吉林市", "220200"),
        ("吉林", "220000"),  # the province first
        ("海南", "460000"),  # not 海南藏族自治州
        ("海南州", "632500"),
        ("辽宁抚顺", "210400"),  # the city, not 抚顺县 with the city left out
        ("辽宁抚顺抚顺", "210421"),
        ("山东济南市中", "370103"),  # 济南 + 市中区
        ("甘肃省嘉峪关市", "620200"),
        ("宁夏银川", "640100"),
        ("西藏拉萨", "540100"),
        ("黑龙江哈尔滨", "230100"),
    ],
)
def test_parse_place(text, code):
    assert parse_place(text).code == code


def test_parse_place_ambiguous():
    error = parse_error("朝阳区")
    assert error.code == "place_ambiguous"
    (message,) = error.messages
    assert "北京市朝阳区" in message and "吉林省长春市朝阳区" in message
    assert parse_error("鼓楼区").code == "place_ambiguous"
    assert parse_error("甘肃临夏临夏").code == "place_ambiguous"  # 临夏市 or 临夏县


@pytest.mark.parametrize("text", ["火星", "伦敦", "xyz", "香港"])
def test_parse_place_unknown(text):
    error = parse_error(text)
    assert error.code == "place_unknown"
    assert f"“{text}”" in error.messages[0]


@pytest.mark.parametrize(("text", "city"), [("陕西省杭州市", "杭州"), ("陕西西按市", "西按市")])
def test_a_city_not_of_the_province_named_is_refused_as_such(text, city):
    """Not read as the province alone (which a mobility refuses as not naming a city)."""
    error = parse_error(text)
    assert error.code == "place_unknown"
    assert error.messages[0].startswith(f"陕西省没有“{city}”：请检查省和市是否对应")
    # A province with a street after it is still the province (and a city is asked for).
    assert parse_place("陕西省小寨街道").code == "610000"


@pytest.mark.parametrize("text", ["", "   ", None])
def test_parse_place_empty(text):
    assert parse_error(text).code == "place_unknown"


def test_every_region_parses_from_its_full_name():
    for region in regions._table().by_code.values():
        if region.is_pseudo:
            continue
        assert parse_place(full_name(region.code)) == region, region


def test_every_region_parses_from_short_names_unless_truly_ambiguous():
    def short(region):
        names = regions._short_names(region)
        return min(names, key=len) if names else region.name

    ambiguous = set()
    for region in regions._table().by_code.values():
        if region.is_pseudo or region.is_functional_zone:
            continue
        text = "".join(short(r) for r in regions._ancestry(region) if not r.is_pseudo)
        try:
            assert parse_place(text) == region, text
        except ValidationError as error:
            assert error.code == "place_ambiguous"
            ambiguous.add(text)
    # 临夏市/临夏县, 和田市/和田县, 伊宁市/伊宁县 share their short names.
    assert ambiguous == {"甘肃临夏临夏", "新疆和田和田", "新疆伊犁伊宁"}
