"""Chat and webhook copies of the portal's notifications (Slack, Microsoft Teams, outgoing webhooks, shared
mailboxes), written to the one outbox and delivered by the worker like the emails.

A message is built from *facts* (record id, title, what is asked of whom, the link, ...) and each channel
gets only the facts its audience may see: the procedure's ``channels`` block names them per audience
(``ProcedureRules.fields_for_audience``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from qms.models import Notification, NotificationChannel, User
from qms.procedures.schema import CHANNEL_FACTS

# Which event kind each notification template announces (``NotificationChannel.Event``).
TEMPLATE_EVENTS = {
    "emergency_filed": "filed",
    "bypass_requested": "awaiting_signature",
    "verbal_confirm": "awaiting_signature",
    "bypass_active": "authorised",
    "ccb_convened": "ccb_convened",
    "ccb_decided": "ccb_decided",
    "obligation_overdue": "overdue",
    "repeat_bypass": "overdue",
    "report_ready": "report_ready",
    "status_update": "status_update",
}
FIELD_LABELS = CHANNEL_FACTS


def facts_from_context(template: str, context: dict, *, link: str) -> tuple[dict, object | None]:
    """The facts a message about this event can carry, and the procedure version the record runs under."""
    change = context.get("change")
    bypass = context.get("bypass")
    session = context.get("session")
    if change is None and session is not None:
        change = getattr(session, "change", None)
    if change is None and bypass is not None:
        change = getattr(bypass, "change", None)
    record = change or bypass or context.get("report")
    incident = getattr(change, "incident", None) if change is not None else None
    facts = {"record": getattr(record, "identifier", "") or str(record or ""), "link": link}
    if record is not None:
        facts["title"] = getattr(record, "title", "") or ""
        if hasattr(record, "get_status_display"):
            facts["status"] = record.get_status_display()
    if change is not None:
        facts["problem_statement"] = change.problem_statement
        if incident is not None:
            facts["category"] = incident.category_label
            facts["severity"] = change.severity_label
    update = context.get("update")
    if update is not None:
        facts["update"] = "\n".join(
            part for part in (update.current_status, update.actions_taken, update.next_steps) if part
        )
    facts["asked"] = _asked(template, context)
    facts["_category"] = incident.category if incident is not None else ""
    procedure_version = getattr(change or bypass, "procedure_version", None)
    return facts, procedure_version


def _asked(template: str, context: dict) -> str:
    roles = ", ".join(context.get("roles") or [])
    return {
        "emergency_filed": f"Awaiting your signature: {roles}" if roles else "Awaiting your signature",
        "bypass_requested": "Awaiting your signature",
        "verbal_confirm": "Awaiting your signature confirming a verbal approval",
        "bypass_active": "Authorised: the bypass is active",
        "ccb_convened": "Emergency CCB convened: your vote is asked",
        "ccb_decided": "Emergency CCB decided",
        "obligation_overdue": "Overdue: escalated to you",
        "repeat_bypass": "Repeat bypass: a preventive follow-up is owed",
        "report_ready": "A compliance report is ready",
        "status_update": "Status update",
    }.get(template, template.replace("_", " "))


def filter_facts(facts: dict, *, rules, audience: str) -> dict:
    """Only the facts the audience may see (a channel without procedure rules gets the record, ask, link)."""
    category = facts.get("_category", "")
    allowed = rules.fields_for_audience(audience, category) if rules is not None else ["record", "asked", "link"]
    return {k: facts[k] for k in allowed if facts.get(k)}


def channels_for(*, event: str, procedure_id: int | None) -> list[NotificationChannel]:
    rows = NotificationChannel.objects.filter(active=True).exclude(audience=NotificationChannel.Audience.EXTERNAL)
    return [c for c in rows if event in (c.events or []) and (c.procedure_id is None or c.procedure_id == procedure_id)]


def channel_rows(
    *,
    template: str,
    context: dict,
    link: str,
    dedupe_prefix: str,
    people: Iterable[User],
    channels: list[NotificationChannel] | None = None,
    event: str | None = None,
) -> list[Notification]:
    """Unsaved outbox rows: one per subscribed channel of the event, and a Slack DM for each person who
    chose one. The person's copy carries what their email carries; a channel's only what its audience may
    see."""
    event = event or TEMPLATE_EVENTS.get(template)
    if event is None:
        return []
    facts, version = facts_from_context(template, context, link=link)
    rules = version.rules if version is not None else None
    procedure_id = version.procedure_id if version is not None else None
    rows = []
    for channel in channels if channels is not None else channels_for(event=event, procedure_id=procedure_id):
        fields = filter_facts(facts, rules=rules, audience=channel.audience)
        rows.append(_row(event, fields, key=f"{dedupe_prefix}:ch{channel.pk}", channel=channel, link=link))
    for person in people:
        if person.is_active and person.notify_by_slack and person.slack_user_id:
            fields = filter_facts(facts, rules=rules, audience="person") if rules else facts
            fields = {k: v for k, v in fields.items() if not k.startswith("_")}
            rows.append(_row(event, fields, key=f"{dedupe_prefix}:{person.pk}:slack", person=person, link=link))
    return rows


def _row(event: str, fields: dict, *, key: str, link: str, channel=None, person=None) -> Notification:
    head = " · ".join(str(fields[k]) for k in ("record", "title") if fields.get(k))
    subject = f"{head}: {fields.get('asked', event)}" if head else fields.get("asked", event)
    return Notification(
        recipient=person,
        channel=Notification.Channel.SLACK if person is not None else channel.kind,
        target=channel,
        destination=person.slack_user_id if person is not None else channel.destination,
        dedupe_key=key[:200],
        subject=subject[:250],
        body=text_of(fields),
        context={"event": event, "fields": fields},
        link=link,
    )


def text_of(fields: dict) -> str:
    return "\n".join(f"{FIELD_LABELS.get(k, k)}: {v}" for k, v in fields.items())


# --- delivery (the worker) -------------------------------------------------------------------------------


class DeliveryError(Exception):
    pass


def channel_deliver(notification: Notification) -> None:
    """Send one channel row; raises on any failure (the caller records it and the row is retried)."""
    fields = notification.context.get("fields", {})
    if notification.channel == Notification.Channel.SLACK:
        _slack_send(notification, fields)
    elif notification.channel == Notification.Channel.TEAMS:
        _post_json(notification.destination, teams_card(notification.subject, fields), headers={})
    elif notification.channel == Notification.Channel.WEBHOOK:
        _webhook_send(notification, fields)
    elif notification.channel == Notification.Channel.EMAIL:
        EmailMultiAlternatives(
            subject=notification.subject, body=notification.body, to=[notification.destination]
        ).send()
    else:
        raise DeliveryError(f"Unknown channel {notification.channel!r}.")


def slack_blocks(subject: str, fields: dict) -> list[dict]:
    """Block Kit: a header, the facts as mrkdwn fields, and a button to the record."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": subject[:150], "emoji": False}}]
    shown = [(k, v) for k, v in fields.items() if k not in ("link", "problem_statement", "update")]
    if shown:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{FIELD_LABELS.get(k, k)}*\n{_esc(v)}"[:2000]} for k, v in shown
                ][:10],
            }
        )
    for key in ("problem_statement", "update"):
        if fields.get(key):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _esc(fields[key])[:3000]}})
    if fields.get("link"):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in the portal"},
                        "url": fields["link"],
                    }
                ],
            }
        )
    return blocks


def _esc(value) -> str:
    # Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping).
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_send(notification: Notification, fields: dict) -> None:
    from slack_sdk import WebClient
    from slack_sdk.webhook import WebhookClient

    blocks = slack_blocks(notification.subject, fields)
    text = f"{notification.subject}\n{fields.get('link', '')}".strip()
    if notification.destination.startswith("https://"):
        response = WebhookClient(notification.destination, timeout=settings.CHANNEL_TIMEOUT).send(
            text=text, blocks=blocks
        )
        if response.status_code != 200:
            raise DeliveryError(f"Slack webhook answered {response.status_code}: {response.body[:200]}")
        return
    if not settings.SLACK_BOT_TOKEN:
        raise DeliveryError("SLACK_BOT_TOKEN is not set.")
    client = WebClient(
        token=settings.SLACK_BOT_TOKEN, base_url=settings.SLACK_API_URL, timeout=settings.CHANNEL_TIMEOUT
    )
    client.chat_postMessage(channel=notification.destination, text=text, blocks=blocks, unfurl_links=False)


def teams_card(subject: str, fields: dict) -> dict:
    """A Teams message with one Adaptive Card (the format of incoming webhooks and Workflows)."""
    body: list[dict] = [{"type": "TextBlock", "text": subject, "weight": "Bolder", "size": "Medium", "wrap": True}]
    facts = [{"title": FIELD_LABELS.get(k, k), "value": str(v)} for k, v in fields.items() if k not in ("link",)]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if fields.get("link"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the portal", "url": fields["link"]}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _webhook_send(notification: Notification, fields: dict) -> None:
    secret = notification.target.secret if notification.target_id else ""
    if not secret:
        raise DeliveryError("The webhook has no HMAC key.")
    payload = {
        "event": notification.context.get("event", ""),
        "delivery": notification.dedupe_key,
        "subject": notification.subject,
        "fields": fields,
    }
    body = json.dumps(payload, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    _post_json(
        notification.destination,
        None,
        body=body,
        headers={
            "X-QMS-Event": payload["event"],
            "X-QMS-Delivery": notification.dedupe_key,
            "X-QMS-Timestamp": timestamp,
            "X-QMS-Signature": webhook_signature(secret, timestamp, body),
        },
    )


def _post_json(url: str, payload: dict | None, *, headers: dict, body: bytes | None = None) -> None:
    if not url.startswith(("https://", "http://")):
        raise DeliveryError(f"Not an http(s) URL: {url!r}")
    data = body if body is not None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310  (scheme checked above)
        url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.CHANNEL_TIMEOUT) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise DeliveryError(f"{url} answered {response.status}")
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{url} answered {exc.code}: {exc.read()[:200]!r}") from exc
