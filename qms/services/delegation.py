"""Time-boxed delegation of a signing role: a person lends a role they hold to a qualified colleague.

The delegate signs as themselves "on behalf of" the delegator (``Signature.on_behalf_of``); separation of
duties is checked against both people by the signing services (``signing_persons``). A delegation passes
on only a role the delegator holds themselves, so a delegate never delegates further.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from qms import signals
from qms.limits import COMMENT_MAX, too_long_message
from qms.models import Delegation, User
from qms.roles import READ_ONLY_ROLES, Role
from qms.services.notifications import notification_queue

MAX_DELEGATION = timedelta(days=90)


def delegation_for(*, delegate: User, role: Role | str, at: datetime | None = None) -> Delegation | None:
    """The delegation in force that lets ``delegate`` sign in ``role`` for someone, or None."""
    at = at or timezone.now()
    return (
        Delegation.objects.select_related("delegator")
        .filter(delegate=delegate, role=str(role), revoked_at__isnull=True, starts_at__lte=at, ends_at__gt=at)
        .order_by("starts_at", "pk")
        .first()
    )


def delegated_roles(user: User, *, at: datetime | None = None) -> dict[Role, Delegation]:
    """The roles ``user`` may sign in for someone else right now (only those they do not hold themselves)."""
    at = at or timezone.now()
    found: dict[Role, Delegation] = {}
    rows = (
        Delegation.objects.select_related("delegator")
        .prefetch_related("delegator__groups")
        .filter(delegate=user, revoked_at__isnull=True, starts_at__lte=at, ends_at__gt=at)
    )
    for delegation in rows.order_by("starts_at", "pk"):
        try:
            role = Role(delegation.role)
        except ValueError:
            continue
        if role not in found and not user.has_role(role) and delegation.delegator.has_role(role):
            found[role] = delegation
    return found


def acting_for(user: User, role: Role | str, *, at: datetime | None = None) -> User | None:
    """Whom ``user`` signs for in ``role``: None when they hold it themselves or nobody delegated it.
    Raises PermissionDenied when they may not sign in it at all."""
    role = Role(role)
    if user.has_role(role):
        return None
    delegation = delegation_for(delegate=user, role=role, at=at)
    if delegation is None or not delegation.delegator.has_role(role):
        raise PermissionDenied(f"{user.display_name} does not hold the role {role.label}.")
    return delegation.delegator


def signing_persons(user: User, role: Role | str, *, at: datetime | None = None) -> set[int]:
    """The people a signature by ``user`` in ``role`` stands for: the signer, and the delegator if any."""
    try:
        delegator = acting_for(user, role, at=at)
    except PermissionDenied:
        return {user.pk}
    return {user.pk} | ({delegator.pk} if delegator else set())


def may_sign_in(user: User, role: Role | str, *, at: datetime | None = None) -> bool:
    """Whether ``user`` may sign in ``role`` now: they hold it, or a delegation in force lends it to them."""
    try:
        acting_for(user, role, at=at)
    except PermissionDenied:
        return False
    return True


def signable_roles(user: User, roles) -> list[Role]:
    """Those of ``roles`` that ``user`` may sign in now, held or delegated (one query, for the pages)."""
    delegated = delegated_roles(user) if user.is_authenticated else {}
    return [r for r in dict.fromkeys(Role(r) for r in roles) if user.has_role(r) or r in delegated]


def on_behalf_refusal(user: User, role: Role | str, *, author_id: int | None, what: str) -> str | None:
    """Why ``user`` may not sign ``what`` in ``role`` when its author signs through them, or None.
    The author's own signature is refused by each service with its own words."""
    if author_id is None or author_id == user.pk:
        return None
    if author_id in signing_persons(user, role):
        return f"{what} is never approved on behalf of its own author."
    return None


def signature_persons(signature) -> set[int]:
    return {signature.signer_id} | ({signature.on_behalf_of_id} if signature.on_behalf_of_id else set())


def _clean(*, delegator: User, delegate: User, role: str, starts_at, ends_at, reason: str, now) -> dict:
    from qms.services.training import is_qualified_everywhere

    errors: dict[str, list[str]] = {}
    try:
        role_enum = Role(role)
    except ValueError:
        return {"role": [f"Unknown role {role!r}."]}
    if role_enum in READ_ONLY_ROLES:
        errors["role"] = [f"{role_enum.label} is read-only and signs nothing."]
    elif not delegator.has_role(role_enum):
        errors["role"] = [
            f"You can delegate only a role you hold yourself, not {role_enum.label} (a delegation never passes on)."
        ]
    if delegate.pk == delegator.pk:
        errors["delegate"] = ["Delegate to someone else."]
    elif not delegate.is_active:
        errors["delegate"] = [f"{delegate.display_name} is deactivated."]
    elif delegate.has_role(*READ_ONLY_ROLES):
        errors["delegate"] = [f"{delegate.display_name} is an auditor (read-only) and cannot sign."]
    elif "role" not in errors:
        gaps = is_qualified_everywhere(delegate, role_enum, on=timezone.localdate(now))
        if gaps:
            errors["delegate"] = [f"{delegate.display_name} is not qualified as {role_enum.label}: " + "; ".join(gaps)]
    if starts_at is None or ends_at is None or timezone.is_naive(starts_at) or timezone.is_naive(ends_at):
        errors["ends_at"] = ["Give the start and end of the delegation, with their zone."]
    elif ends_at <= starts_at:
        errors["ends_at"] = ["The delegation must end after it starts."]
    elif ends_at <= now:
        errors["ends_at"] = ["The delegation would already be over."]
    elif ends_at - starts_at > MAX_DELEGATION:
        errors["ends_at"] = [f"A delegation lasts at most {MAX_DELEGATION.days} days; delegate again afterwards."]
    elif starts_at < now - timedelta(minutes=5):
        errors["starts_at"] = ["A delegation cannot start in the past."]
    reason = reason.strip()
    if not reason:
        errors["reason"] = ["Say why you delegate (e.g. on leave, travelling)."]
    elif len(reason) > COMMENT_MAX:
        errors["reason"] = [too_long_message(limit=COMMENT_MAX, length=len(reason))]
    return errors


@transaction.atomic
def delegation_create(
    *, delegator: User, delegate: User, role: str, starts_at: datetime, ends_at: datetime, reason: str, actor: User
) -> Delegation:
    """``actor`` (who must be the delegator) lends ``role`` to ``delegate`` from ``starts_at`` to ``ends_at``."""
    if actor.pk != delegator.pk:
        raise PermissionDenied("Only the holder of a role delegates it.")
    if not actor.is_active:
        raise PermissionDenied("Sign in with an active account.")
    now = timezone.now()
    errors = _clean(
        delegator=delegator, delegate=delegate, role=role, starts_at=starts_at, ends_at=ends_at, reason=reason, now=now
    )
    if errors:
        raise ValidationError(errors)
    User.objects.select_for_update().get(pk=delegator.pk)  # two delegations at once never overlap unseen
    overlapping = Delegation.objects.filter(
        delegator=delegator, role=role, revoked_at__isnull=True, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).exists()
    if overlapping:
        raise ValidationError({"role": [f"You already delegate {Role(role).label} for part of that period."]})
    delegation = Delegation(
        delegator=delegator,
        delegate=delegate,
        role=role,
        starts_at=max(starts_at, now),
        ends_at=ends_at,
        reason=reason.strip(),
        created_at=now,
    )
    delegation.full_clean()
    delegation._history_user, delegation._change_reason = actor, f"delegated: {delegation.reason}"
    delegation.save()
    signals.delegation_created.send(sender=Delegation, delegation=delegation, actor=actor)
    notification_queue(
        recipients=[delegate],
        dedupe_prefix=f"delegation:{delegation.pk}",
        template="delegation_created",
        context={"delegation": delegation},
        link="/preferences/delegations/",
    )
    return delegation


@transaction.atomic
def delegation_revoke(*, delegation_id: int, actor: User, reason: str) -> Delegation:
    """The delegator ends a delegation early, or the delegate declines it, with a reason."""
    delegation = Delegation.objects.select_for_update().select_related("delegator", "delegate").get(pk=delegation_id)
    if actor.pk not in (delegation.delegator_id, delegation.delegate_id):
        raise PermissionDenied("Only the delegator or the delegate can end a delegation.")
    now = timezone.now()
    if delegation.revoked_at is not None or delegation.ends_at <= now:
        raise ValidationError("This delegation is already over.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the delegation ends."]})
    if len(reason) > COMMENT_MAX:
        raise ValidationError({"reason": [too_long_message(limit=COMMENT_MAX, length=len(reason))]})
    delegation.revoked_at, delegation.revoked_by, delegation.revoke_reason = now, actor, reason
    delegation._history_user, delegation._change_reason = actor, f"revoked: {reason}"
    delegation.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    signals.delegation_revoked.send(sender=Delegation, delegation=delegation, actor=actor, reason=reason)
    return delegation


def delegations_of(user: User) -> dict[str, list[Delegation]]:
    """The delegations a person gave and received, newest first (preferences page, API)."""
    rows = list(
        Delegation.objects.select_related("delegator", "delegate", "revoked_by")
        .filter(Q(delegator=user) | Q(delegate=user))
        .order_by("-starts_at", "-pk")[:200]
    )
    return {
        "given": [d for d in rows if d.delegator_id == user.pk],
        "received": [d for d in rows if d.delegate_id == user.pk],
    }
