"""Signed votes: each member's latest vote supersedes the earlier ones."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from emergencies import signals
from emergencies.models import CCBMember, CCBSession, Vote
from emergencies.services.ccb.sessions import _get_session, _lock_session
from qms.models import Signature, User
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in, signature_persons, signing_persons

# What each vote or decision means as an electronic signature.
MEANING = {
    APPROVE: Signature.Meaning.APPROVED,
    STANDARD: Signature.Meaning.REJECTED,
    MORE_INFO: Signature.Meaning.REVIEWED,
}


# --- voting -----------------------------------------------------------------------------------------------


def _check_may_vote(session: CCBSession, voter: User, choice: str, comment: str) -> CCBMember:
    if not session.is_open:
        raise ValidationError(f"{session.identifier} is {session.get_status_display().lower()}; voting has ended.")
    member = CCBMember.objects.filter(session=session, user=voter).first()
    if member is None:
        raise PermissionDenied(f"Only the members of {session.identifier} vote.")
    if not voter.is_active or not may_sign_in(voter, Role(member.role)):
        raise PermissionDenied(f"{voter.display_name} no longer holds the role {member.role_label}.")
    persons = signing_persons(voter, Role(member.role))
    others = CCBMember.objects.filter(session=session).exclude(pk=member.pk)
    votes = Vote.objects.filter(session=session, superseded_by__isnull=True).exclude(member=member)
    if set(others.values_list("user_id", flat=True)) & persons or any(
        signature_persons(v.signature) & persons for v in votes.select_related("signature")
    ):
        raise PermissionDenied("One person cannot fill two seats on a session, in person or by delegation.")
    gate = session.change.rules.ccb_gate(session.gate)
    if choice not in gate.outcomes:
        raise ValidationError(
            {
                "choice": [
                    f"Choose one of: {', '.join(session.change.rules.ccb_vote_choices[o] for o in gate.outcomes)}."
                ]
            }
        )
    if not comment.strip():
        raise ValidationError({"comment": ["Say why, in a line: your comment is part of the signed vote."]})
    return member


def ccb_vote_cast(
    *, session_id: int, voter: User, password: str, choice: str, comment: str, auth: SigningAuth | None = None
) -> Vote:
    """A member's vote, signed with their password. A member who votes again supersedes their earlier vote,
    which stays on record; only the latest counts."""
    session = _get_session(session_id)
    _check_may_vote(session, voter, choice, comment)
    signer_authenticate(user=voter, password=password, auth=auth)
    with transaction.atomic():
        session = _lock_session(session_id)
        member = _check_may_vote(session, voter, choice, comment)
        previous = (
            Vote.objects.filter(session=session, voter=voter, superseded_by__isnull=True).order_by("-cast_at").first()
        )
        now = timezone.now()
        signature = signature_record(
            subject=session,
            content={
                **session.signable_content(),
                "voter": voter.username,
                "role": member.role,
                "choice": choice,
                "comment": comment.strip(),
                "supersedes": previous.signature_id if previous else None,
            },
            signer=voter,
            role=Role(member.role),
            meaning=MEANING[choice],
            comment=comment,
            auth=auth,
        )
        vote = Vote(
            session=session,
            member=member,
            voter=voter,
            role=member.role,
            choice=choice,
            comment=comment.strip(),
            signature=signature,
            supersedes=previous,
            cast_at=now,
        )
        vote.full_clean(validate_unique=False, validate_constraints=False)
        try:
            with transaction.atomic():
                vote.save()
        except IntegrityError:
            # The row lock makes this unreachable; the constraints are the last guard.
            raise ValidationError("Your vote crossed with another of yours; reload the page and vote again.") from None
        signals.ccb_vote_cast.send(sender=CCBSession, session=session, vote=vote, actor=voter)
        return vote
