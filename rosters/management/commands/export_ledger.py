"""python manage.py export_ledger [--org CODE] [--format xlsx|csv] [--user NAME] -o OUT.

A ledger (台账), watermarked like the browser's exports (who and when, above the header) and
recorded as an export access event: the account named by ``--user``, else the operating-system
user who ran the command.
"""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from branches.models import Organization
from members.choices import PartyStatus
from members.models import Member
from portal.access import record_access
from portal.choices import AccessEventKind
from portal.commandline import command_operator
from portal.private_files import open_private
from portal.scoping import scope_for
from rosters.cli import UsageError, find_user
from rosters.exports import CSV, FORMATS, XLSX, ledger_of, watermark, write_ledger


class Command(BaseCommand):
    help = _(
        "导出流动党员台账，列与登记表相同，可修改后重新导入：指定党支部为一张表，指定党委为"
        "每个党支部一个工作表的台账册，不指定为全县（每个党支部一个工作表；CSV 为一张表）"
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="CODE", help=_("党组织编码；不填为全县"))
        parser.add_argument("--format", choices=FORMATS, help=_("xlsx 或 csv，默认按输出文件名"))
        parser.add_argument("-o", "--output", required=True, metavar="OUT", help=_("输出文件"))
        parser.add_argument(
            "--user", metavar="USERNAME", help=_("记为此用户的导出；不填记为运行命令的系统用户")
        )

    def handle(self, *args, **options):
        out = Path(options["output"])
        fmt = options["format"] or (CSV if out.suffix.lower() == ".csv" else XLSX)
        try:
            user = find_user(options["user"])
        except UsageError as exc:
            self.stderr.write(str(exc))
            raise SystemExit(1) from None
        who = command_operator(user)
        scope = None
        if options["org"]:
            scope = Organization.objects.filter(code=options["org"]).first()
            if scope is None:
                self.stderr.write(_("没有组织编码为“%(code)s”的党组织") % {"code": options["org"]})
                raise SystemExit(1)
        rights = scope_for(user) if user is not None else None
        if rights is not None and scope is not None and not rights.can_ledger(scope):
            self.stderr.write(
                _("用户“%(name)s”没有导出“%(org)s”台账的权限")
                % {"name": user.get_username(), "org": scope.name}
            )
            raise SystemExit(1)
        branches, name = ledger_of(scope, rights)  # with --user, the ledgers they keep
        if scope is not None and not branches:
            self.stderr.write(
                _("“%(org)s”及其下级没有可接收党员组织关系的党支部，没有台账可导出")
                % {"org": scope.name}
            )
            raise SystemExit(1)
        members = Member.objects.mobile().filter(party_status=PartyStatus.NORMAL)
        with open_private(out) as handle:  # ID numbers and phones in clear
            written = write_ledger(
                handle,
                fmt=fmt,
                heading=_("%(org)s流动党员台账") % {"org": name},
                mark=watermark(who),
                members_qs=members,
                orgs=branches,
            )
        record_access(
            kind=AccessEventKind.EXPORT,
            user=user,
            username=who,
            obj=scope,
            scope=scope.code if scope is not None else "ledger:all",
            rows=written,
            format=fmt,
            source="command",
        )
        self.stdout.write(_("已导出 %(n)d 名流动党员到 %(path)s") % {"n": written, "path": out})
