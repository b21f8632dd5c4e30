"""The state of a CCB session — seats, members, votes and the live tally — from rows already loaded (no queries)."""

from __future__ import annotations

from dataclasses import dataclass, field

from emergencies.models import CCBMember, CCBSession, Vote
from emergencies.services.gates import (
    required_seats,
    severity_of,
)
from qms.procedures.ccb import GateSpec, Seat
from qms.roles import Role

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
