"""Response examples of the portal core's API (procedure drafts, signing state), as the OpenAPI schema shows
them, and the helper every app's API wraps its examples with."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

SIGNING_STATE = {"id": 8, "username": "sec.lee", "consecutive_failures": 0, "locked_at": None}

DRAFT = {
    "id": 4,
    "procedure": "emergency-bypass-workflow",
    "title": "Emergency bypass workflow",
    "base_version": 3,
    "status": "in_review",
    "author": "qms.kim",
    "change_note": "Security signs every L2 bypass.",
    "definition": {"schema": "qms-procedure/1", "code": "emergency-bypass-workflow"},
    "submitted_at": "2026-11-28T10:00:00Z",
    "effective_from": None,
    "published_version": None,
    "changes": ["bypass L2 signers: security added."],
    "missing_roles": ["quality"],
    "signatures": [],
}


def response(name: str, value) -> list[OpenApiExample]:
    return [OpenApiExample(name, value=value, response_only=True)]
