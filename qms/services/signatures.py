"""Electronic signatures (21 CFR Part 11 style): re-authentication, lockout, immutable records."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from qms import signals
from qms.models import Signature, SignerState, User
from qms.roles import Role
from qms.services.notifications import notification_queue

SIGNING_LOCK_THRESHOLD = 5
# A "password" that is a one-time re-authentication proof from the identity provider (qms.sso.proofs).
SSO_PROOF_PREFIX = "sso-proof:"


class SigningLocked(PermissionDenied):
    pass


class SecondFactorRequired(PermissionDenied):
    """The signer's request was not authenticated strongly enough to sign."""


@dataclass(frozen=True)
class SigningAuth:
    """What the interface layer knows about how the signer's request was authenticated; the signing
    service decides whether that is enough. The default is the weakest: a password-only session.

    ``token`` is the API token the request carried (None for a browser session). A token counts as
    created from a second-factor session iff ``getattr(token, "second_factor_verified", False)``.
    """

    second_factor: bool = False
    token: object | None = None
    # The page's path the signature is posted to, and a re-authentication proof it carries (single sign-on).
    page: str = ""
    sso_proof: str = ""


PASSWORD_ONLY = SigningAuth()


def signing_refusal(auth: SigningAuth | None) -> str | None:
    """Why a signature may not be given through this authentication, or None. While
    ``QMS_REQUIRE_TOTP_FOR_SIGNERS`` is off, a password re-entered at signing is enough."""
    if not settings.QMS_REQUIRE_TOTP_FOR_SIGNERS:
        return None
    auth = auth or PASSWORD_ONLY
    if auth.token is not None:
        if not settings.QMS_API_TOKENS_MAY_SIGN:
            return "API tokens cannot sign while a second factor is required; sign on the portal's page."
        if not getattr(auth.token, "second_factor_verified", False):
            return (
                "This API token was not created from a session verified with your authenticator code, "
                "so it cannot sign."
            )
        return None
    if not auth.second_factor and not _sso_second_factor(auth):
        return "Signing needs a session verified with your authenticator code: sign out and in again with it."
    return None


def _sso_second_factor(auth: SigningAuth) -> bool:
    """A re-authentication at the identity provider that the provider says used a second factor."""
    if not auth.sso_proof:
        return False
    from qms.sso.proofs import proof_second_factor

    return proof_second_factor(secret=auth.sso_proof, page=auth.page)


def signing_check(auth: SigningAuth | None) -> None:
    refusal = signing_refusal(auth)
    if refusal:
        raise SecondFactorRequired(refusal)


def content_hash(content: dict) -> str:
    """SHA-256 of a record's signable content, in a canonical JSON form."""
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def signer_authenticate(*, user: User, password: str, auth: SigningAuth | None = None) -> None:
    """Ask the signer for their password again. Failures are committed even though the signing fails.

    Call this outside the signing transaction. The fifth wrong password in a row locks the user's
    signing and alerts the security officers. ``auth`` says how the request was authenticated: with a
    second factor required, a request that does not satisfy it is refused before the password is tried.
    Under single sign-on, ``password`` may instead carry a re-authentication proof (``SSO_PROOF_PREFIX``,
    see ``qms.sso.proofs``): it is used up here, and a refused proof counts as a wrong password.
    """
    signing_check(auth)
    with transaction.atomic():
        SignerState.objects.get_or_create(user=user)
        state = SignerState.objects.select_for_update().get(user=user)
        if state.locked_at is not None:
            raise SigningLocked("Your signing is locked after repeated wrong passwords; ask a security officer.")
        if password and password.startswith(SSO_PROOF_PREFIX):
            from qms.sso.proofs import proof_use

            refusal = proof_use(user=user, secret=password.removeprefix(SSO_PROOF_PREFIX), auth=auth)
        else:
            refusal = None if password and user.check_password(password) else "Wrong password"
        if refusal is None:
            if state.consecutive_failures:
                state.consecutive_failures = 0
                state._history_user, state._change_reason = user, "correct password"
                state.save(update_fields=["consecutive_failures"])
            return
        locked = _signing_failure_count(state, refusal)
    _signing_failure_raise(state, refusal, locked)


def signer_failure_record(*, user: User, reason: str) -> None:
    """A refused proof of identity at signing that was not a password (a cancelled, stale or wrong-user
    re-authentication at the identity provider): counted like a wrong password, then raised."""
    with transaction.atomic():
        SignerState.objects.get_or_create(user=user)
        state = SignerState.objects.select_for_update().get(user=user)
        if state.locked_at is not None:
            raise SigningLocked("Your signing is locked after repeated wrong passwords; ask a security officer.")
        locked = _signing_failure_count(state, reason)
    _signing_failure_raise(state, reason, locked)


def _signing_failure_count(state: SignerState, reason: str) -> bool:
    user = state.user
    state.consecutive_failures += 1
    locked = state.consecutive_failures >= SIGNING_LOCK_THRESHOLD
    if locked:
        state.locked_at = timezone.now()
    state._history_user = user
    state._change_reason = "wrong password at signing" if reason == "Wrong password" else f"at signing: {reason}"
    state.save(update_fields=["consecutive_failures", "locked_at"])
    signals.signing_failed.send(
        sender=SignerState, user=user, failures=state.consecutive_failures, locked=locked, reason=reason
    )
    if locked:
        notification_queue(
            recipients=User.objects.filter(is_active=True, groups__name=Role.SECURITY.group_name),
            dedupe_prefix=f"signing-locked:{user.pk}:{state.locked_at.isoformat()}",
            template="signing_locked",
            context={"user": user, "failures": state.consecutive_failures},
            link=f"/users/{user.pk}/",
        )
    return locked


def _signing_failure_raise(state: SignerState, reason: str, locked: bool) -> None:
    if locked:
        raise SigningLocked(
            f"{reason}. Signing is now locked after {SIGNING_LOCK_THRESHOLD} failures; "
            "the security officers have been alerted."
        )
    left = SIGNING_LOCK_THRESHOLD - state.consecutive_failures
    raise ValidationError(
        {"password": [f"{reason}. {left} attempt{'s' if left != 1 else ''} left before your signing is locked."]}
    )


@transaction.atomic
def signer_unlock(*, user: User, actor: User, reason: str) -> SignerState:
    """A security officer lifts a signing lock, with a reason: an audit event, and the user is told."""
    if not actor.has_role(Role.SECURITY):
        raise PermissionDenied("Only a security officer can unlock signing.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why signing is unlocked (e.g. how the user's identity was checked)."]})
    state = SignerState.objects.select_for_update().filter(user=user).first()
    if state is None or state.locked_at is None:
        raise ValidationError(f"{user.display_name}'s signing is not locked.")
    state.consecutive_failures, state.locked_at = 0, None
    state._history_user, state._change_reason = actor, f"signing unlocked: {reason}"
    state.save(update_fields=["consecutive_failures", "locked_at"])
    signals.signing_unlocked.send(sender=SignerState, user=user, actor=actor, reason=reason)
    notification_queue(
        recipients=[user],
        dedupe_prefix=f"signing-unlocked:{user.pk}:{timezone.now().isoformat()}",
        template="signing_unlocked",
        context={"user": user, "actor": actor, "reason": reason},
    )
    return state


@transaction.atomic(savepoint=False)
def signature_record(
    *,
    subject: models.Model,
    content: dict,
    signer: User,
    role: Role,
    meaning: str,
    comment: str = "",
    method: str = Signature.Method.E_SIGNATURE,
    recorded_by: User | None = None,
    approved_at: datetime | None = None,
    confirms: Signature | None = None,
    auth: SigningAuth | None = None,
) -> Signature:
    """Write one signature in the caller's transaction. The caller has authenticated the signer (or,
    for a recorded verbal approval, the recorder) with :func:`signer_authenticate` and checked that the
    signature is allowed. The second-factor rule is checked again here, so that no path writes a
    signature without it.

    A signer who does not hold ``role`` signs on behalf of whoever delegated it to them (both names are
    kept), and a signer without the certifications the subject's procedure asks of ``role`` is refused,
    or, where the procedure allows it in an emergency, signs as a recorded deviation."""
    from qms.services.delegation import acting_for
    from qms.services.qualification import signature_training_check

    signing_check(auth)
    if auth is not None and auth.sso_proof:
        from qms.sso.proofs import proof_used_by

        if not proof_used_by(secret=auth.sso_proof, user=recorded_by or signer):
            raise PermissionDenied("This re-authentication at the identity provider is not the signer's.")
        if method == Signature.Method.E_SIGNATURE:
            method = Signature.Method.SSO_REAUTH
    on_behalf_of = acting_for(signer, role)
    deviation = signature_training_check(subject=subject, signer=signer, role=role)
    now = timezone.now()
    signature = Signature(
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk,
        subject_label=str(subject),
        signer=signer,
        signer_name=signer.display_name,
        role=role.value,
        meaning=meaning,
        method=method,
        recorded_by=recorded_by,
        approved_at=approved_at or now,
        signed_at=now,
        comment=comment.strip(),
        content_hash=content_hash(content),
        confirms=confirms,
        on_behalf_of=on_behalf_of,
        on_behalf_of_name=on_behalf_of.display_name if on_behalf_of else "",
        training_deviation=deviation.reason if deviation else "",
    )
    signature.full_clean(validate_constraints=False)
    signature.save()
    signals.signature_recorded.send(sender=Signature, signature=signature, subject=subject)
    if deviation:
        deviation.raise_for(signature=signature, subject=subject)
    return signature


def signatures_for(subject: models.Model) -> list[Signature]:
    return list(
        Signature.objects.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)
        .select_related("signer", "recorded_by", "confirmation", "on_behalf_of")
        .order_by("signed_at", "pk")
    )
