"""Who is on call when: the roster of every key role read in a fixed number of queries, then asked in memory.

Precedence at a moment, per role and slot: the latest override covering it, else a shift of the role's latest
iCalendar import covering it, else the latest rotation running then."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Max, Prefetch, Q
from django.utils import timezone

from qms.models import User
from qms.roles import KEY_ROLES, Role
from qms.roster.models import OnCallImport, OnCallRotation, OnCallRotationMember, OnCallShift, Slot

SLOTS = (Slot.PRIMARY, Slot.BACKUP)


@dataclass
class RoleRoster:
    role: Role
    rotations: list[tuple[OnCallRotation, list[User]]] = field(default_factory=list)
    overrides: list[OnCallShift] = field(default_factory=list)
    imported: list[OnCallShift] = field(default_factory=list)
    latest_import: OnCallImport | None = None

    @property
    def exists(self) -> bool:
        return bool(self.rotations or self.overrides or self.imported)

    def on_call(self, slot: str, at: datetime) -> tuple[User | None, str]:
        """The person in ``slot`` at ``at`` and where that comes from (override, imported, rotation)."""
        for shift in self.overrides:  # newest first
            if shift.slot == slot and shift.starts_at <= at < shift.ends_at and shift.user.is_active:
                return shift.user, "override"
        for shift in self.imported:
            if shift.slot == slot and shift.starts_at <= at < shift.ends_at and shift.user.is_active:
                return shift.user, "imported"
        for rotation, members in self.rotations:  # newest first
            if rotation.slot == slot:
                person = rotation.member_at(at, members)
                if person is not None and person.is_active:
                    return person, "rotation"
        return None, ""

    def changes_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Every moment in [start, end) at which who is on call may change."""
        points = {start}
        for shift in (*self.overrides, *self.imported):
            points.update(t for t in (shift.starts_at, shift.ends_at) if start <= t < end)
        for rotation, _ in self.rotations:
            points.update(rotation.turn_starts(start, end))
            points.update(t for t in (rotation.starts_at, rotation.ends_at) if t is not None and start <= t < end)
        return sorted(points)


def roster_load(*, roles: tuple[Role, ...] = KEY_ROLES, start: datetime, end: datetime) -> dict[Role, RoleRoster]:
    """The rosters of ``roles`` for [start, end): four queries whatever their size."""
    values = [r.value for r in roles]
    rosters = {role: RoleRoster(role=role) for role in roles}
    rotations = (
        OnCallRotation.objects.filter(role__in=values, starts_at__lt=end)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .prefetch_related(
            Prefetch("memberships", queryset=OnCallRotationMember.objects.select_related("user").order_by("position"))
        )
        .order_by("-created_at", "-pk")
    )
    for rotation in rotations:
        rosters[Role(rotation.role)].rotations.append((rotation, [m.user for m in rotation.memberships.all()]))
    latest = (
        OnCallImport.objects.filter(role__in=values)
        .values("role")
        .annotate(last=Max("pk"))
        .values_list("last", flat=True)
    )
    for imported in OnCallImport.objects.filter(pk__in=list(latest)).defer("content"):
        rosters[Role(imported.role)].latest_import = imported
    shifts = (
        OnCallShift.objects.filter(role__in=values, starts_at__lt=end, ends_at__gt=start)
        .filter(Q(kind=OnCallShift.Kind.OVERRIDE) | Q(source_id__in=list(latest)))
        .select_related("user")
        .order_by("-created_at", "-pk")
    )
    for shift in shifts:
        roster = rosters[Role(shift.role)]
        (roster.overrides if shift.kind == OnCallShift.Kind.OVERRIDE else roster.imported).append(shift)
    return rosters


@dataclass(frozen=True)
class Coverage:
    role: Role
    primary: User | None
    backup: User | None
    primary_source: str = ""
    backup_source: str = ""


def on_call_now(*, role: Role, at: datetime | None = None) -> tuple[Coverage, bool]:
    """Who is primary and backup for ``role`` at ``at``, and whether the role keeps a roster at all."""
    at = at or timezone.now()
    roster = roster_load(roles=(role,), start=at, end=at + timedelta(seconds=1))[role]
    return _coverage(roster, at), roster.exists


def _coverage(roster: RoleRoster, at: datetime) -> Coverage:
    primary, primary_source = roster.on_call(Slot.PRIMARY, at)
    backup, backup_source = roster.on_call(Slot.BACKUP, at)
    return Coverage(roster.role, primary, backup, primary_source, backup_source)


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    coverage: Coverage


def roster_segments(roster: RoleRoster, *, start: datetime, end: datetime) -> list[Segment]:
    """[start, end) cut where who is on call changes, each piece with its coverage (neighbours merged)."""
    segments: list[Segment] = []
    points = [*roster.changes_between(start, end), end]
    for here, after in itertools.pairwise(points):
        coverage = _coverage(roster, here)
        if segments and segments[-1].coverage == coverage:
            segments[-1] = Segment(segments[-1].start, after, coverage)
        else:
            segments.append(Segment(here, after, coverage))
    return segments


@dataclass(frozen=True)
class Gap:
    role: Role
    slot: str
    start: datetime
    end: datetime
    no_roster: bool = False  # the role keeps no roster at all (its whole group is notified)

    @property
    def slot_label(self) -> str:
        return Slot(self.slot).label

    @property
    def hours(self) -> float:
        return round((self.end - self.start) / timedelta(hours=1), 1)


def coverage_gaps(*, days: int, now: datetime | None = None, roles: tuple[Role, ...] = KEY_ROLES) -> list[Gap]:
    """Every period of the next ``days`` in which a key role has no primary or no backup (24/7 coverage,
    §13.2). A role without any roster is one gap over the whole period."""
    now = now or timezone.now()
    end = now + timedelta(days=days)
    gaps: list[Gap] = []
    for role, roster in roster_load(roles=roles, start=now, end=end).items():
        if not roster.exists:
            gaps += [Gap(role, slot, now, end, no_roster=True) for slot in SLOTS]
            continue
        for slot in SLOTS:
            open_at = None
            for segment in roster_segments(roster, start=now, end=end):
                person = segment.coverage.primary if slot == Slot.PRIMARY else segment.coverage.backup
                if person is None and open_at is None:
                    open_at = segment.start
                elif person is not None and open_at is not None:
                    gaps.append(Gap(role, slot, open_at, segment.start))
                    open_at = None
            if open_at is not None:
                gaps.append(Gap(role, slot, open_at, end))
    return sorted(gaps, key=lambda g: (g.start, KEY_ROLES.index(g.role), g.slot != Slot.PRIMARY))


def gaps_by_role(gaps: list[Gap]) -> dict[Role, list[Gap]]:
    grouped: dict[Role, list[Gap]] = defaultdict(list)
    for gap in gaps:
        grouped[gap.role].append(gap)
    return grouped
