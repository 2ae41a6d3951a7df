"""Roster rows against ROSTER-FORMAT.md (rosters/validation.py): one test per rule it states."""

import datetime
import functools

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branches.choices import BranchType
from branches.tests.factories import make_branch
from members.models import Member, Mobility
from rosters import services
from rosters.choices import ImportStatus
from rosters.readers import open_table
from rosters.schema import MEMBER_SCHEMA, parse_date
from rosters.validation import (
    MEMBER_CONSTRAINTS,
    MOBILITY_CONSTRAINTS,
    MemberRows,
    OrgDirectory,
    plus_years,
)

from .rosterdata import id_number, member_row

pytestmark = pytest.mark.django_db
TODAY = datetime.date.today()
KEY = {column.header: column.key for column in MEMBER_SCHEMA.columns}


@pytest.fixture
def validator(tree):
    return MemberRows(
        headers={}, present={c.key for c in MEMBER_SCHEMA.columns}, orgs=OrgDirectory()
    )


@pytest.fixture
def check(validator, tree):
    """Validate one row (changes to a valid row); returns (clean row, {column: reason})."""
    counter = iter(range(10_000))

    def run(**changes):
        row = member_row(next(counter), home=tree["village"].code, **changes)
        clean, problems = validator.check(2, {KEY[h]: v for h, v in row.items()})
        return clean, {p.column: p.reason for p in problems}

    return run


def reason(check, **changes) -> dict[str, str]:
    clean, problems = check(**changes)
    assert clean is None
    return problems


def test_a_valid_row(check, tree):
    clean, problems = check()
    assert problems == {}
    assert clean.home_org_id == tree["village"].pk
    assert clean.member_type == "full"
    assert clean.destination_code == "610113"


# --- 姓名 --------------------------------------------------------------------------------------


def test_name(check):
    assert reason(check, 姓名="") == {"姓名": "请填写姓名"}
    assert reason(check, 姓名="张") == {"姓名": "姓名至少 2 个字"}
    assert reason(check, 姓名="张" * 31) == {"姓名": "姓名最多 30 个字，这里有 31 个字"}
    assert check(姓名=" 张　三 ")[0].name == "张三"


# --- 性别, 出生日期: must agree with the ID number -------------------------------------------


def test_gender_and_birth_date_agree_with_the_id_number(check):
    female = id_number(5, birth=datetime.date(1980, 5, 6), male=False)
    dates = {"入党日期": "2005-07-01", "转正日期": "2006-07-01"}
    check = functools.partial(check, **dates)
    assert reason(check, 公民身份号码=female, 出生日期="", 性别="男") == {
        "性别": "性别“男”与身份证号不符（身份证号显示为女）"
    }
    other = id_number(7, birth=datetime.date(1980, 5, 6), male=False)
    assert reason(check, 公民身份号码=other, 出生日期="1980-05-07", 性别="女") == {
        "出生日期": "出生日期 1980-05-07 与身份证号中的 1980-05-06 不符"
    }
    clean, _problems = check(公民身份号码=id_number(6, birth=datetime.date(1980, 5, 6), male=False),
                            出生日期="", 性别="")  # fmt: skip
    assert (clean.gender, clean.birth_date) == ("female", datetime.date(1980, 5, 6))
    assert "性别" in reason(check, 性别="M")


# --- 民族, 学历, 党员类型, 外出原因: closed lists ----------------------------------------------


def test_closed_lists(check):
    assert check(民族="汉")[0].ethnicity == "汉族"
    assert check(民族="回族")[0].ethnicity == "回族"
    assert reason(check, 民族="汉人")["民族"].startswith("“汉人”不是有效的民族，应为：汉族、蒙古族")
    assert check(学历="本科")[0].education == "bachelor"
    assert check(学历="")[0].education == ""
    assert reason(check, 学历="文盲")["学历"].startswith("“文盲”不是有效的学历")
    assert check(党员类型="正式")[0].member_type == "full"
    assert reason(check, 党员类型="积极分子")["党员类型"].startswith("“积极分子”不是有效的党员类型")
    assert reason(check, 党员类型="") == {"党员类型": "请填写党员类型（正式党员或预备党员）"}
    assert check(外出原因="经商")[0].reason == "business"
    assert reason(check, 外出原因="旅游")["外出原因"].startswith("“旅游”不是有效的外出原因")


# --- 公民身份号码 ------------------------------------------------------------------------------

VALID_ID = "11010519491231002X"


@pytest.mark.parametrize(
    "typed",
    ["11010519491231002x", "１１０１０５１９４９１２３１００２Ｘ", "'11010519491231002X",
     "110105 1949 1231 002X", "\u200b11010519491231002X", "110105491231002"],
)  # fmt: skip
def test_id_numbers_as_people_type_them(check, typed):
    clean, problems = check(公民身份号码=typed, 性别="女", 出生日期="")
    assert problems == {}
    assert clean.id_number == VALID_ID


@pytest.mark.parametrize("damaged", [110105194912310000.0, 1.10105e17, "1.10105E+17",
                                     "110105194912310000"])  # fmt: skip
def test_id_numbers_excel_turned_into_numbers(check, damaged):
    assert reason(check, 公民身份号码=damaged) == {
        "公民身份号码": "身份证号被 Excel 转成了数字，后几位已丢失，请将该列设置为文本格式后重新填写"  # noqa: E501
    }


def test_id_number_check_character_and_birth_date(check):
    assert reason(check, 公民身份号码="110105194912310021") == {
        "公民身份号码": "身份证号校验位错误：最后一位应为 X，实际为 1"
    }
    assert reason(check, 公民身份号码="110105194902300021")["公民身份号码"].startswith(
        "身份证号中的出生日期 19490230 不是有效日期"
    )
    assert reason(check, 公民身份号码="")["公民身份号码"] == "请填写公民身份号码"


def test_a_second_row_with_the_same_number_names_the_first(validator, tree):
    row = member_row(1, home=tree["village"].code)
    raw = {KEY[h]: v for h, v in row.items()}
    assert validator.check(2, raw)[1] == []
    clean, problems = validator.check(9, {**raw, "id_number": raw["id_number"].lower()})
    assert clean is None
    assert [(p.row, p.column, p.reason) for p in problems] == [
        (9, "公民身份号码", "与第 2 行的公民身份号码重复")
    ]


# --- 联系电话 ----------------------------------------------------------------------------------


def test_phones(check):
    assert check(联系电话="+86 138-0013-8000")[0].phone == "13800138000"
    assert check(联系电话="0086 13800138000")[0].phone == "13800138000"
    assert check(联系电话=13800138000.0)[0].phone == "13800138000"
    assert check(联系电话="0359－1234567")[0].phone == "0359-1234567"
    assert reason(check, 联系电话="12345")["联系电话"].startswith("联系电话 12345 格式不正确")
    assert reason(check, 联系电话="") == {"联系电话": "请填写联系电话"}


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["2010-07-01", "2010/7/1", "2010.07.01", "2010年7月1日", "20100701", "２０１０年７月１日",
     datetime.date(2010, 7, 1), datetime.datetime(2010, 7, 1)],
)  # fmt: skip
def test_date_spellings(check, typed):
    assert check(入党日期=typed, 转正日期="2011-07-01")[0].joined_on == datetime.date(2010, 7, 1)


@pytest.mark.parametrize("typed", ["2010.07", "2010年7月", "201007", "2010-7"])
def test_year_and_month_for_the_three_dates(check, typed):
    clean, problems = check(入党日期=typed, 转正日期=typed.replace("2010", "2011"), 外出日期=typed)
    assert problems == {}
    assert clean.joined_on == clean.left_on == datetime.date(2010, 7, 1)
    assert clean.converted_on == datetime.date(2011, 7, 1)


def test_year_and_month_is_not_a_birth_date(check):
    assert reason(check, 出生日期="1985.03")["出生日期"].startswith("无法识别的日期“1985.03”")


@pytest.mark.parametrize("typed", ["07/01/2010", "2010-13-01", "2010-02-30", "43647", 43647.0,
                                   "2010年", "去年七月", "0210-07-01"])  # fmt: skip
def test_anything_else_is_an_error_never_a_guess(check, typed):
    problems = reason(check, 入党日期=typed)
    assert set(problems) == {"入党日期"}


# --- 入党日期, 转正日期: party rules -----------------------------------------------------------


def test_joining_before_eighteen(check):
    birth = datetime.date(1990, 6, 15)
    number = id_number(7, birth=birth)
    problems = reason(check, 公民身份号码=number, 出生日期="", 入党日期="2008-06-14",
                      转正日期="2009-06-14")  # fmt: skip
    assert problems == {"入党日期": "入党时未满 18 周岁（出生于 1990-06-15）"}
    assert check(公民身份号码=id_number(8, birth=birth), 出生日期="", 入党日期="2008-06-15",
                 转正日期="2009-06-15")[1] == {}  # fmt: skip


def test_dates_not_in_the_future(check):
    future = TODAY + datetime.timedelta(days=3)
    assert reason(check, 外出日期=future.isoformat()) == {"外出日期": "外出日期不能晚于今天"}
    assert "入党日期不能晚于今天" in reason(check, 入党日期=future.isoformat())["入党日期"]


def test_no_one_leaves_before_being_born(check):
    """Mobility.clean's rule, which the pages and services apply too (member_row births are
    in 1950); the ID number's birth date counts, not a mistyped 出生日期 (reported alone)."""
    problems = reason(check, 外出日期="1940-01-01")
    assert list(problems) == ["外出日期"]
    assert problems["外出日期"].startswith("外出日期不能早于出生日期 1950-01-")
    problems = reason(check, 外出日期="1960-01-01", 出生日期="1965-01-01")
    assert list(problems) == ["出生日期"]


def test_conversion_rules(check):
    mismatch = {"转正日期": "正式党员须填写转正日期，预备党员不填转正日期"}
    assert reason(check, 转正日期="") == mismatch
    assert reason(check, 党员类型="预备党员") == mismatch
    assert check(党员类型="预备党员", 转正日期="")[1] == {}
    window = "转正日期应在入党日期后 1 至 2 年之间（入党日期 %s）"
    clean, _p = check()
    joined = clean.joined_on
    for converted in (
        joined + datetime.timedelta(days=364),
        plus_years(joined, 2) + datetime.timedelta(days=1),
    ):
        assert reason(check, 转正日期=converted.isoformat()) == {"转正日期": window % joined}
    assert check(转正日期=plus_years(joined, 2).isoformat())[1] == {}
    assert check(转正日期=plus_years(joined, 1).isoformat())[1] == {}
    # A year is a calendar year: 365 days after 2019-07-01 is 2020-06-30, a day short.
    early = {"入党日期": "2019-07-01", "转正日期": "2020-06-30"}
    assert reason(check, **early) == {"转正日期": window % datetime.date(2019, 7, 1)}
    assert check(入党日期="2019-07-01", 转正日期="2020-07-01")[1] == {}


def test_a_rule_broken_by_a_year_and_month_says_it_was_read_as_the_first(check):
    # 1993.03 for someone who turned 18 on 20 March 1993 is read as 1 March: the message says
    # so, or the user, who wrote no day, cannot see why March 1993 is "under 18".
    number = id_number(9, birth=datetime.date(1975, 3, 20))
    problems = reason(check, 公民身份号码=number, 出生日期="", 入党日期="1993.03",
                      转正日期="1994-03-25")  # fmt: skip
    assert problems == {
        "入党日期": "入党时未满 18 周岁（出生于 1975-03-20）；“1993.03”只写了年月，"
        "按 1993-03-01 计算，请填写完整日期"
    }
    problems = reason(check, 入党日期="2000-07-15", 转正日期="2001年7月")
    assert problems == {
        "转正日期": "转正日期应在入党日期后 1 至 2 年之间（入党日期 2000-07-15）；"
        "“2001年7月”只写了年月，按 2001-07-01 计算，请填写完整日期"
    }
    # A full date breaking the rule is reported as before.
    assert reason(check, 入党日期="2000-07-15", 转正日期="2001-07-01") == {
        "转正日期": "转正日期应在入党日期后 1 至 2 年之间（入党日期 2000-07-15）"
    }


# --- 组织关系所在党组织 ------------------------------------------------------------------------


def test_home_organization(check, tree):
    assert check(组织关系所在党组织=tree["other"].name)[0].home_org_id == tree["other"].pk
    assert reason(check, 组织关系所在党组织="XYZ") == {
        "组织关系所在党组织": "系统中没有编码或全称为“XYZ”的党组织"
    }
    assert reason(check, 组织关系所在党组织=tree["functional"].code) == {
        "组织关系所在党组织": "“驻西安党支部”不能接收党员组织关系：只有建制型或联合党支部可以"
    }
    assert (
        "不能接收党员组织关系"
        in reason(check, 组织关系所在党组织=tree["township"].code)["组织关系所在党组织"]
    )
    temporary = make_branch(
        parent=tree["township"], branch_type=BranchType.TEMPORARY, name="项目临时党支部"
    )
    rows = MemberRows(headers={}, present=set(), orgs=OrgDirectory())
    row = member_row(99, home=temporary.code)
    _clean, problems = rows.check(3, {KEY[h]: v for h, v in row.items()})
    assert problems[0].reason == "“项目临时党支部”不能接收党员组织关系：只有建制型或联合党支部可以"


def test_a_shared_name_needs_the_code(tree):
    make_branch(parent=tree["root"], name="东村党支部")
    rows = MemberRows(headers={}, present=set(), orgs=OrgDirectory())
    row = member_row(3, home="东村党支部")
    _clean, problems = rows.check(4, {KEY[h]: v for h, v in row.items()})
    assert problems[0].reason.startswith("有 2 个党组织名为“东村党支部”，请改填组织编码")


# --- 流入地, 流入地党组织 ----------------------------------------------------------------------


def test_destination(check):
    assert check(流入地="陕西西安")[0].destination_code == "610100"
    assert check(流入地="北京市朝阳区")[0].destination_code == "110105"
    assert reason(check, 流入地="陕西省") == {"流入地": "流入地至少要填到地级市"}
    assert reason(check, 流入地="火星")["流入地"].startswith("无法识别地点“火星”")
    assert reason(check, 流入地="") == {"流入地": "请填写流入地（省、市，如“陕西省西安市”）"}


def test_inflow_organization_is_ours_or_free_text(check, tree):
    clean, _p = check(流入地党组织=tree["functional"].code)
    assert (clean.inflow_org_id, clean.inflow_org_name) == (tree["functional"].pk, "")
    clean, _p = check(流入地党组织="西安市雁塔区流动党员党支部")
    assert (clean.inflow_org_id, clean.inflow_org_name) == (None, "西安市雁塔区流动党员党支部")
    # A code typed in lower case is still the code, not a free-text name.
    clean, _p = check(流入地党组织=tree["functional"].code.lower())
    assert (clean.inflow_org_id, clean.inflow_org_name) == (tree["functional"].pk, "")


def test_an_organization_code_in_the_wrong_case_names_it_when_unambiguous(tree):
    def home_of(code):
        rows = MemberRows(headers={}, present=set(), orgs=OrgDirectory())
        clean, _problems = rows.check(4, {KEY[h]: v for h, v in member_row(3, home=code).items()})
        return clean and clean.home_org_id

    assert home_of(tree["village"].code.lower()) == tree["village"].pk
    # Two codes differing only in case: a third spelling names neither; each exact one its own.
    upper = make_branch(parent=tree["root"], code="XB01", name="西坡党支部")
    mixed = make_branch(parent=tree["root"], code="Xb01", name="西坡二党支部")
    assert home_of("xb01") is None
    assert (home_of("XB01"), home_of("Xb01")) == (upper.pk, mixed.pk)


def test_free_text_lengths_and_the_formula_escape(check):
    assert reason(check, 详细地址="路" * 201) == {
        "详细地址": "详细地址最多 200 个字，这里有 201 个字"
    }
    assert check(备注="'=SUM(A1)")[0].remarks == "=SUM(A1)"
    assert check(备注="'正常")[0].remarks == "'正常"


def test_problems_name_the_column_as_the_file_heads_it(tree):
    rows = MemberRows(headers={"phone": "手机"}, present={"phone"}, orgs=OrgDirectory())
    row = member_row(1, home=tree["village"].code, 联系电话="123")
    _clean, problems = rows.check(5, {KEY[h]: v for h, v in row.items()})
    assert [(p.row, p.column, p.value) for p in problems] == [(5, "手机", "123")]


# --- no query per row; the restated rules never accept what the models refuse ------------------


def test_validation_runs_no_query_per_row(tree, django_assert_num_queries):
    orgs = OrgDirectory()
    rows = [member_row(i, home=tree["village"].code) for i in range(200)]
    rows[5]["姓名"] = "张"  # a row the models judge
    rows[9]["组织关系所在党组织"] = tree["functional"].name
    with django_assert_num_queries(0):
        validator = MemberRows(headers={}, present=set(), orgs=orgs)
        results = [
            validator.check(i, {KEY[h]: v for h, v in row.items()}) for i, row in enumerate(rows)
        ]
    assert sum(1 for clean, _p in results if clean is None) == 2


def test_every_model_constraint_is_restated():
    assert set(MEMBER_CONSTRAINTS) == {c.name for c in Member._meta.constraints}
    assert set(MOBILITY_CONSTRAINTS) == {c.name for c in Mobility._meta.constraints}


def _dates(low: datetime.date, high: datetime.date):
    return st.dates(min_value=low, max_value=high)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    birth=_dates(datetime.date(1940, 1, 1), datetime.date(2008, 12, 31)),
    join_age_days=st.integers(min_value=365 * 17, max_value=365 * 19 + 5),
    probation_days=st.one_of(st.none(), st.integers(min_value=360, max_value=740)),
    full=st.booleans(),
    male=st.booleans(),
    gender_given=st.sampled_from(["", "same", "other"]),
    birth_given=st.sampled_from(["", "same", "other"]),
    name=st.sampled_from(["张", "张三", "欧阳建国"]),
    left_days_after_birth=st.one_of(st.none(), st.integers(min_value=-3, max_value=3)),
)  # fmt: skip
def test_the_fast_rules_never_accept_what_the_models_refuse(
    validator, birth, join_age_days, probation_days, full, male, gender_given, birth_given, name,
    left_days_after_birth,
):  # fmt: skip
    """_rules_hold is the models' rules restated: when it says a row is valid, the models'
    full_clean() and constraints must agree (see the module docstring of validation.py)."""
    joined = birth + datetime.timedelta(days=join_age_days)
    converted = joined + datetime.timedelta(days=probation_days) if probation_days else None
    number = id_number(0, birth=birth, male=male)
    id_gender = "male" if male else "female"
    v = {
        "name": name,
        "gender": {"": "", "same": id_gender, "other": "female" if male else "male"}[gender_given],
        "birth_date": {"": None, "same": birth, "other": birth + datetime.timedelta(days=1)}[
            birth_given
        ],
        "id_number": number,
        "member_type": "full" if full else "probationary",
        "joined_on": joined,
        "converted_on": converted,
        "left_on": TODAY - datetime.timedelta(days=30)
        if left_days_after_birth is None
        else birth + datetime.timedelta(days=left_days_after_birth),
        "home_org": validator.orgs.by_code[next(iter(validator.orgs.by_code))],
        "ethnicity": "",
        "education": "",
        "phone": "13800138000",
        "remarks": "",
        "reason": "",
        "destination": "610100",
        "destination_address": "",
        "employer": "",
        "inflow_org": (None, ""),
        "certificate_no": "",
        "contact_person": "",
    }
    home = next(o for o in validator.orgs.orgs if o.holds_memberships)
    v["home_org"] = home
    if validator._rules_hold(v, v["gender"], v["birth_date"], id_gender, birth):
        values = validator._model_values(v, id_gender, birth)
        assert validator._model_problems(values, {}) == []


# --- required cells left empty ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("入党日期", "请填写入党日期"),
        ("外出日期", "请填写外出日期"),
        ("组织关系所在党组织", "请填写组织关系所在党组织（组织编码或全称）"),
    ],
)
@pytest.mark.parametrize("empty", ["", "  ", None])
def test_required_cells_left_empty(check, header, message, empty):
    assert reason(check, **{header: empty}) == {header: message}


def test_a_row_with_empty_required_cells_writes_nothing(roster_file, rows, counts):
    rows[1]["入党日期"] = ""
    rows[3]["外出日期"] = None
    rows[4]["组织关系所在党组织"] = ""
    record = services.roster_import(source=roster_file(rows), filename="r.xlsx")
    assert record.status == ImportStatus.REFUSED
    assert counts() == (0, 0)
    assert record.errors == [
        [3, "入党日期", "", "请填写入党日期"],
        [5, "外出日期", "", "请填写外出日期"],
        [6, "组织关系所在党组织", "", "请填写组织关系所在党组织（组织编码或全称）"],
    ]


# --- 2019.1 is January or October (2019.10 in a number cell, stored as 2019.1) ---------------

AMBIGUOUS = (
    "日期“2019.1”分不清是 2019 年 1 月还是 10 月（Excel 会把 2019.10 存成 2019.1）："
    "请写成 2019-01 或 2019-10，或把单元格设为文本后写成 2019.01 或 2019.10"
)


@pytest.mark.parametrize("typed", [2019.1, "2019.1", "２０１９．１"])
def test_the_month_2019_1_is_refused_as_a_number_or_as_text(typed):
    """As text too: a CSV cannot tell the text 2019.1 from Excel's number 2019.10."""
    with pytest.raises(ValidationError) as info:
        parse_date(typed, allow_month=True)
    assert info.value.messages == [AMBIGUOUS]


@pytest.mark.parametrize(
    ("typed", "month"),
    [("2019.01", 1), (2019.07, 7), (201910, 10), (201910.0, 10), (2019.11, 11), ("2019.10", 10),
     ("2019/1", 1), ("2019年1月", 1)],
)  # fmt: skip
def test_months_that_are_not_ambiguous(typed, month):
    assert parse_date(typed, allow_month=True) == datetime.date(2019, month, 1)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_party_date_before_the_party_is_refused_with_the_likely_cause(
    roster_file, tree, counts, fmt
):
    """2024.03 typed into a date-formatted cell is the number 2024.03: the day 1905-07-16."""
    left = datetime.datetime(1905, 7, 16, 0, 43, 12) if fmt == "xlsx" else "1920-12-31"
    rows = [member_row(0, home=tree["village"].code, 外出日期=left)]
    record = services.roster_import(source=roster_file(rows, fmt), filename=f"r.{fmt}")
    assert record.status == ImportStatus.REFUSED
    ((row, column, _value, reason),) = record.errors
    assert (row, column) == (2, "外出日期")
    day = "1905-07-16" if fmt == "xlsx" else "1920-12-31"
    assert reason.startswith(f"外出日期“{day}”早于建党之日（1921 年 7 月 1 日）")
    # The Excel hint only where Excel made the date: text was typed as it reads.
    assert ("Excel" in reason) == (fmt == "xlsx")
    assert counts() == (0, 0)


def test_a_mistyped_birth_date_is_reported_alone(roster_file, tree):
    """The ID number says when the member was born: a 出生日期 typed wrong is one problem, and
    a 入党日期 good for the ID's birth date is not reported against the mistyped one."""
    row = member_row(0, home=tree["village"].code)
    born = datetime.date.fromisoformat(
        f"{row['公民身份号码'][6:10]}-{row['公民身份号码'][10:12]}-{row['公民身份号码'][12:14]}"
    )
    row["出生日期"] = (born + datetime.timedelta(days=366 * 10)).isoformat()
    record = services.roster_import(source=roster_file([row], "csv"), filename="r.csv")
    assert [(e[1], e[3].split(" ")[0]) for e in record.errors] == [("出生日期", "出生日期")]


@pytest.mark.parametrize("typed", ["2010 1 1", "2019 07 01", "2019 7", "2019年7月 1 2日"])
@pytest.mark.parametrize("allow_month", [True, False])
def test_digits_set_apart_by_spaces_are_no_date(typed, allow_month):
    """Read without its spaces, 2010 1 1 would be the month 201011: November 2010."""
    with pytest.raises(ValidationError) as info:
        parse_date(typed, allow_month=allow_month)
    assert info.value.messages[0].startswith(f"无法识别的日期“{typed}”")


@pytest.mark.parametrize(
    "typed", [" 2019-07-01 ", "2019 - 07 - 01", "2019年 7月 1日", "2019年\u30007月1日"]
)
def test_spaces_beside_the_separators_of_a_date_are_ignored(typed):
    assert parse_date(typed) == datetime.date(2019, 7, 1)


@pytest.mark.parametrize("fmt", ["xlsx", "xls"])
@pytest.mark.parametrize("header", ["入党日期", "外出日期"])
def test_a_spreadsheet_number_2019_1_in_a_month_column(roster_file, tree, counts, fmt, header):
    """The number reaches the whole-row check as the spreadsheet stored it, and the import
    names the row and column and writes nothing."""
    changes = {header: 2019.1}
    if header == "入党日期":
        changes["转正日期"] = "2020-10-01"
    rows = [member_row(0, home=tree["village"].code), member_row(1, home=tree["village"].code,
                                                                **changes)]  # fmt: skip
    path = roster_file(rows, fmt)
    with open_table(path, filename=path.name, schema=MEMBER_SCHEMA) as table:
        raw = [table.values(cells) for _n, cells in table.rows]
    validator = MemberRows(headers={}, present=set(raw[1]), orgs=OrgDirectory())
    assert validator.check(2, raw[0])[1] == []
    clean, problems = validator.check(3, raw[1])
    assert clean is None
    assert [(p.row, p.column, p.value, p.reason) for p in problems] == [
        (3, header, "2019.1", AMBIGUOUS)
    ]
    record = services.roster_import(source=path, filename=path.name)
    assert record.status == ImportStatus.REFUSED
    assert counts() == (0, 0)
    assert record.errors == [[3, header, "2019.1", AMBIGUOUS]]


def test_spreadsheet_numbers_and_text_that_are_plain_months(roster_file, tree, counts):
    home = tree["village"].code
    rows = [
        member_row(0, home=home, 入党日期=2019.07, 转正日期="2020-07-01", 外出日期=201910),
        member_row(1, home=home, 入党日期="2019.01", 转正日期="2020-01-01", 外出日期=2019.07),
    ]
    record = services.roster_import(source=roster_file(rows, "xlsx"), filename="r.xlsx")
    assert record.status == ImportStatus.IMPORTED, record.errors
    assert counts() == (2, 2)
    first = Member.objects.by_id_number(rows[0]["公民身份号码"]).get()
    second = Member.objects.by_id_number(rows[1]["公民身份号码"]).get()
    assert first.joined_on == datetime.date(2019, 7, 1)
    assert first.mobilities.get().left_on == datetime.date(2019, 10, 1)
    assert second.joined_on == datetime.date(2019, 1, 1)
    assert second.mobilities.get().left_on == datetime.date(2019, 7, 1)


def test_a_dissolved_inflow_organization_is_refused_as_the_service_refuses_it(tree):
    from branches import services as org_services

    org_services.organization_dissolve(
        org=tree["functional"], dissolved_on=datetime.date(2025, 1, 1)
    )
    rows = MemberRows(
        headers={}, present={c.key for c in MEMBER_SCHEMA.columns}, orgs=OrgDirectory()
    )
    row = member_row(1, home=tree["village"].code, 流入地党组织=tree["functional"].code)
    clean, problems = rows.check(2, {KEY[h]: v for h, v in row.items()})
    assert clean is None
    assert {p.column: p.reason for p in problems} == {
        "流入地党组织": f"“{tree['functional'].name}”已撤销，不能作为流入地党组织"
    }
