"""The one door for "who sees what": every list, detail, API view, export and admin uses it.

A user's scope is the union of the subtrees of the organizations on which they hold a data role.
The model querysets (``Organization.objects.visible_to``, ``Member.objects.visible_to``,
``Mobility.objects.visible_to``) turn it into a filter; out-of-scope objects then simply do not
exist for that user, so detail views answer 404 exactly as for a missing object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q

from .choices import DATA_ROLES, LEDGER_ROLES, REVEAL_ROLES, WRITE_ROLES

_CACHE_ATTR = "_portal_scope"


@dataclass(frozen=True)
class Scope:
    """What one user may see and do, computed once per request."""

    everything: bool = False
    org_paths: tuple[str, ...] = ()
    roles: frozenset[str] = field(default_factory=frozenset)
    write_paths: tuple[str, ...] = ()
    ledger_paths: tuple[str, ...] = ()
    can_reveal: bool = False

    @property
    def sees_data(self) -> bool:
        return self.everything or bool(self.org_paths)

    def path_q(self, lookup: str, paths: tuple[str, ...] | None = None) -> Q:
        """A filter on an organization path: ``lookup`` is e.g. "path" or "home_org__path"."""
        if self.everything and paths is None:
            return Q()
        paths = self.org_paths if paths is None else paths
        if not paths:
            return Q(pk__in=[])
        return reduce(or_, (Q(**{f"{lookup}__startswith": p}) for p in paths))

    def covers(self, org, paths: tuple[str, ...] | None = None) -> bool:
        """Whether ``org`` lies in this scope (or in ``paths``, e.g. the write paths)."""
        if self.everything:
            return True
        paths = self.org_paths if paths is None else paths
        return any(org.path.startswith(p) for p in paths)

    def can_write(self, org) -> bool:
        return self.everything or self.covers(org, self.write_paths)

    def can_ledger(self, org=None) -> bool:
        if self.everything:
            return True
        if org is None:
            return bool(self.ledger_paths)
        return self.covers(org, self.ledger_paths)


def _minimal(paths: set[str]) -> tuple[str, ...]:
    """Drop paths inside other paths: the filter stays short."""
    ordered = sorted(paths, key=len)
    kept: list[str] = []
    for p in ordered:
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return tuple(sorted(kept))


def scope_for(user) -> Scope:
    """The user's scope; cached on the user object for the rest of the request."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope()
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    if user.is_superuser:
        scope = Scope(everything=True, can_reveal=True, roles=frozenset({"superuser"}))
    else:
        rows = list(
            user.role_assignments.select_related("organization").values_list(
                "role", "organization__path"
            )
        )
        roles = frozenset(role for role, _ in rows)
        scope = Scope(
            org_paths=_minimal({p for r, p in rows if r in DATA_ROLES and p}),
            write_paths=_minimal({p for r, p in rows if r in WRITE_ROLES and p}),
            ledger_paths=_minimal({p for r, p in rows if r in LEDGER_ROLES and p}),
            roles=roles,
            can_reveal=bool(roles & set(REVEAL_ROLES)),
        )
    setattr(user, _CACHE_ATTR, scope)
    return scope


def forget_scope(user) -> None:
    """Drop the cached scope (after roles change within one request or test)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)
