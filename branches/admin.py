from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.admin import ScopedAdminMixin

from . import services
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
    actions = ["dissolve"]
    # A stored organization's type and standing change through the services, whose rules (no
    # member left in a functional branch, none in a dissolved one) and history an edited field
    # would skip: the type through import_orgs, dissolution through the action below.
    _through_services = ("branch_type", "status", "dissolved_on")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else (*fields, *self._through_services)

    def save_model(self, request, obj, form, change):
        """A new parent moves the whole subtree (organization_move), not the row alone: its
        descendants' paths would otherwise still name the old place, and scoping with them."""
        stored_parent = Organization.objects.get(pk=obj.pk).parent if change else None
        if not change or obj.parent_id == (stored_parent and stored_parent.pk):
            return super().save_model(request, obj, form, change)
        new_parent = obj.parent
        obj.parent = stored_parent
        super().save_model(request, obj, form, change)
        services.organization_move(org=obj, new_parent=new_parent)
        obj.refresh_from_db()

    @admin.action(description=_("撤销所选组织（撤销日期为今天）"))
    def dissolve(self, request, queryset):
        for org in queryset:
            try:
                services.organization_dissolve(org=org, dissolved_on=timezone.localdate())
            except ValidationError as exc:
                self.message_user(request, f"{org.name}：{'；'.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, _("已撤销 %(org)s") % {"org": org.name})
