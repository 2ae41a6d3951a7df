"""python manage.py export_ledger [--org CODE] [--format xlsx|csv] -o OUT: a ledger (台账)."""

from pathlib import Path

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from branches.models import Organization
from members.choices import PartyStatus
from members.models import Member
from rosters.exports import CSV, FORMATS, XLSX, export_ledger, ledger_branches


class Command(BaseCommand):
    help = _(
        "导出流动党员台账，列与登记表相同，可修改后重新导入：指定党支部为一张表，指定党委为"
        "每个党支部一个工作表的台账册，不指定为全县（每个党支部一个工作表；CSV 为一张表）"
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="CODE", help=_("党组织编码；不填为全县"))
        parser.add_argument("--format", choices=FORMATS, help=_("xlsx 或 csv，默认按输出文件名"))
        parser.add_argument("-o", "--output", required=True, metavar="OUT", help=_("输出文件"))

    def handle(self, *args, **options):
        out = Path(options["output"])
        fmt = options["format"] or (CSV if out.suffix.lower() == ".csv" else XLSX)
        scope = None
        if options["org"]:
            scope = Organization.objects.filter(code=options["org"]).first()
            if scope is None:
                self.stderr.write(_("没有组织编码为“%(code)s”的党组织") % {"code": options["org"]})
                raise SystemExit(1)
        if scope is not None and scope.holds_memberships:
            branches = [scope]
        else:
            branches = list(ledger_branches(scope))
            if scope is not None and not branches:
                self.stderr.write(
                    _("“%(org)s”及其下级没有可接收党员组织关系的党支部，没有台账可导出")
                    % {"org": scope.name}
                )
                raise SystemExit(1)
        members = Member.objects.mobile().filter(party_status=PartyStatus.NORMAL)
        with out.open("wb") as handle:
            written = export_ledger(members_qs=members, orgs=branches, fmt=fmt, out=handle)
        self.stdout.write(_("已导出 %(n)d 名流动党员到 %(path)s") % {"n": written, "path": out})
