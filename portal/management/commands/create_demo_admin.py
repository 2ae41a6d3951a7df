"""Create the demo administrator for `make run` and print how to log in."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "Demo@2026!"  # noqa: S105 - a documented demo account for laptops only


class Command(BaseCommand):
    help = "创建演示管理员账号(仅用于本机演示)"

    def handle(self, *args, **options):
        User = get_user_model()
        password = os.environ.get("DEMO_ADMIN_PASSWORD", DEMO_PASSWORD)
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password(password)
            user.save()
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            self.style.SUCCESS(
                f"\n演示门户: http://127.0.0.1:{port}/\n"
                f"后台管理: http://127.0.0.1:{port}/admin/\n"
                f"演示管理员: 用户名 {DEMO_USERNAME}  密码 "
                f"{password if created else '(沿用已有密码)'}\n"
            )
        )
