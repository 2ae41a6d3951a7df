"""Login, logout, the second factor and one's own password (Django's auth views with the
portal's templates)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy
from django.utils.translation import gettext_lazy as _

from .otp_views import OTPView


class PasswordChangeView(auth_views.PasswordChangeView):
    """Anyone signed in changes their own password (the password rules of settings apply).
    Django keeps this session and ends every other one: they were signed in with the old
    password, and the hourly sweep records them as ended by the change."""

    template_name = "registration/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("密码已修改。其他设备上用旧密码的登录已失效。"))
        return response


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("otp/", OTPView.as_view(), name="otp"),
    path("password/", PasswordChangeView.as_view(), name="password_change"),
]
