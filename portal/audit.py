"""The audit trail as the auditor reads it: the change trail (pghistory) and access events."""

from __future__ import annotations

import csv

import django_filters
from django.apps import apps
from django.utils.translation import gettext_lazy as _
from pghistory.models import Event, Events

from .choices import AccessEventKind
from .models import AccessEvent


def event_models() -> list:
    """Every change-trail table (one per tracked model)."""
    return [m for m in apps.get_models() if issubclass(m, Event) and not m._meta.abstract]


def tracked_model_choices() -> list[tuple[str, str]]:
    choices = []
    for event_model in event_models():
        tracked = event_model.pgh_tracked_model
        choices.append((tracked._meta.label, str(tracked._meta.verbose_name)))
    return sorted(set(choices))


def change_events():
    """All changes, newest first, with diffs against the previous version of each object."""
    return Events.objects.across(*event_models()).order_by("-pgh_created_at", "-pgh_id")


class ChangeEventFilterSet(django_filters.FilterSet):
    """Search of the change trail: when, who, from where, which object."""

    since = django_filters.DateFilter(
        label=_("起始日期"), field_name="pgh_created_at", lookup_expr="date__gte"
    )
    until = django_filters.DateFilter(
        label=_("截止日期"), field_name="pgh_created_at", lookup_expr="date__lte"
    )
    username = django_filters.CharFilter(
        label=_("操作人"), field_name="pgh_context__username", lookup_expr="exact"
    )
    ip = django_filters.CharFilter(label=_("IP 地址"), field_name="pgh_context__ip")
    model = django_filters.ChoiceFilter(
        label=_("对象类型"), field_name="pgh_obj_model", choices=tracked_model_choices
    )
    object_id = django_filters.CharFilter(label=_("对象编号"), field_name="pgh_obj_id")
    label = django_filters.ChoiceFilter(
        label=_("操作"),
        field_name="pgh_label",
        choices=[("insert", _("新增")), ("update", _("修改")), ("delete", _("删除"))],
    )

    class Meta:
        model = Events
        fields: list = []


class AccessEventFilterSet(django_filters.FilterSet):
    """Search of access events: logins, failures, reveals, exports, token use."""

    since = django_filters.DateFilter(label=_("起始日期"), field_name="at", lookup_expr="date__gte")
    until = django_filters.DateFilter(label=_("截止日期"), field_name="at", lookup_expr="date__lte")
    kind = django_filters.ChoiceFilter(label=_("类型"), choices=AccessEventKind.choices)
    username = django_filters.CharFilter(label=_("用户名"))
    ip = django_filters.CharFilter(label=_("IP 地址"), field_name="ip_address")
    object_id = django_filters.CharFilter(label=_("对象编号"))

    class Meta:
        model = AccessEvent
        fields: list = []


LABELS = {"insert": _("新增"), "update": _("修改"), "delete": _("删除")}


class _Echo:
    """A file-like object whose write returns the line, for streaming CSV."""

    def write(self, value):
        return value


def csv_rows(header: list[str], rows):
    """Stream CSV lines (UTF-8 with BOM so Excel opens Chinese text correctly)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow(["'" + v if str(v)[:1] in "=+-@" else v for v in row])


def change_rows(queryset):
    for e in queryset.iterator(chunk_size=2000):
        context = e.pgh_context or {}
        yield [
            e.pgh_created_at.isoformat(),
            context.get("username", ""),
            context.get("ip", ""),
            context.get("method", ""),
            context.get("url", ""),
            e.pgh_obj_model,
            e.pgh_obj_id,
            str(LABELS.get(e.pgh_label, e.pgh_label)),
            _json(e.pgh_diff),
        ]


def access_rows(queryset):
    for e in queryset.iterator(chunk_size=2000):
        yield [
            e.at.isoformat(),
            e.get_kind_display(),
            e.username,
            e.ip_address or "",
            e.path,
            e.object_type,
            e.object_id,
            _json(e.detail),
        ]


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str) if value else ""


CHANGE_HEADER = [
    "时间",
    "操作人",
    "IP 地址",
    "请求方法",
    "请求路径",
    "对象类型",
    "对象编号",
    "操作",
    "变更内容",
]
ACCESS_HEADER = ["时间", "类型", "用户名", "IP 地址", "请求路径", "对象类型", "对象编号", "详情"]
