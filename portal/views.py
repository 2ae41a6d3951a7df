"""Views that belong to no single app."""

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _check_redis() -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}".strip()
    return None


@never_cache
@require_GET
def healthz(request):
    """200 when PostgreSQL and Redis answer; 503 naming the one that failed (for probes).

    Anyone may ask, signed in or not: the answer names the failed service only, and the error
    (host names, ports, user names) goes to the log for the operator.
    """
    failures = {}
    if error := _check_database():
        failures["database"] = error
    if error := _check_redis():
        failures["redis"] = error
    if failures:
        for service, error in sorted(failures.items()):
            logger.error("healthz: %s is down: %s", service, error)
        return JsonResponse({"status": "fail", "failed": sorted(failures)}, status=503)
    return JsonResponse({"status": "ok"})
