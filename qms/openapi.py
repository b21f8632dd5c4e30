"""OpenAPI schema completion: the error answers every API operation can give, so clients (and the
schemathesis run in CI) can rely on the schema for every status, not only the happy one."""

from __future__ import annotations

from django.views import defaults

from qms.api.problems import PROBLEM_JSON, problem_response

ERROR_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong (``detail``) and, for invalid input, every field error "
    "(``errors``), each named as the client sent it.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail"],
                "properties": {
                    "field": {"type": "string", "nullable": True},
                    "pointer": {"type": "string", "nullable": True},
                    "detail": {"type": "string"},
                },
            },
        },
        "retry_after": {"type": "integer"},
    },
    "additionalProperties": True,
    "example": {
        "type": "/api/problems/invalid",
        "title": "Invalid request",
        "status": 400,
        "detail": "title: This field may not be blank.",
        "instance": "/api/v1/emergencies/",
        "errors": [{"field": "title", "pointer": "#/title", "detail": "This field may not be blank."}],
    },
}
ERRORS = {
    "400": "The request is invalid (a field, a query parameter or the body); nothing was changed.",
    "401": "Sign in, or send a valid token (Authorization: Token …).",
    "403": "Your roles do not allow this, or your sign-in is not finished (second factor).",
    "404": "No such record, or not one you may see.",
    "405": "Method not allowed.",
    "406": "The requested format cannot be served.",
    "415": "Unsupported media type.",
    "429": "Too many requests: slow down and retry after the time given.",
}
WRITE_ONLY = {"415"}
WITH_PATH_PARAMS = {"404"}
METHODS = {"get", "post", "put", "patch", "delete"}


def add_error_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: document the error statuses of every operation."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("Problem", ERROR_SCHEMA)
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                if status in WRITE_ONLY and method == "get":
                    continue
                if status in WITH_PATH_PARAMS and "{" not in path:
                    continue
                responses.setdefault(status, {"content": {PROBLEM_JSON: {"schema": ref}}, "description": description})
    return result


def page_not_found(request, exception):
    """404 for a URL no route matches: JSON under /api/ (as the schema documents), the page elsewhere."""
    if request.path.startswith("/api/"):
        return problem_response(request, 404, "No such endpoint.")
    return defaults.page_not_found(request, exception)
