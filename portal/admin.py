from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group

from .choices import Role
from .models import ApiToken, RoleAssignment


class DutyAdminMixin:
    """三权分立 in the back office: a model is managed by the holders of one duty role."""

    duty: str = ""

    def _holds_duty(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:  # the bootstrap account; see README "Separation of duties"
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


@admin.register(User)
class PortalUserAdmin(DutyAdminMixin, UserAdmin):
    """Accounts are the system administrator's duty.

    Which is not a way into the other two: only a superuser may make or touch a superuser (who
    passes every duty check) or hand out Django permissions and groups; roles themselves are
    the security administrator's (``RoleAssignmentAdmin``).
    """

    duty = Role.SYSTEM_ADMIN
    _superuser_only = ("is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser:
            return fields
        return (*fields, *self._superuser_only)

    def _may_touch(self, request, obj) -> bool:
        return obj is None or request.user.is_superuser or not obj.is_superuser

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_touch(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_touch(request, obj)


@admin.register(AccessAttempt)
class PortalAccessAttemptAdmin(DutyAdminMixin, AccessAttemptAdmin):
    """Lockouts (and unlocking) are the security administrator's duty."""

    duty = Role.SECURITY_ADMIN

    def has_add_permission(self, request, *args):
        return False


class ScopedAdminMixin:
    """The admin goes through the same scoping door as every page and endpoint."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(pk__in=self.model.objects.visible_to(request.user).values("pk"))


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(DutyAdminMixin, admin.ModelAdmin):
    """Roles are the security administrator's duty."""

    duty = Role.SECURITY_ADMIN
    list_display = ("user", "role", "organization", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "organization__name", "organization__code")
    raw_id_fields = ("user", "organization")


@admin.register(ApiToken)
class ApiTokenAdmin(DutyAdminMixin, admin.ModelAdmin):
    duty = Role.SYSTEM_ADMIN
    list_display = ("name", "prefix", "user", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at")
    exclude = ("key_hash",)

    def has_add_permission(self, request, *args):
        # Keys are created with `create_api_token`, which shows the key once.
        return False
