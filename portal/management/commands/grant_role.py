"""grant_role USERNAME ROLE --org CODE [--password P]"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from branches.models import Organization
from portal.choices import Role
from portal.services import password_set_by_admin, role_grant


class Command(BaseCommand):
    help = "创建或更新用户，并授予其在某党组织上的角色"

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "role", choices=[r for r in Role.values if r != Role.API_CLIENT], help="角色"
        )
        parser.add_argument("--org", help="党组织编码")
        parser.add_argument(
            "--password", help="初始登录密码（按密码规则校验；本人首次登录时须修改）"
        )

    def handle(self, *args, username, role, org, password, **options):
        organization = None
        if org:
            organization = Organization.objects.filter(code=org).first()
            if organization is None:
                raise CommandError(f"党组织编码 {org} 不存在")
        try:
            assignment = role_grant(
                username=username, role=role, organization=organization, password=password
            )
        except ValidationError as exc:
            raise CommandError(";".join(exc.messages)) from exc
        if password is not None:
            # The operator knows this password: its holder changes it at the first login.
            password_set_by_admin(assignment.user)
        self.stdout.write(self.style.SUCCESS(f"已授权：{assignment}"))
