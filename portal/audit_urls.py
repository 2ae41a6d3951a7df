"""The auditor's pages."""

from django.urls import path

from . import audit_views

app_name = "audit"
urlpatterns = [
    path("", audit_views.ChangeTrailView.as_view(), name="changes"),
    path("access/", audit_views.AccessTrailView.as_view(), name="access"),
    path("export/<str:which>.csv", audit_views.AuditExportView.as_view(), name="export"),
]
