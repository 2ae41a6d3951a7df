"""Recording access events (reveals, exports, logins, token use, timed-out sessions) with who,
what, when, where."""

from __future__ import annotations

import datetime
import functools
import ipaddress
from importlib import import_module
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from .choices import AccessEventKind
from .masking import mask_in_text
from .models import AccessEvent

# Events recorded for a request that authenticated nobody.
ANONYMOUS_KINDS = (AccessEventKind.LOGIN_FAILED, AccessEventKind.TOKEN_REFUSED)


def client_ip(request) -> str | None:
    """The real client address: REMOTE_ADDR, or behind PORTAL_TRUSTED_PROXY_COUNT reverse
    proxies the address the outermost trusted proxy saw (X-Forwarded-For, read from the right
    so a client cannot spoof it). Used by the lockout, access events and the change trail.

    The header is believed only when it comes from the proxies: the request's peer, and every
    hop of the header between it and the address taken, must be in PORTAL_TRUSTED_PROXIES.
    Someone who reaches the server directly cannot choose their address by sending it.
    """
    if request is None:
        return None
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = getattr(settings, "PORTAL_TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded and _is_proxy(peer):
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if len(hops) >= proxies and all(_is_proxy(h) for h in hops[len(hops) - proxies + 1 :]):
            candidate = hops[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return peer


def _is_proxy(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    forms = [ip]
    # ::ffff:127.0.0.1, as a server listening on [::] sees an IPv4 peer: listed either way.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        forms.append(ip.ipv4_mapped)
    elif isinstance(ip, ipaddress.IPv4Address):
        forms.append(ipaddress.IPv6Address(f"::ffff:{ip}"))
    networks = _networks(tuple(settings.PORTAL_TRUSTED_PROXIES))
    return any(form in network for form in forms for network in networks)


@functools.cache
def _networks(proxies: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(proxy, strict=False) for proxy in proxies]


def record_access(
    *,
    kind: str,
    request=None,
    user=None,
    obj=None,
    username: str = "",
    **detail,
) -> AccessEvent:
    """Write one access event; called by views, the API and commands. Phones and ID numbers
    in the URL and the details (what was searched for) are masked."""
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
        username=_shown_username(username or (user.get_username() if user else ""), user),
        ip_address=client_ip(request),
        path=_shown_path(request)[:300] if request is not None else "",
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=_masked(detail),
    )
    event.full_clean()
    event.save()
    return event


def _refusal_keys(request) -> tuple[str, str]:
    address = client_ip(request) or "unknown"
    return f"api-token-refusals:{address}", f"api-token-locked:{address}"


def token_lockout_seconds(request) -> int:
    """How long the request's address may still not present a token (0: it may).

    An address is locked for PORTAL_LOCKOUT_MINUTES once PORTAL_TOKEN_REFUSAL_LIMIT of its
    tokens were refused within that time (``token_refusal_count``): guessing keys stops, and
    so does the stream of events a misconfigured system would otherwise write.
    """
    until = cache.get(_refusal_keys(request)[1])
    if until is None:
        return 0
    return max(0, int(until - timezone.now().timestamp()) + 1)


def token_refusal_count(request) -> bool:
    """Count a refused token against its client address (in Redis, shared by all workers).

    Returns whether this refusal locked the address. Counts last PORTAL_LOCKOUT_MINUTES from
    an address's first refusal.
    """
    counted, locked = _refusal_keys(request)
    window = int(settings.AXES_COOLOFF_TIME.total_seconds())
    cache.add(counted, 0, timeout=window)
    try:
        count = cache.incr(counted)
    except ValueError:  # the window ended between add and incr
        cache.set(counted, count := 1, timeout=window)
    if count < settings.PORTAL_TOKEN_REFUSAL_LIMIT:
        return False
    cache.set(locked, timezone.now().timestamp() + window, timeout=window)
    cache.delete(counted)
    return True


def _ended_by(user, auth_hash: str) -> dict:
    """An expired session's event detail: whether the password had changed since sign-in.

    Such a session could no longer be used (Django checks the hash on every request, as it
    would with the current secret key or a fallback): it ended with the password change, and
    the change trail dates that change.
    """
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if any(constant_time_compare(auth_hash, known) for known in hashes):
        return {}
    return {"reason": "password_changed"}


def _shown_path(request) -> str:
    """The URL as it was asked for, decoded (a search for ``138 0013 8000`` arrives as
    ``138+0013+8000``) so that phones and ID numbers in it are found and masked."""
    query = request.META.get("QUERY_STRING", "")
    path = request.path + (f"?{unquote_plus(query, errors='replace')}" if query else "")
    return _masked(path)


def _shown_username(name: str, user) -> str:
    """Who acted, as the trail shows them: an account's username in clear, even one that looks
    like a phone number (the person must be identifiable, and told apart from another); a name
    no account has (typed at a failed sign-in, perhaps someone's phone or ID number) masked."""
    if not name:
        return ""
    if user is not None and name.startswith(user.get_username()):
        return name.replace("\x00", "\ufffd")  # the account, or "account（命令行，…）"
    if name == mask_in_text(name):
        return name  # nothing to mask: no lookup needed
    if get_user_model().objects.filter(username=name).exists():
        return name
    return _masked(name)


def _masked(value):
    """An event's detail with phones and ID numbers masked in its text (search filters), and
    any NUL character (which PostgreSQL's text and JSON cannot hold, and a crafted query
    string can carry) shown as U+FFFD: the event is recorded, with a mark where it was."""
    if isinstance(value, str):
        return mask_in_text(value.replace("\x00", "\ufffd"))
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def sessions_end_expired(*, now: datetime.datetime | None = None, batch: int = 1000) -> int:
    """Delete the sessions that have expired, recording each signed-in one as timed out.

    Django ends an idle session by letting it expire in the database (SESSION_COOKIE_AGE after
    the last request): nobody signs out, so nothing is recorded, and the row stays until it is
    deleted. Celery beat runs this hourly; each event is dated when its session expired. A
    batch at a time, in one transaction each (sessions another sweep holds are skipped).
    Returns the number of sessions recorded as timed out.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not issubclass(store, DatabaseSessionStore):
        return 0  # sessions kept elsewhere (cache, cookies) expire there, unseen
    sessions = store.get_model_class().objects
    now = now or timezone.now()
    user_key = get_user_model()._meta.pk.to_python
    ended = 0
    while True:
        with transaction.atomic():
            rows = list(
                sessions.select_for_update(skip_locked=True)
                .filter(expire_date__lt=now)
                .order_by("expire_date")
                .values_list("session_key", "session_data", "expire_date")[:batch]
            )
            if not rows:
                return ended
            signed_in = []
            for _key, data, expired in rows:
                session = store().decode(data)
                if session.get(SESSION_KEY) is not None:
                    user_id = user_key(session[SESSION_KEY])
                    signed_in.append((user_id, expired, session.get(HASH_SESSION_KEY, "")))
            users = get_user_model().objects.in_bulk({user_id for user_id, _at, _h in signed_in})
            events = [
                AccessEvent(
                    kind=AccessEventKind.SESSION_EXPIRED,
                    user=users[user_id],
                    username=users[user_id].get_username(),
                    at=expired,
                    detail=_ended_by(users[user_id], auth_hash),
                )
                for user_id, expired, auth_hash in signed_in
                if user_id in users
            ]
            AccessEvent.objects.bulk_create(events)
            sessions.filter(session_key__in=[key for key, _data, _at in rows]).delete()
            ended += len(events)
