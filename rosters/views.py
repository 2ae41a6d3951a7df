"""Pages of roster imports and ledger exports (issue 4, "In the browser").

Only users with ledger rights (``scope.can_ledger()``: county admins and committee staff) reach
these pages; anyone else gets 403. An import is seen only by the user who made it (and by
superusers): its problems hold the file's ID numbers. Exports are limited to the user's ledger
scope, written to a temporary file (constant memory whatever the number of rows), carry who
exported them and when, and are each recorded as an access event.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import PurePath
from typing import IO, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import DetailView, FormView
from django.views.generic.detail import SingleObjectMixin

from branches.choices import OrgKind
from branches.models import Organization
from members.choices import PartyStatus
from members.filtersets import MemberFilterSet
from members.models import Member
from portal.access import client_ip, record_access
from portal.audit import filter_names
from portal.choices import AccessEventKind
from portal.generic import ScopedListView, ScopedMixin
from portal.masking import mask_birth_date, mask_in_text
from portal.middleware import not_user_activity

from .choices import ImportStatus
from .exports import (
    CSV,
    FORMATS,
    XLSX,
    ledger_of,
    ledger_orgs,
    watermark,
    write_bad_rows,
    write_error_report,
    write_ledger,
)
from .forms import ConfirmImportForm, LedgerExportForm, RosterUploadForm
from .models import RosterImport
from .schema import MEMBER_SCHEMA, header_key
from .services import failed_reading, import_summary, roster_import_confirm, roster_import_start
from .template import write_template

# Problems listed on an import's page; the downloads hold them all.
ERRORS_SHOWN = 200
CONTENT_TYPES = {
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    CSV: "text/csv; charset=utf-8",
}


# ---------------------------------------------------------------------------------------------
# Who may do what


class LedgerMixin(ScopedMixin):
    """Login required, and ledger rights somewhere (county admin, committee staff)."""

    def prepare(self):
        if not self.scope.can_ledger():
            raise PermissionDenied(
                gettext_lazy("只有县委组织部管理员和党（工）委工作人员可以导入登记表、导出台账")
            )
        return None


def imports_of(user) -> QuerySet[RosterImport]:
    """The imports a user may open (``RosterImport.objects.visible_to``)."""
    return RosterImport.objects.visible_to(user).select_related("user")


# ---------------------------------------------------------------------------------------------
# Files out


def _temp_file(write: Callable[[IO[bytes]], Any], suffix: str) -> tuple[IO[bytes], Any]:
    """Write a file to a temporary file (deleted when closed); returns it rewound, and what
    ``write`` returned."""
    handle = tempfile.NamedTemporaryFile(prefix="portal-", suffix=suffix)  # noqa: SIM115
    try:
        result = write(handle)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle, result


def _download(handle: IO[bytes], filename: str, fmt: str) -> FileResponse:
    """Send a temporary file; FileResponse closes it, which deletes it."""
    response = FileResponse(
        handle, as_attachment=True, filename=filename, content_type=CONTENT_TYPES[fmt]
    )
    add_never_cache_headers(response)  # personal data: no cache keeps a copy
    return response


def _format(request) -> str:
    fmt = request.GET.get("format") or XLSX
    if fmt not in FORMATS:
        raise Http404
    return fmt


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


# ---------------------------------------------------------------------------------------------
# Imports


class RosterIndexView(LedgerMixin, ScopedListView):
    """The imports the user may open, and where to upload, get the template and export ledgers."""

    template_name = "rosters/index.html"
    paginate_by = 20

    def get_queryset(self):
        self.filterset = None
        return imports_of(self.request.user).defer("errors_data", "bad_rows_data")

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            export_form=LedgerExportForm(orgs=ledger_orgs(self.scope).exclude(kind=OrgKind.GROUP)),
            **kwargs,
        )


class RosterTemplateView(LedgerMixin, View):
    """The blank registration roster."""

    def get(self, request):
        handle, _result = _temp_file(write_template, ".xlsx")
        return _download(handle, _("流动党员登记表") + ".xlsx", XLSX)


class RosterUploadView(LedgerMixin, FormView):
    """Upload a file: it is stored and previewed by a Celery job; its page shows the outcome."""

    form_class = RosterUploadForm
    template_name = "rosters/upload.html"

    def form_valid(self, form):
        data = form.cleaned_data
        record = roster_import_start(
            upload=data["file"],
            filename=PurePath(data["file"].name).name,
            user=self.request.user,
            kind=data["kind"],
            dry_run=True,
            skip_invalid=data["skip_invalid"],
            sheet=data["sheet"] or None,
            scoped=True,
            ip_address=client_ip(self.request),
        )
        return redirect("rosters:detail", record.pk)


class ImportMixin(LedgerMixin):
    """An import the user may open (``RosterImport.objects.visible_to``); any other is a 404."""

    model = RosterImport
    context_object_name = "record"

    def get_queryset(self):
        return imports_of(self.request.user)


def confirmed_import(preview: RosterImport) -> RosterImport | None:
    """The real import already queued from a preview, if any (its file may be gone since).
    Imports confirmed before they named their preview are found by the file while it stays."""
    found = RosterImport.objects.filter(preview=preview).first()
    if found is None and preview.file:
        found = (
            RosterImport.objects.filter(file=preview.file.name, dry_run=False)
            .exclude(pk=preview.pk)
            .order_by("pk")
            .first()
        )
    return found


_DAY_RE = re.compile(r"(?<![0-9])[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])")


def _masked(column: str, text) -> str:
    """What someone else's file says, as the pages show it: ID numbers and phones masked, and
    in the birth-date column dates to their year (beside a masked ID number, the full date
    would give back most of its hidden digits; the reason names the date in the number)."""
    if not text:
        return text
    text = mask_in_text(str(text))
    column_of = MEMBER_SCHEMA.by_name.get(header_key(column))
    if column_of is not None and column_of.key == "birth_date":
        text = _DAY_RE.sub(lambda day: mask_birth_date(day.group()), text)
    return text


def confirm_refusal(preview: RosterImport, user) -> str | None:
    """Why ``user`` cannot confirm a preview now, or None."""
    if preview.user_id != user.pk:
        # The preview was checked against its uploader's scope, and the import is theirs.
        return _("只有上传该文件的用户可以确认导入")
    if preview.status != ImportStatus.PREVIEWED or not preview.dry_run:
        return _("只有预览完成的文件才能确认导入")
    if not preview.file:
        return _("上传的文件已不在服务器上（未确认的预览一天后清除），请重新上传")
    if not preview.rows_created + preview.rows_updated:
        if preview.rows_bad and not preview.rows_unchanged:
            return _(
                "文件中全部 %(n)d 行都有错误，没有可以导入的行：请下载错误行，改正后重新上传"
            ) % {"n": preview.rows_bad}
        return _("文件中没有需要新增或更新的行，无需导入")
    return None


class ImportDetailView(ImportMixin, DetailView):
    """An import's status: a progress bar while it runs, then its outcome and downloads."""

    template_name = "rosters/import_detail.html"

    def get_context_data(self, **kwargs):
        record = self.object
        errors = record.errors if record.is_finished else []
        shown = errors[:ERRORS_SHOWN]
        if record.user_id != self.request.user.pk:
            # Someone else's file: ID numbers and phones in what they typed are masked, as on
            # every page (the downloads hold them in clear, and are recorded as exports).
            shown = [
                (row, column, _masked(column, value), _masked(column, reason))
                for row, column, value, reason in shown
            ]
        context = {
            "summary": import_summary(record) if record.is_finished else "",
            "errors": shown,
            "errors_total": len(errors),
            "errors_more": max(len(errors) - ERRORS_SHOWN, 0),
            "has_bad_rows": bool(record.bad_rows_data),
            "failed_reading": failed_reading(record),
        }
        if record.status == ImportStatus.PREVIEWED:
            context["confirmed"] = confirmed_import(record)
            context["refusal"] = confirm_refusal(record, self.request.user)
            context["confirm_form"] = ConfirmImportForm(
                initial={"skip_invalid": record.skip_invalid}
            )
        return super().get_context_data(**context, **kwargs)

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        add_never_cache_headers(response)
        return response


class ImportProgressView(ImportMixin, DetailView):
    """The progress bar alone, polled by htmx every second; once the import has finished,
    htmx is told to reload the page, which then shows the outcome."""

    template_name = "rosters/_progress.html"

    def get(self, request, *args, **kwargs):
        not_user_activity(request)  # a page left open does not keep its session alive
        return super().get(request, *args, **kwargs)

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if self.object.is_finished and self.request.headers.get("HX-Request") == "true":
            response["HX-Refresh"] = "true"
        add_never_cache_headers(response)
        return response


class ImportConfirmView(ImportMixin, SingleObjectMixin, View):
    """Confirm a preview: queue the real import of the same stored file."""

    http_method_names = ["post"]

    def post(self, request, pk):
        preview = self.get_object()
        form = ConfirmImportForm(request.POST)
        skip_invalid = form.is_valid() and form.cleaned_data["skip_invalid"]
        with transaction.atomic():
            # One confirmation per preview, even when the button is pressed twice.
            RosterImport.objects.select_for_update().filter(pk=preview.pk).first()
            done = confirmed_import(preview)
            if done is not None:
                messages.info(request, _("该文件已确认导入，下面是导入结果"))
                return redirect("rosters:detail", done.pk)
            refusal = confirm_refusal(preview, request.user)
            if refusal is None and preview.rows_bad and not skip_invalid:
                refusal = _(
                    "预览发现 %(n)d 个错误行：请修正后重新上传，或勾选“跳过错误行”只导入正确的行"
                ) % {"n": preview.rows_bad}
            if refusal:
                messages.error(request, refusal)
                return redirect("rosters:detail", preview.pk)
            record = roster_import_confirm(
                preview=preview,
                user=request.user,
                skip_invalid=skip_invalid,
                ip_address=client_ip(request),
            )
        return redirect("rosters:detail", record.pk)


class ImportDownloadView(ImportMixin, SingleObjectMixin, View):
    """An import's error report (行号, 列, 值, 错误), or its bad rows with an added 错误 column
    to fix and upload again. They hold the file's ID numbers: each download is watermarked
    (who and when, above the header) and recorded."""

    what = "errors"  # or "bad-rows"

    def get(self, request, pk, fmt):
        record = self.get_object()
        if not record.is_finished:
            raise Http404
        stem = PurePath(record.filename).stem or "roster"
        mark = watermark(request.user.get_username())
        if self.what == "errors":
            content = record.errors
            count = len(content)
            write = partial(write_error_report, content, fmt=fmt, title=mark)
            filename = _("%(name)s-错误报告.%(fmt)s") % {"name": stem, "fmt": fmt}
        else:
            content = record.bad_rows
            count = len(content["rows"])
            write = partial(write_bad_rows, content, fmt=fmt, title=mark)
            filename = _("%(name)s-错误行.%(fmt)s") % {"name": stem, "fmt": fmt}
        if not count:
            raise Http404
        handle, _result = _temp_file(write, f".{fmt}")
        record_access(
            kind=AccessEventKind.EXPORT,
            request=request,
            obj=record,
            scope=f"import:{record.pk}:{self.what}",
            rows=count,
            format=fmt,
        )
        return _download(handle, filename, fmt)


# ---------------------------------------------------------------------------------------------
# Ledger exports


class LedgerExportView(LedgerMixin, View):
    """The ledger of an organization: a branch's table, a committee's book (one sheet per
    branch), the whole county; without ``org``, every branch of the user's ledger scope."""

    def get(self, request):
        fmt = _format(request)
        org_id = request.GET.get("org") or ""
        org = None
        if org_id:
            if not org_id.isdigit():
                raise Http404
            org = get_object_or_404(Organization.objects.visible_to(request.user), pk=org_id)
            if not self.scope.can_ledger(org):
                raise PermissionDenied(_("您没有导出该党组织台账的权限"))
        branches, name = ledger_of(org, self.scope)
        members = (
            Member.objects.visible_to(request.user).mobile().filter(party_status=PartyStatus.NORMAL)
        )
        handle, written = _temp_file(
            lambda out: write_ledger(
                out,
                fmt=fmt,
                heading=_("%(org)s流动党员台账") % {"org": name},
                mark=watermark(request.user.get_username()),
                members_qs=members,
                orgs=branches,
            ),
            f".{fmt}",
        )
        record_access(
            kind=AccessEventKind.EXPORT,
            request=request,
            obj=org,
            scope=org.code if org else "ledger:all",
            rows=written,
            format=fmt,
        )
        filename = _("%(org)s流动党员台账-%(stamp)s.%(fmt)s") % {
            "org": name,
            "stamp": _stamp(),
            "fmt": fmt,
        }
        return _download(handle, filename, fmt)


class MemberListExportView(LedgerMixin, View):
    """Exactly the rows of the member list with the same filters, in the ledger's layout."""

    def get(self, request):
        fmt = _format(request)
        # The member list's own filter, over the members the user keeps ledgers of.
        filterset = MemberFilterSet(
            request.GET,
            queryset=Member.objects.visible_to(request.user, ledger=True),
            request=request,
        )
        if not filterset.is_valid():  # e.g. an organization outside the scope
            raise Http404
        members = filterset.qs
        homes = Organization.objects.filter(pk__in=members.values("home_org")).in_tree_order()
        handle, written = _temp_file(
            lambda out: write_ledger(
                out,
                fmt=fmt,
                heading=_("党员名册筛选结果"),
                mark=watermark(request.user.get_username()),
                members_qs=members,
                orgs=homes,
            ),
            f".{fmt}",
        )
        filters = {k: v for k, v in request.GET.items() if k in filterset.filters and v}
        names = filter_names(filterset, filters)
        named = {"filter_names": names} if names else {}
        record_access(
            kind=AccessEventKind.EXPORT,
            request=request,
            # As typed, not URL-encoded: a phone searched for is masked in it like in the filters.
            scope="members?" + "&".join(f"{k}={v}" for k, v in filters.items()),
            filters=filters,
            **named,
            rows=written,
            format=fmt,
        )
        filename = _("党员名册-%(stamp)s.%(fmt)s") % {"stamp": _stamp(), "fmt": fmt}
        return _download(handle, filename, fmt)
