"""The browser shell's own pages: the home dashboard."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from branches.selectors import scoped_tree, walk
from members.filtersets import MemberFilterSet
from members.models import Member

from .scoping import scope_for

# Most organizations listed with their practice warnings on the dashboard.
WARNINGS_SHOWN = 20

# The member counts of the dashboard: (label, member list filter). Each count is the member list
# with that filter, through the same FilterSet, so a number and its link always agree. All count
# members in normal standing (失联 does by its definition), so a part is never more than the whole.
MEMBER_CARDS = (
    (_("党员"), {"party_status": "normal"}, "primary"),
    (_("流动党员"), {"mobile": "true", "party_status": "normal"}, "info"),
    (_("失联党员"), {"lost_contact": "true"}, "danger"),
)


class HomeView(LoginRequiredMixin, TemplateView):
    """Counts of the user's scope; an auditor (no data scope) is told where their work is."""

    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        scope = scope_for(self.request.user)
        context["scope"] = scope
        if not scope.sees_data:
            return context
        roots = scoped_tree(self.request.user)
        nodes = list(walk(roots))
        with_warnings = [n for n in nodes if n.warnings]
        members = Member.objects.visible_to(self.request.user)
        list_url = reverse("members:list")
        cards = [
            {
                "label": _("党组织"),
                "count": len(nodes),
                "url": reverse("branches:tree"),
                "tone": "primary",
            },
        ]
        for label, params, tone in MEMBER_CARDS:
            query = QueryDict(mutable=True)
            query.update(params)
            filterset = MemberFilterSet(query, queryset=members, request=self.request)
            cards.append(
                {
                    "label": label,
                    "count": filterset.qs.count(),
                    "url": f"{list_url}?{query.urlencode()}",
                    "tone": tone,
                }
            )
        cards.append(
            {
                "label": _("实践提示"),
                "count": sum(len(n.warnings) for n in with_warnings),
                "url": "#warnings",
                "tone": "warning",
            }
        )
        context.update(
            roots=roots,
            cards=cards,
            warning_nodes=with_warnings[:WARNINGS_SHOWN],
            warning_nodes_more=max(len(with_warnings) - WARNINGS_SHOWN, 0),
        )
        return context
