"""backup_db [-o FILE]: a pg_dump of the portal database."""

import datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.backup import dump


class Command(BaseCommand):
    help = "备份数据库(pg_dump 自定义格式)"

    def add_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", help="备份文件路径(默认 var/backups/portal-时间.dump)"
        )

    def handle(self, *args, output, **options):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = (
            Path(output)
            if output
            else Path(settings.BASE_DIR) / "var" / "backups" / (f"portal-{stamp}.dump")
        )
        dump(out)
        self.stdout.write(self.style.SUCCESS(f"已备份到 {out}({out.stat().st_size} 字节)"))
