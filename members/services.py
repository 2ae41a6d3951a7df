"""Writes on members and their mobility. Views, the API, imports and tasks call these."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DateField, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from branches.models import Organization
from branches.services import organization_hold
from portal.concurrency import ensure_unchanged, refuse_changed

from .choices import ContactKind, MemberType, MobilityEnd, PartyStatus
from .models import Member, Mobility

MEMBER_FIELDS = (
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
    "remarks",
)
MOBILITY_FIELDS = (
    "left_on",
    "reason",
    "destination_code",
    "destination_address",
    "employer",
    "inflow_org",
    "inflow_org_name",
    "certificate_no",
    "contact_person",
    "remarks",
)


# A form opened before the row changed (portal/concurrency.py): saving it would undo the change.
MEMBER_CHANGED = gettext_lazy(
    "该党员的信息已在您打开此页后被修改（修改于 %(changed_at)s），"
    "请重新打开此页，按最新信息重新填写"
)
MOBILITY_CHANGED = gettext_lazy(
    "该党员的外出登记已在您打开此页后被修改（修改于 %(changed_at)s），"
    "请重新打开此页，按最新信息重新填写"
)

MOBILITY_CHANGED_NOW = gettext_lazy(
    "该党员的外出登记已在您打开此页后被修改，请重新打开此页，按最新信息重新填写"
)


def member_lock(*, member: Member, version: datetime.datetime | None = None) -> Member:
    """Re-read the member under a row lock so concurrent writes serialize; refuse when a form
    opened on ``version`` (the member's ``updated_at`` then) would save over a later change."""
    locked = Member.objects.select_for_update().get(pk=member.pk)
    ensure_unchanged(locked, version, MEMBER_CHANGED)
    return locked


def mobility_lock(*, mobility: Mobility, version: datetime.datetime | None = None) -> Mobility:
    """Re-read a mobility under a row lock; refuse when a form opened on ``version`` is stale."""
    locked = Mobility.objects.select_for_update().get(pk=mobility.pk)
    ensure_unchanged(locked, version, MOBILITY_CHANGED)
    return locked


@transaction.atomic
def member_create(
    *,
    name: str,
    id_number: str,
    phone: str,
    member_type: str,
    joined_on: datetime.date,
    home_org: Organization,
    converted_on: datetime.date | None = None,
    gender: str = "",
    birth_date: datetime.date | None = None,
    ethnicity: str = "",
    education: str = "",
    remarks: str = "",
) -> Member:
    """Register a member whose 组织关系 one of our branches holds."""
    home_org = organization_hold(home_org)  # not dissolved or retyped while this commits
    member = Member(
        name=name,
        id_number=id_number,
        phone=phone,
        member_type=member_type,
        joined_on=joined_on,
        converted_on=converted_on,
        home_org=home_org,
        gender=gender,
        birth_date=birth_date,
        ethnicity=ethnicity,
        education=education,
        remarks=remarks,
        last_contact_on=timezone.localdate(),
    )
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def member_update(*, member: Member, version: datetime.datetime | None = None, **changes) -> Member:
    """Change a member's own fields (not mobility, not standing: those have their services).

    ``version``: the member's ``updated_at`` when the form was opened; a later change refuses.
    """
    unknown = set(changes) - set(MEMBER_FIELDS)
    if unknown:
        raise TypeError(f"member_update does not change {sorted(unknown)}")
    member = member_lock(member=member, version=version)
    _ensure_in_standing(member)  # as roster imports refuse them (rosters/sql.py ``plan``)
    if changes.get("home_org") is not None:
        changes["home_org"] = organization_hold(changes["home_org"])
    for field, value in changes.items():
        setattr(member, field, value)
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def member_convert(*, member: Member, converted_on: datetime.date) -> Member:
    """转正: a probationary member becomes a full member after the 支部大会 vote."""
    member = member_lock(member=member)
    if member.member_type != MemberType.PROBATIONARY:
        raise ValidationError(_("只有预备党员可以转正"))
    member.member_type = MemberType.FULL
    member.converted_on = converted_on
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def member_record_contact(
    *, member: Member, on: datetime.date | None = None, kind: str = ContactKind.SELF_REPORT
) -> Member:
    """Note a contact (attendance, talk, visit, dues, self-report): it resets lost contact."""
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise ValidationError(_("联系日期不能晚于今天"))
    if kind not in ContactKind.values:
        raise ValidationError(_("未知的联系方式"))
    # A single UPDATE with GREATEST keeps this correct under concurrent contacts.
    Member.objects.filter(pk=member.pk).update(
        last_contact_on=Greatest(
            Coalesce("last_contact_on", Value(on)), Value(on), output_field=DateField()
        )
    )
    member.refresh_from_db(fields=["last_contact_on"])
    return member


def _ensure_in_standing(member: Member) -> None:
    problem = member.standing_problem()
    if problem:
        raise ValidationError(problem)


@transaction.atomic
def member_register_outflow(
    *,
    member: Member,
    left_on: datetime.date,
    destination_code: str,
    reason: str = "",
    destination_address: str = "",
    employer: str = "",
    inflow_org: Organization | None = None,
    inflow_org_name: str = "",
    certificate_no: str = "",
    contact_person: str = "",
    remarks: str = "",
) -> Mobility:
    """外出登记: the member leaves; their membership stays home, their whereabouts are recorded."""
    member = member_lock(member=member)
    _ensure_in_standing(member)
    if inflow_org is not None:
        inflow_org = organization_hold(inflow_org)  # checked as it is once nobody changes it
    if member.mobilities.current().exists():
        raise ValidationError(_("该党员已有未结束的外出登记，请先办理返乡或修改现有登记"))
    mobility = Mobility(
        member=member,
        left_on=left_on,
        reason=reason,
        destination_code=destination_code,
        destination_address=destination_address,
        employer=employer,
        inflow_org=inflow_org,
        inflow_org_name=inflow_org_name,
        certificate_no=certificate_no,
        contact_person=contact_person,
        remarks=remarks,
    )
    mobility.full_clean()
    mobility.save()
    member_record_contact(member=member, kind=ContactKind.REGISTRATION)
    return mobility


@transaction.atomic
def mobility_update(
    *, mobility: Mobility, version: datetime.datetime | None = None, **changes
) -> Mobility:
    """Correct or update a current registration (new address, new employer, ...).

    ``version``: the registration's ``updated_at`` when the form was opened; a later change
    (a roster import, another user's form) refuses the save.
    """
    unknown = set(changes) - set(MOBILITY_FIELDS)
    if unknown:
        raise TypeError(f"mobility_update does not change {sorted(unknown)}")
    mobility = mobility_lock(mobility=mobility, version=version)
    if not mobility.is_current:
        raise ValidationError(_("已结束的外出登记不能修改"))
    _ensure_in_standing(mobility.member)  # as roster imports refuse them
    if changes.get("inflow_org") is not None:
        changes["inflow_org"] = organization_hold(changes["inflow_org"])
    for field, value in changes.items():
        setattr(mobility, field, value)
    mobility.full_clean()
    mobility.save()
    return mobility


def _current_mobility(member: Member) -> Mobility:
    mobility = member.mobilities.select_for_update().current().first()
    if mobility is None:
        raise ValidationError(_("该党员没有未结束的外出登记"))
    return mobility


@transaction.atomic
def member_return(
    *,
    member: Member,
    returned_on: datetime.date,
    mobility_version: datetime.datetime | None = None,
) -> Mobility:
    """返乡: the current mobility ends; the history stays.

    ``mobility_version``: the current registration's ``updated_at`` when the form was opened;
    it must still be the registration that ends, unchanged.
    """
    member = member_lock(member=member)
    mobility = _current_mobility(member)
    ensure_unchanged(mobility, mobility_version, MOBILITY_CHANGED)
    mobility.ended_on = returned_on
    mobility.end_kind = MobilityEnd.RETURNED
    mobility.full_clean()
    mobility.save()
    member_record_contact(member=member, on=returned_on, kind=ContactKind.SELF_REPORT)
    return mobility


@transaction.atomic
def member_transfer_out(
    *,
    member: Member,
    transferred_out_on: datetime.date,
    transferred_to: str,
    version: datetime.datetime | None = None,
    mobility_version: datetime.datetime | None = None,
) -> Member:
    """转出: the membership moves to an organization outside the county; the history stays.

    ``version`` and ``mobility_version``: the ``updated_at`` of the member and of their current
    registration (if any) when the form was opened; a later change of either refuses. A form
    always sends ``version``: its ``mobility_version`` then also says whether the member was
    away when it was opened, and a registration ended (返乡) or begun (外出登记) since refuses
    it too (the transfer would not end the registration the page showed).
    """
    member = member_lock(member=member, version=version)
    _ensure_in_standing(member)
    mobility = member.mobilities.select_for_update().current().first()
    if version is not None and (mobility is None) != (mobility_version is None):
        # Away when the form was opened and home since (返乡), or the other way (外出登记).
        changed = mobility or member.mobilities.order_by("-updated_at").first()
        if changed is None:  # the registration was deleted
            raise ValidationError(MOBILITY_CHANGED_NOW, code="stale")
        refuse_changed(changed, MOBILITY_CHANGED)
    if mobility is not None:
        ensure_unchanged(mobility, mobility_version, MOBILITY_CHANGED)
        mobility.ended_on = transferred_out_on
        mobility.end_kind = MobilityEnd.TRANSFERRED_OUT
        mobility.full_clean()
        mobility.save()
    member.party_status = PartyStatus.TRANSFERRED_OUT
    member.transferred_out_on = transferred_out_on
    member.transferred_to = (transferred_to or "").strip()
    member.full_clean()  # Member._clean_transfer: the date, the organization named
    member.save(
        update_fields=["party_status", "transferred_out_on", "transferred_to", "updated_at"]
    )
    return member
