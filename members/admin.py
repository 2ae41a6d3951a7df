from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from portal.admin import ScopedAdminMixin
from portal.masking import mask_birth_date, mask_id_number, mask_in_text, mask_phone

from .models import Member, Mobility


class MaskedContactMixin:
    """A stored mobility's contact person masked (a phone in it): the portal's mobility form
    edits it, and records that it was seen."""

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "masked_contact_person"]
        if obj is None:
            return fields
        return [f for f in fields if f != "contact_person"] + ["masked_contact_person"]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "masked_contact_person")

    @admin.display(description=_("联系人"))
    def masked_contact_person(self, obj):
        return mask_in_text(obj.contact_person) if obj and obj.pk else ""


class MobilityInline(MaskedContactMixin, admin.StackedInline):
    model = Mobility
    extra = 0
    raw_id_fields = ("inflow_org",)
    # The inline's ``obj`` is the member: a stored member's mobilities show it masked.


@admin.register(Member)
class MemberAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("name", "gender", "member_type", "home_org", "party_status", "last_contact_on")
    list_filter = ("member_type", "party_status", "gender")
    # Whole values only, as the portal's search: a part of a phone's masked middle would give
    # it away a digit at a time.
    search_fields = ("name", "=phone", "=id_tail")
    raw_id_fields = ("home_org",)
    list_select_related = ("home_org",)
    readonly_fields = (
        "masked_id_number",
        "masked_birth_date",
        "masked_phone",
        "created_at",
        "updated_at",
    )
    inlines = [MobilityInline]
    # Masked here as everywhere: a stored member's ID number, birth date (which gives back most
    # of the number's hidden digits) and phone are shown masked and are not in the form (the
    # portal's member page reveals them, and records it).
    _sensitive = ("id_number", "birth_date", "phone")

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if not f.startswith("masked_")]
        if obj is None:
            return fields
        return [f for f in fields if f not in self._sensitive] + [
            "masked_id_number",
            "masked_birth_date",
            "masked_phone",
        ]

    @admin.display(description=_("公民身份号码"))
    def masked_id_number(self, obj):
        return mask_id_number(obj.id_number)

    @admin.display(description=_("出生日期"))
    def masked_birth_date(self, obj):
        return mask_birth_date(obj.birth_date)

    @admin.display(description=_("联系电话"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone)


@admin.register(Mobility)
class MobilityAdmin(MaskedContactMixin, ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("member", "left_on", "destination_code", "employer", "ended_on", "end_kind")
    list_filter = ("reason", "end_kind")
    raw_id_fields = ("member", "inflow_org")
    list_select_related = ("member",)
