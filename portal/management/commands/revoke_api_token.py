"""revoke_api_token NAME"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from portal.services import api_token_revoke


class Command(BaseCommand):
    help = "吊销接口令牌（立即失效）"

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        try:
            token = api_token_revoke(name=name)
        except ValidationError as exc:
            raise CommandError(";".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"已吊销令牌“{token.name}”"))
