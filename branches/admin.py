from django.contrib import admin

from portal.admin import ScopedAdminMixin

from .models import BranchTypeChange, Organization


class BranchTypeChangeInline(admin.TabularInline):
    model = BranchTypeChange
    extra = 0
    can_delete = False
    readonly_fields = ("from_type", "to_type", "changed_on", "reason", "created_at")

    def has_add_permission(self, request, obj=None):
        # Type changes go through organization_change_branch_type to keep the history honest.
        return False


@admin.register(Organization)
class OrganizationAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name", "kind", "branch_type", "parent", "status")
    list_filter = ("kind", "branch_type", "status")
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)
    readonly_fields = ("path", "depth", "created_at", "updated_at")
    inlines = [BranchTypeChangeInline]
