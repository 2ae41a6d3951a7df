"""Writes on accounts: roles and API tokens. Commands and (later) admin pages call these."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from branches.models import Organization

from .choices import Role
from .models import ORG_SCOPED_ROLES, ApiToken, PasswordState, RoleAssignment, hash_token

SERVICE_ACCOUNT_PREFIX = "api-"


@transaction.atomic
def role_grant(
    *,
    username: str,
    role: str,
    organization: Organization | None = None,
    password: str | None = None,
) -> RoleAssignment:
    """Create or update a user and give them a role on an organization."""
    if role not in Role.values or role == Role.API_CLIENT:
        raise ValidationError(_("未知的角色：%(r)s") % {"r": role})
    if role in ORG_SCOPED_ROLES and organization is None:
        raise ValidationError(_("该角色必须指定所在党组织（--org）"))
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if password is not None:
        password_validation.validate_password(password, user)
        user.set_password(password)
        user.save()
    elif created:
        user.set_unusable_password()
        user.save()
    assignment = RoleAssignment.objects.filter(
        user=user, role=role, organization=organization
    ).first() or RoleAssignment(user=user, role=role, organization=organization)
    if assignment.pk is None:
        role_assignment_save(assignment)
    return assignment


@transaction.atomic
def role_assignment_save(assignment: RoleAssignment) -> RoleAssignment:
    """Save a new or changed role assignment (grant_role and the back office): the model's
    rules (三权分立, an organization where the role needs one), and the back office opened
    to system and security administrators, whose work is there.

    The account's row is locked first, so that two grants to one account at the same moment
    are checked one after the other: each would otherwise find the other not yet saved, and
    one person could end up with two duties.
    """
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=assignment.user_id).first()
        return _role_assignment_save(assignment)


def _role_assignment_save(assignment: RoleAssignment) -> RoleAssignment:
    assignment.full_clean()
    user = assignment.user
    if assignment.role in (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN) and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    assignment.save()
    return assignment


@transaction.atomic
def api_token_create(
    *,
    name: str,
    organization: Organization,
    days: int | None = None,
    unmasked: bool = False,
) -> tuple[ApiToken, str]:
    """Create a read-only service account scoped to ``organization``; return (token, key).

    The key is shown once: only its SHA-256 digest is stored.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("请填写令牌名称"))
    longest = ApiToken._meta.get_field("name").max_length
    if len(name) > longest:
        raise ValidationError(_("令牌名称不能超过 %(n)d 个字") % {"n": longest})
    if ApiToken.objects.filter(name=name).exists():
        raise ValidationError(_("令牌名称“%(n)s”已存在") % {"n": name})
    days = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
    if days < 1:
        raise ValidationError(_("有效天数至少为 1 天"))
    User = get_user_model()
    username = f"{SERVICE_ACCOUNT_PREFIX}{name}"[:150]
    if User.objects.filter(username=username).exists():
        raise ValidationError(_("服务账号 %(u)s 已存在") % {"u": username})
    user = User(username=username)
    user.set_unusable_password()
    user.save()
    RoleAssignment.objects.create(user=user, role=Role.API_CLIENT, organization=organization)
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(
        name=name,
        user=user,
        key_hash=hash_token(key),
        prefix=key[:8],
        expires_at=timezone.now() + datetime.timedelta(days=days),
        unmasked=unmasked,
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, name: str) -> ApiToken:
    """Revoke a token at once; its service account is deactivated too."""
    if not ApiToken.objects.filter(name=name).exists():
        raise ValidationError(_("没有名为“%(n)s”的令牌") % {"n": name})
    api_tokens_revoke(tokens=ApiToken.objects.filter(name=name))
    return ApiToken.objects.get(name=name)


@transaction.atomic
def api_tokens_revoke(*, tokens) -> int:
    """Revoke the tokens of a queryset not yet revoked, deactivating their service accounts;
    returns how many were revoked. Three statements, however many tokens."""
    pairs = list(
        tokens.filter(revoked_at__isnull=True).select_for_update().values_list("pk", "user_id")
    )
    ApiToken.objects.filter(pk__in=[pk for pk, _user in pairs]).update(revoked_at=timezone.now())
    get_user_model().objects.filter(pk__in=[user for _pk, user in pairs]).update(is_active=False)
    return len(pairs)


# --- passwords: first-login change and expiry (PORTAL_PASSWORD_MAX_AGE_DAYS) ------------------

DUE_INITIAL = "initial"
DUE_EXPIRED = "expired"


def password_set_by_admin(user) -> None:
    """An administrator gave ``user`` this password: they change it at their first login."""
    PasswordState.objects.update_or_create(
        user=user,
        defaults={"must_change": True},
        create_defaults={"must_change": True, "changed_at": timezone.now()},
    )


def password_usability_kept(user) -> None:
    """Keep ``PasswordState.usable`` (and so the trail) in step with whether ``user``'s
    password can sign in: an administrator taking password sign-in away changes only the hash,
    which the trail leaves out. No write when nothing changed."""
    usable = user.has_usable_password()
    updated = PasswordState.objects.filter(user=user).exclude(usable=usable).update(usable=usable)
    if not updated and not usable:
        PasswordState.objects.get_or_create(
            user=user, defaults={"changed_at": timezone.now(), "usable": False}
        )


def password_change_due(user) -> str:
    """Why ``user`` must change their password before anything else: ``DUE_INITIAL``,
    ``DUE_EXPIRED`` or "" (nothing due). A password set before the portal kept dates is
    counted from now."""
    state = PasswordState.objects.filter(user=user).first()
    if state is None:
        PasswordState.objects.create(user=user, changed_at=timezone.now())
        return ""
    if state.must_change:
        return DUE_INITIAL
    days = settings.PORTAL_PASSWORD_MAX_AGE_DAYS
    if days and state.changed_at < timezone.now() - datetime.timedelta(days=days):
        return DUE_EXPIRED
    return ""
