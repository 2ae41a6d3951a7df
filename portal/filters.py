"""Filters shared by the FilterSets of every app."""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_NO_CHOICE = (None, "", "unknown")  # unknown: the select's own "not chosen"


class YesNoSelect(forms.NullBooleanSelect):
    """Django's yes/no select, but the value reaches the field as typed: the select reads a
    value it does not know as "not chosen", and its old 2 and 3 as yes and no."""

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class YesNoField(forms.NullBooleanField):
    """Yes, no or not chosen; any other value is refused rather than read as not chosen."""

    widget = YesNoSelect

    def to_python(self, value):
        result = super().to_python(value)
        if result is None and value not in _NO_CHOICE:
            raise ValidationError(_("只能是 true（是）或 false（否）。"), code="invalid")
        return result


class YesNoFilter(django_filters.BooleanFilter):
    """A yes/no filter: a typo (mobile=ture) is a 400 with its reason, not a list that
    silently ignores the filter and holds every row."""

    field_class = YesNoField
