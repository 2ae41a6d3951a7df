"""The auditor on a phone: the trail's filters unfold behind their button (the trail has no
search box to sit beside them), and each event reads as a card, its changes in sight."""

import datetime
import re

import pytest
from playwright.sync_api import expect

from members import services
from members.tests.factories import make_member
from portal.choices import Role
from portal.tests.factories import make_user

from .support import PASSWORD, assert_fits_phone, expect_unfolded, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The number of lines a cell's text takes.
LINES = """e => {
  const range = document.createRange();
  range.selectNodeContents(e);
  return new Set([...range.getClientRects()].filter(r => r.width).map(r => r.top)).size;
}"""


def test_the_auditor_filters_the_trail_on_a_phone(live_server, page, watch, tree):
    member = make_member(home_org=tree["village"], name="审计乙")
    services.member_update(member=member, remarks="已核实")
    auditor = make_user(Role.AUDITOR, username="shenji", password=PASSWORD)
    sign_in(page, live_server, auditor)
    page.goto(f"{live_server.url}/audit/")
    operation = page.get_by_label("操作", exact=True)
    expect(operation).to_be_hidden()
    rows = page.locator("main tbody tr")
    expect(rows.filter(has_text="新增").first).to_be_visible()

    page.get_by_role("button", name="筛选条件").click()
    expect_unfolded(page, "#more-filters")
    operation.select_option(label="修改")
    page.get_by_label("对象类型").select_option(label="党员")
    page.get_by_label("对象编号").fill(str(member.pk))
    page.get_by_role("button", name="筛选", exact=True).click()
    expect(page).to_have_url(re.compile(rf"object_id={member.pk}(&|$)"))

    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(f"党员 #{member.pk}")
    expect(rows).to_contain_text("备注：— → 已核实")
    expect(page.locator("main thead")).to_be_hidden()  # stacked: each event a card
    assert_fits_phone(page)
    watch.assert_clean()


def test_a_new_members_event_fits_a_phone(live_server, page, watch, tree):
    # A member's insert shows the ID number's lookup hash: 64 hex digits without a break.
    make_member(home_org=tree["village"], name="审计丙")
    auditor = make_user(Role.AUDITOR, username="shenji", password=PASSWORD)
    sign_in(page, live_server, auditor)
    page.goto(f"{live_server.url}/audit/")
    expect(page.locator("main tbody tr").filter(has_text="身份证号摘要").first).to_be_visible()
    assert_fits_phone(page)
    watch.assert_clean()


def test_the_changed_object_reads_on_one_line_on_a_desktop(live_server, browser, tree):
    # A long line among the changes (a long 备注, an import's list of errors) took the whole
    # width, leaving the object and the operation a character or two wide: 外出/登记/#10, 新/增.
    member = make_member(home_org=tree["village"], name="审计丁", remarks="多次联系未果，" * 60)
    services.member_register_outflow(
        member=member, left_on=datetime.date(2025, 3, 1), destination_code="610113"
    )
    auditor = make_user(Role.AUDITOR, username="shenji", password=PASSWORD)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    try:
        sign_in(page, live_server, auditor)
        page.goto(f"{live_server.url}/audit/")
        row = page.locator("main tbody tr").filter(has_text="外出登记").first
        expect(row).to_be_visible()
        target, operation = row.locator("td").nth(3), row.locator("td").nth(4)
        expect(operation).to_have_text("新增")
        assert target.bounding_box()["width"] >= 160, target.bounding_box()
        assert target.evaluate(LINES) <= 4, target.inner_text()  # not a character a line
        assert operation.evaluate(LINES) == 1
    finally:
        context.close()
