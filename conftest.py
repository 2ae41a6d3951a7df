"""Fixtures for every test of the project."""

import pgtrigger
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
    trail's no-truncate triggers are set aside for that test's teardown only."""
    marker = item.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return (yield)
    from portal.triggers import truncate_protections

    with pgtrigger.ignore(*truncate_protections()):
        return (yield)
