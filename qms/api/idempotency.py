"""``Idempotency-Key`` on every write to the API: a retried POST (or PUT, PATCH, DELETE) gets the first
answer again and does nothing twice (no second stub, signature or vote).

The first request with a key stores, per principal (the token, or the signed-in user) and key, a hash of
its method, path and body, then its answer. A retry with the same key and the same request is answered from
the store (``Idempotent-Replayed: true``); the same key with another request is 422; a retry while the
first is still running is 409. Answers that say nothing happened and a retry may do better (5xx, 401, 403,
408, 409, 425, 429) are not stored: the key is free again. Keys are kept ``API_IDEMPOTENCY_HOURS`` (24).

The middleware also starts each API request with no token in the audit context (``qms.api.context``).
"""

from __future__ import annotations

import hashlib
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from qms.api.context import current_api_token
from qms.api.problems import problem_response
from qms.models import IdempotencyRecord
from qms.services.tokens import token_find

HEADER = "HTTP_IDEMPOTENCY_KEY"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
NOT_STORED = {401, 403, 408, 409, 425, 429}
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location", "Last-Modified")
CHUNK = 64 * 1024


def _principal(request) -> str | None:
    auth = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(auth) == 2 and auth[0].lower() in ("token", "bearer"):
        token = token_find(auth[1])
        return f"token:{token.pk}" if token is not None and token.is_usable else None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _request_hash(request) -> str:
    """SHA-256 of method, path with query and body; the body is spooled so the view still reads it."""
    digest = hashlib.sha256(f"{request.method}\n{request.get_full_path()}\n".encode())
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (it becomes the request's stream)
    while chunk := request._stream.read(CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    request._stream = spool
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
    for name, value in record.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


class ApiRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        context = current_api_token.set(None)
        try:
            key = request.META.get(HEADER)
            if key is None or request.method not in WRITE_METHODS:
                return self.get_response(request)
            return self._idempotent(request, key)
        finally:
            current_api_token.reset(context)

    def _idempotent(self, request, key: str):
        if not key or len(key) > 255 or not key.isascii() or not key.isprintable():
            return problem_response(request, 400, "The Idempotency-Key must be 1 to 255 printable ASCII characters.")
        principal = _principal(request)
        if principal is None:
            return self.get_response(request)  # the view refuses it (401)
        request_hash = _request_hash(request)
        keep = timedelta(hours=getattr(settings, "API_IDEMPOTENCY_HOURS", 24))
        IdempotencyRecord.objects.filter(principal=principal, key=key, created_at__lt=timezone.now() - keep).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    principal=principal,
                    key=key,
                    request_hash=request_hash,
                    method=request.method,
                    path=request.path[:300],
                )
        except IntegrityError:
            earlier = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
            if earlier is None:  # freed in between: the caller may retry at once
                return problem_response(request, 409, "A request with this Idempotency-Key just ended; retry.")
            if earlier.request_hash != request_hash:
                return problem_response(
                    request,
                    422,
                    "This Idempotency-Key was used for a different request (another method, path or body). "
                    "Use a new key for a new request.",
                )
            if earlier.completed_at is None:
                return problem_response(
                    request,
                    409,
                    "A request with this Idempotency-Key is still being processed; retry in a moment.",
                    headers={"Retry-After": "1"},
                )
            return _replay(earlier)
        response = self.get_response(request)
        if response.status_code >= 500 or response.status_code in NOT_STORED or response.streaming:
            record.delete()
            return response
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")
        record.headers = {h: response[h] for h in REPLAYED_HEADERS[1:] if h in response}
        record.body = response.content
        record.completed_at = timezone.now()
        record.save(update_fields=["status_code", "content_type", "headers", "body", "completed_at"])
        return response


def idempotency_records_purge(*, now=None) -> int:
    """Delete the records older than ``API_IDEMPOTENCY_HOURS`` (a beat job): their keys are free again and
    their answers are not replayed any more. Returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=getattr(settings, "API_IDEMPOTENCY_HOURS", 24))
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
