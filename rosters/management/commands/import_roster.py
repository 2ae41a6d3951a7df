"""python manage.py import_roster FILE: a roster of mobile members, from the command line."""

from django.utils.translation import gettext as _

from rosters.cli import ImportCommand
from rosters.services import roster_import


class Command(ImportCommand):
    help = _(
        "导入流动党员登记表（.xlsx、.xls、.csv）。退出状态：0 全部正确并已导入；"
        "1 有错误行（未加 --skip-invalid 时不写入任何数据）；2 文件无法读取"
    )
    reports_progress = True

    def run_import(self, **kwargs):
        return roster_import(**kwargs)
