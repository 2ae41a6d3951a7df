from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembersConfig(AppConfig):
    """Party members and their mobility (流动党员)."""

    name = "members"
    verbose_name = _("党员")
