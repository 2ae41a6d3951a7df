"""Template helpers of the browser shell: masking, the user's scope, Bootstrap widgets."""

from django import forms, template
from django.utils.translation import gettext as _

from portal import masking
from portal.choices import Role
from portal.scoping import scope_for

register = template.Library()


@register.filter
def mask_id(value: str) -> str:
    """An ID number as pages show it by default: ``1101**********002X``."""
    return masking.mask_id_number(value or "")


@register.filter
def mask_phone(value: str) -> str:
    """A phone as pages show it by default: ``138****8000``."""
    return masking.mask_phone(value or "")


@register.filter
def mask_text(value: str) -> str:
    """Free text with every mobile number and ID number in it masked (a contact person)."""
    return masking.mask_in_text(value or "")


@register.filter
def mask_birth(value) -> str:
    """A birth date as pages show it by default, the year only: ``1949-**-**``."""
    return masking.mask_birth_date(value)


@register.simple_tag(takes_context=True)
def user_scope(context):
    """The scope of the request's user (cached on the user for the request)."""
    request = context.get("request")
    return scope_for(getattr(request, "user", None))


@register.filter
def role_labels(scope) -> str:
    """The user's roles in Chinese, e.g. "党支部书记、审计员"."""
    labels = []
    for role in sorted(scope.roles):
        if role == "superuser":
            labels.append(_("系统管理员"))
        elif role in Role.values:
            labels.append(str(Role(role).label))
    return "、".join(labels)


def _widget_class(widget: forms.Widget, size: str) -> str:
    if isinstance(widget, forms.CheckboxInput):
        return "form-check-input"
    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        return ""
    base = "form-select" if isinstance(widget, forms.Select) else "form-control"
    return f"{base} {base}-{size}" if size else base


@register.simple_tag
def bs_widget(field, size: str = "", placeholder: str = ""):
    """Render a bound field's widget with Bootstrap classes, marked invalid when it has errors."""
    classes = [_widget_class(field.field.widget, size)]
    if field.errors:
        classes.append("is-invalid")
    attrs = {"class": " ".join(c for c in classes if c)}
    if placeholder:
        attrs["placeholder"] = placeholder
    if field.errors:
        attrs["aria-describedby"] = f"{field.auto_id}_errors"
    elif field.help_text:
        attrs["aria-describedby"] = f"{field.auto_id}_help"
    return field.as_widget(attrs=attrs)


@register.filter
def verbose_name(obj, field_name: str) -> str:
    """A model field's Chinese verbose name, so page labels and the model never disagree."""
    return obj._meta.get_field(field_name).verbose_name
