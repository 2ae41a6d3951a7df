from django.db.models import Prefetch

from members.filtersets import MemberFilterSet
from members.models import Member, Mobility
from portal.api.views import ScopedReadOnlyViewSet

from .serializers import MemberSerializer


class MemberViewSet(ScopedReadOnlyViewSet):
    """党员台账：令牌所属党组织及其下级的党员（含参加本范围组织生活的流入党员），每人附当前外出登记。"""

    serializer_class = MemberSerializer
    filterset_class = MemberFilterSet

    def get_queryset(self):
        current = Mobility.objects.current().select_related("inflow_org")
        return (
            Member.objects.visible_to(self.request.user)
            .select_related("home_org")
            .prefetch_related(
                Prefetch("mobilities", queryset=current, to_attr="current_mobilities")
            )
        )
