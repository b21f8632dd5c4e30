"""Oversight of what follows a deployment: milestones, retroactive gate results, post-mortems and their action
items, the war room, alerts and handoffs, audited and meeting or opening their clocks."""

from datetime import UTC, datetime, time

from django.dispatch import receiver
from django.utils import timezone
from django_fsm.signals import post_transition

from audits import services
from audits.receivers.lifecycle import _satisfy_clocks
from emergencies import signals as lifecycle
from emergencies.models import PostMortem


@receiver(lifecycle.change_record_milestone)
def on_milestone(sender, *, change, name, actor, at, **kwargs):
    services.audit_event_record(action=f"change.{name}", actor=actor, subject=change, reason=name.replace("_", " "))
    _satisfy_clocks(change, name, actor, at)
    deferred = [d["kind"] for d in change.rules.deferred_on_deploy if name in d.get("satisfied_on", [])]
    if deferred:
        services.obligations_satisfy(
            subject=change, kinds=deferred, actor=actor, note=f"met by “{name.replace('_', ' ')}”", at=at
        )


@receiver(lifecycle.gate_result_recorded)
def on_gate_result(sender, *, result, bypass, actor, **kwargs):
    change = result.change
    services.audit_event_record(
        action=f"gate.{result.result}",
        actor=actor,
        subject=change,
        reason=result.evidence,
        after={"gate": result.gate, "result": result.result, "retroactive": result.retroactive},
    )
    if not result.clears_gate:
        return
    note = f"gate {result.get_result_display().lower()} retroactively"
    if bypass is not None:
        services.obligations_satisfy(
            subject=bypass, kinds=["remediation"], keys=[result.gate], actor=actor, note=note, at=result.validated_at
        )
    deferred = [d["kind"] for d in change.rules.deferred_on_deploy if d.get("gate") == result.gate]
    if deferred:
        services.obligations_satisfy(subject=change, kinds=deferred, actor=actor, note=note, at=result.validated_at)


@receiver(lifecycle.action_item_saved)
def on_action_item(sender, *, item, actor, **kwargs):
    change = item.post_mortem.change
    due = datetime.combine(item.due_date, time(23, 59), tzinfo=UTC)
    services.obligations_open(
        subject=change,
        actor=actor,
        started_at=timezone.now(),
        subject_url=change.get_absolute_url(),
        specs=[
            {
                "kind": "action_item",
                "key": str(item.pk),
                "label": f"Action {item.number}: {item.action}"[:200],
                "owner": item.owner,
                "due_at": due,
            }
        ],
    )
    if item.status == item.Status.DONE:
        services.obligations_satisfy(
            subject=change, kinds=["action_item"], keys=[str(item.pk)], actor=actor, note="action done"
        )


@receiver(post_transition, sender=PostMortem)
def on_post_mortem_transition(sender, instance, name, source, target, **kwargs):
    method_kwargs = kwargs.get("method_kwargs", {})
    services.audit_event_record(
        action=f"post_mortem.{name}",
        actor=method_kwargs.get("by"),
        subject=instance.change,
        reason=method_kwargs.get("reason", ""),
        before={"status": source},
        after={"status": target},
    )


@receiver(lifecycle.war_room_entry_posted, dispatch_uid="audits.on_war_room_entry")
def on_war_room_entry(sender, *, entry, actor, **kwargs):
    services.audit_event_record(
        action=f"warroom.{'correction' if entry.corrects_id else entry.kind}",
        actor=actor,
        subject=entry.change,
        reason=entry.text[:1000],
        after={"entry": entry.pk, "kind": entry.kind, "corrects": entry.corrects_id, "posted_at": entry.posted_at},
    )


@receiver(lifecycle.alert_received, dispatch_uid="audits.on_alert_received")
def on_alert_received(sender, *, alert, action, actor, **kwargs):
    services.audit_event_record(
        action=f"alert.{action.replace('-', '_')}",
        actor=actor,
        subject=alert.incident,
        reason=f"{alert.get_source_display()} {alert.key}: {alert.title}"[:1000],
        after={"alert": alert.pk, "source": alert.source, "key": alert.key, "status": alert.status},
    )


@receiver(lifecycle.handoff_requested)
def on_handoff_requested(sender, *, request, actor, **kwargs):
    services.audit_event_record(
        action=f"handoff.{request.kind}.requested",
        actor=actor,
        subject=request.change or request,
        reason=request.note or f"{request.get_kind_display()} asked of {request.asked_of}",
        after={
            "request": request.pk,
            "subject": request.subject_label,
            "assignee": request.assignee_id,
            "role": request.role,
        },
    )


@receiver(lifecycle.handoff_closed)
def on_handoff_closed(sender, *, request, actor, **kwargs):
    services.audit_event_record(
        action=f"handoff.{request.kind}.{request.status}",
        actor=actor,
        subject=request.change or request,
        reason=request.close_note,
        after={"request": request.pk, "status": request.status},
    )
