from branches.filtersets import OrganizationFilterSet
from branches.models import Organization
from portal.api.views import ScopedReadOnlyViewSet

from .serializers import OrganizationSerializer


class OrganizationViewSet(ScopedReadOnlyViewSet):
    """组织架构：令牌所属党组织及其下级党组织。"""

    serializer_class = OrganizationSerializer
    filterset_class = OrganizationFilterSet

    def get_queryset(self):
        return Organization.objects.visible_to(self.request.user).select_related("parent")
