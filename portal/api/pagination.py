"""Cursor pagination over a unique key: stable under inserts, no OFFSET scans on big tables."""

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class PortalCursorPagination(CursorPagination):
    ordering = "pk"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = _("每页条数，默认 %(n)s，最多 %(max)s") % {
                    "n": self.page_size,
                    "max": self.max_page_size,
                }
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def decode_cursor(self, request):
        # A cursor is only base64 of "p=<pk>": a forged one whose position is no id would
        # reach the database as pk > 'abc' and end in a server error.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                int(cursor.position)
            except ValueError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor
