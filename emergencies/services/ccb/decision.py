"""The CCB's decision, signed by the decider, which must agree with the procedure's decision rule."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from emergencies import signals
from emergencies.models import CCBSession, GateDecision
from emergencies.models.ccb import Gate
from emergencies.services.ccb.invitations import _notify
from emergencies.services.ccb.sessions import _get_session, _lock_session
from emergencies.services.ccb.tally import Tally, ccb_tally, session_members_and_votes
from emergencies.services.ccb.voting import MEANING
from emergencies.services.gates import (
    BEFORE_DEPLOYMENT,
    gate_missing,
    leave_emergency_path,
    lock_change,
)
from qms.models import User
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD
from qms.roles import Role
from qms.services import SigningAuth, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in

# --- the decision ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionInput:
    outcome: str
    reason: str
    waivers: tuple[str, ...] = ()
    interim_approval: bool = False
    fast_track_authority: bool = False
    questions: str = ""


def ccb_decider_label(tally: Tally) -> str:
    names = ", ".join(m.user.display_name for m in tally.decider_members)
    if tally.decider_user_ids == [tally.session.chair_id]:
        return f"the chair ({tally.session.chair.display_name})"
    return f"the {tally.decider_role.label.lower()}" + (f" ({names})" if names else ", who must be seated")


def _check_decision(session: CCBSession, decider: User, data: DecisionInput, tally: Tally) -> Role:
    change = session.change
    rules = change.rules
    gate = tally.gate
    if not session.is_open:
        raise ValidationError(f"{session.identifier} is {session.get_status_display().lower()}.")
    if decider.pk not in tally.decider_user_ids:
        raise PermissionDenied(
            f"The decision of {session.identifier} is recorded by {ccb_decider_label(tally)} (§7.2)."
        )
    if not may_sign_in(decider, tally.decider_role):
        raise PermissionDenied(f"{decider.display_name} no longer holds the role {tally.decider_role.label}.")
    errors: dict[str, list[str]] = {}
    if data.outcome not in gate.outcomes:
        raise ValidationError({"outcome": [f"{gate.label} is decided as one of: {', '.join(tally.choices.values())}."]})
    if not data.reason.strip():
        errors["reason"] = ["Give the reason for the decision."]
    if data.outcome == MORE_INFO and not data.questions.strip():
        errors["questions"] = ["List the questions the CCB needs answered."]
    if data.outcome != APPROVE and (data.waivers or data.interim_approval or data.fast_track_authority):
        errors["waivers"] = ["Waivers and authorities are granted only with an approval."]
    if (
        data.outcome == APPROVE
        and not gate.grants_waivers
        and (data.waivers or data.interim_approval or data.fast_track_authority)
    ):
        errors["waivers"] = [f"{gate.label} grants no waivers or authorities."]
    refusals = rules.ccb_waiver_refusals(list(data.waivers))
    if refusals:
        errors["waivers"] = refusals
    if len(set(data.waivers)) != len(data.waivers):
        errors.setdefault("waivers", []).append("A waiver is listed twice.")
    if errors:
        raise ValidationError(errors)
    if not tally.quorum:
        missing = ", ".join(s.label for s in tally.missing)
        raise ValidationError(f"The session cannot decide while a required role has not voted: {missing}.")
    if tally.rule_outcome != data.outcome:
        raise ValidationError(
            {
                "outcome": [
                    f"The votes give “{tally.rule_outcome_label}” under the decision rule "
                    f"({', '.join(f'{n} {tally.choices[c].lower()}' for c, n in tally.counts.items() if n)}); "
                    "the decision must agree with them."
                ]
            }
        )
    if data.outcome == APPROVE:
        missing = gate_missing(change, gate)
        if missing:
            raise ValidationError([f"Not yet: {label}." for label in missing])
    if data.outcome == STANDARD and gate.code != Gate.RATIFICATION and not can_proceed(change.convert_to_standard):
        raise ValidationError(
            f"{change.identifier} is {change.get_status_display().lower()} and can no longer leave the emergency "
            "path; hold a ratification session to mark it unwarranted."
        )
    return tally.decider_role


def ccb_session_decide(
    *, session_id: int, decider: User, password: str, data: DecisionInput, auth: SigningAuth | None = None
) -> CCBSession:
    """The chair (the program manager for critical severity) records the decision, signed, with a reason.

    It must agree with the procedure's decision rule for the votes cast. Approve passes the gate (and, at
    Gate 2 or a ratification, grants §15 waivers, interim approval and fast-track authority); use standard
    process fails it, takes the change off the emergency path and counts it as a false alarm (a ratification
    marks it unwarranted); more information needed keeps the session open with its questions.
    """
    session = _get_session(session_id)
    _check_decision(session, decider, data, ccb_tally(session, *session_members_and_votes(session)))
    signer_authenticate(user=decider, password=password, auth=auth)
    with transaction.atomic():
        session = _lock_session(session_id)
        change = lock_change(session.change_id)
        session.change = change
        tally = ccb_tally(session, *session_members_and_votes(session))
        role = _check_decision(session, decider, data, tally)
        gate = tally.gate
        now = timezone.now()
        reason = data.reason.strip()
        grants = data.outcome == APPROVE and gate.grants_waivers
        content = {
            **session.signable_content(),
            "outcome": data.outcome,
            "reason": reason,
            "questions": data.questions.strip(),
            "waivers": sorted(data.waivers) if grants else [],
            "interim_approval": grants and data.interim_approval,
            "fast_track_authority": grants and data.fast_track_authority,
            "votes": [
                {
                    "voter": m.member.user.username,
                    "role": m.member.role,
                    "choice": m.vote.choice,
                    "signature": m.vote.signature_id,
                }
                for m in tally.members
                if m.vote is not None
            ],
        }
        signature = signature_record(
            subject=session,
            content=content,
            signer=decider,
            role=role,
            meaning=MEANING[data.outcome],
            comment=reason,
            auth=auth,
        )
        members = [m.member for m in tally.members]
        if data.outcome == MORE_INFO:
            return _defer(session, decider, reason, data.questions.strip(), signature, members)

        session.decide(by=decider, at=now, outcome=data.outcome, reason=reason)
        session.decision_signature = signature
        if grants:
            session.waivers = sorted(data.waivers)
            session.interim_approval = data.interim_approval
            session.fast_track_authority = data.fast_track_authority
        session._history_user = decider
        session._change_reason = f"decided: {tally.choices[data.outcome]} — {reason}"
        session.save()
        decision = GateDecision(
            change=change,
            gate=gate.code,
            result=GateDecision.Result.PASSED if data.outcome == APPROVE else GateDecision.Result.FAILED,
            session=session,
            decided_by=decider,
            role=role.value,
            reason=reason,
            decided_at=now,
            retroactive=gate.retroactive or (gate.code != Gate.CLOSE and change.status not in BEFORE_DEPLOYMENT),
            signature=signature,
        )
        decision.full_clean(validate_constraints=False)
        decision.save()
        signals.gate_decision_recorded.send(sender=GateDecision, change=change, decision=decision, actor=decider)
        if data.outcome == STANDARD:
            leave_emergency_path(
                change,
                actor=decider,
                at=now,
                reason=f"{session.identifier} ({gate.label}): {tally.choices[STANDARD].lower()}: {reason}",
                convert=gate.code != Gate.RATIFICATION,
            )
        signals.ccb_session_decided.send(sender=CCBSession, session=session, decision=decision, actor=decider)
        _notify(session, members, template="ccb_decided", key=f"ccb-decided:{session.pk}", actor=decider)
        return session


def _defer(session, decider, reason, questions, signature, members) -> CCBSession:
    session.outcome = MORE_INFO
    session.decision_reason = reason
    session.questions = questions
    session.decision_signature = signature
    session.deferrals += 1
    session._history_user, session._change_reason = decider, f"more information needed: {reason}"
    session.save()
    signals.ccb_session_deferred.send(sender=CCBSession, session=session, actor=decider)
    _notify(
        session,
        members,
        template="ccb_more_info",
        key=f"ccb-more-info:{session.pk}:{session.deferrals}",
        actor=decider,
    )
    return session
