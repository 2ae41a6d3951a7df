from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.admin import ScopedAdminMixin
from portal.masking import mask_id_number, mask_phone

from .models import Member, Mobility


class MobilityInline(admin.StackedInline):
    model = Mobility
    extra = 0
    raw_id_fields = ("inflow_org",)


@admin.register(Member)
class MemberAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "gender", "member_type", "home_org", "party_status", "last_contact_on")
    list_filter = ("member_type", "party_status", "gender")
    search_fields = ("name", "phone")
    raw_id_fields = ("home_org",)
    list_select_related = ("home_org",)
    readonly_fields = ("masked_id_number", "masked_phone", "created_at", "updated_at")
    inlines = [MobilityInline]
    # Masked here as everywhere: a stored member's ID number and phone are shown masked and
    # are not in the form (the portal's member page reveals and edits them, and records it).
    _sensitive = ("id_number", "phone")

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if not f.startswith("masked_")]
        if obj is None:
            return fields
        return [f for f in fields if f not in self._sensitive] + [
            "masked_id_number",
            "masked_phone",
        ]

    @admin.display(description=_("公民身份号码"))
    def masked_id_number(self, obj):
        return mask_id_number(obj.id_number)

    @admin.display(description=_("联系电话"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone)


@admin.register(Mobility)
class MobilityAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("member", "left_on", "destination_code", "employer", "ended_on", "end_kind")
    list_filter = ("reason", "end_kind")
    raw_id_fields = ("member", "inflow_org")
    list_select_related = ("member",)
