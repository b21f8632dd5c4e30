"""Errors as RFC 9457 problem details (``application/problem+json``), for every API answer that is not a
success: DRF's exceptions, the services' ValidationError and PermissionDenied, Django's 404, the parsing
layer's refusals, and the middleware's (a bad query string, a lost database, an unknown URL).

    {"type": "https://qms.example/problems/invalid", "title": "Invalid request", "status": 400,
     "detail": "title: This field may not be blank.", "instance": "/api/v1/emergencies/",
     "errors": [{"field": "title", "pointer": "#/title", "detail": "This field may not be blank."}]}

``errors`` lists every field error by the name the client sent (a nested one as ``a.b``, its JSON pointer
``#/a/b``); errors about the request as a whole have ``field`` ``null``.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "/api/problems/"

TITLES = {
    400: ("invalid", "Invalid request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    412: ("precondition-failed", "Precondition failed"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable request"),
    428: ("precondition-required", "Precondition required"),
    429: ("throttled", "Too many requests"),
    503: ("unavailable", "Service unavailable"),
}
NON_FIELD_KEYS = {"non_field_errors", "__all__", "detail"}


def _flatten(detail, prefix: tuple = ()) -> list[tuple[tuple, str]]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            out += _flatten(value, prefix if key in NON_FIELD_KEYS and not prefix else (*prefix, key))
        return out
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, dict | list | tuple) for item in detail):
            return [(prefix, str(item)) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item:  # DRF gives {} for list items that were fine
                out += _flatten(item, (*prefix, index))
        return out
    return [(prefix, str(detail))]


def field_errors(detail) -> list[dict]:
    """DRF's error detail (or a dict of messages) as the ``errors`` member."""
    errors = []
    for path, message in _flatten(detail):
        name = ".".join(str(p) for p in path) or None
        pointer = "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else None
        errors.append({"field": name, "pointer": pointer, "detail": message})
    return errors


def problem(status_code: int, detail: str = "", *, errors: list[dict] | None = None, instance: str = "", **extra):
    slug, title = TITLES.get(status_code, ("error", "Error"))
    body = {"type": TYPE_BASE + slug, "title": title, "status": status_code, "detail": detail or title}
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(request, status_code: int, detail: str = "", *, errors=None, headers=None) -> JsonResponse:
    """A plain Django response (for middleware and handlers outside DRF)."""
    body = problem(status_code, detail, errors=errors, instance=request.path[:300])
    response = JsonResponse(body, status=status_code, content_type=PROBLEM_JSON, headers=headers)
    return response


def _summary(errors: list[dict]) -> str:
    parts = [f"{e['field']}: {e['detail']}" if e["field"] else e["detail"] for e in errors[:5]]
    return "; ".join(parts)


def django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"non_field_errors": exc.messages}


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error as a problem."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(django_validation_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    request = context.get("request")
    code = response.status_code
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    if isinstance(exc, exceptions.ValidationError) or isinstance(detail, dict | list):
        errors = field_errors(detail)
        body = problem(code, _summary(errors), errors=errors)
    else:
        body = problem(code, str(detail))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = int(exc.wait)
    if request is not None:
        body["instance"] = request.path[:300]
    return Response(
        body,
        status=code,
        headers={k: v for k, v in response.items() if k.lower() != "content-type"},
        content_type=PROBLEM_JSON,
    )


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it: fetch it again and retry with its new ETag."
    default_code = "precondition_failed"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


# --- a service called from a view ------------------------------------------------------------------------


def _raise_as_api_error(exc: DjangoValidationError, fields: dict[str, str] | None = None):
    """A service's ValidationError as a 400, each field error keyed by the name the client sent (``fields``
    maps the service's names to the API's where they differ)."""
    fields = fields or {}
    if hasattr(exc, "error_dict"):
        raise ValidationError(
            {fields.get(k, k): [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        ) from exc
    raise ValidationError({"non_field_errors": exc.messages}) from exc


def _call_service(fn, **kwargs):
    try:
        return fn(**kwargs)
    except DjangoValidationError as exc:
        _raise_as_api_error(exc)
    except DjangoPermissionDenied as exc:
        raise PermissionDenied(str(exc)) from exc
