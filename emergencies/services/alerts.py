"""Incidents from alerting: a firing alert that matches a routing rule opens (or joins) an ``INC-…``
incident and tells the on-call engineers, with a link that opens the stub form prefilled from it. A second
firing updates the alert, a resolve marks it resolved. The portal never declares an emergency here: a
person files the stub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from emergencies import signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import Alert, AlertPayload, AlertRoute, AlertSource, Incident
from emergencies.services import intake
from qms.models import User
from qms.procedures import CATEGORY_LABELS
from qms.roles import Role
from qms.services import notification_queue, procedure_version_current

INTAKE_USERNAME = "alert-intake"
KEPT_HEADERS = ("content-type", "user-agent", "x-pagerduty-signature", "x-webhook-id", "x-request-id")


@dataclass(frozen=True)
class IntakeResult:
    status: int
    detail: str
    payload_id: int | None = None
    incidents: tuple[str, ...] = ()


def intake_user() -> User:
    """Who the history names for what alert intake writes: an inactive account that cannot sign in."""
    user, _ = User.objects.get_or_create(
        username=INTAKE_USERNAME, defaults={"first_name": "Alert", "last_name": "intake", "is_active": False}
    )
    return user


def _keep(*, source: str, body: bytes, headers: dict, outcome: str, reason: str, remote_addr: str) -> AlertPayload:
    return AlertPayload.objects.create(
        source=source[:32],
        received_at=timezone.now(),
        headers={k: headers[k][:500] for k in KEPT_HEADERS if k in headers},
        body=body.decode("utf-8", errors="replace"),
        outcome=outcome,
        reason=reason[:2000],
        remote_addr=remote_addr[:64],
    )


def alert_payload_receive(*, source: str, body: bytes, headers: dict, remote_addr: str = "") -> IntakeResult:
    """Authenticate, read and apply one payload; every payload is kept, whatever becomes of it. Database
    errors propagate (the view answers 503 and the tool retries)."""
    headers = {k.lower(): v for k, v in headers.items()}
    keep = {"source": source, "body": body, "headers": headers, "remote_addr": remote_addr}
    if source not in AlertSource.values:
        kept = _keep(**keep, outcome=AlertPayload.Outcome.MALFORMED, reason=f"Unknown alert source {source!r}.")
        return IntakeResult(404, f"Unknown alert source {source!r}.", kept.pk)
    try:
        intake.authenticate(source=source, body=body, headers=headers, secret=settings.ALERT_SECRETS.get(source, ""))
    except intake.AuthenticationError as exc:
        kept = _keep(**keep, outcome=AlertPayload.Outcome.REJECTED, reason=str(exc))
        return IntakeResult(401, str(exc), kept.pk)
    try:
        alert_signals = intake.parse(source=source, body=body)
    except intake.PayloadError as exc:
        kept = _keep(**keep, outcome=AlertPayload.Outcome.MALFORMED, reason=str(exc))
        return IntakeResult(400, str(exc), kept.pk)
    with transaction.atomic():
        outcomes = [alert_signal_apply(signal=s) for s in alert_signals]
        routed = [o for o in outcomes if o is not None]
        reason = "; ".join(
            f"{s.key}: {o or 'no routing rule matched'}" for s, o in zip(alert_signals, outcomes, strict=True)
        )
        kept = _keep(
            **keep,
            outcome=AlertPayload.Outcome.ACCEPTED if routed else AlertPayload.Outcome.UNROUTED,
            reason=reason,
        )
    tickets = tuple(sorted({o.split(" ", 1)[0] for o in routed}))
    if not routed:
        return IntakeResult(202, "No routing rule matched; the payload is kept for inspection.", kept.pk)
    return IntakeResult(200, reason, kept.pk, tickets)


def route_match(*, signal: intake.AlertSignal) -> AlertRoute | None:
    for route in AlertRoute.objects.filter(active=True).order_by("position", "pk"):
        if route.source and route.source != signal.source:
            continue
        if route.service and route.service != signal.service:
            continue
        if route.priority and route.priority.lower() != signal.priority.lower():
            continue
        wanted = route.match_labels if isinstance(route.match_labels, dict) else {}
        if all(signal.labels.get(str(k)) == str(v) for k, v in wanted.items()):
            return route
    return None


def alert_signal_apply(*, signal: intake.AlertSignal) -> str | None:
    """Apply one alert; returns what happened ("INC-… opened", …) or None when no rule routes it."""
    now = timezone.now()
    actor = intake_user()
    alert = Alert.objects.select_for_update().select_related("incident").filter(source=signal.source, key=signal.key)
    alert = alert.first()
    if alert is not None:
        return _alert_update(alert, signal=signal, now=now, actor=actor)
    if signal.action != intake.FIRING:
        return None if route_match(signal=signal) is None else "not open here; nothing to update"
    route = route_match(signal=signal)
    if route is None:
        return None
    incident, opened = _incident_for(signal=signal, route=route, now=now, actor=actor)
    alert = Alert(
        source=signal.source,
        key=signal.key,
        group_key=signal.group_key,
        incident=incident,
        route=route,
        title=signal.title[:300],
        description=signal.description,
        service=signal.service[:200],
        priority=signal.priority[:32],
        labels=signal.labels,
        url=signal.url,
        started_at=signal.started_at or now,
        last_fired_at=now,
    )
    alert._history_user, alert._change_reason = actor, "alert fired"
    alert.save()
    signals.alert_received.send(sender=Alert, alert=alert, action="fired", actor=actor)
    if opened:
        _notify_on_call(incident=incident, route=route, alert=alert)
        return f"{incident.ticket} opened"
    return f"{incident.ticket} updated"


def _incident_for(*, signal, route: AlertRoute, now: datetime, actor: User) -> tuple[Incident, bool]:
    """The open incident of the same alert group (Alertmanager's groupKey, PagerDuty's incident key), or a
    new one."""
    if signal.group_key:
        sibling = (
            Alert.objects.select_related("incident")
            .filter(source=signal.source, group_key=signal.group_key, incident__resolved_at__isnull=True)
            .order_by("-pk")
            .first()
        )
        if sibling is not None:
            incident = Incident.objects.select_for_update().get(pk=sibling.incident_id)
            _add_systems(incident, signal.affected_systems, actor=actor, reason="alert of the same group fired")
            return incident, False
    version = procedure_version_current(code=route.procedure.code)
    category = route.category
    incident = Incident(
        title=signal.title[:200],
        category=category,
        severity=version.rules.severity_for(category) if version else "",
        production_impact=category == "p1_incident",
        security_involved=category in {"critical_security", "data_breach"},
        compliance_involved=category == "data_breach",
        commander=route.commander if route.commander_id and route.commander.has_role(Role.COMMANDER) else None,
        reported_by=actor,
        detected_at=min(signal.started_at or now, now),
        declared_at=now,
        affected_systems="\n".join(dict.fromkeys(signal.affected_systems)),
    )
    incident._history_user = actor
    incident._change_reason = f"opened from a {AlertSource(signal.source).label} alert ({route.name})"
    save_with_unique_identifier(incident, field_name="ticket", base=f"INC-{now.astimezone(UTC):%Y%m%d-%H%M}")
    return incident, True


def _add_systems(incident: Incident, systems: list[str], *, actor: User, reason: str) -> None:
    current = [s for s in incident.affected_systems.splitlines() if s.strip()]
    merged = list(dict.fromkeys([*current, *systems]))
    if merged != current:
        incident.affected_systems = "\n".join(merged)
        incident._history_user, incident._change_reason = actor, reason
        incident.save()


def _alert_update(alert: Alert, *, signal, now: datetime, actor: User) -> str:
    incident = Incident.objects.select_for_update().get(pk=alert.incident_id)
    if signal.action == intake.FIRING:
        alert.status, alert.resolved_at = Alert.Status.FIRING, None
        alert.fire_count += 1
        alert.last_fired_at = now
        alert.labels = signal.labels or alert.labels
        action, what = "re-fired", "updated"
        _add_systems(incident, signal.affected_systems, actor=actor, reason="alert fired again")
        if incident.resolved_at is not None and not incident.changes.exists():
            incident.resolved_at = None
            incident._history_user, incident._change_reason = actor, "alert fired again: reopened"
            incident.save()
            what = "reopened"
    elif signal.action == intake.RESOLVED:
        if alert.status == Alert.Status.RESOLVED:
            return f"{incident.ticket} already resolved"
        alert.status = Alert.Status.RESOLVED
        alert.resolved_at = max(signal.ended_at or now, alert.started_at)
        action, what = "resolved", "alert resolved"
        # An incident nobody declared an emergency for is over when its alerts are; a declared emergency
        # is resolved by its responders through the lifecycle, never by the monitoring.
        others_firing = incident.alerts.exclude(pk=alert.pk).filter(status=Alert.Status.FIRING).exists()
        if not others_firing and not incident.changes.exists() and incident.resolved_at is None:
            incident.resolved_at = max(now, incident.declared_at)
            incident._history_user, incident._change_reason = actor, "all its alerts resolved"
            incident.save()
            what = "resolved"
    else:
        alert.labels = {**alert.labels, **signal.labels}
        action, what = "updated", "updated"
    alert._history_user, alert._change_reason = actor, f"alert {action}"
    alert.save()
    signals.alert_received.send(sender=Alert, alert=alert, action=action, actor=actor)
    return f"{incident.ticket} {what}"


def _notify_on_call(*, incident: Incident, route: AlertRoute, alert: Alert) -> None:
    people = list(route.on_call.filter(is_active=True))
    if not people:
        people = list(User.objects.filter(is_active=True, groups__name=Role.ONCALL.group_name).distinct())
    link = f"{reverse('emergencies:stub-create')}?incident={incident.ticket}"
    notification_queue(
        recipients=people,
        dedupe_prefix=f"incident-opened:{incident.pk}",
        template="incident_opened",
        context={
            "incident": incident,
            "alert": alert,
            "route": route,
            "category": CATEGORY_LABELS.get(incident.category, incident.category),
            "source": alert.get_source_display(),
        },
        link=link,
    )


def stub_initial_for_incident(*, ticket: str) -> dict:
    """What the stub form starts with when opened from an incident's "declare emergency" link."""
    incident = Incident.objects.select_related("commander").filter(ticket=ticket.strip().upper()).first()
    if incident is None or incident.changes.exists():
        return {}
    alerts = list(incident.alerts.select_related("route__procedure").order_by("started_at"))
    lines = [f"{a.get_source_display()}: {a.title}" + (f" — {a.description}" if a.description else "") for a in alerts]
    if incident.affected_systems:
        lines.append("Affected: " + ", ".join(incident.affected_systems.splitlines()))
    if incident.detected_at:
        lines.append(f"Detected {incident.detected_at:%Y-%m-%d %H:%M} UTC.")
    initial = {
        "title": incident.title,
        "category": incident.category,
        "incident_ticket": incident.ticket,
        "problem_statement": "\n".join(lines),
        "security_involved": incident.security_involved,
        "compliance_involved": incident.compliance_involved,
        "safety_related": incident.safety_related,
    }
    if incident.commander_id:
        initial["commander"] = incident.commander
    route = next((a.route for a in alerts if a.route_id), None)
    if route is not None:
        version = procedure_version_current(code=route.procedure.code)
        if version is not None:
            initial["procedure"] = version
    return initial
