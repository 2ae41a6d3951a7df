"""REST API v1 and its offline OpenAPI documentation."""

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from branches.api.views import OrganizationViewSet
from members.api.views import MemberViewSet
from portal.api.views import ApiNotFoundView, ApiRootView, SchemaView

# drf-spectacular's Swagger UI page keeps three layout rules in an inline <style>; that block
# alone, by its hash, is allowed on that page (checked in a browser: tests/browser/test_pages.py).
SWAGGER_UI_STYLE = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"

router = DefaultRouter()
router.APIRootView = ApiRootView  # token use recorded there too
router.register("members", MemberViewSet, basename="member")
router.register("organizations", OrganizationViewSet, basename="organization")

urlpatterns = [
    path("v1/", include((router.urls, "api"), namespace="v1")),
    # Last under v1/, and only for paths ending in a slash: one without is still sent to its
    # slashed form first (APPEND_SLASH), which a catch-all matching it would stop.
    re_path(r"^v1/.*/$", ApiNotFoundView.as_view(), name="api-not-found"),
    # The schema for a token or a signed-in user only (SPECTACULAR_SETTINGS' SERVE_PERMISSIONS):
    # a map of the endpoints and filters is nobody else's business. The docs page sends a
    # visitor not signed in to the sign-in page, as every other page does. A token's call to it
    # is recorded like any other.
    path("schema/", SchemaView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP.
    path(
        "docs/",
        login_required(
            csp_update({"style-src": [SWAGGER_UI_STYLE]})(
                SpectacularSwaggerSplitView.as_view(url_name="schema")
            )
        ),
        name="api-docs",
    ),
]
