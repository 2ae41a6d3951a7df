"""The audit trail as the auditor reads it: the change trail (pghistory) and access events.

An event shows what it did to its row: an insert the row's values, a delete the row's last values,
an update the changed columns before and after. Sensitive columns are masked wherever the trail
is read (page and CSV) with ``portal.masking``, like everywhere else in the portal: phones by
``mask_phone``, ID numbers (stored encrypted, so the trail holds ciphertext) decrypted and
masked by ``mask_id_number``. The clear values never leave the server.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any, NamedTuple

import django_filters
from cryptography.exceptions import InvalidTag
from django import forms
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.core.validators import validate_ipv46_address
from django.db import connection
from django.db.models import CharField, Count, DateTimeField, Q, TextField, Value, Window
from django.db.models.functions import Cast
from django.db.models.query import EmptyQuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from pghistory.models import Event, Events

from members.constants import MEMBER_FREE_TEXT, MOBILITY_FREE_TEXT
from rosters.exports import escape_formula

from . import crypto, regions
from .choices import AccessEventKind, TokenRefusal
from .commandline import COMMAND_MARK
from .masking import mask_birth_date, mask_id_number, mask_in_text, mask_phone
from .models import AccessEvent

# Rows fetched per round trip by the CSV export's server-side cursor.
CHUNK_SIZE = 2000


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
    """All changes, newest first, with each row's values and the diff against the previous
    version of its object (``pgh_data``, ``pgh_diff``: both in the one query)."""
    # Events of one transaction share their time, and ids repeat across tables: the table
    # settles the order (ChangePages sorts the same way).
    return Events.objects.across(*event_models()).order_by(
        "-pgh_created_at", "-pgh_id", "-pgh_model"
    )


class ChangePages:
    """The filtered change trail, read in two steps: for Django's paginator and for the CSV.

    pghistory's aggregate query (``change_events``) works out every event's values and its
    diff against the previous version before it can sort and cut a page: seconds once an
    import has put a few hundred thousand events in the trail, and for the whole trail longer
    than any web request may take. Here the keys come first from the event tables alone (a
    UNION ALL of model, id and time, each table filtered by the same ChangeEventFilterSet),
    then the values of those events only, one query per event table of a page or a chunk.
    """

    def __init__(self, data) -> None:
        parts = []
        for model in event_models():
            filterset = ChangeEventFilterSet(data, queryset=model.objects.all())
            if not filterset.is_valid():
                continue
            keys = filterset.qs
            if isinstance(keys, EmptyQuerySet):  # another table than the one asked for
                continue
            parts.append(
                keys.annotate(model=Value(model._meta.label, CharField())).values_list(
                    "model", "pgh_id", "pgh_created_at"
                )
            )
        self.keys = parts[0].union(*parts[1:], all=True) if parts else None

    def count(self) -> int:
        return self.keys.count() if self.keys is not None else 0

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list:
        if self.keys is None:
            return []
        ordered = self.keys.order_by("-pgh_created_at", "-pgh_id", "-model")[window]
        return _events([(model, pgh_id) for model, pgh_id, _at in ordered])

    def counted(self, chunk_size: int | None = None) -> Iterator[tuple[int, Event]]:
        """Every event, newest first, each with the number of them all, for the CSV.

        The keys and their number come from one query, read through a server-side cursor, so
        the number is of exactly the events yielded while the trail grows; the values follow a
        chunk of keys at a time. (The count is a window over the union, which Django cannot
        annotate, hence the SQL around the union's own.)
        """
        if self.keys is None:
            return
        sql, params = self.keys.query.sql_with_params()
        # As QuerySet.iterator() does: no server-side cursor where the settings forbid them
        # (a PgBouncer in transaction mode), the keys then read whole.
        server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
            cursor.execute(
                "SELECT k.model, k.pgh_id, count(*) OVER () "
                f"FROM ({sql}) AS k ORDER BY k.pgh_created_at DESC, k.pgh_id DESC, k.model DESC",
                params,
            )
            while chunk := cursor.fetchmany(chunk_size or CHUNK_SIZE):
                total = chunk[0][2]
                for event in _events([(model, pgh_id) for model, pgh_id, _total in chunk]):
                    yield total, event


def _events(keys: list[tuple[str, int]]) -> list[Event]:
    """The events of ``keys`` (event model label, id) with their values, in the keys' order: one
    query per event table among them."""
    by_model: dict[str, list[int]] = {}
    for model, pgh_id in keys:
        by_model.setdefault(model, []).append(pgh_id)
    found = {}
    for label, ids in by_model.items():
        for event in Events.objects.across(apps.get_model(label)).filter(pgh_id__in=ids):
            found[(label, event.pgh_id)] = event
    return [found[key] for key in keys if key in found]


def _day() -> forms.DateInput:
    """A date picker (a phone's own), giving the ISO date the filter reads."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class TrailFilterForm(forms.Form):
    """The trail's filter form: a period that ends before it starts is said so, rather than
    shown as a trail with nothing in it."""

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", gettext("截止日期不能早于起始日期"))
        return data


class ChangeEventFilterSet(django_filters.FilterSet):
    """Search of the change trail: when, who, from where, which object."""

    since = django_filters.DateFilter(
        label=_("起始日期"), field_name="pgh_created_at", lookup_expr="date__gte", widget=_day()
    )
    until = django_filters.DateFilter(
        label=_("截止日期"), field_name="pgh_created_at", lookup_expr="date__lte", widget=_day()
    )
    username = django_filters.CharFilter(label=_("操作人"), method="by_operator")
    ip = django_filters.CharFilter(
        label=_("IP 地址"), field_name="pgh_context__ip", validators=[validate_ipv46_address]
    )
    model = django_filters.ChoiceFilter(
        label=_("对象类型"), choices=tracked_model_choices, method="by_model", empty_label=_("全部")
    )
    object_id = django_filters.CharFilter(label=_("对象编号"), method="by_object_id")
    label = django_filters.ChoiceFilter(
        label=_("操作"),
        field_name="pgh_label",
        choices=[("insert", _("新增")), ("update", _("修改")), ("delete", _("删除"))],
        empty_label=_("全部"),
    )

    class Meta:
        model = Events
        fields: list = []
        form = TrailFilterForm

    # Each filter works on pghistory's aggregate of every table (``change_events``, the CSV)
    # and on one event table (``ChangePages``, the page's keys).

    def by_operator(self, queryset, name, value):
        return queryset.filter(_operator("pgh_context__username", value))

    def by_model(self, queryset, name, value):
        if queryset.model is Events:
            return queryset.filter(pgh_obj_model=value)
        return (
            queryset if queryset.model.pgh_tracked_model._meta.label == value else queryset.none()
        )

    def by_object_id(self, queryset, name, value):
        # As text: the aggregate holds every table's ids as text, and "abc" is no error.
        return queryset.annotate(object_id=Cast("pgh_obj_id", TextField())).filter(object_id=value)


class AccessEventFilterSet(django_filters.FilterSet):
    """Search of access events: logins, failures, reveals, exports, token use."""

    since = django_filters.DateFilter(
        label=_("起始日期"), field_name="at", lookup_expr="date__gte", widget=_day()
    )
    until = django_filters.DateFilter(
        label=_("截止日期"), field_name="at", lookup_expr="date__lte", widget=_day()
    )
    kind = django_filters.ChoiceFilter(
        label=_("类型"), choices=AccessEventKind.choices, empty_label=_("全部")
    )
    username = django_filters.CharFilter(label=_("用户名"), method="by_operator")
    ip = django_filters.CharFilter(
        label=_("IP 地址"), field_name="ip_address", validators=[validate_ipv46_address]
    )
    object_id = django_filters.CharFilter(label=_("对象编号"))

    class Meta:
        model = AccessEvent
        fields: list = []
        form = TrailFilterForm

    def by_operator(self, queryset, name, value):
        return queryset.filter(_operator("username", value))


def _operator(field: str, username: str) -> Q:
    """The trail's search for an account: what it did, and what commands run as it did
    (recorded under its name with COMMAND_MARK after it)."""
    return Q(**{field: username}) | Q(**{f"{field}__startswith": username + COMMAND_MARK})


LABELS = {"insert": _("新增"), "update": _("修改"), "delete": _("删除")}


# ---------------------------------------------------------------------------------------------
# Values of an event, masked


def _clear(value: Any) -> Any:
    """The clear text of an encrypted column's value (``portal.crypto``); a value that is not
    ciphertext as it is; None if it cannot be decrypted (e.g. its key has been retired)."""
    if not isinstance(value, str) or crypto.SEPARATOR not in value:
        return value
    try:
        return crypto.decrypt(value)
    except (ValueError, ImproperlyConfigured, InvalidTag):
        return None


def _mask_encrypted_id_number(value: Any) -> Any:
    if not value:
        return value
    clear = _clear(value)
    return mask_id_number(clear) if clear is not None else gettext("（无法解密）")


# Sensitive columns of the tracked tables, by column name, and how the trail shows them.
MASKS: dict[str, Callable[[Any], Any]] = {
    "phone": lambda value: mask_phone(value) if value else value,
    "id_number": _mask_encrypted_id_number,
    "birth_date": lambda value: mask_birth_date(value) if value else value,
    "contact_person": lambda value: mask_in_text(value) if value else value,
}
# Free text someone typed, where a phone or an ID number may sit among other words.
for _free_text in {*MEMBER_FREE_TEXT, *MOBILITY_FREE_TEXT}:
    MASKS[_free_text] = MASKS["contact_person"]
# The same, for one model's column: what was typed as the username of a failed sign-in may be
# someone's phone or ID number (the access trail masks it likewise).
MODEL_MASKS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("portal.lockoutevent", "username"): MASKS["contact_person"],
}
# Encrypted columns: a new ciphertext of the same value (every save, a key rotation) is no change.
ENCRYPTED = frozenset({"id_number"})


def _masked(column: str, value: Any, event_model: str = "") -> Any:
    mask = MODEL_MASKS.get((event_model.lower(), column)) or MASKS.get(column)
    return mask(value) if mask is not None else value


@cache
def _columns(event_model_label: str) -> dict[str, Any]:
    """The tracked columns of an event table, in the model's field order: column -> field."""
    model = apps.get_model(event_model_label)
    return {f.column: f for f in model._meta.concrete_fields}


@cache
def _column_order(event_model_label: str) -> dict[str, int]:
    return {column: n for n, column in enumerate(_columns(event_model_label))}


class Change(NamedTuple):
    """One column of an event: its value before and after (None where the side is absent).

    ``model_field`` (the event model's field of that column) gives the page and the CSV its
    Chinese name and the labels of coded values.
    """

    field: str
    before: Any
    after: Any
    model_field: Any = None
    # The names of the objects a reference points to, where they still exist (object_names).
    before_name: str = ""
    after_name: str = ""

    @property
    def references(self) -> str:
        """The label of the model a reference column points to ("" for other columns)."""
        field = self.model_field
        if field is None or not field.many_to_one or field.related_model is None:
            return ""
        return field.related_model._meta.label_lower

    def named(self, names: dict[tuple[str, str], str]) -> Change:
        """This change with the names of the objects its reference column points to."""
        label = self.references
        if not label:
            return self
        return self._replace(
            before_name=names.get((label, str(self.before)), ""),
            after_name=names.get((label, str(self.after)), ""),
        )

    @property
    def label(self) -> str:
        return self.label_in(get_language())

    def label_in(self, language: str | None) -> str:
        if self.field == "id":  # the object's own key, copied into the event
            return _id_label(language)
        if self.model_field is None:
            return self.field
        # Join tables' columns are named by Django in English ("user", "permission"); its
        # catalog has them in Chinese.
        return _field_label(self.model_field, language)

    @property
    def before_text(self) -> str:
        text = _text(self.before, self.model_field)
        return f"{text}（{self.before_name}）" if self.before_name else text

    @property
    def after_text(self) -> str:
        text = _text(self.after, self.model_field)
        return f"{text}（{self.after_name}）" if self.after_name else text


def object_names(keys: Iterable[tuple[str, Any]]) -> dict[tuple[str, str], str]:
    """The names of objects, by (model label in lower case, primary key as text), for a page
    of the trail: an auditor reads 南村党支部 where the row holds 105. One query per model;
    objects deleted since have no name."""
    wanted: dict[str, set[str]] = {}
    for label, pk in keys:
        if label and pk not in (None, ""):
            wanted.setdefault(label.lower(), set()).add(str(pk))
    names: dict[tuple[str, str], str] = {}
    for label, pks in wanted.items():
        try:
            model = apps.get_model(label)
            values = [model._meta.pk.to_python(pk) for pk in pks]
        except (LookupError, ValueError, ValidationError):
            continue
        # Every reference of the model joined, nullable ones too: a role's __str__ names its
        # organization, and the page must not ask once per line.
        related = [f.name for f in model._meta.concrete_fields if f.many_to_one]
        for obj in model._base_manager.select_related(*related).filter(pk__in=values):
            names[(label, str(obj.pk))] = str(obj)
    return names


# Region codes (GB/T 2260) among the tracked columns: shown with the place they name.
REGION_COLUMNS = frozenset({"destination_code", "location_code"})


# A column's name and its codes' labels, translated once per language: the CSV of a trail of
# millions of events asks for them for every value.
@cache
def _field_label(model_field, language: str | None) -> str:
    return gettext(str(model_field.verbose_name))


@cache
def _id_label(language: str | None) -> str:
    return gettext("编号")


@cache
def _choice_labels(model_field, language: str | None) -> dict[Any, str]:
    return {value: str(label) for value, label in model_field.flatchoices}


def _text(value: Any, model_field=None, language: str | None = None) -> str:
    if value is None or value == "":
        return "—"
    if model_field is not None and model_field.name in REGION_COLUMNS and isinstance(value, str):
        place = regions.full_name(value)
        return f"{value}（{place}）" if place else value
    if isinstance(value, bool):
        return gettext("是") if value else gettext("否")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if model_field is not None and model_field.choices:
        return _choice_labels(model_field, language or get_language()).get(value, str(value))
    local = _local(value, model_field)
    if local is not value:  # a date-time: "2026-11-25 20:32:38.472847+08:00"
        return local.replace("T", " ", 1)
    return str(value)


def _local(value: Any, model_field) -> Any:
    """A date-time value (stored as UTC ISO text) in local time, as the event times are shown,
    to the microsecond and with its offset: two saves in one second still differ."""
    if isinstance(model_field, DateTimeField) and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None and timezone.is_aware(moment):
            return timezone.localtime(moment).isoformat()
    return value


def model_name(label: str) -> str:
    """A model's Chinese name from its label ("members.member"); the label if it is unknown."""
    try:
        return str(apps.get_model(label)._meta.verbose_name)
    except (LookupError, ValueError):
        return label


# Access events' details on the audit page and in its CSV: the keys' names, and the codes some of
# them hold.
DETAIL_LABELS = {
    "scope": _("范围"),
    "rows": _("行数"),
    "status": _("响应状态码"),
    "format": _("格式"),
    "source": _("来源"),
    "filters": _("筛选条件"),
    "file": _("文件"),
    "token": _("令牌"),
    "unmasked": _("不脱敏"),
    "reason": _("原因"),
    "locked": _("地址已锁定"),
    "field": _("字段"),
    "setting_up": _("首次绑定"),
}
DETAIL_VALUES = {
    "reason": {
        **dict(TokenRefusal.choices),
        "password_changed": _("密码已更改，会话此前已失效"),  # an expired session's
        "absolute": _("登录超过最长时限"),  # a session that outlived its absolute lifetime
        "locked_out": _("失败次数过多，用户名与地址已锁定"),  # a sign-in django-axes refused
    },
    "source": {"command": _("命令行"), "api": _("接口（登录会话）")},
}


def access_details(event, *, nested: bool = False) -> list[tuple[str, Any]]:
    """An access event's details as (name, value) pairs in Chinese, for the audit page and CSV.

    Values are text, as the page shows them; with ``nested`` (the CSV's JSON), filters and other
    structured values stay structures rather than JSON text inside JSON.
    """
    details: list[tuple[str, Any]] = []
    detail = event.detail or {}
    for key, value in detail.items():
        if key == "filter_names":  # read with the filters they name
            continue
        coded = DETAIL_VALUES.get(key, {})
        text = str(coded[value]) if isinstance(value, str) and value in coded else _text(value)
        if nested and isinstance(value, dict | list):
            text = value
        if key == "filters" and isinstance(value, dict):
            names = detail.get("filter_names")
            text = _filters_text(
                value, str(detail.get("scope", "")), names if isinstance(names, dict) else {}
            )
        if key == "field" and event.object_type:  # a revealed field: its name in the model
            with contextlib.suppress(LookupError, ValueError):
                text = _field_name(event.object_type, value)
        if key == "scope" and isinstance(value, str):
            text = _scope_text(value)
        details.append((str(DETAIL_LABELS.get(key, key)), text))
    return details


def _filter_sets() -> dict[str, type[django_filters.FilterSet]]:
    """The filters an export's scope was chosen with, by scope (see ``_scope_text``)."""
    from members.filtersets import MemberFilterSet

    return {
        "members": MemberFilterSet,
        "audit:changes": ChangeEventFilterSet,
        "audit:access": AccessEventFilterSet,
    }


def filter_names(filterset: django_filters.FilterSet, filters: dict) -> dict[str, str]:
    """What the given filters that pick an object (an organization) picked, by name: recorded
    beside an export's filters, so that the trail reads 党组织（含下级）=南村党支部, not an id,
    even after the organization is renamed or gone."""
    return {
        name: str(filterset.form.cleaned_data[name])
        for name in filters
        if isinstance(filterset.filters.get(name), django_filters.ModelChoiceFilter)
        and filterset.form.cleaned_data.get(name) is not None
    }


def _filters_text(filters: dict, scope: str, names: dict) -> str:
    """An export's filters as its page shows them: 党员类型=正式党员；流动党员=是, an
    organization by the name recorded with it (``filter_names``)."""
    filterset = _filter_sets().get("members" if scope.startswith("members?") else scope)
    order = list(filterset.base_filters) if filterset is not None else []
    parts = []
    # In the form's order (the stored JSON keeps its own).
    for name, value in sorted(filters.items(), key=lambda kv: _position(order, kv[0])):
        found = filterset.base_filters.get(name) if filterset is not None else None
        label = str(found.label) if found is not None and found.label else name
        choices = found.extra.get("choices") if found is not None else None
        if callable(choices):  # a list read when the form is made (provinces, tracked models)
            choices = choices()
        shown = dict(choices).get(value, value) if isinstance(choices, list | tuple) else value
        if name in names:
            shown = names[name]
        if isinstance(found, django_filters.BooleanFilter):
            shown = {"true": gettext("是"), "false": gettext("否")}.get(str(value).lower(), value)
        parts.append(f"{label}={shown}")
    return "；".join(parts) or gettext("无")


def _position(order: list[str], name: str) -> tuple[int, str]:
    return (order.index(name) if name in order else len(order), name)


def _field_name(label: str, name: str) -> str:
    """The Chinese name of a field of the model ``label`` or of a model hanging from it (the
    contact person revealed on a member's page is their current mobility's)."""
    model = apps.get_model(label)
    for candidate in (model, *(r.related_model for r in model._meta.related_objects)):
        with contextlib.suppress(FieldDoesNotExist):
            return str(candidate._meta.get_field(name).verbose_name)
    raise LookupError(name)


# What an export covered, where it is not an organization's code or a list's filters.
SCOPES = {
    "ledger:all": _("全部台账"),
    "audit:changes": _("变更记录"),
    "audit:access": _("访问记录"),
    "backup": _("数据库备份"),
}
IMPORT_DOWNLOADS = {"errors": _("错误清单"), "bad-rows": _("错误行")}


def _scope_text(scope: str) -> str:
    if scope in SCOPES:
        return str(SCOPES[scope])
    match = re.fullmatch(r"import:(\d+):([\w-]+)", scope)
    if match and match[2] in IMPORT_DOWNLOADS:
        return gettext("登记表导入 #%(n)s 的%(what)s") % {
            "n": match[1],
            "what": IMPORT_DOWNLOADS[match[2]],
        }
    if scope.startswith("members?"):  # the filters, by their labels, are a detail of their own
        return gettext("党员名册筛选结果")
    return scope


def event_changes(event) -> list[Change]:
    """What an event did, masked: an insert's values (after), a delete's last values (before),
    an update's changed columns (before and after). From the event row alone: no query."""
    columns, order = _columns(event.pgh_model), _column_order(event.pgh_model)
    if event.pgh_label in ("insert", "delete"):
        pairs = {k: v for k, v in (event.pgh_data or {}).items() if not k.startswith("pgh_")}
        if event.pgh_label == "insert":
            pairs = {k: (None, v) for k, v in pairs.items()}
        else:
            pairs = {k: (v, None) for k, v in pairs.items()}
    else:
        pairs = {
            k: (before, after)
            for k, (before, after) in (event.pgh_diff or {}).items()
            if not (
                k in ENCRYPTED and _clear(before) is not None and _clear(before) == _clear(after)
            )
        }
    return [
        Change(
            k,
            _masked(k, before, event.pgh_model),
            _masked(k, after, event.pgh_model),
            columns.get(k),
        )
        for k, (before, after) in sorted(
            pairs.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])
        )
    ]


def before_after(event) -> tuple[dict, dict]:
    """An event's values before and after, masked and in the words of the page: each column by
    its Chinese name, coded values by their labels, times local. An insert has no before, a
    delete no after. Missing values stay null, references their ids."""
    before, after, language = {}, {}, get_language()
    for change in event_changes(event):
        name = change.label_in(language)
        if name in before or name in after:  # two columns of one name: tell them apart
            name = f"{name}（{change.field}）"
        if event.pgh_label != "insert":
            before[name] = _shown(change.before, change.model_field, language)
        if event.pgh_label != "delete":
            after[name] = _shown(change.after, change.model_field, language)
    return before, after


def _shown(value: Any, model_field, language: str | None) -> Any:
    """A value of the export as the page writes it; an absent one as null, empty text as is."""
    return value if value is None or value == "" else _text(value, model_field, language)


# ---------------------------------------------------------------------------------------------
# CSV


class _Echo:
    """A file-like object whose write returns the line, for streaming CSV."""

    def write(self, value):
        return value


def csv_lines(
    objects: Iterable[tuple[int, Any]],
    header: list[str],
    to_row: Callable[[Any], Iterable],
    *,
    mark: str,
    on_total: Callable[[int], None],
) -> Iterator[str]:
    """Stream a CSV (UTF-8 with BOM so Excel opens Chinese text correctly): the watermark line,
    the header, one line per object.

    ``objects`` yields each object with the number of them all (``counted``,
    ``ChangePages.counted``): read by the query that reads the rows, so it is of exactly the
    rows written even while the trail grows. ``on_total`` gets it before the first line is
    yielded: the export is recorded before anything of it leaves. When the download stops
    early (the response is closed), ``objects`` is closed with it, and its cursor.
    """
    writer = csv.writer(_Echo())
    objects = iter(objects)
    try:
        first = next(objects, None)
        on_total(first[0] if first is not None else 0)
        yield "\ufeff" + writer.writerow([mark])
        yield writer.writerow(header)
        if first is None:
            return
        for _total, obj in itertools.chain([first], objects):
            yield writer.writerow([escape_formula(v) for v in to_row(obj)])
    finally:
        if hasattr(objects, "close"):
            objects.close()


def counted(queryset) -> Iterator[tuple[int, Any]]:
    """The objects of ``queryset``, each with the number of them all: one query, read in chunks
    through a server-side cursor."""
    annotated = queryset.annotate(export_total=Window(Count("*")))
    for obj in annotated.iterator(chunk_size=CHUNK_SIZE):
        yield obj.export_total, obj


def change_row(e) -> list:
    context = e.pgh_context or {}
    before, after = before_after(e)
    return [
        timezone.localtime(e.pgh_created_at).isoformat(),
        context.get("username", ""),
        context.get("ip", ""),
        context.get("method", ""),
        context.get("url", ""),
        _source(context),
        model_name(e.pgh_obj_model),
        e.pgh_obj_id,
        str(LABELS.get(e.pgh_label, e.pgh_label)),
        _json(before),
        _json(after),
    ]


def _source(context: dict) -> str:
    """What made a change besides a request, as the page says it: an import, a command."""
    if context.get("roster_import"):
        return gettext("登记表导入 #%(n)s") % {"n": context["roster_import"]}
    if context.get("command"):
        return gettext("命令 %(c)s") % {"c": context["command"]}
    return ""


def access_row(e) -> list:
    return [
        timezone.localtime(e.at).isoformat(),
        e.get_kind_display(),
        e.username,
        e.ip_address or "",
        e.path,
        model_name(e.object_type) if e.object_type else "",
        e.object_id,
        _json(dict(access_details(e, nested=True))),
    ]


def _json(value) -> str:
    if not value:
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


CHANGE_HEADER = [
    "时间",
    "操作人",
    "IP 地址",
    "请求方法",
    "请求路径",
    "来源",
    "对象类型",
    "对象编号",
    "操作",
    "变更前",
    "变更后",
]
ACCESS_HEADER = ["时间", "类型", "用户名", "IP 地址", "请求路径", "对象类型", "对象编号", "详情"]
