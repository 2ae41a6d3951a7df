"""The API's error answers, in Chinese like the rest of the portal."""

from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler


def portal_exception_handler(exc, context):
    """DRF's handler, but a missing object's 404 says 未找到。 without Django's English
    "No Member matches the given query.": the same answer for a missing id and one out of
    scope, whichever way the lookup failed."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return exception_handler(exc, context)
