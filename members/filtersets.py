"""The one FilterSet per model, used by the HTML list, the API and exports."""

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from branches.models import Organization
from portal import regions
from portal.filters import YesNoFilter
from portal.models import ApiToken
from portal.scoping import scope_for

from .choices import MemberType, PartyStatus
from .models import Member, Mobility, lost_contact_q
from .validators import normalize_phone


def _visible_orgs(request):
    user = getattr(request, "user", None)
    return Organization.objects.visible_to(user).in_tree_order()


class OrganizationFilter(django_filters.ModelChoiceFilter):
    """An organization id (what it matches is the filter's method)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # In the schema an integer, described by its label: an override on the class would
        # describe every such filter alike, and drf-spectacular drops the label under one.
        extend_schema_field(
            {
                "type": "integer",
                "description": _("%(label)s的 id（见 /api/v1/organizations/）")
                % {"label": self.label},
            }
        )(self)


def _as_stored_phone(value: str) -> str:
    """A phone typed into the search as the members' phones are stored (182-3980-6798 is kept
    as 18239806798); a number that is no phone stays as typed, and finds nobody."""
    try:
        return normalize_phone(value)
    except ValidationError:
        return value


class MemberFilterSet(django_filters.FilterSet):
    """Filters of the member list (DOMAIN.md users' questions: where, which type, lost or not)."""

    q = django_filters.CharFilter(
        label=_("搜索"),
        method="filter_q",
        # The API's description of the parameter (the pages show the label only).
        help_text=_(
            "姓名、身份证号后四位或手机号后四位；完整手机号仅对可查看完整信息的用户和令牌有效"
        ),
    )
    org = OrganizationFilter(
        label=_("党组织（含下级）"), queryset=_visible_orgs, method="filter_org"
    )
    inflow_org = OrganizationFilter(
        label=_("参加组织生活的党组织"), queryset=_visible_orgs, method="filter_inflow_org"
    )
    member_type = django_filters.ChoiceFilter(label=_("党员类型"), choices=MemberType.choices)
    party_status = django_filters.ChoiceFilter(label=_("党籍状态"), choices=PartyStatus.choices)
    mobile = YesNoFilter(label=_("流动党员"), method="filter_mobile")
    # Its choices are called when a form is built, so drf-spectacular publishes no enum: the
    # schema says what the value is, or a client would send 61 or 陕西省 and get a 400.
    # (The description goes in the override: drf-spectacular reads no label under one.)
    province = extend_schema_field(
        {
            "type": "string",
            "pattern": r"^\d{2}0000$",
            "description": _("流入省份的 6 位行政区划代码（GB/T 2260），如 610000（陕西省）"),
        }
    )(
        django_filters.ChoiceFilter(
            label=_("流入省份"), choices=regions.province_choices, method="filter_province"
        )
    )
    lost_contact = YesNoFilter(label=_("失联"), method="filter_lost_contact")

    class Meta:
        model = Member
        fields = [
            "q",
            "org",
            "inflow_org",
            "member_type",
            "party_status",
            "mobile",
            "province",
            "lost_contact",
        ]

    def filter_q(self, queryset, name, value):
        """Name, the last four characters of the ID number, or the phone: its last four digits,
        or the whole number for those who may see phones in full. Never part of the masked
        middle, or searching digit by digit would reveal a phone that the lists, the API and
        exports show masked; and a client that only ever sees masked phones cannot confirm a
        guessed whole number either (its 10,000 guesses would find the phone)."""
        value = "".join(value.split())
        if not value:
            return queryset
        cond = Q(name__contains=value)
        if len(value) == 4:
            cond |= Q(id_tail=value.upper())
        if value.removeprefix("+").replace("-", "").isdigit():
            if len(value) == 4:
                cond |= Q(phone__endswith=value)
            elif len(value) >= 7 and self._sees_phones_in_full():
                cond |= Q(phone=_as_stored_phone(value))
        return queryset.filter(cond)

    def _sees_phones_in_full(self) -> bool:
        """Whether the requester may see phones in full: staff who may reveal them (each reveal
        recorded), or an API token issued unmasked."""
        request = self.request
        if request is None:  # nobody to ask: as for a masked client
            return False
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiToken):
            return auth.unmasked
        return scope_for(request.user).can_reveal

    def filter_org(self, queryset, name, value):
        return queryset.filter(home_org__path__startswith=value.path) if value else queryset

    def filter_inflow_org(self, queryset, name, value):
        return queryset.taking_part_in(value) if value else queryset

    def filter_mobile(self, queryset, name, value):
        if value is None:
            return queryset
        current = Mobility.objects.current().filter(member=OuterRef("pk"))
        return queryset.filter(Exists(current)) if value else queryset.exclude(Exists(current))

    def filter_province(self, queryset, name, value: str):
        if not value:
            return queryset
        prefix = value[:2]
        current = Mobility.objects.current().filter(
            member=OuterRef("pk"), destination_code__startswith=prefix
        )
        return queryset.filter(Exists(current))

    def filter_lost_contact(self, queryset, name, value):
        if value is None:
            return queryset
        lost = lost_contact_q()
        return queryset.filter(lost) if value else queryset.exclude(lost)
