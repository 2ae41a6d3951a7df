"""The API's error answers, in Chinese like the rest of the portal."""

from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.views import exception_handler


def portal_exception_handler(exc, context):
    """DRF's handler, but a missing object's 404 says 未找到。 without Django's English
    "No Member matches the given query.": the same answer for a missing id and one out of
    scope, whichever way the lookup failed; a body that does not parse is refused in Chinese."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, exceptions.ParseError):
        # DRF's parsers say "JSON parse error - " and the parser's own English after it.
        exc = exceptions.ParseError(_("请求正文的格式有误，无法解析。"))
    return exception_handler(exc, context)
