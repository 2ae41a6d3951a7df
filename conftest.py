"""Fixtures for every test of the project."""

import pytest
import redis
from django.conf import settings


@pytest.fixture(autouse=True)
def _forget_cached_counts():
    """Each test starts without the counts the cache keeps (API rates, refused tokens).

    Only this test process's keys (portal/test_settings.py gives it its own prefix) are
    deleted: other runs and Celery may share the Redis database.
    """
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    """A transactional test ends with Django's flush, a TRUNCATE of every table: the audit
    trail refuses it (portal/trail_guard.py, whatever pgtrigger.ignore says), so the test
    database's superuser sets every trigger aside for the flush's TRUNCATE only
    (``session_replication_role``, for its transaction: only a superuser may, as on a real
    server)."""
    marker = item.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return (yield)
    from django.db import connection

    def truncate_as_replica(execute, sql, params, many, context):
        if sql.lstrip()[:8].upper() == "TRUNCATE":
            sql = "SET LOCAL session_replication_role = replica; " + sql
        return execute(sql, params, many, context)

    with connection.execute_wrapper(truncate_as_replica):
        return (yield)
