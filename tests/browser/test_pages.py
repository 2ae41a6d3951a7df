"""The portal in a real browser on a phone, under its Content Security Policy (no inline
scripts or styles): signing in, the folded menu, and revealing a masked ID number with htmx."""

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from branches.tests.factories import make_branch, make_committee
from members.tests.factories import make_id_number, make_member
from portal.choices import AccessEventKind
from portal.masking import mask_id_number
from portal.models import AccessEvent

from .support import PASSWORD, assert_fits_phone, expect_unfolded, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

INLINE_SCRIPT = """() => {
  const script = document.createElement("script");
  script.textContent = "window.inlineScriptRan = true";
  document.head.append(script);
}"""


def test_the_watch_reports_what_the_policy_refuses(live_server, page, watch):
    """The checks of the other tests can fail: the portal's policy refuses an inline script,
    and the watch, itself injected outside the policy, reports it."""
    page.goto(f"{live_server.url}/accounts/login/")

    with page.expect_console_message(lambda m: "securitypolicyviolation" in m.text) as message:
        page.evaluate(INLINE_SCRIPT)

    assert "script-src" in message.value.text
    assert page.evaluate("window.inlineScriptRan") is None
    assert any("securitypolicyviolation" in problem for problem in watch.problems)
    with pytest.raises(AssertionError):
        watch.assert_clean()


def test_a_county_admin_signs_in_on_a_phone(live_server, page, watch, county_admin):
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("heading", name="登录")).to_be_visible()

    page.get_by_label("用户名").fill(county_admin.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    expect(page.get_by_role("heading", name="首页")).to_be_visible()
    expect(page.get_by_text("管理范围：中共测试县委")).to_be_visible()
    # The vendored scripts loaded from the live server and ran under the policy.
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("typeof window.bootstrap") == "object"
    assert_fits_phone(page)
    watch.assert_clean()


def test_the_menu_opens_behind_the_toggler_on_a_phone(live_server, page, watch, county_admin):
    sign_in(page, live_server, county_admin)
    menu = page.locator("#portal-nav")
    members_link = menu.get_by_role("link", name="党员名册", exact=True)
    toggler = page.get_by_role("button", name="展开导航")
    expect(members_link).to_be_hidden()

    toggler.click()

    expect_unfolded(page, "#portal-nav")
    expect(members_link).to_be_visible()
    expect(toggler).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_text("张伟")).to_be_visible()
    members_link.click()
    expect(page.get_by_role("heading", name="党员名册")).to_be_visible()
    assert_fits_phone(page)
    watch.assert_clean()


def test_a_masked_id_number_is_revealed_in_place_and_recorded(
    live_server, page, watch, county_admin, tree
):
    id_number = make_id_number()
    member = make_member(
        home_org=tree["village"], name="李建国", id_number=id_number, phone="13912345678"
    )
    sign_in(page, live_server, county_admin)
    page.goto(f"{live_server.url}/members/")
    row = page.get_by_role("row").filter(has_text="李建国")
    expect(row).to_contain_text("139****5678")
    expect(page.locator("main")).not_to_contain_text("13912345678")
    assert_fits_phone(page)

    row.get_by_role("link", name="李建国").click()
    shown = page.locator("#reveal-id_number")
    expect(shown).to_contain_text(mask_id_number(id_number))
    expect(page.locator("main")).not_to_contain_text(id_number)
    detail_url = page.url
    shown.get_by_role("button", name="显示").click()

    expect(page.locator("#reveal-id_number")).to_contain_text(id_number)
    expect(page.locator("#reveal-id_number")).to_contain_text("本次查看已记录")
    assert page.url == detail_url  # swapped into the page by htmx, not a page of its own
    expect(page.locator("#reveal-phone")).to_contain_text("139****5678")
    event = AccessEvent.objects.get(kind=AccessEventKind.REVEAL)
    assert (event.user, event.object_id, event.detail) == (
        county_admin,
        str(member.pk),
        {"field": "id_number"},
    )
    assert_fits_phone(page)
    watch.assert_clean()


def test_a_reveal_after_the_session_ended_leads_to_the_login_page(
    live_server, page, watch, county_admin, tree
):
    """The login page the expired session is sent to replaces the whole page, not the button
    (htmx would swap it into the fragment's place), and signing in comes back to the member."""
    member = make_member(home_org=tree["village"], name="李建国")
    sign_in(page, live_server, county_admin)
    page.goto(f"{live_server.url}/members/{member.pk}/")
    detail_url = page.url
    Session.objects.all().delete()  # the idle timeout, without waiting half an hour

    page.locator("#reveal-id_number").get_by_role("button", name="显示").click()

    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.get_by_role("heading", name="李建国")).to_have_count(0)
    assert not AccessEvent.objects.filter(kind=AccessEventKind.REVEAL).exists()
    page.get_by_label("用户名").fill(county_admin.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", name="李建国")).to_be_visible()
    assert page.url == detail_url
    assert_fits_phone(page)
    watch.assert_clean()


def test_the_api_docs_draw_the_schema_under_the_policy(live_server, page, watch, county_admin):
    """Swagger UI (drf-spectacular's, from the sidecar) runs without breaking the policy; the
    page's own inline style is let through by its hash (portal/api/urls.py)."""
    sign_in(page, live_server, county_admin)
    page.get_by_role("button", name="展开导航").click()
    page.locator("#portal-nav").get_by_role("link", name="接口文档").click()

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("流动党员管理门户 API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(250, 250, 250)"
    watch.assert_clean()


def test_a_long_name_in_the_tree_stays_beside_its_fold_marker_on_a_phone(
    live_server, page, watch, county_admin, tree
):
    # The demo county's 中共万荣县流动党员委员会 and its badges do not fit beside the marker.
    committee = make_committee(parent=tree["root"], name="中共测试县流动党员驻外工作委员会")
    make_branch(parent=committee, name="驻西安党支部二")
    sign_in(page, live_server, county_admin)
    page.goto(f"{live_server.url}/orgs/")
    summary = page.locator("summary").filter(has_text=committee.name)
    name = summary.get_by_role("link", name=committee.name)
    expect(name).to_be_visible()
    marker_top = summary.bounding_box()["y"]
    # On the marker's line, not pushed below it as a whole.
    assert name.bounding_box()["y"] - marker_top < 10, "the name wrapped below its marker"
    summary.click(position={"x": 4, "y": 8})  # the marker still unfolds it
    expect(page.get_by_role("link", name="驻西安党支部二")).to_be_visible()
    assert_fits_phone(page)
    watch.assert_clean()
