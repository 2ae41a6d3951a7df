"""Optimistic concurrency for edit forms: a save never silently undoes a change made meanwhile.

An edit form carries the version of the row it was opened on: the row's ``updated_at``, which
every write of an editable field sets (``auto_now`` on ``save``, and the roster import's
set-based updates in rosters/sql.py). The service that saves the form re-reads the row under the
row lock it takes anyway and refuses when the version changed since the form was opened: the
form would otherwise write back every value it was opened with, undoing the other change (an
import, another user's form) without anyone being told.
"""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A form that reached the server without the version it was opened on (a page kept open from
# before versions were sent, or a tampered one): whether it is stale cannot be told.
VERSION_MISSING = _(
    "页面已过期，无法确认您打开此页后信息是否被修改过，请重新打开此页，按最新信息重新填写"
)


def version_of(obj) -> str:
    """The version an edit form carries for ``obj`` (its ``updated_at``, to the microsecond)."""
    return obj.updated_at.isoformat()


def ensure_unchanged(obj, version: datetime.datetime | None, message) -> None:
    """Refuse to save over ``obj`` (read under its row lock) if it changed after ``version``.

    ``message`` names what changed and takes ``%(changed_at)s``, the time of the other change.
    ``None`` checks nothing: the caller did not open a form earlier (imports, services calling
    services). Versions are compared for equality, not order: an import stamps the rows it
    changes with the time it started, which may precede a form's save it waited for.
    """
    if version is None or obj.updated_at == version:
        return
    refuse_changed(obj, message)


def refuse_changed(obj, message) -> None:
    """Refuse a form as opened before ``obj`` was changed (or created), at ``obj.updated_at``."""
    changed_at = timezone.localtime(obj.updated_at)
    raise ValidationError(message % {"changed_at": f"{changed_at:%Y-%m-%d %H:%M:%S}"}, code="stale")


class VersionField(forms.CharField):
    """The hidden version of the row a form was opened on, read back as a datetime.

    Never a field error (a hidden field's error would be hidden with it): a missing or
    malformed value cleans to ``None``, and ``VersionedFormMixin`` says so above the form.
    """

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def has_changed(self, initial, data) -> bool:
        # An admin inline row is saved when it changed: a version alone does not make it so.
        return False

    def to_python(self, value) -> datetime.datetime | None:
        value = super().to_python(value)
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if timezone.is_aware(parsed) else None


class VersionedFormMixin:
    """A form that must come back with the version it was opened on (``version_fields``)."""

    version_fields: tuple[str, ...] = ("version",)

    def needs_version(self) -> bool:
        return True

    @property
    def is_stale(self) -> bool:
        """Refused for being opened on an older version (or none): the page offers to open the
        form again. Reloading would post the same stale form once more."""
        return any(self.has_error(NON_FIELD_ERRORS, code) for code in ("stale", "version_missing"))

    def clean(self):
        cleaned = super().clean()
        if self.needs_version() and any(cleaned.get(f) is None for f in self.version_fields):
            raise ValidationError(VERSION_MISSING, code="version_missing")
        return cleaned


class VersionedModelForm(VersionedFormMixin, forms.ModelForm):
    """A back-office form of a stored row that is refused when the row changed after it opened.

    ``lock(instance, version)`` is the entity's service that re-reads the row under its lock
    and checks the version (``members.services.member_lock``, ...). The back office validates
    and saves in one transaction (``ModelAdmin.changeform_view``), so the row stays locked from
    the check to the save. A new row (an add form, an inline's empty row) carries no version.
    """

    version = VersionField()
    lock = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.initial["version"] = version_of(self.instance)

    def needs_version(self) -> bool:
        return not self.instance._state.adding

    def clean(self):
        cleaned = super().clean()
        if self.needs_version():
            type(self).lock(self.instance, cleaned["version"])
            # The back office read the row before waiting for its lock: what the form does not
            # show (read-only fields) is saved as it is now, not as it was read.
            self.instance.refresh_from_db()
        return cleaned
