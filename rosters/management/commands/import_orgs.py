"""python manage.py import_orgs FILE: the organization tree, from the command line."""

from django.utils.translation import gettext as _

from rosters.cli import ImportCommand
from rosters.services import organization_import


class Command(ImportCommand):
    help = _(
        "导入党组织架构表（组织编码、组织名称、上级组织编码……；上级组织可排在下级之后）。"
        "已有的组织编码会更新该组织。退出状态同 import_roster"
    )

    def run_import(self, **kwargs):
        return organization_import(**kwargs)
