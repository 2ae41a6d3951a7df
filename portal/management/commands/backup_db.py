"""backup_db [-o FILE]: a pg_dump of the portal database, with its row counts beside it.

Writes FILE (pg_dump custom format) and FILE.counts.json (the exact row count of every table in
the snapshot the dump was taken from; see portal/backup.py), then records the backup as an
export access event (scope "backup"), since a dump is a copy of every row.
"""

import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backup import BackupError, backup_dir, dump, record_backup


class Command(BaseCommand):
    help = "备份数据库（pg_dump 自定义格式），并在旁边记录备份时各表的行数（FILE.counts.json）"

    def add_arguments(self, parser):
        parser.add_argument(
            "-o",
            "--output",
            help="备份文件路径（默认 PORTAL_BACKUP_DIR 下的 portal-时间.dump，即 var/backups/）",
        )

    def handle(self, *args, output, **options):
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(output) if output else backup_dir() / f"portal-{stamp}.dump"
        try:
            backup = dump(out)
        except BackupError as exc:
            raise CommandError(f"备份失败：{exc}") from None
        record_backup(backup)
        self.stdout.write(
            self.style.SUCCESS(
                f"已备份到 {out}（{backup.size} 字节，{len(backup.tables)} 张表、"
                f"{backup.total_rows} 行；行数记录 {backup.counts_file}）"
            )
        )
