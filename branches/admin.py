from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.admin import ScopedAdminMixin
from portal.concurrency import VersionedModelForm

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


def _edit_through_services(org: Organization, form: forms.ModelForm) -> None:
    """Write the changes of a stored organization's form through the services, which take the
    tree lock (waiting for an import under way) and check every rule of the tree: a new
    parent moves the whole subtree (``organization_move``), the other fields change through
    ``organization_update``."""
    changed = set(form.changed_data)
    if "parent" in changed:
        services.organization_move(org=org, new_parent=form.cleaned_data["parent"])
    fields = {name: form.cleaned_data[name] for name in services.ORG_FIELDS if name in changed}
    if fields:
        services.organization_update(org=org, **fields)


class OrganizationAdminForm(VersionedModelForm):
    """An organization as opened: an import or another user's save meanwhile refuses it.

    A stored organization's changes are then tried through the services while the form is
    validated, and rolled back: their refusals (a rule the form's own checks leave out, such as
    a temporary branch's planned end, or a tree changed meanwhile) are the form's errors, in
    Chinese, instead of an error page when the admin saves it."""

    @staticmethod
    def lock(org, version):
        services.organization_lock(org=org, version=version)

    def clean(self):
        cleaned = super().clean()
        parent = cleaned.get("parent")
        if self.instance._state.adding and parent is not None:
            # Before the code's uniqueness is checked, as organization_create does.
            services.organization_hold(parent)
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        if self.instance.pk is None or self.errors:
            return
        # The tree lock ``lock`` took in clean is held to the end of the admin view's
        # transaction (the back office saves in one), so the tree cannot change between this
        # trial and the write in save_model.
        try:
            with transaction.atomic():
                _edit_through_services(self.instance, self)
                transaction.set_rollback(True)
        except ValidationError as exc:
            errors = exc.error_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc}
            for name, messages in errors.items():
                self.add_error(name if name in self.fields else None, messages)


@admin.register(Organization)
class OrganizationAdmin(ScopedAdminMixin, admin.ModelAdmin):
    form = OrganizationAdminForm
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
        """A stored organization changes through the services (see ``_edit_through_services``)
        under the tree lock, never by writing the row: a new parent must move the subtree (its
        descendants' paths would otherwise still name the old place, and scoping with them),
        and a change must wait for an import judging its rows by the tree as it read it."""
        if not change:
            return super().save_model(request, obj, form, change)
        _edit_through_services(obj, form)
        obj.refresh_from_db()
        return None

    @admin.action(description=_("撤销所选组织（撤销日期为今天）"))
    def dissolve(self, request, queryset):
        for org in queryset:
            try:
                services.organization_dissolve(org=org, dissolved_on=timezone.localdate())
            except ValidationError as exc:
                self.message_user(request, f"{org.name}：{'；'.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, _("已撤销 %(org)s") % {"org": org.name})
