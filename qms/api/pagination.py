"""Pagination of every API list: cursor by default, limit/offset as a deprecated alternative.

A view names the orderings it offers (``orderings``: what the client sends -> the fields, the first decides the
position) and its default (``default_ordering``). The client pages by the opaque ``cursor`` of the ``next`` and
``previous`` links and sets the page size with ``limit`` (``page_size`` is the same thing by another name): a
row filed while a client pages does not shift the pages after it, and page 10,000 costs what page 1 does.

A client that sends ``offset`` gets the older limit/offset page instead (with ``count``, and a ``Deprecation``
header): it is kept for scripts written before cursors, costs a count and grows with the offset, and cannot be
mixed with a cursor. Everything the client sends is checked before it reaches the database (``ordering`` among
the choices, ``limit`` within ``API_MAX_PAGE_SIZE``, ``offset`` within ``API_MAX_OFFSET``, a cursor that decodes
to a position of the ordering's type), else a 400 naming the parameter — never a 404 or a 500.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from qms.api.parsing import BoundedLimitOffsetPagination

POSITION_MAX = 300
PAGE_SIZE_ALIAS = "page_size"
DEPRECATION_NOTE = "Deprecated: page with `cursor` instead. Sending `offset` switches to limit/offset pages."


def ordering_param(request, view) -> tuple[str, ...]:
    """The fields a list is ordered by, from its ``ordering`` parameter (400 for one not offered)."""
    choices = view.orderings
    raw = request.query_params.get("ordering", "") or view.default_ordering
    if raw not in choices:
        raise serializers.ValidationError({"ordering": [f"Choose one of: {', '.join(sorted(choices))}."]})
    return choices[raw]


class _OffsetPages(BoundedLimitOffsetPagination):
    default_limit = 50


class ListPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    offset_query_param = "offset"
    invalid_cursor_message = "This cursor is not one the list gave: start again without it."

    def __init__(self):
        self._offset_pages = None

    @property
    def max_page_size(self) -> int:
        return getattr(settings, "API_MAX_PAGE_SIZE", 200)

    def _size_param(self, request) -> str:
        params = request.query_params
        if params.get(self.page_size_query_param) in (None, "") and params.get(PAGE_SIZE_ALIAS) not in (None, ""):
            return PAGE_SIZE_ALIAS
        return self.page_size_query_param

    def get_ordering(self, request, queryset, view):
        return ordering_param(request, view)

    def get_page_size(self, request):
        name = self._size_param(request)
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return self.page_size
        try:
            value = int(raw, 10)
        except ValueError:
            raise serializers.ValidationError({name: ["A whole number is required."]}) from None
        if not 1 <= value <= self.max_page_size:
            raise serializers.ValidationError({name: [f"Must be between 1 and {self.max_page_size}."]})
        return value

    def paginate_queryset(self, queryset, request, view=None):
        if self.offset_query_param in request.query_params:
            if request.query_params.get(self.cursor_query_param):
                raise serializers.ValidationError({self.offset_query_param: ["Send a cursor or an offset, not both."]})
            ordered = queryset.order_by(*ordering_param(request, view))
            self._offset_pages = _OffsetPages()
            self._offset_pages.limit_query_param = self._size_param(request)
            return self._offset_pages.paginate_queryset(ordered, request, view)
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if self._offset_pages is not None:
            response = self._offset_pages.get_paginated_response(data)
            response["Deprecation"] = "true"
            return response
        return super().get_paginated_response(data)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise self._invalid() from None
        if cursor is None or cursor.position is None:
            return cursor
        position = cursor.position
        if len(position) > POSITION_MAX or "\x00" in position:
            raise self._invalid()
        try:
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            field.to_python(position)
        except (FieldDoesNotExist, DjangoValidationError, TypeError, ValueError):
            raise self._invalid() from None
        return cursor

    def _invalid(self):
        return serializers.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"] = {
            "type": "integer",
            "example": 123,
            "description": "Only on a limit/offset page (a request that sent `offset`).",
        }
        return response

    def get_schema_operation_parameters(self, view):
        maximum = self.max_page_size
        size = {"type": "integer", "minimum": 1, "maximum": maximum}
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The position of a page: from the `next` or `previous` link of the page before.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows on a page (1 to {maximum}, 50 if not given).",
                "schema": size,
            },
            {
                "name": PAGE_SIZE_ALIAS,
                "required": False,
                "in": "query",
                "description": "The same as `limit` (when `limit` is not given).",
                "schema": size,
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                "deprecated": True,
                "description": DEPRECATION_NOTE,
                "schema": {"type": "integer", "minimum": 0, "maximum": getattr(settings, "API_MAX_OFFSET", 10_000_000)},
            },
            {
                "name": "ordering",
                "required": False,
                "in": "query",
                "description": "The order of the list.",
                "schema": {"type": "string", "enum": sorted(view.orderings), "default": view.default_ordering},
            },
        ]
