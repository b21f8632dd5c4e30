"""Reads of the training matrix: who is qualified for what, and who lapses within 30 days."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Max
from django.utils import timezone

from qms.models import TrainingRecord, User
from qms.roles import READ_ONLY_ROLES, Role
from qms.services.training import courses_current, lapse_horizon, role_requirements_current

MATRIX_VIEW_ROLES = (Role.QMS, Role.AUDITOR, Role.EXECUTIVE, Role.QUALITY)


def can_view_training_matrix(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.has_role(*MATRIX_VIEW_ROLES))


@dataclass
class Cell:
    course: str
    required: bool
    until: date | None
    state: str  # "valid", "lapsing", "expired", "missing", "" (not required, never trained)


@dataclass
class MatrixRow:
    user: User
    roles: list[Role]
    cells: list[Cell] = field(default_factory=list)

    @property
    def qualified_roles(self) -> list[Role]:
        needs = role_requirements_current()
        by_course = {c.course: c for c in self.cells}
        return [
            r
            for r in self.roles
            if all(by_course[c].state in ("valid", "lapsing") for c in needs.get(r.value, ()) if c in by_course)
        ]

    @property
    def lapsing(self) -> list[Cell]:
        return [c for c in self.cells if c.state == "lapsing"]


def training_matrix(*, today: date | None = None) -> tuple[dict[str, dict], list[MatrixRow]]:
    """Every active person holding a signing role, with the state of each course: three queries."""
    today = today or timezone.localdate()
    horizon = lapse_horizon(today)
    courses = courses_current()
    needs = role_requirements_current()
    users = list(
        User.objects.filter(is_active=True, groups__isnull=False)
        .distinct()
        .prefetch_related("groups")
        .order_by("username")
    )
    latest = {
        (row["user_id"], row["course"]): row["until"]
        for row in TrainingRecord.objects.filter(user__in=users, completed_on__lte=today)
        .values("user_id", "course")
        .annotate(until=Max("expires_on"))
    }
    rows = []
    for user in users:
        roles = sorted((r for r in user.roles if r not in READ_ONLY_ROLES), key=lambda r: r.label)
        if not roles:
            continue
        required = set().union(*(needs.get(r.value, set()) for r in roles))
        row = MatrixRow(user=user, roles=roles)
        for course in courses:
            until = latest.get((user.pk, course))
            if until is None:
                state = "missing" if course in required else ""
            elif until <= today:
                state = "expired"
            elif until <= horizon:
                state = "lapsing"
            else:
                state = "valid"
            row.cells.append(Cell(course=course, required=course in required, until=until, state=state))
        rows.append(row)
    return courses, rows


def training_records_recent(*, limit: int = 50) -> list[TrainingRecord]:
    return list(TrainingRecord.objects.select_related("user", "recorded_by").order_by("-recorded_at", "-pk")[:limit])
