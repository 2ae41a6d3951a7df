"""Create one demo account per role for `make run` and print how to log in (laptops only)."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from branches.models import Organization
from portal.choices import Role
from portal.demo import ROOT_CODE
from portal.services import role_grant

DEMO_PASSWORD = "Wanrong@2026!"  # noqa: S105 - documented demo accounts for laptops only
# (username, role, organization code or None, what they see)
DEMO_USERS = (
    ("county", Role.COUNTY_ADMIN, ROOT_CODE, "全县"),
    ("jiedian", Role.COMMITTEE_STAFF, ROOT_CODE[:6] + "101", "解店镇党委及其下级"),
    ("xian", Role.BRANCH_SECRETARY, ROOT_CODE[:6] + "900001001", "驻西安党支部（含流入党员）"),
    ("auditor", Role.AUDITOR, None, "审计记录"),
    ("sysadmin", Role.SYSTEM_ADMIN, None, "后台：账号与接口令牌"),
    ("secadmin", Role.SECURITY_ADMIN, None, "后台：角色授权与登录锁定"),
)


class Command(BaseCommand):
    help = "创建演示账号（每个角色一个，仅用于本机演示）"

    def handle(self, *args, **options):
        # The password is published (README): on a server it would open every role to anyone.
        if not settings.DEBUG:
            raise CommandError(
                "演示账号使用公开的密码，只能在本机演示环境（DJANGO_DEBUG=1，make run）中创建；"
                "正式环境请用 grant_role 为每个人创建账号"
            )
        password = os.environ.get("DEMO_PASSWORD", DEMO_PASSWORD)
        port = os.environ.get("PORT", "8000")
        rows = []
        for username, role, code, sees in DEMO_USERS:
            org = None
            if code:
                org = Organization.objects.filter(code=code).first()
                if org is None:
                    raise CommandError(f"演示党组织 {code} 不存在，请先运行 seed_demo")
            role_grant(username=username, role=role, organization=org, password=password)
            rows.append(f"  {username:<10} {Role(role).label:<12} {sees}")
        self.stdout.write(
            self.style.SUCCESS(
                f"\n演示门户：http://127.0.0.1:{port}/   接口文档：http://127.0.0.1:{port}/api/docs/\n"
                f"演示账号（密码均为 {password}）：\n" + "\n".join(rows) + "\n"
            )
        )
