"""Cursor pagination over a unique key: stable under inserts, no OFFSET scans on big tables."""

from rest_framework.pagination import CursorPagination


class PortalCursorPagination(CursorPagination):
    ordering = "pk"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500
