"""Cursor pagination for lists that grow without bound and are read by script (patch packages, their units):
a page is found by position, not by offset, so a row filed while a client pages through does not shift the
pages after it, and page 10,000 costs what page 1 does.

A view names the orderings it offers (``ordering_choices``: what the client sends -> the fields, the first
decides the position) and its default (``default_ordering``). Everything the client sends is checked before
it reaches the database: ``ordering`` among the choices, ``limit`` within ``API_MAX_PAGE_SIZE``, and a cursor
that decodes to a position of the ordering's type, else a 400 naming the parameter (never a 404 or a 500).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

POSITION_MAX = 300


def ordering_param(request, view) -> tuple[str, ...]:
    """The fields a list is ordered by, from its ``ordering`` parameter (400 for one not offered)."""
    choices = view.ordering_choices
    raw = request.query_params.get("ordering", "") or view.default_ordering
    if raw not in choices:
        raise serializers.ValidationError({"ordering": [f"Choose one of: {', '.join(sorted(choices))}."]})
    return choices[raw]


class BoundedCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    invalid_cursor_message = "This cursor is not one the list gave: start again without it."

    @property
    def max_page_size(self) -> int:
        return getattr(settings, "API_MAX_PAGE_SIZE", 200)

    def get_ordering(self, request, queryset, view):
        return ordering_param(request, view)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            value = int(raw, 10)
        except ValueError:
            raise serializers.ValidationError({"limit": ["A whole number is required."]}) from None
        if not 1 <= value <= self.max_page_size:
            raise serializers.ValidationError({"limit": [f"Must be between 1 and {self.max_page_size}."]})
        return value

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

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

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        parameters.append(
            {
                "name": "ordering",
                "required": False,
                "in": "query",
                "description": "The order of the list.",
                "schema": {"type": "string", "enum": sorted(view.ordering_choices), "default": view.default_ordering},
            }
        )
        return parameters
