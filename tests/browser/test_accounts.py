"""One's own account on a phone: an initial password given by an administrator is changed at
the first sign-in, before any other page, and the change leads where the user was going."""

import re

import pytest
from playwright.sync_api import expect

from portal.choices import Role
from portal.models import PasswordState
from portal.services import password_set_by_admin
from portal.tests.factories import make_user

from .support import PASSWORD, assert_fits_phone

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_initial_password_is_changed_before_anything_else(live_server, page, watch, tree):
    user = make_user(Role.BRANCH_SECRETARY, tree["village"], username="lisi", password=PASSWORD)
    password_set_by_admin(user)
    page.goto(f"{live_server.url}/members/")
    page.get_by_label("用户名").fill("lisi")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    expect(page.get_by_role("heading", name="修改密码")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("管理员设置的初始密码")
    assert_fits_phone(page)
    page.goto(f"{live_server.url}/orgs/")  # any other page leads back here
    expect(page).to_have_url(re.compile(r"/accounts/password/"))

    page.get_by_label("旧密码").fill(PASSWORD)
    page.get_by_label("新密码", exact=True).fill("Mine#2026pw")
    page.get_by_label("新密码确认").fill("Mine#2026pw")
    page.get_by_role("button", name="修改密码").click()

    expect(page.get_by_role("heading", name="组织架构")).to_be_visible()
    expect(page.get_by_text("密码已修改")).to_be_visible()
    assert not PasswordState.objects.get(user=user).must_change
    watch.assert_clean()
