"""Celery jobs of the portal itself: thin wrappers around its services."""

from celery import shared_task

from .access import sessions_end_expired


@shared_task(ignore_result=True)
def end_expired_sessions() -> int:
    """Record timed-out sessions and delete expired ones (scheduled hourly with Celery beat)."""
    return sessions_end_expired()
