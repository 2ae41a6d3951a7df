"""restore_test [--dump FILE] [--approximate]: restore into a scratch database, compare counts.

The restored row counts are compared with the counts recorded when the dump was taken
(FILE.counts.json, written by backup_db), so writes to the live database after the dump do not
matter. Without --dump a fresh dump is taken first (and recorded as a backup access event).
A dump without recorded counts fails, unless --approximate: then the live database's counts
stand in, labelled as approximate. Exit status: 0 when every table matches, 1 otherwise.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from portal.backup import BackupError, record_backup, restore_test


def _n(count: int | None) -> str:
    return "无此表" if count is None else str(count)


class Command(BaseCommand):
    help = (
        "恢复演练：把备份恢复到临时数据库，逐表核对行数与备份时记录的是否一致，然后删除临时数据库"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dump", help="要演练的备份文件（默认先做一次新备份）")
        parser.add_argument(
            "--approximate",
            action="store_true",
            help="备份没有行数记录（旧备份）时，改与当前数据库近似核对；备份之后的写入也会显示为不一致",
        )

    def handle(self, *args, **options):
        try:
            report = restore_test(
                dump_file=Path(options["dump"]) if options["dump"] else None,
                allow_live=options["approximate"],
                on_fresh_dump=record_backup,  # a copy of every row, like any backup
            )
        except BackupError as exc:
            raise CommandError(f"恢复演练失败：{exc}") from None

        if report.recorded is not None:
            rec = report.recorded
            self.stdout.write(
                f"核对依据：备份时记录的行数（{rec.counts_file}，数据库 {rec.database}，"
                f"快照时间 {rec.created_at}）"
            )
            self.stdout.write("表\t备份时\t恢复后")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"注意：{report.dump} 没有行数记录，以下为近似核对——与当前数据库的行数比较，"
                    "备份之后的任何写入都会显示为不一致"
                )
            )
            self.stdout.write("表\t当前数据库\t恢复后")
        for table in sorted(set(report.source) | set(report.restored)):
            self.stdout.write(
                f"{table}\t{_n(report.source.get(table))}\t{_n(report.restored.get(table))}"
            )

        if not report.ok:
            basis = "当前数据库" if report.approximate else "备份时"
            lines = "\n".join(
                f"{t}: {basis} {_n(a)}，恢复后 {_n(b)}" for t, (a, b) in report.mismatches.items()
            )
            if report.approximate:
                raise CommandError(
                    "近似核对未通过，恢复后的行数与当前数据库不一致（备份之后的写入也会造成差异，"
                    "请用带行数记录的新备份复核）：\n" + lines
                )
            raise CommandError("恢复演练失败，行数不一致：\n" + lines)
        total = sum(report.restored.values())
        if report.approximate:
            message = (
                f"近似核对通过：{len(report.restored)} 张表、{total} 行与当前数据库一致"
                f"（{report.dump} 没有行数记录）"
            )
        else:
            message = (
                f"恢复演练通过：{len(report.restored)} 张表、{total} 行与备份时记录的行数一致"
                f"（{report.dump}）"
            )
        self.stdout.write(self.style.SUCCESS(message))
