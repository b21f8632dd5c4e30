"""Each emergency change of the bulk seed and what it writes itself: its incident, the change with the
history and audit event of every step it took, the procedure's clocks (met, re-anchored at resolution, or
running) and the filing notification. Mirrors emergencies.services.stub, the change's transitions and
audits.receivers.lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from audits.management.bulk.core import PROBLEMS, US
from audits.management.bulk.plans import Status
from audits.management.bulk.world import SEED_ROLES
from emergencies.models import ChangeRecord, Incident
from qms.clock import deadline
from qms.models import Notification, User
from qms.procedures import CATEGORY_LABELS, ClockSpec
from qms.roles import Role

if TYPE_CHECKING:
    from audits.management.bulk.batch import Batch
    from audits.management.bulk.plans import Plan, Step

DOCUMENTATION = {
    "root_cause": "A faulty release; the canary did not cover this path.",
    "impact_assessment": "Customers could not complete their task during the outage.",
    "timeline": "Detected, declared, fixed, deployed, monitored, resolved.",
    "affected_artifacts": "{system} release and its deployment configuration.",
    "resolution": "Fixed and verified in production.",
    "lessons_learned": "Add a canary stage for this service.",
}
VOID_NOTE = "Voided: the change left the emergency path."  # audits.receivers.VOIDING_TRANSITIONS


def assign_identifiers(batch: Batch) -> None:
    """INC- tickets and CHG-EMG- identifiers of the batch's changes, with their primary keys."""
    plans = batch.plans
    tickets = batch.unique(Incident, "ticket", [f"INC-{p.declared:%Y%m%d-%H%M}" for p in plans])
    ids = batch.unique(ChangeRecord, "identifier", [f"CHG-EMG-{p.declared:%Y%m%d-%H%M}" for p in plans])
    for plan, ticket, identifier in zip(plans, tickets, ids, strict=True):
        plan.ticket, plan.identifier = ticket, identifier
        plan.incident_id = batch.ids.next(Incident)
        plan.change_id = batch.ids.next(ChangeRecord)
        plan.subject = batch.world.subject(ChangeRecord, plan.change_id, identifier, identifier)


def write_incidents(batch: Batch) -> None:
    for plan in batch.plans:
        flags = plan.flags
        row = {
            "id": plan.incident_id,
            "ticket": plan.ticket,
            "title": PROBLEMS[plan.category][0].format(system=plan.system),
            "category": plan.category,
            "severity": plan.severity,
            "cvss_score": plan.cvss,
            "production_impact": flags["production_impact"],
            "security_involved": flags["security_involved"],
            "compliance_involved": flags["compliance_involved"],
            "safety_related": flags["safety_related"],
            "commander_id": plan.commander.pk if plan.commander else None,
            "reported_by_id": plan.author.pk,
            "detected_at": plan.detected,
            "declared_at": plan.declared,
            "resolved_at": None,
            "affected_systems": plan.system,
            "created_at": plan.declared,
        }
        batch.history(
            Incident, row, at=plan.declared, kind="+", user=plan.author, reason="declared with an emergency stub"
        )
        resolve = plan.step("resolve")
        if resolve:
            row = {**row, "resolved_at": resolve.at}
            batch.history(Incident, row, at=resolve.at, kind="~", user=plan.commander or plan.author, reason="resolved")
        batch.rows[Incident].append(row)


def write_changes(batch: Batch) -> None:
    for plan in batch.plans:
        subject = plan.subject
        values = {
            "id": plan.change_id,
            "identifier": plan.identifier,
            "title": f"EMERGENCY: {PROBLEMS[plan.category][0].format(system=plan.system)}",
            "level": ChangeRecord.Level.EMERGENCY.value,
            "source": ChangeRecord.Source.EMERGENCY.value,
            "problem_statement": PROBLEMS[plan.category][1].format(system=plan.system),
            "status": Status.STUB.value,
            "declared_at": plan.declared,
            "hotfix_in_progress": False,
            "monitoring_active": False,
            "bypass_authorised_at": None,
            "deployed_at": None,
            "resolved_at": None,
            "documentation_completed_at": None,
            "closed_at": None,
            "status_reason": "",
            "rollback_plan": f"Redeploy the previous release of {plan.system}.",
            "root_cause": "",
            "impact_assessment": "",
            "timeline": "",
            "affected_artifacts": "",
            "resolution": "",
            "lessons_learned": "",
            "false_alarm": False,
            "false_alarm_reason": "",
            "created_at": plan.declared,
            "updated_at": plan.declared,
            "incident_id": plan.incident_id,
            "procedure_version_id": plan.procedure.pk,
            "author_id": plan.author.pk,
            "bypass_authorised_by_id": None,
            "parent_id": None,
        }
        batch.history(ChangeRecord, values, at=plan.declared, kind="+", user=plan.author, reason="emergency stub filed")
        batch.event(
            plan.declared,
            action="change.filed",
            actor=plan.author,
            subject=subject,
            reason=f"{CATEGORY_LABELS[plan.category].split(' — ')[0]} declared under {plan.procedure}",
            after={
                "status": Status.STUB.value,
                "incident": plan.ticket,
                "category": plan.category,
                "cvss_score": str(plan.cvss) if plan.cvss is not None else None,
                "severity": plan.severity,
            },
        )
        for step in plan.steps:
            before = values["status"]
            values.update(_transition_fields(step))
            status_reason, history_reason, event_reason = step.reason, step.reason, step.reason
            if step.name == "authorize_bypass":  # the last signature on the emergency bypass takes it
                status_reason = history_reason = f"Authorised by {plan.signed_by}"
                event_reason = f"Emergency bypass {plan.bypass_identifier} signed by {plan.signed_by}"
            if step.name == "convert_to_standard" and plan.ccb and plan.ccb.converts:
                values["false_alarm"], values["false_alarm_reason"] = True, step.reason
            values["status_reason"], values["updated_at"] = status_reason, step.at
            batch.history(
                ChangeRecord,
                values,
                at=step.at,
                kind="~",
                user=step.actor,
                reason=history_reason or f"{before} → {values['status']}",
            )
            batch.event(
                step.at,
                action=f"change.{step.name}",
                actor=step.actor,
                subject=subject,
                reason=event_reason,
                before={"status": before},
                after={"status": values["status"]},
            )
            if step.name == "resolve" and plan.doc_at:  # the full documentation, completed in post-incident
                sections = {k: v.format(system=plan.system) for k, v in DOCUMENTATION.items()}
                values.update(sections, documentation_completed_at=plan.doc_at, updated_at=plan.doc_at)
                batch.history(
                    ChangeRecord,
                    values,
                    at=plan.doc_at,
                    kind="~",
                    user=plan.author,
                    reason=f"documentation: {', '.join(sections)}",
                )
                batch.milestone(plan, "documentation_complete", at=plan.doc_at, actor=plan.author)
        assert values["status"] == plan.state, (plan.state, values["status"])
        batch.rows[ChangeRecord].append(dict(values))


def write_change_clocks(batch: Batch) -> None:
    """The procedure's clocks (audits.receivers.on_change_filed), re-anchored at resolution, and what the
    hotfix deferred (on_change_transition, "deploy")."""
    for plan in batch.plans:
        subject = plan.subject
        specs, clocks = plan.procedure.rules.clocks(plan.severity), []
        for spec in specs:
            owner = plan.commander if spec.owner == "commander" and plan.commander else plan.author
            clocks.append(
                {
                    "kind": spec.kind,
                    "label": spec.label,
                    "owner": owner,
                    "owner_role": Role.COMMANDER.value if spec.owner == "commander" else "",
                    "due_at": spec.due(plan.declared),
                }
            )
        opened = batch.open_clocks(subject, clocks, at=plan.declared, actor=plan.author)
        resolve = plan.step("resolve")
        for spec, clock in zip(specs, opened, strict=True):
            met = when_met(plan, spec)
            if resolve and spec.anchor == "resolved" and (met is None or met[0] > resolve.at):
                batch.reanchor(clock, at=resolve.at, actor=resolve.actor, due=spec.due(resolve.at), subject=subject)
            if met:
                batch.satisfy(clock, at=met[0], actor=met[1], note=met[2], subject=subject)
        deploy = plan.step("deploy")
        if deploy:
            deferred = plan.procedure.rules.deferred_on_deploy
            opened = batch.open_clocks(
                subject,
                [
                    {
                        "kind": d["kind"],
                        "label": d["label"],
                        "owner": plan.author,
                        "due_at": deadline(deploy.at, amount=d["amount"], unit=d["unit"]),
                    }
                    for d in deferred
                ],
                at=deploy.at,
                actor=deploy.actor,
            )
            for spec, clock in zip(deferred, opened, strict=True):
                check = next((g for g in plan.gates if g.gate == spec.get("gate")), None)
                if check is not None:
                    note = f"gate {check.result} retroactively"
                    batch.satisfy(clock, at=check.at + 2 * US, actor=check.validator, note=note, subject=subject)


def write_notifications(batch: Batch) -> None:
    rng = batch.world.rng
    for plan in batch.plans:
        recipient = plan.commander or batch.world.pick(_authoriser_role(plan), not_user=plan.author)
        sent = plan.declared + timedelta(seconds=rng.randint(2, 30))
        title = PROBLEMS[plan.category][0].format(system=plan.system)
        row = {
            "id": batch.ids.next(Notification),
            "recipient_id": recipient.pk,
            "dedupe_key": f"change-filed:{plan.change_id}:{recipient.pk}",
            "subject": f"[EMERGENCY] {plan.identifier} needs your authorisation: EMERGENCY: {title}"[:250],
            "body": f"{plan.author.display_name} declared an emergency and filed {plan.identifier}.\n",
            "html_body": "",
            "link": batch.world.change_url.format(plan.identifier),
            "attachment_name": "",
            "attachment_content": "",
            "attachment_mimetype": "",
            "created_at": plan.declared,
            "sent_at": sent if sent < batch.world.now else None,
            "attempts": 1 if sent < batch.world.now else 0,
            "last_error": "",
        }
        batch.rows[Notification].append(row)
        # html_body and attachment_content are not in the history (Notification.history).
        snapshot = {k: v for k, v in row.items() if k not in ("html_body", "attachment_content")}
        queued = {**snapshot, "sent_at": None, "attempts": 0}
        batch.history(Notification, queued, at=row["created_at"], kind="+", user=None, reason="queued")
        if row["sent_at"]:
            batch.history(Notification, snapshot, at=row["sent_at"], kind="~", user=None, reason="delivered")


def when_met(plan: Plan, clock: ClockSpec) -> tuple[datetime, User | None, str] | None:
    """When a clock of the change was satisfied, by whom and with what note — or None while it runs."""
    for step in plan.steps:
        if step.name in clock.satisfied_on:
            return step.at, step.actor, f"met by “{step.name.replace('_', ' ')}”"
        if step.name == "convert_to_standard":
            return step.at, step.actor, VOID_NOTE
    for event in clock.satisfied_on:
        if event in plan.milestones:
            at, actor = plan.milestones[event]
            return at + US, actor, f"met by “{event.replace('_', ' ')}”"
    if plan.state == Status.CLOSED:
        # External notification and the 30-day follow-up are done before closure, by records not seeded.
        resolve, close = plan.step("resolve").at, plan.step("close").at
        owner = plan.commander if clock.owner == "commander" and plan.commander else plan.author
        event = clock.satisfied_on[0] if clock.satisfied_on else "closure"
        return resolve + (close - resolve) * 0.6, owner, f"met by “{event.replace('_', ' ')}”"
    return None


def _authoriser_role(plan: Plan) -> Role:
    roles = [r for r in plan.procedure.rules.stub_authoriser_roles(plan.category, plan.flags) if r in SEED_ROLES]
    return roles[0] if roles else Role.COMMANDER


def _transition_fields(step: Step) -> dict:
    """What each transition of ChangeRecord sets (the model's transition methods, without their signals)."""
    at, actor = step.at, step.actor
    return {
        "authorize_bypass": {
            "status": Status.BYPASS_AUTHORISED.value,
            "bypass_authorised_by_id": actor.pk,
            "bypass_authorised_at": at,
        },
        "start_hotfix": {"status": Status.HOTFIX.value, "hotfix_in_progress": True},
        "deploy": {"status": Status.DEPLOYED.value, "deployed_at": at},
        "start_monitoring": {"status": Status.MONITORING.value, "monitoring_active": True},
        "resolve": {"status": Status.POST_INCIDENT.value, "hotfix_in_progress": False, "resolved_at": at},
        "close": {"status": Status.CLOSED.value, "closed_at": at},
        "roll_back": {"status": Status.ROLLED_BACK.value, "monitoring_active": False},
        "convert_to_standard": {
            "status": Status.CONVERTED.value,
            "level": ChangeRecord.Level.STANDARD.value,
            "hotfix_in_progress": False,
        },
    }[step.name]
