"""Pages of the organization tree."""

from django.urls import path

from . import views

app_name = "branches"
urlpatterns = [
    path("", views.OrganizationTreeView.as_view(), name="tree"),
    path("<int:pk>/", views.OrganizationDetailView.as_view(), name="detail"),
]
