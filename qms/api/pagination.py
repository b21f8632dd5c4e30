"""Cursor pagination for the API's lists: a stable order (``ordering`` picks one of the list's orders), an
opaque cursor to the next and previous page, a page size within ``API_MAX_PAGE_SIZE``. A cursor never
skips or repeats a row when rows are added while a client pages, and costs the same on page 1 and page 1000."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import CursorPagination


class BoundedCursorPagination(CursorPagination):
    """``?ordering=`` one of the view's ``orderings`` (a newest-first default); ``?page_size=`` bounded."""

    page_size_query_param = "page_size"
    ordering = "-pk"

    @property
    def max_page_size(self) -> int:
        return getattr(settings, "API_MAX_PAGE_SIZE", 200)

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size or 50
        try:
            value = int(raw, 10)
        except ValueError:
            raise serializers.ValidationError({"page_size": ["A whole number is required."]}) from None
        if not 1 <= value <= self.max_page_size:
            raise serializers.ValidationError({"page_size": [f"Must be between 1 and {self.max_page_size}."]})
        return value

    def get_ordering(self, request, queryset, view):
        orderings = getattr(view, "orderings", {})
        chosen = request.query_params.get("ordering", "")
        if chosen:
            if chosen not in orderings:
                raise serializers.ValidationError({"ordering": [f"One of: {', '.join(sorted(orderings))}."]})
            return orderings[chosen]
        return orderings.get(getattr(view, "default_ordering", ""), (self.ordering,))

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        orderings = sorted(getattr(view, "orderings", {}))
        if orderings:
            parameters.append(
                {
                    "name": "ordering",
                    "required": False,
                    "in": "query",
                    "description": "The order of the list.",
                    "schema": {"type": "string", "enum": orderings},
                }
            )
        return parameters


class ChoiceOrderingFilter:
    """``?ordering=`` one of the view's ``orderings`` (name -> fields) for a list paged by limit and offset;
    anything else is a 400 naming the choices. Without it, the list keeps its selector's order."""

    def filter_queryset(self, request, queryset, view):
        orderings = getattr(view, "orderings", {})
        chosen = request.query_params.get("ordering", "")
        if not chosen:
            return queryset
        if chosen not in orderings:
            raise serializers.ValidationError({"ordering": [f"One of: {', '.join(sorted(orderings))}."]})
        return queryset.order_by(*orderings[chosen])

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "ordering",
                "required": False,
                "in": "query",
                "description": "The order of the list.",
                "schema": {"type": "string", "enum": sorted(getattr(view, "orderings", {}))},
            }
        ]
