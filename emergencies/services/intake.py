"""Reading alert payloads as each tool sends them: authentication per source and one normalised
:class:`AlertSignal` per alert.

- Prometheus Alertmanager: the webhook receiver's JSON, ``"version": "4"`` (prometheus.io/docs/alerting/latest/
  configuration/#webhook_config), authenticated by the ``Authorization: Bearer`` credentials of its
  ``http_config``. Key: each alert's ``fingerprint``; group: ``groupKey``.
- PagerDuty: webhooks v3 (developer.pagerduty.com/docs/webhooks/v3-overview), signed with the subscription's
  secret: ``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>`` (several, comma-separated, while a
  secret is rotated). Key: the PagerDuty incident id.
- Opsgenie: the Webhook integration's JSON (support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-
  webhook/), authenticated by a custom ``Authorization: Bearer`` header set on the integration. Key: the
  alert's ``alias`` (Opsgenie's own de-duplication key), else its ``alertId``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

FIRING, RESOLVED, UPDATE = "firing", "resolved", "update"


class PayloadError(ValueError):
    """The payload is not what the source sends; the message says why (the 400's reason)."""


class AuthenticationError(PermissionError):
    pass


@dataclass
class AlertSignal:
    source: str
    key: str
    action: str  # firing / resolved / update
    title: str
    group_key: str = ""
    description: str = ""
    service: str = ""
    priority: str = ""
    labels: dict = field(default_factory=dict)
    url: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    affected_systems: list[str] = field(default_factory=list)


def authenticate(*, source: str, body: bytes, headers: dict, secret: str) -> None:
    if not secret:
        raise AuthenticationError(f"No secret is configured for {source}: every payload is refused.")
    if source == "pagerduty":
        given = headers.get("x-pagerduty-signature", "")
        expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, s.strip()) for s in given.split(",") if s.strip()):
            raise AuthenticationError("X-PagerDuty-Signature does not match the body (v1 HMAC-SHA256).")
        return
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
        raise AuthenticationError("Missing or wrong Authorization: Bearer credentials.")


def parse(*, source: str, body: bytes) -> list[AlertSignal]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"Not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError("The payload must be a JSON object.")
    return PARSERS[source](data)


def _str(value, name: str, *, required: bool = True, limit: int = 500) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise PayloadError(f"{name} must be a non-empty string.")
    return value[:limit]


def _dict(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{name} must be an object.")
    return {str(k)[:100]: str(v)[:500] for k, v in value.items()}


def _time(value, name: str, *, required: bool = False) -> datetime | None:
    if value in (None, "") and not required:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):  # Opsgenie: epoch milliseconds
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{name} must be an RFC 3339 time with its zone.")
    # Alertmanager's endsAt of a firing alert is the zero time.
    return None if parsed.year < 1971 else parsed.astimezone(UTC)


def _alertmanager(data: dict) -> list[AlertSignal]:
    if str(data.get("version")) != "4":
        raise PayloadError(f'Unsupported Alertmanager webhook version {data.get("version")!r} (expected "4").')
    alerts = data.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("alerts must be a non-empty list.")
    group_key = _str(data.get("groupKey"), "groupKey")
    common = _dict(data.get("commonLabels"), "commonLabels")
    signals = []
    for n, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            raise PayloadError(f"alerts[{n}] must be an object.")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{n}].status must be firing or resolved.")
        labels = {**common, **_dict(alert.get("labels"), f"alerts[{n}].labels")}
        annotations = _dict(alert.get("annotations"), f"alerts[{n}].annotations")
        systems = [labels[k] for k in ("instance", "job", "service") if labels.get(k)]
        signals.append(
            AlertSignal(
                source="alertmanager",
                key=_str(alert.get("fingerprint"), f"alerts[{n}].fingerprint", limit=200),
                action=FIRING if status == "firing" else RESOLVED,
                group_key=group_key,
                title=annotations.get("summary") or labels.get("alertname") or "Alert",
                description=annotations.get("description", ""),
                service=labels.get("service") or labels.get("job", ""),
                priority=labels.get("severity", ""),
                labels=labels,
                url=_str(alert.get("generatorURL"), "generatorURL", required=False, limit=1000),
                started_at=_time(alert.get("startsAt"), f"alerts[{n}].startsAt", required=True),
                ended_at=_time(alert.get("endsAt"), f"alerts[{n}].endsAt"),
                affected_systems=systems,
            )
        )
    return signals


PAGERDUTY_ACTIONS = {
    "incident.triggered": FIRING,
    "incident.reopened": FIRING,
    "incident.resolved": RESOLVED,
}


def _pagerduty(data: dict) -> list[AlertSignal]:
    event = data.get("event")
    if not isinstance(event, dict):
        raise PayloadError("event must be an object (PagerDuty webhooks v3).")
    event_type = _str(event.get("event_type"), "event.event_type")
    if event.get("resource_type") != "incident" or not event_type.startswith("incident."):
        raise PayloadError(f"Only incident events are read, not {event_type!r}.")
    incident = event.get("data")
    if not isinstance(incident, dict):
        raise PayloadError("event.data must be the incident object.")
    service = incident.get("service") if isinstance(incident.get("service"), dict) else {}
    priority = incident.get("priority") if isinstance(incident.get("priority"), dict) else {}
    labels = {
        "service": str(service.get("summary", "")),
        "priority": str(priority.get("summary", "")),
        "urgency": str(incident.get("urgency", "")),
        "status": str(incident.get("status", "")),
    }
    return [
        AlertSignal(
            source="pagerduty",
            key=_str(incident.get("id"), "event.data.id", limit=200),
            action=PAGERDUTY_ACTIONS.get(event_type, UPDATE),
            group_key=str(incident.get("incident_key") or "")[:500],
            title=_str(incident.get("title"), "event.data.title", required=event_type == "incident.triggered")
            or event_type,
            service=labels["service"],
            priority=labels["priority"],
            labels={k: v for k, v in labels.items() if v},
            url=str(incident.get("html_url") or "")[:1000],
            started_at=_time(incident.get("created_at"), "event.data.created_at")
            or _time(event.get("occurred_at"), "event.occurred_at", required=True),
            ended_at=_time(event.get("occurred_at"), "event.occurred_at")
            if event_type == "incident.resolved"
            else None,
            affected_systems=[labels["service"]] if labels["service"] else [],
        )
    ]


OPSGENIE_ACTIONS = {"Create": FIRING, "Close": RESOLVED, "Delete": RESOLVED}


def _opsgenie(data: dict) -> list[AlertSignal]:
    action = _str(data.get("action"), "action", limit=64)
    alert = data.get("alert")
    if not isinstance(alert, dict):
        raise PayloadError("alert must be an object (Opsgenie webhook).")
    details = _dict(alert.get("details"), "alert.details")
    tags = alert.get("tags") or []
    if not isinstance(tags, list):
        raise PayloadError("alert.tags must be a list.")
    labels = {
        **details,
        **{f"tag:{t}": "true" for t in tags if isinstance(t, str)},
        "priority": str(alert.get("priority", "")),
        "entity": str(alert.get("entity", "")),
        "source": str(alert.get("source", "")),
    }
    key = alert.get("alias") or alert.get("alertId")
    entity = str(alert.get("entity") or "")
    return [
        AlertSignal(
            source="opsgenie",
            key=_str(key, "alert.alias / alert.alertId", limit=200),
            action=OPSGENIE_ACTIONS.get(action, UPDATE),
            title=_str(alert.get("message"), "alert.message", required=action == "Create") or action,
            description=str(alert.get("description") or "")[:5000],
            service=details.get("service", entity),
            priority=str(alert.get("priority") or ""),
            labels={k: v for k, v in labels.items() if v},
            started_at=_time(alert.get("createdAt"), "alert.createdAt"),
            ended_at=_time(alert.get("updatedAt"), "alert.updatedAt") if action in OPSGENIE_ACTIONS else None,
            affected_systems=[entity] if entity else [],
        )
    ]


PARSERS = {"alertmanager": _alertmanager, "pagerduty": _pagerduty, "opsgenie": _opsgenie}
