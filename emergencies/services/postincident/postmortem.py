"""After the fix: hotfix review, deployment checklist, rollback readings, documentation, the post-mortem,
follow-up changes, retroactive gate validation and the closure checklist."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import (
    ActionItem,
    BypassRequest,
    ChangeRecord,
    GateResult,
    PostMortem,
    PreventiveMeasure,
    RollbackTriggerReading,
    TimelineEntry,
)
from qms.models import Signature, User
from qms.procedures import POST_MORTEM_APPROVERS_DEFAULT
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in, on_behalf_refusal

S = ChangeRecord.Status
VALIDATOR_ROLES = permissions.VALIDATOR_ROLES
# The default approvers; a procedure version may name others ("post_mortem_approvers", ProcedureRules).
POST_MORTEM_APPROVER_ROLES = tuple(Role(r) for r in POST_MORTEM_APPROVERS_DEFAULT)
DOCUMENTATION_SECTIONS = {
    "problem_statement": "Complete problem statement",
    "root_cause": "Root cause analysis",
    "impact_assessment": "Impact assessment",
    "timeline": "Timeline of events",
    "affected_artifacts": "All affected artifacts listed",
    "resolution": "Resolution details",
    "lessons_learned": "Lessons learned",
}
DEPLOYMENT_FLAGS = {
    "smoke_test_passed": "Smoke test passed",
    "security_scan_passed": "Security scan passed",
    "deployment_notification_sent": "Deployment notification sent",
    "dashboards_open": "Monitoring dashboards open",
    "oncall_team_notified": "On-call team notified",
    "stakeholders_notified": "Stakeholders notified",
}


def _lock_change(change_id: int) -> ChangeRecord:
    return (
        ChangeRecord.objects.select_for_update(of=("self",))
        .select_related("incident", "procedure_version", "author")
        .get(pk=change_id)
    )


def _require_editable(change: ChangeRecord, actor: User) -> None:
    if not change.is_open:
        raise ValidationError(f"{change.identifier} is {change.get_status_display().lower()}; it no longer changes.")
    if not permissions.can_work_on_change(change, actor):
        raise PermissionDenied("You may not update this change.")


def _milestone(change: ChangeRecord, name: str, actor: User, at: datetime) -> None:
    signals.change_record_milestone.send(sender=ChangeRecord, change=change, name=name, actor=actor, at=at)


# --- hotfix and deployment ------------------------------------------------------------------------------


@transaction.atomic
def hotfix_review_record(*, change_id: int, reviewer: User) -> ChangeRecord:
    """The second engineer confirms they reviewed the code change (pair programming, §3.1)."""
    change = _lock_change(change_id)
    _require_editable(change, reviewer)
    if reviewer.pk == change.author_id:
        raise PermissionDenied("The author cannot be the second engineer reviewing their own hotfix.")
    if change.status not in (S.HOTFIX, S.BYPASS_AUTHORISED, S.STUB, S.ROLLED_BACK):
        raise ValidationError("The hotfix can only be reviewed before it is deployed.")
    change.hotfix_reviewer = reviewer
    change._history_user, change._change_reason = reviewer, "hotfix reviewed by second engineer"
    change.save(update_fields=["hotfix_reviewer", "updated_at"])
    _milestone(change, "hotfix_reviewed", reviewer, timezone.now())
    return change


@transaction.atomic
def change_deployment_flag_set(*, change_id: int, flag: str, done: bool, actor: User) -> ChangeRecord:
    if flag not in DEPLOYMENT_FLAGS:
        raise ValidationError({"flag": [f"Unknown checklist item {flag!r}."]})
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if getattr(change, flag) == done:
        return change
    setattr(change, flag, done)
    change._history_user = actor
    change._change_reason = f"{DEPLOYMENT_FLAGS[flag]} {'ticked' if done else 'unticked'}"
    change.save(update_fields=[flag, "updated_at"])
    signals.change_record_checklist_changed.send(sender=ChangeRecord, change=change, actor=actor, item=flag, done=done)
    return change


@transaction.atomic
def rollback_reading_record(
    *,
    change_id: int,
    actor: User,
    error_rate_increase_pct: Decimal,
    response_time_ratio: Decimal,
    new_critical_errors: int,
    note: str = "",
    at: datetime | None = None,
) -> RollbackTriggerReading:
    """Record the metrics after a hotfix; the page shows which trigger fired and the action it calls for."""
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if change.status not in (S.DEPLOYED, S.MONITORING):
        raise ValidationError("Rollback triggers are read after deployment, while the change is deployed or monitored.")
    reading = RollbackTriggerReading(
        change=change,
        error_rate_increase_pct=error_rate_increase_pct,
        response_time_ratio=response_time_ratio,
        new_critical_errors=new_critical_errors,
        note=note.strip(),
        recorded_by=actor,
        recorded_at=at or timezone.now(),
    )
    reading.full_clean()
    reading.save()
    fired = reading.triggered(change.rules.rollback_triggers)
    _milestone(change, "rollback_reading", actor, reading.recorded_at)
    signals.change_record_checklist_changed.send(
        sender=ChangeRecord,
        change=change,
        actor=actor,
        item="rollback_reading",
        done=bool(fired),
    )
    return reading


# --- documentation ----------------------------------------------------------------------------------------


def documentation_missing(change: ChangeRecord) -> list[str]:
    return [label for name, label in DOCUMENTATION_SECTIONS.items() if not getattr(change, name).strip()]


@transaction.atomic
def change_documentation_update(*, change_id: int, actor: User, sections: dict[str, str]) -> ChangeRecord:
    """Complete the emergency stub into the full CHG document (§4.1)."""
    unknown = set(sections) - set(DOCUMENTATION_SECTIONS) - {"rollback_plan"}
    if unknown:
        raise ValidationError({"sections": [f"Unknown section(s): {', '.join(sorted(unknown))}."]})
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if "problem_statement" in sections and not sections["problem_statement"].strip():
        raise ValidationError({"problem_statement": ["The problem statement cannot be emptied."]})
    changed = [name for name, value in sections.items() if getattr(change, name) != value.strip()]
    if not changed:
        return change
    for name in changed:
        setattr(change, name, sections[name].strip())
    now = timezone.now()
    newly_complete = not documentation_missing(change) and change.documentation_completed_at is None
    if newly_complete:
        change.documentation_completed_at = now
    change._history_user, change._change_reason = actor, f"documentation: {', '.join(changed)}"
    change.save()
    if newly_complete:
        _milestone(change, "documentation_complete", actor, now)
    return change


# --- post-mortem ------------------------------------------------------------------------------------------

POST_MORTEM_FIELDS = (
    "incident_start",
    "incident_end",
    "users_affected",
    "duration_hours",
    "revenue_impact",
    "reputational_impact",
    "why_1",
    "why_2",
    "why_3",
    "why_4",
    "why_5",
    "contributing_factors",
    "resolution",
    "went_well",
    "went_poorly",
    "got_lucky",
    "post_mortem_date",
)
TIMELINE_LINE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2})\s*[|—–-]?\s*(.+?)\s*$")


def parse_timeline(text: str) -> list[tuple[datetime, str]]:
    """One event per line: ``YYYY-MM-DD HH:MM  What happened`` (UTC)."""
    rows, errors = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = TIMELINE_LINE.match(line)
        if not match:
            errors.append(f"Line {number}: write “YYYY-MM-DD HH:MM event” (UTC).")
            continue
        at = datetime.strptime(match.group(1).replace("T", " "), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        rows.append((at, match.group(2)[:300]))
    if errors:
        raise ValidationError({"timeline": errors})
    return sorted(rows)


def _lock_post_mortem(post_mortem_id: int) -> PostMortem:
    return (
        PostMortem.objects.select_for_update(of=("self",))
        .select_related("change", "change__incident", "change__procedure_version")
        .get(pk=post_mortem_id)
    )


@transaction.atomic
def post_mortem_start(*, change_id: int, actor: User) -> PostMortem:
    change = _lock_change(change_id)
    _require_editable(change, actor)
    if change.level != ChangeRecord.Level.EMERGENCY:
        raise ValidationError("Post-mortems are for emergency changes.")
    existing = PostMortem.objects.filter(change=change).first()
    if existing is not None:
        return existing
    incident = change.incident
    post_mortem = PostMortem(
        change=change,
        author=actor,
        post_mortem_date=timezone.now().date(),
        incident_start=incident.detected_at or incident.declared_at if incident else change.declared_at,
        incident_end=change.resolved_at,
        resolution=change.resolution,
    )
    post_mortem._history_user, post_mortem._change_reason = actor, "post-mortem started"
    post_mortem.save()
    rows = [
        (change.declared_at, "Incident declared, emergency stub filed"),
        (change.bypass_authorised_at, "Bypass authorized"),
        (change.deployed_at, "Hotfix deployed"),
        (change.resolved_at, "Resolution confirmed"),
    ]
    for at, event in rows:
        if at is not None:
            TimelineEntry.objects.create(post_mortem=post_mortem, at=at, event=event)
    return post_mortem


def _require_post_mortem_editable(post_mortem: PostMortem, actor: User) -> None:
    if post_mortem.status != PostMortem.Status.DRAFT:
        raise ValidationError("The post-mortem is in review or approved; reopen it to edit.")
    if not permissions.can_work_on_change(post_mortem.change, actor):
        raise PermissionDenied("You may not edit this post-mortem.")


@transaction.atomic
def post_mortem_update(
    *, post_mortem_id: int, actor: User, fields: dict, timeline_text: str | None = None
) -> PostMortem:
    unknown = set(fields) - set(POST_MORTEM_FIELDS)
    if unknown:
        raise ValidationError({"fields": [f"Unknown field(s): {', '.join(sorted(unknown))}."]})
    post_mortem = _lock_post_mortem(post_mortem_id)
    _require_post_mortem_editable(post_mortem, actor)
    rows = parse_timeline(timeline_text) if timeline_text is not None else None
    for name, value in fields.items():
        setattr(post_mortem, name, value.strip() if isinstance(value, str) else value)
    if (
        post_mortem.incident_start
        and post_mortem.incident_end
        and post_mortem.incident_end < post_mortem.incident_start
    ):
        raise ValidationError({"incident_end": ["The incident cannot end before it started."]})
    post_mortem.full_clean(exclude=["status"])
    post_mortem._history_user, post_mortem._change_reason = actor, "post-mortem edited"
    post_mortem.save()
    if rows is not None:
        post_mortem.timeline.all().delete()  # history keeps the rows that were there
        for at, event in rows:
            entry = TimelineEntry(post_mortem=post_mortem, at=at, event=event)
            entry._history_user = actor
            entry.save()
    return post_mortem


@transaction.atomic
def action_item_add(*, post_mortem_id: int, actor: User, action: str, owner: User, due_date: date) -> ActionItem:
    post_mortem = _lock_post_mortem(post_mortem_id)
    if not permissions.can_work_on_change(post_mortem.change, actor):
        raise PermissionDenied("You may not edit this post-mortem.")
    if post_mortem.status == PostMortem.Status.APPROVED:
        raise ValidationError("The post-mortem is approved; add further actions as follow-up changes.")
    if not action.strip():
        raise ValidationError({"action": ["Say what must be done."]})
    if due_date < timezone.now().date():
        raise ValidationError({"due_date": ["The due date is in the past."]})
    number = (post_mortem.action_items.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    item = ActionItem(post_mortem=post_mortem, number=number, action=action.strip(), owner=owner, due_date=due_date)
    item._history_user, item._change_reason = actor, "action item added"
    item.save()
    signals.action_item_saved.send(sender=ActionItem, item=item, actor=actor)
    return item


@transaction.atomic
def action_item_set_status(*, item_id: int, actor: User, status: str) -> ActionItem:
    item = ActionItem.objects.select_for_update(of=("self",)).select_related("post_mortem__change").get(pk=item_id)
    if status not in ActionItem.Status.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    if actor.pk != item.owner_id and not permissions.can_work_on_change(item.post_mortem.change, actor):
        raise PermissionDenied("Only the owner or the change team can update an action item.")
    item.status = status
    item._history_user, item._change_reason = actor, f"status {status}"
    item.save(update_fields=["status"])
    signals.action_item_saved.send(sender=ActionItem, item=item, actor=actor)
    return item


@transaction.atomic
def preventive_measure_add(
    *, post_mortem_id: int, actor: User, measure: str, category: str, priority: str
) -> PreventiveMeasure:
    post_mortem = _lock_post_mortem(post_mortem_id)
    if not permissions.can_work_on_change(post_mortem.change, actor):
        raise PermissionDenied("You may not edit this post-mortem.")
    item = PreventiveMeasure(post_mortem=post_mortem, measure=measure.strip(), category=category, priority=priority)
    item.full_clean(exclude=["follow_up"])
    item._history_user, item._change_reason = actor, "preventive measure added"
    item.save()
    return item


@transaction.atomic
def preventive_measure_follow_up_create(*, measure_id: int, actor: User) -> ChangeRecord:
    """One click: a follow-up change for a preventive measure, linked both ways (§4.4)."""
    measure = (
        PreventiveMeasure.objects.select_for_update(of=("self",))
        .select_related("post_mortem__change__procedure_version")
        .get(pk=measure_id)
    )
    parent = measure.post_mortem.change
    if not permissions.can_work_on_change(parent, actor):
        raise PermissionDenied("You may not create follow-up changes for this emergency.")
    if measure.follow_up_id:
        return measure.follow_up
    now = timezone.now()
    follow_up = ChangeRecord(
        title=f"{measure.get_category_display()}: {measure.measure}"[:250],
        level=ChangeRecord.Level.STANDARD,
        source=ChangeRecord.Source.PREVENTIVE,
        status=ChangeRecord.Status.DRAFT,
        incident=parent.incident,
        procedure_version=parent.procedure_version,
        author=actor,
        declared_at=now,
        parent=parent,
        problem_statement=f"Preventive measure ({measure.priority} priority) from the post-mortem of "
        f"{parent.identifier}: {measure.measure}",
    )
    follow_up._history_user, follow_up._change_reason = actor, f"follow-up of {parent.identifier}"
    save_with_unique_identifier(follow_up, field_name="identifier", base=f"CHG-{now:%Y%m%d-%H%M}")
    measure.follow_up = follow_up
    measure._history_user, measure._change_reason = actor, f"follow-up {follow_up.identifier} created"
    measure.save(update_fields=["follow_up"])
    _milestone(parent, "follow_up_created", actor, now)
    return follow_up


def post_mortem_problems(post_mortem: PostMortem) -> list[str]:
    problems = []
    if not post_mortem.has_root_cause_analysis:
        problems.append("Answer all five whys (EMG-W003).")
    if not post_mortem.resolution.strip():
        problems.append("Describe the resolution.")
    if not (post_mortem.went_well.strip() and post_mortem.went_poorly.strip()):
        problems.append("Record what went well and what went poorly.")
    if not post_mortem.timeline.exists():
        problems.append("Add the timeline.")
    return problems


@transaction.atomic
def post_mortem_submit(*, post_mortem_id: int, actor: User) -> PostMortem:
    post_mortem = _lock_post_mortem(post_mortem_id)
    _require_post_mortem_editable(post_mortem, actor)
    problems = post_mortem_problems(post_mortem)
    if problems:
        raise ValidationError(problems)
    post_mortem.submit(by=actor, at=timezone.now())
    post_mortem._history_user, post_mortem._change_reason = actor, "submitted for review"
    post_mortem.save()
    return post_mortem


@transaction.atomic
def post_mortem_reopen(*, post_mortem_id: int, actor: User, reason: str) -> PostMortem:
    post_mortem = _lock_post_mortem(post_mortem_id)
    if post_mortem.status != PostMortem.Status.IN_REVIEW:
        raise ValidationError("Only a post-mortem in review can be reopened.")
    if not reason.strip():
        raise ValidationError({"reason": ["Say what must change."]})
    post_mortem.reopen(by=actor, reason=reason)
    post_mortem._history_user, post_mortem._change_reason = actor, f"reopened: {reason.strip()}"
    post_mortem.save()
    return post_mortem


def post_mortem_approve(
    *,
    post_mortem_id: int,
    signer: User,
    password: str,
    role: Role,
    comment: str = "",
    auth: SigningAuth | None = None,
) -> PostMortem:
    """Review and approve by electronic signature; never by its author."""
    post_mortem = PostMortem.objects.get(pk=post_mortem_id)
    _check_may_approve_post_mortem(post_mortem, signer, role)
    signer_authenticate(user=signer, password=password, auth=auth)
    with transaction.atomic():
        post_mortem = _lock_post_mortem(post_mortem_id)
        _check_may_approve_post_mortem(post_mortem, signer, role)
        now = timezone.now()
        signature_record(
            subject=post_mortem,
            content=post_mortem.signable_content(),
            signer=signer,
            role=role,
            meaning=Signature.Meaning.APPROVED,
            comment=comment,
            auth=auth,
        )
        post_mortem.approve(by=signer, at=now)
        post_mortem._history_user, post_mortem._change_reason = signer, "approved by signature"
        post_mortem.save()
        _milestone(post_mortem.change, "post_mortem_approved", signer, now)
        return post_mortem


def _check_may_approve_post_mortem(post_mortem: PostMortem, signer: User, role: Role) -> None:
    if post_mortem.status != PostMortem.Status.IN_REVIEW:
        raise ValidationError("The post-mortem is not awaiting review.")
    if signer.pk == post_mortem.author_id:
        raise PermissionDenied("Nobody approves their own post-mortem.")
    if role not in post_mortem.change.rules.post_mortem_approver_roles or not may_sign_in(signer, role):
        raise PermissionDenied("Approving a post-mortem needs an approver role you hold or were delegated.")
    refusal = on_behalf_refusal(signer, role, author_id=post_mortem.author_id, what="A post-mortem")
    if refusal:
        raise PermissionDenied(refusal)


# --- retroactive gates ------------------------------------------------------------------------------------


def emergency_bypass(change: ChangeRecord) -> BypassRequest | None:
    return BypassRequest.objects.filter(change=change, level=BypassRequest.Level.EMERGENCY).order_by("-pk").first()


def gate_catalogue(change: ChangeRecord) -> list[str]:
    """The gates the emergency bypassed, which must each be validated after the fact."""
    bypass = emergency_bypass(change)
    return list(bypass.checks) if bypass else []


def gate_status(change: ChangeRecord) -> list[tuple[str, str, GateResult | None]]:
    latest: dict[str, GateResult] = {}
    for result in change.gate_results.select_related("validated_by").order_by("-validated_at", "-pk"):
        latest.setdefault(result.gate, result)
    rules = change.rules
    return [(gate, rules.check_label(gate), latest.get(gate)) for gate in gate_catalogue(change)]


def gates_not_cleared(change: ChangeRecord) -> list[str]:
    return [label for _, label, result in gate_status(change) if result is None or not result.clears_gate]


def gate_result_record(*, change_id: int, gate: str, result: str, evidence: str, actor: User) -> GateResult:
    with transaction.atomic():
        change = _lock_change(change_id)
        if not change.is_open:
            raise ValidationError(f"{change.identifier} is closed.")
        if not actor.has_role(*VALIDATOR_ROLES):
            raise PermissionDenied("Validating gates needs a QMS, quality, architect, lead, security or CM role.")
        if actor.pk == change.author_id:
            raise PermissionDenied("The author of the emergency change cannot validate its gates.")
        if gate not in gate_catalogue(change):
            raise ValidationError({"gate": [f"{gate!r} was not bypassed by this emergency."]})
        if result not in GateResult.Result.values:
            raise ValidationError({"result": [f"Unknown result {result!r}."]})
        if not evidence.strip():
            raise ValidationError({"evidence": ["Attach or describe the evidence."]})
        if result == GateResult.Result.WAIVED and not actor.has_role(Role.QMS):
            raise PermissionDenied("Only a QMS coordinator may waive a gate.")
        record = GateResult(
            change=change,
            gate=gate,
            result=result,
            evidence=evidence.strip(),
            validated_by=actor,
            validated_at=timezone.now(),
        )
        record.full_clean()
        record.save()
        bypass = emergency_bypass(change)
        signals.gate_result_recorded.send(sender=GateResult, result=record, bypass=bypass, actor=actor)
        if bypass is not None and bypass.status == BypassRequest.Status.ACTIVE and not gates_not_cleared(change):
            bypass = BypassRequest.objects.select_for_update(of=("self",)).get(pk=bypass.pk)
            bypass.mark_remediated(by=actor, reason="every bypassed gate validated retroactively")
            bypass._history_user, bypass._change_reason = actor, "all gates validated retroactively"
            bypass.save()
            _milestone(change, "gates_validated", actor, record.validated_at)
        return record


@transaction.atomic
def gate_results_record(
    *, change_id: int, results: list[tuple[str, str, str]], actor: User, evidence_for_all: str = ""
) -> list[GateResult]:
    """Record the retroactive results of several gates at once: all of them, or none if one is refused.

    ``results`` holds (gate, result, evidence); an empty evidence takes ``evidence_for_all`` (one CI run or
    report often shows several gates passing). Each row goes through ``gate_result_record``, guards and all.
    """
    if not results:
        raise ValidationError("Choose a result for at least one gate.")
    gates = [gate for gate, _, _ in results]
    if len(set(gates)) != len(gates):
        raise ValidationError("Each gate once per submission.")
    recorded, errors = [], []
    change = ChangeRecord.objects.select_related("procedure_version").filter(pk=change_id).first()
    for gate, result, evidence in results:
        label = change.rules.check_label(gate) if change else gate
        try:
            recorded.append(
                gate_result_record(
                    change_id=change_id,
                    gate=gate,
                    result=result,
                    evidence=evidence.strip() or evidence_for_all,
                    actor=actor,
                )
            )
        except ValidationError as exc:
            errors.append(f"{label}: {' '.join(exc.messages)}")
    if errors:
        raise ValidationError(errors)  # the atomic block rolls back the rows already written
    return recorded


# --- closure ----------------------------------------------------------------------------------------------


def closure_checklist(change: ChangeRecord) -> list[tuple[str, bool]]:
    """The emergency CHG closure checklist of §4.5 (the status itself is the last step)."""
    post_mortem = PostMortem.objects.filter(change=change).first()
    approved = post_mortem is not None and post_mortem.status == PostMortem.Status.APPROVED
    measures = list(post_mortem.preventive_measures.all()) if post_mortem else []
    items = [
        ("Full CHG document complete", not documentation_missing(change)),
        ("Post-mortem conducted", approved),
        ("Post-mortem document created", approved and post_mortem.has_root_cause_analysis),
        ("All gates retroactively validated", not gates_not_cleared(change)),
        ("Follow-up CHGs created", bool(measures) and all(m.follow_up_id for m in measures)),
        ("Stakeholders notified", change.stakeholders_notified),
    ]
    items += [(problem, False) for problem in extra_closure_problems(change)]
    return items


# Other parts of the lifecycle (patch packages, CCB Gate 4) add their own closure conditions here.
CLOSURE_HOOKS: list = []


def extra_closure_problems(change: ChangeRecord) -> list[str]:
    return [problem for hook in CLOSURE_HOOKS for problem in hook(change)]


def closure_problems(change: ChangeRecord) -> list[str]:
    return [label for label, done in closure_checklist(change) if not done]
