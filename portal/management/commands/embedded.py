"""Start, stop or show the embedded PostgreSQL and Redis under var/."""

from django.core.management.base import BaseCommand, CommandError

from portal import embedded


class Command(BaseCommand):
    help = "管理内置的 PostgreSQL 与 Redis（未设置 DATABASE_URL / REDIS_URL 时使用）"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action, **options):
        if action == "stop":
            stopped = embedded.stop()
            self.stdout.write("已停止：" + ("、".join(stopped) if stopped else "无"))
        elif action == "start":
            # Importing settings already started them; this only reports.
            self.stdout.write(f"PostgreSQL: {embedded.var_dir() / 'pg'}")
            self.stdout.write(f"Redis: {embedded.redis_url()}")
        elif action == "status":
            if not (embedded.var_dir() / "pg" / "postmaster.pid").exists():
                raise CommandError("内置 PostgreSQL 未运行")
            self.stdout.write("内置 PostgreSQL 运行中")
