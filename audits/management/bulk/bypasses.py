"""Bypass requests in the bulk seed, as the services and receivers write them for any level: the request and
its history, the signatures (a recorded verbal approval also owes its confirmation), activation and
remediation, and the remediation clock of each bypassed gate. ``emergency`` writes each change's own
bypass with them, ``standalone`` the level 1-3 requests. Mirrors emergencies.services.bypasses and the
receivers in audits.receivers."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING

from audits.management.bulk.core import US, Sig, field_names
from emergencies.models import BypassRequest
from qms.models import Signature, User
from qms.procedures import CHECK_CATALOGUE

if TYPE_CHECKING:
    from audits.management.bulk.batch import Batch

Status = BypassRequest.Status
Meaning, Method = Signature.Meaning, Signature.Method
SIGNABLE = field_names(BypassRequest, without=("id", "status", "decided_at", "rejection_reason"))
EMPTY_DETAILS = {
    "reason": "",
    "impact_assessment": "",
    "risk_evaluation": "",
    "complexity_score": None,
    "test_coverage_impact": None,
    "integration_risk": "",
    "rollback_feasibility": "",
    "business_factors": "",
    "business_justification": "",
    "stakeholder_notification_plan": "",
    "security_impact_analysis": "",
    "legal_compliance_assessment": "",
    "remediation_roadmap": "",
    "incident_response_plan": "",
    "communication_strategy": "",
    "remediation_plan": "",
    "remediation_due": None,
    "remediation_assignee_id": None,
    "tracking_issue": "",
    "success_criteria": "",
}


def assign_identifiers(batch: Batch) -> None:
    """BYPASS-{level}-YYYYMMDD-HHMMSS, with -02, -03… for the same second (one query per level)."""
    by_level: dict[str, list] = defaultdict(list)
    for plan in batch.plans:
        by_level["E"].append((plan, plan.declared))
    for plan in batch.standalone:
        by_level[plan.level].append((plan, plan.requested))
    for level, items in by_level.items():
        bases = [f"BYPASS-{level}-{at.astimezone(UTC):%Y%m%d-%H%M%S}" for _, at in items]
        for (plan, _), identifier in zip(items, batch.unique(BypassRequest, "identifier", bases), strict=True):
            pk = batch.ids.next(BypassRequest)
            if level == "E":
                plan.bypass_identifier, plan.bypass_pk = identifier, pk
            else:
                plan.identifier, plan.pk = identifier, pk


def _remediation_due(rules, level: str, at: datetime, planned: date | None) -> datetime:
    """emergencies.services.bypasses.remediation_due_date."""
    due = rules.remediation_due(level, at)
    if planned is not None:
        return min(datetime.combine(planned, dtime.max.replace(microsecond=0), tzinfo=UTC), due)
    return due


def remediation_clocks(
    batch: Batch, subject, row: dict, rules, *, at: datetime, actor: User, owner_id: int, event_at: datetime
):
    """audits.receivers.on_bypass_activated: one remediation clock per bypassed gate, started at activation."""
    due = _remediation_due(rules, row["level"], at, row["remediation_due"])
    owner = batch.world.user(owner_id)
    specs = [
        {
            "kind": "remediation",
            "key": check,
            "label": f"Remediate: {CHECK_CATALOGUE[check]['label']}",
            "owner": owner,
            "due_at": due,
            "started_at": at,
        }
        for check in row["checks"]
    ]
    return batch.open_clocks(subject, specs, at=event_at, actor=actor)


def requested(batch: Batch, subject, row: dict, *, at: datetime, actor: User) -> None:
    """bypass_requested (audits.receivers.on_bypass_requested): the history row and the audit event."""
    pending = {**row, "status": Status.PENDING.value, "decided_at": None, "rejection_reason": ""}
    level = BypassRequest.Level(row["level"]).label
    batch.history(BypassRequest, pending, at=at, kind="+", user=actor, reason=f"{level} bypass requested")
    batch.event(
        at + US,
        action="bypass.requested",
        actor=actor,
        subject=subject,
        reason=row["decision_branch"],
        after={
            "level": row["level"],
            "checks": row["checks"],
            "repository": row["repository"],
            "pull_request": row["pull_request"],
            "change": row["change_id"],
        },
    )


def transition(batch: Batch, subject, name: str, *, at: datetime, actor: User, reason: str, source, target):
    """audits.receivers.on_bypass_transition: the audit event of a transition."""
    batch.event(
        at,
        action=f"bypass.{name}",
        actor=actor,
        subject=subject,
        reason=reason,
        before={"status": source},
        after={"status": target},
    )


def sign_all(batch: Batch, subject, sigs: list[Sig], content: dict, *, rules) -> None:
    """Each approval; a recorded verbal one also owes its confirmation (on_verbal_approval, on_verbal_confirmed)."""
    for sig in sigs:
        pk = batch.sign(subject, sig, content)
        if sig.method == Method.E_SIGNATURE:
            continue
        method = Method(sig.method).label.lower()
        (clock,) = batch.open_clocks(
            subject,
            [
                {
                    "kind": "verbal_confirmation",
                    "key": str(pk),
                    "owner": sig.signer,
                    "due_at": sig.approved_at + timedelta(hours=rules.verbal_confirmation_hours),
                    "label": f"Confirm {method} ({sig.role.label})",
                }
            ],
            at=sig.at + US,
            actor=sig.recorded_by,
        )
        if sig.confirm_at:
            comment = (
                f"Confirms the {method} of {sig.approved_at:%Y-%m-%d %H:%M} UTC recorded by "
                f"{sig.recorded_by.display_name}."
            )
            confirmation = Sig(sig.signer, sig.role, sig.confirm_at, meaning=Meaning.CONFIRMED, comment=comment)
            batch.sign(subject, confirmation, content, confirms=pk)
            batch.satisfy(
                clock, at=sig.confirm_at + US, actor=sig.signer, note="confirmed by signature", subject=subject
            )


def activate(batch: Batch, subject, row: dict, *, at: datetime, actor: User, signed_by: str) -> None:
    """The last signature's effect (emergencies.services.bypasses): the request turns active."""
    transition(
        batch,
        subject,
        "activate",
        at=at - 2 * US,
        actor=actor,
        reason=f"signed by {signed_by}",
        source=Status.PENDING.value,
        target=Status.ACTIVE.value,
    )
    row.update(status=Status.ACTIVE.value, decided_at=at)
    batch.history(BypassRequest, row, at=at, kind="~", user=actor, reason=f"active: signed by {signed_by}")


def remediated(batch: Batch, subject, row: dict, *, at: datetime, actor: User, reason: str, history: str) -> None:
    """BypassRequest.mark_remediated as the services call it: the audit event and the history row."""
    transition(
        batch,
        subject,
        "mark_remediated",
        at=at,
        actor=actor,
        reason=reason,
        source=Status.ACTIVE.value,
        target=Status.REMEDIATED.value,
    )
    row["status"] = Status.REMEDIATED.value
    batch.history(BypassRequest, row, at=at, kind="~", user=actor, reason=history)
