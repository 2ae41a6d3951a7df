from django.apps import AppConfig, apps
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """Shared machinery: health checks, embedded servers, the demo county, regions."""

    name = "portal"
    verbose_name = _("门户")

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks, signals  # noqa: F401 - registers checks, connects receivers
        from .commandline import install_command_error_prefix
        from .db_roles import grant_after_migrate
        from .trail_guard import install_after_migrate

        # After every migrate run, when every trail table exists: the triggers are made for
        # whatever is missing, and the application role is given what the tables need.
        post_migrate.connect(install_after_migrate, dispatch_uid="portal_trail_guard")
        post_migrate.connect(grant_after_migrate, dispatch_uid="portal_db_roles")
        # django-axes names its app "Axes" in the back office, with no translation to give it.
        apps.get_app_config("axes").verbose_name = _("登录锁定")
        # Its records are named in English and UTC, with the username typed (perhaps someone's
        # phone): the back office's titles and breadcrumbs use the portal's name for them.
        from axes.models import AccessAttempt

        from .models import Lockout

        AccessAttempt.__str__ = Lockout.__str__
        # A command's refusal says 错误：, not Django's "CommandError:" before the Chinese.
        install_command_error_prefix()
