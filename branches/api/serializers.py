from rest_framework import serializers

from branches.models import Organization
from portal.api.serializers import ValidatedModelSerializer


class OrganizationSerializer(ValidatedModelSerializer):
    """党组织：编码、名称、上级组织编码、组织类别和支部类型。"""

    parent_code = serializers.CharField(source="parent.code", read_only=True, allow_null=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    branch_type_display = serializers.CharField(source="get_branch_type_display", read_only=True)
    location_name = serializers.CharField(read_only=True)
    holds_memberships = serializers.BooleanField(read_only=True)

    class Meta:
        model = Organization
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "kind_display",
            "branch_type",
            "branch_type_display",
            "parent_code",
            "depth",
            "location_code",
            "location_name",
            "host_unit",
            "phone",
            "has_committee",
            "established_on",
            "planned_end_on",
            "dissolved_on",
            "status",
            "holds_memberships",
            "updated_at",
        ]
        read_only_fields = fields
