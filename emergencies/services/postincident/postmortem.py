"""The post-mortem: its start, editing, submission, reopening and approval by signature."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions
from emergencies.models import (
    ChangeRecord,
    PostMortem,
    TimelineEntry,
)
from emergencies.services.postincident.change import _lock_change, _milestone, _require_editable
from qms.models import Signature, User
from qms.procedures import POST_MORTEM_APPROVERS_DEFAULT
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in, on_behalf_refusal

# The default approvers; a procedure version may name others ("post_mortem_approvers", ProcedureRules).
POST_MORTEM_APPROVER_ROLES = tuple(Role(r) for r in POST_MORTEM_APPROVERS_DEFAULT)


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
