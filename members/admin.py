from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from portal.admin import ScopedAdminMixin
from portal.concurrency import VersionedModelForm
from portal.masking import mask_birth_date, mask_id_number, mask_in_text, mask_phone

from . import services
from .constants import MEMBER_FREE_TEXT, MOBILITY_FREE_TEXT
from .models import Member, Mobility


class MemberAdminForm(VersionedModelForm):
    """A member as opened: a roster import or another user's save meanwhile refuses it."""

    @staticmethod
    def lock(member, version):
        services.member_lock(member=member, version=version)

    def add_error(self, field, error):
        # Member.clean names the field a rule concerns; a stored member's masked fields
        # (MEMBER_FREE_TEXT, _sensitive) are not in this form: their errors go on top of it.
        if field is None and hasattr(error, "error_dict"):
            errors: dict[str, list] = {}
            for name, messages in error.error_dict.items():
                errors.setdefault(name if name in self.fields else NON_FIELD_ERRORS, []).extend(
                    messages
                )
            error = ValidationError(errors)
        super().add_error(field, error)


class MobilityAdminForm(VersionedModelForm):
    """A mobility as opened (on its own page or in its member's)."""

    @staticmethod
    def lock(mobility, version):
        # Its member first, as the services and roster imports lock them (``sql.lock_members``):
        # an import that locked the member and planned the mobility as current would otherwise
        # write the roster's values into it once this page had ended it.
        services.member_lock(member=mobility.member)
        services.mobility_lock(mobility=mobility, version=version)


class MaskedFreeTextMixin:
    """A stored object's free text, where someone may have typed a phone or an ID number,
    shown masked and read-only in the back office: the portal's forms edit it, and record that
    it was seen. ``free_text`` names the fields of ``free_text_model``."""

    free_text: tuple[str, ...] = ()
    free_text_model = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.free_text:
            label = cls.free_text_model._meta.get_field(name).verbose_name

            def shown(self, obj, name=name):
                return mask_in_text(getattr(obj, name)) if obj is not None and obj.pk else ""

            setattr(cls, f"masked_{name}", admin.display(description=label)(shown))

    def get_fields(self, request, obj=None):
        masked = {f"masked_{name}" for name in self.free_text}
        fields = [f for f in super().get_fields(request, obj) if f not in masked]
        if obj is None:
            return fields
        return [f"masked_{f}" if f in self.free_text else f for f in fields]

    def get_readonly_fields(self, request, obj=None):
        masked = (f"masked_{name}" for name in self.free_text)
        return (*super().get_readonly_fields(request, obj), *masked)


class MobilityInline(MaskedFreeTextMixin, admin.StackedInline):
    free_text, free_text_model = MOBILITY_FREE_TEXT, Mobility
    model = Mobility
    form = MobilityAdminForm
    extra = 0
    raw_id_fields = ("inflow_org",)
    # The inline's ``obj`` is the member: a stored member's mobilities show it masked.


@admin.register(Member)
class MemberAdmin(MaskedFreeTextMixin, ScopedAdminMixin, admin.ModelAdmin):
    free_text, free_text_model = MEMBER_FREE_TEXT, Member
    form = MemberAdminForm
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

    # Deleting: the members first, in id order, as the services and roster imports lock them.
    # Django's deletion removes a member's mobilities before the member, which took those rows
    # first and deadlocked with an import or a return holding the member and waiting for them.
    def delete_model(self, request, obj):
        with transaction.atomic():
            services.member_lock(member=obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            list(queryset.order_by("pk").select_for_update().values_list("pk", flat=True))
            super().delete_queryset(request, queryset)

    def get_readonly_fields(self, request, obj=None):
        # A stored member's last contact is recorded through the services (a single UPDATE
        # that keeps the latest date, ``member_record_contact``, and roster imports), which
        # give no new version: a page opened before a contact wrote its older date back.
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else (*fields, "last_contact_on")

    def get_fields(self, request, obj=None):
        own = ("masked_id_number", "masked_birth_date", "masked_phone")
        fields = [f for f in super().get_fields(request, obj) if f not in own]
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
class MobilityAdmin(MaskedFreeTextMixin, ScopedAdminMixin, admin.ModelAdmin):
    free_text, free_text_model = MOBILITY_FREE_TEXT, Mobility
    form = MobilityAdminForm
    list_display = (
        "member",
        "left_on",
        "destination_code",
        "masked_employer",
        "ended_on",
        "end_kind",
    )
    list_filter = ("reason", "end_kind")
    raw_id_fields = ("member", "inflow_org")
    list_select_related = ("member",)
