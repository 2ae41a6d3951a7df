"""Cross-cutting infrastructure only: access events for logins, failures and logouts."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .access import record_access
from .choices import AccessEventKind


@receiver(user_logged_in, dispatch_uid="portal_login_event")
def _logged_in(sender, request, user, **kwargs):
    record_access(kind=AccessEventKind.LOGIN, request=request, user=user)


@receiver(user_logged_out, dispatch_uid="portal_logout_event")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        record_access(kind=AccessEventKind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="portal_login_failed_event")
def _login_failed(sender, credentials, request=None, **kwargs):
    record_access(
        kind=AccessEventKind.LOGIN_FAILED,
        request=request,
        user=None,
        username=str(credentials.get("username", ""))[:150],
    )
