"""create_api_token --org CODE NAME [--days N]: prints the key once, last, on its own line."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from branches.models import Organization
from portal.services import api_token_create


class Command(BaseCommand):
    help = "为上级系统创建只读接口令牌（限定在某党组织及其下级范围内）"

    def add_arguments(self, parser):
        parser.add_argument("name", help="令牌名称，如 市委组织部数据大屏")
        parser.add_argument("--org", required=True, help="党组织编码：令牌只能读取其下级范围")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"有效天数（默认 {settings.API_TOKEN_DEFAULT_DAYS}，见 PORTAL_API_TOKEN_DAYS）",
        )
        parser.add_argument(
            "--unmasked",
            action="store_true",
            help="返回完整身份证号和电话（默认脱敏）；每次调用均被记录",
        )

    def handle(self, *args, name, org, days, unmasked, **options):
        organization = Organization.objects.filter(code=org).first()
        if organization is None:
            raise CommandError(f"党组织编码 {org} 不存在")
        try:
            token, key = api_token_create(
                name=name, organization=organization, days=days, unmasked=unmasked
            )
        except ValidationError as exc:
            raise CommandError(";".join(exc.messages)) from exc
        self.stdout.write(
            f"已创建令牌“{token.name}”，范围：{organization.name}，"
            f"有效期至 {token.expires_at:%Y-%m-%d}。令牌只显示这一次，请妥善保存："
        )
        self.stdout.write(key)
