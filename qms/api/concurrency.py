"""Optimistic concurrency: every record's representation has an ``ETag``; a write that sends ``If-Match``
goes ahead only if the record is still as the client read it, else 412 (fetch it again, then decide).

The tag is a hash of the record's full representation (its fields, signatures, votes…), so any change a
reader could see changes it. A write without ``If-Match`` is not conditional."""

from __future__ import annotations

import hashlib
import json

from qms.api.problems import PreconditionFailed


def etag_of(data) -> str:
    payload = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return '"' + hashlib.sha256(payload.encode()).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]


def precondition_check(request, current_representation) -> None:
    """Raise 412 when ``If-Match`` names a version of the record that is no longer current.

    ``current_representation`` is called only when the client sent ``If-Match``."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags:
        return
    if etag_of(current_representation()) not in tags:
        raise PreconditionFailed()


class ETagMixin:
    """For a DRF view answering one record: its ``ETag`` on every successful answer."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        if 200 <= response.status_code < 300 and isinstance(data, dict) and "id" in data:
            response["ETag"] = etag_of(data)
        return response
