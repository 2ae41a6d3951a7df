from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RostersConfig(AppConfig):
    """Registration rosters in (集中登记接收) and ledgers out (台账), per ROSTER-FORMAT.md."""

    name = "rosters"
    verbose_name = _("登记表与台账")
