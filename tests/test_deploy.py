"""Production settings pass Django's deployment checks; intranet switches work."""

import pytest

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-for-the-check-0123456789",
    "DJANGO_ALLOWED_HOSTS": "portal.example.gov.cn",
    "PORTAL_ENCRYPTION_KEYS": "k1:" + "A" * 43,
    "PORTAL_LOOKUP_KEY": "lookup-key-for-the-deploy-check",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}


@pytest.mark.slow
def test_check_deploy_passes_with_production_settings(run_manage):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", env_changes=PRODUCTION,
        unset=("PORTAL_ALLOW_DEV_SECRET",),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_keys(run_manage):
    env = {k: v for k, v in PRODUCTION.items() if k != "PORTAL_ENCRYPTION_KEYS"}
    result = run_manage("check", env_changes=env, unset=("PORTAL_ALLOW_DEV_SECRET",))
    assert result.returncode != 0
    assert "PORTAL_ENCRYPTION_KEYS" in result.stderr


@pytest.mark.slow
def test_intranet_http_switches(run_manage):
    probe = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
    )
    secure = run_manage(
        "shell", "-c", probe, env_changes=PRODUCTION, unset=("PORTAL_ALLOW_DEV_SECRET",)
    )
    assert secure.stdout.strip().splitlines()[-1].split() == ["True", "True", "True"], secure.stderr
    plain = run_manage(
        "shell", "-c", probe,
        env_changes={
            **PRODUCTION,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_SESSION_COOKIE_SECURE": "0",
            "DJANGO_CSRF_COOKIE_SECURE": "0",
        },
        unset=("PORTAL_ALLOW_DEV_SECRET",),
    )  # fmt: skip
    assert plain.stdout.strip().splitlines()[-1].split() == ["False", "False", "False"]


def test_audit_retention_cannot_be_set_below_the_law(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.PORTAL_AUDIT_RETENTION_DAYS = 90
    with pytest.raises(SystemCheckError) as exc:
        call_command("check")
    assert "PORTAL_AUDIT_RETENTION_DAYS=90：审计记录保存期限不得少于 180 天" in str(exc.value)
    settings.PORTAL_AUDIT_RETENTION_DAYS = 365
    call_command("check")
