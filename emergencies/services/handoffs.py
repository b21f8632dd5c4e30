"""Hand-offs: asking the next person for a step only they can take, and closing the ask when it is taken.

A request names a person or a role. It is written with its notification (through the outbox, so a broker
that is down loses nothing), listed on the asked person's dashboard under "Waiting for you" and shown on
the record as "waiting for X since T". It closes by itself when the lifecycle reports the step done
(``connect_receivers`` listens to the lifecycle's signals), and the person who asked may withdraw it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm.signals import post_transition

from emergencies import permissions, signals
from emergencies.models import BypassRequest, CCBMember, CCBSession, ChangeRecord, HandoffRequest, PatchPackage
from qms.models import User
from qms.roles import READ_ONLY_ROLES, Role
from qms.services import notification_queue

K = HandoffRequest.Kind
NOTE_MAX = 1000
# Who may be asked for each step: the roles that can take it (the service taking the step re-checks).
KIND_ROLES: dict[str, tuple[Role, ...]] = {
    K.HOTFIX_REVIEW: permissions.WORKER_ROLES,
    K.POST_MORTEM_APPROVAL: (Role.COMMANDER, Role.QMS, Role.ENGMANAGER, Role.SECURITY, Role.QUALITY, Role.LEAD),
    K.GATE_VALIDATION: permissions.VALIDATOR_ROLES,
    K.VERBAL_CONFIRMATION: tuple(r for r in Role if r not in READ_ONLY_ROLES),
    K.CCB_VOTE: tuple(r for r in Role if r not in READ_ONLY_ROLES),
    K.PATCH_APPROVAL: (Role.CM, Role.RELEASE),
    K.UNIT_ACKNOWLEDGEMENT: (Role.CM, Role.RELEASE),
}
ROLE_VALUES = frozenset(r.value for r in Role)
CLOSED_CHANGE_NOTE = "The change left the open lifecycle."


@dataclass(frozen=True)
class Target:
    """What a step is taken on: the subject, the page where it is taken and who must not be asked."""

    subject: models.Model
    label: str
    link: str
    excluded: frozenset[int] = frozenset()  # e.g. the author of what is reviewed
    excluded_reason: str = ""


def _target(change: ChangeRecord, kind: str) -> Target:
    url = change.get_absolute_url()
    if kind == K.HOTFIX_REVIEW:
        return Target(change, change.identifier, f"{url}#deployment", frozenset({change.author_id}), "the author")
    if kind == K.GATE_VALIDATION:
        return Target(change, change.identifier, f"{url}#gates", frozenset({change.author_id}), "the author")
    if kind == K.POST_MORTEM_APPROVAL:
        post_mortem = getattr(change, "post_mortem", None)
        if post_mortem is None:
            raise ValidationError("Start the post-mortem before asking for its review.")
        link = reverse("emergencies:post-mortem", kwargs={"identifier": change.identifier})
        return Target(change, change.identifier, link, frozenset({post_mortem.author_id}), "its author")
    if kind == K.CCB_VOTE:
        session = CCBSession.objects.filter(change=change, status=CCBSession.Status.OPEN).order_by("-pk").first()
        if session is None:
            raise ValidationError("No CCB session of this change is open for votes.")
        return Target(session, session.identifier, session.get_absolute_url())
    if kind in (K.PATCH_APPROVAL, K.UNIT_ACKNOWLEDGEMENT):
        package = PatchPackage.objects.filter(change=change).exclude(status=PatchPackage.Status.WITHDRAWN)
        package = package.order_by("-version").first()
        if package is None:
            raise ValidationError("This change has no patch package yet.")
        excluded = frozenset({package.author_id}) if kind == K.PATCH_APPROVAL else frozenset()
        return Target(
            package, f"{change.identifier} patch v{package.version}", package.get_absolute_url(), excluded, "its author"
        )
    if kind == K.VERBAL_CONFIRMATION:
        bypass = (
            BypassRequest.objects.filter(change=change, level=BypassRequest.Level.EMERGENCY).order_by("-pk").first()
        )
        if bypass is None:
            raise ValidationError("This change has no emergency authorisation to confirm.")
        return Target(bypass, bypass.identifier, bypass.get_absolute_url())
    raise ValidationError({"kind": [f"Unknown step {kind!r}."]})


def can_request_handoff(user: User, change: ChangeRecord) -> bool:
    """Whoever works on an open change (or coordinates quality) may ask the next person; auditors never."""
    if not (user and user.is_authenticated and user.is_active) or not change.is_open:
        return False
    return permissions.can_work_on_change(change, user) or user.has_role(Role.QMS, Role.CM, Role.QUALITY)


def _check_asked(kind: str, target: Target, *, assignee: User | None, role: str, actor: User) -> None:
    allowed = KIND_ROLES[kind]
    errors: dict[str, list[str]] = {}
    if assignee is None and not role:
        errors["assignee"] = ["Name the person, or the role, to ask."]
    if role and role not in {r.value for r in allowed}:
        errors["role"] = [
            f"A {Role(role).label.lower()} cannot take this step." if role in ROLE_VALUES else "Unknown role."
        ]
    if assignee is not None:
        if not assignee.is_active:
            errors["assignee"] = [f"{assignee.display_name} is deactivated."]
        elif assignee.pk == actor.pk:
            errors["assignee"] = ["Ask someone else: a hand-off goes to the next person."]
        elif assignee.pk in target.excluded:
            errors["assignee"] = [f"{assignee.display_name} is {target.excluded_reason} and cannot take this step."]
        elif role and not assignee.has_role(Role(role)):
            errors["assignee"] = [f"{assignee.display_name} does not hold the role {Role(role).label}."]
        elif not assignee.has_role(*allowed):
            errors["assignee"] = [f"{assignee.display_name} holds no role that can take this step."]
        elif kind == K.CCB_VOTE and not CCBMember.objects.filter(session=target.subject, user=assignee).exists():
            errors["assignee"] = [f"{assignee.display_name} does not sit on {target.label}."]
    if errors:
        raise ValidationError(errors)


def _recipients(request: HandoffRequest) -> list[User]:
    if request.assignee_id:
        return [request.assignee]
    users = User.objects.filter(is_active=True, groups__name=Role(request.role).group_name)
    return [u for u in users.exclude(pk=request.requested_by_id).distinct() if u.pk not in _excluded_ids(request)]


def _excluded_ids(request: HandoffRequest) -> frozenset[int]:
    return getattr(request, "_excluded", frozenset())


def _open(
    *,
    kind: str,
    change: ChangeRecord | None,
    target: Target,
    assignee: User | None,
    role: str,
    note: str,
    actor: User,
    notify: bool = True,
) -> HandoffRequest:
    subject_type = ContentType.objects.get_for_model(target.subject)
    duplicate = HandoffRequest.objects.filter(
        subject_type=subject_type, subject_id=target.subject.pk, kind=kind, status=HandoffRequest.Status.OPEN
    ).filter(Q(assignee=assignee) if assignee else Q(assignee=None, role=role))
    if duplicate.exists():
        raise ValidationError("This person or role has already been asked for this step; the request is still open.")
    request = HandoffRequest(
        kind=kind,
        change=change,
        subject_type=subject_type,
        subject_id=target.subject.pk,
        subject_label=target.label[:100],
        link=target.link,
        assignee=assignee,
        role=role,
        note=note,
        requested_by=actor,
        requested_at=timezone.now(),
    )
    request.full_clean()
    request._history_user, request._change_reason = actor, "requested"
    request.save()
    request._excluded = target.excluded
    signals.handoff_requested.send(sender=HandoffRequest, request=request, actor=actor)
    if notify:
        _notify(request, change=change, actor=actor)
    return request


def _notify(request: HandoffRequest, *, change: ChangeRecord | None, actor: User) -> None:
    notification_queue(
        recipients=_recipients(request),
        dedupe_prefix=f"handoff:{request.pk}",
        template="handoff_requested",
        context={
            "kind": request.get_kind_display(),
            "subject_label": request.subject_label,
            "title": change.title if change else "",
            "requested_by": actor.display_name,
            "asked_of": request.asked_of,
            "note": request.note,
            "requested_at": request.requested_at,
        },
        link=request.link,
    )


@transaction.atomic
def handoff_request_create(
    *, change_id: int, kind: str, actor: User, assignee: User | None = None, role: str = "", note: str = ""
) -> HandoffRequest:
    """Ask a named person (optionally in a role) or anyone holding a role for one step of a change."""
    if kind not in K.values:
        raise ValidationError({"kind": [f"Unknown step {kind!r}."]})
    change = ChangeRecord.objects.select_for_update(of=("self",)).get(pk=change_id)
    if not can_request_handoff(actor, change):
        if change.is_open:
            raise PermissionDenied("Your roles do not allow asking for steps on this change.")
        raise ValidationError(f"{change.identifier} is {change.get_status_display().lower()}; nothing more is asked.")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": [f"Keep the note under {NOTE_MAX} characters."]})
    target = _target(change, kind)
    _check_asked(kind, target, assignee=assignee, role=role or "", actor=actor)
    return _open(kind=kind, change=change, target=target, assignee=assignee, role=role or "", note=note, actor=actor)


def _close(request: HandoffRequest, *, status: str, actor: User | None, note: str, at=None) -> HandoffRequest:
    request.status, request.closed_at, request.closed_by = status, at or timezone.now(), actor
    request.close_note = note[:300]
    request._history_user, request._change_reason = actor, note[:100] or status
    request.save(update_fields=["status", "closed_at", "closed_by", "close_note"])
    signals.handoff_closed.send(sender=HandoffRequest, request=request, actor=actor)
    return request


@transaction.atomic
def handoff_request_withdraw(*, request_id: int, actor: User, reason: str = "") -> HandoffRequest:
    request = HandoffRequest.objects.select_for_update().get(pk=request_id)
    if not request.is_open:
        raise ValidationError("This request is already closed.")
    if actor.pk != request.requested_by_id and not actor.has_role(Role.QMS):
        raise PermissionDenied("Only the person who asked (or a QMS coordinator) withdraws a request.")
    return _close(request, status=HandoffRequest.Status.WITHDRAWN, actor=actor, note=reason.strip() or "withdrawn")


def handoffs_fulfil(
    *, subject: models.Model, kinds: tuple[str, ...], actor: User | None, note: str, only_for: User | None = None
) -> int:
    """Close the open requests of these steps on ``subject`` (called inside the step's own transaction).

    ``only_for``: the step is personal (a vote, a confirmation); only what was asked of that person, or of
    a role they hold, is done.
    """
    requests = HandoffRequest.objects.select_for_update().filter(
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk,
        kind__in=kinds,
        status=HandoffRequest.Status.OPEN,
    )
    if only_for is not None:
        requests = requests.filter(Q(assignee=only_for) | Q(assignee=None, role__in=[r.value for r in only_for.roles]))
    closed = 0
    for request in requests:
        status = HandoffRequest.Status.DONE if note != CLOSED_CHANGE_NOTE else HandoffRequest.Status.WITHDRAWN
        _close(request, status=status, actor=actor, note=note)
        closed += 1
    return closed


# --- the lifecycle's signals close what they fulfil --------------------------------------------------------

MILESTONE_KINDS = {
    "hotfix_reviewed": (K.HOTFIX_REVIEW,),
    "post_mortem_approved": (K.POST_MORTEM_APPROVAL,),
    "gates_validated": (K.GATE_VALIDATION,),
}
ENDED_STATES = {ChangeRecord.Status.CLOSED, ChangeRecord.Status.CONVERTED}


def _on_milestone(sender, *, change, name, actor, at=None, **kwargs):
    if name in MILESTONE_KINDS:
        handoffs_fulfil(subject=change, kinds=MILESTONE_KINDS[name], actor=actor, note=name.replace("_", " "))


def _on_change_transition(sender, instance, name, source, target, **kwargs):
    if target in ENDED_STATES:
        actor = kwargs.get("method_kwargs", {}).get("by")
        for request in HandoffRequest.objects.select_for_update().filter(change=instance, status="open"):
            _close(request, status=HandoffRequest.Status.WITHDRAWN, actor=actor, note=CLOSED_CHANGE_NOTE)


def _on_verbal_confirmed(sender, *, bypass, signature, actor, **kwargs):
    handoffs_fulfil(subject=bypass, kinds=(K.VERBAL_CONFIRMATION,), actor=actor, note="confirmed", only_for=actor)


def _on_verbal_recorded(sender, *, bypass, signature, actor, **kwargs):
    """The giver of a verbal approval owes its confirmation: ask them at once."""
    change = bypass.change
    target = Target(bypass, bypass.identifier, bypass.get_absolute_url())
    if signature.signer_id == actor.pk or not signature.signer.is_active:
        return
    _open(
        kind=K.VERBAL_CONFIRMATION,
        change=change,
        target=target,
        assignee=signature.signer,
        role="",
        note=f"Your verbal approval as {signature.role_label} was recorded by {actor.display_name}.",
        actor=actor,
        notify=False,  # the lifecycle already sends its own "confirm your approval" message
    )


def _on_vote(sender, *, session, vote, actor, **kwargs):
    handoffs_fulfil(subject=session, kinds=(K.CCB_VOTE,), actor=actor, note="voted", only_for=actor)


def _on_session_ended(sender, *, session, actor, **kwargs):
    handoffs_fulfil(
        subject=session, kinds=(K.CCB_VOTE,), actor=actor, note=f"session {session.get_status_display().lower()}"
    )


def _on_package_transition(sender, instance, name, source, target, **kwargs):
    actor = kwargs.get("method_kwargs", {}).get("by")
    if name == "approve":
        handoffs_fulfil(subject=instance, kinds=(K.PATCH_APPROVAL,), actor=actor, note="approved")
    elif target == PatchPackage.Status.WITHDRAWN:
        handoffs_fulfil(subject=instance, kinds=tuple(KIND_ROLES), actor=actor, note="package withdrawn")


def _on_unit(sender, *, unit, package, actor, action, **kwargs):
    if action != "acknowledged":
        return
    waiting = package.units.filter(sent_at__isnull=False, acknowledged_at__isnull=True).exclude(pk=unit.pk)
    if not waiting.exists():
        handoffs_fulfil(subject=package, kinds=(K.UNIT_ACKNOWLEDGEMENT,), actor=actor, note="every unit acknowledged")


def connect_receivers() -> None:
    uid = "emergencies.handoffs."
    signals.change_record_milestone.connect(_on_milestone, dispatch_uid=uid + "milestone")
    signals.verbal_approval_recorded.connect(_on_verbal_recorded, dispatch_uid=uid + "verbal_recorded")
    signals.verbal_approval_confirmed.connect(_on_verbal_confirmed, dispatch_uid=uid + "verbal_confirmed")
    signals.ccb_vote_cast.connect(_on_vote, dispatch_uid=uid + "vote")
    signals.ccb_session_decided.connect(_on_session_ended, dispatch_uid=uid + "decided")
    signals.ccb_session_cancelled.connect(_on_session_ended, dispatch_uid=uid + "cancelled")
    signals.patch_unit_changed.connect(_on_unit, dispatch_uid=uid + "unit")
    post_transition.connect(_on_change_transition, sender=ChangeRecord, dispatch_uid=uid + "change")
    post_transition.connect(_on_package_transition, sender=PatchPackage, dispatch_uid=uid + "package")
