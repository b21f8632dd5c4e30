"""The alert intake endpoint: ``POST /integrations/alerts/<source>/`` (Alertmanager, PagerDuty, Opsgenie).

No session or CSRF: each tool authenticates itself (emergencies.services.intake). Answers 200 with what
happened, 202 when no routing rule matched, 400 with the reason for a malformed payload, 401 for a bad
signature or token, 413 for an oversized body, and 503 when the database cannot be reached (every tool
retries a 5xx)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from emergencies.services.alerts import alert_payload_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def alert_intake(request, source: str):
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.ALERT_PAYLOAD_MAX_BYTES:
        return JsonResponse(
            {"detail": f"The payload is larger than {settings.ALERT_PAYLOAD_MAX_BYTES} bytes."}, status=413
        )
    body = request.read(settings.ALERT_PAYLOAD_MAX_BYTES + 1)
    if len(body) > settings.ALERT_PAYLOAD_MAX_BYTES:
        return JsonResponse(
            {"detail": f"The payload is larger than {settings.ALERT_PAYLOAD_MAX_BYTES} bytes."}, status=413
        )
    try:
        result = alert_payload_receive(
            source=source, body=body, headers=dict(request.headers), remote_addr=request.META.get("REMOTE_ADDR", "")
        )
    except (OperationalError, InterfaceError) as exc:
        logger.warning("Alert intake from %s: database unavailable (%s)", source, exc)
        response = JsonResponse({"detail": "The database is unavailable; retry later."}, status=503)
        response["Retry-After"] = "30"
        return response
    except DatabaseError:
        logger.exception("Alert intake from %s failed", source)
        response = JsonResponse({"detail": "The payload could not be stored; retry later."}, status=503)
        response["Retry-After"] = "30"
        return response
    body = {"detail": result.detail, "payload": result.payload_id}
    if result.incidents:
        body["incidents"] = list(result.incidents)
    return JsonResponse(body, status=result.status)
