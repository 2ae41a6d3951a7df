"""The organization pages: the scoped tree with member counts, and one organization's detail."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.urls import reverse

from branches import services
from branches.choices import BranchType
from branches.tests.factories import make_branch, make_committee, make_tree
from branches.views import OrganizationTreeView, walk
from members.choices import MemberType
from members.services import member_register_outflow
from members.tests.factories import make_member
from portal.choices import Role
from portal.models import RoleAssignment
from portal.scoping import forget_scope

pytestmark = pytest.mark.django_db

# Queries of the tree view, whatever the size of the tree: the user's role assignments, the
# organizations, the grouped member counts. (Middleware adds its own: session, user, ...)
TREE_QUERIES = 3


def make_user(username, role=None, org=None):
    user = User.objects.create_user(username=username, password="Portal-test-2026")
    if role:
        RoleAssignment.objects.create(user=user, role=role, organization=org)
    return user


@pytest.fixture
def county():
    tree = make_tree()
    tree["neighbour"] = make_committee(name="邻县县委")
    tree["neighbour_branch"] = make_branch(parent=tree["neighbour"], name="邻村党支部")
    for name in ("甲", "乙"):
        make_member(home_org=tree["village"], name=f"东村{name}")
    for name in ("甲", "乙", "丙"):
        make_member(home_org=tree["other"], name=f"西村{name}")
    make_member(home_org=tree["other"], name="西村预备", member_type=MemberType.PROBATIONARY)
    make_member(home_org=tree["neighbour_branch"], name="邻村甲")
    return tree


@pytest.fixture
def users(county):
    return {
        "county": make_user("county", Role.COUNTY_ADMIN, county["root"]),
        "township": make_user("township", Role.COMMITTEE_STAFF, county["township"]),
        "secretary": make_user("secretary", Role.BRANCH_SECRETARY, county["village"]),
        "functional": make_user("functional", Role.BRANCH_SECRETARY, county["functional"]),
        "auditor": make_user("auditor", Role.AUDITOR),
    }


VISIBLE_ORGS = {
    "county": {"root", "township", "village", "other", "functional"},
    "township": {"township", "village", "other"},
    "secretary": {"village"},
    "functional": {"functional"},
}
ALL_ORGS = {"root", "township", "village", "other", "functional", "neighbour", "neighbour_branch"}


def html(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("role", sorted(VISIBLE_ORGS))
def test_tree_shows_exactly_the_visible_organizations(client, county, users, role):
    client.force_login(users[role])
    page = html(client.get(reverse("branches:tree")))
    for key in ALL_ORGS:
        assert (county[key].name in page) == (key in VISIBLE_ORGS[role]), (role, key)


@pytest.mark.parametrize("role", sorted(VISIBLE_ORGS))
def test_org_detail_is_404_out_of_scope(client, county, users, role):
    client.force_login(users[role])
    for key in ALL_ORGS:
        response = client.get(reverse("branches:detail", args=[county[key].pk]))
        assert response.status_code == (200 if key in VISIBLE_ORGS[role] else 404), (role, key)


def test_tree_counts_members_of_each_subtree(client, county, users):
    client.force_login(users["county"])
    response = client.get(reverse("branches:tree"))
    (root,) = response.context["roots"]
    assert root.org == county["root"]
    by_name = {n.org.name: n for n in walk([root])}
    assert by_name["东村党支部"].subtree_members == 2
    assert by_name["西村党支部"].subtree_members == 4
    assert by_name["测试镇党委"].subtree_members == 6
    assert by_name["驻西安党支部"].subtree_members == 0
    assert root.subtree_members == 6  # the neighbouring county's member is not counted
    assert response.context["member_count"] == 6
    page = html(response)
    assert "<details" in page and "<summary>" in page


def test_tree_roots_are_the_top_visible_organizations(client, county, users):
    client.force_login(users["township"])
    roots = client.get(reverse("branches:tree")).context["roots"]
    assert [n.org for n in roots] == [county["township"]]
    assert {c.org.name for c in roots[0].children} == {"东村党支部", "西村党支部"}


def _render_tree(user):
    """The view alone, without middleware: its own queries only."""
    request = RequestFactory().get(reverse("branches:tree"))
    forget_scope(user)  # the scope is read again, as in a new request
    request.user = user
    response = OrganizationTreeView.as_view()(request)
    response.render()
    assert response.status_code == 200
    return response


def test_tree_queries_do_not_grow_with_the_tree(county, users, django_assert_max_num_queries):
    with django_assert_max_num_queries(TREE_QUERIES):
        _render_tree(users["county"])
    for i in range(10):
        branch = make_branch(parent=county["township"], name=f"新村{i}党支部")
        make_member(home_org=branch, name=f"新村{i}")
    with django_assert_max_num_queries(TREE_QUERIES):
        response = _render_tree(users["county"])
    assert response.context_data["organization_count"] == 15


def test_tree_shows_practice_warnings(client, county, users):
    client.force_login(users["secretary"])
    page = html(client.get(reverse("branches:tree")))
    assert "1 条提示" in page  # 东村 has 2 full members: fewer than 3


def test_org_detail_shows_fields_counts_and_warnings(client, county, users):
    village = county["village"]
    client.force_login(users["secretary"])
    response = client.get(reverse("branches:detail", args=[village.pk]))
    page = html(response)
    assert "组织编码" in page and village.code in page
    assert "正式党员仅 2 名，不足 3 名" in page
    assert f"{reverse('members:list')}?org={village.pk}&amp;party_status=normal" in page
    # The parent is named but, being outside the secretary's scope, not linked.
    assert "测试镇党委" in page
    assert reverse("branches:detail", args=[county["township"].pk]) not in page


def test_org_detail_links_visible_parent_and_lists_children(client, county, users):
    client.force_login(users["county"])
    page = html(client.get(reverse("branches:detail", args=[county["township"].pk])))
    assert reverse("branches:detail", args=[county["root"].pk]) in page
    assert reverse("branches:detail", args=[county["village"].pk]) in page
    assert reverse("branches:detail", args=[county["other"].pk]) in page
    # A child's warnings are counted in sight (a phone shows no title), as in the tree.
    assert "1 条提示" in page  # 东村: fewer than 3 full members


def test_org_detail_shows_location_and_inflow_members(client, county, users):
    functional = county["functional"]
    west = make_member(home_org=county["other"], name="西村流入")
    member_register_outflow(
        member=west,
        left_on=datetime.date(2025, 3, 1),
        destination_code="610113",
        inflow_org=functional,
    )
    client.force_login(users["functional"])
    response = client.get(reverse("branches:detail", args=[functional.pk]))
    assert "陕西省西安市" in html(response)
    assert response.context["inflow_members"] == 1


def test_a_functional_branch_lists_the_members_taking_part_in_its_life(client, county, users):
    """A functional branch holds no memberships: its roster button and its inflow count open
    the list of the members taking part in its life, and the list shows them."""
    functional = county["functional"]
    west = make_member(home_org=county["other"], name="西村流入")
    member_register_outflow(
        member=west, left_on=datetime.date(2025, 3, 1), destination_code="610113",
        inflow_org=functional,
    )  # fmt: skip
    client.force_login(users["functional"])
    page = html(client.get(reverse("branches:detail", args=[functional.pk])))
    roster = f"{reverse('members:list')}?inflow_org={functional.pk}"
    assert f'href="{roster}">查看参加本组织生活的党员</a>' in page
    assert f'href="{roster}">1</a>' in page
    assert "查看党员名册" not in page
    listed = html(client.get(reverse("members:list"), {"inflow_org": functional.pk}))
    assert "西村流入" in listed
    # An established branch keeps the roster of its own memberships.
    client.force_login(users["county"])
    page = html(client.get(reverse("branches:detail", args=[county["village"].pk])))
    assert f'?org={county["village"].pk}&amp;party_status=normal">查看党员名册</a>' in page


def test_org_detail_shows_branch_type_history(client, county, users):
    functional = county["functional"]
    services.organization_change_branch_type(
        org=functional,
        to_type=BranchType.ESTABLISHED,
        changed_on=datetime.date(2019, 6, 1),
        reason="流动党员组织关系转入,转为建制型",
    )
    client.force_login(users["county"])
    page = html(client.get(reverse("branches:detail", args=[functional.pk])))
    assert "支部类型变更记录" in page
    assert "2019-06-01" in page
    assert "流动党员组织关系转入,转为建制型" in page
    assert "功能型" in page and "建制型" in page


def test_auditor_and_anonymous_get_no_organization_pages(client, county, users):
    urls = [reverse("branches:tree"), reverse("branches:detail", args=[county["root"].pk])]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    client.force_login(users["auditor"])
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403
        assert county["root"].name not in html(response)
