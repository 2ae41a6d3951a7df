"""Token authentication for systems: keys are stored hashed, expire and can be revoked; an
address whose tokens are refused too often is locked out for a while."""

import pghistory
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from portal.access import record_access, token_lockout_seconds, token_refusal_count
from portal.api import schema  # noqa: F401 - registers the OpenAPI security scheme
from portal.choices import AccessEventKind, TokenRefusal
from portal.models import ApiToken, hash_token


class HashedTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <key>``; unknown, expired or revoked keys answer 401, and every
    refusal is recorded as an access event (never with the key: at most the token's name).
    After PORTAL_TOKEN_REFUSAL_LIMIT refusals from one address, it gets 429 for
    PORTAL_LOCKOUT_MINUTES without any key being looked up or recorded."""

    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        wait = token_lockout_seconds(request._request)
        if wait:
            raise exceptions.Throttled(
                wait=wait, detail=gettext("此地址的令牌验证失败次数过多，已暂停令牌访问。")
            )
        if len(header) != 2:
            raise self.refused(
                request, TokenRefusal.MALFORMED, _("令牌格式错误：应为“Token <令牌>”")
            )
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise self.refused(request, TokenRefusal.MALFORMED, _("令牌含有非法字符")) from exc
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(key)).first()
        if token is None:
            raise self.refused(request, TokenRefusal.UNKNOWN)
        if token.revoked_at is not None:
            raise self.refused(request, TokenRefusal.REVOKED, token=token)
        if token.expires_at <= timezone.now():
            raise self.refused(request, TokenRefusal.EXPIRED, token=token)
        if not token.user.is_active:
            raise self.refused(request, TokenRefusal.INACTIVE, token=token)
        # The trail names the token's account from here on, its last use included: DRF sets
        # the request's user only once this returns.
        pghistory.context(user=token.user_id, username=token.user.get_username())
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    @staticmethod
    def refused(
        request, reason: TokenRefusal, message=None, *, token: ApiToken | None = None
    ) -> exceptions.AuthenticationFailed:
        """Record a refusal and return the 401 for the caller to raise, saying ``message``
        (by default the reason's label). An unknown key is recorded without any part of it; a
        known one by its token's name and service account. The refusal that locks the address
        says so (``locked``)."""
        detail = {"reason": reason.value}
        if token is not None:
            detail["token"] = token.name
        if token_refusal_count(request._request):
            detail["locked"] = True
        record_access(
            kind=AccessEventKind.TOKEN_REFUSED,
            request=request._request,
            username=token.user.get_username() if token is not None else "",
            **detail,
        )
        return exceptions.AuthenticationFailed(message or reason.label)

    def authenticate_header(self, request):
        return self.keyword


class CsrfCheckedSessionAuthentication(authentication.SessionAuthentication):
    """A signed-in browser's session, its unsafe calls CSRF-checked as DRF's are, refused in
    Chinese (DRF's own refusal reads "CSRF Failed: CSRF token missing.")."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise exceptions.PermissionDenied(gettext("CSRF 验证失败：请刷新页面后重试。")) from exc
