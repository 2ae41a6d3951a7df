"""Login and logout (Django's auth views with the portal's templates)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from .otp_views import OTPView

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("otp/", OTPView.as_view(), name="otp"),
]
