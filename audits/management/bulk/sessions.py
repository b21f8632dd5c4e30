"""The emergency CCB's records in the bulk seed, as ``ccb`` planned them: Gate 1 recorded by signature, each
session convened with its members, the signed votes, the signed decision (or "more information needed") and
the session's clocks, and the gate decisions they give. Mirrors emergencies.services.gates,
emergencies.services.ccb and audits.receivers.ccb."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from audits.management.bulk.ccb import current_votes, session_decider
from audits.management.bulk.core import US, Sig
from emergencies.models import CCBMember, CCBSession, GateDecision, Vote
from emergencies.models.ccb import Gate
from emergencies.services.ccb import MEANING
from qms.models import User
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD
from qms.roles import Role

if TYPE_CHECKING:
    from audits.management.bulk.batch import Batch
    from audits.management.bulk.ccb import Decision, SessionPlan, VotePlan
    from audits.management.bulk.plans import Plan

Status = CCBSession.Status
# Gate 1: the §4 criterion each category meets.
CRITERIA = {
    "p1_incident": ["Total loss of critical function"],
    "critical_security": ["Security vulnerability actively exploited"],
    "data_breach": ["Security vulnerability actively exploited", "Regulatory emergency order"],
}
DECLARE_REASON = "Meets the §4 severity classification: the emergency process is warranted."


def assign_identifiers(batch: Batch) -> None:
    """CCB-YYYYMMDD-HHMM of the convening (suffixed within a minute); the change's "use standard process"
    reason names its session (emergencies.services.ccb.ccb_session_decide)."""
    sessions = [(plan, s) for plan in batch.plans if plan.ccb for s in plan.ccb.sessions]
    bases = [f"CCB-{s.convened.astimezone(UTC):%Y%m%d-%H%M}" for _, s in sessions]
    for (plan, session), identifier in zip(sessions, batch.unique(CCBSession, "identifier", bases), strict=True):
        session.identifier, session.pk = identifier, batch.ids.next(CCBSession)
        if plan.ccb.converts and session.gate == Gate.FAST_TRACK:
            rules = plan.procedure.rules
            gate = rules.ccb_gate(session.gate)
            label = rules.ccb_outcome_label(gate, STANDARD).lower()
            plan.step("convert_to_standard").reason = f"{identifier} ({gate.label}): {label}: {session.decision.reason}"


def write_ccb(batch: Batch) -> None:
    for plan in batch.plans:
        if plan.ccb is None:
            continue
        if plan.ccb.declare:
            _declare(batch, plan, *plan.ccb.declare)
        for session in plan.ccb.sessions:
            _write_session(batch, plan, session)


def _declare(batch: Batch, plan: Plan, at: datetime, signer: User, role: Role) -> None:
    """emergencies.services.gates.gate_declare_record: warranted, at the severity the procedure gives."""
    criteria = CRITERIA[plan.category]
    content = {
        "change": plan.identifier,
        "gate": str(Gate.DECLARE.value),
        "warranted": True,
        "severity": plan.severity,
        "criteria": criteria,
        "reason": DECLARE_REASON,
    }
    signature = batch.sign(plan.subject, Sig(signer, role, at - US, comment=DECLARE_REASON), content)
    decision = {
        "id": batch.ids.next(GateDecision),
        "change_id": plan.change_id,
        "gate": str(Gate.DECLARE.value),
        "result": str(GateDecision.Result.PASSED.value),
        "session_id": None,
        "decided_by_id": signer.pk,
        "role": role.value,
        "reason": DECLARE_REASON,
        "decided_at": at,
        "retroactive": False,
        "severity": plan.severity,
        "criteria": criteria,
        "signature_id": signature,
    }
    batch.rows[GateDecision].append(decision)
    _gate_event(batch, plan, decision, session_identifier=None, at=at + US, actor=signer)


def _gate_event(batch: Batch, plan: Plan, decision: dict, *, session_identifier, at, actor) -> None:
    """audits.receivers.ccb.on_gate_decision (Gate 1 at the severity the procedure gives moves no clock)."""
    batch.event(
        at,
        action=f"gate.{decision['gate']}.{decision['result']}",
        actor=actor,
        subject=plan.subject,
        reason=decision["reason"],
        after={
            "gate": decision["gate"],
            "result": decision["result"],
            "session": session_identifier,
            "retroactive": decision["retroactive"],
            "severity": decision["severity"],
            "criteria": decision["criteria"],
            "signature": decision["signature_id"],
        },
    )


def _write_session(batch: Batch, plan: Plan, session: SessionPlan) -> None:
    """ccb_session_convene, ccb_vote_cast, ccb_session_decide (and its "more information needed")."""
    world, rules = batch.world, plan.procedure.rules
    gate = rules.ccb_gate(session.gate)
    subject = world.subject(CCBSession, session.pk, session.identifier, session.pk)
    row = {
        "id": session.pk,
        "identifier": session.identifier,
        "change_id": plan.change_id,
        "gate": session.gate,
        "status": Status.OPEN.value,
        "chair_id": session.chair.pk,
        "convened_by_id": session.chair.pk,
        "convened_at": session.convened,
        "scheduled_at": session.scheduled,
        "duration_minutes": session.duration,
        "location": f"https://meet.example.com/ccb-{session.identifier.lower()}",
        "agenda": (
            f"Severity {plan.severity}: {plan.identifier}. Proposed approach: patch {plan.system} and verify with "
            f"focused testing. Request: {gate.question}"
        ),
        "outcome": "",
        "decision_reason": "",
        "questions": "",
        "deferrals": 0,
        "decided_by_id": None,
        "decided_at": None,
        "decision_signature_id": None,
        "waivers": [],
        "interim_approval": False,
        "fast_track_authority": False,
        "cancel_reason": "",
    }
    chair = session.chair
    batch.history(CCBSession, row, at=session.convened, kind="+", user=chair, reason=f"convened for {gate.label}")
    for member in session.members:
        member.pk = batch.ids.next(CCBMember)
        seat = {
            "id": member.pk,
            "session_id": session.pk,
            "user_id": member.user.pk,
            "role": member.role.value,
            "added_by_id": chair.pk,
            "added_at": session.convened,
        }
        batch.rows[CCBMember].append(seat)
        batch.history(
            CCBMember, seat, at=session.convened, kind="+", user=chair, reason=f"seated as {member.role.label}"
        )
    batch.event(
        session.convened + US,
        action="ccb.convened",
        actor=chair,
        subject=subject,
        reason=f"{gate.label} for {plan.identifier}",
        after={
            "change": plan.identifier,
            "gate": session.gate,
            "chair": chair.username,
            "scheduled_at": str(session.scheduled),
            "members": [{"user": m.user.username, "role": m.role.value} for m in session.members],
        },
    )
    decider, _ = session_decider(plan, session)
    due = rules.ccb_decision_due(session.scheduled)
    specs = [{"kind": "ccb_decision", "label": f"CCB decision: {gate.label}", "owner": decider, "due_at": due}]
    specs += [
        {
            "kind": "ccb_vote",
            "key": str(m.user.pk),
            "label": f"Vote: {m.user.display_name} ({m.role.label})"[:200],
            "owner": m.user,
            "due_at": due,
        }
        for m in session.members
    ]
    clocks = batch.open_clocks(subject, specs, at=session.convened + 2 * US, actor=chair)
    vote_clocks = {c.row["key"]: c for c in clocks[1:]}
    base = {"session": session.identifier, "change": plan.identifier, "gate": session.gate, "agenda": row["agenda"]}
    deferral = session.deferral
    for vote in session.votes:
        if deferral and deferral.at < vote.at:
            _decision(batch, plan, session, row, subject, deferral, base, clocks)
            deferral = None
        _vote(batch, plan, session, vote, subject, base, vote_clocks)
    if session.decision:
        _decision(batch, plan, session, row, subject, session.decision, base, clocks)
    batch.rows[CCBSession].append(row)


def _vote(batch: Batch, plan: Plan, session: SessionPlan, vote: VotePlan, subject, base: dict, clocks: dict) -> None:
    member, voter = vote.member, vote.member.user
    content = {
        **base,
        "voter": voter.username,
        "role": member.role.value,
        "choice": vote.choice,
        "comment": vote.comment,
        "supersedes": vote.supersedes.signature if vote.supersedes else None,
    }
    sig = Sig(voter, member.role, vote.at, meaning=MEANING[vote.choice], comment=vote.comment)
    vote.signature = batch.sign(subject, sig, content)
    vote.pk = batch.ids.next(Vote)
    batch.rows[Vote].append(
        {
            "id": vote.pk,
            "session_id": session.pk,
            "member_id": member.pk,
            "voter_id": voter.pk,
            "role": member.role.value,
            "choice": vote.choice,
            "comment": vote.comment,
            "signature_id": vote.signature,
            "supersedes_id": vote.supersedes.pk if vote.supersedes else None,
            "cast_at": vote.at,
        }
    )
    batch.event(
        vote.at + US,
        action="ccb.vote",
        actor=voter,
        subject=subject,
        reason=vote.comment,
        after={
            "voter": voter.username,
            "role": member.role.value,
            "choice": vote.choice,
            "signature": vote.signature,
            "supersedes": vote.supersedes.pk if vote.supersedes else None,
        },
    )
    batch.satisfy(clocks[str(voter.pk)], at=vote.at + 2 * US, actor=voter, note="voted", subject=subject)


def _decision(batch, plan: Plan, session: SessionPlan, row: dict, subject, decision: Decision, base: dict, clocks):
    rules = plan.procedure.rules
    gate = rules.ccb_gate(session.gate)
    at, decider = decision.at, decision.decider
    current = {id(v) for v in current_votes([v for v in session.votes if v.pk])}
    votes = [
        {"voter": m.user.username, "role": m.role.value, "choice": v.choice, "signature": v.signature}
        for m in session.members
        for v in session.votes
        if v.member is m and id(v) in current
    ]
    content = {
        **base,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "questions": decision.questions,
        "waivers": decision.waivers,
        "interim_approval": decision.interim_approval,
        "fast_track_authority": decision.fast_track_authority,
        "votes": votes,
    }
    meaning = MEANING[decision.outcome]
    signature = batch.sign(
        subject, Sig(decider, decision.role, at - 2 * US, meaning=meaning, comment=decision.reason), content
    )
    row.update(outcome=decision.outcome, decision_reason=decision.reason, decision_signature_id=signature)
    if decision.outcome == MORE_INFO:
        row.update(questions=decision.questions, deferrals=row["deferrals"] + 1)
        batch.history(
            CCBSession, row, at=at, kind="~", user=decider, reason=f"more information needed: {decision.reason}"
        )
        batch.event(
            at + US,
            action="ccb.more_info",
            actor=decider,
            subject=subject,
            reason=decision.reason,
            after={"questions": decision.questions, "signature": signature},
        )
        return
    choices = {code: rules.ccb_outcome_label(gate, code) for code in gate.outcomes}
    row.update(
        status=Status.DECIDED.value,
        decided_by_id=decider.pk,
        decided_at=at,
        waivers=decision.waivers,
        interim_approval=decision.interim_approval,
        fast_track_authority=decision.fast_track_authority,
    )
    batch.history(
        CCBSession,
        row,
        at=at,
        kind="~",
        user=decider,
        reason=f"decided: {choices[decision.outcome]} — {decision.reason}",
    )
    result = GateDecision.Result.PASSED if decision.outcome == APPROVE else GateDecision.Result.FAILED
    gate_decision = {
        "id": batch.ids.next(GateDecision),
        "change_id": plan.change_id,
        "gate": session.gate,
        "result": result.value,
        "session_id": session.pk,
        "decided_by_id": decider.pk,
        "role": decision.role.value,
        "reason": decision.reason,
        "decided_at": at,
        "retroactive": False,  # decided before the deploy (Gate 2) or at closure (Gate 4)
        "severity": "",
        "criteria": [],
        "signature_id": signature,
    }
    batch.rows[GateDecision].append(gate_decision)
    _gate_event(batch, plan, gate_decision, session_identifier=session.identifier, at=at - US, actor=decider)
    if decision.outcome == STANDARD:  # the change's conversion is its own step (audits.management.bulk.changes)
        batch.event(
            at + US,
            action="change.false_alarm",
            actor=decider,
            subject=plan.subject,
            reason=plan.step("convert_to_standard").reason,
            after={"false_alarm": True},
        )
    batch.event(
        at + 2 * US,
        action="ccb.decided",
        actor=decider,
        subject=subject,
        reason=decision.reason,
        before={"status": Status.OPEN.value},
        after={
            "status": Status.DECIDED.value,
            "outcome": decision.outcome,
            "waivers": decision.waivers,
            "interim_approval": decision.interim_approval,
            "fast_track_authority": decision.fast_track_authority,
            "signature": signature,
        },
    )
    for clock in clocks:
        batch.satisfy(clock, at=at + 3 * US, actor=decider, note="session decided", subject=subject)
