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
ERRORS_OF_WRITES = {
    "409": "A request with this Idempotency-Key is still being processed: retry in a moment.",
    "412": "If-Match names a version of the record that is no longer current: fetch it again.",
    "422": "This Idempotency-Key was used for a different request.",
}
WRITE_ONLY = {"415", *ERRORS_OF_WRITES}
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
            for status, description in {**ERRORS, **ERRORS_OF_WRITES}.items():
                if status in WRITE_ONLY and method == "get":
                    continue
                if status in WITH_PATH_PARAMS and "{" not in path:
                    continue
                responses.setdefault(status, {"content": {PROBLEM_JSON: {"schema": ref}}, "description": description})
            _document_headers(path, method, operation)
    return result


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any unique string (a UUID): a retry with the same key and request gets the first answer "
    "and changes nothing again (kept 24 h, per token or user).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    "example": "3f0c2f4e-5d0b-4a53-9b9a-0d1f6c9e7a11",
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of the record as you read it: the write goes ahead only if it is still current "
    "(else 412).",
    "schema": {"type": "string"},
}
ETAG = {"description": "The version of the record (send it back in If-Match).", "schema": {"type": "string"}}


def _document_headers(path: str, method: str, operation: dict) -> None:
    parameters = operation.setdefault("parameters", [])
    if method != "get":
        parameters.append(dict(IDEMPOTENCY_KEY))
        if "{" in path:
            parameters.append(dict(IF_MATCH))
    elif "{" in path:
        ok = operation.get("responses", {}).get("200")
        if ok is not None:
            ok.setdefault("headers", {})["ETag"] = ETAG


def page_not_found(request, exception):
    """404 for a URL no route matches: JSON under /api/ (as the schema documents), the page elsewhere."""
    if request.path.startswith("/api/"):
        return problem_response(request, 404, "No such endpoint.")
    return defaults.page_not_found(request, exception)
