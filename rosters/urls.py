"""Pages of roster imports and ledger exports."""

from django.urls import path, re_path

from . import views

app_name = "rosters"
urlpatterns = [
    path("", views.RosterIndexView.as_view(), name="index"),
    path("template.xlsx", views.RosterTemplateView.as_view(), name="template"),
    path("upload/", views.RosterUploadView.as_view(), name="upload"),
    path("imports/<int:pk>/", views.ImportDetailView.as_view(), name="detail"),
    path("imports/<int:pk>/progress/", views.ImportProgressView.as_view(), name="progress"),
    path("imports/<int:pk>/confirm/", views.ImportConfirmView.as_view(), name="confirm"),
    re_path(
        r"^imports/(?P<pk>[0-9]+)/errors\.(?P<fmt>xlsx|csv)$",
        views.ImportDownloadView.as_view(what="errors"),
        name="errors",
    ),
    re_path(
        r"^imports/(?P<pk>[0-9]+)/bad-rows\.(?P<fmt>xlsx|csv)$",
        views.ImportDownloadView.as_view(what="bad-rows"),
        name="bad_rows",
    ),
    path("export/", views.LedgerExportView.as_view(), name="export"),
    path("export/members/", views.MemberListExportView.as_view(), name="export_members"),
]
