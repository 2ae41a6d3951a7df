"""Forms of the mobility pages; each feeds one service in members/services.py."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from branches.choices import OrgStatus
from branches.models import Organization
from portal import regions
from portal.concurrency import VersionedFormMixin, VersionField
from portal.generic import ServiceForm

from .choices import OutflowReason


class DateInput(forms.DateInput):
    """The browser's date picker; the value travels as ISO 8601 (YYYY-MM-DD)."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class PastDateField(forms.DateField):
    """A date that cannot lie in the future (the picker stops at today)."""

    widget = DateInput

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "max": timezone.localdate().isoformat()}


class MobilityForm(ServiceForm):
    """外出登记 and its later corrections: where the member went, and who looks after them."""

    field_map = {"destination_code": "destination"}

    left_on = PastDateField(label=_("外出日期"))
    reason = forms.ChoiceField(
        label=_("外出原因"),
        choices=[("", _("请选择")), *OutflowReason.choices],
        required=False,
    )
    destination = forms.CharField(
        label=_("流入地"),
        max_length=100,
        help_text=_("写到地级市或区县，如“陕西省西安市雁塔区”“北京市朝阳区”"),
    )
    destination_address = forms.CharField(label=_("详细地址"), max_length=200, required=False)
    employer = forms.CharField(label=_("工作单位"), max_length=100, required=False)
    inflow_org = forms.ModelChoiceField(
        label=_("流入地党组织"),
        queryset=Organization.objects.none(),
        required=False,
        empty_label=_("（不在本系统，填写下方名称）"),
        help_text=_("在本系统中的在外党组织"),
    )
    inflow_org_name = forms.CharField(
        label=_("流入地党组织名称"),
        max_length=100,
        required=False,
        help_text=_("流入地党组织不在本系统时填写名称"),
    )
    certificate_no = forms.CharField(label=_("活动证编号"), max_length=50, required=False)
    contact_person = forms.CharField(label=_("联系人"), max_length=50, required=False)
    remarks = forms.CharField(
        label=_("备注"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Outside organizations the user sees; a registration being corrected keeps its own
        # inflow organization even when it lies outside the user's scope.
        choices = (
            Organization.objects.visible_to(self.user)
            .exclude(location_code="")
            .filter(status=OrgStatus.ACTIVE)
        )
        current = self.initial.get("inflow_org")
        if current:
            choices = choices | Organization.objects.filter(pk=current)
        if not choices.exists():  # nothing to choose from in this scope: the name field only
            del self.fields["inflow_org"]
            return
        field = self.fields["inflow_org"]
        field.queryset = choices.in_tree_order()
        field.label_from_instance = lambda org: (
            f"{org.name}({org.location_name})" if org.location_name else org.name
        )

    def clean_destination(self):
        """Read the place (``regions.parse_place``) and show it back under its full name."""
        region = regions.parse_place(self.cleaned_data["destination"])
        self.data = self.data.copy()
        self.data[self.add_prefix("destination")] = regions.full_name(region)
        return region

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data["destination_code"] = data.pop("destination").code
        return data


class MobilityUpdateForm(VersionedFormMixin, MobilityForm):
    """修改外出信息: MobilityForm on the current registration, as it was when opened."""

    version = VersionField()


class ReturnForm(VersionedFormMixin, ServiceForm):
    """返乡: the date the member came home, ending the registration the page showed."""

    field_map = {"ended_on": "returned_on"}
    version_fields = ("mobility_version",)

    returned_on = PastDateField(label=_("返乡日期"), initial=timezone.localdate)
    mobility_version = VersionField()


class TransferForm(VersionedFormMixin, ServiceForm):
    """组织关系转出: the membership moves to an organization outside the county.

    It carries the member's version and, when they were away, their current registration's
    (which the transfer ends); a member at home leaves ``mobility_version`` empty.
    """

    field_map = {"ended_on": "transferred_out_on"}

    transferred_out_on = PastDateField(label=_("转出日期"), initial=timezone.localdate)
    transferred_to = forms.CharField(
        label=_("转入党组织"), max_length=100, help_text=_("接收组织关系的党组织全称")
    )
    version = VersionField()
    mobility_version = VersionField()
