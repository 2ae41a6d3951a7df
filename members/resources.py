"""django-import-export resource for members with their current mobility (the roster layout).

The columns, header synonyms and value rules are those of ROSTER-FORMAT.md, taken from
``rosters.schema`` and checked by ``rosters.validation`` — the same code the bulk import runs —
and rows are written through ``members.services``. This resource imports one row at a time
(a query or more per row): it is for small scripts, and the baseline ``bench/import_bench.py``
compares the bulk import (``rosters.services``) against. Its exports through django-import-export's
formats escape formulas (``IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from import_export import fields, resources, widgets

from members import services
from members.choices import Education, Gender, MemberType, OutflowReason
from members.models import Member, Mobility
from portal import regions
from rosters.schema import MEMBER_SCHEMA, choice_label
from rosters.validation import MemberRows, OrgDirectory

_CLEAN = "_roster_clean"  # where a row's validated values wait for the fields to read them


class RosterValueWidget(widgets.Widget):
    """Hands a field the value the roster validator read for its column."""

    def __init__(self, attribute: str, render=None) -> None:
        super().__init__()
        self.attribute = attribute
        self._render = render

    def clean(self, value, row=None, **kwargs):
        return getattr(row[_CLEAN], self.attribute)

    def render(self, value, obj=None, **kwargs):
        if self._render is not None:
            return self._render(value)
        return "" if value is None else value


def _column(key: str, attribute: str | None, value_attr: str | None = None, render=None):
    return fields.Field(
        attribute=attribute,
        column_name=MEMBER_SCHEMA.column(key).header,
        widget=RosterValueWidget(value_attr or attribute or key, render),
    )


def _date(value) -> str:
    return value.isoformat() if value else ""


class MemberRosterResource(resources.ModelResource):
    """A member and their current mobility per row, in the roster's columns."""

    name = _column("name", "name")
    gender = _column("gender", "gender", render=lambda v: choice_label(Gender, v))
    ethnicity = _column("ethnicity", "ethnicity")
    id_number = _column("id_number", "id_number")
    birth_date = _column("birth_date", "birth_date", render=_date)
    education = _column("education", "education", render=lambda v: choice_label(Education, v))
    phone = _column("phone", "phone")
    member_type = _column(
        "member_type", "member_type", render=lambda v: choice_label(MemberType, v)
    )
    joined_on = _column("joined_on", "joined_on", render=_date)
    converted_on = _column("converted_on", "converted_on", render=_date)
    home_org = _column("home_org", "home_org_id", render=lambda v: v)
    remarks = _column("remarks", "remarks")
    # The current mobility's columns: written after the member (after_save_instance).
    left_on = _column("left_on", None, "left_on")
    reason = _column("reason", None, "reason")
    destination = _column("destination", None, "destination_code")
    destination_address = _column("destination_address", None, "destination_address")
    employer = _column("employer", None, "employer")
    inflow_org = _column("inflow_org", None, "inflow_org_name")
    certificate_no = _column("certificate_no", None, "certificate_no")
    contact_person = _column("contact_person", None, "contact_person")

    class Meta:
        model = Member
        fields = (
            "name",
            "gender",
            "ethnicity",
            "id_number",
            "birth_date",
            "education",
            "phone",
            "member_type",
            "joined_on",
            "converted_on",
            "home_org",
            "left_on",
            "reason",
            "destination",
            "destination_address",
            "employer",
            "inflow_org",
            "certificate_no",
            "contact_person",
            "remarks",
        )
        import_id_fields = ("id_number",)
        # members.services validates every write; the rows were checked before that.
        clean_model_instances = False
        skip_diff = True
        use_transactions = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rows: MemberRows | None = None
        self.orgs: OrgDirectory | None = None

    # --- import ------------------------------------------------------------------------------
    def before_import(self, dataset, **kwargs):
        """Accept the header synonyms, and set up the roster validator for this file."""
        headers = []
        for header in dataset.headers or []:
            column = MEMBER_SCHEMA.match(header)
            headers.append(column.header if column else header)
        dataset.headers = headers
        present = {MEMBER_SCHEMA.match(h).key for h in headers if MEMBER_SCHEMA.match(h)}
        self.orgs = OrgDirectory()
        self.rows = MemberRows(
            headers={key: MEMBER_SCHEMA.column(key).header for key in present},
            present=present,
            orgs=self.orgs,
        )

    def before_import_row(self, row, **kwargs):
        raw = {}
        for column in MEMBER_SCHEMA.columns:
            raw[column.key] = row.get(column.header)
        # Spreadsheet row: the header is row 1.
        clean, problems = self.rows.check(kwargs.get("row_number", 0) + 1, raw)
        if problems:
            errors: dict[str, list[str]] = {}
            for problem in problems:
                errors.setdefault(problem.column, []).append(problem.reason)
            raise ValidationError(errors)
        row[_CLEAN] = clean

    def get_instance(self, instance_loader, row):
        # ID numbers are encrypted: look the member up through the keyed hash.
        return Member.objects.by_id_number(row[_CLEAN].id_number).first()

    def save_instance(self, instance, is_create, row, **kwargs):
        # A row is the member and their registration (after_save_instance): written together
        # or not at all, as a roster import writes a row. Without this, a registration the
        # services refuse left the member's changes of a row reported invalid.
        with transaction.atomic():
            super().save_instance(instance, is_create, row, **kwargs)

    def do_instance_save(self, instance, is_create):
        values = {f: getattr(instance, f) for f in services.MEMBER_FIELDS if f != "home_org"}
        values["home_org"] = self.orgs.by_id[instance.home_org_id]
        if is_create:
            created = services.member_create(**values)
            instance.pk = created.pk
        else:
            values.pop("id_number")
            services.member_update(member=instance, **values)

    def after_save_instance(self, instance, row, **kwargs):
        clean = row[_CLEAN]
        mobility = {
            "left_on": clean.left_on,
            "reason": clean.reason,
            "destination_code": clean.destination_code,
            "destination_address": clean.destination_address,
            "employer": clean.employer,
            "inflow_org": self.orgs.by_id.get(clean.inflow_org_id),
            "inflow_org_name": clean.inflow_org_name,
            "certificate_no": clean.certificate_no,
            "contact_person": clean.contact_person,
        }
        current = Mobility.objects.current().filter(member_id=instance.pk).first()
        if current is None:
            member = Member.objects.get(pk=instance.pk)
            services.member_register_outflow(member=member, **mobility)
        else:
            services.mobility_update(mobility=current, **mobility)

    # --- export ------------------------------------------------------------------------------
    def get_queryset(self):
        return Member.objects.select_related("home_org").prefetch_related(
            Prefetch("mobilities", queryset=Mobility.objects.current(), to_attr="current")
        )

    def _current(self, member: Member):
        current = getattr(member, "current", None)
        return current[0] if current else None

    def dehydrate_home_org(self, member: Member) -> str:
        return member.home_org.name

    def _mobility_value(self, member: Member, attribute: str, render=None) -> str:
        mobility = self._current(member)
        value = getattr(mobility, attribute) if mobility else None
        if render is not None:
            return render(value)
        return "" if value is None else str(value)

    def dehydrate_left_on(self, member: Member) -> str:
        return self._mobility_value(member, "left_on", _date)

    def dehydrate_reason(self, member: Member) -> str:
        return self._mobility_value(
            member, "reason", lambda v: choice_label(OutflowReason, v or "")
        )

    def dehydrate_destination(self, member: Member) -> str:
        return self._mobility_value(
            member, "destination_code", lambda v: regions.full_name(v) if v else ""
        )

    def dehydrate_destination_address(self, member: Member) -> str:
        return self._mobility_value(member, "destination_address")

    def dehydrate_employer(self, member: Member) -> str:
        return self._mobility_value(member, "employer")

    def dehydrate_inflow_org(self, member: Member) -> str:
        mobility = self._current(member)
        return mobility.inflow_org_display if mobility else ""

    def dehydrate_certificate_no(self, member: Member) -> str:
        return self._mobility_value(member, "certificate_no")

    def dehydrate_contact_person(self, member: Member) -> str:
        return self._mobility_value(member, "contact_person")
