import datetime

import pytest

from branches.models import Organization
from branches.tests.factories import make_tree
from members import services
from members.models import Member, Mobility
from members.tests.factories import make_member
from portal.choices import Role
from portal.scoping import scope_for
from portal.tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    tree = make_tree()
    outside = make_tree()  # a second county: never visible to the first county's users
    m_village = make_member(home_org=tree["village"], name="东村甲")
    m_other = make_member(home_org=tree["other"], name="西村乙")
    m_far = make_member(home_org=outside["village"], name="外县丙")
    return {"tree": tree, "outside": outside, "village": m_village, "other": m_other, "far": m_far}


def names(qs):
    return sorted(qs.values_list("name", flat=True))


def test_county_admin_sees_the_county_only(world):
    user = make_user(Role.COUNTY_ADMIN, world["tree"]["root"])
    assert names(Member.objects.visible_to(user)) == ["东村甲", "西村乙"]
    orgs = set(Organization.objects.visible_to(user))
    assert world["tree"]["root"] in orgs and world["outside"]["root"] not in orgs


def test_branch_secretary_sees_the_branch_only(world):
    user = make_user(Role.BRANCH_SECRETARY, world["tree"]["village"])
    assert names(Member.objects.visible_to(user)) == ["东村甲"]
    assert list(Organization.objects.visible_to(user)) == [world["tree"]["village"]]


def test_functional_branch_sees_its_inflow_members_while_they_take_part(world):
    functional = world["tree"]["functional"]
    user = make_user(Role.BRANCH_SECRETARY, functional)
    assert names(Member.objects.visible_to(user)) == []
    services.member_register_outflow(
        member=world["far"],
        left_on=datetime.date(2025, 1, 1),
        destination_code="610113",
        inflow_org=functional,
    )
    assert names(Member.objects.visible_to(user)) == ["外县丙"]
    assert Mobility.objects.visible_to(user).count() == 1
    services.member_return(member=world["far"], returned_on=datetime.date(2025, 6, 1))
    assert names(Member.objects.visible_to(user)) == []


def test_auditor_and_anonymous_see_no_data(world):
    from django.contrib.auth.models import AnonymousUser

    auditor = make_user(Role.AUDITOR, None)
    for user in (auditor, AnonymousUser(), None):
        assert not Member.objects.visible_to(user).exists()
        assert not Organization.objects.visible_to(user).exists()


def test_inactive_user_sees_nothing(world):
    user = make_user(Role.COUNTY_ADMIN, world["tree"]["root"], is_active=False)
    assert not Member.objects.visible_to(user).exists()


def test_nested_assignments_collapse_and_scope_is_cached(world, django_assert_num_queries):
    user = make_user(Role.COUNTY_ADMIN, world["tree"]["root"])
    from portal.models import RoleAssignment

    RoleAssignment.objects.create(
        user=user, role=Role.BRANCH_SECRETARY, organization=world["tree"]["village"]
    )
    scope = scope_for(user)
    assert scope.org_paths == (world["tree"]["root"].path,)
    assert scope.can_write(world["tree"]["village"])
    assert not scope.can_write(world["outside"]["village"])
    with django_assert_num_queries(0):
        scope_for(user)
