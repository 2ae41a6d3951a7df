"""The second factor: set up and verify a TOTP authenticator (optional; required for
administrators when PORTAL_REQUIRE_OTP_FOR_ADMINS is on)."""

import base64
import io

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.generic import FormView
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .access import record_access
from .choices import AccessEventKind


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("动态验证码"),
        min_length=6,
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def __init__(self, *args, device=None, **kwargs):
        self.device = device
        super().__init__(*args, **kwargs)

    def clean_token(self):
        token = self.cleaned_data["token"].strip()
        if not token.isdigit() or not self.device.verify_token(token):
            raise forms.ValidationError(_("验证码不正确或已过期，请输入验证器当前显示的 6 位数字"))
        return token


def _qr_data_uri(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


class OTPView(LoginRequiredMixin, FormView):
    """Verify with a confirmed authenticator, or set one up and confirm it with a first code."""

    template_name = "registration/otp.html"
    form_class = TokenForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.device = TOTPDevice.objects.devices_for_user(request.user, confirmed=True).first()
            self.setting_up = self.device is None
            if self.setting_up:
                self.device, _created = TOTPDevice.objects.get_or_create(
                    user=request.user, confirmed=False, defaults={"name": "default"}
                )
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "device": self.device}

    def form_valid(self, form):
        if self.setting_up:
            self.device.confirmed = True
            self.device.save(update_fields=["confirmed"])
        otp_login(self.request, self.device)
        target = self.request.GET.get("next", "/")
        if not url_has_allowed_host_and_scheme(target, {self.request.get_host()}):
            target = "/"
        return redirect(target)

    def form_invalid(self, form):
        # A wrong, expired or malformed code is a failed second factor: recorded like a failed
        # login (the code itself is not kept).
        record_access(
            kind=AccessEventKind.OTP_FAILED, request=self.request, setting_up=self.setting_up
        )
        return super().form_invalid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(setting_up=self.setting_up, **kwargs)
        if self.setting_up:
            context["qr"] = _qr_data_uri(self.device.config_url)
            context["secret"] = base64.b32encode(self.device.bin_key).decode()
        return context
