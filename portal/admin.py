from django.contrib import admin

from .models import AccessEvent, ApiToken, RoleAssignment


class ScopedAdminMixin:
    """The admin goes through the same scoping door as every page and endpoint."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs.filter(pk__in=self.model.objects.visible_to(request.user).values("pk"))


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "organization", "created_at")
    list_filter = ("role",)
    search_fields = ("user__username", "organization__name", "organization__code")
    raw_id_fields = ("user", "organization")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at")
    exclude = ("key_hash",)

    def has_add_permission(self, request):
        # Keys are created with `create_api_token`, which shows the key once.
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "username", "ip_address", "object_type", "object_id")
    list_filter = ("kind",)
    search_fields = ("username", "object_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
