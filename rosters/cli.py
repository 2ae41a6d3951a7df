"""What the import commands share: options, the Chinese summary, reports and exit statuses.

Exit statuses (ROSTER-FORMAT.md, issue 4): 0 every row good (and imported, unless a preview);
1 some row bad (nothing written unless --skip-invalid); 2 the file cannot be read at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from branches.models import Organization
from portal.access import record_access
from portal.choices import AccessEventKind
from portal.commandline import command_operator
from portal.private_files import open_private
from portal.scoping import scope_for

from .choices import ImportStatus
from .exports import CSV, FORMATS, XLSX, watermark, write_bad_rows, write_error_report
from .models import RosterImport
from .services import failed_reading, import_scope

EXIT_OK, EXIT_BAD_ROWS, EXIT_UNREADABLE = 0, 1, 2
ERRORS_SHOWN = 20


class UsageError(Exception):
    """A wrong option; the message is shown as is and the command exits with status 2."""


def add_import_arguments(parser) -> None:
    parser.add_argument("file", help=_("要导入的文件（.xlsx、.xls 或 .csv）"))
    parser.add_argument("--dry-run", action="store_true", help=_("只检查并预览，不写入"))
    parser.add_argument(
        "--skip-invalid", action="store_true", help=_("跳过有错误的行，导入其余各行")
    )
    parser.add_argument("--errors", metavar="OUT.csv|OUT.xlsx", help=_("把错误清单写入此文件"))
    parser.add_argument(
        "--bad-rows",
        metavar="OUT.csv|OUT.xlsx",
        help=_("把错误行（加“错误”列）写入此文件，修正后可直接重新导入"),
    )
    parser.add_argument("--user", metavar="USERNAME", help=_("记为此用户的导入"))
    parser.add_argument("--sheet", metavar="NAME", help=_("读取此工作表（名称或序号），默认第一个"))


def report_format(path: str) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UsageError(
            _("无法识别输出文件“%(path)s”的格式：请用 .csv 或 .xlsx 结尾") % {"path": path}
        )
    return suffix


def find_user(username: str | None):
    """The ``--user`` account, which must keep ledgers: an import or export is recorded as
    theirs, so it does only what they could do in the browser."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise UsageError(_("没有用户名为“%(name)s”的用户") % {"name": username})
    if not user.is_active or not scope_for(user).can_ledger():
        raise UsageError(
            _("用户“%(name)s”没有导入登记表、导出台账的权限，不能记为其操作") % {"name": username}
        )
    return user


def orgs_of(user) -> QuerySet[Organization] | None:
    """Where an import recorded as ``user``'s may write: what they are responsible for, as in
    the browser (no limit without ``--user``: the operator of the server acts)."""
    if user is None or scope_for(user).everything:
        return None
    return import_scope(user)


def check_input(options) -> Path:
    path = Path(options["file"])
    if not path.is_file():
        raise UsageError(_("找不到文件“%(path)s”") % {"path": path})
    for option in ("errors", "bad_rows"):
        if options.get(option):
            report_format(options[option])
    return path


def progress_printer(command: BaseCommand):
    """Progress on the terminal (stderr), only when it is one."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        command.stderr.write(_("已处理 %(done)d / %(total)d 行") % {"done": done, "total": total},
                             ending="\r")  # fmt: skip

    return show


def finish(command: BaseCommand, record: RosterImport, options) -> int:
    """Print the outcome in Chinese, write the reports asked for; returns the exit status."""
    if record.status == ImportStatus.FAILED:
        if failed_reading(record):
            command.stderr.write(_("无法读取文件：%(reason)s") % {"reason": record.message})
        else:  # the server failed, not the file: the message says so itself
            command.stderr.write(record.message)
        return EXIT_UNREADABLE
    for warning in record.warnings:
        command.stdout.write(_("提示：%(warning)s") % {"warning": warning})
    command.stdout.write(record.message)
    for row, column, value, reason in record.errors[:ERRORS_SHOWN]:
        command.stdout.write(
            _("  第 %(row)d 行【%(column)s】“%(value)s”：%(reason)s")
            % {"row": row, "column": column, "value": value, "reason": reason}
        )
    hidden = len(record.errors) - ERRORS_SHOWN
    if hidden > 0:
        command.stdout.write(_("  ……另有 %(n)d 条错误，完整清单请用 --errors 导出") % {"n": hidden})
    # The reports hold the file's ID numbers and phones again: like the browser's downloads of
    # them, watermarked (who and when, above the header) and recorded as exports.
    reports = (
        ("errors", "errors", write_error_report, record.errors, len(record.errors),
         _("错误清单已写入 %(path)s")),
        ("bad_rows", "bad-rows", write_bad_rows, record.bad_rows, len(record.bad_rows["rows"]),
         _("错误行已写入 %(path)s")),
    )  # fmt: skip
    for option, what, write, content, rows, written in reports:
        path = options.get(option)
        if not path:
            continue
        fmt = report_format(path)
        with open_private(path) as out:
            write(content, out, fmt, title=watermark(record.operator))
        record_access(
            kind=AccessEventKind.EXPORT,
            user=record.user,
            username=record.operator,
            obj=record,
            scope=f"import:{record.pk}:{what}",
            rows=rows,
            format=fmt,
            source="command",
        )
        command.stdout.write(written % {"path": path})
    return EXIT_BAD_ROWS if record.rows_bad else EXIT_OK


__all__ = ["CSV", "XLSX"]


class ImportCommand(BaseCommand):
    """The import commands: same arguments, same exit statuses; a subclass names its service."""

    reports_progress = False

    def run_import(self, **kwargs) -> RosterImport:
        raise NotImplementedError

    def add_arguments(self, parser):
        add_import_arguments(parser)

    def handle(self, *args, **options):
        try:
            path = check_input(options)
            user = find_user(options["user"])
        except UsageError as exc:
            self.stderr.write(str(exc))
            raise SystemExit(EXIT_UNREADABLE) from None
        extra = {"progress": progress_printer(self)} if self.reports_progress else {}
        record = self.run_import(
            source=path,
            filename=path.name,
            user=user,
            operator=command_operator(user),
            orgs=orgs_of(user),
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
            sheet=options["sheet"],
            upload_limit=False,
            **extra,
        )
        status = finish(self, record, options)
        if status:
            raise SystemExit(status)
