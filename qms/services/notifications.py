from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from qms.models import Notification, User

logger = logging.getLogger(__name__)


def notification_queue(
    *,
    recipients: Iterable[User],
    dedupe_prefix: str,
    template: str,
    context: dict,
    link: str = "",
    attachment: tuple[str, str, str] | None = None,
) -> list[Notification]:
    """Write one outbox row per recipient and send them to the worker once the transaction commits.

    ``dedupe_prefix`` names the event; a recipient gets one notification per event however often the
    caller runs (a beat job that runs twice notifies once).
    """
    recipients = {u.pk: u for u in recipients if u.is_active and u.email}
    if not recipients:
        return []
    keys = {f"{dedupe_prefix}:{pk}": pk for pk in recipients}
    existing = set(Notification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    url = absolute_url(link)
    rows = []
    for key, pk in keys.items():
        if key in existing:
            continue
        ctx = {**context, "recipient": recipients[pk], "url": url}
        rows.append(
            Notification(
                recipient=recipients[pk],
                dedupe_key=key,
                subject=_subject(template, ctx),
                body=render_to_string(f"emails/{template}.txt", ctx),
                html_body=render_to_string(f"emails/{template}.html", ctx),
                link=url,
                attachment_name=attachment[0] if attachment else "",
                attachment_content=attachment[1] if attachment else "",
                attachment_mimetype=attachment[2] if attachment else "",
            )
        )
    if not rows:
        return []
    created = bulk_create_with_history(rows, Notification, default_change_reason="queued")
    ids = list(Notification.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows]).values_list("pk", flat=True))

    def publish() -> None:
        _publish_notifications(ids)

    transaction.on_commit(publish, robust=True)
    return created


@dataclass(frozen=True)
class QueuedMessage:
    """One message for ``notification_queue_many``; ``context`` must be JSON (it is stored until delivery)."""

    recipient: User
    dedupe_key: str
    template: str
    context: dict
    link: str = ""


def notification_queue_many(*, messages: Iterable[QueuedMessage]) -> int:
    """Write many outbox rows in a few statements, their bodies rendered by the worker at delivery.

    For jobs that tell hundreds of people about thousands of records at once (the escalation sweep): only the
    one-line subject is rendered here, so the job's cost does not grow with the templates. A dedupe key already
    in the outbox is skipped, as in ``notification_queue``. Returns how many rows were written.
    """
    wanted = {m.dedupe_key: m for m in messages if m.recipient.is_active and m.recipient.email}
    if not wanted:
        return 0
    existing = set(Notification.objects.filter(dedupe_key__in=wanted).values_list("dedupe_key", flat=True))
    rows = []
    for key, message in wanted.items():
        if key in existing:
            continue
        url = absolute_url(message.link)
        context = {**message.context, "url": url}
        rows.append(
            Notification(
                recipient=message.recipient,
                dedupe_key=key,
                subject=_subject(message.template, {**context, "recipient": message.recipient}),
                body="",
                template=message.template,
                context=context,
                link=url,
            )
        )
    if not rows:
        return 0
    bulk_create_with_history(rows, Notification, default_change_reason="queued")
    ids = list(Notification.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows]).values_list("pk", flat=True))

    def publish() -> None:
        for start in range(0, len(ids), 500):
            _publish_notifications(ids[start : start + 500])

    transaction.on_commit(publish, robust=True)
    return len(rows)


def absolute_url(link: str) -> str:
    """A portal path as the link a message carries (``PORTAL_BASE_URL`` in front); other links as they are."""
    return f"{settings.PORTAL_BASE_URL}{link}" if link.startswith("/") else link


def _subject(template: str, context: dict) -> str:
    return " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())[:250]


def _publish_notifications(ids: list[int]) -> None:
    from qms.tasks import notification_send_task

    # One attempt, no retries (retry=False here, max_retries=0 in the broker transport options, see
    # settings): a broker that is down must not hold up the request. The row stays pending and the beat
    # job sends it once the broker is back.
    notification_send_task.apply_async(args=[ids], retry=False)


def notification_deliver(*, notification_id: int) -> bool:
    """Send one pending notification. Safe to run twice and from two workers at once."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update().select_related("recipient").filter(pk=notification_id).first()
        )
        if notification is None or notification.sent_at is not None:
            return False
        if notification.template and not notification.body:
            context = {**notification.context, "recipient": notification.recipient}
            notification.body = render_to_string(f"emails/{notification.template}.txt", context)
            notification.html_body = render_to_string(f"emails/{notification.template}.html", context)
        message = EmailMultiAlternatives(
            subject=notification.subject,
            body=notification.body,
            to=[notification.recipient.email],
        )
        if notification.html_body:
            message.attach_alternative(notification.html_body, "text/html")
        if notification.attachment_name:
            message.attach(
                notification.attachment_name, notification.attachment_content, notification.attachment_mimetype
            )
        notification.attempts += 1
        try:
            message.send()
        except Exception as exc:
            notification.last_error = str(exc)[:2000]
            notification._change_reason = "delivery failed"
            notification.save(update_fields=["attempts", "last_error", "body", "html_body"])
            logger.warning("Notification %s failed: %s", notification_id, exc)
            return False
        notification.sent_at = timezone.now()
        notification.last_error = ""
        notification._change_reason = "delivered"
        notification.save(update_fields=["attempts", "sent_at", "last_error", "body", "html_body"])
        return True


def notification_pending_ids(*, older_than_seconds: int = 30, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Notification.objects.filter(sent_at__isnull=True, created_at__lte=cutoff, attempts__lt=10)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
