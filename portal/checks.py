"""System checks of the portal's own settings (``manage.py check``; ``--deploy`` runs them too)."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

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


@checks.register(checks.Tags.security)
def encryption_keys(app_configs, **kwargs):
    """The keys are first used at the first ID number read or written (a page, an import): a
    malformed or ambiguous list would pass every check and fail there, or seal new values under
    an id another key answers to. Said at once instead, by ``check`` and ``migrate``."""
    from .crypto import parse_key_specs

    try:
        parse_key_specs(settings.PORTAL_ENCRYPTION_KEYS)
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                str(exc),
                hint="每个密钥写作“编号:base64”，编号互不相同，当前密钥在前；新密钥用 "
                "portal.crypto.generate_key_spec 生成（见 README“Key management”）",
                id="portal.E002",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def api_rate(app_configs, **kwargs):
    """DRF reads the rate at the first API call: a malformed one would make every call fail
    with an internal error. Said by ``check`` and ``migrate`` instead."""
    from .api.throttling import AccountRateThrottle

    try:
        AccountRateThrottle()
    except (ValueError, KeyError, IndexError, TypeError):
        return [
            checks.Error(
                f"PORTAL_API_RATE={settings.PORTAL_API_RATE!r}：API 调用频率的写法不对",
                hint="写作“次数/单位”，单位为 s、min、hour 或 day，如 600/min",
                id="portal.E003",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def plain_http(app_configs, **kwargs):
    """The HTTPS switches turned off for an intranet on plain HTTP (settings.py silences
    Django's own warnings for them): said once, as information, by ``check --deploy``."""
    if not settings.PORTAL_PLAIN_HTTP:
        return []
    switched = "、".join(f"{name}=0" for name in settings.PORTAL_PLAIN_HTTP)
    return [
        checks.Info(
            f"已按内网明文 HTTP 部署关闭：{switched}；会话和 CSRF Cookie 可能以明文传输",
            hint="仅限不经公网的内网；能用 HTTPS 时删除这些环境变量（默认开启）",
            id="portal.I001",
        )
    ]
