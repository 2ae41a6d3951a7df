"""django-import-export resource for the organization tree, in the organization file's layout.

Columns and value rules come from ``rosters.schema`` / ``rosters.services.parse_org_row`` (the
same as ``manage.py import_orgs``), rows are written through ``branches.services``. Unlike
``import_orgs``, this resource reads rows in file order, so a parent must come before its
children; ``import_orgs`` sorts them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from import_export import fields, resources, widgets

from branches import services
from branches.choices import BranchType, OrgKind
from branches.models import Organization
from rosters.schema import ORG_SCHEMA, choice_label
from rosters.services import org_problems, parse_org_row

_CLEAN = "_org_clean"


class OrgValueWidget(widgets.Widget):
    """Hands a field the value the organization row parser read for its column."""

    def __init__(self, key: str, render=None) -> None:
        super().__init__()
        self.key = key
        self._render = render

    def clean(self, value, row=None, **kwargs):
        return row[_CLEAN][self.key]

    def render(self, value, obj=None, **kwargs):
        if self._render is not None:
            return self._render(value)
        return "" if value is None else value


def _column(key: str, attribute: str | None, value_key: str | None = None, render=None):
    return fields.Field(
        attribute=attribute,
        column_name=ORG_SCHEMA.column(key).header,
        widget=OrgValueWidget(value_key or key, render),
    )


def _date(value) -> str:
    return value.isoformat() if value else ""


class OrganizationResource(resources.ModelResource):
    """One organization per row: code, name, parent code, kind, branch type, place, dates."""

    code = _column("code", "code")
    name = _column("name", "name")
    parent_code = _column("parent_code", None)
    kind = _column("kind", "kind", render=lambda v: choice_label(OrgKind, v))
    branch_type = _column(
        "branch_type", "branch_type", render=lambda v: choice_label(BranchType, v or "")
    )
    location = _column("location", "location_code", "location_code")
    established_on = _column("established_on", "established_on", render=_date)
    planned_end_on = _column("planned_end_on", "planned_end_on", render=_date)
    host_unit = _column("host_unit", "host_unit")
    phone = _column("phone", "phone")

    class Meta:
        model = Organization
        fields = (
            "code",
            "name",
            "parent_code",
            "kind",
            "branch_type",
            "location",
            "established_on",
            "planned_end_on",
            "host_unit",
            "phone",
        )
        import_id_fields = ("code",)
        clean_model_instances = False  # branches.services validates every write
        skip_diff = True
        use_transactions = True

    def before_import(self, dataset, **kwargs):
        """Accept the header synonyms of the template."""
        headers = []
        for header in dataset.headers or []:
            column = ORG_SCHEMA.match(header)
            headers.append(column.header if column else header)
        dataset.headers = headers

    def before_import_row(self, row, **kwargs):
        raw = {column.key: row.get(column.header) for column in ORG_SCHEMA.columns}
        values, problems = parse_org_row(raw)
        if problems:
            errors: dict[str, list[str]] = {}
            for key, reason in problems:
                header = ORG_SCHEMA.column(key).header if key else "__all__"
                errors.setdefault(header, []).append(reason)
            raise ValidationError(errors)
        values["branch_type"] = values.get("branch_type") or ""
        row[_CLEAN] = values

    def get_instance(self, instance_loader, row):
        return Organization.objects.filter(code=row[_CLEAN]["code"]).first()

    def do_instance_save(self, instance, is_create):
        values = instance._roster_values
        parent = None
        if values["parent_code"]:
            parent = Organization.objects.filter(code=values["parent_code"]).first()
            if parent is None:
                raise ValidationError(
                    {ORG_SCHEMA.column("parent_code").header: [_("上级组织编码不存在")]}
                )
        changes = {
            "name": values["name"],
            "kind": values["kind"],
            "location_code": values["location_code"],
            "host_unit": values["host_unit"],
            "phone": values["phone"],
            "established_on": values["established_on"],
            "planned_end_on": values["planned_end_on"],
        }
        try:
            if is_create:
                org = services.organization_create(
                    code=values["code"], parent=parent, branch_type=values["branch_type"], **changes
                )
                instance.pk = org.pk
                return
            if values["branch_type"] != instance.branch_type:
                services.organization_change_branch_type(
                    org=instance,
                    to_type=values["branch_type"],
                    planned_end_on=values["planned_end_on"],
                )
            if parent is not None and parent.pk != instance.parent_id:
                services.organization_move(org=instance, new_parent=parent)
            services.organization_update(org=instance, **changes)
        except ValidationError as exc:
            errors: dict[str, list[str]] = {}
            for key, reason in org_problems(exc):
                header = ORG_SCHEMA.column(key).header if key else "__all__"
                errors.setdefault(header, []).append(reason)
            raise ValidationError(errors) from exc

    def before_save_instance(self, instance, row, **kwargs):
        instance._roster_values = row[_CLEAN]

    def import_instance(self, instance, row, **kwargs):
        # Nothing is set on the instance here: do_instance_save passes the row's values to the
        # services, which set and validate them (an existing branch's type must change through
        # organization_change_branch_type, not be overwritten).
        return None

    def dehydrate_parent_code(self, org: Organization) -> str:
        return org.parent.code if org.parent_id else ""

    def dehydrate_location(self, org: Organization) -> str:
        return org.location_name

    def get_queryset(self):
        return Organization.objects.select_related("parent")
