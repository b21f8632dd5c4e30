"""Emergency CCB sessions (CM-WF-EMERGENCY §7, §14, §15): convening with a calendar invitation, signed
votes that supersede one another, the live tally, and the decision that must agree with the procedure's
decision rule. Every rule (who sits, who decides, the decision rule, the waivers) comes from the change's
procedure version (``qms.procedures.ccb``); the gates' preconditions and Gate 1 are in
:mod:`emergencies.services.gates`.

Signing follows the bypass pattern: check → ask for the password outside the transaction (a wrong
password is committed even though the signing fails) → lock → check again → signature → effects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from emergencies import signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import CCBMember, CCBSession, ChangeRecord, GateDecision, Vote
from emergencies.models.ccb import Gate
from emergencies.services.gates import (
    BEFORE_DEPLOYMENT,
    ccb_available,
    gate_missing,
    gate_requires_missing,
    latest_decision,
    leave_emergency_path,
    lock_change,
    member_roles,
    required_seats,
    severity_of,
)
from qms.models import Signature, User
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD, GateSpec, Seat
from qms.roles import Role
from qms.services import SigningAuth, notification_queue, signature_record, signer_authenticate
from qms.services.delegation import may_sign_in, signature_persons, signing_persons

# What each vote or decision means as an electronic signature.
MEANING = {
    APPROVE: Signature.Meaning.APPROVED,
    STANDARD: Signature.Meaning.REJECTED,
    MORE_INFO: Signature.Meaning.REVIEWED,
}
MAX_DURATION_MINUTES = 8 * 60


def can_convene(user: User, change: ChangeRecord) -> bool:
    return user.is_active and ccb_available(change) and user.has_role(*change.rules.ccb_convener_roles)


# --- the state of a session, from members and votes already loaded (no queries) ------------------------------


@dataclass
class SeatState:
    seat: Seat
    members: list[CCBMember]
    voted: list[CCBMember]

    @property
    def label(self) -> str:
        return self.seat.label

    @property
    def reason(self) -> str:
        return self.seat.reason

    @property
    def filled(self) -> bool:
        return bool(self.voted)


@dataclass
class MemberState:
    member: CCBMember
    vote: Vote | None
    earlier: list[Vote]
    required: bool = False


@dataclass
class Tally:
    session: CCBSession
    gate: GateSpec
    choices: dict[str, str]
    members: list[MemberState]
    seats: list[SeatState]
    counts: dict[str, int]
    votes: list[Vote]
    rule_outcome: str | None
    decider_role: Role
    decider_user_ids: list[int] = field(default_factory=list)
    superseded_ids: set[int] = field(default_factory=set)

    @property
    def voted(self) -> int:
        return sum(1 for m in self.members if m.vote is not None)

    @property
    def missing(self) -> list[SeatState]:
        return [s for s in self.seats if not s.filled]

    @property
    def quorum(self) -> bool:
        return not self.missing

    @property
    def decidable_outcome(self) -> str | None:
        return self.rule_outcome if self.quorum else None

    @property
    def rule_outcome_label(self) -> str:
        return self.choices.get(self.rule_outcome, "") if self.rule_outcome else ""

    @property
    def rows(self) -> list[dict]:
        total = self.voted or 1
        return [
            {
                "code": code,
                "label": label,
                "count": self.counts.get(code, 0),
                "pct": 100 * self.counts.get(code, 0) // total,
            }
            for code, label in self.choices.items()
        ]

    @property
    def decider_members(self) -> list[CCBMember]:
        return [m.member for m in self.members if m.member.user_id in self.decider_user_ids]

    def current_vote_of(self, user_id: int) -> Vote | None:
        return next((m.vote for m in self.members if m.member.user_id == user_id), None)


def ccb_tally(session: CCBSession, members: list[CCBMember], votes: list[Vote]) -> Tally:
    """Who sits, who has voted, what the votes give under the decision rule. Pure: no queries."""
    change = session.change
    rules = change.rules
    gate = rules.ccb_gate(session.gate)
    superseded = {v.supersedes_id for v in votes if v.supersedes_id}
    by_member: dict[int, list[Vote]] = {}
    for vote in votes:
        by_member.setdefault(vote.member_id, []).append(vote)
    states = []
    seats = required_seats(change)
    required = frozenset(s.role.value for s in seats)
    for member in members:
        mine = sorted(by_member.get(member.pk, []), key=lambda v: (v.cast_at, v.pk), reverse=True)
        current = next((v for v in mine if v.pk not in superseded), None)
        states.append(MemberState(member, current, [v for v in mine if v is not current], member.role in required))
    counts = dict.fromkeys(gate.outcomes, 0)
    for state in states:
        if state.vote is not None:
            counts[state.vote.choice] = counts.get(state.vote.choice, 0) + 1
    seat_states = [
        SeatState(
            seat,
            [s.member for s in states if s.member.role == seat.role.value],
            [s.member for s in states if s.member.role == seat.role.value and s.vote is not None],
        )
        for seat in seats
    ]
    decider_role = rules.ccb_decider_role(severity_of(change))
    if decider_role is None:
        decider_role, decider_ids = rules.ccb_chair_role, [session.chair_id]
    else:
        decider_ids = [m.user_id for m in members if m.role == decider_role.value]
    return Tally(
        session=session,
        gate=gate,
        choices={code: rules.ccb_outcome_label(gate, code) for code in gate.outcomes},
        members=states,
        seats=seat_states,
        counts=counts,
        votes=sorted(votes, key=lambda v: (v.cast_at, v.pk)),
        rule_outcome=rules.ccb_rule_outcome(counts, gate.outcomes),
        decider_role=decider_role,
        decider_user_ids=decider_ids,
        superseded_ids=superseded,
    )


def session_members_and_votes(session: CCBSession) -> tuple[list[CCBMember], list[Vote]]:
    """Two queries, whatever the number of members."""
    members = list(CCBMember.objects.filter(session=session).select_related("user").order_by("added_at", "pk"))
    votes = list(
        Vote.objects.filter(session=session).select_related("signature__on_behalf_of").order_by("cast_at", "pk")
    )
    by_pk = {m.pk: m for m in members}
    for vote in votes:
        member = by_pk.get(vote.member_id)
        if member is not None:
            vote.member = member
            vote.voter = member.user
    return members, votes


# --- locking ---------------------------------------------------------------------------------------------


def _lock_session(session_id: int) -> CCBSession:
    return (
        CCBSession.objects.select_for_update(of=("self",))
        .select_related("change__incident", "change__procedure_version", "chair")
        .get(pk=session_id)
    )


def _get_session(session_id: int) -> CCBSession:
    return CCBSession.objects.select_related("change__incident", "change__procedure_version", "chair").get(
        pk=session_id
    )


# --- convening --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInput:
    gate: str
    scheduled_at: datetime
    duration_minutes: int = 60
    location: str = ""
    agenda: str = ""
    members: tuple[tuple[User, Role], ...] = ()
    chair: User | None = None


def _check_seat(change: ChangeRecord, user: User, role: Role, *, field_name: str = "members") -> None:
    if role not in member_roles(change):
        raise ValidationError({field_name: [f"{role.label} is not a seat on this procedure's CCB."]})
    if not user.is_active or not may_sign_in(user, role):
        raise ValidationError({field_name: [f"{user.display_name} does not hold the role {role.label}."]})


def _check_seats_distinct(seats, *, field_name: str = "members") -> None:
    """One person never fills two seats, in person or by delegation (separation of duties, both people)."""
    seen: set[int] = set()
    for user, role in seats:
        persons = signing_persons(user, role)
        if persons & seen:
            raise ValidationError(
                {
                    field_name: [
                        f"{user.display_name} as {role.label}: one person cannot fill two seats, "
                        "in person or by delegation."
                    ]
                }
            )
        seen |= persons


@transaction.atomic
def ccb_session_convene(*, change_id: int, data: SessionInput, actor: User, now: datetime | None = None) -> CCBSession:
    """A configuration manager convenes an emergency CCB session to decide one gate of a change (§7.1).

    The members are notified with a calendar invitation; their votes and the decision are on the clock.
    """
    now = (now or timezone.now()).astimezone(UTC)
    change = lock_change(change_id)
    rules = change.rules
    if not ccb_available(change):
        raise ValidationError(
            f"{change.procedure_version.procedure.title} has no change control board; sessions are only for "
            "procedures that have one."
        )
    if not actor.has_role(*rules.ccb_convener_roles):
        raise PermissionDenied("Only a configuration manager convenes an emergency CCB (§7.1).")
    try:
        gate = rules.ccb_gate(data.gate)
    except KeyError:
        raise ValidationError({"gate": [f"Unknown gate {data.gate!r}."]}) from None
    if not gate.session:
        raise ValidationError({"gate": [f"{gate.label} is recorded by one authorised person, not by a session."]})
    if change.status not in gate.statuses:
        raise ValidationError(
            {
                "gate": [
                    f"{gate.label} cannot be decided while {change.identifier} is "
                    f"{change.get_status_display().lower()}."
                ]
            }
        )
    blocked = gate_requires_missing(change, gate)
    if blocked:
        raise ValidationError({"gate": [f"Not yet: {label} (gates in order, §14)." for label in blocked]})
    open_session = CCBSession.objects.filter(change=change, gate=gate.code, status=CCBSession.Status.OPEN).first()
    if open_session is not None:
        raise ValidationError({"gate": [f"{open_session.identifier} is already open for {gate.label}."]})
    latest = latest_decision(change, gate.code)
    if latest is not None and latest.result == GateDecision.Result.PASSED:
        raise ValidationError({"gate": [f"{gate.label} was already passed on {latest.decided_at:%Y-%m-%d %H:%M} UTC."]})
    errors: dict[str, list[str]] = {}
    if not 15 <= data.duration_minutes <= MAX_DURATION_MINUTES:
        errors["duration_minutes"] = ["A session lasts between 15 minutes and 8 hours."]
    if timezone.is_naive(data.scheduled_at):
        errors["scheduled_at"] = ["Give the time with its time zone."]
    elif data.scheduled_at < now - timedelta(hours=1):
        errors["scheduled_at"] = ["The session cannot start in the past."]
    if errors:
        raise ValidationError(errors)
    chair = data.chair or actor
    if not chair.is_active or not may_sign_in(chair, rules.ccb_chair_role):
        raise ValidationError({"chair": [f"The chair is a {rules.ccb_chair_role.label} (§7.1)."]})

    seats: list[tuple[User, Role]] = [(chair, rules.ccb_chair_role)]
    for user, role in data.members:
        if user.pk == chair.pk and role == rules.ccb_chair_role:
            continue
        if any(u.pk == user.pk for u, _ in seats):
            raise ValidationError({"members": [f"{user.display_name} can hold only one seat on a session."]})
        _check_seat(change, user, role)
        seats.append((user, role))
    _check_seats_distinct(seats)

    session = CCBSession(
        change=change,
        gate=gate.code,
        chair=chair,
        convened_by=actor,
        convened_at=now,
        scheduled_at=data.scheduled_at.astimezone(UTC),
        duration_minutes=data.duration_minutes,
        location=data.location.strip(),
        agenda=data.agenda.strip(),
    )
    session.full_clean(exclude=["identifier", "status"], validate_constraints=False)
    session._history_user, session._change_reason = actor, f"convened for {gate.label}"
    try:
        save_with_unique_identifier(session, field_name="identifier", base=f"CCB-{now:%Y%m%d-%H%M}")
    except IntegrityError:
        raise ValidationError({"gate": [f"A session for {gate.label} was convened at the same moment."]}) from None
    members = [_add_member(session, user, role, actor=actor, at=now) for user, role in seats]
    signals.ccb_session_convened.send(sender=CCBSession, session=session, actor=actor)
    _notify(session, members, template="ccb_convened", key=f"ccb-convened:{session.pk}", actor=actor, ics=True)
    return session


def _add_member(session: CCBSession, user: User, role: Role, *, actor: User, at: datetime) -> CCBMember:
    member = CCBMember(session=session, user=user, role=role.value, added_by=actor, added_at=at)
    member._history_user, member._change_reason = actor, f"seated as {role.label}"
    member.save()
    return member


@transaction.atomic
def ccb_member_add(*, session_id: int, user: User, role: Role, actor: User) -> CCBMember:
    """Seat one more member on an open session (a required role that was missing, or an adviser)."""
    session = _lock_session(session_id)
    change = session.change
    if not session.is_open:
        raise ValidationError(f"{session.identifier} is {session.get_status_display().lower()}.")
    if actor.pk != session.chair_id and not actor.has_role(*change.rules.ccb_convener_roles):
        raise PermissionDenied("Only the chair or a configuration manager seats members.")
    if CCBMember.objects.filter(session=session, user=user).exists():
        raise ValidationError({"user": [f"{user.display_name} already sits on {session.identifier}."]})
    _check_seat(change, user, role, field_name="role")
    seated = [(m.user, Role(m.role)) for m in CCBMember.objects.filter(session=session).select_related("user")]
    _check_seats_distinct([*seated, (user, role)], field_name="user")
    member = _add_member(session, user, role, actor=actor, at=timezone.now())
    signals.ccb_member_added.send(sender=CCBSession, session=session, member=member, actor=actor)
    _notify(
        session, [member], template="ccb_convened", key=f"ccb-seated:{session.pk}:{member.pk}", actor=actor, ics=True
    )
    return member


@transaction.atomic
def ccb_session_cancel(*, session_id: int, actor: User, reason: str) -> CCBSession:
    session = _lock_session(session_id)
    if not session.is_open:
        raise ValidationError(f"{session.identifier} is {session.get_status_display().lower()}.")
    if actor.pk != session.chair_id and not actor.has_role(*session.change.rules.ccb_convener_roles):
        raise PermissionDenied("Only the chair or a configuration manager cancels a session.")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the session is cancelled."]})
    session.cancel(by=actor, at=timezone.now(), reason=reason.strip())
    session._history_user, session._change_reason = actor, f"cancelled: {reason.strip()}"
    session.save()
    signals.ccb_session_cancelled.send(sender=CCBSession, session=session, actor=actor)
    members = list(CCBMember.objects.filter(session=session).select_related("user"))
    _notify(session, members, template="ccb_cancelled", key=f"ccb-cancelled:{session.pk}", actor=actor, ics=True)
    return session


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


# --- notifications and the calendar invitation -------------------------------------------------------------


def _notify(
    session: CCBSession, members: Iterable[CCBMember], *, template: str, key: str, actor: User, ics: bool = False
) -> None:
    members = list(members)
    change = session.change
    attachment = None
    if ics:
        everyone = list(CCBMember.objects.filter(session=session).select_related("user"))
        method = "CANCEL" if session.status == CCBSession.Status.CANCELLED else "REQUEST"
        attachment = (f"{session.identifier}.ics", ccb_session_ics(session, everyone, method=method), "text/calendar")
    notification_queue(
        recipients=[m.user for m in members],
        dedupe_prefix=key,
        template=template,
        context={
            "session": session,
            "change": change,
            "gate": change.rules.ccb_gate(session.gate),
            "outcome_label": change.rules.ccb_outcome_label(change.rules.ccb_gate(session.gate), session.outcome)
            if session.outcome
            else "",
            "waivers": session.waiver_labels,
            "actor": actor,
        },
        link=session.get_absolute_url(),
        attachment=attachment,
    )


def _ics_escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _ics_fold(line: str) -> str:
    """RFC 5545 §3.1: lines longer than 75 octets continue on the next line after a space."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        piece = char.encode()
        if len(current) + len(piece) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += piece
    parts.append(current.decode())
    return "\r\n ".join(parts)


def ccb_session_ics(session: CCBSession, members: list[CCBMember], *, method: str = "REQUEST") -> str:
    """An iCalendar invitation (RFC 5545) to the session, for every member."""
    change = session.change
    gate = change.rules.ccb_gate(session.gate)
    url = f"{settings.PORTAL_BASE_URL}{session.get_absolute_url()}"
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "qms-portal"
    start = session.scheduled_at.astimezone(UTC)
    end = start + timedelta(minutes=session.duration_minutes)
    stamp = timezone.now().astimezone(UTC)
    fmt = "%Y%m%dT%H%M%SZ"
    description = "\n".join(
        part
        for part in (
            f"{gate.label}: {gate.question}",
            f"Change: {change.identifier} {change.title}",
            session.agenda,
            f"Vote and see who has voted: {url}",
        )
        if part
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//QMS Emergency Portal//Emergency CCB//EN",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{session.identifier}@{host}",
        f"DTSTAMP:{stamp:{fmt}}",
        f"DTSTART:{start:{fmt}}",
        f"DTEND:{end:{fmt}}",
        f"SEQUENCE:{1 if method == 'CANCEL' else 0}",
        f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}",
        f"SUMMARY:{_ics_escape(f'Emergency CCB {session.identifier}: {gate.label} ({change.identifier})')}",
        f"DESCRIPTION:{_ics_escape(description)}",
        f"URL:{url}",
    ]
    if session.location:
        lines.append(f"LOCATION:{_ics_escape(session.location)}")
    chair = session.chair
    if chair.email:
        lines.append(f"ORGANIZER;CN={_ics_escape(chair.display_name)}:mailto:{chair.email}")
    for member in members:
        if member.user.email:
            lines.append(
                f"ATTENDEE;CN={_ics_escape(member.user.display_name)};ROLE=REQ-PARTICIPANT;"
                f"PARTSTAT=NEEDS-ACTION:mailto:{member.user.email}"
            )
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_ics_fold(line) for line in lines) + "\r\n"
