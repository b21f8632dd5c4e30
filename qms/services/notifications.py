from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from qms.models import Notification, User
from qms.outbox import outbox_enqueue
from qms.services.channels import channel_deliver, channel_rows
from qms.signals import notification_delivered

logger = logging.getLogger(__name__)


def notification_queue(
    *,
    recipients: Iterable[User],
    dedupe_prefix: str,
    template: str,
    context: dict,
    link: str = "",
    attachment: tuple[str, str, str] | None = None,
    skip_channels: bool = False,
    footers: dict[int, tuple[str, str]] | None = None,
) -> list[Notification]:
    """Write one outbox row per recipient and send them to the worker once the transaction commits.

    ``dedupe_prefix`` names the event; a recipient gets one notification per event however often the
    caller runs (a beat job that runs twice notifies once). Recipients get it by email and/or Slack DM as
    their preferences say, and the channels subscribed to the event get their copy (qms.services.channels).
    ``footers`` adds a (text, html) paragraph to one person's own copies: the on-call acknowledgement link.
    """
    people = [u for u in recipients if u.is_active]
    url = absolute_url(link)
    rows = (
        []
        if skip_channels
        else channel_rows(template=template, context=context, link=url, dedupe_prefix=dedupe_prefix, people=people)
    )
    recipients = {u.pk: u for u in people if u.email and u.notify_by_email}
    keys = {f"{dedupe_prefix}:{pk}": pk for pk in recipients}
    for key, pk in keys.items():
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
    for row in rows:
        if footers and row.recipient_id in footers:
            text, html = footers[row.recipient_id]
            row.body = f"{row.body.rstrip()}\n\n{text}\n"
            row.html_body = f"{row.html_body}{html}" if row.html_body else ""
    return outbox_write(rows=rows)


def outbox_write(*, rows: list[Notification]) -> list[Notification]:
    """Write outbox rows whose dedupe key is new, and hand them to the worker once the transaction commits."""
    existing = set(
        Notification.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows]).values_list("dedupe_key", flat=True)
    )
    rows = [r for r in rows if r.dedupe_key not in existing]
    if not rows:
        return []
    created = bulk_create_with_history(rows, Notification, default_change_reason="queued")
    ids = [r.pk for r in created]
    if None in ids:  # a database that does not return the keys of a bulk insert
        keys = [r.dedupe_key for r in rows]
        ids = list(Notification.objects.filter(dedupe_key__in=keys).values_list("pk", flat=True))
    _publish_notifications(ids)
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

    for start in range(0, len(ids), 500):
        _publish_notifications(ids[start : start + 500])
    return len(rows)


def absolute_url(link: str) -> str:
    """A portal path as the link a message carries (``PORTAL_BASE_URL`` in front); other links as they are."""
    return f"{settings.PORTAL_BASE_URL}{link}" if link.startswith("/") else link


def _subject(template: str, context: dict) -> str:
    return " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())[:250]


def _publish_notifications(ids: list[int]) -> None:
    # Into the task outbox, in the caller's transaction: the request never waits on the broker; the relay
    # publishes the task once the transaction commits (qms.outbox). The beat job still re-sends a row that
    # stays pending (a delivery that failed, a task lost with its worker).
    outbox_enqueue("qms.tasks.notification_send_task", ids)


def notification_deliver(*, notification_id: int) -> bool:
    """Send one pending notification. Safe to run twice and from two workers at once: the row is locked
    while it is sent and a sent row is never sent again. A failure is recorded on the row (visible in the
    admin and on the record) and the next attempt waits longer each time."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("recipient", "target")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.sent_at is not None:
            return False
        if notification.template and not notification.body:
            context = {**notification.context, "recipient": notification.recipient}
            notification.body = render_to_string(f"emails/{notification.template}.txt", context)
            notification.html_body = render_to_string(f"emails/{notification.template}.html", context)
        notification.attempts += 1
        try:
            if notification.channel == Notification.Channel.EMAIL and notification.recipient_id:
                _email_of(notification).send()
            else:
                channel_deliver(notification)
        except Exception as exc:
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notification.next_attempt_at = timezone.now() + retry_delay(notification.attempts)
            notification._change_reason = "delivery failed"
            notification.save(update_fields=["attempts", "last_error", "next_attempt_at", "body", "html_body"])
            logger.warning("Notification %s failed: %s", notification_id, exc)
            return False
        notification.sent_at = timezone.now()
        notification.last_error = ""
        notification.next_attempt_at = None
        notification._change_reason = "delivered"
        notification.save(update_fields=["attempts", "sent_at", "last_error", "next_attempt_at", "body", "html_body"])
        notification_delivered.send(sender=Notification, notification=notification)
        return True


def _email_of(notification: Notification) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=notification.subject, body=notification.body, to=[notification.recipient.email]
    )
    if notification.html_body:
        message.attach_alternative(notification.html_body, "text/html")
    if notification.attachment_name:
        message.attach(notification.attachment_name, notification.attachment_content, notification.attachment_mimetype)
    return message


MAX_ATTEMPTS = 10


def retry_delay(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def notification_pending_ids(*, older_than_seconds: int = 30, limit: int = 500) -> list[int]:
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    return list(
        Notification.objects.filter(sent_at__isnull=True, created_at__lte=cutoff, attempts__lt=MAX_ATTEMPTS)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
