import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from branches.tests.factories import make_tree
from portal.choices import Role
from portal.models import ApiToken, RoleAssignment, hash_token

pytestmark = pytest.mark.django_db


def test_grant_role_creates_user_with_checked_password(capsys):
    tree = make_tree()
    call_command(
        "grant_role", "zhang", "branch_secretary", "--org", tree["village"].code,
        "--password", "Zhang#2026xyz",
    )  # fmt: skip
    user = get_user_model().objects.get(username="zhang")
    assert user.check_password("Zhang#2026xyz")
    assert RoleAssignment.objects.get(user=user).organization == tree["village"]
    assert "已授权" in capsys.readouterr().out


def test_grant_role_refuses_weak_password_and_unknown_org():
    tree = make_tree()
    with pytest.raises(CommandError) as exc:
        call_command(
            "grant_role", "li", "county_admin", "--org", tree["root"].code, "--password", "123"
        )
    assert "密码" in str(exc.value)
    assert not get_user_model().objects.filter(username="li").exists()
    with pytest.raises(CommandError) as exc:
        call_command("grant_role", "li", "county_admin", "--org", "NOPE")
    assert "不存在" in str(exc.value)


def test_create_api_token_prints_key_once_last_and_stores_hash(capsys):
    tree = make_tree()
    call_command("create_api_token", "--org", tree["township"].code, "大屏", "--days", "30")
    out = capsys.readouterr().out.strip().splitlines()
    key = out[-1]
    token = ApiToken.objects.get(name="大屏")
    assert token.key_hash == hash_token(key)
    assert key not in token.key_hash and token.prefix == key[:8]
    assert abs((token.expires_at - timezone.now()) - datetime.timedelta(days=30)) < (
        datetime.timedelta(minutes=1)
    )
    assignment = RoleAssignment.objects.get(user=token.user)
    assert assignment.role == Role.API_CLIENT
    assert assignment.organization == tree["township"]
    assert not token.user.has_usable_password()


def test_create_api_token_help_gives_the_configured_default_days(settings):
    """PORTAL_API_TOKEN_DAYS sets how long a token lasts without --days; the help says so."""
    from portal.management.commands.create_api_token import Command

    settings.API_TOKEN_DEFAULT_DAYS = 90
    help_text = Command().create_parser("manage.py", "create_api_token").format_help()
    assert "默认 90" in help_text and "默认 365" not in help_text


def test_create_api_token_refuses_a_name_too_long_in_a_sentence():
    tree = make_tree()
    with pytest.raises(CommandError, match="令牌名称不能超过 100 个字"):
        call_command("create_api_token", "--org", tree["root"].code, "长" * 101)
    assert not ApiToken.objects.exists()
    assert not get_user_model().objects.filter(username__startswith="api-").exists()
    call_command("create_api_token", "--org", tree["root"].code, "长" * 100)  # the longest
    assert ApiToken.objects.get().name == "长" * 100


def test_revoke_api_token(capsys):
    tree = make_tree()
    call_command("create_api_token", "--org", tree["root"].code, "上级系统")
    call_command("revoke_api_token", "上级系统")
    token = ApiToken.objects.get(name="上级系统")
    assert token.revoked_at is not None and not token.user.is_active
    with pytest.raises(CommandError):
        call_command("revoke_api_token", "不存在的令牌")


def test_create_demo_users_gives_each_role_its_scope(capsys, settings):
    from members.models import Member
    from portal.demo import build_county

    build_county()
    settings.DEBUG = True  # make run's DJANGO_DEBUG=1
    call_command("create_demo_users")
    out = capsys.readouterr().out
    assert "xian" in out and "Wanrong@2026!" in out
    user = get_user_model().objects.get(username="xian")
    assert user.check_password("Wanrong@2026!")
    assignment = RoleAssignment.objects.get(user=user)
    assert assignment.role == Role.BRANCH_SECRETARY
    assert "驻西安" in assignment.organization.name
    assert not Member.objects.visible_to(get_user_model().objects.get(username="auditor")).exists()
    call_command("create_demo_users")  # idempotent
    assert RoleAssignment.objects.filter(user=user).count() == 1


def test_demo_users_with_their_published_password_are_refused_outside_a_demo(settings):
    from portal.demo import build_county

    build_county()
    settings.DEBUG = False  # a server's settings
    with pytest.raises(CommandError, match="只能在本机演示环境"):
        call_command("create_demo_users")
    assert not get_user_model().objects.exists()


def test_a_branch_secretary_is_granted_on_a_branch_only():
    """DOMAIN.md: a branch secretary sees their branch and its party groups; the role held on
    a committee would show its whole subtree, with the write right."""
    tree = make_tree()
    with pytest.raises(CommandError) as exc:
        call_command("grant_role", "wang", "branch_secretary", "--org", tree["township"].code)
    assert "党支部书记只能在党支部任职：“测试镇党委”是党委" in str(exc.value)
    assert not RoleAssignment.objects.exists()
    for branch in ("village", "functional"):
        call_command("grant_role", "wang", "branch_secretary", "--org", tree[branch].code)
    assert RoleAssignment.objects.filter(role=Role.BRANCH_SECRETARY).count() == 2
