"""REST API v1 and its offline OpenAPI documentation."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from branches.api.views import OrganizationViewSet
from members.api.views import MemberViewSet

router = DefaultRouter()
router.register("members", MemberViewSet, basename="member")
router.register("organizations", OrganizationViewSet, basename="organization")

urlpatterns = [
    path("v1/", include((router.urls, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
