"""The auditor's pages: search and export the change trail and the access events.

Only the auditor role reads the trail (三权分立); nobody, the auditor included, can change it.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.generic import ListView

from rosters.exports import watermark

from . import audit
from .access import record_access
from .choices import AccessEventKind, Role
from .models import AccessEvent
from .scoping import scope_for


class AuditorRequiredMixin(LoginRequiredMixin):
    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if Role.AUDITOR not in scope_for(request.user).roles:
            raise PermissionDenied(_("只有审计员可以查看审计记录"))
        return super().dispatch(request, *args, **kwargs)


def _filters_set(filterset_class, params) -> dict[str, str]:
    """The filters set, as the form knows them (not a page number, nor fields left empty)."""
    return {k: v for k, v in params.items() if v and k in filterset_class.base_filters}


# Events above which the page says that the export will take a while.
LARGE_EXPORT = 20_000


class AuditListView(AuditorRequiredMixin, ListView):
    paginate_by = 50
    filterset_class = None
    tab = ""

    def base_queryset(self):
        raise NotImplementedError

    def get_queryset(self):
        self.filterset = self.filterset_class(self.request.GET, queryset=self.base_queryset())
        return self.filterset.qs if self.filterset.is_valid() else self.base_queryset().none()

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(filterset=self.filterset, tab=self.tab, **kwargs)
        page = context["page_obj"]
        context["page_range"] = page.paginator.get_elided_page_range(
            page.number, on_each_side=2, on_ends=1
        )
        context["filters_applied"] = bool(_filters_set(self.filterset_class, self.request.GET))
        # On a phone the filters fold away: set ones keep them unfolded, with 清除条件 in sight.
        context["folded_filters_applied"] = context["filters_applied"]
        context["export_query"] = self.request.GET.urlencode()
        # Exporting tens of thousands of events takes minutes (portal.audit.csv_lines): said
        # beside the button, with how to narrow it down.
        context["large_export"] = page.paginator.count > LARGE_EXPORT
        return context


class ChangeTrailView(AuditListView):
    template_name = "audit/changes.html"
    filterset_class = audit.ChangeEventFilterSet
    tab = "changes"

    def base_queryset(self):
        return audit.change_events()

    def get_queryset(self):
        # The page's keys first, then the values of its events only (audit.ChangePages).
        self.filterset = self.filterset_class(self.request.GET, queryset=self.base_queryset())
        if not self.filterset.is_valid():
            return []
        return audit.ChangePages(self.request.GET)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The page's events, each with its masked values: a query per event table on the page.
        events = list(context["object_list"])
        for event in events:
            event.changes = audit.event_changes(event)
            event.object_label = audit.model_name(event.pgh_obj_model)
        # The names of the objects and of what their references point to: a query per model.
        names = audit.object_names(
            [(e.pgh_obj_model, e.pgh_obj_id) for e in events]
            + [(c.references, v) for e in events for c in e.changes for v in (c.before, c.after)]
        )
        for event in events:
            event.object_name = names.get((event.pgh_obj_model.lower(), str(event.pgh_obj_id)), "")
            event.changes = [change.named(names) for change in event.changes]
        context["object_list"] = events
        return context


class AccessTrailView(AuditListView):
    template_name = "audit/access.html"
    filterset_class = audit.AccessEventFilterSet
    tab = "access"

    def base_queryset(self):
        return AccessEvent.objects.order_by("-at", "-pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        events = list(context["object_list"])
        names = audit.object_names([(e.object_type, e.object_id) for e in events])
        for event in events:
            event.details = audit.access_details(event)
            event.object_label = audit.model_name(event.object_type) if event.object_type else ""
            event.object_name = names.get((event.object_type, event.object_id), "")
        context["object_list"] = events
        return context


class AuditExportView(AuditorRequiredMixin, View):
    """The filtered trail as CSV, streamed in constant memory, watermarked with who exported it
    and when; the export itself is recorded as an access event with its number of rows."""

    def get(self, request, which):
        if which == "changes":
            header, to_row = audit.CHANGE_HEADER, audit.change_row
            known = audit.ChangeEventFilterSet
            # Keys first, then the values a chunk at a time (audit.ChangePages, which reads
            # nothing for filters that are not valid): pghistory's aggregate of the whole trail
            # would take longer than a request may.
            objects = audit.ChangePages(request.GET).counted()
        elif which == "access":
            queryset = AccessEvent.objects.order_by("-at", "-pk")
            filterset = audit.AccessEventFilterSet(request.GET, queryset=queryset)
            header, to_row = audit.ACCESS_HEADER, audit.access_row
            known = audit.AccessEventFilterSet
            objects = audit.counted(filterset.qs) if filterset.is_valid() else ()
        else:
            raise PermissionDenied
        filters = _filters_set(known, request.GET)

        def record(rows: int) -> None:
            record_access(
                kind=AccessEventKind.EXPORT,
                request=request,
                scope="audit:" + which,
                filters=filters,
                rows=rows,
            )

        lines = audit.csv_lines(
            objects,
            header,
            to_row,
            mark=watermark(request.user.get_username()),
            on_total=record,
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        name = _("变更记录") if which == "changes" else _("访问记录")
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=f"{name}-{stamp}.csv"
        )
        return response
