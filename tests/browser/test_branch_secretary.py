"""A branch secretary (党支部书记) on a phone: their branch's roster, a member, a reveal, and a
member of another branch refused, under the Content Security Policy."""

import datetime

import pytest
from playwright.sync_api import expect

from members import services
from members.tests.factories import make_id_number, make_member
from portal.choices import AccessEventKind, Role
from portal.masking import mask_id_number
from portal.models import AccessEvent
from portal.tests.factories import make_user

from .support import PASSWORD, assert_fits_phone, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_branch_secretary_walks_their_branch_on_a_phone(live_server, page, watch, tree):
    secretary = make_user(
        Role.BRANCH_SECRETARY, tree["village"], username="wangli", password=PASSWORD
    )
    id_number = make_id_number()
    own = make_member(home_org=tree["village"], name="李建国", id_number=id_number)
    services.member_register_outflow(
        member=own,
        left_on=datetime.date(2024, 3, 1),
        destination_code="610113",
        employer="西安某某建筑工程有限责任公司第三分公司项目部",
        inflow_org=tree["functional"],
    )
    make_member(home_org=tree["village"], name="王东村")
    stranger = make_member(home_org=tree["other"], name="赵西村")

    sign_in(page, live_server, secretary)
    expect(page.get_by_text("管理范围：东村党支部")).to_be_visible()
    page.get_by_role("button", name="展开导航").click()
    menu = page.locator("#portal-nav")
    expect(menu.get_by_role("link", name="登记表导入")).to_have_count(0)  # no ledger rights
    menu.get_by_role("link", name="党员名册", exact=True).click()

    expect(page.get_by_role("heading", name="党员名册")).to_be_visible()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("main")).not_to_contain_text("赵西村")
    expect(page.get_by_role("link", name="导出当前筛选结果")).to_have_count(0)
    assert_fits_phone(page)
    page.get_by_label("搜索").fill("李建国")
    page.get_by_role("button", name="查询").click()
    expect(rows).to_have_count(1)
    assert_fits_phone(page)

    rows.get_by_role("link", name="李建国").click()
    expect(page.get_by_role("heading", name="李建国")).to_be_visible()
    expect(page.get_by_role("link", name="返乡")).to_be_visible()  # their branch: they may write
    shown = page.locator("#reveal-id_number")
    expect(shown).to_contain_text(mask_id_number(id_number))
    assert_fits_phone(page)
    shown.get_by_role("button", name="显示").click()
    expect(shown).to_contain_text(id_number)
    expect(shown).to_contain_text("本次查看已记录")
    assert AccessEvent.objects.filter(
        kind=AccessEventKind.REVEAL, user=secretary, object_id=str(own.pk)
    ).exists()
    assert_fits_phone(page)
    watch.assert_clean()

    refused = f"{live_server.url}/members/{stranger.pk}/"
    response = page.goto(refused)
    assert response.status == 404
    expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("赵西村")
    assert_fits_phone(page)
    # The refusal itself (the response, and Chromium's console line about it), nothing else.
    assert f"HTTP 404: {refused}" in watch.problems
    assert all("404" in problem for problem in watch.problems), watch.problems
