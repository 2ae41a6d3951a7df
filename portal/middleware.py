"""Request-wide security: session lifetimes, the second factor, and the change-trail context;
and redirects that answer htmx requests."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pghistory
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.handlers.asgi import ASGIRequest as DjangoASGIRequest
from django.core.handlers.wsgi import WSGIRequest as DjangoWSGIRequest
from django.db import connection
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from pghistory import middleware as pghistory_middleware
from pghistory.middleware import HistoryMiddleware

from .access import client_ip
from .choices import ADMIN_ROLES

SESSION_STARTED_KEY = "portal_session_started"
# What a signed-in user reaches before the second factor: signing in and out, the factor's own
# page. Not changing the password: a stolen password alone must not replace the holder's.
OTP_EXEMPT_PREFIXES = (
    "/accounts/login/",
    "/accounts/logout/",
    "/accounts/otp/",
    "/static/",
    "/healthz",
)
# And before a password found due at login is changed: that, besides.
PASSWORD_DUE_EXEMPT_PREFIXES = (*OTP_EXEMPT_PREFIXES, "/accounts/password/")
NO_DEVICE_KEY = "portal_otp_no_device"
# Set at login when the password must be changed first (portal.signals); why, as its value.
CHANGE_DUE_KEY = "portal_password_due"


def not_user_activity(request) -> None:
    """Mark a request the page makes by itself (a progress bar polling): it does not count as
    the user's activity, so it does not push back the idle timeout (SessionMiddleware)."""
    request.not_user_activity = True


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's, except that a request marked ``not_user_activity`` leaves an unchanged session
    as it was: SESSION_SAVE_EVERY_REQUEST renews the idle timeout on every request, and a page
    left open on an import's progress would otherwise keep its session alive until the
    absolute lifetime (an unattended screen signed in for 12 hours)."""

    def process_response(self, request, response):
        session = getattr(request, "session", None)
        if (
            getattr(request, "not_user_activity", False)
            and session is not None
            and not session.modified
        ):
            if session.accessed:
                patch_vary_headers(response, ("Cookie",))
            return response
        return super().process_response(request, response)


class SignedInNeverCachedMiddleware:
    """A page seen signed in holds personal data (names, masked ID numbers and phones): no
    browser or proxy cache keeps a copy, unless the view said how it may be cached."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


class HtmxRedirectMiddleware:
    """A redirect in answer to an htmx request moves the whole page, not the fragment.

    The browser follows a redirect inside htmx's request, and htmx would swap the page it lands
    on into the fragment's place: once the session had timed out, a "显示" button turned into
    the whole login page inside the member's details. ``HX-Redirect`` makes htmx load the page
    instead; a ``next`` pointing at the fragment's URL (which answers POST only) points at the
    page shown (``HX-Current-URL``), so signing in comes back to it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.headers.get("HX-Request") != "true"
            or not 300 <= response.status_code < 400
            or not response.has_header("Location")
        ):
            return response
        target = urlsplit(response["Location"])
        query = QueryDict(target.query, mutable=True)
        shown = request.headers.get("HX-Current-URL")
        if shown and query.get("next") == request.get_full_path():
            page = urlsplit(shown)
            query["next"] = urlunsplit(("", "", page.path, page.query, ""))
        location = urlunsplit(target._replace(query=query.urlencode(safe="/")))
        moved = HttpResponse()
        moved["HX-Redirect"] = location
        return moved


class SessionLifetimeMiddleware:
    """An absolute session lifetime on top of the idle timeout.

    The idle timeout is Django's own: the session expires SESSION_COOKIE_AGE after its last
    save and SESSION_SAVE_EVERY_REQUEST saves it on every request. The absolute lifetime counts
    from the sign-in (SESSION_STARTED_KEY, stamped on the response that signs in) however
    active the session stays."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._signed_in(request):
            started = request.session.get(SESSION_STARTED_KEY)
            now = int(time.time())
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - started > settings.PORTAL_SESSION_ABSOLUTE_SECONDS:
                # Recorded as a timeout, not as the user signing out (signals.py).
                request.session_timed_out = "absolute"
                logout(request)
                hours = settings.PORTAL_SESSION_ABSOLUTE_SECONDS / 3600
                messages.info(
                    request, _("登录已超过 %(hours)s 小时，请重新登录") % {"hours": f"{hours:g}"}
                )
                return redirect(
                    f"{settings.LOGIN_URL}?{urlencode({'next': request.get_full_path()})}"
                )
        response = self.get_response(request)
        # The request that signs in starts the clock (not the first page after it). Asked of
        # the session, not request.user: an API token sets request.user but signs nobody in.
        session = getattr(request, "session", None)
        if (
            session is not None
            and SESSION_KEY in session
            and SESSION_STARTED_KEY not in session
            and self._signed_in(request)
        ):
            session[SESSION_STARTED_KEY] = int(time.time())
        return response

    @staticmethod
    def _signed_in(request) -> bool:
        user = getattr(request, "user", None)
        return user is not None and user.is_authenticated and hasattr(request, "session")


def is_administrator(user) -> bool:
    """Superusers and holders of an administrator role."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.role_assignments.filter(role__in=ADMIN_ROLES).exists()


class OTPRequiredMiddleware:
    """A user who set up TOTP must pass it after the password; with
    PORTAL_REQUIRE_OTP_FOR_ADMINS on, administrators must set it up and pass it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OTP_EXEMPT_PREFIXES)
            and not user.is_verified()
            and (
                (settings.PORTAL_REQUIRE_OTP_FOR_ADMINS and is_administrator(user))
                or self._has_device(request)
            )
        ):
            return redirect(f"{reverse('otp')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _has_device(request) -> bool:
        # Remembered per session: users without an authenticator cost no query per request.
        if request.session.get(NO_DEVICE_KEY):
            return False
        has = TOTPDevice.objects.devices_for_user(request.user, confirmed=True).exists()
        if not has:
            request.session[NO_DEVICE_KEY] = True
        return has


class PasswordChangeRequiredMiddleware:
    """After a login that found the password due (an administrator's initial password, or one
    older than PORTAL_PASSWORD_MAX_AGE_DAYS), every page leads to changing it; signing out and
    the second factor stay open."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if (
            session is not None
            and session.get(CHANGE_DUE_KEY)
            and request.user.is_authenticated
            and not request.path.startswith(PASSWORD_DUE_EXEMPT_PREFIXES)
        ):
            target = reverse("password_change")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class _AuditedRequest:
    """A request that names its user in the trail's context whenever its user is set: signing
    in (django.contrib.auth.login) and DRF's authentication set it inside the view, after the
    middleware opened the context. django-pghistory's request class updates the id alone; the
    failures a successful sign-in clears would then have no operator's name."""

    def __setattr__(self, attr, value):
        if attr == "user":
            signed_in = value is not None and getattr(value, "is_authenticated", False)
            pghistory.context(username=value.get_username() if signed_in else "")
        super().__setattr__(attr, value)


class _AuditedWSGIRequest(_AuditedRequest, pghistory_middleware.WSGIRequest):
    pass


class _AuditedASGIRequest(_AuditedRequest, pghistory_middleware.ASGIRequest):
    pass


class AuditContextMiddleware(HistoryMiddleware):
    """Attach who, from where and which request to every change the database trail records.

    Whatever the method: a HEAD request runs the GET view (opening the second factor's page
    sets up an authenticator) and an OPTIONS request authenticates its token (dating its last
    use), so no method's changes reach the trail without a name and an address."""

    def __call__(self, request):
        with pghistory.context(**self.get_context(request)):
            if isinstance(request, DjangoWSGIRequest):
                request.__class__ = _AuditedWSGIRequest
            elif isinstance(request, DjangoASGIRequest):
                request.__class__ = _AuditedASGIRequest
            return self.get_response(request)

    def get_context(self, request):
        user = getattr(request, "user", None)
        user_id = (
            user._meta.pk.get_db_prep_value(user.pk, connection)
            if user is not None and getattr(user, "is_authenticated", False)
            else None
        )
        return {
            "user": user_id,
            "username": user.get_username() if user_id else "",
            "url": request.path,
            "method": request.method,
            "ip": client_ip(request),
        }
