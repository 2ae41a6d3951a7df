"""Recording access events (reveals, exports, logins, token use) with who, what, when, where."""

from __future__ import annotations

import ipaddress

from django.conf import settings

from .choices import AccessEventKind
from .models import AccessEvent

# Events recorded for a request that authenticated nobody.
ANONYMOUS_KINDS = (AccessEventKind.LOGIN_FAILED, AccessEventKind.TOKEN_REFUSED)


def client_ip(request) -> str | None:
    """The real client address: REMOTE_ADDR, or behind PORTAL_TRUSTED_PROXY_COUNT reverse
    proxies the address the outermost trusted proxy saw (X-Forwarded-For, read from the right
    so a client cannot spoof it). Used by the lockout, access events and the change trail."""
    if request is None:
        return None
    proxies = getattr(settings, "PORTAL_TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR") or None


def record_access(
    *,
    kind: str,
    request=None,
    user=None,
    obj=None,
    username: str = "",
    **detail,
) -> AccessEvent:
    """Write one access event; called by views, the API and commands."""
    if kind not in AccessEventKind.values:
        raise ValueError(f"unknown access event kind {kind!r}")
    # A failed login or a refused token authenticated nobody: the event names who was tried
    # (``username``), never the request's user. For a DRF request, reading ``request.user``
    # inside an authentication class would also re-enter authentication.
    if user is None and kind not in ANONYMOUS_KINDS:
        user = getattr(request, "user", None)
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    event = AccessEvent(
        kind=kind,
        user=user,
        username=username or (user.get_username() if user else ""),
        ip_address=client_ip(request),
        path=(request.get_full_path()[:300] if request is not None else ""),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail,
    )
    event.full_clean()
    event.save()
    return event
