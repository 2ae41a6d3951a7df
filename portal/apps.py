from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """Shared machinery: health checks, embedded servers, the demo county, regions."""

    name = "portal"
    verbose_name = _("门户")

    def ready(self):
        from . import checks, signals  # noqa: F401 - registers checks, connects receivers
