"""The member pages: who sees what (roles × pages), masking and reveal, the mobility forms."""

import datetime
import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from branches.choices import BranchType
from branches.models import Organization
from branches.tests.factories import make_branch, make_committee, make_tree
from members import services
from members.choices import MemberType, MobilityEnd, PartyStatus
from members.models import Member, Mobility
from members.tests.factories import make_member
from members.views import MemberListView
from portal.choices import AccessEventKind, Role
from portal.masking import mask_id_number, mask_phone
from portal.models import AccessEvent, RoleAssignment
from portal.scoping import forget_scope
from rosters.choices import ImportStatus
from rosters.services import roster_import
from rosters.tests.rosterdata import member_row, write_csv

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
# Queries of the member-list view, whatever the number of rows: the user's role assignments, the
# page count, the page of members (with home_org), their current mobilities, the choices of the
# two organization filters (membership, and whose life they take part in). (Middleware adds its
# own per-request queries: session, user, ...)
MEMBER_LIST_QUERIES = 6


def days_ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


def make_user(username, role=None, org=None):
    user = User.objects.create_user(username=username, password="Portal-test-2026")
    if role:
        RoleAssignment.objects.create(user=user, role=role, organization=org)
    return user


def register_outflow(member, **kw):
    kw.setdefault("left_on", days_ago(200))
    kw.setdefault("destination_code", "610113")
    return services.member_register_outflow(member=member, **kw)


@pytest.fixture
def world():
    """A county (make_tree), a neighbouring county, members, and one user per role."""
    tree = make_tree()
    neighbour = make_committee(name="邻县县委")
    neighbour_branch = make_branch(parent=neighbour, name="邻村党支部")
    members = {
        "east": make_member(home_org=tree["village"], name="王东村", phone="13912340001"),
        "west": make_member(home_org=tree["other"], name="赵西村", phone="13912340002"),
        # Membership in 西村党支部, takes part in the life of 驻西安党支部 (inflow).
        "inflow": make_member(home_org=tree["other"], name="孙流入", phone="13912340003"),
        "neighbour": make_member(home_org=neighbour_branch, name="钱邻县", phone="13912340004"),
    }
    register_outflow(members["inflow"], inflow_org=tree["functional"])
    register_outflow(members["east"], destination_code="110105")
    users = {
        "county": make_user("county", Role.COUNTY_ADMIN, tree["root"]),
        "township": make_user("township", Role.COMMITTEE_STAFF, tree["township"]),
        "secretary": make_user("secretary", Role.BRANCH_SECRETARY, tree["village"]),
        "functional": make_user("functional", Role.BRANCH_SECRETARY, tree["functional"]),
        "auditor": make_user("auditor", Role.AUDITOR),
    }
    orgs = {**tree, "neighbour": neighbour, "neighbour_branch": neighbour_branch}
    return SimpleNamespace(tree=tree, orgs=orgs, members=members, users=users)


# Which members each role sees (keys of world.members).
VISIBLE = {
    "county": {"east", "west", "inflow"},
    "township": {"east", "west", "inflow"},
    "secretary": {"east"},
    "functional": {"inflow"},
    "auditor": set(),
}
ALL_MEMBERS = {"east", "west", "inflow", "neighbour"}
DATA_ROLES = ["county", "township", "secretary", "functional"]


def as_user(client, world, role):
    client.force_login(world.users[role])
    return client


def html(response) -> str:
    return response.content.decode()


def opened(client, url) -> dict[str, str]:
    """Open a form page: the hidden fields a browser sends back with it (the versions of the
    rows it was opened on, portal/concurrency.py)."""
    page = html(client.get(url))
    found = re.findall(r'<input type="hidden" name="(\w+)"(?: value="([^"]*)")?', page)
    return {name: value for name, value in found if name != "csrfmiddlewaretoken"}


# --- anonymous -----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_from_every_page(client, world):
    pk = world.members["east"].pk
    urls = [
        reverse("members:list"),
        reverse("members:detail", args=[pk]),
        reverse("members:outflow", args=[pk]),
        reverse("members:mobility", args=[pk]),
        reverse("members:return", args=[pk]),
        reverse("members:transfer", args=[pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    response = client.post(reverse("members:reveal", args=[pk, "id_number"]))
    assert response.status_code == 302
    assert not AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).exists()


# --- the list, search and detail matrix ----------------------------------------------------------


@pytest.mark.parametrize("role", DATA_ROLES)
def test_member_list_shows_exactly_the_visible_members(client, world, role):
    page = html(as_user(client, world, role).get(reverse("members:list")))
    for key in ALL_MEMBERS:
        name = world.members[key].name
        assert (name in page) == (key in VISIBLE[role]), (role, name)


@pytest.mark.parametrize("role", DATA_ROLES)
@pytest.mark.parametrize("how", ["name", "id_tail", "phone"])
def test_search_finds_visible_members_and_never_others(client, world, role, how):
    as_user(client, world, role)
    for key in ALL_MEMBERS:
        member = world.members[key]
        term = {"name": member.name, "id_tail": member.id_tail, "phone": member.phone}[how]
        page = html(client.get(reverse("members:list"), {"q": term}))
        page = page.replace(f'value="{term}"', "")  # the search box shows the term back
        assert (member.name in page) == (key in VISIBLE[role]), (role, how, member.name)
        detail = reverse("members:detail", args=[member.pk])
        assert (f'href="{detail}"' in page) == (key in VISIBLE[role]), (role, how, member.name)


def test_a_phone_is_found_however_its_digits_are_grouped(client, world):
    # Stored as 11 digits; typed as a card or a caller's screen shows it.
    member = world.members["east"]
    as_user(client, world, "county")
    phone = member.phone
    for typed in (
        f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
        f"+86 {phone}",
        f"{phone[:3]} {phone[3:]}",
    ):
        page = html(client.get(reverse("members:list"), {"q": typed}))
        assert f'href="{reverse("members:detail", args=[member.pk])}"' in page, typed


def test_a_whole_id_number_searched_for_is_answered_with_how_to_search(client, world):
    # Only the last four characters are searched (a whole number would let the masked middle
    # be guessed): typed whole, as from a paper form, it finds nobody, and the page says why.
    member = world.members["east"]
    as_user(client, world, "county")
    hint = "按身份证号查找时，请只输入最后四位"
    for typed in (member.id_number, member.id_number[:6] + " " + member.id_number[6:]):
        page = html(client.get(reverse("members:list"), {"q": typed}))
        assert "没有符合条件的党员" in page and hint in page, typed
    page = html(client.get(reverse("members:list"), {"q": member.id_tail}))
    assert member.name in page and hint not in page
    assert hint not in html(client.get(reverse("members:list"), {"q": "查无此人"}))


@pytest.mark.parametrize("role", DATA_ROLES)
def test_member_detail_is_404_out_of_scope(client, world, role):
    as_user(client, world, role)
    for key in ALL_MEMBERS:
        response = client.get(reverse("members:detail", args=[world.members[key].pk]))
        assert response.status_code == (200 if key in VISIBLE[role] else 404), (role, key)
    missing = Member.objects.order_by("-pk").first().pk + 1000
    assert client.get(reverse("members:detail", args=[missing])).status_code == 404


def test_inflow_member_is_visible_to_the_functional_branch_only_while_current(client, world):
    inflow = world.members["inflow"]
    as_user(client, world, "functional")
    assert client.get(reverse("members:detail", args=[inflow.pk])).status_code == 200
    services.member_return(member=inflow, returned_on=TODAY)
    assert client.get(reverse("members:detail", args=[inflow.pk])).status_code == 404
    assert inflow.name not in html(client.get(reverse("members:list")))


def test_org_filter_offers_only_visible_organizations(client, world):
    page = html(as_user(client, world, "secretary").get(reverse("members:list")))
    assert world.orgs["village"].name in page
    for key in ("root", "township", "other", "functional", "neighbour", "neighbour_branch"):
        assert world.orgs[key].name not in page, key


def test_org_filters_list_organizations_as_the_tree_does(client, world):
    # Siblings by code, as on the tree page, not by path (ids compared as text: the demo
    # county's 解店镇, id 2, came after every township numbered after it).
    township = world.orgs["township"]
    later = make_branch(parent=township, name="乙村党支部", code="T-02")
    earlier = make_branch(parent=township, name="甲村党支部", code="T-01")
    page = html(as_user(client, world, "county").get(reverse("members:list")))
    options = page[page.index('name="org"') :]
    options = options[: options.index("</select>")]
    assert options.index(earlier.name) < options.index(later.name)


def test_org_filter_with_an_out_of_scope_org_shows_no_rows(client, world):
    as_user(client, world, "secretary")
    other = world.orgs["other"]
    page = html(client.get(reverse("members:list"), {"org": other.pk}))
    assert world.members["east"].name not in page
    assert world.members["west"].name not in page
    assert "没有符合条件的党员" in page


def test_member_list_filters(client, world):
    as_user(client, world, "county")
    url = reverse("members:list")
    page = html(client.get(url, {"org": world.orgs["village"].pk}))
    assert "王东村" in page and "赵西村" not in page
    page = html(client.get(url, {"mobile": "true"}))
    assert "王东村" in page and "孙流入" in page and "赵西村" not in page
    page = html(client.get(url, {"province": "610000"}))  # 陕西省
    assert "孙流入" in page and "王东村" not in page
    Member.objects.filter(pk=world.members["west"].pk).update(last_contact_on=days_ago(400))
    page = html(client.get(url, {"lost_contact": "true"}))
    assert "赵西村" in page and "王东村" not in page
    assert "失联" in page


def test_member_list_filters_by_the_organization_whose_life_members_take_part_in(client, world):
    functional = world.orgs["functional"]
    for role in ("county", "functional"):
        page = html(
            as_user(client, world, role).get(reverse("members:list"), {"inflow_org": functional.pk})
        )
        assert "孙流入" in page, role
        assert "王东村" not in page and "赵西村" not in page, role
    # Returned home: no longer taking part there.
    services.member_return(member=world.members["inflow"], returned_on=TODAY)
    page = html(
        as_user(client, world, "county").get(reverse("members:list"), {"inflow_org": functional.pk})
    )
    assert "孙流入" not in page
    # Outside the user's scope: no rows, as with the organization filter.
    page = html(
        as_user(client, world, "secretary").get(
            reverse("members:list"), {"inflow_org": functional.pk}
        )
    )
    assert "没有符合条件的党员" in page


def test_member_list_columns(client, world):
    page = html(as_user(client, world, "county").get(reverse("members:list")))
    assert "北京市朝阳区" in page  # 王东村's destination
    assert "未外出" in page  # 赵西村
    assert "东村党支部" in page
    assert mask_phone("13912340001") in page


def test_member_list_paginates_and_keeps_filters(client, world):
    village = world.orgs["village"]
    for i in range(55):
        make_member(home_org=village, name=f"分页{i:02d}")
    as_user(client, world, "county")
    page = html(client.get(reverse("members:list"), {"org": village.pk}))
    assert "共 56 条" in page
    assert f"?org={village.pk}&amp;page=2" in page
    page2 = html(client.get(reverse("members:list"), {"org": village.pk, "page": 2}))
    assert "当前第 51–56 条" in page2
    # A page number out of range shows the last page instead of an error.
    assert client.get(reverse("members:list"), {"page": 99}).status_code == 200


def test_auditor_sees_no_member_pages(client, world):
    as_user(client, world, "auditor")
    assert client.get(reverse("members:list")).status_code == 403
    response = client.get(reverse("members:detail", args=[world.members["east"].pk]))
    assert response.status_code == 403
    assert "王东村" not in html(response)


# --- constant queries ----------------------------------------------------------------------------


def _client_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def _render_list(user, params=None):
    """The view alone, without middleware: its own queries only."""
    request = RequestFactory().get(reverse("members:list"), params or {})
    forget_scope(user)  # the scope is read again, as in a new request
    request.user = user
    response = MemberListView.as_view()(request)
    response.render()
    assert response.status_code == 200
    return response


def test_member_list_queries_do_not_grow_with_rows(client, django_assert_max_num_queries):
    tree = make_tree()
    user = make_user("county", Role.COUNTY_ADMIN, tree["root"])
    client.force_login(user)
    url = reverse("members:list")
    for i in range(5):
        register_outflow(make_member(home_org=tree["village"], name=f"少{i}"))
    with django_assert_max_num_queries(MEMBER_LIST_QUERIES):
        assert len(_render_list(user).context_data["object_list"]) == 5
    client.get(url)  # the first request after login writes session state once
    few = _client_queries(client, url)
    for i in range(55):
        member = make_member(home_org=tree["other"], name=f"多{i}")
        if i % 2:
            register_outflow(member, inflow_org=tree["functional"])
    with django_assert_max_num_queries(MEMBER_LIST_QUERIES):
        assert len(_render_list(user).context_data["object_list"]) == 50  # one full page
    assert _client_queries(client, url) == few  # the whole request, middleware included
    # Filtered and searched pages stay constant too (+1: validating the chosen organization).
    params = {"org": tree["township"].pk, "mobile": "true", "q": "多"}
    with django_assert_max_num_queries(MEMBER_LIST_QUERIES + 1):
        assert len(_render_list(user, params).context_data["object_list"]) == 27


# --- masking and reveal --------------------------------------------------------------------------


def test_id_number_and_phone_are_masked_by_default(client, world):
    east = world.members["east"]
    as_user(client, world, "county")
    for url in (reverse("members:list"), reverse("members:detail", args=[east.pk])):
        page = html(client.get(url))
        assert east.id_number not in page
        assert east.phone not in page
    detail = html(client.get(reverse("members:detail", args=[east.pk])))
    assert mask_id_number(east.id_number) in detail
    assert mask_phone(east.phone) in detail
    assert reverse("members:reveal", args=[east.pk, "id_number"]) in detail
    # The birth date shows its year only: the full date and the masked number's ends would
    # together leave two digits hidden.
    assert f"{east.birth_date.year}-**-**" in detail
    assert east.birth_date.strftime("%Y-%m-%d") not in detail
    assert east.id_number[6:14] not in detail


@pytest.mark.parametrize("field", ["id_number", "phone"])
def test_reveal_shows_the_value_and_records_one_event(client, world, field):
    east = world.members["east"]
    as_user(client, world, "secretary")
    url = reverse("members:reveal", args=[east.pk, field])
    response = client.post(url, HTTP_HX_REQUEST="true", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert getattr(east, field) in html(response)
    assert "<html" not in html(response)  # an htmx fragment
    assert "no-store" in response["Cache-Control"]
    event = AccessEvent.objects.get(kind=AccessEventKind.REVEAL)
    assert event.kind == AccessEventKind.REVEAL
    assert event.user == world.users["secretary"]
    assert event.object_id == str(east.pk)
    assert event.object_type == "members.member"
    assert event.detail == {"field": field}
    assert event.ip_address == "10.1.2.3"


def test_a_phone_in_the_contact_person_is_masked_and_revealed_like_the_members(client, world):
    east = world.members["east"]
    east.mobilities.current().update(contact_person="孙荣海 17326678980")
    as_user(client, world, "secretary")
    detail = html(client.get(reverse("members:detail", args=[east.pk])))
    assert "孙荣海 173****8980" in detail and "17326678980" not in detail
    url = reverse("members:reveal", args=[east.pk, "contact_person"])
    assert url in detail
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert "孙荣海 17326678980" in html(response)
    event = AccessEvent.objects.get(kind=AccessEventKind.REVEAL)
    assert event.detail == {"field": "contact_person"}
    # A contact without a number in it has nothing to reveal.
    east.mobilities.current().update(contact_person="村委会")
    detail = html(client.get(reverse("members:detail", args=[east.pk])))
    assert "村委会" in detail and url not in detail


@pytest.mark.parametrize(
    ("field", "on_mobility"),
    [("employer", True), ("destination_address", True), ("remarks", False)],
)
def test_phones_typed_into_other_free_text_are_masked_and_revealed(
    client, world, field, on_mobility
):
    east = world.members["east"]
    text = "家属 13912345678"
    if on_mobility:
        east.mobilities.current().update(**{field: text})
    else:
        type(east).objects.filter(pk=east.pk).update(**{field: text})
    as_user(client, world, "secretary")
    detail = html(client.get(reverse("members:detail", args=[east.pk])))
    assert "家属 139****5678" in detail and "13912345678" not in detail
    url = reverse("members:reveal", args=[east.pk, field])
    assert url in detail
    assert text in html(client.post(url, HTTP_HX_REQUEST="true"))
    assert AccessEvent.objects.get(kind=AccessEventKind.REVEAL).detail == {"field": field}


def test_the_mobility_form_showing_a_phone_in_the_contact_person_records_a_reveal(client, world):
    east = world.members["east"]
    east.mobilities.current().update(contact_person="孙荣海 173-2667-8980")
    as_user(client, world, "secretary")
    url = reverse("members:mobility", args=[east.pk])
    assert "孙荣海 173-2667-8980" in html(client.get(url))  # in clear, to be edited
    event = AccessEvent.objects.get(kind=AccessEventKind.REVEAL)
    assert (event.user, event.object_id) == (world.users["secretary"], str(east.pk))
    assert event.detail == {"field": "contact_person"}
    # Nothing to reveal, nothing recorded.
    east.mobilities.current().update(contact_person="村委会")
    client.get(url)
    assert AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).count() == 1
    # One reveal for each field holding a number.
    east.mobilities.current().update(
        employer="某厂 13912345678",
        destination_address="某路 0359-5123456",
        inflow_org_name="某商会党支部 13812345678",
        remarks="房东 13712345678",
    )
    assert "某厂 13912345678" in html(client.get(url))
    fields = AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).order_by("pk")[1:]
    assert [e.detail["field"] for e in fields] == [
        "destination_address",
        "employer",
        "inflow_org_name",
        "remarks",
    ]
    # The page shows the inflow organization's name masked like the rest.
    detail = html(client.get(reverse("members:detail", args=[east.pk])))
    assert "某商会党支部 138****5678" in detail and "13812345678" not in detail


def test_reveal_without_htmx_shows_a_page(client, world):
    east = world.members["east"]
    as_user(client, world, "county")
    response = client.post(reverse("members:reveal", args=[east.pk, "phone"]))
    assert response.status_code == 200
    assert "<html" in html(response) and east.phone in html(response)
    assert AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).count() == 1


def test_reveal_refuses_gets_unknown_fields_and_out_of_scope(client, world):
    east, west = world.members["east"], world.members["west"]
    as_user(client, world, "secretary")
    assert client.get(reverse("members:reveal", args=[east.pk, "id_number"])).status_code == 405
    assert client.post(reverse("members:reveal", args=[east.pk, "name"])).status_code == 404
    assert client.post(reverse("members:reveal", args=[west.pk, "id_number"])).status_code == 404
    assert not AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).exists()


def test_reveal_is_refused_to_roles_without_the_right(client, world):
    east = world.members["east"]
    client_user = make_user("api", Role.API_CLIENT, world.orgs["root"])
    client.force_login(client_user)
    detail = html(client.get(reverse("members:detail", args=[east.pk])))
    assert reverse("members:reveal", args=[east.pk, "id_number"]) not in detail
    assert client.post(reverse("members:reveal", args=[east.pk, "id_number"])).status_code == 403
    as_user(client, world, "auditor")
    assert client.post(reverse("members:reveal", args=[east.pk, "id_number"])).status_code == 403
    assert not AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).exists()


# --- detail page ---------------------------------------------------------------------------------


def test_detail_shows_mobility_history_current_first(client, world):
    east = world.members["east"]
    services.member_return(member=east, returned_on=days_ago(100))
    register_outflow(east, left_on=days_ago(50), destination_code="440305", employer="深圳某科技")
    page = html(as_user(client, world, "county").get(reverse("members:detail", args=[east.pk])))
    assert page.index("广东省深圳市南山区") < page.index("北京市朝阳区")
    assert "深圳某科技" in page
    assert "返乡" in page


def test_detail_actions_follow_state_and_write_right(client, world):
    east, west, inflow = world.members["east"], world.members["west"], world.members["inflow"]
    as_user(client, world, "county")
    away = html(client.get(reverse("members:detail", args=[east.pk])))
    assert reverse("members:mobility", args=[east.pk]) in away
    assert reverse("members:return", args=[east.pk]) in away
    assert reverse("members:transfer", args=[east.pk]) in away
    assert reverse("members:outflow", args=[east.pk]) not in away
    home = html(client.get(reverse("members:detail", args=[west.pk])))
    assert reverse("members:outflow", args=[west.pk]) in home
    assert reverse("members:return", args=[west.pk]) not in home
    # The functional branch sees its inflow member but cannot change their registration.
    as_user(client, world, "functional")
    page = html(client.get(reverse("members:detail", args=[inflow.pk])))
    for name in ("outflow", "mobility", "return", "transfer"):
        assert reverse(f"members:{name}", args=[inflow.pk]) not in page


# --- forms ---------------------------------------------------------------------------------------


def outflow_data(**kw):
    data = {
        "left_on": days_ago(30).isoformat(),
        "reason": "work",
        "destination": "陕西省西安市雁塔区",
        "destination_address": "小寨东路 1 号",
        "employer": "西安某建筑公司",
        "inflow_org": "",
        "inflow_org_name": "",
        "certificate_no": "LD-001",
        "contact_person": "刘工",
        "remarks": "",
    }
    data.update(kw)
    return data


def test_outflow_return_outflow_again_round_trip(client, world):
    west = world.members["west"]
    as_user(client, world, "county")
    url = reverse("members:outflow", args=[west.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, outflow_data(left_on=days_ago(60).isoformat(), inflow_org=world.orgs["functional"].pk)
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("members:detail", args=[west.pk])
    mobility = Mobility.objects.get(member=west)
    assert mobility.destination_code == "610113"
    assert mobility.inflow_org == world.orgs["functional"]
    assert mobility.certificate_no == "LD-001"
    page = html(client.get(response["Location"]))
    assert "已为赵西村办理外出登记" in page

    url_return = reverse("members:return", args=[west.pk])
    response = client.post(
        url_return, {**opened(client, url_return), "returned_on": days_ago(20).isoformat()}
    )
    assert response.status_code == 302
    mobility.refresh_from_db()
    assert mobility.ended_on == days_ago(20)
    assert mobility.end_kind == MobilityEnd.RETURNED

    response = client.post(
        url, outflow_data(left_on=days_ago(10).isoformat(), destination="北京朝阳")
    )
    assert response.status_code == 302
    current = Mobility.objects.current().get(member=west)
    assert current.destination_code == "110105"
    assert Mobility.objects.filter(member=west).count() == 2


def test_transfer_out(client, world):
    east = world.members["east"]
    as_user(client, world, "secretary")
    url = reverse("members:transfer", args=[east.pk])
    page = html(client.get(url))
    assert 'type="date"' in page
    response = client.post(
        url,
        {
            **opened(client, url),
            "transferred_out_on": TODAY.isoformat(),
            "transferred_to": "中共北京市朝阳区某党委",
        },
    )
    assert response.status_code == 302
    east.refresh_from_db()
    assert east.party_status == PartyStatus.TRANSFERRED_OUT
    assert east.transferred_to == "中共北京市朝阳区某党委"
    assert Mobility.objects.get(member=east).end_kind == MobilityEnd.TRANSFERRED_OUT
    # A transferred member has no actions left; the forms say so instead of failing.
    response = client.get(url, follow=True)
    assert "当前不能办理" in html(response)


def test_a_bad_place_shows_a_chinese_error_and_writes_nothing(client, world):
    west = world.members["west"]
    as_user(client, world, "county")
    response = client.post(
        reverse("members:outflow", args=[west.pk]), outflow_data(destination="火星")
    )
    assert response.status_code == 200
    assert "无法识别地点“火星”" in html(response)
    assert "is-invalid" in html(response)
    assert not Mobility.objects.filter(member=west).exists()


def test_the_parsed_place_is_shown_back_on_error(client, world):
    west = world.members["west"]
    as_user(client, world, "county")
    response = client.post(
        reverse("members:outflow", args=[west.pk]),
        outflow_data(destination="西安雁塔", left_on=(TODAY + datetime.timedelta(days=3))),
    )
    assert response.status_code == 200
    page = html(response)
    assert 'value="陕西省西安市雁塔区"' in page
    assert "外出日期不能晚于今天" in page
    assert not Mobility.objects.filter(member=west).exists()


def test_a_province_is_not_enough_for_a_destination(client, world):
    west = world.members["west"]
    as_user(client, world, "county")
    response = client.post(
        reverse("members:outflow", args=[west.pk]), outflow_data(destination="陕西省")
    )
    assert response.status_code == 200
    assert "流入地至少要填到地级市" in html(response)
    assert not Mobility.objects.filter(member=west).exists()


def test_service_errors_land_on_their_fields(client, world):
    west = world.members["west"]
    register_outflow(west, left_on=days_ago(100))
    services.member_return(member=west, returned_on=days_ago(10))
    as_user(client, world, "county")
    response = client.post(
        reverse("members:outflow", args=[west.pk]), outflow_data(left_on=days_ago(50).isoformat())
    )
    assert response.status_code == 200
    assert "外出日期早于该党员上次外出的结束日期" in html(response)
    assert 'id="id_left_on_errors"' in html(response)
    assert Mobility.objects.current().filter(member=west).count() == 0


def test_editing_a_registration_cannot_move_it_back_before_the_last_return(client, world):
    """修改外出信息 keeps the rule of 外出登记 (and of roster imports): the member was home
    until the last return, so the current registration cannot start before it."""
    west = world.members["west"]
    register_outflow(west, left_on=days_ago(100))
    services.member_return(member=west, returned_on=days_ago(50))
    mobility = register_outflow(west, left_on=days_ago(20))
    as_user(client, world, "county")
    url = reverse("members:mobility", args=[west.pk])
    data = outflow_data(left_on=days_ago(60).isoformat())
    response = client.post(url, {**opened(client, url), **data})
    assert response.status_code == 200
    page = html(response)
    assert f"外出日期早于该党员上次外出的结束日期 {days_ago(50)}" in page
    assert 'id="id_left_on_errors"' in page
    mobility.refresh_from_db()
    assert mobility.left_on == days_ago(20)


def test_edit_current_mobility(client, world):
    east = world.members["east"]
    as_user(client, world, "secretary")
    url = reverse("members:mobility", args=[east.pk])
    page = html(client.get(url))
    assert 'value="北京市朝阳区"' in page
    mobility = Mobility.objects.current().get(member=east)
    data = outflow_data(
        left_on=mobility.left_on.isoformat(), destination="北京市朝阳区", employer="新单位"
    )
    assert client.post(url, {**opened(client, url), **data}).status_code == 302
    mobility.refresh_from_db()
    assert mobility.employer == "新单位"
    assert Mobility.objects.filter(member=east).count() == 1


def test_editing_keeps_an_inflow_org_outside_the_editors_scope(client, world):
    inflow = world.members["inflow"]
    functional = world.orgs["functional"]
    user = make_user("west-secretary", Role.BRANCH_SECRETARY, world.orgs["other"])
    client.force_login(user)
    url = reverse("members:mobility", args=[inflow.pk])
    page = html(client.get(url))
    assert f'value="{functional.pk}" selected' in page
    mobility = Mobility.objects.current().get(member=inflow)
    data = outflow_data(left_on=mobility.left_on.isoformat(), inflow_org=functional.pk)
    assert client.post(url, {**opened(client, url), **data}).status_code == 302
    mobility.refresh_from_db()
    assert mobility.inflow_org == functional


def test_forms_only_offer_visible_outside_organizations(client, world):
    functional = world.orgs["functional"]
    taiyuan = make_branch(
        parent=world.orgs["township"],
        name="驻太原党支部",
        branch_type=BranchType.FUNCTIONAL,
        location_code="140100",
    )
    west, east = world.members["west"], world.members["east"]
    as_user(client, world, "county")
    page = html(client.get(reverse("members:outflow", args=[west.pk])))
    assert "驻西安党支部(陕西省西安市)" in page and "驻太原党支部(山西省太原市)" in page
    # 驻西安党支部 hangs under the county, not the township: not offered, not accepted.
    as_user(client, world, "township")
    url = reverse("members:outflow", args=[west.pk])
    page = html(client.get(url))
    assert f'value="{taiyuan.pk}"' in page and functional.name not in page
    response = client.post(url, outflow_data(inflow_org=functional.pk))
    assert response.status_code == 200
    assert "选择一个有效的选项" in html(response)
    assert not Mobility.objects.filter(member=west).exists()
    # A branch secretary sees no outside organization: the name field only, and a forged
    # choice is ignored.
    as_user(client, world, "secretary")
    services.member_return(member=east, returned_on=days_ago(5))
    url = reverse("members:outflow", args=[east.pk])
    page = html(client.get(url))
    assert 'name="inflow_org"' not in page and 'name="inflow_org_name"' in page
    response = client.post(url, outflow_data(inflow_org=functional.pk, left_on=TODAY))
    assert response.status_code == 302
    assert Mobility.objects.current().get(member=east).inflow_org is None


@pytest.mark.parametrize("name", ["outflow", "mobility", "return", "transfer"])
def test_forms_out_of_scope_are_404_and_write_nothing(client, world, name):
    neighbour, west = world.members["neighbour"], world.members["west"]
    register_outflow(neighbour)
    before = list(Mobility.objects.order_by("pk").values())
    as_user(client, world, "secretary")
    for member in (neighbour, west):
        url = reverse(f"members:{name}", args=[member.pk])
        assert client.get(url).status_code == 404
        data = {
            **outflow_data(),
            "returned_on": TODAY.isoformat(),
            "transferred_out_on": TODAY.isoformat(),
            "transferred_to": "某党委",
        }
        assert client.post(url, data).status_code == 404
    assert list(Mobility.objects.order_by("pk").values()) == before
    assert Member.objects.filter(party_status=PartyStatus.NORMAL).count() == 4


def test_forms_in_scope_without_write_right_are_403(client, world):
    inflow = world.members["inflow"]
    as_user(client, world, "functional")  # sees the inflow member, does not hold their membership
    url = reverse("members:return", args=[inflow.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"returned_on": TODAY.isoformat()}).status_code == 403
    assert Mobility.objects.current().filter(member=inflow).exists()
    api = make_user("api", Role.API_CLIENT, world.orgs["root"])
    client.force_login(api)
    assert client.post(url, {"returned_on": TODAY.isoformat()}).status_code == 403
    assert Mobility.objects.current().filter(member=inflow).exists()


def test_forms_need_a_member_in_the_right_state(client, world):
    west = world.members["west"]  # at home
    as_user(client, world, "county")
    response = client.get(reverse("members:return", args=[west.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("members:detail", args=[west.pk])
    response = client.post(
        reverse("members:return", args=[west.pk]), {"returned_on": TODAY.isoformat()}
    )
    assert response.status_code == 302
    assert not Mobility.objects.filter(member=west).exists()


def test_a_member_out_of_standing_is_not_changed_by_the_mobility_form(client, world):
    """停止党籍 while away: the registration may still end (返乡), but is not edited, as a roster
    import refuses to update the member; the member is restored first."""
    east = world.members["east"]  # away
    Member.objects.filter(pk=east.pk).update(party_status=PartyStatus.STOPPED)
    mobility = Mobility.objects.current().get(member=east)
    as_user(client, world, "county")
    page = html(client.get(reverse("members:detail", args=[east.pk])))
    assert reverse("members:return", args=[east.pk]) in page
    assert reverse("members:mobility", args=[east.pk]) not in page
    url = reverse("members:mobility", args=[east.pk])
    data = outflow_data(left_on=mobility.left_on.isoformat(), employer="新单位")
    response = client.post(url, {"version": mobility.updated_at.isoformat(), **data}, follow=True)
    assert "王东村当前不能办理“修改外出信息”" in html(response)
    with pytest.raises(ValidationError, match="该党员党籍状态为“停止党籍”，不能办理此项业务"):
        services.mobility_update(mobility=mobility, employer="新单位")
    with pytest.raises(ValidationError, match="该党员党籍状态为“停止党籍”，不能办理此项业务"):
        services.member_update(member=east, remarks="新备注")
    mobility.refresh_from_db()
    east.refresh_from_db()
    assert (mobility.employer, east.remarks) == ("", "")


def test_probationary_member_type_label(client, world):
    member = make_member(
        home_org=world.orgs["village"], name="周预备", member_type=MemberType.PROBATIONARY
    )
    page = html(
        as_user(client, world, "secretary").get(reverse("members:detail", args=[member.pk]))
    )
    assert "预备党员" in page


def test_filter_form_keeps_the_chosen_values(client, world):
    as_user(client, world, "county")
    page = html(client.get(reverse("members:list"), {"mobile": "true", "member_type": "full"}))
    assert '<option value="true" selected>是</option>' in page
    assert '<option value="full" selected>正式党员</option>' in page
    assert "---------" not in page
    assert '<option value="" selected>全部</option>' in page  # e.g. lost contact: any


def test_a_search_alone_leaves_the_other_filters_folded(client, world):
    """On a phone the filters beyond the search box fold away; a search does not unfold them
    (its results would sink below them), a filter among them does."""
    as_user(client, world, "secretary")
    searched = html(client.get(reverse("members:list"), {"q": "王东村"}))
    filtered = html(client.get(reverse("members:list"), {"q": "王东村", "mobile": "true"}))

    assert '<div class="collapse d-md-block" id="more-filters">' in searched
    assert 'aria-expanded="false"' in searched
    assert "清除条件" in searched
    assert '<div class="collapse d-md-block show" id="more-filters">' in filtered
    assert 'aria-expanded="true"' in filtered


def test_a_value_too_long_is_refused_in_plain_chinese(client, world):
    """Django's own Chinese says 确保该变量包含不超过 100 字符 ("this variable"): not the words
    of a form; the portal's catalog says it in a branch secretary's terms."""
    east = world.members["east"]
    as_user(client, world, "secretary")
    url = reverse("members:transfer", args=[east.pk])
    response = client.post(
        url, {"transferred_out_on": TODAY.isoformat(), "transferred_to": "党" * 101}
    )
    assert response.status_code == 200
    page = html(response)
    assert "该变量" not in page
    assert "最多 100 个字（现有 101 个）。" in page


# --- stale forms (portal/concurrency.py) ---------------------------------------------------------
# A form opened on a phone, the member changed meanwhile (a roster import, another user's form),
# then the form saved: refused with a message above the form, what was typed kept, nothing
# written; the page opened again saves.

STALE_MOBILITY = "该党员的外出登记已在您打开此页后被修改"
STALE_MEMBER = "该党员的信息已在您打开此页后被修改"


def import_roster(tmp_path, user, rows):
    """A real roster import (rosters.services.roster_import) by ``user``."""
    path = write_csv(tmp_path / f"roster{len(list(tmp_path.iterdir()))}.csv", rows)
    orgs = Organization.objects.visible_to(user)
    record = roster_import(source=path, filename=path.name, user=user, orgs=orgs)
    assert record.status == ImportStatus.IMPORTED, record.errors
    return record


@pytest.fixture
def imported(world, tmp_path):
    """A member of 东村党支部 away for work, registered by a roster import: (member, row)."""
    row = member_row(0, home=world.orgs["village"].code)
    import_roster(tmp_path, world.users["county"], [row])
    return Member.objects.by_id_number(row["公民身份号码"]).get(), row


def stored(member):
    """What the database holds of the member and their mobilities."""
    member = Member.objects.filter(pk=member.pk).values().get()
    return member, list(Mobility.objects.filter(member_id=member["id"]).order_by("pk").values())


def mobility_typed(row, **kw):
    """The mobility form as the secretary fills it in on the phone."""
    return outflow_data(
        left_on=row["外出日期"], destination=row["流入地"], employer="手机上填的单位", **kw
    )


def test_a_mobility_form_opened_before_a_roster_import_does_not_undo_it(
    client, world, imported, tmp_path
):
    member, row = imported
    as_user(client, world, "secretary")
    url = reverse("members:mobility", args=[member.pk])
    form = opened(client, url)
    import_roster(tmp_path, world.users["county"], [{**row, "工作单位": "导入的新单位"}])
    assert Mobility.objects.current().get(member=member).employer == "导入的新单位"
    before = stored(member)

    response = client.post(url, {**mobility_typed(row), **form})

    assert response.status_code == 200
    page = html(response)
    assert STALE_MOBILITY in page and "请重新打开此页，按最新信息重新填写" in page
    # A link to open it again: reloading would post the same stale form once more.
    assert f'<a class="alert-link" href="{url}">重新打开此页</a>' in page
    assert 'value="手机上填的单位"' in page  # what was typed, to redo it
    assert stored(member) == before
    # The page opened again saves.
    response = client.post(url, {**mobility_typed(row), **opened(client, url)})
    assert response.status_code == 302
    assert Mobility.objects.current().get(member=member).employer == "手机上填的单位"


def test_a_mobility_form_opened_before_another_users_save_does_not_undo_it(client, world, imported):
    member, row = imported
    url = reverse("members:mobility", args=[member.pk])
    form = opened(as_user(client, world, "secretary"), url)
    other = Client()
    other.force_login(world.users["county"])
    saved = other.post(url, {**mobility_typed(row, contact_person="县里填的联系人"), **form})
    assert saved.status_code == 302
    before = stored(member)

    response = client.post(url, {**mobility_typed(row), **form})

    assert response.status_code == 200
    assert STALE_MOBILITY in html(response)
    assert stored(member) == before
    assert Mobility.objects.current().get(member=member).contact_person == "县里填的联系人"


def test_a_return_form_opened_before_a_roster_import_is_refused(client, world, imported, tmp_path):
    member, row = imported
    url = reverse("members:return", args=[member.pk])
    form = opened(as_user(client, world, "secretary"), url)
    import_roster(tmp_path, world.users["county"], [{**row, "流入地": "北京市朝阳区"}])
    before = stored(member)

    response = client.post(url, {**form, "returned_on": days_ago(3).isoformat()})

    assert response.status_code == 200
    page = html(response)
    assert STALE_MOBILITY in page and f'value="{days_ago(3).isoformat()}"' in page
    assert stored(member) == before
    response = client.post(url, {**opened(client, url), "returned_on": days_ago(3).isoformat()})
    assert response.status_code == 302
    assert not Mobility.objects.current().filter(member=member).exists()


def test_a_transfer_form_opened_before_a_roster_import_is_refused(
    client, world, imported, tmp_path
):
    member, row = imported
    url = reverse("members:transfer", args=[member.pk])
    form = opened(as_user(client, world, "secretary"), url)
    import_roster(tmp_path, world.users["county"], [{**row, "联系电话": "13900001111"}])
    before = stored(member)
    typed = {"transferred_out_on": TODAY.isoformat(), "transferred_to": "中共北京市朝阳区某党委"}

    response = client.post(url, {**form, **typed})

    assert response.status_code == 200
    page = html(response)
    assert STALE_MEMBER in page and 'value="中共北京市朝阳区某党委"' in page
    assert stored(member) == before
    response = client.post(url, {**opened(client, url), **typed})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.party_status == PartyStatus.TRANSFERRED_OUT


def test_a_transfer_form_opened_while_away_is_refused_after_a_return(client, world, imported):
    """The page showed the member away (the transfer would end that registration); another
    user registered their return meanwhile."""
    member, _ = imported
    url = reverse("members:transfer", args=[member.pk])
    form = opened(as_user(client, world, "secretary"), url)
    services.member_return(member=member, returned_on=days_ago(1))
    before = stored(member)
    typed = {"transferred_out_on": TODAY.isoformat(), "transferred_to": "中共北京市朝阳区某党委"}

    response = client.post(url, {**form, **typed})

    assert response.status_code == 200
    page = html(response)
    assert STALE_MOBILITY in page and 'value="中共北京市朝阳区某党委"' in page
    assert stored(member) == before
    response = client.post(url, {**opened(client, url), **typed})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.party_status == PartyStatus.TRANSFERRED_OUT


def test_a_transfer_form_opened_at_home_is_refused_after_an_outflow(client, world, imported):
    """The page showed the member at home; an outflow registered meanwhile would be ended by a
    transfer its sender never saw."""
    member, _ = imported
    services.member_return(member=member, returned_on=days_ago(10))
    url = reverse("members:transfer", args=[member.pk])
    form = opened(as_user(client, world, "secretary"), url)
    services.member_register_outflow(
        member=member, left_on=days_ago(2), destination_code="110105", employer="新单位"
    )
    before = stored(member)
    typed = {"transferred_out_on": TODAY.isoformat(), "transferred_to": "中共北京市朝阳区某党委"}

    response = client.post(url, {**form, **typed})

    assert response.status_code == 200
    assert STALE_MOBILITY in html(response)
    assert stored(member) == before
    response = client.post(url, {**opened(client, url), **typed})
    assert response.status_code == 302
    assert Mobility.objects.filter(member=member).latest("left_on").end_kind == (
        MobilityEnd.TRANSFERRED_OUT
    )


@pytest.mark.parametrize("name", ["mobility", "return", "transfer"])
def test_a_form_without_the_version_it_was_opened_on_is_refused(client, world, imported, name):
    member, row = imported
    url = reverse(f"members:{name}", args=[member.pk])
    before = stored(member)
    as_user(client, world, "secretary")
    typed = {
        **mobility_typed(row),
        "returned_on": TODAY.isoformat(),
        "transferred_out_on": TODAY.isoformat(),
        "transferred_to": "某党委",
    }
    for version in ({}, {"version": "昨天", "mobility_version": "x"}):
        response = client.post(url, {**typed, **version})
        assert response.status_code == 200
        assert "页面已过期" in html(response)
    assert stored(member) == before
