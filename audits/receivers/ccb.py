"""How oversight hears about the emergency CCB, the decision gates and the communication plan
(CM-WF-EMERGENCY §7, §12, §14): audit events and clocks.

- A session puts each member's vote and the decision on the clock (the procedure's decision window from
  the scheduled start); votes and the decision meet them, a cancellation voids them.
- A change under a procedure with a communication plan owes status updates at the cadence of its severity;
  each update meets the open one and starts the next. Updates stop when the change closes or leaves the
  emergency path.
- A safety-related change owes a regulatory notification by the external-notification deadline; the
  notification (or an external status update) meets the external-notification clock.
"""

from datetime import UTC, datetime, time

from django.dispatch import receiver
from django_fsm.signals import post_transition

from audits import services
from audits.models import Obligation
from emergencies import signals as ccb
from emergencies.models import CCBSession, ChangeRecord, StatusUpdate
from emergencies.signals import change_record_filed
from qms.clock import deadline
from qms.models import Notification
from qms.roles import Role
from qms.signals import notification_delivered


def _severity(change: ChangeRecord) -> str:
    return change.incident.severity if change.incident_id else ""


def _external_kinds(change: ChangeRecord) -> list[str]:
    event = change.rules.external_notification_event
    return [c.kind for c in change.rules.clocks(_severity(change)) if event in c.satisfied_on]


def _open_status_update(change: ChangeRecord, *, number: int, start: datetime, actor) -> None:
    interval = change.rules.status_update_interval(_severity(change), change.status)
    if interval is None:
        return
    owner = (change.incident.commander if change.incident_id else None) or change.author
    services.obligations_open(
        subject=change,
        specs=[
            {
                "kind": "status_update",
                "key": str(number),
                "label": f"Status update #{number}",
                "owner": owner,
                "due_at": interval.due(start),
            }
        ],
        started_at=start,
        actor=actor,
        subject_url=change.get_absolute_url(),
    )


@receiver(change_record_filed, dispatch_uid="audits.ccb.on_change_filed")
def on_change_filed(sender, *, change: ChangeRecord, actor, **kwargs):
    rules = change.rules
    if not rules.communication:
        return
    _open_status_update(change, number=1, start=change.declared_at, actor=actor)
    if change.incident_id and rules.regulatory_required(change.incident.flags):
        external = [c for c in rules.clocks(_severity(change)) if c.kind in _external_kinds(change)]
        due = external[0].due(change.declared_at) if external else deadline(change.declared_at, amount=4, unit="hours")
        services.obligations_open(
            subject=change,
            specs=[
                {
                    "kind": "regulatory_notification",
                    "label": "Regulatory notification (safety-related, §7.3)",
                    "owner_role": Role.CERTLEAD.value,
                    "due_at": due,
                }
            ],
            started_at=change.declared_at,
            actor=actor,
            subject_url=change.get_absolute_url(),
        )


def _reanchor_status_update(change: ChangeRecord, actor, note: str) -> None:
    """The open update's due follows the cadence now in force (severity reassessed, phases 1-5 over)."""
    interval = change.rules.status_update_interval(_severity(change), change.status)
    open_update = (
        Obligation.objects.filter(**services.subject_ref(change), kind="status_update", satisfied_at__isnull=True)
        .order_by("-started_at")
        .first()
    )
    if interval is not None and open_update is not None:
        services.obligations_reanchor(
            subject=change, due_by_kind={"status_update": interval.due(open_update.started_at)}, actor=actor, note=note
        )


@receiver(post_transition, sender=ChangeRecord, dispatch_uid="audits.ccb.on_change_transition")
def on_change_transition(sender, instance: ChangeRecord, name, source, target, **kwargs):
    if not instance.rules.communication:
        return
    method_kwargs = kwargs.get("method_kwargs", {})
    if target in instance.rules.communication.get("stop_statuses", []):
        services.obligations_satisfy(
            subject=instance,
            kinds=["status_update"],
            actor=method_kwargs.get("by"),
            note=f"updates stop: the change is {instance.get_status_display().lower()}",
            at=method_kwargs.get("at"),
        )
    else:
        _reanchor_status_update(instance, method_kwargs.get("by"), f"update cadence after “{name.replace('_', ' ')}”")


@receiver(ccb.status_update_posted, dispatch_uid="audits.ccb.on_status_update")
def on_status_update(sender, *, change: ChangeRecord, update: StatusUpdate, actor, **kwargs):
    services.audit_event_record(
        action="change.status_update",
        actor=actor,
        subject=change,
        reason=update.current_status[:1000],
        after={"update": update.pk, "audience": update.audience, "change_status": update.change_status},
    )


@receiver(notification_delivered, dispatch_uid="audits.ccb.on_status_update_sent")
def on_status_update_sent(sender, *, notification: Notification, **kwargs):
    """A status update meets the cadence when its first message is actually sent, and an external one the
    external-notification deadline when its first message to external contacts is (§12.2)."""
    parts = notification.dedupe_key.split(":")
    if len(parts) < 3 or parts[0] != "status-update" or not parts[1].isdigit():
        return
    update = (
        StatusUpdate.objects.select_for_update(of=("self",))
        .select_related("change__incident")
        .filter(pk=parts[1])
        .first()
    )
    if update is None:
        return
    change, audience = update.change, parts[2]
    earlier = Notification.objects.filter(
        dedupe_key__startswith=f"status-update:{update.pk}:{audience}:", sent_at__isnull=False
    ).exclude(pk=notification.pk)
    if earlier.exists():
        return
    sent_at = notification.sent_at
    actor = update.posted_by
    if audience == "ext":
        services.obligations_satisfy(
            subject=change,
            kinds=_external_kinds(change),
            actor=actor,
            note=f"customers/operators notified ({notification.destination})",
            at=sent_at,
        )
        return
    met = services.obligations_satisfy(
        subject=change, kinds=["status_update"], actor=actor, note="status update sent", at=sent_at
    )
    if met and change.status not in change.rules.communication.get("stop_statuses", []):
        count = Obligation.objects.filter(**services.subject_ref(change), kind="status_update").count()
        _open_status_update(change, number=count + 1, start=sent_at, actor=actor)


@receiver(ccb.regulatory_notification_recorded, dispatch_uid="audits.ccb.on_regulatory")
def on_regulatory_notification(sender, *, change: ChangeRecord, notification, actor, **kwargs):
    services.audit_event_record(
        action="change.regulatory_notification",
        actor=actor,
        subject=change,
        reason=f"{notification.authority_label} notified ({notification.reference})",
        after={
            "notification": notification.pk,
            "authority": notification.authority,
            "reference": notification.reference,
            "notified_at": notification.notified_at,
            "follow_up_due": notification.follow_up_due,
        },
    )
    services.obligations_satisfy(
        subject=change,
        kinds=["regulatory_notification", *_external_kinds(change)],
        actor=actor,
        note=f"{notification.authority_label} notified",
        at=notification.notified_at,
    )
    if notification.follow_up_due is not None:
        services.obligations_open(
            subject=change,
            specs=[
                {
                    "kind": "regulatory_follow_up",
                    "key": str(notification.pk),
                    "label": f"Follow-up documentation to {notification.authority_label}"[:200],
                    "owner": notification.recorded_by,
                    "due_at": datetime.combine(notification.follow_up_due, time(23, 59), tzinfo=UTC),
                }
            ],
            started_at=notification.recorded_at,
            actor=actor,
            subject_url=change.get_absolute_url(),
        )


# --- sessions, votes and decisions ------------------------------------------------------------------------


def _vote_spec(session: CCBSession, member, due: datetime) -> dict:
    return {
        "kind": "ccb_vote",
        "key": str(member.user_id),
        "label": f"Vote: {member.user.display_name} ({member.role_label})"[:200],
        "owner": member.user,
        "due_at": due,
    }


@receiver(ccb.ccb_session_convened, dispatch_uid="audits.ccb.on_convened")
def on_session_convened(sender, *, session: CCBSession, actor, **kwargs):
    change = session.change
    rules = change.rules
    gate = rules.ccb_gate(session.gate)
    members = list(session.members.select_related("user"))
    services.audit_event_record(
        action="ccb.convened",
        actor=actor,
        subject=session,
        reason=f"{gate.label} for {change.identifier}",
        after={
            "change": change.identifier,
            "gate": session.gate,
            "chair": session.chair.username,
            "scheduled_at": session.scheduled_at,
            "members": [{"user": m.user.username, "role": m.role} for m in members],
        },
    )
    due = rules.ccb_decision_due(session.scheduled_at)
    decider_role = rules.ccb_decider_role(_severity(change))
    decider = session.chair
    if decider_role is not None:
        decider = next((m.user for m in members if m.role == decider_role.value), None)
    decision = {
        "kind": "ccb_decision",
        "label": f"CCB decision: {gate.label}",
        "owner": decider,
        "owner_role": decider_role.value if decider_role is not None and decider is None else "",
        "due_at": due,
    }
    services.obligations_open(
        subject=session,
        specs=[decision, *(_vote_spec(session, m, due) for m in members)],
        started_at=session.convened_at,
        actor=actor,
        subject_url=session.get_absolute_url(),
    )


@receiver(ccb.ccb_member_added, dispatch_uid="audits.ccb.on_member_added")
def on_member_added(sender, *, session: CCBSession, member, actor, **kwargs):
    services.audit_event_record(
        action="ccb.member_added",
        actor=actor,
        subject=session,
        reason=f"{member.user.display_name} seated as {member.role_label}",
        after={"user": member.user.username, "role": member.role},
    )
    services.obligations_open(
        subject=session,
        specs=[_vote_spec(session, member, session.change.rules.ccb_decision_due(session.scheduled_at))],
        started_at=member.added_at,
        actor=actor,
        subject_url=session.get_absolute_url(),
    )


@receiver(ccb.ccb_vote_cast, dispatch_uid="audits.ccb.on_vote")
def on_vote(sender, *, session: CCBSession, vote, actor, **kwargs):
    services.audit_event_record(
        action="ccb.vote",
        actor=actor,
        subject=session,
        reason=vote.comment,
        after={
            "voter": vote.voter.username,
            "role": vote.role,
            "choice": vote.choice,
            "signature": vote.signature_id,
            "supersedes": vote.supersedes_id,
        },
    )
    services.obligations_satisfy(
        subject=session, kinds=["ccb_vote"], keys=[str(vote.voter_id)], actor=actor, note="voted", at=vote.cast_at
    )


@receiver(ccb.ccb_session_deferred, dispatch_uid="audits.ccb.on_deferred")
def on_session_deferred(sender, *, session: CCBSession, actor, **kwargs):
    services.audit_event_record(
        action="ccb.more_info",
        actor=actor,
        subject=session,
        reason=session.decision_reason,
        after={"questions": session.questions, "signature": session.decision_signature_id},
    )


@receiver(ccb.ccb_session_decided, dispatch_uid="audits.ccb.on_decided")
def on_session_decided(sender, *, session: CCBSession, decision, actor, **kwargs):
    services.audit_event_record(
        action="ccb.decided",
        actor=actor,
        subject=session,
        reason=session.decision_reason,
        before={"status": CCBSession.Status.OPEN},
        after={
            "status": session.status,
            "outcome": session.outcome,
            "waivers": session.waivers,
            "interim_approval": session.interim_approval,
            "fast_track_authority": session.fast_track_authority,
            "signature": session.decision_signature_id,
        },
    )
    services.obligations_satisfy(
        subject=session, kinds=None, actor=actor, note="session decided", at=session.decided_at
    )


@receiver(ccb.ccb_session_cancelled, dispatch_uid="audits.ccb.on_cancelled")
def on_session_cancelled(sender, *, session: CCBSession, actor, **kwargs):
    services.audit_event_record(
        action="ccb.cancelled",
        actor=actor,
        subject=session,
        reason=session.cancel_reason,
        before={"status": CCBSession.Status.OPEN},
        after={"status": session.status},
    )
    services.obligations_satisfy(subject=session, kinds=None, actor=actor, note="session cancelled")


def _reanchor_to_severity(change: ChangeRecord, actor) -> None:
    """Gate 1 assessed the severity: the clocks that depend on it (deployment, external notification, the
    update cadence, the regulatory notification) run to the assessed severity's deadlines from declaration."""
    clocks = [c for c in change.rules.clocks(_severity(change)) if getattr(c, "anchor", "declared") == "declared"]
    due = {c.kind: c.due(change.declared_at) for c in clocks}
    external = [due[kind] for kind in _external_kinds(change) if kind in due]
    if external:
        due["regulatory_notification"] = external[0]
    note = f"severity assessed at Gate 1: {_severity(change)}"
    services.obligations_reanchor(subject=change, due_by_kind=due, actor=actor, note=note)
    _reanchor_status_update(change, actor, note)


@receiver(ccb.gate_decision_recorded, dispatch_uid="audits.ccb.on_gate_decision")
def on_gate_decision(sender, *, change: ChangeRecord, decision, actor, **kwargs):
    if decision.gate == "declare" and decision.severity:
        _reanchor_to_severity(change, actor)
    services.audit_event_record(
        action=f"gate.{decision.gate}.{decision.result}",
        actor=actor,
        subject=change,
        reason=decision.reason,
        after={
            "gate": decision.gate,
            "result": decision.result,
            "session": decision.session.identifier if decision.session_id else None,
            "retroactive": decision.retroactive,
            "severity": decision.severity,
            "criteria": decision.criteria,
            "signature": decision.signature_id,
        },
    )


@receiver(ccb.change_false_alarm, dispatch_uid="audits.ccb.on_false_alarm")
def on_false_alarm(sender, *, change: ChangeRecord, reason, actor, **kwargs):
    services.audit_event_record(
        action="change.false_alarm", actor=actor, subject=change, reason=reason, after={"false_alarm": True}
    )


@receiver(ccb.change_verification_set, dispatch_uid="audits.ccb.on_verification")
def on_verification(sender, *, change: ChangeRecord, complete, actor, **kwargs):
    services.audit_event_record(
        action="change.verification",
        actor=actor,
        subject=change,
        reason="verification complete" if complete else "verification reopened",
        before={"verification_complete": not complete},
        after={"verification_complete": complete},
    )
