"""Password rules beyond Django's: letters, digits and symbols mixed (等保 2.0 level 3)."""

import string

from django.conf import settings
from django.contrib.auth.password_validation import (
    CommonPasswordValidator as _CommonPasswordValidator,
)
from django.contrib.auth.password_validation import (
    MinimumLengthValidator as _MinimumLengthValidator,
)
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _


class CharacterClassesValidator:
    """A password must contain letters, digits and symbols."""

    def validate(self, password, user=None):
        has_letter = any(c.isascii() and c.isalpha() for c in password)
        has_digit = any(c.isdigit() for c in password)
        has_symbol = any(c in string.punctuation or not c.isalnum() for c in password)
        if not (has_letter and has_digit and has_symbol):
            raise ValidationError(
                _("密码必须同时包含字母、数字和符号（如 !@#$%）"), code="password_classes"
            )

    def get_help_text(self):
        return _("密码必须同时包含字母、数字和符号。")


class DisguisedCommonPasswordValidator(_CommonPasswordValidator):
    """Django's list of common passwords, seen through the usual disguises: digits and symbols
    at either end (Admin@123, Qwerty@123) and symbols or digits for letters (P@ssw0rd1)."""

    _LETTERS = str.maketrans("@4$5!1|037+", "aassiiloett")
    _MIN_CORE = 4

    def validate(self, password, user=None):
        lowered = password.lower().strip()
        if lowered in self.passwords:  # as typed: 1qaz@WSX is on the list itself
            raise ValidationError(_("密码太常见：这是常用密码之一"), code="password_too_common")
        cores = {
            core.strip(string.digits + string.punctuation + " ")
            for core in (lowered, lowered.translate(self._LETTERS))
        }
        # The disguised letters first, then the ends: P@ssw0rd1 → p@ssw0rd → password.
        cores.add(lowered.strip(string.digits + string.punctuation + " ").translate(self._LETTERS))
        if any(len(core) >= self._MIN_CORE and core in self.passwords for core in cores):
            raise ValidationError(
                _("密码太常见：去掉首尾的数字和符号、还原 @、0 之类的替换字母后是常用密码"),
                code="password_too_common",
            )

    def get_help_text(self):
        return _("密码不能是常用密码，也不能是常用密码加上数字、符号或替换字母。")


class MinimumLengthValidator(_MinimumLengthValidator):
    """Django's length rule with a Chinese message (Django 5.2's new wording has no zh-Hans
    translation yet, and every message a user sees must be Chinese)."""

    def get_error_message(self):
        return _("密码太短：至少需要 %(min_length)d 个字符。") % {"min_length": self.min_length}

    def get_help_text(self):
        return _("密码至少需要 %(min_length)d 个字符。") % {"min_length": self.min_length}


class PasswordAgeValidator:
    """Not a rule on the password itself: Django tells every validator when a password has been
    set (``password_changed``), which is where its date is recorded (``PasswordState``). A
    password an administrator sets is then marked to be changed by ``password_set_by_admin``.
    The help text tells users how long a password lasts."""

    def validate(self, password, user=None):
        return None

    def password_changed(self, password, user=None):
        if user is None or user.pk is None:
            return
        from .models import PasswordState

        PasswordState.objects.update_or_create(
            user=user,
            defaults={"changed_at": timezone.now(), "must_change": False, "usable": True},
        )

    def get_help_text(self):
        days = settings.PORTAL_PASSWORD_MAX_AGE_DAYS
        if days:
            return _("密码有效期 %(days)d 天，到期后登录时须更换。") % {"days": days}
        return _("管理员设置的初始密码须在首次登录时更换。")
