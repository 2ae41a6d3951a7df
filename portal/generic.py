"""Generic views of the browser shell: concrete views declare, these do (shared/STYLE.md).

Every object a page shows comes through ``Model.objects.visible_to(user)`` (portal/scoping.py):
an out-of-scope object is missing, so its detail and form pages answer 404 like a wrong id, and it
never reaches a list, a count or a filter choice.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.views.generic import DetailView, FormView, ListView
from django.views.generic.detail import SingleObjectMixin

from .scoping import scope_for

# Indentation of one tree level in organization choices (an ideographic space renders in every
# browser's <select>, where CSS padding does not).
TREE_INDENT = "\u3000"


class ScopedMixin(LoginRequiredMixin):
    """Login required; objects come only from ``model.objects.visible_to(user)``."""

    model = None
    select_related: tuple = ()
    prefetch_related: tuple = ()

    @cached_property
    def scope(self):
        return scope_for(self.request.user)

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not self.scope.sees_data:  # an auditor: the audit trail only
            raise PermissionDenied(_("您的角色只能查看审计记录"))
        response = self.prepare()
        return response or super().dispatch(request, *args, **kwargs)

    def prepare(self):
        """Checks that need the object, before GET or POST; a response ends the request."""
        return None

    def get_queryset(self):
        queryset = self.model.objects.visible_to(self.request.user)
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        if self.prefetch_related:
            queryset = queryset.prefetch_related(*self.prefetch_related)
        return queryset

    def get_context_data(self, **kwargs):
        kwargs.setdefault("scope", self.scope)
        return super().get_context_data(**kwargs)


class ScopedListView(ScopedMixin, ListView):
    """A filtered, paginated list: the model's one FilterSet over the user's visible rows.

    An invalid filter (e.g. an organization outside the scope) shows its error and no rows.
    """

    filterset_class = None
    paginate_by = 50
    filter_placeholders: dict = {}

    def get_queryset(self):
        queryset = super().get_queryset()
        self.filterset = None
        if self.filterset_class is None:
            return queryset
        self.filterset = self.filterset_class(
            self.request.GET, queryset=queryset, request=self.request
        )
        polish_filter_form(self.filterset.form, self.scope, self.filter_placeholders)
        if not self.filterset.is_valid():
            return queryset.none()
        return self.filterset.qs

    def paginate_queryset(self, queryset, page_size):
        """Out-of-range or malformed page numbers show the nearest page instead of a 404."""
        paginator = self.get_paginator(queryset, page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        filterset = self.filterset
        applied = {
            k for k, v in self.request.GET.items() if v and filterset and k in filterset.filters
        }
        context = super().get_context_data(
            filterset=filterset,
            filters_applied=bool(applied),
            # The search box always shows; the filters folded away on phones unfold when one of
            # them is set, not for a search alone (its results would sink below them).
            folded_filters_applied=bool(applied - {"q"}),
            **kwargs,
        )
        page = context.get("page_obj")
        if page is not None:
            context["page_range"] = page.paginator.get_elided_page_range(
                page.number, on_each_side=2, on_ends=1
            )
        return context


class ScopedDetailView(ScopedMixin, DetailView):
    """One object of the user's scope; anything else is a 404."""


class ServiceForm(forms.Form):
    """A form whose cleaned data feeds one service call.

    ``field_map`` names the form field that shows a service error raised on a model field
    (e.g. ``destination_code`` → ``destination``); errors on unknown fields go on top of the form.
    """

    field_map: dict[str, str] = {}

    def __init__(self, *args, user=None, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def service_kwargs(self) -> dict:
        return dict(self.cleaned_data)

    def add_service_error(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, errors in error.error_dict.items():
            target = self.field_map.get(name, name)
            self.add_error(target if target in self.fields else None, errors)


class ServiceFormView(ScopedMixin, SingleObjectMixin, FormView):
    """GET shows a form about one scoped object; POST calls the service (``perform``).

    Out of scope: 404. In scope without the write right (a read-only role): 403. A
    ``ValidationError`` from the service lands on the form; success redirects to the detail page
    with a message.
    """

    template_name = "generic/form.html"
    detail_url_name = ""
    write_org_attr = "home_org"
    title = ""
    submit_label = _("保存")
    success_message = ""

    def prepare(self):
        self.object = self.get_object()
        if not self.scope.can_write(getattr(self.object, self.write_org_attr)):
            raise PermissionDenied(_("您没有办理此项业务的权限"))
        refusal = self.refusal()
        if refusal:
            messages.warning(self.request, refusal)
            return redirect(self.get_success_url())
        return None

    def refusal(self) -> str | None:
        """Why the action does not apply to the object now (shown as a message), or None."""
        return None

    def perform(self, form):
        raise NotImplementedError

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form):
        try:
            self.perform(form)
        except ValidationError as error:
            form.add_service_error(error)
            return self.form_invalid(form)
        if self.success_message:
            messages.success(self.request, self.success_message % {"object": self.object})
        return redirect(self.get_success_url())

    def get_success_url(self):
        return reverse(self.detail_url_name, args=[self.object.pk])

    def get_context_data(self, **kwargs):
        kwargs.setdefault("title", self.title)
        kwargs.setdefault("submit_label", self.submit_label)
        kwargs.setdefault("cancel_url", self.get_success_url())
        return super().get_context_data(**kwargs)


def polish_filter_form(form, scope, placeholders: dict | None = None) -> None:
    """Make a FilterSet's form read well: "全部" for no choice, indented tree choices."""
    base_depth = min((p.strip("/").count("/") for p in scope.org_paths), default=0)
    for name, field in form.fields.items():
        if isinstance(field.widget, forms.NullBooleanSelect):
            # A plain select: NullBooleanSelect would mark "" selected for any value.
            field.widget = forms.Select(
                choices=[("", _("全部")), ("true", _("是")), ("false", _("否"))]
            )
        elif getattr(field, "empty_label", None) is not None:
            field.empty_label = _("全部")
            # The widget holds a shallow copy of the choices, bound to the class's field.
            field.widget.choices = field.choices
        queryset = getattr(field, "queryset", None)
        if queryset is not None and hasattr(queryset.model, "depth"):
            field.label_from_instance = lambda obj, base=base_depth: (
                TREE_INDENT * max(obj.depth - base, 0) + str(obj)
            )
        if placeholders and name in placeholders:
            field.widget.attrs["placeholder"] = placeholders[name]
