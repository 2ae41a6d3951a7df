"""Pages of the member roster: list, detail, reveal, and the mobility forms (services do)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import F, Prefetch
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic.detail import SingleObjectMixin

from portal.access import record_access
from portal.choices import AccessEventKind
from portal.concurrency import version_of
from portal.generic import ScopedDetailView, ScopedListView, ScopedMixin, ServiceFormView
from portal.masking import mask_in_text
from rosters.models import RosterImport

from . import services
from .choices import PartyStatus
from .constants import MOBILITY_FREE_TEXT
from .filtersets import MemberFilterSet
from .forms import MobilityForm, MobilityUpdateForm, ReturnForm, TransferForm
from .models import Member, Mobility
from .validators import has_id_number_shape

# Fields that are masked on every page and shown in clear only on an explicit, recorded request.
REVEALABLE = {
    "id_number": _("公民身份号码"),
    "phone": _("联系电话"),
    # Free text where someone may have typed a phone or an ID number (masked inside it on
    # pages): the current mobility's contact (often a name and a phone), address and employer,
    # and the member's remarks.
    "contact_person": _("联系人"),
    "destination_address": _("详细地址"),
    "employer": _("工作单位"),
    "remarks": _("备注"),
}
# Those of them that are the current mobility's.
CURRENT_MOBILITY_REVEALABLE = frozenset({"contact_person", "destination_address", "employer"})


# The mobility actions, in button order: (action, URL name, label).
ACTIONS = (
    ("outflow", "members:outflow", _("外出登记")),
    ("mobility", "members:mobility", _("修改外出信息")),
    ("return", "members:return", _("返乡")),
    ("transfer", "members:transfer", _("组织关系转出")),
)


def available_actions(member: Member, current: Mobility | None) -> set[str]:
    """Which mobility actions apply to the member now (the services enforce the same rules)."""
    actions = set()
    if current is not None:
        actions.add("return")
    if member.party_status == PartyStatus.NORMAL:
        actions.add("transfer")
        actions.add("outflow" if current is None else "mobility")
    return actions


class MemberListView(ScopedListView):
    model = Member
    filterset_class = MemberFilterSet
    select_related = ("home_org",)
    prefetch_related = (
        Prefetch("mobilities", queryset=Mobility.objects.current(), to_attr="current_mobilities"),
    )
    filter_placeholders = {"q": _("姓名 / 身份证号后四位 / 完整电话或后四位")}
    template_name = "members/member_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The search takes an ID number's last four characters only (a whole number would let
        # its masked middle be guessed): one typed whole finds nobody, and the page says why.
        typed = "".join(self.request.GET.get("q", "").split())
        context["whole_id_number_typed"] = has_id_number_shape(typed)
        return context


class MemberDetailView(ScopedDetailView):
    model = Member
    select_related = ("home_org",)
    template_name = "members/member_detail.html"

    def get_context_data(self, **kwargs):
        member = self.object
        mobilities = list(
            member.mobilities.select_related("inflow_org").order_by(
                F("ended_on").desc(nulls_first=True), "-left_on", "-pk"
            )
        )
        current = next((m for m in mobilities if m.is_current), None)
        # The roster imports that created or changed this member (rosters app), newest first;
        # linked where the user may open them (RosterImport.objects.visible_to).
        links = list(
            member.roster_links.select_related("roster_import__user").order_by(
                "-roster_import__created_at", "-pk"
            )
        )
        opens = set()
        if links:
            opens = set(
                RosterImport.objects.visible_to(self.request.user)
                .filter(pk__in=[link.roster_import_id for link in links])
                .values_list("pk", flat=True)
            )
        imports = [{"link": link, "opens": link.roster_import_id in opens} for link in links]
        actions = []
        if self.scope.can_write(member.home_org):
            possible = available_actions(member, current)
            actions = [
                {"label": label, "url": reverse(name, args=[member.pk]), "name": action}
                for action, name, label in ACTIONS
                if action in possible
            ]
        return super().get_context_data(
            mobilities=mobilities,
            current=current,
            imports=imports,
            actions=actions,
            home_org_visible=self.scope.covers(member.home_org),
            **kwargs,
        )


class MemberRevealView(ScopedMixin, SingleObjectMixin, View):
    """Show one masked field in clear, and record who saw whose field, when and from where."""

    model = Member
    http_method_names = ["post"]

    def post(self, request, pk, field):
        if field not in REVEALABLE:
            raise Http404
        member = self.get_object()
        if not self.scope.can_reveal:
            raise PermissionDenied(_("您没有查看敏感信息的权限"))
        record_access(kind=AccessEventKind.REVEAL, request=request, obj=member, field=field)
        context = {"member": member, "field": field, "label": REVEALABLE[field]}
        if field in CURRENT_MOBILITY_REVEALABLE:
            current = member.mobilities.current().first()
            context["value"] = getattr(current, field) if current else ""
        else:
            context["value"] = getattr(member, field)
        # htmx swaps the fragment into the detail page; without JavaScript a page shows it.
        htmx = request.headers.get("HX-Request") == "true"
        template = "members/_revealed.html" if htmx else "members/reveal.html"
        response = render(request, template, context)
        add_never_cache_headers(response)
        return response


class MemberServiceView(ServiceFormView):
    """A mobility action on one member, offered only when it applies (``available_actions``)."""

    model = Member
    select_related = ("home_org",)
    template_name = "members/member_form.html"
    detail_url_name = "members:detail"
    submit_label = _("确认办理")
    action = ""

    def refusal(self):
        self.current = self.object.mobilities.current().first()
        if self.action not in available_actions(self.object, self.current):
            return _("%(member)s当前不能办理“%(action)s”") % {
                "member": self.object,
                "action": self.title,
            }
        return None

    def get_context_data(self, **kwargs):
        return super().get_context_data(current=self.current, **kwargs)


class MemberOutflowView(MemberServiceView):
    action, title, form_class = "outflow", _("外出登记"), MobilityForm
    success_message = _("已为%(object)s办理外出登记")

    def perform(self, form):
        return services.member_register_outflow(member=self.object, **form.service_kwargs())


class MobilityUpdateView(MemberServiceView):
    action, title, form_class = "mobility", _("修改外出信息"), MobilityUpdateForm
    success_message = _("已更新%(object)s的外出信息")
    submit_label = _("保存")

    def get_initial(self):
        fields = MobilityForm.base_fields.keys() - {"destination", "inflow_org"}
        initial = {name: getattr(self.current, name) for name in fields}
        initial["destination"] = self.current.destination_name
        initial["inflow_org"] = self.current.inflow_org_id
        initial["version"] = version_of(self.current)
        return initial

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # The form shows the free text as stored, to be edited: a phone or ID number in it is
        # seen in clear, which is recorded like a reveal on the member's page (writers may
        # reveal), once for each field holding one.
        if response.status_code != 200:
            return response
        for field in sorted(MOBILITY_FREE_TEXT):
            text = getattr(self.current, field)
            if text and mask_in_text(text) != text:
                record_access(
                    kind=AccessEventKind.REVEAL, request=request, obj=self.object, field=field
                )
        return response

    def perform(self, form):
        return services.mobility_update(mobility=self.current, **form.service_kwargs())


class MemberReturnView(MemberServiceView):
    action, title, form_class = "return", _("返乡"), ReturnForm
    success_message = _("已为%(object)s办理返乡")

    def get_initial(self):
        return {**super().get_initial(), "mobility_version": version_of(self.current)}

    def perform(self, form):
        return services.member_return(member=self.object, **form.service_kwargs())


class MemberTransferView(MemberServiceView):
    action, title, form_class = "transfer", _("组织关系转出"), TransferForm
    success_message = _("已为%(object)s办理组织关系转出")

    def get_initial(self):
        mobility_version = version_of(self.current) if self.current else ""
        return {
            **super().get_initial(),
            "version": version_of(self.object),
            "mobility_version": mobility_version,
        }

    def perform(self, form):
        return services.member_transfer_out(member=self.object, **form.service_kwargs())
