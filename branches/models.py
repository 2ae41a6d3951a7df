"""The organization tree (DOMAIN.md, "Organizations")."""

from __future__ import annotations

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Collate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.validators import normalize_phone
from portal import regions, triggers

from .choices import MEMBERSHIP_BRANCH_TYPES, BranchType, OrgKind, OrgStatus
from .constants import (
    BRANCH_COMMITTEE_THRESHOLD,
    BRANCH_MAX_MEMBERS,
    BRANCH_MIN_FULL_MEMBERS,
    PATH_SEP,
)

# Which kinds may sit directly under which (None: the root). Party rules: a 党小组 sits under a
# 党支部 and nothing sits under a 党小组; a 党支部 holds only 党小组.
ALLOWED_PARENT_KINDS = {
    OrgKind.COMMITTEE: {None, OrgKind.COMMITTEE, OrgKind.WORKING_COMMITTEE},
    OrgKind.WORKING_COMMITTEE: {None, OrgKind.COMMITTEE, OrgKind.WORKING_COMMITTEE},
    OrgKind.GENERAL_BRANCH: {OrgKind.COMMITTEE, OrgKind.WORKING_COMMITTEE},
    OrgKind.BRANCH: {OrgKind.COMMITTEE, OrgKind.WORKING_COMMITTEE, OrgKind.GENERAL_BRANCH},
    OrgKind.GROUP: {OrgKind.BRANCH},
}


def validate_region_code(value: str) -> None:
    """A location must be a GB/T 2260 code of a city or county we know."""
    if value and regions.get_region(value) is None:
        raise ValidationError(
            _("行政区划代码 %(code)s 不存在"), code="region_unknown", params={"code": value}
        )


# An outside organization sits in a city (DOMAIN.md): a province alone does not say where.
LOCATION_NOT_A_CITY = _("所在地至少要填到地级市，如“陕西省西安市”")


class OrganizationQuerySet(models.QuerySet):
    def visible_to(self, user) -> OrganizationQuerySet:
        """The scoping door for organizations (portal/scoping.py)."""
        from portal.scoping import scope_for

        return self.filter(scope_for(user).path_q("path"))

    def subtree(self, org: Organization) -> OrganizationQuerySet:
        """The organization and everything below it, through the materialized path."""
        return self.filter(path__startswith=org.path)

    def active(self) -> OrganizationQuerySet:
        return self.filter(status=OrgStatus.ACTIVE)

    def in_tree_order(self) -> OrganizationQuerySet:
        """Depth first, siblings by code, as the tree pages list them (``build_tree``): ordered
        by path, ids compare as text, and /1/10/ comes before /1/9/. The key is the codes from
        the root down (compared as Python compares them), the ancestors found by the path's ids
        through the primary key."""
        path_ids = Cast(
            Func(
                Func(OuterRef("path"), Value(PATH_SEP), function="btrim"),
                Value(PATH_SEP),
                function="string_to_array",
            ),
            ArrayField(models.BigIntegerField()),
        )
        on_path = Func(  # pk = ANY(path_ids): the organization is on the path
            F("pk"),
            path_ids,
            template="%(expressions)s)",
            arg_joiner=" = ANY(",
            output_field=models.BooleanField(),
        )
        codes = (
            Organization.objects.filter(on_path)
            .order_by()
            .annotate(one=Value(1))
            .values("one")
            .annotate(key=ArrayAgg(Collate("code", "C"), order_by="depth"))
            .values("key")
        )
        return self.alias(tree_key=Subquery(codes)).order_by("tree_key")

    def membership_homes(self) -> OrganizationQuerySet:
        """Organizations that may hold members' 组织关系."""
        return self.filter(kind=OrgKind.BRANCH, branch_type__in=MEMBERSHIP_BRANCH_TYPES)


@triggers.track()
class Organization(models.Model):
    """A party organization: a node of the county tree, including outside organizations."""

    code = models.CharField(_("组织编码"), max_length=32, unique=True)
    name = models.CharField(_("组织名称"), max_length=100)
    kind = models.CharField(_("组织类别"), max_length=20, choices=OrgKind.choices)
    branch_type = models.CharField(
        _("支部类型"), max_length=20, choices=BranchType.choices, blank=True, default=""
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("上级组织"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    # "/<root id>/<child id>/.../<own id>/": a subtree is a prefix match on an indexed column,
    # which plain PostgreSQL serves without the ltree extension.
    path = models.CharField(_("路径"), max_length=400, editable=False, default="", db_index=False)
    depth = models.PositiveSmallIntegerField(_("层级"), editable=False, default=0)
    location_code = models.CharField(
        _("所在地"),
        max_length=6,
        blank=True,
        default="",
        validators=[validate_region_code],
        help_text=_("在外党组织所在城市（行政区划代码）"),
    )
    host_unit = models.CharField(_("依托单位"), max_length=100, blank=True, default="")
    phone = models.CharField(_("联系电话"), max_length=30, blank=True, default="")
    has_committee = models.BooleanField(_("设支委会"), default=False)
    established_on = models.DateField(_("成立日期"), null=True, blank=True)
    planned_end_on = models.DateField(_("计划撤销日期"), null=True, blank=True)
    dissolved_on = models.DateField(_("撤销日期"), null=True, blank=True)
    status = models.CharField(
        _("状态"), max_length=20, choices=OrgStatus.choices, default=OrgStatus.ACTIVE
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        verbose_name = _("党组织")
        verbose_name_plural = _("党组织")
        ordering = ["path"]
        indexes = [
            models.Index(
                fields=["path"], name="org_path_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=OrgKind.BRANCH) & ~Q(branch_type=""))
                | (~Q(kind=OrgKind.BRANCH) & Q(branch_type="")),
                name="org_branch_type_only_for_branches",
                violation_error_message=_("党支部必须选择支部类型，其他组织不设支部类型"),
            ),
            models.CheckConstraint(
                condition=~Q(branch_type=BranchType.TEMPORARY) | Q(planned_end_on__isnull=False),
                name="org_temporary_needs_planned_end",
                violation_error_message=_("临时党支部必须填写计划撤销日期"),
            ),
            models.CheckConstraint(
                condition=(Q(status=OrgStatus.DISSOLVED) & Q(dissolved_on__isnull=False))
                | (Q(status=OrgStatus.ACTIVE) & Q(dissolved_on__isnull=True)),
                name="org_dissolved_on_matches_status",
                violation_error_message=_("已撤销的组织须填写撤销日期，正常的组织不填"),
            ),
            models.CheckConstraint(
                condition=Q(planned_end_on__isnull=True)
                | Q(established_on__isnull=True)
                | Q(planned_end_on__gt=models.F("established_on")),
                name="org_planned_end_after_established",
                violation_error_message=_("计划撤销日期必须晚于成立日期"),
            ),
            models.CheckConstraint(
                condition=Q(dissolved_on__isnull=True)
                | Q(established_on__isnull=True)
                | Q(dissolved_on__gte=models.F("established_on")),
                name="org_dissolved_after_established",
                violation_error_message=_("撤销日期不能早于成立日期"),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # --- tree -------------------------------------------------------------------------------
    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        path, depth = self.computed_path()
        if (path, depth) != (self.path, self.depth):
            self.path, self.depth = path, depth
            type(self).objects.filter(pk=self.pk).update(path=path, depth=depth)

    def computed_path(self) -> tuple[str, int]:
        if self.parent_id is None:
            return f"{PATH_SEP}{self.pk}{PATH_SEP}", 0
        parent = self.parent
        return f"{parent.path}{self.pk}{PATH_SEP}", parent.depth + 1

    # --- rules across fields and rows -------------------------------------------------------
    def clean(self) -> None:
        errors: dict[str, list] = {}
        parent_kind = self.parent.kind if self.parent_id else None
        allowed = ALLOWED_PARENT_KINDS.get(self.kind, set())
        if self.kind and parent_kind not in allowed:
            if parent_kind is None:
                msg = _("%(kind)s必须有上级组织") % {"kind": self.get_kind_display()}
            else:
                msg = _("%(kind)s不能设在%(parent)s之下") % {
                    "kind": self.get_kind_display(),
                    "parent": self.parent.get_kind_display(),
                }
            errors.setdefault("parent", []).append(msg)
        if self.pk and self.parent_id and self.path and self.parent.path.startswith(self.path):
            errors.setdefault("parent", []).append(_("上级组织不能是本组织或其下级组织"))
        if (
            self.parent_id
            and self.status == OrgStatus.ACTIVE
            and self.parent.status == OrgStatus.DISSOLVED
        ):
            # organization_dissolve refuses an organization with active ones below it: none
            # is set up or moved under it afterwards either.
            errors.setdefault("parent", []).append(
                _("上级组织“%(parent)s”已撤销，不能在其下设立或调入组织")
                % {"parent": self.parent.name}
            )
        if self.pk and self.kind:
            # A change of kind must suit the organizations already below it, as their own
            # kind suits it (no 党委 under a 党总支, nothing under a 党小组).
            held = [kind for kind, parents in ALLOWED_PARENT_KINDS.items() if self.kind in parents]
            misplaced = (
                Organization.objects.filter(parent_id=self.pk)
                .exclude(kind__in=held)
                .order_by("kind")  # not by path: each kind once
                .values_list("kind", flat=True)
                .distinct()
            )
            for kind in misplaced:
                errors.setdefault("kind", []).append(
                    _("%(kind)s之下不能设%(child)s，本组织下已有%(child)s，请先调整下级组织")
                    % {"kind": OrgKind(self.kind).label, "child": OrgKind(kind).label}
                )
        if self.phone:
            # The phone rules of the roster template (ROSTER-FORMAT.md, "Phones"), as an
            # organization file reads them: stored as normalized, refused when it is none.
            try:
                self.phone = normalize_phone(self.phone)
            except ValidationError as exc:
                errors.setdefault("phone", []).extend(exc.messages)
        if self.location_code:
            region = regions.get_region(self.location_code)
            if region and not regions.is_city_level_or_below(region):
                errors.setdefault("location_code", []).append(LOCATION_NOT_A_CITY)
        if self.dissolved_on and self.dissolved_on > timezone.localdate():
            errors.setdefault("dissolved_on", []).append(_("撤销日期不能晚于今天"))
        if errors:
            raise ValidationError(errors)

    def ancestors(self) -> OrganizationQuerySet:
        """From the root down to the parent."""
        ids = [int(x) for x in self.path.strip(PATH_SEP).split(PATH_SEP)[:-1] if x]
        return Organization.objects.filter(pk__in=ids).order_by("depth")

    # --- derived ----------------------------------------------------------------------------
    @property
    def holds_memberships(self) -> bool:
        """Only established and joint branches may be the home of a member's 组织关系."""
        return self.kind == OrgKind.BRANCH and self.branch_type in MEMBERSHIP_BRANCH_TYPES

    @property
    def is_outside(self) -> bool:
        """An outside organization (在外党组织) sits in a destination city."""
        return bool(self.location_code)

    @property
    def location_name(self) -> str:
        return regions.full_name(self.location_code) if self.location_code else ""

    def practice_warnings(self, *, full_members: int, members: int | None = None) -> list[str]:
        """Rules of local practice: shown as warnings, never enforced (DOMAIN.md)."""
        warnings: list[str] = []
        if self.status != OrgStatus.ACTIVE:
            return warnings
        if self.holds_memberships:
            if full_members < BRANCH_MIN_FULL_MEMBERS:
                warnings.append(
                    _("正式党员仅 %(n)d 名，不足 %(min)d 名")
                    % {"n": full_members, "min": BRANCH_MIN_FULL_MEMBERS}
                )
            if full_members >= BRANCH_COMMITTEE_THRESHOLD and not self.has_committee:
                warnings.append(
                    _("正式党员 %(n)d 名（7 名以上），应设立支部委员会") % {"n": full_members}
                )
            if members is not None and members > BRANCH_MAX_MEMBERS:
                warnings.append(
                    _("党员 %(n)d 名，超过 %(max)d 名，可考虑分设支部")
                    % {"n": members, "max": BRANCH_MAX_MEMBERS}
                )
        if (
            self.branch_type == BranchType.TEMPORARY
            and self.planned_end_on
            and self.planned_end_on < timezone.localdate()
        ):
            warnings.append(
                _("临时党支部已过计划撤销日期（%(d)s），应及时撤销") % {"d": self.planned_end_on}
            )
        return warnings


@triggers.track()
class BranchTypeChange(models.Model):
    """A change of a branch's type, e.g. functional to established (Wanrong's Xi'an branch)."""

    organization = models.ForeignKey(
        Organization,
        verbose_name=_("党组织"),
        on_delete=models.CASCADE,
        related_name="type_changes",
    )
    from_type = models.CharField(
        _("原支部类型"), max_length=20, choices=BranchType.choices, blank=True
    )
    to_type = models.CharField(_("新支部类型"), max_length=20, choices=BranchType.choices)
    changed_on = models.DateField(_("变更日期"))
    reason = models.CharField(_("变更原因"), max_length=200, blank=True, default="")
    created_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("支部类型变更")
        verbose_name_plural = _("支部类型变更")
        ordering = ["organization", "changed_on", "pk"]

    def __str__(self) -> str:
        return f"{self.organization}: {self.get_from_type_display()} → {self.get_to_type_display()}"

    def clean(self) -> None:
        if self.changed_on and self.changed_on > timezone.localdate():
            raise ValidationError({"changed_on": [_("变更日期不能晚于今天")]})
