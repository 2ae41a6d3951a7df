"""Party members and their mobility (DOMAIN.md, "Members" and "Mobile members")."""

from __future__ import annotations

import contextlib
import datetime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches.choices import OrgStatus
from branches.models import Organization, validate_region_code
from portal import crypto, regions, triggers
from portal.fields import EncryptedTextField

from .choices import (
    ETHNICITY_CHOICES,
    Education,
    Gender,
    MemberType,
    MobilityEnd,
    OutflowReason,
    PartyStatus,
)
from .constants import MIN_JOIN_AGE, PARTY_FOUNDED, PROBATION_MAX_YEARS, PROBATION_MIN_YEARS
from .validators import (
    id_number_info,
    normalize_id_number,
    normalize_phone,
    validate_id_number,
    validate_phone,
)


def lost_contact_cutoff(as_of: datetime.date | None = None) -> datetime.date:
    """Members whose last contact is on or before this date count as lost (失联): no contact
    for LOST_CONTACT_MONTHS months or more (DOMAIN.md, "≥ 6 months")."""
    as_of = as_of or timezone.localdate()
    return as_of - relativedelta(months=settings.LOST_CONTACT_MONTHS)


def lost_contact_q(as_of: datetime.date | None = None) -> Q:
    """The one filter for 失联: in normal standing, and no contact since the cutoff."""
    return Q(party_status=PartyStatus.NORMAL) & (
        Q(last_contact_on__lte=lost_contact_cutoff(as_of)) | Q(last_contact_on__isnull=True)
    )


# Refused while a new lookup key has not been applied to the stored hashes (see below).
LOOKUP_KEY_NOT_APPLIED = _(
    "查询密钥 PORTAL_LOOKUP_KEY 已更换，但已登记党员的身份证号摘要尚未重算：按身份证号查不到"
    "任何人，登记或导入会把已有党员再登记一遍。请先运行 "
    "python manage.py rotate_encryption_keys --rehash（须等它运行完）"
)


# A member is away once at a time: a registration starts no earlier than the last one ended
# (Mobility.clean; roster imports check the same in SQL, rosters/sql.py ``plan``).
LEFT_BEFORE_LAST_END = _("外出日期早于该党员上次外出的结束日期 %(date)s")


class MemberQuerySet(models.QuerySet):
    def visible_to(self, user, *, ledger: bool = False) -> MemberQuerySet:
        """The scoping door for members: those whose 组织关系 is in the user's subtrees, and
        those taking part in the life of an organization there (inflow members).

        ``ledger=True`` narrows it to the subtrees where the user keeps ledgers (imports and
        exports), for users who also hold a role without ledger rights elsewhere.
        """
        from portal.scoping import scope_for

        scope = scope_for(user)
        if scope.everything:
            return self.all()
        paths = scope.ledger_paths if ledger else scope.org_paths
        if not paths:
            return self.none()
        inflow = (
            Mobility.objects.current()
            .filter(member=OuterRef("pk"))
            .filter(scope.path_q("inflow_org__path", paths))
        )
        return self.filter(scope.path_q("home_org__path", paths) | Q(Exists(inflow)))

    def with_mobility_flags(self) -> MemberQuerySet:
        """Annotate ``is_mobile``: the member has a mobility that has not ended."""
        return self.annotate(
            is_mobile=Exists(Mobility.objects.current().filter(member=OuterRef("pk")))
        )

    def mobile(self) -> MemberQuerySet:
        return self.filter(Exists(Mobility.objects.current().filter(member=OuterRef("pk"))))

    def lost_contact(self, as_of: datetime.date | None = None) -> MemberQuerySet:
        """Members in normal standing with no contact for LOST_CONTACT_MONTHS months."""
        return self.filter(lost_contact_q(as_of))

    def hashed_under_another_lookup_key(self) -> bool:
        """Whether the stored ID numbers were hashed with another ``PORTAL_LOOKUP_KEY`` than
        this process's: a new key that ``rotate_encryption_keys --rehash`` has not (wholly)
        applied yet. Until it has, nobody is found by ID number, so a registration or an import
        would add stored members again. The first and the last member are compared, so a rehash
        half done (it goes through the table in key order) counts too."""
        members = self.model.objects.order_by("pk").only("id_number", "id_number_hash")
        return any(
            member.id_number_hash != crypto.lookup_hash(member.id_number)
            for member in (members.first(), members.last())
            if member is not None
        )

    def by_id_number(self, id_number: str) -> MemberQuerySet:
        """Members with this ID number (any spelling normalize_id_number accepts)."""
        return self.filter(id_number_hash=crypto.lookup_hash(normalize_id_number(id_number)))

    def in_subtree(self, org: Organization) -> MemberQuerySet:
        return self.filter(home_org__path__startswith=org.path)

    def taking_part_in(self, org: Organization) -> MemberQuerySet:
        """Members away now who take part in the life of ``org`` (a functional branch, or a
        branch where they work): their current mobility names it; their 组织关系 stays home."""
        return self.filter(
            Exists(Mobility.objects.current().filter(member=OuterRef("pk"), inflow_org=org))
        )


@triggers.track()
class Member(models.Model):
    """A party member whose 组织关系 is held by one of our branches."""

    name = models.CharField(_("姓名"), max_length=30)
    gender = models.CharField(_("性别"), max_length=10, choices=Gender.choices)
    ethnicity = models.CharField(
        _("民族"), max_length=10, choices=ETHNICITY_CHOICES, blank=True, default=""
    )
    # Sensitive personal information: encrypted at rest (portal/crypto.py). Uniqueness and
    # lookup go through the keyed hash; the last four characters stay clear for search.
    id_number = EncryptedTextField(_("公民身份号码"), validators=[validate_id_number])
    # Unique and indexed through Meta (a field's unique=/db_index= would add a LIKE twin index
    # that no query uses and every insert maintains). Hex digits and ID-number characters are
    # only ever compared for equality: byte order ("C") spares their indexes the database's
    # language-aware comparison on every probe and insert, whatever locale it was created with.
    id_number_hash = models.CharField(
        _("身份证号摘要"), max_length=64, editable=False, db_collation="C"
    )
    id_tail = models.CharField(_("身份证号后四位"), max_length=4, editable=False, db_collation="C")
    birth_date = models.DateField(_("出生日期"))
    education = models.CharField(
        _("学历"), max_length=30, choices=Education.choices, blank=True, default=""
    )
    phone = models.CharField(_("联系电话"), max_length=20, validators=[validate_phone])
    member_type = models.CharField(_("党员类型"), max_length=20, choices=MemberType.choices)
    joined_on = models.DateField(_("入党日期"))
    converted_on = models.DateField(_("转正日期"), null=True, blank=True)
    home_org = models.ForeignKey(
        Organization,
        verbose_name=_("组织关系所在党组织"),
        on_delete=models.PROTECT,
        related_name="members",
        db_index=False,  # member_org_name_idx leads with it
    )
    party_status = models.CharField(
        _("党籍状态"), max_length=20, choices=PartyStatus.choices, default=PartyStatus.NORMAL
    )
    last_contact_on = models.DateField(
        _("最近联系日期"),
        null=True,
        blank=True,
        help_text=_("最近一次参加组织生活、谈话、走访、交纳党费或本人报告的日期"),
    )
    transferred_out_on = models.DateField(_("转出日期"), null=True, blank=True)
    transferred_to = models.CharField(_("转入党组织"), max_length=100, blank=True, default="")
    remarks = models.CharField(_("备注"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("党员")
        verbose_name_plural = _("党员")
        # Own columns only: ordering through home_org would join and sort the organization
        # table on every unordered query of a province-sized table.
        ordering = ["name", "pk"]
        indexes = [
            models.Index(fields=["home_org", "name"], name="member_org_name_idx"),
            models.Index(fields=["name", "id"], name="member_name_idx"),
            models.Index(fields=["last_contact_on"], name="member_last_contact_idx"),
            models.Index(fields=["id_tail"], name="member_id_tail_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["id_number_hash"], name="member_id_number_unique"),
            models.CheckConstraint(
                condition=(Q(member_type=MemberType.FULL) & Q(converted_on__isnull=False))
                | (Q(member_type=MemberType.PROBATIONARY) & Q(converted_on__isnull=True)),
                name="member_converted_on_matches_type",
                violation_error_message=_("正式党员须填写转正日期，预备党员不填转正日期"),
            ),
            models.CheckConstraint(
                condition=Q(converted_on__isnull=True) | Q(converted_on__gt=models.F("joined_on")),
                name="member_converted_after_joined",
                violation_error_message=_("转正日期必须晚于入党日期"),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.set_lookup_fields()
        super().save(*args, **kwargs)

    def clean_fields(self, exclude=None) -> None:
        """Normalize the ID number, phone and name, and derive gender and birth date first."""
        if self.name:
            self.name = "".join(self.name.split())
        # Invalid values stay as typed: the field validators report them precisely.
        with contextlib.suppress(ValidationError):
            self.id_number = normalize_id_number(self.id_number)
            info = id_number_info(self.id_number)
            self.gender = self.gender or info.gender
            self.birth_date = self.birth_date or info.birth_date
        self.set_lookup_fields()
        with contextlib.suppress(ValidationError):
            self.phone = normalize_phone(self.phone)
        super().clean_fields(exclude=exclude)

    def set_lookup_fields(self) -> None:
        """Derive the keyed hash and clear tail of the ID number (bulk paths call this too)."""
        if self.id_number:
            self.id_number_hash = crypto.lookup_hash(self.id_number)
            self.id_tail = self.id_number[-4:]

    def validate_constraints(self, exclude=None) -> None:
        """Report a duplicate ID number on the ID number, naming who already has it."""
        # The hash is derived from the number and is no form's field: a form that checks the
        # number (the back office's add form) excludes the hash, and would skip its uniqueness
        # and fail on the unique index when saving.
        exclude = set(exclude or ())
        if "id_number" not in exclude:
            exclude.discard("id_number_hash")
        if (
            self._state.adding
            and "id_number_hash" not in (exclude or ())
            and Member.objects.hashed_under_another_lookup_key()
        ):
            raise ValidationError({"id_number": [LOOKUP_KEY_NOT_APPLIED]})
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict({})
            if "id_number_hash" in errors:
                del errors["id_number_hash"]
                other = Member.objects.filter(id_number_hash=self.id_number_hash).first()
                errors["id_number"] = [
                    _("该公民身份号码已登记（党员 %(name)s，%(org)s）")
                    % {"name": other.name, "org": other.home_org.name}
                    if other
                    else _("该公民身份号码已登记")
                ]
            if errors:
                raise ValidationError(errors) from exc

    def clean(self) -> None:
        """Rules across fields: the ID number agrees with gender and birth date, dates agree."""
        errors: dict[str, list] = {}
        if self.name and len(self.name) < 2:
            errors["name"] = [_("姓名至少 2 个字")]
        info = None
        with contextlib.suppress(ValidationError):  # a bad number is reported by clean_fields
            info = id_number_info(normalize_id_number(self.id_number))
        if info:
            if self.gender and self.gender != info.gender:
                errors["gender"] = [
                    _("性别“%(g)s”与身份证号不符（身份证号显示为%(id)s）")
                    % {"g": Gender(self.gender).label, "id": Gender(info.gender).label}
                ]
            if self.birth_date and self.birth_date != info.birth_date:
                errors["birth_date"] = [
                    _("出生日期 %(d)s 与身份证号中的 %(id)s 不符")
                    % {"d": self.birth_date, "id": info.birth_date}
                ]
        today = timezone.localdate()
        if self.joined_on:
            if self.joined_on > today:
                errors.setdefault("joined_on", []).append(_("入党日期不能晚于今天"))
            if self.joined_on < PARTY_FOUNDED:
                errors.setdefault("joined_on", []).append(
                    _("入党日期不能早于建党之日（1921 年 7 月 1 日）")
                )
            # The ID number's birth date when it has one: a mistyped 出生日期 is reported on its
            # own (above), and must not make a good 入党日期 look wrong as well.
            birth = info.birth_date if info else self.birth_date
            if birth and self.joined_on < birth + relativedelta(years=MIN_JOIN_AGE):
                errors.setdefault("joined_on", []).append(
                    _("入党时未满 %(age)d 周岁（出生于 %(b)s）") % {"age": MIN_JOIN_AGE, "b": birth}
                )
        if self.member_type == MemberType.FULL and self.joined_on and self.converted_on:
            earliest = self.joined_on + relativedelta(years=PROBATION_MIN_YEARS)
            latest = self.joined_on + relativedelta(years=PROBATION_MAX_YEARS)
            if not earliest <= self.converted_on <= latest:
                errors.setdefault("converted_on", []).append(
                    _("转正日期应在入党日期后 1 至 2 年之间（入党日期 %(j)s）")
                    % {"j": self.joined_on}
                )
            if self.converted_on > today:
                errors.setdefault("converted_on", []).append(_("转正日期不能晚于今天"))
        if self.home_org_id:
            org = self.home_org
            if not org.holds_memberships:
                errors.setdefault("home_org", []).append(
                    _("“%(org)s”不能接收党员组织关系：只有建制型或联合党支部可以")
                    % {"org": org.name}
                )
            elif org.dissolved_on:
                errors.setdefault("home_org", []).append(
                    _("“%(org)s”已撤销，不能接收党员组织关系") % {"org": org.name}
                )
        if self.last_contact_on and self.last_contact_on > today:
            errors.setdefault("last_contact_on", []).append(_("最近联系日期不能晚于今天"))
        self._clean_transfer(errors, today)
        if errors:
            raise ValidationError(errors)

    def _clean_transfer(self, errors: dict[str, list], today: datetime.date) -> None:
        """组织关系转出: a member transferred out says when and where to, and is away no more
        (the transfer ends the current registration); the date follows the member's history."""
        if self.party_status == PartyStatus.TRANSFERRED_OUT:
            if not self.transferred_out_on:
                errors.setdefault("transferred_out_on", []).append(_("已转出的党员须填写转出日期"))
            if not (self.transferred_to or "").strip():
                errors.setdefault("transferred_to", []).append(_("请填写转入的党组织名称"))
            if self.pk and self.mobilities.current().exists():
                errors.setdefault("party_status", []).append(
                    _(
                        "该党员有未结束的外出登记：请在党员页面办理“组织关系转出”，"
                        "转出时一并结束外出登记"
                    )
                )
        day = self.transferred_out_on
        if not day:
            return
        if day > today:
            errors.setdefault("transferred_out_on", []).append(_("转出日期不能晚于今天"))
        if self.joined_on and day < self.joined_on:
            errors.setdefault("transferred_out_on", []).append(
                _("转出日期不能早于入党日期 %(j)s") % {"j": self.joined_on}
            )
        if self.pk:
            last = self.mobilities.filter(ended_on__gt=day).aggregate(last=Max("ended_on"))
            if last["last"] is not None:
                errors.setdefault("transferred_out_on", []).append(
                    _("转出日期早于该党员上次外出的结束日期 %(date)s") % {"date": last["last"]}
                )

    def known_birth_date(self) -> datetime.date | None:
        """The birth date the ID number gives when it is valid, else 出生日期 as stored: a
        mistyped 出生日期 is reported on its own, and must not make good dates look wrong."""
        with contextlib.suppress(ValidationError):
            return id_number_info(normalize_id_number(self.id_number)).birth_date
        return self.birth_date

    def standing_problem(self) -> str | None:
        """Why no business (外出登记, 组织关系转出, ...) may be done for the member now, or None:
        only a member in normal standing (正常) is registered away or transferred."""
        if self.party_status == PartyStatus.NORMAL:
            return None
        return _("该党员党籍状态为“%(s)s”，不能办理此项业务") % {
            "s": PartyStatus(self.party_status).label
        }

    @property
    def is_lost_contact(self) -> bool:
        if self.party_status != PartyStatus.NORMAL:
            return False
        return self.last_contact_on is None or self.last_contact_on <= lost_contact_cutoff()


class MobilityQuerySet(models.QuerySet):
    def visible_to(self, user) -> MobilityQuerySet:
        """Mobilities of the members the user may see."""
        return self.filter(member__in=Member.objects.visible_to(user))

    def current(self) -> MobilityQuerySet:
        """Mobilities that have not ended: the member is away now."""
        return self.filter(ended_on__isnull=True)


@triggers.track()
class Mobility(models.Model):
    """One period away from home (外出): from the outflow registration until return or transfer."""

    member = models.ForeignKey(
        Member, verbose_name=_("党员"), on_delete=models.CASCADE, related_name="mobilities"
    )
    left_on = models.DateField(_("外出日期"))
    reason = models.CharField(
        _("外出原因"), max_length=20, choices=OutflowReason.choices, blank=True, default=""
    )
    destination_code = models.CharField(
        _("流入地"), max_length=6, validators=[validate_region_code]
    )
    destination_address = models.CharField(_("详细地址"), max_length=200, blank=True, default="")
    employer = models.CharField(_("工作单位"), max_length=100, blank=True, default="")
    inflow_org = models.ForeignKey(
        Organization,
        verbose_name=_("流入地党组织"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="inflow_mobilities",
        help_text=_("参加组织生活的本系统党组织"),
        # Indexed through Meta, where the many mobilities without one stay out of the index.
        db_index=False,
    )
    inflow_org_name = models.CharField(
        _("流入地党组织名称"),
        max_length=100,
        blank=True,
        default="",
        help_text=_("流入地党组织不在本系统时填写名称"),
    )
    certificate_no = models.CharField(_("活动证编号"), max_length=50, blank=True, default="")
    contact_person = models.CharField(_("联系人"), max_length=50, blank=True, default="")
    remarks = models.CharField(_("备注"), max_length=500, blank=True, default="")
    ended_on = models.DateField(_("结束日期"), null=True, blank=True)
    end_kind = models.CharField(
        _("结束方式"), max_length=20, choices=MobilityEnd.choices, blank=True, default=""
    )
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = MobilityQuerySet.as_manager()

    class Meta:
        verbose_name = _("外出登记")
        verbose_name_plural = _("外出登记")
        ordering = ["-left_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"],
                condition=Q(ended_on__isnull=True),
                name="mobility_one_current_per_member",
                violation_error_message=_("该党员已有未结束的外出登记"),
            ),
            models.CheckConstraint(
                condition=(Q(ended_on__isnull=True) & Q(end_kind=""))
                | (Q(ended_on__isnull=False) & ~Q(end_kind="")),
                name="mobility_end_kind_matches_ended_on",
                violation_error_message=_("结束日期和结束方式须同时填写"),
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("left_on")),
                name="mobility_ended_after_left",
                violation_error_message=_("返乡或转出日期不能早于外出日期"),
            ),
        ]
        indexes = [
            models.Index(
                fields=["inflow_org"],
                condition=Q(inflow_org__isnull=False),
                name="mobility_inflow_org_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.left_on} → {self.destination_name}"

    def clean(self) -> None:
        errors: dict[str, list] = {}
        today = timezone.localdate()
        if self.left_on and self.left_on > today:
            errors["left_on"] = [_("外出日期不能晚于今天")]
        elif self.left_on and self.left_on < PARTY_FOUNDED:  # as roster imports read it
            errors["left_on"] = [_("外出日期不能早于建党之日（1921 年 7 月 1 日）")]
        if self.ended_on and self.ended_on > today:
            errors["ended_on"] = [_("返乡或转出日期不能晚于今天")]
        elif self.ended_on and self.left_on and self.ended_on < self.left_on:
            # The check constraint says so too, but above the form and without the date: here
            # the error lands on the return or transfer date, naming the date to keep after.
            errors["ended_on"] = [
                _("返乡或转出日期不能早于外出日期 %(date)s") % {"date": self.left_on}
            ]
        if self.destination_code:
            region = regions.get_region(self.destination_code)
            if region and not regions.is_city_level_or_below(region):
                errors["destination_code"] = [_("流入地至少要填到地级市")]
        if self.inflow_org_id and self.inflow_org_name:
            self.inflow_org_name = ""
        if self.inflow_org_id and self.ended_on is None:
            problem = self.inflow_org_problem(self.inflow_org)
            if problem:
                errors["inflow_org"] = [problem]
        member = self.member if self.member_id or Mobility.member.is_cached(self) else None
        birth = member.known_birth_date() if member is not None else None
        if self.left_on and birth and self.left_on < birth and "left_on" not in errors:
            errors["left_on"] = [_("外出日期不能早于出生日期 %(b)s") % {"b": birth}]
        # A new current registration is an outflow registration (the back office adds one as
        # 外出登记 does); a member transferred out is away from no branch of ours.
        if (
            member is not None
            and self.ended_on is None
            and (self._state.adding or member.party_status == PartyStatus.TRANSFERRED_OUT)
        ):
            problem = member.standing_problem()
            if problem:
                errors[NON_FIELD_ERRORS] = [problem]
        if self.member_id and self.left_on and "left_on" not in errors:
            problem = self.overlap_problem()
            if problem:
                errors["left_on"] = [problem]
        if errors:
            raise ValidationError(errors)

    def overlap_problem(self) -> str | None:
        """Why this registration's period overlaps another of its member's, or None.

        A current one starts no earlier than the last one ended (a second current one is the
        unique constraint's to report); an ended one, as the back office may correct history,
        shares no day away with another.
        """
        others = Mobility.objects.filter(member_id=self.member_id).exclude(pk=self.pk)
        if self.ended_on is None:
            last = others.filter(ended_on__gt=self.left_on).aggregate(last=Max("ended_on"))
            if last["last"] is not None:
                return LEFT_BEFORE_LAST_END % {"date": last["last"]}
            return None
        other = (
            others.filter(left_on__lt=self.ended_on)
            .filter(Q(ended_on__isnull=True) | Q(ended_on__gt=self.left_on))
            .order_by("left_on")
            .first()
        )
        if other is None:
            return None
        return _("与该党员 %(left)s 至 %(end)s 的外出登记时间重叠") % {
            "left": other.left_on,
            "end": other.ended_on or _("今"),
        }

    @staticmethod
    def inflow_org_problem(org: Organization) -> str | None:
        """Why ``org`` cannot be a current registration's inflow organization, or None: a
        dissolved organization holds no organizational life (forms, services and imports)."""
        if org.status == OrgStatus.DISSOLVED:
            return _("“%(org)s”已撤销，不能作为流入地党组织") % {"org": org.name}
        return None

    @property
    def is_current(self) -> bool:
        return self.ended_on is None

    @property
    def destination_name(self) -> str:
        return regions.full_name(self.destination_code) if self.destination_code else ""

    @property
    def inflow_org_display(self) -> str:
        return self.inflow_org.name if self.inflow_org_id else self.inflow_org_name
