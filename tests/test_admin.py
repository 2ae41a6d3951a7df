"""The back office (Django admin): no duty leads to the others, and masking holds there too."""

import datetime
import re
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model

from branches.tests.factories import make_tree
from members.services import member_register_outflow
from members.tests.factories import make_member
from portal.choices import Role
from portal.services import role_grant
from portal.tests.locks import a_session_waits_on_a_lock, run_beside

pytestmark = pytest.mark.django_db
PASSWORD = "Secret#2026pw"


@pytest.fixture
def system_admin(client):
    user = role_grant(username="sysadm", role=Role.SYSTEM_ADMIN, password=PASSWORD).user
    client.force_login(user)
    return user


def _account_form(user, **changes) -> dict:
    """The fields of the admin's account form, as a browser would post them back."""
    return {
        "username": user.username,
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "08:00:00",
        **changes,
    }


def test_a_system_administrator_cannot_make_anyone_a_superuser(client, system_admin):
    url = f"/admin/auth/user/{system_admin.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="username"' in page and 'name="is_superuser"' not in page
    response = client.post(url, _account_form(system_admin, is_superuser="on"))
    assert response.status_code == 302  # saved: the other fields are theirs to change
    system_admin.refresh_from_db()
    assert not system_admin.is_superuser
    # Nor hand out Django permissions or groups, which would bypass the duty roles.
    assert 'name="user_permissions"' not in page and 'name="groups"' not in page


def test_a_system_administrator_cannot_touch_a_superuser(client, system_admin):
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    # The account can be looked at, read-only; not changed, given a password or deleted.
    change = f"/admin/auth/user/{root.pk}/change/"
    assert 'name="username"' not in client.get(change).content.decode()
    assert client.post(change, _account_form(root, is_active="")).status_code == 403
    for url in (f"/admin/auth/user/{root.pk}/password/", f"/admin/auth/user/{root.pk}/delete/"):
        assert client.get(url).status_code == 403, url
    response = client.post(
        f"/admin/auth/user/{root.pk}/password/",
        {"password1": "Another#2026pw", "password2": "Another#2026pw"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.is_active and root.check_password(PASSWORD)
    # Other accounts remain theirs to manage.
    other = get_user_model().objects.create_user("clerk", password=PASSWORD)
    assert client.get(f"/admin/auth/user/{other.pk}/change/").status_code == 200


def test_the_member_admin_shows_id_numbers_and_phones_masked(client):
    tree = make_tree()
    member = make_member(home_org=tree["village"])
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    member_register_outflow(
        member=member, left_on=datetime.date(2024, 3, 1), destination_code="610113",
        contact_person="孙荣海 173-2667-8980",
    )  # fmt: skip
    page = client.get(f"/admin/members/member/{member.pk}/change/").content.decode()
    assert member.id_number not in page and member.phone not in page
    assert member.id_number[:4] + "*" * 10 + member.id_number[-4:] in page
    assert member.phone[:3] + "****" + member.phone[-4:] in page
    # The birth date to its year, and a phone in the contact person, as on the member page.
    born = member.birth_date
    assert f"{born.year}-**-**" in page
    assert born.isoformat() not in page and born.strftime("%Y/%m/%d") not in page
    assert "孙荣海 173-****-8980" in page and "2667" not in page
    mobility = member.mobilities.get()
    page = client.get(f"/admin/members/mobility/{mobility.pk}/change/").content.decode()
    assert "孙荣海 173-****-8980" in page and "2667" not in page
    # Phones and ID numbers typed into the other free text, in forms and in the list.
    from members.tests.factories import make_id_number
    from portal.masking import mask_id_number

    spouse = make_id_number()
    type(mobility).objects.filter(pk=mobility.pk).update(
        employer="某厂 13812345678", remarks="房东 13912345678"
    )
    type(member).objects.filter(pk=member.pk).update(remarks=f"配偶 {spouse}")
    mobility_page, listing, member_page = (
        client.get(url).content.decode()
        for url in (
            f"/admin/members/mobility/{mobility.pk}/change/",
            "/admin/members/mobility/",
            f"/admin/members/member/{member.pk}/change/",
        )
    )
    for page in (mobility_page, listing, member_page):
        assert "13812345678" not in page and "某厂 138****5678" in page
    for page in (mobility_page, member_page):
        assert "13912345678" not in page and "房东 139****5678" in page
    assert spouse not in member_page and f"配偶 {mask_id_number(spouse)}" in member_page
    # The search takes whole phones and ID-number tails, not a part of a masked middle.
    search = "/admin/members/member/?q="
    assert member.name in client.get(search + member.phone).content.decode()
    assert member.name in client.get(search + member.id_number[-4:]).content.decode()
    assert member.name not in client.get(search + member.phone[3:7]).content.decode()
    # A new member's number is typed in the add form as usual.
    assert 'name="id_number"' in client.get("/admin/members/member/add/").content.decode()


def _member_add_form(home_org, **changes) -> dict:
    """The back office's add form of a member, as a browser posts it."""
    return {
        "name": "王五",
        "gender": "male",
        "ethnicity": "",
        "id_number": "110105491231002",
        "birth_date": "1949-12-31",
        "education": "",
        "phone": "13812345678",
        "member_type": "full",
        "joined_on": "1975-07-01",
        "converted_on": "1976-07-01",
        "home_org": home_org.pk,
        "party_status": "normal",
        "last_contact_on": "",
        "transferred_out_on": "",
        "transferred_to": "",
        "remarks": "",
        "mobilities-TOTAL_FORMS": 0,
        "mobilities-INITIAL_FORMS": 0,
        **changes,
    }


def test_the_member_admin_refuses_an_id_number_already_registered(client):
    """The add form checks the number typed (any spelling) against those stored, as the
    services do, instead of failing on the unique index with an error page."""
    from members.models import Member

    tree = make_tree()
    stored = make_member(home_org=tree["village"], id_number="11010519491231002X", name="李四")
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    for typed in ("11010519491231002X", "110105491231002"):
        response = client.post(
            "/admin/members/member/add/", _member_add_form(tree["other"], id_number=typed)
        )
        assert response.status_code == 200
        assert "该公民身份号码已登记（党员 李四，东村党支部）" in response.content.decode()
    assert list(Member.objects.all()) == [stored]


def _mobility_add_form(member, **changes) -> dict:
    """The back office's add form of a registration, as a browser posts it."""
    return {
        "member": member.pk,
        "left_on": "2024-02-01",
        "reason": "work",
        "destination_code": "610113",
        "destination_address": "",
        "employer": "",
        "inflow_org": "",
        "inflow_org_name": "",
        "certificate_no": "",
        "contact_person": "",
        "remarks": "",
        "ended_on": "",
        "end_kind": "",
        **changes,
    }


def test_the_mobility_admin_keeps_a_members_registrations_in_sequence(client):
    """A registration added in the back office starts no earlier than the last one ended, and
    none shares a day away with another, as the services and imports require."""
    from members.models import Mobility
    from members.services import member_return

    tree = make_tree()
    member = make_member(home_org=tree["village"])
    member_register_outflow(
        member=member, left_on=datetime.date(2023, 1, 1), destination_code="610113"
    )
    member_return(member=member, returned_on=datetime.date(2024, 1, 1))
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    url = "/admin/members/mobility/add/"
    response = client.post(url, _mobility_add_form(member, left_on="2023-06-01"))
    assert response.status_code == 200
    assert "外出日期早于该党员上次外出的结束日期 2024-01-01" in response.content.decode()
    history = _mobility_add_form(
        member, left_on="2022-06-01", ended_on="2023-02-01", end_kind="returned"
    )
    response = client.post(url, history)
    assert response.status_code == 200
    assert "与该党员 2023-01-01 至 2024-01-01 的外出登记时间重叠" in response.content.decode()
    assert Mobility.objects.filter(member=member).count() == 1
    # Earlier history that does not overlap is recorded.
    history.update(ended_on="2023-01-01")
    assert client.post(url, history).status_code == 302
    assert Mobility.objects.filter(member=member).count() == 2


def test_the_mobility_admin_registers_no_one_out_of_standing_as_away(client):
    """外出登记 is refused to a member out of normal standing: a registration added in the
    back office too, and one a transfer ended cannot be made current again there."""
    from members.models import Member, Mobility
    from members.services import member_transfer_out

    tree = make_tree()
    transferred = make_member(home_org=tree["village"], name="王转出")
    member_register_outflow(
        member=transferred, left_on=datetime.date(2023, 1, 1), destination_code="610113"
    )
    member_transfer_out(
        member=transferred, transferred_out_on=datetime.date(2024, 1, 1), transferred_to="外县"
    )
    stopped = make_member(home_org=tree["village"], name="赵停止")
    Member.objects.filter(pk=stopped.pk).update(party_status="stopped")
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    for member, status in ((transferred, "已转出"), (stopped, "停止党籍")):
        response = client.post("/admin/members/mobility/add/", _mobility_add_form(member))
        assert response.status_code == 200
        assert f"该党员党籍状态为“{status}”，不能办理此项业务" in response.content.decode()
    assert not Mobility.objects.current().exists()
    ended = transferred.mobilities.get()
    url = f"/admin/members/mobility/{ended.pk}/change/"
    response = client.post(url, {**_opened(client, url), "ended_on": "", "end_kind": ""})
    assert response.status_code == 200
    assert "该党员党籍状态为“已转出”，不能办理此项业务" in response.content.decode()
    ended.refresh_from_db()
    assert ended.ended_on == datetime.date(2024, 1, 1)


def test_the_member_admin_transfers_no_one_by_changing_the_standing_alone(client):
    """组织关系转出 records the date and the organization and ends the registration: choosing
    已转出 on a member's back-office page does none of that, and is refused."""
    from members.models import Member

    tree = make_tree()
    member = make_member(home_org=tree["village"])
    member_register_outflow(
        member=member, left_on=datetime.date(2024, 3, 1), destination_code="610113"
    )
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    url = f"/admin/members/member/{member.pk}/change/"
    response = client.post(url, {**_opened(client, url), "party_status": "transferred_out"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "已转出的党员须填写转出日期" in page
    assert "请填写转入的党组织名称" in page
    assert "该党员有未结束的外出登记：请在党员页面办理“组织关系转出”" in page
    stored = Member.objects.get(pk=member.pk)
    assert (stored.party_status, stored.transferred_out_on) == ("normal", None)
    assert member.mobilities.current().exists()


def test_the_member_admin_takes_no_last_contact_in_the_future(client):
    """A contact is recorded as it happens (member_record_contact refuses a later date); one
    typed in the future on the add form would keep the member out of 失联 until then."""
    from django.utils import timezone

    from members.models import Member

    tree = make_tree()
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    form = _member_add_form(tree["village"], last_contact_on=tomorrow.isoformat())
    response = client.post("/admin/members/member/add/", form)
    assert response.status_code == 200
    assert "最近联系日期不能晚于今天" in response.content.decode()
    assert not Member.objects.exists()


@pytest.mark.parametrize("duty", [Role.SECURITY_ADMIN, Role.AUDITOR])
def test_a_system_administrator_cannot_take_over_another_duty(client, system_admin, duty):
    holder = role_grant(username=f"{duty}1", role=duty, password=PASSWORD).user
    assert (
        'name="username"'
        not in client.get(f"/admin/auth/user/{holder.pk}/change/").content.decode()
    )
    response = client.post(
        f"/admin/auth/user/{holder.pk}/password/",
        {"password1": "Another#2026pw", "password2": "Another#2026pw"},
    )
    assert response.status_code == 403
    assert client.get(f"/admin/auth/user/{holder.pk}/delete/").status_code == 403
    holder.refresh_from_db()
    assert holder.check_password(PASSWORD) and holder.is_active
    # Fellow system administrators and everyone else remain theirs to manage.
    fellow = role_grant(username="sysadm2", role=Role.SYSTEM_ADMIN, password=PASSWORD).user
    for user in (fellow, get_user_model().objects.create_user("clerk2", password=PASSWORD)):
        assert client.get(f"/admin/auth/user/{user.pk}/password/").status_code == 200


def test_a_security_administrator_cannot_change_their_own_roles(client):
    from portal.models import RoleAssignment

    tree = make_tree()
    own = role_grant(username="secadm", role=Role.SECURITY_ADMIN, password=PASSWORD)
    me = own.user
    client.force_login(me)
    response = client.post(
        "/admin/portal/roleassignment/add/",
        {"user": me.username, "role": Role.COUNTY_ADMIN, "organization": tree["root"].code},
    )
    assert response.status_code == 200 and "不能为自己分配角色" in response.content.decode()
    assert list(me.role_assignments.values_list("role", flat=True)) == [Role.SECURITY_ADMIN]
    assert client.get(f"/admin/portal/roleassignment/{own.pk}/delete/").status_code == 403
    change = client.get(f"/admin/portal/roleassignment/{own.pk}/change/").content.decode()
    assert 'name="role"' not in change  # read-only
    # Another person's roles are theirs to manage.
    clerk = get_user_model().objects.create_user("clerk3", password=PASSWORD)
    response = client.post(
        "/admin/portal/roleassignment/add/",
        {"user": clerk.username, "role": Role.COUNTY_ADMIN, "organization": tree["root"].code},
    )
    assert response.status_code == 302
    assert RoleAssignment.objects.filter(user=clerk, role=Role.COUNTY_ADMIN).exists()


def test_a_security_administrator_grants_roles_by_username_and_organization_name(client):
    """On the form, people and organizations are typed as staff know them, not picked by id
    from lists the security administrator may not open; the grant follows grant_role's rules."""
    from portal.models import RoleAssignment

    tree = make_tree()
    client.force_login(role_grant(username="secadm", role=Role.SECURITY_ADMIN).user)
    clerk = get_user_model().objects.create_user("clerk4", password=PASSWORD)
    add = "/admin/portal/roleassignment/add/"
    form = client.get(add).content.decode()
    assert 'name="user" type="text"' in form or 'type="text" name="user"' in form
    assert 'value="api_client"' not in form  # a token's account gets its role with the token

    def post(**data):
        return client.post(add, {"user": clerk.username, "role": "", "organization": "", **data})

    refused = {
        "没有这个用户名的账号": post(user="nobody", role=Role.BRANCH_SECRETARY),
        "没有编码或全称为“北村党支部”的党组织": post(
            role=Role.BRANCH_SECRETARY, organization="北村党支部"
        ),
        "该角色必须指定所在党组织": post(role=Role.BRANCH_SECRETARY),
        "选择一个有效的选项": post(role=Role.API_CLIENT, organization=tree["root"].code),
    }
    for message, response in refused.items():
        assert response.status_code == 200 and message in response.content.decode(), message
    assert not clerk.role_assignments.exists()

    assert post(role=Role.BRANCH_SECRETARY, organization=" 东村党支部 ").status_code == 302
    grant = RoleAssignment.objects.get(user=clerk)
    assert (grant.role, grant.organization) == (Role.BRANCH_SECRETARY, tree["village"])
    change = client.get(f"/admin/portal/roleassignment/{grant.pk}/change/").content.decode()
    assert f'value="{clerk.username}"' in change and f'value="{tree["village"].code}"' in change
    # A system administrator's grant opens the back office to them, as grant_role does.
    other = get_user_model().objects.create_user("clerk5", password=PASSWORD)
    assert post(user=other.username, role=Role.SYSTEM_ADMIN).status_code == 302
    other.refresh_from_db()
    assert other.is_staff


def test_only_token_creation_decides_whether_it_is_unmasked(client, system_admin):
    from portal.services import api_token_create

    token, _key = api_token_create(name="大屏", organization=make_tree()["root"])
    page = client.get(f"/admin/portal/apitoken/{token.pk}/change/").content.decode()
    assert 'name="unmasked"' not in page
    assert 'name="revoked_at' not in page  # revoking is the action's, through the service


def test_a_system_administrator_revokes_tokens_with_their_accounts(client, system_admin):
    from portal.models import ApiToken
    from portal.services import api_token_create

    root = make_tree()["root"]
    tokens = [api_token_create(name=n, organization=root)[0] for n in ("大屏", "报表", "留用")]
    listing = client.get("/admin/portal/apitoken/").content.decode()
    assert "create_api_token" in listing  # where tokens come from, since none is added here
    response = client.post(
        "/admin/portal/apitoken/",
        {"action": "revoke", "_selected_action": [tokens[0].pk, tokens[1].pk]},
        follow=True,
    )
    assert "已吊销 2 个令牌" in response.content.decode()
    revoked = {t.name: (t.revoked_at is not None, t.user.is_active) for t in ApiToken.objects.all()}
    assert revoked == {"大屏": (True, False), "报表": (True, False), "留用": (False, True)}
    # Again: nothing left to revoke among them, and nothing else changes.
    response = client.post(
        "/admin/portal/apitoken/",
        {"action": "revoke", "_selected_action": [tokens[0].pk]},
        follow=True,
    )
    assert "已吊销 0 个令牌" in response.content.decode()


def test_the_back_office_reads_in_chinese(client):
    """Django admin's pages the duty administrators use, with no English sentence left (Django
    5.2 misses a few Simplified Chinese translations; the project's templates fill them in)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from portal.services import api_token_create

    tree = make_tree()
    api_token_create(name="大屏", organization=tree["root"])
    clerk = get_user_model().objects.create_user("clerk-zh", password=PASSWORD)
    device = TOTPDevice.objects.create(user=clerk, name="手机", confirmed=True)
    pages = {
        Role.SYSTEM_ADMIN: [
            "/admin/",
            "/admin/auth/user/",
            "/admin/auth/user/add/",
            "/admin/portal/apitoken/",
        ],
        Role.SECURITY_ADMIN: [
            "/admin/",
            "/admin/portal/roleassignment/",
            "/admin/portal/roleassignment/add/",
            "/admin/axes/accessattempt/",
            "/admin/portal/secondfactor/",
            f"/admin/portal/secondfactor/{device.pk}/change/",
            f"/admin/portal/secondfactor/{device.pk}/delete/",
        ],
    }
    english = re.compile(r"\b[A-Za-z][a-z]*(?:’[a-z]+)?(?: [a-z]+(?:’[a-z]+)?){2,}\b")
    for role, urls in pages.items():
        client.force_login(role_grant(username=f"duty-{role}", role=role).user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            page = response.content.decode()
            text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", page, flags=re.S)
            assert not english.findall(text), (url, english.findall(text))


def test_the_compiled_catalog_is_the_one_in_the_po_file():
    """locale/…/django.mo is committed (no gettext needed to run the portal): it must say what
    django.po says, so that an edit of the .po without compilemessages fails here."""
    import gettext
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES"
    po = (folder / "django.po").read_text(encoding="utf-8")
    pairs = dict(re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', po, flags=re.M))
    # Plural entries (one form in Chinese) are compiled under (msgid, 0).
    plurals = re.findall(r'^msgid "(.+)"\nmsgid_plural ".+"\nmsgstr\[0\] "(.+)"$', po, flags=re.M)
    pairs |= {(msgid, 0): msgstr for msgid, msgstr in plurals}
    with (folder / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    assert len(pairs) >= 7
    assert {k: v for k, v in compiled.items() if k} == pairs


def test_taking_password_sign_in_away_is_in_the_trail(client, system_admin):
    from django.apps import apps

    clerk = get_user_model().objects.create_user("clerk6", password=PASSWORD)
    response = client.post(
        f"/admin/auth/user/{clerk.pk}/password/",
        {"usable_password": "false", "unset-password": "禁用基于密码的认证"},
    )
    assert response["Location"] == f"/admin/auth/user/{clerk.pk}/change/"
    clerk.refresh_from_db()
    assert not clerk.has_usable_password()
    events = apps.get_model("portal", "PasswordStateEvent").objects.filter(pgh_obj_id=clerk.pk)
    latest = events.latest("pgh_id")
    assert latest.usable is False and latest.pgh_context["username"] == "sysadm"
    # Given a password again, the account can sign in with it, and the trail says so too.
    client.post(
        f"/admin/auth/user/{clerk.pk}/password/",
        {
            "usable_password": "true",
            "password1": "Another#2026pw",
            "password2": "Another#2026pw",
            "set-password": "设置密码",
        },
    )
    assert events.latest("pgh_id").usable is True
    # Saving an account without touching its password writes nothing more.
    count = events.count()
    clerk.refresh_from_db()
    clerk.first_name = "小"
    clerk.save()
    assert events.count() == count


def test_the_lockout_list_reads_in_chinese_and_masks_numbers_typed_as_usernames(client):
    from axes.models import AccessAttempt
    from django.test import Client

    from members.tests.factories import make_id_number

    number = make_id_number()
    for _ in range(2):  # someone typed their ID number as the username
        Client().post("/accounts/login/", {"username": number, "password": "wrong"})
    attempt = AccessAttempt.objects.get()
    client.force_login(role_grant(username="secadm", role=Role.SECURITY_ADMIN).user)
    listing = client.get("/admin/axes/accessattempt/").content.decode()
    detail = client.get(f"/admin/axes/accessattempt/{attempt.pk}/change/").content.decode()
    masked = number[:4] + "*" * 10 + number[-4:]
    for page in (listing, detail):
        assert number not in page and masked in page
    assert "还可尝试 3 次" in listing and "清理已过期的登录失败记录" in listing
    assert "登录锁定" in listing and "状态" in listing
    for english in (
        "Axes",
        "Locked Out",
        "Attempt Remaining",
        "Clean up",
        "Status",
        "Form Data",
        "Attempted Access",
        "HTTP Accept",
    ):
        assert english not in listing + detail, english
    assert "登录失败记录 " in detail  # the record's name in its title and breadcrumbs
    # Searching by what was typed still finds it.
    found = client.get("/admin/axes/accessattempt/", {"q": number}).content.decode()
    assert masked in found


def test_a_security_administrator_cannot_lift_their_own_lockout(client):
    from axes.models import AccessAttempt
    from django.test import Client

    me = role_grant(username="secadm", role=Role.SECURITY_ADMIN, password=PASSWORD).user
    fellow = role_grant(username="secadm2", role=Role.SECURITY_ADMIN, password=PASSWORD).user
    for _ in range(5):  # someone guessing the password from 10.0.0.9: locked out there
        Client().post(
            "/accounts/login/", {"username": "secadm", "password": "wrong"}, REMOTE_ADDR="10.0.0.9"
        )
    own = AccessAttempt.objects.get(username="secadm")
    client.force_login(me)  # signed in from another address
    assert client.get(f"/admin/axes/accessattempt/{own.pk}/delete/").status_code == 403
    client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [own.pk], "post": "yes"},
    )
    assert AccessAttempt.objects.filter(pk=own.pk).exists()
    # Another security administrator lifts it.
    client.force_login(fellow)
    response = client.post(f"/admin/axes/accessattempt/{own.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(pk=own.pk).exists()


def test_the_back_office_changes_the_tree_through_its_services(client):
    """An organization edited in the back office: a new parent moves its subtree with it (the
    paths scoping reads), and its type and standing are not fields to overwrite: a branch
    holding memberships would become functional with no record of the change."""
    from branches.choices import OrgStatus
    from branches.models import Organization
    from branches.tests.factories import make_committee

    tree = make_tree()
    make_member(home_org=tree["village"])
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    township, village = tree["township"], tree["village"]
    other = make_committee(parent=tree["root"], name="另一镇党委")
    response = client.post(
        f"/admin/branches/organization/{township.pk}/change/",
        {
            "code": township.code,
            "name": township.name,
            "kind": township.kind,
            "parent": other.pk,
            "branch_type": "",
            "status": "active",
            "version": township.updated_at.isoformat(),  # the page's, as opened
            "type_changes-TOTAL_FORMS": 0,
            "type_changes-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302
    township.refresh_from_db()
    village.refresh_from_db()
    assert township.parent == other
    assert village.path.startswith(township.path) and village.depth == township.depth + 1

    url = f"/admin/branches/organization/{village.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="branch_type"' not in page and 'name="status"' not in page
    response = client.post(
        url,
        {
            "code": village.code,
            "name": village.name,
            "kind": village.kind,
            "parent": township.pk,
            "branch_type": "functional",
            "status": "dissolved",
            "dissolved_on": "2025-01-01",
            "version": re.search(r'name="version" value="([^"]+)"', page)[1],
            "type_changes-TOTAL_FORMS": 0,
            "type_changes-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302
    village.refresh_from_db()
    assert (village.branch_type, village.status) == ("established", OrgStatus.ACTIVE)

    response = client.post(
        "/admin/branches/organization/",
        {"action": "dissolve", "_selected_action": [village.pk, tree["other"].pk]},
        follow=True,
    )
    assert (
        "东村党支部：该组织仍有 1 名党员的组织关系，请先转移组织关系" in response.content.decode()
    )
    statuses = dict(Organization.objects.values_list("name", "status"))
    assert statuses["东村党支部"] == OrgStatus.ACTIVE
    assert statuses["西村党支部"] == OrgStatus.DISSOLVED


def _organization_form(org, **changes) -> dict:
    """The fields of the admin's change form of a stored organization, as a browser posts them."""
    planned = org.planned_end_on.isoformat() if org.planned_end_on else ""
    return {
        "code": org.code,
        "name": org.name,
        "kind": org.kind,
        "parent": org.parent_id or "",
        "location_code": org.location_code,
        "host_unit": org.host_unit,
        "phone": org.phone,
        "planned_end_on": planned,
        "version": org.updated_at.isoformat(),  # the page's, as opened
        "type_changes-TOTAL_FORMS": 0,
        "type_changes-INITIAL_FORMS": 0,
        **changes,
    }


def test_the_back_office_shows_the_services_refusals_as_form_errors(client):
    """A rule the admin form's own checks leave out (the temporary branch's planned end: its
    check names the branch type, a read-only field there) is refused by the service as a
    form error in Chinese, not an error page when the row is written."""
    from branches.choices import BranchType
    from branches.models import Organization
    from branches.tests.factories import make_branch

    tree = make_tree()
    temporary = make_branch(parent=tree["township"], branch_type=BranchType.TEMPORARY)
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    url = f"/admin/branches/organization/{temporary.pk}/change/"
    response = client.post(url, _organization_form(temporary, name="新名称", planned_end_on=""))
    assert response.status_code == 200
    assert "临时党支部必须填写计划撤销日期" in response.content.decode()
    stored = Organization.objects.get(pk=temporary.pk)
    assert (stored.name, stored.planned_end_on) == (temporary.name, temporary.planned_end_on)

    response = client.post(url, _organization_form(temporary, name="新名称"))
    assert response.status_code == 302
    assert Organization.objects.get(pk=temporary.pk).name == "新名称"


@pytest.mark.django_db(transaction=True)
def test_an_organization_edited_in_the_back_office_waits_for_an_import_under_way(client):
    """The back office changes the tree as the forms do, under the tree lock: an edit made
    while an import (which judges its rows by the tree as it read it) runs waits for it."""
    import threading
    import time

    from django.db import connections

    from branches.constants import TREE_LOCK_KEY
    from branches.models import Organization

    village = make_tree()["village"]
    client.force_login(get_user_model().objects.create_superuser("root", password=PASSWORD))
    done = {}

    def edit():
        try:
            done["response"] = client.post(
                f"/admin/branches/organization/{village.pk}/change/",
                _organization_form(village, name="东村党支部（改）"),
            )
        finally:
            connections.close_all()

    importing = connections.create_connection("default")  # an import holding the tree lock
    try:
        importing.set_autocommit(False)
        with importing.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])
        thread = threading.Thread(target=edit)
        thread.start()
        deadline = time.monotonic() + 30
        while not a_session_waits_on_a_lock():
            assert time.monotonic() < deadline and thread.is_alive(), done
            time.sleep(0.02)
        assert Organization.objects.get(pk=village.pk).name == "东村党支部"
    finally:
        importing.rollback()
        importing.close()
    thread.join(30)
    assert done["response"].status_code == 302
    assert Organization.objects.get(pk=village.pk).name == "东村党支部（改）"


def test_the_password_page_of_the_back_office_reads_in_chinese(client):
    """Django writes the warning under 使用密码 in English, outside its catalogs ("If disabled,
    the current password for this user will be lost.")."""
    system_admin = role_grant(username="duty-sys", role=Role.SYSTEM_ADMIN).user
    account = get_user_model().objects.create_user(username="zhangsan", password="Wanrong@2026!")
    client.force_login(system_admin)
    response = client.get(f"/admin/auth/user/{account.pk}/password/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "If disabled" not in page
    assert 'id="id_unusable_warning"' in page  # Django's script shows it when 使用密码 is off
    assert "如果禁用，该账号现在的密码将会丢失。" in page


def test_a_security_administrator_resets_a_lost_second_factor(client):
    """A member of staff who lost their phone cannot sign in where TOTP is required: the
    security administrator removes their authenticator in the back office, and they set up a
    new one at their next sign-in. The secret is shown to nobody, the other duties cannot do
    it, and the trail says who did."""
    from django.apps import apps
    from django_otp.plugins.otp_totp.models import TOTPDevice

    clerk = get_user_model().objects.create_user("clerk-otp", password=PASSWORD)
    device = TOTPDevice.objects.create(user=clerk, name="手机", confirmed=True)
    listing_url = "/admin/portal/secondfactor/"
    change_url = f"{listing_url}{device.pk}/change/"
    delete_url = f"{listing_url}{device.pk}/delete/"

    for role in (Role.SYSTEM_ADMIN, Role.AUDITOR):
        client.force_login(role_grant(username=f"duty-{role}", role=role).user)
        assert client.get(listing_url).status_code in (302, 403), role
        assert client.post(delete_url, {"post": "yes"}).status_code in (302, 403), role
        if role == Role.SYSTEM_ADMIN:
            assert client.get(listing_url).status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()

    client.force_login(role_grant(username="secadm", role=Role.SECURITY_ADMIN).user)
    index = client.get("/admin/").content.decode()
    assert listing_url in index and "动态口令设备" in index
    listing = client.get(listing_url, {"q": "clerk-otp"})
    assert listing.status_code == 200 and "clerk-otp" in listing.content.decode()
    page = client.get(change_url).content.decode()
    assert device.key not in page and device.key not in listing.content.decode()
    assert client.get(f"{listing_url}add/").status_code == 403  # set up by the user alone
    response = client.post(delete_url, {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=clerk).exists()
    removed = apps.get_model("portal", "SecondFactorEvent").objects.get(pgh_label="delete")
    assert removed.pgh_context["username"] == "secadm" and removed.pgh_context["ip"]


def test_each_data_role_is_granted_on_its_kind_of_organization(client):
    """县委组织部管理员 on a 党委, 党（工）委工作人员 on a 党委, 党工委 or 党总支, 党支部书记 on a
    党支部: a branch's people are its secretary and 组织委员, not a committee's staff, and the
    county's administrators do not sit in a branch. Refused in a sentence, nothing saved."""
    from portal.models import RoleAssignment

    tree = make_tree()
    client.force_login(role_grant(username="secadm", role=Role.SECURITY_ADMIN).user)
    clerk = get_user_model().objects.create_user("clerk-kind", password=PASSWORD)
    add = "/admin/portal/roleassignment/add/"

    def post(role, org):
        return client.post(add, {"user": clerk.username, "role": role, "organization": org.code})

    refused = {
        (Role.COUNTY_ADMIN, "village"): "县委组织部管理员只能在党委任职：“东村党支部”是党支部，"
        "其书记、组织委员请在所在党支部授予党支部书记角色",
        (Role.COMMITTEE_STAFF, "village"): "党（工）委工作人员不能在党支部任职",
        (Role.COMMITTEE_STAFF, "functional"): "党（工）委工作人员不能在党支部任职",
    }
    for (role, org), message in refused.items():
        response = post(role, tree[org])
        assert response.status_code == 200, (role, org)
        assert message in response.content.decode(), (role, org)
    assert not RoleAssignment.objects.filter(user=clerk).exists()
    for role, org in (
        (Role.COUNTY_ADMIN, "root"),
        (Role.COMMITTEE_STAFF, "township"),
        (Role.BRANCH_SECRETARY, "village"),
    ):
        assert post(role, tree[org]).status_code == 302, (role, org)
    assert RoleAssignment.objects.filter(user=clerk).count() == 3


# --- stale change forms (portal/concurrency.py) ----------------------------------------------


class _FormFields(HTMLParser):
    """The values a browser posts back from a page's form (inputs, selects, text areas)."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "checkbox"):
            self.values[name] = attrs.get("value") or ""
        elif tag == "input" and name and "checked" in attrs:
            self.values[name] = attrs.get("value") or "on"
        elif tag == "select" and name:
            self._select = name
            self.values.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data.lstrip("\n")


def _opened(client, url) -> dict[str, str]:
    """Open a back-office change page: the form as a browser would post it back unchanged."""
    parser = _FormFields()
    parser.feed(client.get(url).content.decode())
    parser.values.pop("csrfmiddlewaretoken", None)
    return {k: v for k, v in parser.values.items() if "__prefix__" not in k}


@pytest.fixture
def imported_member(client, tmp_path):
    """A member registered by a real roster import, and a superuser signed in to the back
    office: (member, roster row, a function importing rows again)."""
    from members.models import Member
    from rosters.choices import ImportStatus
    from rosters.services import roster_import
    from rosters.tests.rosterdata import member_row, write_csv

    tree = make_tree()
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client.force_login(root)

    def run(rows):
        path = write_csv(tmp_path / f"roster{len(list(tmp_path.iterdir()))}.csv", rows)
        record = roster_import(source=path, filename=path.name, user=root)
        assert record.status == ImportStatus.IMPORTED, record.errors

    row = member_row(0, home=tree["village"].code)
    run([row])
    return Member.objects.by_id_number(row["公民身份号码"]).get(), row, run


def _stored(member):
    from members.models import Member, Mobility

    return (
        Member.objects.filter(pk=member.pk).values().get(),
        list(Mobility.objects.filter(member=member).order_by("pk").values()),
    )


def test_a_member_change_form_opened_before_a_roster_import_does_not_undo_it(
    client, imported_member
):
    member, row, run = imported_member
    url = f"/admin/members/member/{member.pk}/change/"
    form = _opened(client, url)
    assert form["name"] == row["姓名"] and form["version"]
    run([{**row, "姓名": "导入新名"}])
    before = _stored(member)

    response = client.post(url, form)

    assert response.status_code == 200
    assert "该党员的信息已在您打开此页后被修改" in response.content.decode()
    assert _stored(member) == before  # the import's name stays
    # Opened again, it saves.
    fresh = _opened(client, url)
    assert client.post(url, {**fresh, "education": "secondary_vocational"}).status_code == 302
    member.refresh_from_db()
    assert (member.name, member.education) == ("导入新名", "secondary_vocational")


def test_a_member_change_form_does_not_undo_an_import_of_the_mobility_shown_in_it(
    client, imported_member
):
    """The mobility rows on the member's page were opened with it too: saving the page would
    write their old values back over the import's."""
    member, row, run = imported_member
    url = f"/admin/members/member/{member.pk}/change/"
    form = _opened(client, url)
    run([{**row, "活动证编号": "导入新编号"}])  # the mobility only
    before = _stored(member)

    response = client.post(url, form)

    assert response.status_code == 200
    assert "该党员的外出登记已在您打开此页后被修改" in response.content.decode()
    assert _stored(member) == before
    assert member.mobilities.get().certificate_no == "导入新编号"


def test_an_organization_change_form_opened_before_another_save_does_not_undo_it(client):
    from django.test import Client

    from branches.models import Organization

    village = make_tree()["village"]
    root = get_user_model().objects.create_superuser("root", password=PASSWORD)
    client.force_login(root)
    url = f"/admin/branches/organization/{village.pk}/change/"
    form = _opened(client, url)
    other = Client()
    other.force_login(root)
    assert other.post(url, {**form, "host_unit": "另一人填的单位"}).status_code == 302
    before = Organization.objects.filter(pk=village.pk).values().get()

    response = client.post(url, {**form, "phone": "0359-5123456"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "该组织的信息已在您打开此页后被修改" in page and 'value="0359-5123456"' in page
    assert Organization.objects.filter(pk=village.pk).values().get() == before
    assert client.post(url, {**_opened(client, url), "phone": "0359-5123456"}).status_code == 302
    village.refresh_from_db()
    assert (village.host_unit, village.phone) == ("另一人填的单位", "0359-5123456")


def _while_open(write, other):
    """Run ``other`` in a thread of its own while this thread's transaction, opened by
    ``write`` (a back-office save, a command), is still open: committed once ``other`` waits
    for a lock (or has finished without waiting). Returns what ``other`` returned."""
    return run_beside(write, other, must_wait=False)


@pytest.mark.django_db(transaction=True)
def test_a_mobility_ended_in_the_back_office_while_an_import_runs_is_not_written_over(
    client, imported_member, tmp_path
):
    """The mobility's own back-office page ends it while an import of a roster that still has
    the member away runs: the import plans with the end (as with a return registered through a
    form) and refuses the row, instead of writing the roster's values into the mobility that
    just ended."""
    from django.utils import timezone

    from rosters.choices import ImportStatus
    from rosters.services import roster_import
    from rosters.tests.rosterdata import write_csv

    member, row, _run = imported_member
    mobility = member.mobilities.get()
    url = f"/admin/members/mobility/{mobility.pk}/change/"
    form = _opened(client, url)
    today = timezone.localdate()
    ended = {**form, "ended_on": today.isoformat(), "end_kind": "returned"}
    path = write_csv(tmp_path / "again.csv", [{**row, "工作单位": "新单位"}])

    def end_it():
        assert client.post(url, ended).status_code == 302

    record = _while_open(end_it, lambda: roster_import(source=path, filename=path.name))

    mobility.refresh_from_db()
    assert (mobility.ended_on, mobility.employer) == (today, "宏达建筑工程有限公司")
    assert record.status == ImportStatus.REFUSED, record.message
    assert record.errors[0][3].startswith("外出日期早于该党员上次外出的结束日期")


def test_a_member_change_form_does_not_undo_a_contact_recorded_meanwhile(client, imported_member):
    """A contact (a visit, dues, a registration) is recorded while the member's page is open:
    it sets the last contact date without a new version, and the page wrote its old date back,
    making the member lost to contact again."""
    from django.utils import timezone

    from members.models import Member
    from members.services import member_record_contact

    member, _row, _run = imported_member
    Member.objects.filter(pk=member.pk).update(last_contact_on=datetime.date(2020, 1, 1))
    url = f"/admin/members/member/{member.pk}/change/"
    form = _opened(client, url)
    member_record_contact(member=member)

    assert client.post(url, {**form, "education": "secondary_vocational"}).status_code == 302
    member.refresh_from_db()
    assert (member.education, member.last_contact_on) == (
        "secondary_vocational",
        timezone.localdate(),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["page", "action"])
def test_a_member_deleted_in_the_back_office_waits_for_the_member_before_its_mobilities(
    client, imported_member, how
):
    """Locks in the services' and imports' order, member before mobility: a deletion while an
    import or a return holds the member waits before it touches the mobilities (Django removes
    those first), instead of taking them and deadlocking with the holder waiting for them."""
    from django.db import connections
    from django.db.utils import OperationalError

    from members.models import Member

    member, _row, _run = imported_member
    mobility = member.mobilities.get()
    if how == "page":
        url, data = f"/admin/members/member/{member.pk}/delete/", {"post": "yes"}
    else:
        url = "/admin/members/member/"
        data = {"action": "delete_selected", "_selected_action": [member.pk], "post": "yes"}
    holder = connections.create_connection("default")  # an import holding the member
    holder.set_autocommit(False)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM members_member WHERE id = %s FOR UPDATE", [member.pk])

        def mobility_still_free():
            # What the holder takes next: never held by the deletion waiting for the member.
            with holder.cursor() as cursor:
                cursor.execute("SAVEPOINT probe")
                try:
                    cursor.execute(
                        "SELECT id FROM members_mobility WHERE id = %s FOR UPDATE NOWAIT",
                        [mobility.pk],
                    )
                except OperationalError:
                    cursor.execute("ROLLBACK TO SAVEPOINT probe")
                    return False
                cursor.execute("ROLLBACK TO SAVEPOINT probe")
                return True

        result = _while_held(lambda: client.post(url, data), holder, mobility_still_free)
    finally:
        holder.close()
    assert result["free"] is True
    assert result["response"].status_code == 302
    assert not Member.objects.filter(pk=member.pk).exists()


def _while_held(request, holder, probe):
    """Run ``request`` in a thread while ``holder`` (a connection in a transaction) holds its
    locks; once the request waits for a lock, ``probe()`` on the holder, then end its
    transaction. Returns the probe's answer and the request's response."""
    import threading
    import time

    from django.db import connections

    done = {}

    def target():
        try:
            done["response"] = request()
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 30
    while not a_session_waits_on_a_lock():
        assert time.monotonic() < deadline and thread.is_alive(), done
        time.sleep(0.02)
    done["free"] = probe()
    holder.commit()
    thread.join(60)
    return done
