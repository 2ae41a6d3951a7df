"""Cross-cutting infrastructure only: access events for logins, failures and logouts, at
login whether the password must be changed first, and whether a saved account's password can
still sign in."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from .access import record_access
from .choices import AccessEventKind
from .middleware import CHANGE_DUE_KEY
from .services import password_change_due, password_usability_kept


@receiver(user_logged_in, dispatch_uid="portal_login_event")
def _logged_in(sender, request, user, **kwargs):
    record_access(kind=AccessEventKind.LOGIN, request=request, user=user)
    # Whether the password must be changed first is read once, here, and kept in the session
    # (PasswordChangeRequiredMiddleware): the other requests cost no query for it.
    due = password_change_due(user)
    if due and request is not None and hasattr(request, "session"):
        request.session[CHANGE_DUE_KEY] = due


@receiver(user_logged_out, dispatch_uid="portal_logout_event")
def _logged_out(sender, request, user, **kwargs):
    if user is None:
        return
    timed_out = getattr(request, "session_timed_out", None)
    if timed_out:  # SessionLifetimeMiddleware: the session outlived its absolute lifetime
        record_access(
            kind=AccessEventKind.SESSION_EXPIRED, request=request, user=user, reason=timed_out
        )
    else:
        record_access(kind=AccessEventKind.LOGOUT, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="portal_login_failed_event")
def _login_failed(sender, credentials, request=None, **kwargs):
    # django-axes marks the request of a pair it has locked out (the failure that locks it, and
    # every attempt while it stays locked, the right password included): the trail says so.
    locked = {"reason": "locked_out"} if getattr(request, "axes_locked_out", False) else {}
    record_access(
        kind=AccessEventKind.LOGIN_FAILED,
        request=request,
        user=None,
        username=str(credentials.get("username", ""))[:150],
        **locked,
    )


@receiver(post_save, sender=get_user_model(), dispatch_uid="portal_password_usable")
def _account_saved(sender, instance, update_fields=None, raw=False, **kwargs):
    if raw:  # loaddata: the fixture brings its own rows
        return
    if update_fields is None or "password" in update_fields:
        password_usability_kept(instance)
