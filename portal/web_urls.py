"""The browser shell's own pages (home)."""

from django.urls import path

from . import web_views

urlpatterns = [
    path("", web_views.HomeView.as_view(), name="home"),
]
