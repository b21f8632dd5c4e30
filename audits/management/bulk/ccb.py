"""The emergency CCB planned for the bulk seed, for changes whose procedure has one (CM-WF-EMERGENCY): who
declares Gate 1, the Gate 2 (fast-track) session of every change and the Gate 4 (close) session of changes
in post-incident documentation, with their members, votes (some superseded) and decisions; the sessions of
changes still on their way are open, with their votes so far. ``sessions`` writes them. Mirrors
emergencies.services.ccb."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from audits.management.bulk.core import between, weighted
from emergencies.models.ccb import Gate
from qms.models import User
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD
from qms.roles import Role

if TYPE_CHECKING:
    from audits.management.bulk.plans import Plan
    from audits.management.bulk.world import World

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


def session_decider(plan: Plan, session: SessionPlan) -> tuple[User, Role]:
    """The chair, or the program manager for critical severity (§7.2; emergencies.services.ccb.ccb_tally)."""
    rules = plan.procedure.rules
    role = rules.ccb_decider_role(plan.severity)
    if role is None:
        return session.chair, rules.ccb_chair_role
    return next(m.user for m in session.members if m.role == role), role


def current_votes(votes: list[VotePlan]) -> list[VotePlan]:
    superseded = {id(v.supersedes) for v in votes if v.supersedes}
    return [v for v in votes if id(v) not in superseded]


def _cast(world: World, session: SessionPlan, member: MemberPlan, choice: str, at: datetime) -> VotePlan:
    mine = [v for v in current_votes(session.votes) if v.member is member]
    vote = VotePlan(member, choice, at, world.rng.choice(VOTE_COMMENTS[choice]), mine[0] if mine else None)
    session.votes.append(vote)
    return vote


def _outcome(plan: Plan, session: SessionPlan) -> str | None:
    gate = plan.procedure.rules.ccb_gate(session.gate)
    counts: dict[str, int] = {}
    for vote in current_votes(session.votes):
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
    decider, role = session_decider(plan, session)
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
            decider, role = session_decider(plan, session)
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
