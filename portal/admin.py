from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, SetUnusablePasswordMixin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from branches.models import Organization
from rosters.validation import OrgDirectory

from .choices import DUTY_ROLES, Role
from .masking import mask_in_text
from .models import ApiToken, RoleAssignment, SecondFactor
from .services import api_tokens_revoke, password_set_by_admin, role_assignment_save


class _AdminSetPasswordForm(AdminPasswordChangeForm):
    # Django's warning under 使用密码 is English outside its catalogs; the markup is its own (its
    # script shows the warning when the box is unticked).
    usable_password_help_text = format_lazy(
        '{}<ul id="id_unusable_warning" class="messagelist"><li class="warning">{}</li></ul>',
        SetUnusablePasswordMixin.usable_password_help_text,
        _("如果禁用，该账号现在的密码将会丢失。"),
    )

    def save(self, commit=True):
        user = super().save(commit=commit)
        if commit and user.has_usable_password():
            password_set_by_admin(user)
        return user


class DutyAdminMixin:
    """三权分立 in the back office: a model is managed by the holders of one duty role."""

    duty: str = ""

    def _holds_duty(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:  # the bootstrap account (README, "Who sees what")
            return True
        return user.role_assignments.filter(role=self.duty).exists()

    def has_module_permission(self, request):
        return self._holds_duty(request)

    def has_view_permission(self, request, obj=None):
        return self._holds_duty(request)

    def has_add_permission(self, request, *args):
        return self._holds_duty(request)

    def has_change_permission(self, request, obj=None):
        return self._holds_duty(request)

    def has_delete_permission(self, request, obj=None):
        return self._holds_duty(request)


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(AccessAttempt)
# django-otp's own page shows each authenticator's secret and QR code, to superusers only.
admin.site.unregister(TOTPDevice)


@admin.register(User)
class PortalUserAdmin(DutyAdminMixin, UserAdmin):
    """Accounts are the system administrator's duty.

    Which is not a way into the other two: only a superuser may make or touch a superuser (who
    passes every duty check) or hand out Django permissions and groups, nor may a system
    administrator change, give a password to or delete the account of a security
    administrator or an auditor (they would then sign in as them); roles themselves are the
    security administrator's (``RoleAssignmentAdmin``).
    """

    duty = Role.SYSTEM_ADMIN
    _superuser_only = ("is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, *self._superuser_only)

    def _may_touch(self, request, obj) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        other_duties = [role for role in DUTY_ROLES if role != self.duty]
        return (
            not obj.is_superuser and not obj.role_assignments.filter(role__in=other_duties).exists()
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)

    # A password the system administrator sets, for a new account or a forgotten one, is theirs
    # to know: its holder changes it at the first login.
    change_password_form = _AdminSetPasswordForm

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and obj.has_usable_password():
            password_set_by_admin(obj)


@admin.register(AccessAttempt)
class PortalAccessAttemptAdmin(DutyAdminMixin, AccessAttemptAdmin):
    """Lockouts (and unlocking) are the security administrator's duty.

    django-axes' list in Chinese, and what was typed as the username masked where it is
    someone's phone or ID number (a typo at the sign-in page, no account's name): the list is
    searched by it all the same. The request's form data, which repeats it, is not shown.
    """

    duty = Role.SECURITY_ADMIN
    list_display = [
        "attempt_time",
        "ip_address",
        "user_agent",
        "shown_username",
        "path_info",
        "failures_since_start",
        "status",
    ]
    fieldsets = (
        (None, {"fields": ("shown_username", "path_info", "failures_since_start")}),
        (_("请求信息"), {"fields": ("user_agent", "ip_address", "http_accept", "attempt_time")}),
    )
    readonly_fields = [
        "shown_username",
        "user_agent",
        "ip_address",
        "http_accept",
        "path_info",
        "attempt_time",
        "failures_since_start",
    ]
    actions = ["cleanup_expired_attempts"]

    def has_add_permission(self, request, *args):
        return False

    # Nobody but a superuser clears a lockout of their own account: the lockout holds against
    # whoever guesses the password, and a security administrator signed in from elsewhere
    # would otherwise lift it for them (the same rule as their own roles).
    def has_delete_permission(self, request, obj=None):
        own = (
            obj is not None
            and not request.user.is_superuser
            and obj.username == request.user.get_username()
        )
        return super().has_delete_permission(request, obj) and not own

    @admin.display(description=_("用户名"), ordering="username")
    def shown_username(self, obj) -> str:
        return mask_in_text(obj.username or "")

    @admin.display(description=_("状态"))
    def status(self, obj) -> str:
        remaining = settings.AXES_FAILURE_LIMIT - obj.failures_since_start
        if remaining > 0:
            return _("还可尝试 %(n)d 次") % {"n": remaining}
        return _("已锁定")

    @admin.action(description=_("清理已过期的登录失败记录"))
    def cleanup_expired_attempts(self, request, queryset):
        count = self.handler.clean_expired_user_attempts(request=request)
        self.message_user(request, _("已清理 %(n)d 条过期的登录失败记录。") % {"n": count})


class ScopedAdminMixin:
    """The admin goes through the same scoping door as every page and endpoint."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(pk__in=self.model.objects.visible_to(request.user).values("pk"))


class _Typed(forms.ModelChoiceField):
    """A related object typed in a text box by one of its fields (``to_field_name``), not
    picked by id from a lookup popup: the security administrator may not open the lists of
    accounts and organizations, which are other duties'."""

    def __init__(self, *, queryset, to_field_name, **kwargs):
        widget = forms.TextInput(attrs={"autocomplete": "off"})
        super().__init__(queryset, to_field_name=to_field_name, widget=widget, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, int):  # a change form's initial value is the id
            value = self.queryset.filter(pk=value).first() or value
        return super().prepare_value(value)


class _ByUsername(_Typed):
    """An existing account, by its username."""

    def __init__(self, **kwargs):
        users = get_user_model().objects.all()
        super().__init__(queryset=users, to_field_name="username", **kwargs)
        self.error_messages["invalid_choice"] = _("没有这个用户名的账号，请先由系统管理员创建账号")


class _ByCodeOrName(_Typed):
    """An organization by its code or full name, as in roster files (OrgDirectory)."""

    def __init__(self, **kwargs):
        super().__init__(queryset=Organization.objects.all(), to_field_name="code", **kwargs)

    def to_python(self, value):
        if value in self.empty_values or not str(value).strip():
            return None
        org = OrgDirectory(self.queryset).find(value)  # ValidationError if a name is shared
        if org is None:
            raise ValidationError(_("没有编码或全称为“%(org)s”的党组织") % {"org": value})
        return org


class RoleAssignmentForm(forms.ModelForm):
    user = _ByUsername(label=_("用户名"))
    organization = _ByCodeOrName(
        label=_("所在党组织"),
        required=False,
        help_text=_("组织编码或全称；审计员、系统管理员和安全管理员不填"),
    )

    class Meta:
        model = RoleAssignment
        fields = ("user", "role", "organization")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A token's service account gets its role with its token (create_api_token).
        if "role" in self.fields:  # not when the whole form is read-only
            role = self.fields["role"]
            role.choices = [c for c in role.choices if c[0] != Role.API_CLIENT]


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(DutyAdminMixin, admin.ModelAdmin):
    """Roles are the security administrator's duty."""

    duty = Role.SECURITY_ADMIN
    form = RoleAssignmentForm
    list_display = ("user", "role", "organization", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "organization__name", "organization__code")

    def save_model(self, request, obj, form, change):
        role_assignment_save(obj)

    # Nobody but a superuser changes their own roles: a security administrator could otherwise
    # give themselves data roles (every member, reveals) or another duty.
    def _own(self, request, obj) -> bool:
        return obj is not None and obj.user_id == request.user.pk and not request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._own(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._own(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        actor = request.user

        class NotOneself(form):
            def clean(self):
                cleaned = super().clean()
                if cleaned.get("user") == actor and not actor.is_superuser:
                    raise ValidationError(_("不能为自己分配角色，请由另一位安全管理员办理"))
                return cleaned

        return NotOneself


@admin.register(ApiToken)
class ApiTokenAdmin(DutyAdminMixin, admin.ModelAdmin):
    duty = Role.SYSTEM_ADMIN
    list_display = ("name", "prefix", "user", "expires_at", "revoked_at", "last_used_at")
    # Whether a token sees ID numbers and phones in clear is set once, when the operator
    # creates it (``create_api_token --unmasked``): not a switch for the account manager.
    readonly_fields = (
        "name",
        "user",
        "prefix",
        "unmasked",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    exclude = ("key_hash",)
    # Revoking goes through the service, which also deactivates the token's service account.
    actions = ["revoke"]

    def has_add_permission(self, request, *args):
        # Keys are created with `create_api_token`, which shows the key once.
        return False

    @admin.action(description=_("吊销所选令牌（同时停用其服务账号）"))
    def revoke(self, request, queryset):
        revoked = api_tokens_revoke(tokens=queryset)
        self.message_user(
            request,
            ngettext("已吊销 %(n)d 个令牌。", "已吊销 %(n)d 个令牌。", revoked) % {"n": revoked},
            messages.SUCCESS,
        )


@admin.register(SecondFactor)
class SecondFactorAdmin(DutyAdminMixin, admin.ModelAdmin):
    """Second factors are the security administrator's duty: whoever lost their phone (or is
    throttled after wrong codes) has their authenticator removed here and sets up a new one at
    their next sign-in (``/accounts/otp/``). Nobody adds one for someone else, and nobody sees
    a secret: the page shows whose it is and when it was used, nothing else. django-otp's
    labels are English and outside any catalog, hence the columns below."""

    duty = Role.SECURITY_ADMIN
    list_display = ("account", "device_name", "ready", "created", "last_used", "failures")
    list_select_related = ("user",)
    search_fields = ("user__username", "name")
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only: removing it (重置) is the whole of the work

    @admin.display(description=_("账号"), ordering="user__username")
    def account(self, obj) -> str:
        return obj.user.get_username()

    @admin.display(description=_("名称"), ordering="name")
    def device_name(self, obj) -> str:
        return obj.name

    @admin.display(description=_("已启用"), boolean=True, ordering="confirmed")
    def ready(self, obj) -> bool:
        return obj.confirmed

    @admin.display(description=_("设置时间"), ordering="created_at")
    def created(self, obj):
        return obj.created_at

    @admin.display(description=_("最近使用"), ordering="last_used_at")
    def last_used(self, obj):
        return obj.last_used_at

    @admin.display(description=_("连续输错次数"))
    def failures(self, obj) -> int:
        return obj.throttling_failure_count
