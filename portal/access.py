"""Recording access events (reveals, exports, logins, token use) with who, what, when, where."""

from __future__ import annotations

from .choices import AccessEventKind
from .models import AccessEvent


def client_ip(request) -> str | None:
    """The client address as the WSGI server saw it (proxy handling comes with deployment)."""
    if request is None:
        return None
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
    user = user if user is not None else getattr(request, "user", None)
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
