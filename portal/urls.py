"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path

from portal import views

admin.site.site_header = "流动党员管理门户"
admin.site.site_title = "流动党员管理门户"
admin.site.index_title = "后台管理"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.account_urls")),
    path("api/", include("portal.api.urls")),
    path("audit/", include("portal.audit_urls")),
    path("orgs/", include("branches.urls")),
    path("members/", include("members.urls")),
    path("rosters/", include("rosters.urls")),
    path("", include("portal.web_urls")),
]
