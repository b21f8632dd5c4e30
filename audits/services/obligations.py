"""Oversight writes on the obligations (clocks): started, met, re-anchored, reassigned, escalated, and met
by recorded evidence; each one audited on the trail (``audits.services.trail``)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from audits.models import Obligation
from audits.services.trail import audit_event_record
from qms.models import User
from qms.roles import Role


def subject_ref(subject: models.Model) -> dict:
    return {"subject_type": ContentType.objects.get_for_model(subject), "subject_id": subject.pk}


@transaction.atomic(savepoint=False)
def obligations_open(
    *,
    subject: models.Model,
    specs: list[dict],
    started_at: datetime,
    actor: User | None,
    subject_url: str = "",
    new_subject: bool = False,
) -> list[Obligation]:
    """Start clocks on a subject; ``specs`` give kind, label, due_at, owner, owner_role and key.

    Clocks that already run on the subject are left alone, so calling this twice starts nothing twice
    (``new_subject``: the subject was created in this transaction, no clock can run on it yet: not looked up).
    """
    from audits.clocks import kind_of

    unknown = [spec["kind"] for spec in specs if kind_of(spec["kind"]) is None]
    if unknown:  # a clock nobody can meet would escalate forever
        raise ValueError(f"Clock kinds without a way to be met (audits.clocks): {unknown}")
    ref = subject_ref(subject)
    existing = set() if new_subject else set(Obligation.objects.filter(**ref).values_list("kind", "key"))
    new = [
        Obligation(
            **ref,
            kind=spec["kind"],
            key=spec.get("key", ""),
            subject_label=str(subject),
            subject_url=subject_url,
            label=spec["label"],
            owner=spec.get("owner"),
            owner_role=spec.get("owner_role", ""),
            started_at=started_at,
            due_at=spec["due_at"],
        )
        for spec in specs
        if (spec["kind"], spec.get("key", "")) not in existing
    ]
    if not new:
        return []
    created = bulk_create_with_history(new, Obligation, default_user=actor, default_change_reason="clock started")
    audit_event_record(
        action="obligation.opened",
        actor=actor,
        subject=subject,
        reason="; ".join(f"{o.label} due {o.due_at:%Y-%m-%d %H:%M} UTC" for o in new),
        after={"clocks": [{"kind": o.kind, "key": o.key, "due_at": o.due_at} for o in new]},
    )
    return created


@transaction.atomic(savepoint=False)
def obligations_satisfy(
    *,
    subject: models.Model,
    kinds: list[str] | None,
    actor: User | None,
    note: str,
    at: datetime | None = None,
    keys: list[str] | None = None,
) -> list[Obligation]:
    """Mark a subject's open obligations of these kinds (all of them for ``None``) as met."""
    qs = Obligation.objects.select_for_update().filter(**subject_ref(subject), satisfied_at__isnull=True)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    if keys is not None:
        qs = qs.filter(key__in=keys)
    at = at or timezone.now()
    done = []
    for obligation in qs:
        obligation.satisfied_at, obligation.satisfied_by, obligation.satisfaction_note = at, actor, note
        obligation._history_user, obligation._change_reason = actor, note
        obligation.save(update_fields=["satisfied_at", "satisfied_by", "satisfaction_note"])
        audit_event_record(
            action="obligation.satisfied",
            actor=actor,
            subject=subject,
            reason=f"{obligation.label}: {note}",
            after={"obligation": obligation.pk, "kind": obligation.kind, "on_time": obligation.met_on_time},
        )
        done.append(obligation)
    return done


@transaction.atomic(savepoint=False)
def obligations_reanchor(
    *,
    subject: models.Model,
    due_by_kind: dict[str, datetime],
    actor: User | None,
    note: str = "due re-anchored at resolution",
) -> int:
    """Move the due time of a subject's open clocks (e.g. from declaration to resolution)."""
    moved = 0
    for obligation in Obligation.objects.select_for_update().filter(
        **subject_ref(subject), satisfied_at__isnull=True, kind__in=list(due_by_kind)
    ):
        due = due_by_kind[obligation.kind]
        if obligation.due_at == due:
            continue
        before = obligation.due_at
        obligation.due_at = due
        if due > before:  # a later deadline starts the escalation ladder again
            obligation.escalation_level, obligation.last_escalated_at = 0, None
        obligation._history_user, obligation._change_reason = actor, note
        obligation.save(update_fields=["due_at", "escalation_level", "last_escalated_at"])
        audit_event_record(
            action="obligation.reanchored",
            actor=actor,
            subject=subject,
            reason=f"{obligation.label} now due {due:%Y-%m-%d %H:%M} UTC",
            before={"due_at": before},
            after={"due_at": due, "kind": obligation.kind},
        )
        moved += 1
    return moved


def obligation_sweep(*, now: datetime | None = None, batch: int = 5000, max_batches: int | None = 10) -> int:
    """Escalate overdue open obligations up the procedure's ladder (owner, lead, QMS coordinator, executive),
    once per step; returns how many obligations moved up. See ``audits.escalation``.

    One beat run handles at most ``batch`` x ``max_batches`` obligations (a larger backlog, after an outage,
    drains over the next runs instead of holding one task for long); ``max_batches=None`` drains it all.
    """
    from audits.escalation import obligation_sweep as sweep

    return sweep(now=now, batch=batch, max_batches=max_batches).escalated


@transaction.atomic
def obligation_preventive_change_meet(
    *, obligation_id: int, actor: User, change_identifier: str = "", title: str = ""
) -> Obligation:
    """Meet a repeat-bypass pattern's preventive follow-up obligation by linking an existing change or
    opening a new preventive change from the pattern's page."""
    from emergencies.services.followups import (
        can_open_preventive_change,
        preventive_change_create,
        preventive_change_for_link,
    )

    obligation = Obligation.objects.select_for_update().get(pk=obligation_id)
    if obligation.kind != "preventive_change":
        raise ValidationError("This clock is not a preventive follow-up change.")
    if not can_open_preventive_change(actor):
        raise PermissionDenied("Only a development lead, architect, engineering manager or QMS coordinator meets it.")
    if obligation.satisfied_at is not None:
        raise ValidationError(f"{obligation.label} was already met {obligation.satisfied_at:%Y-%m-%d %H:%M} UTC.")
    if change_identifier.strip():
        change = preventive_change_for_link(identifier=change_identifier)
        note = f"linked preventive change {change.identifier}"
    else:
        change = preventive_change_create(
            actor=actor,
            title=title or obligation.label.removeprefix("Preventive follow-up change: "),
            problem_statement=f"Preventive change for the repeat-bypass pattern on {obligation.subject_label}: "
            f"{obligation.label}",
        )
        note = f"preventive change {change.identifier} opened"
    subject = obligation.subject
    met = obligations_satisfy(subject=subject, kinds=[obligation.kind], actor=actor, note=note, keys=[obligation.key])
    return met[0] if met else obligation


@transaction.atomic(savepoint=False)
def obligations_reassign(*, subject: models.Model, owner_role: str, owner: User, actor: User | None, note: str) -> int:
    """Give a subject's open clocks owned through a role (the incident commander's) to the new holder."""
    moved = 0
    for obligation in Obligation.objects.select_for_update().filter(
        **subject_ref(subject), satisfied_at__isnull=True, owner_role=owner_role
    ):
        if obligation.owner_id == owner.pk:
            continue
        before = obligation.owner_id
        obligation.owner = owner
        obligation._history_user, obligation._change_reason = actor, note
        obligation.save(update_fields=["owner"])
        audit_event_record(
            action="obligation.reassigned",
            actor=actor,
            subject=subject,
            reason=f"{obligation.label}: {note}",
            before={"owner": before},
            after={"owner": owner.pk, "kind": obligation.kind},
        )
        moved += 1
    return moved


MAX_EVIDENCE_CHARS = 4000
# Besides the clock's owner, who records a post-incident or post-deployment action done.
EVIDENCE_RECORDER_ROLES = (Role.COMMANDER, Role.QMS, Role.CM, Role.RELEASE, Role.QUALITY, Role.LEAD)


def can_record_evidence(user: User, obligation: Obligation) -> bool:
    from audits.clocks import EVIDENCE_KINDS

    if not (user and user.is_authenticated and user.is_active) or obligation.kind not in EVIDENCE_KINDS:
        return False
    return obligation.owner_id == user.pk or user.has_role(*EVIDENCE_RECORDER_ROLES)


@transaction.atomic
def obligation_evidence_record(*, obligation_id: int, actor: User, evidence: str) -> Obligation:
    """Record a post-incident or post-deployment action done, with what shows it (a link, a document, the
    board minutes' reference): the clock is met by the actor, the evidence kept in its note and history."""
    from audits.clocks import EVIDENCE_KINDS

    obligation = Obligation.objects.select_for_update().get(pk=obligation_id)
    if obligation.kind not in EVIDENCE_KINDS:
        raise ValidationError("This clock is met by its own record, not by evidence recorded here.")
    if not can_record_evidence(actor, obligation):
        raise PermissionDenied("The clock's owner, the incident commander or a QMS coordinator records it.")
    if obligation.satisfied_at is not None:
        raise ValidationError(f"{obligation.label} was already met {obligation.satisfied_at:%Y-%m-%d %H:%M} UTC.")
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError({"evidence": ["Give the evidence that it was done (a reference, link or summary)."]})
    if len(evidence) > MAX_EVIDENCE_CHARS or "\x00" in evidence:
        raise ValidationError({"evidence": [f"At most {MAX_EVIDENCE_CHARS} characters of text."]})
    subject = obligation.subject
    if obligation.kind == "post_deployment_monitoring":
        from emergencies.models import StatusUpdate

        if not StatusUpdate.objects.filter(change=subject, posted_at__gte=subject.deployed_at).exists():
            raise ValidationError(
                "Monitoring is reported through the status updates (§12.1): post one since deployment first."
            )
    met = obligations_satisfy(
        subject=subject,
        kinds=[obligation.kind],
        keys=[obligation.key],
        actor=actor,
        note=f"done: {evidence}",
    )
    return met[0] if met else obligation
