"""The back office on a phone, under the portal's Content Security Policy: a change form
refused because its row changed since it was opened."""

import datetime

import pytest
from playwright.sync_api import expect

from members import services
from members.tests.factories import make_member
from portal.tests.factories import make_user

from .support import PASSWORD, assert_fits_phone, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_stale_member_page_is_refused_in_the_back_office_on_a_phone(
    live_server, page, watch, tree
):
    """Nothing goes wrong in the browser on the back office's pages either (no request for a
    favicon the portal does not have, which the console reports as an error)."""
    admin = make_user(username="root", password=PASSWORD, is_staff=True, is_superuser=True)
    member = make_member(home_org=tree["village"], name="李建国")
    mobility = services.member_register_outflow(
        member=member, left_on=datetime.date(2024, 3, 1), destination_code="610113"
    )
    sign_in(page, live_server, admin)
    page.goto(f"{live_server.url}/admin/members/member/{member.pk}/change/")
    expect(page.get_by_role("heading", name="李建国", exact=True)).to_be_visible()
    services.mobility_update(mobility=mobility, employer="书记在手机上改的单位")

    page.get_by_role("button", name="保存", exact=True).click()

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#content")).to_contain_text("该党员的外出登记已在您打开此页后被修改")
    assert_fits_phone(page)
    watch.assert_clean()
