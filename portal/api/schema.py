"""OpenAPI description of the portal's token authentication."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class HashedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.HashedTokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Authorization: Token <令牌>（由 create_api_token 生成）",
        }


class CsrfCheckedSessionScheme(SessionScheme):
    """The portal's session authentication is documented as DRF's is (cookieAuth)."""

    target_class = "portal.api.authentication.CsrfCheckedSessionAuthentication"
