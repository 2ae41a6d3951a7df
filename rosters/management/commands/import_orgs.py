"""python manage.py import_orgs FILE: the organization tree, from the command line."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from rosters import cli
from rosters.services import organization_import


class Command(BaseCommand):
    help = _(
        "导入党组织架构表（组织编码、组织名称、上级组织编码……；上级组织可排在下级之后）。"
        "已有的组织编码会更新该组织。退出状态同 import_roster"
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
        record = organization_import(
            source=path,
            filename=path.name,
            user=user,
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
            sheet=options["sheet"],
            upload_limit=False,
        )
        status = cli.finish(self, record, options)
        if status:
            raise SystemExit(status)
