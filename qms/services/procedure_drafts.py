"""Procedures under document control: a draft is edited by its author, submitted for review, approved by
signature by people other than its author (one per role in ``QMS_PROCEDURE_APPROVER_ROLES``), and published
now or from a date. Publishing writes a new ProcedureVersion; changes filed before it keep the one they pinned.
"""

from __future__ import annotations

import copy
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from qms import signals
from qms.limits import COMMENT_MAX, TITLE_MAX
from qms.models import Procedure, ProcedureDraft, Signature, User
from qms.procedures import PRESETS, validate_definition
from qms.procedures.diff import definition_diff
from qms.procedures.yaml import procedure_from_yaml
from qms.roles import Role
from qms.services.delegation import may_sign_in, on_behalf_refusal, signature_persons, signing_persons
from qms.services.procedures import procedure_version_create, procedure_version_current
from qms.services.signatures import SigningAuth, content_hash, signature_record, signatures_for, signer_authenticate

EDITOR_ROLES = (Role.QMS, Role.QUALITY)
Status = ProcedureDraft.Status


def approver_roles() -> list[Role]:
    return [Role(r) for r in settings.QMS_PROCEDURE_APPROVER_ROLES]


def _audit(action: str, draft: ProcedureDraft, actor: User | None, reason: str, after: dict | None = None) -> None:
    """Tell oversight (``audits.receivers.procedures``) about a step, inside the caller's transaction."""
    signals.procedure_draft_event.send(
        sender=ProcedureDraft, action=action, draft=draft, actor=actor, reason=reason, after=after or {}
    )


def _require_editor(actor: User) -> None:
    if not actor.is_active or not actor.has_role(*EDITOR_ROLES):
        raise PermissionDenied("Only a QMS coordinator or a quality manager edits procedures.")


def _locked(draft_id: int) -> ProcedureDraft:
    draft = ProcedureDraft.objects.select_for_update(of=("self",)).select_related("procedure", "base_version")
    draft = draft.filter(pk=draft_id).first()
    if draft is None:
        raise ValidationError("No such procedure draft.")
    return draft


def _check_definition(definition) -> None:
    problems = validate_definition(definition) if isinstance(definition, dict) else ["definition: a mapping."]
    if problems:
        raise ValidationError({"definition": problems})


def _check_note(change_note: str) -> str:
    note = (change_note or "").strip()
    if len(note) > COMMENT_MAX:
        raise ValidationError({"change_note": [f"At most {COMMENT_MAX} characters."]})
    return note


def draft_content(draft: ProcedureDraft) -> dict:
    """What an approver signs: the procedure, the version it replaces, the definition and the change note."""
    return {
        "procedure": draft.procedure.code,
        "base_version": draft.base_version.version if draft.base_version else None,
        "definition": draft.definition,
        "change_note": draft.change_note,
    }


def draft_diff(draft: ProcedureDraft) -> list[str]:
    return definition_diff(draft.base_version.definition if draft.base_version else None, draft.definition)


def draft_approvals(draft: ProcedureDraft) -> list[Signature]:
    """The approvals that count: given since the last submission, on the content as it is now."""
    if draft.submitted_at is None:
        return []
    digest = content_hash(draft_content(draft))
    return [
        s
        for s in signatures_for(draft)
        if s.meaning == Signature.Meaning.APPROVED and s.signed_at >= draft.submitted_at and s.content_hash == digest
    ]


def draft_missing_roles(draft: ProcedureDraft) -> list[Role]:
    signed = {s.role for s in draft_approvals(draft)}
    return [r for r in approver_roles() if r.value not in signed]


@transaction.atomic
def procedure_draft_start(*, procedure_code: str, actor: User, change_note: str = "") -> ProcedureDraft:
    """A draft of the next version, starting from the version in force."""
    _require_editor(actor)
    current = procedure_version_current(code=procedure_code)
    if current is None:
        raise ValidationError({"procedure": ["No procedure with that code is in force."]})
    return _create(current.procedure, current, copy.deepcopy(current.definition), actor, change_note)


def _create(procedure, base, definition, actor, change_note) -> ProcedureDraft:
    draft = ProcedureDraft(
        procedure=procedure,
        base_version=base,
        definition=definition,
        change_note=_check_note(change_note),
        author=actor,
    )
    draft._history_user, draft._change_reason = actor, "draft started"
    draft.full_clean()
    draft.save()
    _audit("procedure.draft_started", draft, actor, f"Draft of {procedure.code} started from {base or 'blank'}")
    return draft


BLANK_TEMPLATE = "eng-proc-004"  # the smallest preset: one severity, two clocks, no CCB


@transaction.atomic
def procedure_create(
    *, code: str, title: str, actor: User, source_document: str = "", copy_from: str = "", change_note: str = ""
) -> ProcedureDraft:
    """A new procedure, as a draft: a copy of another procedure's version in force, or a blank one (the
    smallest runnable definition). It is filed under only once its first version is published."""
    _require_editor(actor)
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise ValidationError({"title": [f"Give a title of at most {TITLE_MAX} characters."]})
    if Procedure.objects.filter(code=code).exists():
        raise ValidationError({"code": ["A procedure with this code exists; start a draft of it instead."]})
    if copy_from:
        source = procedure_version_current(code=copy_from)
        if source is None:
            raise ValidationError({"copy_from": ["No procedure with that code is in force."]})
        definition = copy.deepcopy(source.definition)
    else:
        template = next(p for p in PRESETS if p["code"] == BLANK_TEMPLATE)["definition"]
        definition = copy.deepcopy(template)
        definition["summary"] = title
    procedure = Procedure(code=code, title=title, source_document=(source_document or "").strip()[:TITLE_MAX])
    procedure.full_clean()
    procedure._history_user, procedure._change_reason = actor, "procedure created"
    procedure.save()
    return _create(procedure, None, definition, actor, change_note)


@transaction.atomic
def procedure_draft_import(*, text: str, actor: User) -> ProcedureDraft:
    """A procedure file (YAML) becomes a draft: of the next version when the procedure exists, else of a new
    procedure. Never a published version."""
    _require_editor(actor)
    parsed = procedure_from_yaml(text)
    _check_definition(parsed.definition)
    procedure = Procedure.objects.filter(code=parsed.code).first()
    if procedure is None:
        procedure = Procedure(code=parsed.code, title=parsed.title, source_document=parsed.source_document)
        procedure.full_clean()
        procedure._history_user, procedure._change_reason = actor, "procedure imported"
        procedure.save()
        base = None
    else:
        base = procedure_version_current(code=parsed.code)
    return _create(procedure, base, parsed.definition, actor, parsed.change_note)


@transaction.atomic
def procedure_draft_update(*, draft_id: int, actor: User, definition: dict, change_note: str) -> ProcedureDraft:
    """The author edits the draft while it is a draft; a definition the engine cannot run is refused."""
    draft = _locked(draft_id)
    _require_editor(actor)
    if draft.author_id != actor.pk:
        raise PermissionDenied("Only the draft's author edits it; start your own draft.")
    if draft.status != Status.DRAFT:
        raise ValidationError(f"The draft is {draft.get_status_display().lower()}; it can no longer be edited.")
    _check_definition(definition)
    draft.definition, draft.change_note = definition, _check_note(change_note)
    draft._history_user, draft._change_reason = actor, "draft edited"
    draft.full_clean()
    draft.save()
    return draft


@transaction.atomic
def procedure_draft_submit(*, draft_id: int, actor: User) -> ProcedureDraft:
    draft = _locked(draft_id)
    _require_editor(actor)
    if draft.author_id != actor.pk:
        raise PermissionDenied("Only the draft's author submits it for review.")
    if draft.status != Status.DRAFT:
        raise ValidationError("Only a draft can be submitted for review.")
    _check_definition(draft.definition)
    if not draft.change_note:
        raise ValidationError({"change_note": ["Say what changed and why before submitting."]})
    if draft.base_version is not None and not draft_diff(draft):
        raise ValidationError({"definition": ["Nothing changed from the version in force."]})
    draft.status, draft.submitted_at = Status.IN_REVIEW, timezone.now()
    draft._history_user, draft._change_reason = actor, "submitted for review"
    draft.save(update_fields=["status", "submitted_at", "updated_at"])
    _audit("procedure.draft_submitted", draft, actor, "Submitted for review", {"changes": draft_diff(draft)})
    return draft


def _approval_checks(draft: ProcedureDraft, signer: User, role: Role) -> None:
    if draft.status != Status.IN_REVIEW:
        raise ValidationError("Only a draft in review can be approved.")
    if draft.author_id == signer.pk:
        raise PermissionDenied("The author of a procedure draft cannot approve it.")
    if role not in approver_roles():
        raise PermissionDenied(f"A {role.label} does not approve procedure versions.")
    if not signer.is_active or not may_sign_in(signer, role):
        raise PermissionDenied(f"{signer.display_name} does not hold the role {role.label}.")
    refusal = on_behalf_refusal(signer, role, author_id=draft.author_id, what="A procedure draft")
    if refusal:
        raise PermissionDenied(refusal)
    approvals = draft_approvals(draft)
    if any(s.signer_id == signer.pk for s in approvals):
        raise PermissionDenied("You have already approved this draft; another person signs the other role.")
    if any(signature_persons(s) & signing_persons(signer, role) for s in approvals):
        raise PermissionDenied("One person cannot fill two approver roles on one draft, in person or by delegation.")
    if any(s.role == role.value for s in approvals):
        raise ValidationError({"role": [f"A {role.label} has already approved this draft."]})


def procedure_draft_approve(
    *, draft_id: int, signer: User, password: str, role: Role, comment: str = "", auth: SigningAuth | None = None
) -> ProcedureDraft:
    """An approver signs the draft; once every approver role has signed, it is approved."""
    role = Role(role)
    draft = ProcedureDraft.objects.select_related("procedure", "base_version").get(pk=draft_id)
    _approval_checks(draft, signer, role)
    signer_authenticate(user=signer, password=password, auth=auth)
    with transaction.atomic():
        draft = _locked(draft_id)
        _approval_checks(draft, signer, role)
        signature_record(
            subject=draft,
            content=draft_content(draft),
            signer=signer,
            role=role,
            meaning=Signature.Meaning.APPROVED,
            comment=(comment or "")[:COMMENT_MAX],
            auth=auth,
        )
        if not draft_missing_roles(draft):
            draft.status = Status.APPROVED
            draft._history_user, draft._change_reason = signer, "approved by every approver"
            draft.save(update_fields=["status", "updated_at"])
            _audit("procedure.draft_approved", draft, signer, "Approved by every approver role")
    return draft


@transaction.atomic
def procedure_draft_return(*, draft_id: int, actor: User, reason: str) -> ProcedureDraft:
    """A reviewer (or the author) sends a draft in review back to its author; approvals given so far lapse."""
    draft = _locked(draft_id)
    is_reviewer = actor.pk != draft.author_id and actor.has_role(*approver_roles())
    if actor.pk != draft.author_id and not is_reviewer:
        raise PermissionDenied("Only the author or an approver sends a draft back.")
    if draft.status not in (Status.IN_REVIEW, Status.APPROVED):
        raise ValidationError("Only a draft in review or approved can be sent back.")
    reason = (reason or "").strip()
    if not reason or len(reason) > COMMENT_MAX:
        raise ValidationError({"reason": ["Say why the draft goes back to its author."]})
    draft.status, draft.submitted_at = Status.DRAFT, None
    draft._history_user, draft._change_reason = actor, f"returned: {reason}"
    draft.save(update_fields=["status", "submitted_at", "updated_at"])
    _audit("procedure.draft_returned", draft, actor, reason)
    return draft


@transaction.atomic
def procedure_draft_publish(*, draft_id: int, actor: User, effective_from: datetime | None = None) -> ProcedureDraft:
    """An approved draft becomes the next version, in force now or from ``effective_from``."""
    draft = _locked(draft_id)
    _require_editor(actor)
    if draft.status != Status.APPROVED or draft_missing_roles(draft):
        raise ValidationError("Only an approved draft can be published.")
    current = procedure_version_current(code=draft.procedure.code)
    if draft.base_version_id and (current is None or current.pk != draft.base_version_id):
        raise ValidationError(
            f"{draft.procedure.code} changed since this draft started from {draft.base_version}; start a new draft."
        )
    _check_definition(draft.definition)
    version = procedure_version_create(
        procedure=draft.procedure,
        definition=draft.definition,
        actor=actor,
        change_note=draft.change_note,
        effective_from=effective_from,
    )
    now = timezone.now()
    draft.published_version, draft.effective_from = version, version.effective_from
    draft.status = Status.SCHEDULED if version.effective_from > now else Status.PUBLISHED
    draft._history_user, draft._change_reason = actor, f"published as v{version.version}"
    draft.save(update_fields=["published_version", "effective_from", "status", "updated_at"])
    _audit(
        "procedure.version_published",
        draft,
        actor,
        f"{version} in force from {version.effective_from.isoformat()}",
        {"version": version.version, "effective_from": version.effective_from.isoformat()},
    )
    return draft


@transaction.atomic
def procedure_draft_withdraw(*, draft_id: int, actor: User, reason: str) -> ProcedureDraft:
    """The author withdraws a draft that is not yet published."""
    draft = _locked(draft_id)
    if draft.author_id != actor.pk:
        raise PermissionDenied("Only the draft's author withdraws it.")
    if not draft.is_open:
        raise ValidationError("Only an unpublished draft can be withdrawn.")
    reason = (reason or "").strip()
    if not reason or len(reason) > COMMENT_MAX:
        raise ValidationError({"reason": ["Say why the draft is withdrawn."]})
    draft.status = Status.WITHDRAWN
    draft._history_user, draft._change_reason = actor, f"withdrawn: {reason}"
    draft.save(update_fields=["status", "updated_at"])
    _audit("procedure.draft_withdrawn", draft, actor, reason)
    return draft


def procedure_versions_activate(now: datetime | None = None) -> int:
    """Scheduled versions whose date has come are marked in force; filing already picks them by date."""
    now = now or timezone.now()
    count = 0
    for pk in ProcedureDraft.objects.filter(status=Status.SCHEDULED, effective_from__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            draft = _locked(pk)
            if draft.status != Status.SCHEDULED:
                continue
            draft.status = Status.PUBLISHED
            draft._history_user, draft._change_reason = None, "in force at its effective date"
            draft.save(update_fields=["status", "updated_at"])
            _audit("procedure.version_in_force", draft, None, f"{draft.published_version} is in force")
            count += 1
    return count
