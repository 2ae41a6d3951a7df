import datetime

import pytest
from django.core.exceptions import ValidationError

from branches import services
from branches.choices import BranchType, OrgKind, OrgStatus
from branches.models import BranchTypeChange, Organization
from branches.tests.factories import make_branch, make_committee, make_tree
from members.tests.factories import make_member

pytestmark = pytest.mark.django_db


def test_functional_branch_converted_to_established_keeps_history():
    tree = make_tree()
    change = services.organization_change_branch_type(
        org=tree["functional"],
        to_type=BranchType.ESTABLISHED,
        changed_on=datetime.date(2019, 6, 1),
        reason="驻西安党支部由功能型转为建制型",
    )
    tree["functional"].refresh_from_db()
    assert tree["functional"].branch_type == BranchType.ESTABLISHED
    assert tree["functional"].holds_memberships
    history = list(tree["functional"].type_changes.values_list("from_type", "to_type"))
    assert history == [(BranchType.FUNCTIONAL, BranchType.ESTABLISHED)]
    assert change.changed_on == datetime.date(2019, 6, 1)


def test_update_refuses_silent_branch_type_change():
    tree = make_tree()
    with pytest.raises(ValidationError):
        services.organization_update(org=tree["functional"], branch_type=BranchType.ESTABLISHED)
    assert BranchTypeChange.objects.count() == 0


def test_established_branch_with_members_cannot_become_functional():
    tree = make_tree()
    make_member(home_org=tree["village"])
    with pytest.raises(ValidationError) as exc:
        services.organization_change_branch_type(org=tree["village"], to_type=BranchType.FUNCTIONAL)
    assert "仍有 1 名党员的组织关系" in exc.value.messages[0]
    tree["village"].refresh_from_db()
    assert tree["village"].branch_type == BranchType.ESTABLISHED
    assert BranchTypeChange.objects.count() == 0


def test_to_temporary_needs_planned_end_and_changes_nothing_on_failure():
    tree = make_tree()
    with pytest.raises(ValidationError):
        services.organization_change_branch_type(
            org=tree["functional"], to_type=BranchType.TEMPORARY
        )
    tree["functional"].refresh_from_db()
    assert tree["functional"].branch_type == BranchType.FUNCTIONAL
    assert BranchTypeChange.objects.count() == 0


def test_move_rewrites_paths_of_the_subtree():
    tree = make_tree()
    second = make_committee(parent=tree["root"], name="第二镇党委")
    group_parent = tree["village"]
    services.organization_move(org=tree["township"], new_parent=second)
    for org in (tree["township"], group_parent, tree["other"]):
        org.refresh_from_db()
        assert org.path.startswith(second.path)
        assert org.path == org.computed_path()[0]
        assert org.depth == org.path.count("/") - 2
    assert set(Organization.objects.subtree(second)) == {
        second,
        tree["township"],
        tree["village"],
        tree["other"],
    }


def test_move_under_own_descendant_is_refused():
    tree = make_tree()
    with pytest.raises(ValidationError):
        services.organization_move(org=tree["township"], new_parent=tree["township"])
    inner = make_committee(parent=tree["township"], name="下级党委")
    with pytest.raises(ValidationError):
        services.organization_move(org=tree["township"], new_parent=inner)


def test_dissolve_needs_empty_branch():
    tree = make_tree()
    make_member(home_org=tree["village"])
    with pytest.raises(ValidationError):
        services.organization_dissolve(org=tree["village"], dissolved_on=datetime.date(2026, 1, 1))
    temp = make_branch(parent=tree["root"], branch_type=BranchType.TEMPORARY, name="临时支部")
    services.organization_dissolve(org=temp, dissolved_on=datetime.date(2026, 1, 1))
    temp.refresh_from_db()
    assert temp.status == OrgStatus.DISSOLVED


def test_duplicate_code_is_refused_in_chinese():
    make_committee(code="DUP1")
    with pytest.raises(ValidationError) as exc:
        make_committee(code="DUP1")
    assert "组织编码" in exc.value.message_dict["code"][0]


def test_dissolution_date_is_neither_in_the_future_nor_before_establishment():
    tree = make_tree()
    temporary = make_branch(
        parent=tree["root"],
        branch_type=BranchType.TEMPORARY,
        established_on=datetime.date(2024, 3, 1),
    )
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as exc:
        services.organization_dissolve(org=temporary, dissolved_on=tomorrow)
    assert exc.value.message_dict["dissolved_on"] == ["撤销日期不能晚于今天"]
    with pytest.raises(ValidationError) as exc:
        services.organization_dissolve(org=temporary, dissolved_on=datetime.date(2024, 2, 1))
    assert "撤销日期不能早于成立日期" in exc.value.messages
    temporary.refresh_from_db()
    assert (temporary.status, temporary.dissolved_on) == (OrgStatus.ACTIVE, None)


def test_dissolving_an_inflow_organization_of_members_away_now_is_refused():
    """A functional branch whose members away now take part in its life is not dissolved out
    from under them: their registrations name another inflow organization first."""
    from members import services as member_services

    tree = make_tree()
    member = make_member(home_org=tree["village"])
    member_services.member_register_outflow(
        member=member,
        left_on=datetime.date(2025, 1, 1),
        destination_code="610113",
        inflow_org=tree["functional"],
    )
    with pytest.raises(ValidationError) as exc:
        services.organization_dissolve(
            org=tree["functional"], dissolved_on=datetime.date(2025, 6, 1)
        )
    assert exc.value.messages == ["该组织仍是 1 名流动党员的流入地党组织，请先修改其外出登记"]
    tree["functional"].refresh_from_db()
    assert tree["functional"].status == OrgStatus.ACTIVE
    member_services.member_return(member=member, returned_on=datetime.date(2025, 5, 1))
    services.organization_dissolve(org=tree["functional"], dissolved_on=datetime.date(2025, 6, 1))
    tree["functional"].refresh_from_db()
    assert tree["functional"].status == OrgStatus.DISSOLVED


def test_a_dissolved_branch_keeps_its_type_and_a_change_is_not_dated_ahead():
    tree = make_tree()
    services.organization_dissolve(org=tree["other"], dissolved_on=datetime.date(2025, 1, 1))
    with pytest.raises(ValidationError) as exc:
        services.organization_change_branch_type(org=tree["other"], to_type=BranchType.FUNCTIONAL)
    assert exc.value.messages == ["该组织已撤销，不能变更支部类型"]
    with pytest.raises(ValidationError) as exc:
        services.organization_change_branch_type(
            org=tree["functional"],
            to_type=BranchType.ESTABLISHED,
            changed_on=datetime.date.today() + datetime.timedelta(days=1),
        )
    assert exc.value.message_dict["changed_on"] == ["变更日期不能晚于今天"]
    tree["functional"].refresh_from_db()
    assert tree["functional"].branch_type == BranchType.FUNCTIONAL
    assert not BranchTypeChange.objects.exists()


def test_an_organization_changed_since_the_form_was_opened_is_not_saved_over():
    village = make_tree()["village"]
    opened_on = village.updated_at
    services.organization_update(org=village, host_unit="导入写入的单位")
    with pytest.raises(ValidationError) as exc:
        services.organization_update(org=village, version=opened_on, host_unit="旧页面的单位")
    assert "该组织的信息已在您打开此页后被修改" in exc.value.messages[0]
    village.refresh_from_db()
    assert village.host_unit == "导入写入的单位"
    services.organization_update(org=village, version=village.updated_at, phone="0359-5123456")
    village.refresh_from_db()
    assert (village.host_unit, village.phone) == ("导入写入的单位", "0359-5123456")


def test_a_branch_does_not_become_another_kind_nor_another_kind_a_branch():
    tree = make_tree()
    with pytest.raises(ValidationError) as exc:
        services.organization_update(org=tree["village"], kind=OrgKind.COMMITTEE)
    assert exc.value.message_dict["kind"] == [
        "党支部与其他类别的组织不能直接互相转换（党支部不能改为党委）："
        "请新设组织，转移党员和下级组织后撤销原组织"
    ]
    with pytest.raises(ValidationError) as exc:
        services.organization_update(org=tree["township"], kind=OrgKind.BRANCH)
    assert "党委不能改为党支部" in exc.value.message_dict["kind"][0]
    services.organization_update(org=tree["township"], kind=OrgKind.WORKING_COMMITTEE)
