"""Login, logout, the second factor and one's own password (Django's auth views with the
portal's templates)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.urls import path
from django.utils.translation import gettext_lazy as _

from .middleware import CHANGE_DUE_KEY
from .otp_views import OTPView
from .services import DUE_EXPIRED, DUE_INITIAL

DUE = {
    DUE_INITIAL: _("您的密码是管理员设置的初始密码，请先修改为只有您知道的密码。"),
    DUE_EXPIRED: _("您的密码已使用超过 %(days)d 天，请修改后继续使用。"),
}


class PasswordChangeView(auth_views.RedirectURLMixin, auth_views.PasswordChangeView):
    """Anyone signed in changes their own password (the password rules of settings apply).
    Django keeps this session and ends every other one: they were signed in with the old
    password, and the hourly sweep records them as ended by the change. After a login that
    found the password due (PasswordChangeRequiredMiddleware), this is the only page open."""

    template_name = "registration/password_change.html"
    next_page = "home"  # where to go without a safe ``next`` (Django's RedirectURLMixin)

    def get_context_data(self, **kwargs):
        due = self.request.session.get(CHANGE_DUE_KEY)
        reason = DUE[due] % {"days": settings.PORTAL_PASSWORD_MAX_AGE_DAYS} if due in DUE else ""
        return super().get_context_data(due=reason, next=self.get_redirect_url(), **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)  # the PasswordState is reset by the password's save
        self.request.session.pop(CHANGE_DUE_KEY, None)
        messages.success(self.request, _("密码已修改。其他设备上用旧密码的登录已失效。"))
        return response


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("otp/", OTPView.as_view(), name="otp"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),
]
