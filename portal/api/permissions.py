"""API permissions: signed in, and service accounts may only read."""

from rest_framework import permissions

from portal.models import ApiToken


class IsAuthenticatedReadOnlyToken(permissions.IsAuthenticated):
    """Any signed-in user; a request authenticated by an API token may only read (else 403)."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        if isinstance(request.auth, ApiToken):
            return request.method in permissions.SAFE_METHODS
        return True
