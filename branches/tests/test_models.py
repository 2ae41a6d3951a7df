import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from branches.choices import BranchType, OrgKind
from branches.models import Organization
from branches.tests.factories import make_branch, make_committee, make_tree
from members.tests.factories import make_member

pytestmark = pytest.mark.django_db


def test_subtree_follows_materialized_path():
    tree = make_tree()
    codes = set(Organization.objects.subtree(tree["township"]).values_list("code", flat=True))
    assert codes == {tree["township"].code, tree["village"].code, tree["other"].code}
    assert tree["village"].depth == 2
    assert list(tree["village"].ancestors()) == [tree["root"], tree["township"]]


def test_group_must_sit_under_a_branch():
    tree = make_tree()
    org = Organization(code="G1", name="第一党小组", kind=OrgKind.GROUP, parent=tree["township"])
    with pytest.raises(ValidationError) as exc:
        org.full_clean()
    assert "党小组不能设在党委之下" in exc.value.message_dict["parent"][0]


def test_nothing_sits_under_a_group():
    tree = make_tree()
    group = Organization(code="G1", name="第一党小组", kind=OrgKind.GROUP, parent=tree["village"])
    group.full_clean()
    group.save()
    child = Organization(
        code="B9",
        name="错误党支部",
        kind=OrgKind.BRANCH,
        branch_type=BranchType.ESTABLISHED,
        parent=group,
    )
    with pytest.raises(ValidationError):
        child.full_clean()


def test_branch_needs_type_and_others_have_none():
    root = make_committee()
    org = Organization(code="X1", name="无类型支部", kind=OrgKind.BRANCH, parent=root)
    with pytest.raises(ValidationError) as exc:
        org.full_clean()
    assert "党支部必须选择支部类型" in str(exc.value)
    with transaction.atomic(), pytest.raises(IntegrityError):
        Organization.objects.create(code="X2", name="绕过校验", kind=OrgKind.BRANCH, parent=root)


def test_temporary_branch_needs_planned_end():
    root = make_committee()
    org = Organization(
        code="T1",
        name="项目临时党支部",
        kind=OrgKind.BRANCH,
        branch_type=BranchType.TEMPORARY,
        parent=root,
    )
    with pytest.raises(ValidationError) as exc:
        org.full_clean()
    assert "临时党支部必须填写计划撤销日期" in str(exc.value)


def test_only_established_and_joint_branches_hold_memberships():
    tree = make_tree()
    assert tree["village"].holds_memberships
    assert not tree["functional"].holds_memberships
    assert not tree["township"].holds_memberships
    joint = make_branch(parent=tree["township"], branch_type=BranchType.JOINT, name="联合党支部")
    assert joint.holds_memberships


def test_unknown_location_code_is_refused():
    root = make_committee()
    org = Organization(
        code="L1",
        name="驻某地党支部",
        kind=OrgKind.BRANCH,
        branch_type=BranchType.FUNCTIONAL,
        parent=root,
        location_code="999999",
    )
    with pytest.raises(ValidationError) as exc:
        org.full_clean()
    assert "行政区划代码 999999 不存在" in str(exc.value)


def test_practice_warnings():
    tree = make_tree()
    village = tree["village"]
    assert any("不足 3 名" in w for w in village.practice_warnings(full_members=2))
    warnings = village.practice_warnings(full_members=8)
    assert any("应设立支部委员会" in w for w in warnings)
    village.has_committee = True
    assert village.practice_warnings(full_members=8) == []
    temp = make_branch(
        parent=tree["root"],
        branch_type=BranchType.TEMPORARY,
        name="培训班临时党支部",
        established_on=datetime.date(2020, 1, 1),
        planned_end_on=datetime.date(2021, 1, 1),
    )
    assert any("已过计划撤销日期" in w for w in temp.practice_warnings(full_members=0))


def test_member_home_must_hold_memberships():
    tree = make_tree()
    with pytest.raises(ValidationError) as exc:
        make_member(home_org=tree["functional"])
    assert "只有建制型或联合党支部可以" in exc.value.message_dict["home_org"][0]


def test_a_change_of_kind_must_suit_the_organizations_below():
    """The kind rules hold from below too: a 党委 holding a 党总支 does not become a 党总支 (a
    党总支 under a 党总支); it may become a 党工委, which holds the same kinds."""
    tree = make_tree()
    township = tree["township"]
    for n in (1, 2):  # said once, however many there are
        Organization.objects.create(
            code=f"GB{n}", name=f"某党总支{n}", kind=OrgKind.GENERAL_BRANCH, parent=township
        )
    township.kind = OrgKind.GENERAL_BRANCH
    with pytest.raises(ValidationError) as exc:
        township.full_clean()
    assert exc.value.message_dict["kind"] == [
        "党总支之下不能设党总支，本组织下已有党总支，请先调整下级组织"
    ]
    township.kind = OrgKind.WORKING_COMMITTEE  # holds the same kinds as a 党委
    township.full_clean()


def test_nothing_is_set_up_or_moved_under_a_dissolved_organization():
    from branches import services

    tree = make_tree()
    closed = make_branch(parent=tree["township"], name="已撤销党支部")
    services.organization_dissolve(org=closed, dissolved_on=datetime.date(2024, 1, 1))
    closed.refresh_from_db()
    group = Organization(code="G1", name="第一党小组", kind=OrgKind.GROUP, parent=closed)
    with pytest.raises(ValidationError) as exc:
        group.full_clean()
    assert exc.value.message_dict["parent"] == [
        "上级组织“已撤销党支部”已撤销，不能在其下设立或调入组织"
    ]
    closed_committee = make_committee(parent=tree["root"], name="已撤销镇党委")
    services.organization_dissolve(org=closed_committee, dissolved_on=datetime.date(2024, 1, 1))
    closed_committee.refresh_from_db()
    with pytest.raises(ValidationError):
        services.organization_move(org=tree["village"], new_parent=closed_committee)
    # A dissolved organization is still corrected where it hangs.
    services.organization_update(org=closed, name="已撤销党支部（更正）")


def test_an_outside_organization_sits_in_a_city_not_a_province():
    """The rule an organization file applies to 所在地 holds for every write (a form, the
    services): a province alone is refused, a city, a county or a municipality is not."""
    from branches import services

    tree = make_tree()
    with pytest.raises(ValidationError) as exc:
        services.organization_create(
            code="OUT1", name="驻陕西党支部", kind=OrgKind.BRANCH, parent=tree["root"],
            branch_type=BranchType.FUNCTIONAL, location_code="610000",
        )  # fmt: skip
    assert exc.value.message_dict["location_code"] == ["所在地至少要填到地级市，如“陕西省西安市”"]
    with pytest.raises(ValidationError):
        services.organization_update(org=tree["functional"], location_code="610000")
    for code in ("610100", "610113", "110000"):
        services.organization_update(org=tree["functional"], location_code=code)


def test_an_organizations_phone_follows_the_templates_rules_whatever_writes_it():
    from branches import services

    tree = make_tree()
    with pytest.raises(ValidationError) as exc:
        services.organization_update(org=tree["township"], phone="0359-12")
    assert exc.value.message_dict["phone"] == [
        "联系电话 0359-12 格式不正确：手机号应为 11 位且以 13-19 开头，"
        "固定电话应为区号加号码（如 0359-1234567）"
    ]
    services.organization_update(org=tree["township"], phone="+86 138-0000-0000")
    tree["township"].refresh_from_db()
    assert tree["township"].phone == "13800000000"
