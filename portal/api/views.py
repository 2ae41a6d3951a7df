"""The base of every API viewset: read-only, scoped by its queryset, token use recorded."""

from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext
from drf_spectacular.views import SpectacularAPIView
from rest_framework import exceptions, routers, views, viewsets

from portal.access import record_access
from portal.choices import AccessEventKind
from portal.models import ApiToken


class NeverCached:
    """Personal data (ID numbers and phones, masked or not): no browser or proxy cache keeps a
    copy of any answer, as the member list's exports are not kept either."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response


class TokenUseRecorded:
    """Records every call a token makes, with its status and, when it got data, the number of
    rows: probing for ids (404) or filters (400) is recorded too. Calls refused for the rate
    (429) are not: they read nothing, and recording them would let a token flood the trail.

    Signed-in staff calling the API with their session (no token) are recorded when they get a
    page of a list: that is an export, as the list pages' export button is.
    """

    counts_rows = True  # False where the answer is no rows (the API's root: its links)

    def token(self) -> ApiToken | None:
        return self.request.auth if isinstance(self.request.auth, ApiToken) else None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        token = self.token()
        # OPTIONS answers the endpoint's description, not its rows.
        reads = self.counts_rows and request.method != "OPTIONS"
        data = response.data if response.status_code == 200 and reads else None
        paged = isinstance(data, dict) and "results" in data
        if token is not None and response.status_code != 429:
            detail = {"token": token.name, "status": response.status_code}
            if data is not None:
                detail["rows"] = len(data["results"]) if paged else 1
            record_access(
                kind=AccessEventKind.TOKEN_USE,
                request=request,
                unmasked=token.unmasked,
                **detail,
            )
        elif token is None and paged and request.user.is_authenticated:
            record_access(
                kind=AccessEventKind.EXPORT,
                request=request,
                source="api",
                scope=request.path,
                rows=len(data["results"]),
            )
        return response


class ApiRootView(NeverCached, TokenUseRecorded, routers.APIRootView):
    """接口根目录：列出各接口的地址。"""

    counts_rows = False

    def get_view_name(self):
        return gettext("接口根目录")  # the browsable API's title and breadcrumb, and OPTIONS


class ScopedReadOnlyViewSet(NeverCached, TokenUseRecorded, viewsets.ReadOnlyModelViewSet):
    # Concrete viewsets declare ``get_queryset`` from ``Model.objects.visible_to(user)``, and a
    # docstring in Chinese: it is their description at /api/docs/ and in the browsable API.

    def get_view_name(self):
        # OPTIONS and the browsable API name the endpoint: 党员列表, not DRF's "Member List".
        noun = self.get_serializer_class().Meta.model._meta.verbose_name
        if self.suffix == "List":
            return gettext("%(noun)s列表") % {"noun": noun}
        if self.suffix == "Instance":
            return gettext("%(noun)s详情") % {"noun": noun}
        return super().get_view_name()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        token = self.token()
        context["unmasked"] = bool(token and token.unmasked)
        return context


class ApiNotFoundView(NeverCached, TokenUseRecorded, views.APIView):
    """Any other path under /api/v1/: 404 in JSON, as the API answers, not the HTML page; a
    token's call is recorded like any other, and without a key it is 401, as everywhere."""

    schema = None  # not an endpoint of the OpenAPI schema
    counts_rows = False

    def get_view_name(self):
        return gettext("未找到")

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated, allowed, within the rate
        raise exceptions.NotFound()


class SchemaView(TokenUseRecorded, SpectacularAPIView):
    """The OpenAPI schema: a token's call to it is recorded like any call a token makes (the
    schema holds no rows: none are counted)."""

    counts_rows = False
