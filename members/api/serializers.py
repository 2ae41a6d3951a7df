from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.constants import MOBILITY_FREE_TEXT
from members.models import Member, Mobility
from portal.api.serializers import ValidatedModelSerializer
from portal.masking import mask_birth_date, mask_id_number, mask_in_text, mask_phone


class MobilitySerializer(ValidatedModelSerializer):
    """外出登记：流入地、工作单位、流入地党组织等；结束日期为空表示仍在外。"""

    destination_name = serializers.CharField(read_only=True)
    inflow_org_code = serializers.CharField(
        source="inflow_org.code", read_only=True, default=None, allow_null=True
    )
    inflow_org_display = serializers.CharField(read_only=True)

    class Meta:
        model = Mobility
        fields = [
            "id",
            "left_on",
            "reason",
            "destination_code",
            "destination_name",
            "destination_address",
            "employer",
            "inflow_org_code",
            "inflow_org_display",
            "certificate_no",
            "contact_person",
            "ended_on",
            "end_kind",
        ]
        read_only_fields = fields


class MemberSerializer(ValidatedModelSerializer):
    """党员，附当前外出登记（未外出时为空）。身份证号、电话，以及联系人、详细地址、工作单位中的
    电话和身份证号默认脱敏，出生日期只给年份；创建时允许查看完整信息的令牌返回完整信息。"""

    home_org_code = serializers.CharField(source="home_org.code", read_only=True)
    home_org_name = serializers.CharField(source="home_org.name", read_only=True)
    current_mobility = serializers.SerializerMethodField()
    is_lost_contact = serializers.BooleanField(read_only=True)
    birth_date = serializers.CharField(
        read_only=True,
        label="出生日期",
        help_text=(
            "YYYY-MM-DD；脱敏时只给出年份，如 1985-**-**（否则与脱敏的身份证号合起来即可还原号码）"
        ),
    )

    class Meta:
        model = Member
        fields = [
            "id",
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
            "home_org_code",
            "home_org_name",
            "party_status",
            "last_contact_on",
            "is_lost_contact",
            "current_mobility",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(MobilitySerializer(allow_null=True))
    def get_current_mobility(self, member) -> dict | None:
        current = getattr(member, "current_mobilities", None)
        if current is None:
            current = list(member.mobilities.current())
        return MobilitySerializer(current[0]).data if current else None

    def to_representation(self, member):
        data = super().to_representation(member)
        if not self.context.get("unmasked"):
            data["id_number"] = mask_id_number(data["id_number"])
            data["birth_date"] = mask_birth_date(data["birth_date"])
            data["phone"] = mask_phone(data["phone"])
            if data["current_mobility"]:  # phones and ID numbers typed into free text
                mobility = data["current_mobility"]
                for field in (*MOBILITY_FREE_TEXT, "inflow_org_display"):
                    if field in mobility:
                        mobility[field] = mask_in_text(mobility[field])
        return data
