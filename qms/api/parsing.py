"""The request-parsing layer of the API: what a body or a query string may hold before any view sees it.

Every limit answers a 400 with a message that names what was wrong (and, for a field, the field as the
client spelled it), never a 500 from the JSON decoder's recursion, from PostgreSQL refusing a NUL byte or
an integer beyond 64 bits, or from a body that does not fit in memory:

- JSON bodies: at most ``API_MAX_BODY_BYTES``, nested at most ``API_MAX_JSON_DEPTH`` deep, numbers finite
  and integers within PostgreSQL's ``bigint``, no NUL character in any key or string;
- form and multipart bodies to the API: no NUL character in a value (Django's size limits apply);
- pagination: ``limit`` and ``offset`` are integers within bounds (``API_MAX_PAGE_SIZE``, ``API_MAX_OFFSET``).

Query strings of every page and endpoint are checked by ``qms.middleware.RequestSanityMiddleware``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

from django.conf import settings
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
NUL = "\x00"
NUL_MESSAGE = "Null characters are not allowed."


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", 1024 * 1024)


def max_depth() -> int:
    return getattr(settings, "API_MAX_JSON_DEPTH", 32)


class InvalidBody(ParseError):
    """A body the API refuses; ``detail`` is a message or a dict of messages per field (as sent)."""


def _walk(value, path: tuple, depth: int) -> Iterator[tuple[tuple, str]]:
    """(path, problem) for everything in decoded JSON that the API refuses."""
    if depth > max_depth():
        yield path, f"Nested more than {max_depth()} levels deep."
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield (*path, key.replace(NUL, "\\u0000")), "Null characters are not allowed in a key."
                continue
            yield from _walk(item, (*path, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index), depth + 1)
    elif isinstance(value, str):
        if NUL in value:
            yield path, NUL_MESSAGE
    elif isinstance(value, OutOfRange):
        yield path, f"The number {value.text} is out of range."
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and not BIGINT_MIN <= value <= BIGINT_MAX:
        yield path, "This number is out of range."


def field_name(path: tuple) -> str:
    """A field's name as the client sent it: ``remediation.due``, ``checks.2``; ``body`` for the whole."""
    return ".".join(str(p) for p in path) or "body"


def problems_in(data) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, problem in _walk(data, (), 1):
        found.setdefault(field_name(path), []).append(problem)
        if len(found) >= 20:
            break
    return found


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows.")


class OutOfRange:
    """A JSON number no float holds (``1e400``): kept as a marker so that the error names its field."""

    def __init__(self, text: str):
        self.text = text[:40]


def _finite_float(text: str) -> float | OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OutOfRange(text)


def read_limited(stream, limit: int) -> bytes:
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise InvalidBody(f"The request body is larger than {limit} bytes.")
    return data


class SafeJSONParser(parsers.JSONParser):
    """JSON with limits: size, nesting depth, finite in-range numbers, no NUL (see the module)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = read_limited(stream, max_body_bytes())
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InvalidBody(f"The body is not valid {encoding}.") from exc
        try:
            data = json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise InvalidBody(f"JSON nested more than {max_depth()} levels deep.") from exc
        except ValueError as exc:
            raise InvalidBody(f"JSON parse error: {exc}") from exc
        problems = problems_in(data)
        if problems:
            raise InvalidBody(problems)
        return data


def _refuse_nul_values(data) -> None:
    problems = {key: [NUL_MESSAGE] for key, values in data.lists() for v in values if isinstance(v, str) and NUL in v}
    if any(NUL in key for key in data):
        problems["body"] = ["Null characters are not allowed in a field name."]
    if problems:
        raise InvalidBody(problems)


class SafeFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul_values(data)
        return data


class SafeMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        _refuse_nul_values(result.data)
        return result


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Limit/offset pagination that refuses (400) what it cannot serve instead of passing it to the database."""

    @property
    def max_limit(self) -> int:
        return getattr(settings, "API_MAX_PAGE_SIZE", 200)

    @staticmethod
    def _bounded(request, name: str, *, low: int, high: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw, 10)
        except ValueError:
            raise serializers.ValidationError({name: ["A whole number is required."]}) from None
        if not low <= value <= high:
            raise serializers.ValidationError({name: [f"Must be between {low} and {high}."]})
        return value

    def get_limit(self, request):
        return self._bounded(request, self.limit_query_param, low=1, high=self.max_limit, default=self.default_limit)

    def get_offset(self, request):
        high = getattr(settings, "API_MAX_OFFSET", 10_000_000)
        return self._bounded(request, self.offset_query_param, low=0, high=high, default=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_limit})
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update({"minimum": 0, "maximum": getattr(settings, "API_MAX_OFFSET", 10_000_000)})
        return parameters
