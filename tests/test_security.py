"""Authentication and separation of duties (等保 2.0 level 3)."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from branches.tests.factories import make_tree
from portal.choices import Role
from portal.middleware import SESSION_STARTED_KEY
from portal.models import RoleAssignment
from portal.services import role_grant
from portal.tests.factories import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "Secret#2026pw"


def login(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


@pytest.fixture
def tree():
    return make_tree()


@pytest.fixture
def secretary(tree):
    return make_user(Role.BRANCH_SECRETARY, tree["village"], username="sec", password=PASSWORD)


# --- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Ab#1", "太短"),
        ("abcdefgh12", "字母、数字和符号"),
        ("abcdefgh#!", "字母、数字和符号"),
        ("12345678#!", "字母、数字和符号"),
        ("Password1!", "太常见"),
        ("zhangsan#2026", "相似"),
    ],
)
def test_password_rules(password, message):
    from django.contrib.auth.password_validation import validate_password

    user = get_user_model()(username="zhangsan2026")
    with pytest.raises(ValidationError) as exc:
        validate_password(password, user)
    assert any(message in m for m in exc.value.messages), exc.value.messages


def test_a_good_password_passes():
    from django.contrib.auth.password_validation import validate_password

    validate_password("Wanrong#2026!x", get_user_model()(username="li"))


# --- lockout --------------------------------------------------------------------------------


def test_five_failures_lock_the_username_and_address_for_30_minutes(secretary, settings):
    client = Client()
    for _ in range(4):
        assert login(client, "sec", "wrong").status_code == 200
    assert login(client, "sec", "wrong").status_code == 429  # the fifth failure locks
    locked = login(client, "sec")  # right password, still locked
    assert locked.status_code == 429
    assert "已锁定 30 分钟" in locked.content.decode()
    # Another address is not locked out for this username.
    assert login(Client(), "sec", ip="10.0.0.2").status_code == 302
    # After the cool-off the pair may try again.
    from axes.models import AccessAttempt

    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME * 2)
    assert login(client, "sec").status_code == 302


def test_success_resets_failures(secretary):
    client = Client()
    for _ in range(4):
        login(client, "sec", "wrong")
    assert login(client, "sec").status_code == 302
    client.logout()
    for _ in range(4):
        login(client, "sec", "wrong")
    assert login(client, "sec").status_code == 302


# --- sessions -------------------------------------------------------------------------------


def test_idle_timeout_is_30_minutes(secretary, settings):
    client = Client()
    login(client, "sec")
    assert settings.SESSION_COOKIE_AGE == 1800 and settings.SESSION_SAVE_EVERY_REQUEST
    assert 0 < client.session.get_expiry_age() <= 1800


def test_absolute_timeout_is_12_hours(secretary):
    client = Client()
    login(client, "sec")
    assert client.get(reverse("home")).status_code == 200
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - 12 * 3600 - 1
    session.save()
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get(reverse("home")).status_code == 302


def test_password_change_ends_other_sessions(secretary):
    first, second = Client(), Client()
    login(first, "sec")
    login(second, "sec", ip="10.0.0.3")
    secretary.set_password("Another#2026pw")
    secretary.save()
    assert first.get(reverse("home")).status_code == 302
    assert second.get(reverse("home")).status_code == 302


# --- second factor --------------------------------------------------------------------------


def test_totp_setup_then_required_at_every_login(secretary):
    client = Client()
    login(client, "sec")
    page = client.get(reverse("otp"))
    assert "绑定动态验证器" in page.content.decode()
    device = TOTPDevice.objects.get(user=secretary)
    wrong = client.post(reverse("otp"), {"token": "000000"})
    assert wrong.status_code == 200 and "验证码不正确" in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # a failed code slows the next try down; skip the wait
    token = str(totp(device.bin_key)).zfill(6)
    assert client.post(reverse("otp"), {"token": token}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    # A new login must pass the code before any page.
    other = Client()
    login(other, "sec", ip="10.0.0.4")
    response = other.get(reverse("members:list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp"))


def test_admins_must_use_totp_when_required(tree, settings):
    settings.PORTAL_REQUIRE_OTP_FOR_ADMINS = True
    make_user(Role.COUNTY_ADMIN, tree["root"], username="boss", password=PASSWORD)
    client = Client()
    login(client, "boss")
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("otp"))
    # A branch secretary is not an administrator.
    make_user(Role.BRANCH_SECRETARY, tree["village"], username="sec2", password=PASSWORD)
    client = Client()
    login(client, "sec2")
    assert client.get(reverse("home")).status_code == 200


# --- separation of duties -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN),
        (Role.SYSTEM_ADMIN, Role.AUDITOR),
        (Role.SECURITY_ADMIN, Role.AUDITOR),
    ],
)
def test_one_person_holds_one_duty(first, second):
    role_grant(username="wang", role=first)
    with pytest.raises(ValidationError) as exc:
        role_grant(username="wang", role=second)
    assert "三权分立" in exc.value.messages[0]
    assert list(RoleAssignment.objects.values_list("role", flat=True)) == [first]
    with pytest.raises(CommandError):
        call_command("grant_role", "wang", second)


ADMIN_PAGES = {
    "users": "/admin/auth/user/",
    "roles": "/admin/portal/roleassignment/",
    "lockouts": "/admin/axes/accessattempt/",
    "tokens": "/admin/portal/apitoken/",
    "audit": "/audit/",
    "members": "/members/",
}
# What each duty may open (200) — everything else is refused (302 to login, 403 or 404).
MATRIX = {
    Role.SYSTEM_ADMIN: {"users", "tokens"},
    Role.SECURITY_ADMIN: {"roles", "lockouts"},
    Role.AUDITOR: {"audit"},
}


@pytest.mark.parametrize("role", list(MATRIX))
def test_role_separation_matrix(role, client):
    assignment = role_grant(username=f"duty-{role}", role=role, password=PASSWORD)
    client.force_login(assignment.user)
    for name, url in ADMIN_PAGES.items():
        status = client.get(url).status_code
        if name in MATRIX[role]:
            assert status == 200, (role, name, status)
        else:
            assert status in (302, 403, 404), (role, name, status)
