"""Authentication and separation of duties (等保 2.0 level 3)."""

import datetime
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.helpers import get_client_ip_address
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model, password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from branches.tests.factories import make_tree
from portal.access import client_ip
from portal.choices import ADMIN_ROLES, AccessEventKind, Role
from portal.middleware import SESSION_STARTED_KEY
from portal.models import AccessEvent, RoleAssignment
from portal.services import role_grant
from portal.tests.factories import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "Secret#2026pw"
User = get_user_model()


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
        # Common passwords disguised with digits and symbols at the ends, or for letters.
        ("Admin@123", "太常见"),
        ("Qwerty@123", "太常见"),
        ("P@ssw0rd1", "太常见"),
        ("Passw0rd!", "太常见"),
        ("!1Dragon2024", "太常见"),
        ("zhangsan#2026", "相似"),
    ],
)
def test_password_rules(password, message):
    from django.contrib.auth.password_validation import validate_password

    user = get_user_model()(username="zhangsan2026")
    with pytest.raises(ValidationError) as exc:
        validate_password(password, user)
    assert any(message in m for m in exc.value.messages), exc.value.messages


@pytest.mark.parametrize("password", ["1qaz@WSX", "!qaz2wsx", "film@123"])
def test_common_passwords_as_typed_are_refused(password):
    from django.contrib.auth.password_validation import validate_password

    with pytest.raises(ValidationError) as exc:
        validate_password(password, get_user_model()(username="li"))
    assert exc.value.messages == ["密码太常见：这是常用密码之一"]


def test_no_password_of_djangos_common_list_passes():
    from django.contrib.auth.password_validation import validate_password

    from portal.password_validation import DisguisedCommonPasswordValidator

    refused = 0
    for password in DisguisedCommonPasswordValidator().passwords:
        with pytest.raises(ValidationError):
            validate_password(password, get_user_model()(username="li"))
        refused += 1
    assert refused > 10000  # the whole list was read


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
    # The trail tells the failures that locked the pair from the attempts refused because of
    # it (the right password among them).
    failures = AccessEvent.objects.filter(kind=AccessEventKind.LOGIN_FAILED).order_by("pk")
    assert [e.detail.get("reason") for e in failures] == [None] * 4 + ["locked_out"] * 2
    from portal.audit import access_details

    assert ("原因", "失败次数过多，用户名与地址已锁定") in access_details(failures.last())
    # Another address is not locked out for this username.
    assert login(Client(), "sec", ip="10.0.0.2").status_code == 302
    # After the cool-off the pair may try again.
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


# --- the client address behind reverse proxies ---------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "spoofed, 203.0.113.9", "203.0.113.9"),  # the proxy's hop, not the client's claim
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "2001:DB8::1", "2001:db8::1"),
        (2, "spoofed, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (0, "spoofed, 203.0.113.9", "10.0.0.1"),  # no trusted proxy: the header is ignored
        (1, "203.0.113.9, not-an-address", "10.0.0.1"),  # an invalid hop falls back
        (1, "203.0.113.9:4431", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (2, "203.0.113.9", "10.0.0.1"),  # fewer hops than proxies
        # The inner proxy's hop is not a proxy's address: nothing beyond the peer is believed.
        (2, "spoofed, 203.0.113.9, 198.51.100.7", "10.0.0.1"),
    ],
)
def test_client_ip_reads_x_forwarded_for_from_the_right(proxies, forwarded, expected, rf):
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(
        PORTAL_TRUSTED_PROXY_COUNT=proxies, PORTAL_TRUSTED_PROXIES=["10.0.0.0/8"]
    ):
        assert client_ip(request) == expected
        # django-axes asks the same function (AXES_CLIENT_IP_CALLABLE).
        assert get_client_ip_address(request) == expected


@pytest.mark.parametrize("proxies", [["10.0.0.2"], ["192.168.0.0/16", "::1"], []])
def test_client_ip_believes_the_header_only_from_a_trusted_proxy(proxies, rf):
    # Someone reaching the server directly (not through the proxy) sends the header themselves.
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    with override_settings(PORTAL_TRUSTED_PROXY_COUNT=1, PORTAL_TRUSTED_PROXIES=proxies):
        assert client_ip(request) == "10.0.0.1"
        assert get_client_ip_address(request) == "10.0.0.1"


@pytest.mark.parametrize("peer", ["::ffff:10.0.0.1", "::ffff:a00:1", "10.0.0.1"])
@pytest.mark.parametrize("listed", ["10.0.0.0/8", "::ffff:10.0.0.1", "::ffff:10.0.0.0/104"])
def test_a_proxy_seen_as_an_ipv4_mapped_address_is_trusted(peer, listed, rf):
    # A server listening on [::] sees IPv4 peers as ::ffff:a.b.c.d; listed either way.
    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR="203.0.113.9")
    with override_settings(PORTAL_TRUSTED_PROXY_COUNT=1, PORTAL_TRUSTED_PROXIES=[listed]):
        assert client_ip(request) == "203.0.113.9"


def test_the_default_trusted_proxies_are_this_machines_own_addresses():
    assert settings.PORTAL_TRUSTED_PROXIES == ["127.0.0.1", "::1"]


@override_settings(PORTAL_TRUSTED_PROXY_COUNT=1, PORTAL_TRUSTED_PROXIES=["10.0.0.1"])
def test_lockout_keys_on_the_address_the_proxy_saw(secretary):
    assert settings.AXES_CLIENT_IP_CALLABLE == "portal.access.client_ip"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]

    def attempt(client, forwarded, password=PASSWORD):
        return client.post(
            reverse("login"),
            {"username": "sec", "password": password},
            REMOTE_ADDR="10.0.0.1",  # every request comes through the one proxy
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    attacker = Client()
    # Changing the client-written part of the header does not escape the count.
    statuses = [attempt(attacker, f"198.51.100.{i}, 203.0.113.9", "wrong") for i in range(5)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 200, 429]
    locked = AccessAttempt.objects.get()
    assert (locked.username, locked.ip_address, locked.failures_since_start) == (
        "sec",
        "203.0.113.9",
        5,
    )
    assert attempt(Client(), "192.0.2.77, 203.0.113.9").status_code == 429
    # Someone else behind the same proxy is not locked out with the attacker.
    assert attempt(Client(), "203.0.113.10").status_code == 302
    events = AccessEvent.objects.filter(username="sec").order_by("pk")
    assert {e.ip_address for e in events if e.kind == AccessEventKind.LOGIN_FAILED} == {
        "203.0.113.9"
    }
    assert events.get(kind=AccessEventKind.LOGIN).ip_address == "203.0.113.10"


@override_settings(PORTAL_TRUSTED_PROXY_COUNT=1, PORTAL_TRUSTED_PROXIES=["10.0.0.1"])
def test_a_forged_header_from_past_the_proxy_does_not_escape_the_lockout(secretary):
    def attempt(forwarded, password="wrong"):
        return Client().post(
            reverse("login"),
            {"username": "sec", "password": password},
            REMOTE_ADDR="192.0.2.50",  # straight to the server, not through the proxy
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    statuses = [attempt(f"203.0.113.{i}").status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert attempt("203.0.113.99", PASSWORD).status_code == 429
    assert AccessAttempt.objects.get().ip_address == "192.0.2.50"
    failed = AccessEvent.objects.filter(kind=AccessEventKind.LOGIN_FAILED)
    assert set(failed.values_list("ip_address", flat=True)) == {"192.0.2.50"}


# --- sessions -------------------------------------------------------------------------------


def pass_time(client, seconds):
    """Let ``seconds`` go by for the client's stored session, as the server sees it: the idle
    clock (the row's expiry, which SESSION_SAVE_EVERY_REQUEST renews on every request) and the
    sign-in time the absolute limit counts from both move that far into the past."""
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"
    session = client.session
    expire_date = Session.objects.get(pk=session.session_key).expire_date
    if SESSION_STARTED_KEY in session:
        session[SESSION_STARTED_KEY] -= seconds
        session.save()  # the store renews the expiry on save: put it back, moved
    Session.objects.filter(pk=session.session_key).update(
        expire_date=expire_date - datetime.timedelta(seconds=seconds)
    )


def assert_signed_out(response, path):
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == reverse("login")
    assert parse_qs(target.query) == {"next": [path]}


def test_idle_sessions_live_30_minutes_from_the_last_request(secretary):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    client = Client()
    login(client, "sec")
    # 29 minutes idle, three times over: every request restarts the idle clock.
    for _ in range(3):
        pass_time(client, 29 * 60)
        assert client.get(reverse("home")).status_code == 200
    # 31 minutes idle: the next request is anonymous and sent to the login page.
    pass_time(client, 31 * 60)
    path = reverse("members:list")
    assert_signed_out(client.get(path), path)
    assert SESSION_KEY not in client.session
    assert client.get(reverse("home")).status_code == 302


def test_a_progress_bar_polling_does_not_keep_an_idle_session_alive(tree):
    from rosters.models import RosterImport

    make_user(Role.COUNTY_ADMIN, tree["root"], username="county", password=PASSWORD)
    client = Client()
    login(client, "county")
    record = RosterImport.objects.create(filename="名册.xlsx", user=User.objects.get())
    progress = reverse("rosters:progress", args=[record.pk])
    page = reverse("rosters:detail", args=[record.pk])
    assert client.get(page).status_code == 200  # the user opens the page and walks away
    # The page polls its progress bar for 29 minutes: the polls are answered...
    pass_time(client, 29 * 60)
    expires = Session.objects.get(pk=client.session.session_key).expire_date
    for _ in range(3):
        response = client.get(progress, headers={"HX-Request": "true"})
        assert response.status_code == 200 and "import-progress" in response.content.decode()
        assert "Cookie" in response["Vary"]
    # ...without pushing the idle clock back, so 2 more minutes end the session.
    assert Session.objects.get(pk=client.session.session_key).expire_date == expires
    pass_time(client, 2 * 60)
    response = client.get(progress, headers={"HX-Request": "true"})
    assert urlsplit(response["HX-Redirect"]).path == reverse("login")
    # What the user does still counts: a page opened within the 30 minutes renews it.
    login(client, "county")
    pass_time(client, 29 * 60)
    assert client.get(page).status_code == 200
    assert Session.objects.get(pk=client.session.session_key).expire_date > timezone.now() + (
        datetime.timedelta(minutes=29)
    )


def test_absolute_limit_ends_even_an_active_session(secretary):
    client = Client()
    login(client, "sec")
    # The clock starts at the sign-in itself, not at the first page after it.
    assert abs(client.session[SESSION_STARTED_KEY] - time.time()) < 60
    elapsed = 0
    while elapsed + 29 * 60 <= 12 * 3600:
        pass_time(client, 29 * 60)
        elapsed += 29 * 60
        assert client.get(reverse("home")).status_code == 200, elapsed
    pass_time(client, 29 * 60)  # 12 h 5 min since the sign-in, last request 29 minutes ago
    query = {"q": "东村", "mobile": "true"}
    response = client.get(reverse("members:list"), query)
    assert_signed_out(response, f"{reverse('members:list')}?{urlencode(query)}")
    assert "登录已超过 12 小时" in client.get(response["Location"]).content.decode()
    assert SESSION_KEY not in client.session
    assert client.get(reverse("home")).status_code == 302
    # Recorded as the timeout it is, not as the user signing out.
    assert not AccessEvent.objects.filter(kind=AccessEventKind.LOGOUT).exists()
    event = AccessEvent.objects.get(kind=AccessEventKind.SESSION_EXPIRED, user=secretary)
    assert event.detail == {"reason": "absolute"}
    from portal.audit import access_details

    assert access_details(event) == [("原因", "登录超过最长时限")]


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


def test_timed_out_sessions_are_recorded_and_deleted(secretary, tree, django_assert_num_queries):
    from portal.access import sessions_end_expired
    from portal.celery import app

    others = [
        make_user(Role.BRANCH_SECRETARY, tree["village"], username=f"sec{n}", password=PASSWORD)
        for n in range(3)
    ]
    idle, active, anonymous = Client(), Client(), Client()
    login(idle, "sec")
    login(active, "sec", ip="10.0.0.3")
    idled = []
    for user in others:
        client = Client()
        login(client, user.username)
        pass_time(client, 31 * 60)
        idled.append(client.session.session_key)
    anonymous.get(reverse("login"))  # the login form's CSRF cookie only; no session row
    stray = Session.objects.create(
        session_key="x" * 32,
        session_data=Client().session.encode({"theme": "dark"}),
        expire_date=timezone.now() - datetime.timedelta(minutes=1),
    )
    pass_time(idle, 31 * 60)
    expired_at = Session.objects.get(pk=idle.session.session_key).expire_date
    assert AccessEvent.objects.filter(kind=AccessEventKind.SESSION_EXPIRED).count() == 0
    others[0].set_password("Another#2026pw")  # that session could not be used any more
    others[0].save()

    # Five expired sessions, four of them signed in, in one batch: savepoint, lock and read,
    # users, events, delete, release; then the look that finds no more (savepoint, read,
    # release). The same nine for one session or a thousand.
    with django_assert_num_queries(9):
        assert sessions_end_expired() == 4
    events = AccessEvent.objects.filter(kind=AccessEventKind.SESSION_EXPIRED)
    assert sorted(events.values_list("username", flat=True)) == ["sec", "sec0", "sec1", "sec2"]
    assert events.get(user=secretary).at == expired_at
    assert events.get(user=secretary).get_kind_display() == "会话超时"
    assert events.get(user=others[0]).detail == {"reason": "password_changed"}
    assert [e.detail for e in events.exclude(user=others[0])] == [{}, {}, {}]
    remaining = set(Session.objects.values_list("session_key", flat=True))
    assert active.session.session_key in remaining
    assert remaining.isdisjoint({idle.session.session_key, stray.session_key, *idled})
    assert active.get(reverse("home")).status_code == 200
    assert sessions_end_expired() == 0  # nothing twice
    # Celery beat runs it hourly, under a task name the worker knows.
    entry = settings.CELERY_BEAT_SCHEDULE["end-expired-sessions"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks and entry["schedule"] <= datetime.timedelta(hours=1)


def test_password_change_ends_other_sessions(secretary):
    first, second = Client(), Client()
    login(first, "sec")
    login(second, "sec", ip="10.0.0.3")
    secretary.set_password("Another#2026pw")
    secretary.save()
    assert first.get(reverse("home")).status_code == 302
    assert second.get(reverse("home")).status_code == 302


def test_users_change_their_own_password_in_the_portal(secretary):
    """The page every user has (not only the back office's staff): the old password, the
    rules, and the other sessions ended while this one goes on."""
    here, elsewhere = Client(), Client()
    login(here, "sec")
    login(elsewhere, "sec", ip="10.0.0.3")
    assert reverse("password_change") in here.get(reverse("home")).content.decode()  # in the bar
    url = reverse("password_change")

    def change(old, new, again=None):
        data = {"old_password": old, "new_password1": new, "new_password2": again or new}
        return here.post(url, data)

    for response, message in (
        (change("Wrong#2026pw", "Another#2026pw"), "旧密码不正确"),
        (change(PASSWORD, "another2026"), "密码必须同时包含字母、数字和符号"),
        (change(PASSWORD, "Another#2026pw", "Another#2026px"), "输入的两个密码不一致"),
    ):
        assert response.status_code == 200 and message in response.content.decode(), message
    secretary.refresh_from_db()
    assert secretary.check_password(PASSWORD)

    response = change(PASSWORD, "Another#2026pw")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert "密码已修改" in here.get(reverse("home")).content.decode()
    assert here.get(reverse("members:list")).status_code == 200  # this session goes on
    assert elsewhere.get(reverse("home")).status_code == 302  # the other one ended
    secretary.refresh_from_db()
    assert secretary.check_password("Another#2026pw")


def test_an_initial_password_is_changed_at_the_first_login(tree):
    """A password the operator or the system administrator set is theirs to know: the holder
    can do nothing but change it (or sign out), then goes where they were going."""
    from portal.models import PasswordState

    call_command(
        "grant_role", "newsec", Role.BRANCH_SECRETARY, org=tree["village"].code, password=PASSWORD
    )
    client = Client()
    assert login(client, "newsec").status_code == 302
    members = reverse("members:list")
    response = client.get(members)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('password_change')}?{urlencode({'next': members})}"
    page = client.get(response["Location"]).content.decode()
    assert "管理员设置的初始密码" in page and f'name="next" value="{members}"' in page
    assert client.get(reverse("home")).status_code == 302  # every page leads there
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "Mine#2026pw",
            "new_password2": "Mine#2026pw",
            "next": members,
        },
    )
    assert changed.status_code == 302 and changed["Location"] == members
    assert client.get(members).status_code == 200
    assert not PasswordState.objects.get(user__username="newsec").must_change

    # The same for a password the system administrator gives in the back office.
    admin = Client()
    admin.force_login(role_grant(username="sysadm", role=Role.SYSTEM_ADMIN).user)
    user = get_user_model().objects.get(username="newsec")
    reset = admin.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "Given#2026pw", "password2": "Given#2026pw", "usable_password": "true"},
    )
    assert reset.status_code == 302
    assert PasswordState.objects.get(user=user).must_change
    again = Client()
    login(again, "newsec", password="Given#2026pw")
    assert again.get(members)["Location"].startswith(reverse("password_change"))


def test_a_password_older_than_the_limit_is_changed_at_the_next_login(secretary, settings):
    from portal.models import PasswordState

    assert "密码有效期 90 天" in str(password_validation.password_validators_help_text_html())
    secretary.set_password(PASSWORD)
    secretary.save()  # every password save records its date (PasswordAgeValidator)
    state = PasswordState.objects.get(user=secretary)
    assert not state.must_change and timezone.now() - state.changed_at < datetime.timedelta(1)
    PasswordState.objects.filter(user=secretary).update(
        changed_at=timezone.now() - datetime.timedelta(days=91)
    )
    client = Client()
    login(client, "sec")
    response = client.get(reverse("home"))
    assert response["Location"].startswith(reverse("password_change"))
    assert "已使用超过 90 天" in client.get(response["Location"]).content.decode()
    # Signing out stays open; with expiry switched off, the same password goes on.
    assert client.post(reverse("logout")).status_code == 302
    settings.PORTAL_PASSWORD_MAX_AGE_DAYS = 0
    login(client, "sec")
    assert client.get(reverse("home")).status_code == 200


def test_a_password_from_before_dates_were_kept_counts_from_the_first_login(secretary):
    from portal.models import PasswordState

    PasswordState.objects.filter(user=secretary).delete()
    client = Client()
    login(client, "sec")
    assert client.get(reverse("home")).status_code == 200
    state = PasswordState.objects.get(user=secretary)
    assert timezone.now() - state.changed_at < datetime.timedelta(minutes=1)


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
    # Changing the password too: the password alone must not replace the holder's.
    change = {"old_password": PASSWORD, "new_password1": "Thief#2026pw"}
    for response in (
        other.get(reverse("password_change")),
        other.post(reverse("password_change"), {**change, "new_password2": "Thief#2026pw"}),
    ):
        assert response.status_code == 302 and response["Location"].startswith(reverse("otp"))
    secretary.refresh_from_db()
    assert secretary.check_password(PASSWORD)


def test_wrong_totp_codes_are_recorded(secretary):
    client = Client()
    login(client, "sec")
    client.get(reverse("otp"))
    device = TOTPDevice.objects.get(user=secretary)
    assert (
        client.post(reverse("otp"), {"token": "000000"}, REMOTE_ADDR="10.0.0.1").status_code == 200
    )
    device.refresh_from_db()
    device.throttle_reset()
    assert (
        client.post(reverse("otp"), {"token": str(totp(device.bin_key)).zfill(6)}).status_code
        == 302
    )
    other = Client()
    login(other, "sec", ip="10.0.0.5")
    assert (
        other.post(reverse("otp"), {"token": "12345x"}, REMOTE_ADDR="10.0.0.5").status_code == 200
    )
    events = AccessEvent.objects.filter(kind=AccessEventKind.OTP_FAILED).order_by("pk")
    assert [(e.user, e.ip_address, e.detail) for e in events] == [
        (secretary, "10.0.0.1", {"setting_up": True}),
        (secretary, "10.0.0.5", {"setting_up": False}),
    ]
    assert events[0].get_kind_display() == "动态口令错误"


# The three 等保 duty administrators and the county organization department's administrator,
# each with a page of their own.
ADMIN_LANDING = {
    Role.SYSTEM_ADMIN: "/admin/auth/user/",
    Role.SECURITY_ADMIN: "/admin/portal/roleassignment/",
    Role.AUDITOR: "/audit/",
    Role.COUNTY_ADMIN: "/members/",
}


def test_every_administrator_role_is_covered():
    assert set(ADMIN_ROLES) == set(ADMIN_LANDING)


@pytest.mark.parametrize("role", list(ADMIN_LANDING))
def test_admins_must_use_totp_when_required(role, tree, settings):
    settings.PORTAL_REQUIRE_OTP_FOR_ADMINS = True
    organization = tree["root"] if role == Role.COUNTY_ADMIN else None
    user = role_grant(username="boss", role=role, organization=organization, password=PASSWORD).user
    client = Client()
    login(client, "boss")
    page = ADMIN_LANDING[role]
    response = client.get(page)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('otp')}?{urlencode({'next': page})}"
    # Setting up the authenticator and passing it opens the page.
    assert "绑定动态验证器" in client.get(response["Location"]).content.decode()
    device = TOTPDevice.objects.get(user=user)
    token = str(totp(device.bin_key)).zfill(6)
    passed = client.post(response["Location"], {"token": token})
    assert passed.status_code == 302 and passed["Location"] == page
    assert client.get(page).status_code == 200
    # Without the requirement, an administrator with no authenticator goes straight in.
    settings.PORTAL_REQUIRE_OTP_FOR_ADMINS = False
    TOTPDevice.objects.filter(user=user).delete()
    client = Client()
    login(client, "boss")
    assert client.get(page).status_code == 200


def test_non_administrators_need_no_totp_when_required_for_admins(tree, settings):
    settings.PORTAL_REQUIRE_OTP_FOR_ADMINS = True
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


@pytest.mark.parametrize("duty", [Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR])
@pytest.mark.parametrize("data_role", [Role.COUNTY_ADMIN, Role.BRANCH_SECRETARY])
def test_a_duty_and_a_data_role_never_meet_in_one_person(tree, duty, data_role):
    """The administrators manage accounts, roles and the trail, never members: a data role
    would show them every member of its subtree and let them reveal numbers. Refused either
    way round, so another security administrator cannot open members' data to them."""
    org = tree["root"] if data_role == Role.COUNTY_ADMIN else tree["village"]
    role_grant(username="wang", role=duty)
    with pytest.raises(ValidationError) as exc:
        role_grant(username="wang", role=data_role, organization=org)
    assert "三权分立" in exc.value.messages[0]
    role_grant(username="li", role=data_role, organization=org)
    with pytest.raises(ValidationError) as exc:
        role_grant(username="li", role=duty)
    assert "三权分立" in exc.value.messages[0]
    held = sorted(RoleAssignment.objects.values_list("user__username", "role"))
    assert held == sorted([("wang", duty), ("li", data_role)])


def test_a_duty_is_held_once_and_on_no_organization(tree, client):
    with pytest.raises(CommandError, match="不在党组织任职"):
        call_command("grant_role", "shenji", Role.AUDITOR, "--org", tree["root"].code)
    assert not RoleAssignment.objects.filter(user__username="shenji").exists()
    # In the back office the same duty twice (no organization, which the database's
    # uniqueness does not compare) is refused too.
    holder = role_grant(username="shenji", role=Role.AUDITOR).user
    client.force_login(role_grant(username="secadm", role=Role.SECURITY_ADMIN).user)
    for org in ("", tree["root"].code):
        response = client.post(
            "/admin/portal/roleassignment/add/",
            {"user": "shenji", "role": Role.AUDITOR, "organization": org},
        )
        assert response.status_code == 200
    assert list(holder.role_assignments.values_list("role", "organization")) == [
        (Role.AUDITOR, None)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_duties_granted_at_once_to_one_person_are_checked_in_turn():
    """Two grants racing: the first holds its transaction open a moment after saving; the
    second, checked only once the first has committed, is refused."""
    import threading

    from django.db import connection, transaction

    from portal.services import role_assignment_save

    user = make_user(username="racer")
    saved, outcome = threading.Event(), {}

    def grant(role, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                role_assignment_save(RoleAssignment(user=user, role=role))
                if hold:
                    saved.set()
                    time.sleep(1)
            outcome[role] = "saved"
        except ValidationError as exc:
            outcome[role] = exc.messages[0]
        finally:
            connection.close()

    first = threading.Thread(target=grant, args=(Role.SYSTEM_ADMIN,), kwargs={"hold": True})
    first.start()
    assert saved.wait(10)
    second = threading.Thread(target=grant, args=(Role.AUDITOR,), kwargs={"hold": False})
    second.start()
    first.join(15)
    second.join(15)
    assert outcome[Role.SYSTEM_ADMIN] == "saved"
    assert "三权分立" in outcome[Role.AUDITOR]
    assert list(RoleAssignment.objects.filter(user=user).values_list("role", flat=True)) == [
        Role.SYSTEM_ADMIN
    ]


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


# --- caches ------------------------------------------------------------------------------------


def test_pages_for_a_signed_in_user_are_kept_by_no_cache(client, secretary, tree):
    """Names, masked ID numbers and phones: a shared computer's browser cache or a proxy must
    not keep a copy of a page seen signed in (the API's answers and the exports are not kept
    either)."""
    from members.tests.factories import make_member

    member = make_member(home_org=tree["village"], name="缓存测试")
    client.force_login(secretary)
    for url in ("/", "/members/", f"/members/{member.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
        assert "private" in response["Cache-Control"], url


def test_a_form_refused_by_the_csrf_check_is_explained_in_chinese():
    """Django's own CSRF page has an English title (403 Forbidden) and tells to set DEBUG=True."""
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Forbidden" not in page and "DEBUG" not in page
    assert "<title>页面已过期 · 流动党员管理门户</title>" in page
    assert "请返回上一页，刷新后重新提交。" in page
