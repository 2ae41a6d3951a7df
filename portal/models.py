"""Who may see what: roles held on organizations, API tokens, and recorded access events."""

from __future__ import annotations

import hashlib
import secrets

import pgtrigger
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from branches.choices import OrgKind

from . import triggers
from .choices import DATA_ROLES, DUTY_ROLES, AccessEventKind, Role

# Roles that are held on an organization (and so scope data to its subtree).
ORG_SCOPED_ROLES = (Role.COUNTY_ADMIN, Role.COMMITTEE_STAFF, Role.BRANCH_SECRETARY, Role.API_CLIENT)


@triggers.track()
class RoleAssignment(models.Model):
    """A user holds a role on an organization; they see that organization's subtree."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        related_name="role_assignments",
    )
    role = models.CharField(_("角色"), max_length=30, choices=Role.choices)
    organization = models.ForeignKey(
        "branches.Organization",
        verbose_name=_("所在党组织"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="role_assignments",
    )
    created_at = models.DateTimeField(_("授权时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "organization"],
                name="role_assignment_unique",
                violation_error_message=_("该用户已在该组织担任此角色"),
            ),
            models.CheckConstraint(
                condition=~Q(role__in=ORG_SCOPED_ROLES) | Q(organization__isnull=False),
                name="role_assignment_org_required",
                violation_error_message=_("该角色必须指定所在党组织"),
            ),
        ]

    def __str__(self) -> str:
        org = f" @ {self.organization}" if self.organization_id else ""
        return f"{self.user} · {self.get_role_display()}{org}"

    def clean(self) -> None:
        """三权分立: system administration, security administration and audit never meet in
        one person; a branch secretary holds the role on a 党支部 (DOMAIN.md, "Users": their
        branch and its party groups, not a committee's subtree)."""
        if (
            self.role == Role.BRANCH_SECRETARY
            and self.organization_id
            and self.organization.kind != OrgKind.BRANCH
        ):
            raise ValidationError(
                {
                    "organization": _(
                        "党支部书记只能在党支部任职：“%(org)s”是%(kind)s，"
                        "其工作人员请授予党（工）委工作人员角色"
                    )
                    % {
                        "org": self.organization.name,
                        "kind": self.organization.get_kind_display(),
                    }
                }
            )
        kind = self.organization.kind if self.organization_id else None
        if self.role == Role.COUNTY_ADMIN and kind and kind != OrgKind.COMMITTEE:
            instead = (
                _("其书记、组织委员请在所在党支部授予党支部书记角色")
                if kind in (OrgKind.BRANCH, OrgKind.GROUP)
                else _("其工作人员请授予党（工）委工作人员角色")
            )
            raise ValidationError(
                {
                    "organization": _(
                        "县委组织部管理员只能在党委任职：“%(org)s”是%(kind)s，%(instead)s"
                    )
                    % {
                        "org": self.organization.name,
                        "kind": self.organization.get_kind_display(),
                        "instead": instead,
                    }
                }
            )
        if self.role == Role.COMMITTEE_STAFF and kind in (OrgKind.BRANCH, OrgKind.GROUP):
            raise ValidationError(
                {
                    "organization": _(
                        "党（工）委工作人员不能在党支部任职：“%(org)s”是%(kind)s，"
                        "其书记、组织委员请授予党支部书记角色"
                    )
                    % {"org": self.organization.name, "kind": self.organization.get_kind_display()}
                }
            )
        # A duty is held on no organization. Given one, it would also escape the uniqueness of
        # (user, role, organization), which an empty organization already does (NULLs are
        # distinct): each duty once per person, checked here.
        if self.role in DUTY_ROLES and self.organization_id:
            raise ValidationError(
                {
                    "organization": _(
                        "系统管理员、安全管理员和审计员不在党组织任职，所在党组织请不填"
                    )
                }
            )
        if (
            self.role in DUTY_ROLES
            and self.user_id
            and RoleAssignment.objects.filter(user_id=self.user_id, role=self.role)
            .exclude(pk=self.pk)
            .exists()
        ):
            raise ValidationError({"role": _("该用户已担任此角色")})
        if self.role in DUTY_ROLES and self.user_id:
            held = self._held(DUTY_ROLES, exclude=Q(role=self.role))
            if held:
                raise ValidationError(
                    {"role": _("三权分立：该用户已担任%(held)s，不能再担任%(role)s") % held}
                )
        # Nor do a duty and a data role: the administrators manage accounts, roles and the
        # trail, never members (a data role shows its subtree's members and reveals numbers).
        if self.user_id and self.role in (*DUTY_ROLES, *DATA_ROLES):
            other = DATA_ROLES if self.role in DUTY_ROLES else DUTY_ROLES
            held = self._held(other, exclude=Q(pk=self.pk))
            if held:
                raise ValidationError(
                    {
                        "role": _(
                            "三权分立：该用户已担任%(held)s，不能再担任%(role)s"
                            "（系统管理员、安全管理员和审计员不管理党员信息）"
                        )
                        % held
                    }
                )

    def _held(self, roles, *, exclude: Q) -> dict[str, str] | None:
        """Which of ``roles`` the account already holds, for a refusal's message (None: none)."""
        held = set(
            RoleAssignment.objects.filter(user_id=self.user_id, role__in=roles)
            .exclude(exclude)
            .values_list("role", flat=True)
        )
        if not held:
            return None
        return {
            "held": "、".join(str(Role(r).label) for r in sorted(held)),
            "role": Role(self.role).label,
        }


def hash_token(key: str) -> str:
    """Tokens are stored as SHA-256 digests: a leaked table does not leak working keys."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


@triggers.track(exclude=["key_hash"])
class ApiToken(models.Model):
    """A read-only key for an upstream system, bound to a service account and its scope."""

    name = models.CharField(_("名称"), max_length=100, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("服务账号"),
        on_delete=models.CASCADE,
        related_name="api_token",
    )
    key_hash = models.CharField(_("令牌摘要"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("令牌前缀"), max_length=8, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("到期时间"))
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    unmasked = models.BooleanField(
        _("返回完整身份证号和电话"),
        default=False,
        help_text=_("仅对确需完整信息的上级系统开启；每次调用均记录"),
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate_key() -> str:
        return secrets.token_urlsafe(32)

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


@triggers.track()
class PasswordState(models.Model):
    """When an account's password was last set, and whether its holder must choose their own
    before anything else (等保: 口令定期更换; an initial password given by an administrator is
    changed at the first login). Kept by ``portal.password_validation.PasswordAgeValidator``
    on every password save; read once per login (``portal.signals``)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="password_state",
    )
    changed_at = models.DateTimeField(_("密码设置时间"))
    must_change = models.BooleanField(
        _("须由本人修改"), default=False, help_text=_("管理员设置的初始密码，首次登录时须修改")
    )
    # An administrator can take password sign-in away (the back office's "unset password"):
    # the account keeps its row, its password no longer works (portal.signals keeps this).
    usable = models.BooleanField(_("可用密码登录"), default=True)

    class Meta:
        verbose_name = _("密码状态")
        verbose_name_plural = _("密码状态")

    def __str__(self) -> str:
        return f"{self.user} {self.changed_at:%Y-%m-%d}"


class AccessEvent(models.Model):
    """An access worth recording: a reveal of masked data, an export, a login, a token use."""

    kind = models.CharField(_("类型"), max_length=20, choices=AccessEventKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="access_events",
    )
    username = models.CharField(_("用户名"), max_length=150, blank=True, default="")
    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    ip_address = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    path = models.CharField(_("请求路径"), max_length=300, blank=True, default="")
    object_type = models.CharField(_("对象类型"), max_length=50, blank=True, default="")
    object_id = models.CharField(_("对象"), max_length=50, blank=True, default="")
    detail = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("访问记录")
        verbose_name_plural = _("访问记录")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["kind", "at"], name="access_kind_at_idx")]
        # Access events are part of the audit trail: nobody edits or deletes them.
        triggers = [
            pgtrigger.Protect(
                name="access_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            triggers.no_truncate("access_event_no_truncate"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.get_kind_display()}"

    def clean(self) -> None:
        if self.kind == AccessEventKind.REVEAL and not self.object_id:
            raise ValidationError(_("查看敏感信息的记录必须指明对象"))


class Account(get_user_model()):
    """The user table seen from this app, so its change-trail triggers live in our migrations
    (a trigger declared on django.contrib.auth's own model would need a migration there)."""

    class Meta:
        proxy = True
        app_label = "portal"
        verbose_name = _("账号")
        verbose_name_plural = _("账号")


# Account changes (activation, staff/superuser flags, names) are part of the change trail too;
# the password hash is never copied into it.
triggers.track(exclude=["password", "last_login"], model_name="UserEvent", app_label="portal")(
    Account
)


# Permissions and group memberships granted in the back office (by a superuser: the portal's
# own rights are roles, above) reach the trail too: the join tables, seen from this app.
class AccountGroup(get_user_model().groups.through):
    class Meta:
        proxy = True
        app_label = "portal"
        verbose_name = _("账号所属组")
        verbose_name_plural = _("账号所属组")


class AccountPermission(get_user_model().user_permissions.through):
    class Meta:
        proxy = True
        app_label = "portal"
        verbose_name = _("账号权限")
        verbose_name_plural = _("账号权限")


class GroupPermission(Group.permissions.through):
    class Meta:
        proxy = True
        app_label = "portal"
        verbose_name = _("组权限")
        verbose_name_plural = _("组权限")


triggers.track(model_name="AccountGroupEvent", app_label="portal")(AccountGroup)
triggers.track(model_name="AccountPermissionEvent", app_label="portal")(AccountPermission)
triggers.track(model_name="GroupPermissionEvent", app_label="portal")(GroupPermission)


class Lockout(AccessAttempt):
    """django-axes' failed-login records seen from this app: locking out and unlocking (the
    security administrator deleting them) reach the change trail like any other change."""

    class Meta:
        proxy = True
        app_label = "portal"
        verbose_name = _("登录失败记录")
        verbose_name_plural = _("登录失败记录")

    def __str__(self) -> str:  # django-axes' is English, in UTC, and names the username typed
        return _("登录失败记录 %(at)s") % {
            "at": timezone.localtime(self.attempt_time).strftime("%Y-%m-%d %H:%M:%S")
        }


triggers.track(model_name="LockoutEvent", app_label="portal")(Lockout)


class SecondFactor(TOTPDevice):
    """TOTP authenticators seen from this app: set up, confirmed, removed, throttled. The
    shared secret is never copied into the trail."""

    class Meta:
        proxy = True
        app_label = "portal"
        verbose_name = _("动态口令设备")
        verbose_name_plural = _("动态口令设备")


triggers.track(exclude=["key"], model_name="SecondFactorEvent", app_label="portal")(SecondFactor)
