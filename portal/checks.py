"""System checks of the portal's own settings (``manage.py check``; ``--deploy`` runs them too)."""

from django.conf import settings
from django.core import checks

# 网络安全法 art. 21: network logs are kept for no less than six months.
MIN_AUDIT_RETENTION_DAYS = 180


@checks.register(checks.Tags.security)
def audit_retention(app_configs, **kwargs):
    """Nothing in the portal deletes the trail; the setting says how long it must be kept (for
    the operator's archiving and for key rotation), and it cannot be set below the law's."""
    days = settings.PORTAL_AUDIT_RETENTION_DAYS
    if days < MIN_AUDIT_RETENTION_DAYS:
        return [
            checks.Error(
                f"PORTAL_AUDIT_RETENTION_DAYS={days}：审计记录保存期限不得少于 "
                f"{MIN_AUDIT_RETENTION_DAYS} 天（网络安全法）",
                hint="删除该环境变量（默认 180 天）或设为不少于 180 的天数",
                id="portal.E001",
            )
        ]
    return []
