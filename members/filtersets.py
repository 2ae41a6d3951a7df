"""The one FilterSet per model, used by the HTML list, the API and exports."""

import django_filters
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from branches.models import Organization
from portal import regions
from portal.filters import YesNoFilter

from .choices import MemberType, PartyStatus
from .models import Member, Mobility, lost_contact_q


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


class MemberFilterSet(django_filters.FilterSet):
    """Filters of the member list (DOMAIN.md users' questions: where, which type, lost or not)."""

    q = django_filters.CharFilter(label=_("搜索"), method="filter_q")
    org = OrganizationFilter(
        label=_("党组织（含下级）"), queryset=_visible_orgs, method="filter_org"
    )
    inflow_org = OrganizationFilter(
        label=_("参加组织生活的党组织"), queryset=_visible_orgs, method="filter_inflow_org"
    )
    member_type = django_filters.ChoiceFilter(label=_("党员类型"), choices=MemberType.choices)
    party_status = django_filters.ChoiceFilter(label=_("党籍状态"), choices=PartyStatus.choices)
    mobile = YesNoFilter(label=_("流动党员"), method="filter_mobile")
    province = django_filters.ChoiceFilter(
        label=_("流入省份"), choices=regions.province_choices, method="filter_province"
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
        """Name, the last four characters of the ID number, or the phone: the whole number or
        its last four digits. Never part of the masked middle, or searching digit by digit
        would reveal a phone that the lists, the API and exports show masked."""
        value = "".join(value.split())
        if not value:
            return queryset
        cond = Q(name__contains=value)
        if len(value) == 4:
            cond |= Q(id_tail=value.upper())
        if value.replace("-", "").isdigit():
            if len(value) == 4:
                cond |= Q(phone__endswith=value)
            elif len(value) >= 7:
                cond |= Q(phone=value)
        return queryset.filter(cond)

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
