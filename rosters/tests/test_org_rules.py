"""Organization file rows (ROSTER-FORMAT.md, "Organization files"), through the service the
``import_orgs`` command runs: one row breaks one rule, the user sees one exact message, and
nothing is written."""

import pytest

from branches.models import Organization
from rosters.choices import ImportStatus
from rosters.services import organization_import

from .rosterdata import write_xlsx

pytestmark = pytest.mark.django_db

ORG_HEADERS = ["组织编码", "组织名称", "上级组织编码", "组织类别", "支部类型", "所在地",
               "成立日期", "计划撤销日期", "依托单位", "联系电话"]  # fmt: skip


def branch_row(**changes) -> dict[str, object]:
    """A valid row: a new 建制型 branch under the test tree's township."""
    row = dict.fromkeys(ORG_HEADERS, "")
    row.update({"组织编码": "N001", "组织名称": "解店镇南村党支部", "组织类别": "党支部",
                "支部类型": "建制型", "成立日期": "2010-07-01"})  # fmt: skip
    row.update(changes)
    return row


@pytest.fixture
def import_one(tmp_path, tree):
    """Import a one-row organization file; returns (record, [(column, value, reason)])."""

    def run(**changes):
        row = branch_row(上级组织编码=tree["township"].code, **changes)
        path = write_xlsx(tmp_path / "orgs.xlsx", [row], headers=ORG_HEADERS)
        before = Organization.objects.count()
        record = organization_import(source=path, filename=path.name)
        if record.errors:
            assert record.status == ImportStatus.REFUSED
            assert Organization.objects.count() == before
            assert {e[0] for e in record.errors} == {2}
        return record, [tuple(e[1:]) for e in record.errors]

    return run


def test_the_valid_row_is_imported(import_one):
    record, errors = import_one()
    assert (record.status, errors) == (ImportStatus.IMPORTED, [])
    assert Organization.objects.get(code="N001").name == "解店镇南村党支部"


def test_empty_code(import_one):
    assert import_one(组织编码="")[1] == [("组织编码", "", "请填写组织编码")]


def test_empty_name(import_one):
    assert import_one(组织名称="  ")[1] == [("组织名称", "", "请填写组织名称")]


def test_branch_type_not_in_the_list(import_one):
    assert import_one(支部类型="流动型")[1] == [
        ("支部类型", "流动型", "“流动型”不是有效的支部类型，应为：建制型、联合、功能型、临时")
    ]


def test_badly_spelled_dates(import_one):
    assert import_one(成立日期="2010年7月1号")[1] == [
        (
            "成立日期",
            "2010年7月1号",
            "无法识别的日期“2010年7月1号”：请写成 2019-07-01、2019/7/1、2019.07.01、"
            "2019年7月1日 或 20190701",
        )
    ]
    # Year and month alone is for the three member dates only, never for an organization's.
    assert import_one(支部类型="临时", 计划撤销日期="2027.06")[1] == [
        (
            "计划撤销日期",
            "2027.06",
            "无法识别的日期“2027.06”：请写成 2019-07-01、2019/7/1、2019.07.01、"
            "2019年7月1日 或 20190701",
        )
    ]
    assert import_one(支部类型="临时", 计划撤销日期="2027-02-30")[1] == [
        ("计划撤销日期", "2027-02-30", "日期“2027-02-30”不存在")
    ]


def test_bad_phone(import_one):
    assert import_one(联系电话="0359-12")[1] == [
        (
            "联系电话",
            "0359-12",
            "联系电话 0359-12 格式不正确：手机号应为 11 位且以 13-19 开头，"
            "固定电话应为区号加号码（如 0359-1234567）",
        )
    ]


def test_without_a_kind_the_name_says_it(tmp_path, tree):
    """组织类别 is optional: a name ending with a kind gives it; any other name is refused."""
    headers = ["组织编码", "组织名称", "上级组织编码", "支部类型"]
    rows = [
        {"组织编码": "N010", "组织名称": "解店镇党委", "上级组织编码": tree["root"].code},
        {"组织编码": "N011", "组织名称": "南村党支部", "上级组织编码": "N010",
         "支部类型": "建制型"},
        {"组织编码": "N012", "组织名称": "开发区党工委", "上级组织编码": tree["root"].code},
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "orgs.xlsx", rows, headers=headers)
    record = organization_import(source=path, filename=path.name)
    assert (record.status, record.errors) == (ImportStatus.IMPORTED, [])
    kinds = dict(Organization.objects.filter(code__startswith="N01").values_list("code", "kind"))
    assert kinds == {"N010": "committee", "N011": "branch", "N012": "working_committee"}


def test_without_a_kind_a_name_that_does_not_say_it_is_refused(import_one):
    assert import_one(组织类别="", 组织名称="中共解店镇委员会")[1] == [
        ("组织类别", "", "请填写组织类别（党委、党工委、党总支、党支部或党小组）：名称没有以它结尾")
    ]


def test_full_width_codes_are_folded(tmp_path, tree):
    """Codes typed with a Chinese input method's full-width letters and digits name the same
    organization as their half-width spelling, as in roster files: a parent is found, and the
    code stored is the one a roster names."""
    from rosters.validation import OrgDirectory

    township = tree["township"].code
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in township)
    path = write_xlsx(
        tmp_path / "orgs.xlsx", [branch_row(组织编码="Ｎ００１", 上级组织编码=full_width)],
        headers=ORG_HEADERS,
    )  # fmt: skip
    record = organization_import(source=path, filename=path.name)
    assert (record.status, record.errors) == (ImportStatus.IMPORTED, [])
    branch = Organization.objects.get(code="N001")
    assert branch.parent == tree["township"]
    assert OrgDirectory().find("N001") == branch
    again = organization_import(source=path, filename=path.name)
    assert (again.rows_created, again.rows_unchanged) == (0, 1)
