"""Webhook deliveries: signature and replay checks, storage, and handling on the worker (once; a failure is
kept for a replay)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from emergencies.models.github import (
    GitHubDelivery,
    GitHubRepository,
)
from emergencies.services.github.events import EVENT_HANDLERS
from qms.models import User
from qms.outbox import outbox_enqueue

logger = logging.getLogger(__name__)


class WebhookRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def github_signature_valid(*, body: bytes, header: str, secret: str) -> bool:
    """``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body with the webhook secret; compared in
    constant time."""
    if not secret or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode())


def github_delivery_receive(*, delivery_id: str, event: str, signature: str, body: bytes) -> GitHubDelivery | None:
    """Verify and store one delivery; the worker handles it after commit. ``ping`` is answered, not stored."""
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not signature:
        raise WebhookRefused(401, "Unsigned delivery: X-Hub-Signature-256 is missing.")
    if not secret:
        raise WebhookRefused(503, "No webhook secret is configured (GITHUB_WEBHOOK_SECRET).")
    if not github_signature_valid(body=body, header=signature, secret=secret):
        raise WebhookRefused(401, "The signature does not match the body.")
    if not delivery_id or len(delivery_id) > 64 or not event or len(event) > 40:
        raise WebhookRefused(400, "X-GitHub-Delivery and X-GitHub-Event are required.")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookRefused(400, "The body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "The body is not a JSON object.")
    if event == "ping":
        return None
    full_name = (payload.get("repository") or {}).get("full_name") or ""
    repository = GitHubRepository.objects.filter(full_name__iexact=full_name, active=True).first()
    if repository is None:
        raise WebhookRefused(403, f"Repository {full_name or '(none)'} is not linked to the portal.")
    try:
        with transaction.atomic():
            delivery = GitHubDelivery.objects.create(
                delivery_id=delivery_id,
                event=event,
                action=str(payload.get("action") or "")[:40],
                repository=repository,
                payload=payload,
                received_at=timezone.now(),
            )
            _publish_delivery(delivery.pk)
    except IntegrityError as exc:
        raise WebhookRefused(409, f"Delivery {delivery_id} was received before: replay refused.") from exc
    return delivery


def _publish_delivery(pk: int) -> None:
    """Owe the worker this delivery in the caller's transaction (the task outbox: no broker in the request)."""
    outbox_enqueue("emergencies.tasks.github_delivery_process_task", pk)


def github_delivery_process(*, delivery_pk: int) -> GitHubDelivery | None:
    """Handle one stored delivery, once. An error is kept on the delivery (and rolled back), for a replay."""
    with transaction.atomic():
        delivery = (
            GitHubDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("repository")
            .filter(pk=delivery_pk)
            .first()
        )
        if delivery is None or delivery.processed_at is not None:
            return delivery
        delivery.attempts += 1
        try:
            with transaction.atomic():
                if handler := EVENT_HANDLERS.get(delivery.event):
                    handler(delivery)
        except Exception as exc:
            logger.exception("GitHub delivery %s failed", delivery.delivery_id)
            delivery.error = f"{type(exc).__name__}: {exc}"[:2000]
            delivery.save(update_fields=["attempts", "error"])
            return delivery
        delivery.processed_at, delivery.error = timezone.now(), ""
        delivery.save(update_fields=["attempts", "error", "processed_at"])
        return delivery


def github_delivery_replay(*, delivery_pk: int, actor: User) -> GitHubDelivery | None:
    """An administrator runs a failed delivery again (a processed one is never handled twice)."""
    if not actor.is_superuser:
        raise PermissionDenied("Only an administrator replays webhook deliveries.")
    return github_delivery_process(delivery_pk=delivery_pk)


def github_deliveries_pending(*, older_than_seconds: int = 30, limit: int = 200) -> list[int]:
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    qs = GitHubDelivery.objects.filter(processed_at__isnull=True, attempts=0, received_at__lt=cutoff)
    return list(qs.order_by("received_at").values_list("pk", flat=True)[:limit])
