from django.contrib import admin

from portal.admin import ScopedAdminMixin

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
    readonly_fields = ("created_at", "updated_at")
    inlines = [MobilityInline]


@admin.register(Mobility)
class MobilityAdmin(ScopedAdminMixin, admin.ModelAdmin):
    list_display = ("member", "left_on", "destination_code", "employer", "ended_on", "end_kind")
    list_filter = ("reason", "end_kind")
    raw_id_fields = ("member", "inflow_org")
    list_select_related = ("member",)
