from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActivitiesConfig(AppConfig):
    """Organizational life and care: 主题党日, 三会一课, talks and visits (later issues)."""

    name = "activities"
    verbose_name = _("组织生活")
