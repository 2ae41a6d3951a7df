"""restore_test [--dump FILE]: restore into a scratch database and compare row counts."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backup import restore_test


class Command(BaseCommand):
    help = "恢复演练:把备份恢复到临时数据库,逐表核对行数,然后删除临时数据库"

    def add_arguments(self, parser):
        parser.add_argument("--dump", help="要演练的备份文件(默认先做一次新备份)")

    def handle(self, *args, dump, **options):
        report = restore_test(dump_file=Path(dump) if dump else None)
        for table, count in report.restored.items():
            self.stdout.write(f"{table}\t{report.source.get(table)}\t{count}")
        if not report.ok:
            lines = [f"{t}: 源库 {a},恢复后 {b}" for t, (a, b) in report.mismatches.items()]
            raise CommandError("恢复演练失败,行数不一致:\n" + "\n".join(lines))
        total = sum(report.restored.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"恢复演练通过:{len(report.restored)} 张表、{total} 行与源库一致({report.dump})"
            )
        )
