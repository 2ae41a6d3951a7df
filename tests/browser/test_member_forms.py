"""The mobility forms on a phone: an error is shown beside the field it is about."""

import datetime

import pytest
from playwright.sync_api import expect

from members import services
from members.models import Mobility
from members.tests.factories import make_member
from portal.choices import Role
from portal.tests.factories import make_user

from .support import PASSWORD, assert_fits_phone, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("path", "field", "label"),
    [("return", "returned_on", "返乡日期"), ("transfer", "transferred_out_on", "转出日期")],
)
def test_an_end_date_before_the_outflow_is_shown_beside_its_field(
    live_server, page, watch, tree, path, field, label
):
    secretary = make_user(
        Role.BRANCH_SECRETARY, tree["village"], username="wangli", password=PASSWORD
    )
    member = make_member(home_org=tree["village"], name="李建国")
    services.member_register_outflow(
        member=member, left_on=datetime.date(2024, 3, 1), destination_code="610113"
    )

    sign_in(page, live_server, secretary)
    page.goto(f"{live_server.url}/members/{member.pk}/{path}/")
    page.get_by_label(label).fill("2024-02-01")
    if path == "transfer":
        page.get_by_label("转入党组织").fill("中共西安市雁塔区某某社区委员会")
    page.get_by_role("button", name="确认办理").click()

    error = page.locator(f"#id_{field}_errors")
    expect(error).to_have_text("返乡或转出日期不能早于外出日期 2024-03-01")
    expect(page.locator(".alert-danger")).to_have_count(0)
    expect(page.get_by_label(label)).to_have_value("2024-02-01")
    assert Mobility.objects.get(member=member).ended_on is None
    assert_fits_phone(page)
    watch.assert_clean()
