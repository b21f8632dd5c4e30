"""The emergency CCB for the bulk seed (see ``bench/seeding.py``), for changes whose procedure has one
(CM-WF-EMERGENCY): Gate 1 recorded by signature, the Gate 2 (fast-track) session of every change and the
Gate 4 (close) session of changes in post-incident documentation, with members, signed votes, the signed
decision and the session's clocks. Mirrors emergencies.services.gates, emergencies.services.ccb and
audits.receivers.ccb."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench.seeding_core import US, Sig, between, weighted
from emergencies.models import CCBMember, CCBSession, GateDecision, Vote
from emergencies.models.ccb import Gate
from emergencies.services.ccb import MEANING
from qms.models import User
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD
from qms.roles import Role

if TYPE_CHECKING:
    from bench.seeding import Batch, Plan, World

Status = CCBSession.Status
# Gate 1: the §4 criterion each category meets.
CRITERIA = {
    "p1_incident": ["Total loss of critical function"],
    "critical_security": ["Security vulnerability actively exploited"],
    "data_breach": ["Security vulnerability actively exploited", "Regulatory emergency order"],
}
DECLARE_REASON = "Meets the §4 severity classification: the emergency process is warranted."
VOTE_COMMENTS = {
    APPROVE: ("Risk acceptable; proceed.", "Benefit outweighs the risk.", "Agree with the proposed approach."),
    STANDARD: ("Not an emergency; use the standard process.", "No immediate threat; standard process."),
    MORE_INFO: ("Need the rollback test results first.", "What is the blast radius if the patch fails?"),
}
REASONS = {
    (Gate.FAST_TRACK, APPROVE): "The risk/benefit assessment supports immediate action: fast-track approved.",
    (Gate.FAST_TRACK, STANDARD): "Not a safety or security emergency after review: the standard process applies.",
    (Gate.CLOSE, APPROVE): "Follow-up documented, issue resolved, lessons learned captured: back to normal process.",
    (Gate.FAST_TRACK, MORE_INFO): "Split vote; the board needs answers before it decides.",
    (Gate.CLOSE, MORE_INFO): "Split vote; the board needs answers before it closes the emergency.",
}
QUESTIONS = "What did the rollback test show?\nWhich units are affected and when can they be patched?"
OPEN_CHOICES = {
    Gate.FAST_TRACK: {APPROVE: 70, MORE_INFO: 20, STANDARD: 10},
    Gate.CLOSE: {APPROVE: 85, MORE_INFO: 15},
}


@dataclass(slots=True)
class MemberPlan:
    user: User
    role: Role
    required: bool
    pk: int = 0


@dataclass(slots=True)
class VotePlan:
    member: MemberPlan
    choice: str
    at: datetime
    comment: str
    supersedes: VotePlan | None = None
    pk: int = 0
    signature: int = 0


@dataclass(slots=True)
class Decision:
    at: datetime
    outcome: str
    reason: str
    decider: User
    role: Role
    questions: str = ""
    waivers: list[str] = field(default_factory=list)
    interim_approval: bool = False
    fast_track_authority: bool = False


@dataclass
class SessionPlan:
    gate: str
    chair: User
    convened: datetime
    scheduled: datetime
    duration: int
    members: list[MemberPlan]
    votes: list[VotePlan] = field(default_factory=list)
    deferral: Decision | None = None  # "more information needed": the session stays open
    decision: Decision | None = None
    identifier: str = ""
    pk: int = 0


@dataclass
class CCBPlan:
    declare: tuple[datetime, User, Role] | None = None
    sessions: list[SessionPlan] = field(default_factory=list)
    converts: bool = False  # Gate 2 decided "use standard process": the change left the emergency path


def plan_ccb(world: World, plan: Plan) -> None:
    rules = plan.procedure.rules
    if not rules.ccb_required or not rules.ccb_session_gates():
        return
    rng, ccb = world.rng, CCBPlan()
    plan.ccb = ccb
    first = plan.steps[0].at if plan.steps else min(world.now, plan.declared + timedelta(minutes=30))
    role = Role.SECURITY if plan.flags["security_involved"] and rng.random() < 0.7 else Role.CM
    ccb.declare = (between(rng, plan.declared, first, 0.05, 0.3), world.pick(role, not_user=plan.author), role)

    hotfix, deploy, convert = plan.step("start_hotfix"), plan.step("deploy"), plan.step("convert_to_standard")
    if convert:  # the board sent it back to the standard process
        decided = convert.at
        session = _session(world, plan, Gate.FAST_TRACK, plan.declared, decided)
        _decide(world, plan, session, STANDARD, decided)
        convert.actor = session.decision.decider
        ccb.converts = True
    elif deploy:
        decided = between(rng, hotfix.at, deploy.at, 0.1, 0.5)
        session = _session(world, plan, Gate.FAST_TRACK, plan.declared, decided)
        _decide(world, plan, session, APPROVE, decided)
    else:  # still before the deploy: the session is open, voting (or asked for more information)
        session = _session(world, plan, Gate.FAST_TRACK, plan.declared, None)
        _vote_open(world, plan, session)
    ccb.sessions.append(session)

    resolve, close = plan.step("resolve"), plan.step("close")
    if close:
        decided = between(rng, resolve.at, close.at, 0.9, 0.95)
        session = _session(world, plan, Gate.CLOSE, between(rng, resolve.at, close.at, 0.7, 0.75), decided)
        _decide(world, plan, session, APPROVE, decided)
        ccb.sessions.append(session)
    elif resolve and plan.doc_at and rng.random() < 0.6:
        after = plan.doc_at + timedelta(hours=rng.uniform(1, 48))
        if after < world.now:
            session = _session(world, plan, Gate.CLOSE, after, None)
            _vote_open(world, plan, session)
            ccb.sessions.append(session)


def _session(world: World, plan: Plan, gate: str, after: datetime, decided: datetime | None) -> SessionPlan:
    """Convened by a configuration manager, who chairs; seated: the required roles (§7.1) and the incident
    commander, sometimes the release manager."""
    rng, rules = world.rng, plan.procedure.rules
    if decided is not None:
        convened = between(rng, after, decided, 0.05, 0.15)
        scheduled = between(rng, convened, decided, 0.1, 0.3)
    else:  # open: convened (never in the future), perhaps scheduled for later
        convened = min(after + timedelta(minutes=rng.uniform(2, 15)), between(rng, after, world.now, 0.3, 0.6))
        scheduled = convened + timedelta(minutes=rng.uniform(5, 30))
    chair = world.pick(rules.ccb_chair_role)
    members = [MemberPlan(chair, rules.ccb_chair_role, True)]
    seats = rules.ccb_required_seats(plan.severity, plan.flags)
    for seat in seats:
        if seat.role == rules.ccb_chair_role:
            continue
        members.append(MemberPlan(world.pick(seat.role, not_users=tuple(m.user for m in members)), seat.role, True))
    seated = {m.user.pk for m in members}
    if plan.commander and plan.commander.pk not in seated:
        members.append(MemberPlan(plan.commander, Role.COMMANDER, False))
    if rng.random() < 0.3:
        members.append(MemberPlan(world.pick(Role.RELEASE), Role.RELEASE, False))
    return SessionPlan(str(gate.value), chair, convened, scheduled, rng.choice((30, 45, 60)), members)


def _decider(plan: Plan, session: SessionPlan) -> tuple[User, Role]:
    """The chair, or the program manager for critical severity (§7.2; emergencies.services.ccb.ccb_tally)."""
    rules = plan.procedure.rules
    role = rules.ccb_decider_role(plan.severity)
    if role is None:
        return session.chair, rules.ccb_chair_role
    return next(m.user for m in session.members if m.role == role), role


def _current(votes: list[VotePlan]) -> list[VotePlan]:
    superseded = {id(v.supersedes) for v in votes if v.supersedes}
    return [v for v in votes if id(v) not in superseded]


def _cast(world: World, session: SessionPlan, member: MemberPlan, choice: str, at: datetime) -> VotePlan:
    mine = [v for v in _current(session.votes) if v.member is member]
    vote = VotePlan(member, choice, at, world.rng.choice(VOTE_COMMENTS[choice]), mine[0] if mine else None)
    session.votes.append(vote)
    return vote


def _outcome(plan: Plan, session: SessionPlan) -> str | None:
    gate = plan.procedure.rules.ccb_gate(session.gate)
    counts: dict[str, int] = {}
    for vote in _current(session.votes):
        counts[vote.choice] = counts.get(vote.choice, 0) + 1
    return plan.procedure.rules.ccb_rule_outcome(counts, gate.outcomes)


def _decide(world: World, plan: Plan, session: SessionPlan, outcome: str, decided: datetime) -> None:
    """Every required member votes (a few change their mind on the way), the optional ones mostly do, and
    the decider records what the votes give."""
    rng = world.rng
    voters = [m for m in session.members if m.required or rng.random() < 0.6]
    times = sorted(between(rng, session.scheduled, decided, 0.05, 0.9) for _ in range(len(voters) + 1))
    changer = rng.choice(voters) if rng.random() < 0.1 else None
    for member, at in zip(rng.sample(voters, len(voters)), times, strict=False):
        choice = outcome
        if outcome == STANDARD and member.role is Role.COMMANDER:
            choice = APPROVE  # the commander who declared it dissents
        if member is changer:
            _cast(world, session, member, MORE_INFO, at)
            at = between(rng, at, decided, 0.3, 0.9)
        _cast(world, session, member, choice, at)
    session.votes.sort(key=lambda v: v.at)
    assert _outcome(plan, session) == outcome, (outcome, [(v.member.role, v.choice) for v in session.votes])
    decider, role = _decider(plan, session)
    gate = plan.procedure.rules.ccb_gate(session.gate)
    grants = outcome == APPROVE and gate.grants_waivers
    waivable = list(plan.procedure.rules.ccb_waivable)
    session.decision = Decision(
        decided,
        outcome,
        REASONS[(session.gate, outcome)],
        decider,
        role,
        waivers=sorted(rng.sample(waivable, rng.randint(1, 3))) if grants else [],
        interim_approval=grants and rng.random() < 0.5,
        fast_track_authority=grants and rng.random() < 0.7,
    )


def _vote_open(world: World, plan: Plan, session: SessionPlan) -> None:
    """Votes so far on an open session; some were asked for more information after a split vote and are
    voting again."""
    rng, now = world.rng, world.now
    start = max(session.convened, session.scheduled - timedelta(minutes=10))
    if start >= now:
        return  # scheduled for later: nobody has voted yet
    end = min(now, session.scheduled + timedelta(hours=rng.uniform(0.5, 6)))
    if rng.random() < 0.25 and end - start > timedelta(minutes=10):
        required = [m for m in session.members if m.required]
        times = sorted(between(rng, start, end, 0.05, 0.5) for _ in required)
        for n, (member, at) in enumerate(zip(rng.sample(required, len(required)), times, strict=True)):
            _cast(world, session, member, APPROVE if n == 0 else MORE_INFO, at)
        if _outcome(plan, session) == MORE_INFO:
            decider, role = _decider(plan, session)
            at = between(rng, times[-1], end, 0.1, 0.2)
            reason = REASONS[(session.gate, MORE_INFO)]
            session.deferral = Decision(at, MORE_INFO, reason, decider, role, questions=QUESTIONS)
            for member in rng.sample(required, rng.randint(1, 2)):
                _cast(world, session, member, APPROVE, between(rng, at, end, 0.3, 1.0))
            session.votes.sort(key=lambda v: v.at)
            return
        session.votes.clear()
    voters = rng.sample(session.members, rng.randint(1, len(session.members)))
    times = sorted(between(rng, start, end, 0.05, 1.0) for _ in voters)
    for member, at in zip(voters, times, strict=True):
        _cast(world, session, member, weighted(rng, OPEN_CHOICES[session.gate]), at)


# --- writing ----------------------------------------------------------------------------------------------


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
    decider, _ = _decider(plan, session)
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
    current = {id(v) for v in _current([v for v in session.votes if v.pk])}
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
    if decision.outcome == STANDARD:  # the change's conversion is its own step (bench.seeding)
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
