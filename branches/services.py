"""Writes on the organization tree. Views, the API, imports and tasks call these."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.concurrency import ensure_unchanged

from .choices import BranchType, OrgKind, OrgStatus
from .constants import TREE_LOCK_KEY
from .models import BranchTypeChange, Organization

ORG_FIELDS = (
    "code",
    "name",
    "kind",
    "branch_type",
    "location_code",
    "host_unit",
    "phone",
    "has_committee",
    "established_on",
    "planned_end_on",
)


def organization_tree_lock() -> None:
    """Wait for roster imports and changes to the tree under way, and make the next wait for
    this transaction to end (``TREE_LOCK_KEY``). Taken first, before any row lock: an import
    holding it may wait for rows, never the other way round."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])


# A form opened before the organization changed (portal/concurrency.py).
ORGANIZATION_CHANGED = gettext_lazy(
    "该组织的信息已在您打开此页后被修改（修改于 %(changed_at)s），"
    "请重新打开此页，按最新信息重新填写"
)


def organization_lock(
    *, org: Organization, version: datetime.datetime | None = None
) -> Organization:
    """Take the tree lock, then re-read the organization under a row lock (in that order, see
    ``organization_tree_lock``); refuse when a form opened on ``version`` (the organization's
    ``updated_at`` then) would save over a later change."""
    organization_tree_lock()
    locked = Organization.objects.select_for_update().get(pk=org.pk)
    ensure_unchanged(locked, version, ORGANIZATION_CHANGED)
    return locked


def organization_hold(org: Organization) -> Organization:
    """The organization as it is now, held (FOR KEY SHARE) until the caller's transaction ends,
    for a write that names it: a member homed there, a registration taking part in its life.

    Dissolving it or changing its type (``organization_dissolve``,
    ``organization_change_branch_type``) locks the row FOR UPDATE, so either waits for the
    write and then counts it, or the write waits and then checks the organization as changed.
    Read without the hold, a registration not yet committed was not counted by a dissolution
    running beside it, and was then saved naming a dissolved organization.

    Held on the parent of an organization being set up, it is the lock the new row's foreign
    key takes at commit (Django checks foreign keys then), taken first: taken after the new
    code's index entry, it reversed the order of a change to the tree that locks the parent and
    then waits for a code it creates (an organization import renaming a township and setting up
    a branch under it), and one of them failed as a deadlock. It does not wait for imports that
    leave the parent alone.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Organization._meta.db_table} WHERE id = %s FOR KEY SHARE", [org.pk]
        )
    return Organization.objects.get(pk=org.pk)


@transaction.atomic
def organization_create(
    *,
    code: str,
    name: str,
    kind: str,
    parent: Organization | None = None,
    branch_type: str = "",
    location_code: str = "",
    host_unit: str = "",
    phone: str = "",
    has_committee: bool = False,
    established_on: datetime.date | None = None,
    planned_end_on: datetime.date | None = None,
) -> Organization:
    """Set up an organization in the tree (approved by its upper organization).

    It does not wait for imports under way (no tree lock): a new organization changes
    nothing they judge their rows by, and a form must not wait for a long roster import. An
    organization import creating the same code meanwhile fails, and says so."""
    if parent is not None:
        parent = organization_hold(parent)
    org = Organization(
        code=(code or "").strip(),
        name=(name or "").strip(),
        kind=kind,
        parent=parent,
        branch_type=branch_type if kind == OrgKind.BRANCH else "",
        location_code=location_code,
        host_unit=host_unit,
        phone=phone,
        has_committee=has_committee,
        established_on=established_on,
        planned_end_on=planned_end_on,
    )
    org.full_clean()
    org.save()
    return org


def check_kind_change(org: Organization, kind: str) -> None:
    """A 党支部 does not become another kind of organization, nor another kind a 党支部: its
    branch type, its members' memberships and its party groups would have no place. Raises
    ValidationError on ``kind``."""
    if kind and (kind == OrgKind.BRANCH) != (org.kind == OrgKind.BRANCH):
        raise ValidationError(
            {
                "kind": [
                    _(
                        "党支部与其他类别的组织不能直接互相转换（%(old)s不能改为%(new)s）："
                        "请新设组织，转移党员和下级组织后撤销原组织"
                    )
                    % {"old": OrgKind(org.kind).label, "new": OrgKind(kind).label}
                ]
            }
        )


@transaction.atomic
def organization_update(
    *, org: Organization, version: datetime.datetime | None = None, **changes
) -> Organization:
    """Change an organization's own fields; the branch type has its own service (history).

    ``version``: the organization's ``updated_at`` when the form was opened; a later change
    refuses the save.
    """
    unknown = set(changes) - set(ORG_FIELDS)
    if unknown:
        raise TypeError(f"organization_update does not change {sorted(unknown)}")
    if "branch_type" in changes and changes["branch_type"] != org.branch_type:
        raise ValidationError(_("支部类型变更请使用“变更支部类型”，以保留变更记录"))
    org = organization_lock(org=org, version=version)
    if "kind" in changes:
        check_kind_change(org, changes["kind"])
    for field, value in changes.items():
        setattr(org, field, value)
    org.full_clean()
    org.save()
    return org


@transaction.atomic
def organization_change_branch_type(
    *,
    org: Organization,
    to_type: str,
    changed_on: datetime.date | None = None,
    reason: str = "",
    planned_end_on: datetime.date | None = None,
) -> BranchTypeChange:
    """Convert a branch (e.g. 功能型 → 建制型); the change is kept in the branch's history."""
    organization_tree_lock()
    org = Organization.objects.select_for_update().get(pk=org.pk)
    if org.kind != OrgKind.BRANCH:
        raise ValidationError(_("只有党支部有支部类型"))
    if org.status == OrgStatus.DISSOLVED:
        raise ValidationError(_("该组织已撤销，不能变更支部类型"))
    if to_type == org.branch_type:
        raise ValidationError(_("新支部类型与原类型相同"))
    if to_type not in BranchType.values:
        raise ValidationError(_("未知的支部类型"))
    loses_memberships = org.holds_memberships and to_type in (
        BranchType.FUNCTIONAL,
        BranchType.TEMPORARY,
    )
    if loses_memberships and org.members.exists():
        raise ValidationError(
            _("该支部仍有 %(n)d 名党员的组织关系，请先转移组织关系再改为%(t)s")
            % {"n": org.members.count(), "t": BranchType(to_type).label}
        )
    change = BranchTypeChange(
        organization=org,
        from_type=org.branch_type,
        to_type=to_type,
        changed_on=changed_on or timezone.localdate(),
        reason=reason,
    )
    org.branch_type = to_type
    if to_type == BranchType.TEMPORARY:
        org.planned_end_on = planned_end_on or org.planned_end_on
    org.full_clean()
    change.full_clean()
    org.save()
    change.save()
    return change


@transaction.atomic
def organization_move(*, org: Organization, new_parent: Organization) -> Organization:
    """Hang an organization (and its subtree) under another parent."""
    organization_tree_lock()
    org = Organization.objects.select_for_update().get(pk=org.pk)
    old_path = org.path
    # The new parent as it is now, not as the caller read it: an organization import moving
    # a township and then a branch under an organization below that township held the
    # organization's old path, and wrote the branch a path under no one (scoping goes by it).
    # Changes to it wait for the tree lock taken above.
    org.parent = Organization.objects.get(pk=new_parent.pk)
    org.full_clean()
    org.save()  # recomputes org.path and depth
    depth_delta = org.depth - old_path.count("/") + 2
    Organization.objects.filter(path__startswith=old_path).exclude(pk=org.pk).update(
        path=Concat(Value(org.path), Substr(F("path"), len(old_path) + 1)),
        depth=F("depth") + depth_delta,
    )
    return org


@transaction.atomic
def organization_dissolve(*, org: Organization, dissolved_on: datetime.date) -> Organization:
    """撤销: a temporary branch whose body ended, or any organization that is wound up."""
    organization_tree_lock()
    org = Organization.objects.select_for_update().get(pk=org.pk)
    if org.status == OrgStatus.DISSOLVED:
        raise ValidationError(_("该组织已撤销"))
    if org.children.filter(status=OrgStatus.ACTIVE).exists():
        raise ValidationError(_("该组织下还有未撤销的下级组织，请先撤销或调整下级组织"))
    if org.members.exists():
        raise ValidationError(
            _("该组织仍有 %(n)d 名党员的组织关系，请先转移组织关系") % {"n": org.members.count()}
        )
    # Members away now who take part in its life would be left with a dissolved inflow
    # organization (Mobility.clean refuses one): their registrations name another first.
    organized = org.inflow_mobilities.filter(ended_on__isnull=True).count()
    if organized:
        raise ValidationError(
            _("该组织仍是 %(n)d 名流动党员的流入地党组织，请先修改其外出登记") % {"n": organized}
        )
    org.status = OrgStatus.DISSOLVED
    org.dissolved_on = dissolved_on
    org.full_clean()
    org.save()
    return org
