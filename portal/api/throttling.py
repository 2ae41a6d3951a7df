"""API request rates: each account (every token has its own service account) may make
PORTAL_API_RATE calls, counted in Redis so that every worker sees the same count."""

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class AccountRateThrottle(UserRateThrottle):
    """DRF's per-user throttle with its rate read from the settings at each call."""

    def get_rate(self) -> str:
        return settings.PORTAL_API_RATE
