"""Token authentication for systems: keys are stored hashed, expire and can be revoked."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from portal.api import schema  # noqa: F401 - registers the OpenAPI security scheme
from portal.models import ApiToken, hash_token


class HashedTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; unknown, expired or revoked keys answer 401."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("令牌格式错误:应为“Token <令牌>”"))
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("令牌含有非法字符")) from exc
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("令牌无效"))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("令牌已吊销"))
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(_("令牌已过期"))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("服务账号已停用"))
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
