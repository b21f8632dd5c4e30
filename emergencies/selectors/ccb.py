"""Every read the emergency CCB pages need, with their queries fixed in advance.

A session page costs the same number of queries with three members or twenty: the session (with its
change, incident and procedure), its members (with their users), all its votes, the change's gate
decisions, its last status update and its emergency bypass are one query each; the tally is computed in
Python from those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from emergencies import permissions
from emergencies.models import (
    BypassRequest,
    CCBMember,
    CCBSession,
    ChangeRecord,
    GateDecision,
    RegulatoryNotification,
    StatusUpdate,
    Vote,
)
from emergencies.selectors.bypasses import emergency_bypass_for_change
from emergencies.services import ccb, communication, gates
from qms.models import User
from qms.procedures.ccb import GateSpec, Seat
from qms.roles import Role

SESSION_RELATED = (
    "change__incident",
    "change__author",
    "change__procedure_version__procedure",
    "chair",
    "convened_by",
    "decided_by",
    "decision_signature__on_behalf_of",
)


def _count(model, **filters) -> Subquery:
    return Subquery(
        model.objects.filter(session=OuterRef("pk"), **filters)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def ccb_session_list(*, user: User, status: str = "", gate: str = "", mine: bool = False) -> QuerySet[CCBSession]:
    if not permissions.can_view_changes(user):
        return CCBSession.objects.none()
    qs = CCBSession.objects.select_related(*SESSION_RELATED).annotate(
        member_count=Coalesce(_count(CCBMember), Value(0)),
        vote_count=Coalesce(_count(Vote, superseded_by__isnull=True), Value(0)),
        open_first=Case(When(status=CCBSession.Status.OPEN, then=Value(0)), default=Value(1)),
    )
    if status:
        qs = qs.filter(status=status)
    if gate:
        qs = qs.filter(gate=gate)
    if mine:
        qs = qs.filter(members__user=user)
    return qs.order_by("open_first", "-scheduled_at", "-pk")


def ccb_session_get_for_user(*, pk: int, user: User) -> CCBSession:
    if not permissions.can_view_changes(user):
        raise Http404
    session = CCBSession.objects.select_related(*SESSION_RELATED).filter(pk=pk).first()
    if session is None:
        raise Http404
    return session


@dataclass
class SessionPage:
    session: CCBSession
    change: ChangeRecord
    gate: GateSpec
    tally: ccb.Tally
    preconditions: list[gates.Precondition]
    decisions: list[GateDecision]
    last_update: StatusUpdate | None
    bypass: BypassRequest | None
    me: ccb.MemberState | None
    is_decider: bool
    can_manage: bool
    rule_summary: str
    not_waivable: dict[str, str] = field(default_factory=dict)
    waivable: dict[str, str] = field(default_factory=dict)

    @property
    def missing_preconditions(self) -> list[str]:
        return [p.label for p in self.preconditions if not p.met]


def ccb_session_tally(*, session: CCBSession) -> ccb.Tally:
    return ccb.ccb_tally(session, *ccb.session_members_and_votes(session))


def ccb_session_page(*, session: CCBSession, user: User) -> SessionPage:
    change = session.change
    rules = change.rules
    tally = ccb_session_tally(session=session)
    gate = tally.gate
    me = next((m for m in tally.members if m.member.user_id == user.pk), None)
    return SessionPage(
        session=session,
        change=change,
        gate=gate,
        tally=tally,
        preconditions=gates.gate_preconditions(change, gate),
        decisions=list(
            GateDecision.objects.filter(change=change)
            .select_related("decided_by", "session", "signature")
            .order_by("-decided_at", "-pk")
        ),
        last_update=StatusUpdate.objects.filter(change=change).select_related("posted_by").first(),
        bypass=emergency_bypass_for_change(change=change),
        me=me,
        is_decider=session.is_open and user.pk in tally.decider_user_ids,
        can_manage=session.is_open and (user.pk == session.chair_id or user.has_role(*rules.ccb_convener_roles)),
        rule_summary=rules.ccb_decision_rule.get("summary", ""),
        waivable=rules.ccb_waivable if gate.grants_waivers else {},
        not_waivable=rules.ccb_not_waivable,
    )


def ccb_sessions_for_change(*, change: ChangeRecord) -> list[CCBSession]:
    return list(
        CCBSession.objects.filter(change=change)
        .select_related("chair")
        .annotate(
            member_count=Coalesce(_count(CCBMember), Value(0)),
            vote_count=Coalesce(_count(Vote, superseded_by__isnull=True), Value(0)),
        )
        .order_by("-scheduled_at", "-pk")
    )


def ccb_sessions_awaiting_vote(*, user: User, limit: int = 20) -> list[CCBSession]:
    """Open sessions the user sits on and has not voted in yet."""
    return list(
        CCBSession.objects.filter(status=CCBSession.Status.OPEN, members__user=user)
        .exclude(votes__voter=user)
        .select_related("change")
        .order_by("scheduled_at")[:limit]
    )


def eligible_members(*, change: ChangeRecord) -> list[tuple[User, list[Role]]]:
    """Active people who could sit on a session of this change, with the seat roles they hold or were
    delegated (a delegation in force now)."""
    from qms.models import Delegation

    roles = gates.member_roles(change)
    users = (
        User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in roles])
        .distinct()
        .prefetch_related("groups")
        .order_by("first_name", "last_name", "username")
    )
    found = {u.pk: (u, [r for r in roles if r in u.roles]) for u in users}
    now = timezone.now()
    lent = (
        Delegation.objects.filter(
            role__in=[r.value for r in roles],
            revoked_at__isnull=True,
            starts_at__lte=now,
            ends_at__gt=now,
            delegate__is_active=True,
        )
        .select_related("delegate", "delegator")
        .prefetch_related("delegate__groups", "delegator__groups")
    )
    for delegation in lent:
        role, delegate = Role(delegation.role), delegation.delegate
        if delegation.delegator.has_role(role) and not delegate.has_role(role):
            _, held = found.setdefault(delegate.pk, (delegate, []))
            if role not in held:
                held.append(role)
    rows = sorted(found.values(), key=lambda row: (row[0].first_name, row[0].last_name, row[0].username))
    return [(u, [r for r in roles if r in held]) for u, held in rows]


@dataclass
class ChangeGatesPage:
    change: ChangeRecord
    gates: list[gates.GateRow]
    sessions: list[CCBSession]
    decisions: list[GateDecision]
    updates: list[StatusUpdate]
    regulatory: list[RegulatoryNotification]
    seats: list[Seat]
    next_update_due: datetime | None
    cadence_label: str
    regulatory_required: bool

    @property
    def update_overdue(self) -> bool:
        return self.next_update_due is not None and self.next_update_due < timezone.now()

    @property
    def asks_verification(self) -> bool:
        return any("verification_complete" in row.gate.preconditions for row in self.gates)


def ccb_change_page(*, change: ChangeRecord, updates_limit: int = 50) -> ChangeGatesPage:
    rules = change.rules
    sessions = ccb_sessions_for_change(change=change)
    decisions = list(
        GateDecision.objects.filter(change=change)
        .select_related("decided_by", "session", "signature")
        .order_by("-decided_at", "-pk")
    )
    updates = list(StatusUpdate.objects.filter(change=change).select_related("posted_by")[:updates_limit])
    severity = change.incident.severity if change.incident_id else ""
    interval = rules.status_update_interval(severity, change.status)
    return ChangeGatesPage(
        change=change,
        gates=gates.gate_rows(change, decisions, sessions),
        sessions=sessions,
        decisions=decisions,
        updates=updates,
        regulatory=list(RegulatoryNotification.objects.filter(change=change).select_related("recorded_by")),
        seats=gates.required_seats(change),
        next_update_due=communication.next_status_update_due(change, updates[0] if updates else None),
        cadence_label=interval.label if interval else "",
        regulatory_required=change.incident_id is not None and rules.regulatory_required(change.incident.flags),
    )


def ccb_change_panel(*, change: ChangeRecord) -> dict:
    """What the change's own page shows about its gates and sessions (three queries)."""
    if not gates.ccb_available(change):
        return {"ccb": False}
    sessions = ccb_sessions_for_change(change=change)
    decisions = list(GateDecision.objects.filter(change=change).order_by("-decided_at", "-pk"))
    return {
        "ccb": True,
        "change": change,
        "sessions": sessions,
        "gates": gates.gate_rows(change, decisions, sessions),
        "false_alarm": change.false_alarm,
    }
