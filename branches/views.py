"""Pages of the organization tree: the collapsible tree and one organization's detail."""

from __future__ import annotations

from django.views.generic import TemplateView

from members.models import Member
from portal.generic import ScopedDetailView, ScopedMixin

from .choices import OrgKind
from .models import Organization
from .selectors import build_tree, scoped_tree, tallies, walk


class OrganizationTreeView(ScopedMixin, TemplateView):
    template_name = "branches/organization_tree.html"

    def get_context_data(self, **kwargs):
        roots = scoped_tree(self.request.user)
        nodes = list(walk(roots))
        return super().get_context_data(
            roots=roots,
            organization_count=len(nodes),
            member_count=sum(n.tally.members for n in nodes),
            **kwargs,
        )


class OrganizationDetailView(ScopedDetailView):
    model = Organization
    select_related = ("parent",)
    template_name = "branches/organization_detail.html"

    def get_context_data(self, **kwargs):
        org = self.object
        subtree = Organization.objects.subtree(org).order_by("path")
        counts = tallies(Member.objects.in_subtree(org))
        node = build_tree(subtree, counts)[0]
        inflow = Member.objects.taking_part_in(org).count()
        return super().get_context_data(
            node=node,
            children=node.children,
            ancestors=[a for a in org.ancestors() if self.scope.covers(a)],
            # Ledger export buttons for whoever keeps this organization's ledgers. Every branch
            # has a table (a functional or temporary one: the mobile members it organizes,
            # rosters.exports.ledger_of); a party group, within its branch's, has none.
            keeps_ledger=self.scope.can_ledger(org),
            has_ledger=org.kind != OrgKind.GROUP,
            type_changes=org.type_changes.all(),
            inflow_members=inflow,
            **kwargs,
        )
