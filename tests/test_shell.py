"""The browser shell: offline assets, no inline script, login and logout, layout, home page."""

import datetime
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import NoReverseMatch, reverse

from branches.tests.factories import make_tree
from members.choices import PartyStatus
from members.models import Member
from members.services import member_register_outflow
from members.tests.factories import make_member
from portal.choices import Role
from portal.models import RoleAssignment

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"
STATIC = REPO / "static"
PASSWORD = "Portal-test-2026!"


def template_files():
    files = sorted(TEMPLATES.rglob("*.html"))
    assert files, "no templates found"
    return files


# --- offline, CSP-ready templates ----------------------------------------------------------------

OUTSIDE_URL = re.compile(r"""\b(?:src|href|action|srcset)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
STATIC_TAG = re.compile(r"""{%\s*static\s+["']([^"']+)["']\s*%}""")
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
EVENT_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*["']""", re.I)
STYLE_ATTR_OR_TAG = re.compile(r"""<style\b|\sstyle\s*=\s*["']""", re.I)


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_loads_nothing_from_outside(path):
    text = path.read_text(encoding="utf-8")
    assert not OUTSIDE_URL.search(text), OUTSIDE_URL.search(text).group(0)
    assert "cdn" not in text.lower()


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_static_paths_exist(path):
    for asset in STATIC_TAG.findall(path.read_text(encoding="utf-8")):
        assert (STATIC / asset).is_file(), f"{path.name}: static/{asset} is missing"


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_template_has_no_inline_script_style_or_handlers(path):
    """A Content-Security-Policy without 'unsafe-inline' must not break any page."""
    text = path.read_text(encoding="utf-8")
    for attrs in SCRIPT_TAG.findall(text):
        assert "src=" in attrs, f"{path.name}: inline <script>"
    assert not EVENT_HANDLER.search(text), f"{path.name}: inline event handler"
    assert not STYLE_ATTR_OR_TAG.search(text), f"{path.name}: inline style"
    assert "hx-on" not in text, f"{path.name}: hx-on needs eval"


def test_base_layout_loads_the_vendored_assets():
    text = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    assert STATIC_TAG.findall(text) == [
        "vendor/bootstrap-5.3.8/bootstrap.min.css",
        "css/portal.css",
        "vendor/bootstrap-5.3.8/bootstrap.bundle.min.js",
        "vendor/htmx-2.0.7/htmx.min.js",
    ]


def test_every_page_template_extends_the_one_layout():
    # 400, 500 and the CSRF failure: Django renders them without a request context (no user,
    # no navigation); they share the error pages' own layout.
    errors = {"400.html", "500.html", "403_csrf.html"}
    for path in template_files():
        name = str(path.relative_to(TEMPLATES))
        if name == "base.html" or Path(name).name.startswith("_") or name.startswith("includes/"):
            continue
        text = path.read_text(encoding="utf-8")
        if name in errors:
            assert re.search(r"{%\s*extends\s+\"_error_page\.html\"", text), name
            continue
        if name.startswith("admin/"):  # the back office's pages extend Django admin's own
            assert re.search(r"{%\s*extends\s+\"admin/\w+\.html\"", text), name
            continue
        # Directly, or through a section's own _base.html that extends a generic page.
        assert re.search(r"{%\s*extends\s+\"(base|generic/\w+|\w+/_base)\.html\"", text), name


# --- login, logout, layout -----------------------------------------------------------------------


def make_user(username, role=None, org=None, **extra):
    user = User.objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        RoleAssignment.objects.create(user=user, role=role, organization=org)
    return user


@pytest.fixture
def tree():
    return make_tree()


@pytest.mark.django_db
def test_login_page_is_chinese_and_phone_ready(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    page = response.content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "用户名" in page and "密码" in page and "登录" in page
    assert 'lang="zh-hans"' in page
    assert "/static/vendor/bootstrap-5.3.8/bootstrap.min.css" in page


@pytest.mark.django_db
def test_login_with_wrong_password_says_so_in_chinese(client, tree):
    make_user("secretary", Role.BRANCH_SECRETARY, tree["village"])
    response = client.post("/accounts/login/", {"username": "secretary", "password": "wrong-1A!"})
    assert response.status_code == 200
    assert "请输入一个正确的用户名和密码" in response.content.decode()


@pytest.mark.django_db
def test_login_then_logout_by_post(client, tree):
    make_user("secretary", Role.BRANCH_SECRETARY, tree["village"])
    response = client.post("/accounts/login/", {"username": "secretary", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/").content.decode()
    assert "退出" in home
    assert client.get(reverse("logout")).status_code == 405  # logout is a POST only
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_anonymous_home_goes_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


@pytest.mark.django_db
def test_navigation_follows_the_role(client, tree):
    secretary = make_user(
        "secretary", Role.BRANCH_SECRETARY, tree["village"], first_name="李", last_name="书记"
    )
    client.force_login(secretary)
    page = client.get("/").content.decode()
    assert "党支部书记" in page
    assert reverse("branches:tree") in page and reverse("members:list") in page
    assert reverse("api-docs") not in page  # no ledger rights
    assert 'hx-headers=\'{"X-CSRFToken": "' in page

    county = make_user("county", Role.COUNTY_ADMIN, tree["root"])
    client.force_login(county)
    page = client.get("/").content.decode()
    assert "县委组织部管理员" in page
    assert reverse("api-docs") in page

    auditor = make_user("auditor", Role.AUDITOR)
    client.force_login(auditor)
    page = client.get("/").content.decode()
    assert "审计员" in page
    assert reverse("members:list") not in page and reverse("branches:tree") not in page


@pytest.mark.django_db
def test_out_of_scope_is_the_layouts_404_page(client, tree, settings):
    settings.DEBUG = False
    client.force_login(make_user("secretary", Role.BRANCH_SECRETARY, tree["village"]))
    response = client.get(reverse("branches:detail", args=[tree["root"].pk]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "页面不存在" in page and "流动党员管理门户" in page
    assert tree["root"].name not in page


# --- the home dashboard --------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_counts_link_to_the_same_rows(client, tree):
    east = make_member(home_org=tree["village"], name="东村甲")
    make_member(home_org=tree["village"], name="东村乙")
    make_member(home_org=tree["other"], name="西村甲")
    member_register_outflow(
        member=east, left_on=datetime.date(2025, 3, 1), destination_code="610113"
    )
    Member.objects.filter(name="西村甲").update(last_contact_on=datetime.date(2020, 1, 1))
    client.force_login(make_user("county", Role.COUNTY_ADMIN, tree["root"]))
    response = client.get("/")
    cards = {str(c["label"]): c for c in response.context["cards"]}
    assert cards["党组织"]["count"] == 5
    assert cards["党员"]["count"] == 3
    assert cards["流动党员"]["count"] == 1
    assert cards["失联党员"]["count"] == 1
    # Every branch of make_tree has fewer than 3 full members: one warning each (2 holding
    # memberships); the functional branch holds none.
    assert cards["实践提示"]["count"] == 2
    for label in ("党员", "流动党员", "失联党员"):
        listed = client.get(cards[label]["url"])
        assert listed.context["paginator"].count == cards[label]["count"], label


@pytest.mark.django_db
def test_home_counts_mobile_members_in_normal_standing_as_it_counts_members(client, tree):
    # A member whose party standing is stopped (停止党籍) while away is neither among the
    # 党员 nor the 失联党员 cards: counted among the 流动党员, there were more mobile members
    # than members (the demo's Xi'an branch: 党员 295, 流动党员 296).
    away = make_member(home_org=tree["village"], name="东村甲")
    stopped = make_member(home_org=tree["village"], name="东村乙")
    for member in (away, stopped):
        member_register_outflow(
            member=member, left_on=datetime.date(2025, 3, 1), destination_code="610113"
        )
    Member.objects.filter(pk=stopped.pk).update(party_status=PartyStatus.STOPPED)
    client.force_login(make_user("county", Role.COUNTY_ADMIN, tree["root"]))
    cards = {str(c["label"]): c for c in client.get("/").context["cards"]}
    assert cards["党员"]["count"] == 1
    assert cards["流动党员"]["count"] == 1
    listed = client.get(cards["流动党员"]["url"])
    assert [m.name for m in listed.context["object_list"]] == ["东村甲"]


@pytest.mark.django_db
def test_home_of_a_branch_secretary_counts_only_the_branch(client, tree):
    make_member(home_org=tree["village"], name="东村甲")
    make_member(home_org=tree["other"], name="西村甲")
    client.force_login(make_user("secretary", Role.BRANCH_SECRETARY, tree["village"]))
    response = client.get("/")
    cards = {str(c["label"]): c["count"] for c in response.context["cards"]}
    assert cards["党组织"] == 1
    assert cards["党员"] == 1
    page = response.content.decode()
    assert "西村" not in page and "测试镇党委" not in page


@pytest.mark.django_db
def test_home_of_an_auditor_shows_no_data(client, tree):
    make_member(home_org=tree["village"], name="东村甲")
    client.force_login(make_user("auditor", Role.AUDITOR))
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "只能查看审计记录" in page
    try:
        audit_url = reverse("audit:changes")
    except NoReverseMatch:  # the audit pages are not installed
        audit_url = None
    if audit_url:
        assert f'href="{audit_url}"' in page
    assert "cards" not in response.context
    assert "东村" not in page and tree["root"].name not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "told"),
    [
        (Role.SYSTEM_ADMIN, "系统管理员管理账号和接口令牌"),
        (Role.SECURITY_ADMIN, "安全管理员管理角色授权和登录锁定"),
        (None, "您的账号还没有角色"),
    ],
)
def test_home_of_a_user_without_data_says_where_their_work_is(client, tree, role, told):
    """Not the auditor's text, nor a button to pages that would refuse them."""
    make_member(home_org=tree["village"], name="东村甲")
    user = make_user("duty", role, is_staff=role is not None)
    client.force_login(user)
    page = client.get("/").content.decode()
    assert told in page
    assert "审计" not in page.split("<main")[1]
    assert f'href="{reverse("audit:changes")}"' not in page
    admin_button = f'href="{reverse("admin:index")}">进入后台管理'
    assert (admin_button in page) is (role is not None)
    assert "东村" not in page and tree["root"].name not in page
