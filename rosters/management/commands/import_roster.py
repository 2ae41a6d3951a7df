"""python manage.py import_roster FILE: a roster of mobile members, from the command line."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from rosters import cli
from rosters.services import roster_import


class Command(BaseCommand):
    help = _(
        "导入流动党员登记表（.xlsx、.xls、.csv）。退出状态：0 全部正确并已导入；"
        "1 有错误行（未加 --skip-invalid 时不写入任何数据）；2 文件无法读取"
    )

    def add_arguments(self, parser):
        cli.add_import_arguments(parser)

    def handle(self, *args, **options):
        try:
            path = cli.check_input(options)
            user = cli.find_user(options["user"])
        except cli.UsageError as exc:
            self.stderr.write(str(exc))
            raise SystemExit(cli.EXIT_UNREADABLE) from None
        record = roster_import(
            source=path,
            filename=path.name,
            user=user,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
            sheet=options["sheet"],
            progress=cli.progress_printer(self),
            upload_limit=False,
        )
        status = cli.finish(self, record, options)
        if status:
            raise SystemExit(status)
