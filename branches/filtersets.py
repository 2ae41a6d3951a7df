"""The one FilterSet for organizations, used by the HTML pages and the API."""

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.filters import YesNoFilter

from .choices import BranchType, OrgKind, OrgStatus
from .models import Organization


class OrganizationFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("搜索"), method="filter_q")
    kind = django_filters.ChoiceFilter(label=_("组织类别"), choices=OrgKind.choices)
    branch_type = django_filters.ChoiceFilter(label=_("支部类型"), choices=BranchType.choices)
    status = django_filters.ChoiceFilter(label=_("状态"), choices=OrgStatus.choices)
    parent = django_filters.CharFilter(label=_("上级组织编码"), field_name="parent__code")
    outside = YesNoFilter(label=_("在外党组织"), method="filter_outside")

    class Meta:
        model = Organization
        fields = ["q", "kind", "branch_type", "status", "parent", "outside"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__contains=value) | Q(code__startswith=value))

    def filter_outside(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(location_code="") if value else queryset.filter(location_code="")
