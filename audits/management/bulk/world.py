"""What every batch of the bulk seed needs: the seeded users by role, the procedures in force, content types,
URL patterns and the random source; and the report of what was written."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model
from django.urls import reverse

from audits.management.bulk.core import Ids, Subject
from audits.management.bulk.plans import PROCEDURE_MIX
from emergencies.models import BypassRequest, CCBSession, ChangeRecord, PostMortem
from qms.models import User
from qms.roles import Role
from qms.services.procedures import procedure_versions_in_force

SEED_ROLES = (
    Role.ONCALL,
    Role.COMMANDER,
    Role.LEAD,
    Role.ARCHITECT,
    Role.QMS,
    Role.SECURITY,
    Role.LEGAL,
    Role.EXECUTIVE,
    Role.CM,
    Role.SAFETY,
    Role.ENGMANAGER,
    Role.QUALITY,
    Role.PROGRAM,
    Role.RELEASE,
    Role.AUDITOR,
)
USERS_PER_ROLE = 3
FIRST_NAMES = ("Ada", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena", "Mo")
LAST_NAMES = ("Okafor", "Silva", "Novak", "Tanaka", "Haddad", "Moreau", "Schmidt", "Kowalski", "Ng", "Ibarra")


@dataclass
class SeedReport:
    changes: int = 0
    incidents: int = 0
    bypasses: int = 0
    signatures: int = 0
    ccb_sessions: int = 0
    votes: int = 0
    post_mortems: int = 0
    action_items: int = 0
    gate_results: int = 0
    obligations: int = 0
    notifications: int = 0
    audit_events: int = 0
    history_rows: int = 0
    users: int = 0
    seconds: float = 0.0
    by_state: dict[str, int] = field(default_factory=dict)


class World:
    """What every batch needs: users by role, procedures, content types, URL patterns, a random source."""

    def __init__(self, *, rng: random.Random, now: datetime, report: SeedReport):
        self.rng, self.now = rng, now
        self.ids = Ids()
        self.in_flight: set[str] = set()  # identifiers of the batch being written while the next is built
        self.users = self._users(report)
        # The version of each procedure in force at ``now``, looked up by date as filing does (a version
        # scheduled for later is not picked before its date).
        self.procedures = {
            pv.procedure.code: pv for pv in procedure_versions_in_force(now).order_by("procedure_id", "version")
        }
        missing = set(PROCEDURE_MIX) - set(self.procedures)
        if missing:
            raise RuntimeError(f"Procedure presets missing: {', '.join(sorted(missing))} (run migrate).")
        self.cts = {
            model: ContentType.objects.get_for_model(model).pk
            for model in (ChangeRecord, BypassRequest, CCBSession, PostMortem)
        }
        self.urls = {
            ChangeRecord: _url_pattern("emergencies:change-detail", identifier="CHG-X"),
            BypassRequest: _url_pattern("emergencies:bypass-detail", identifier="BYPASS-X"),
            PostMortem: _url_pattern("emergencies:post-mortem", identifier="CHG-X"),
            CCBSession: _url_pattern("emergencies:ccb-session-detail", pk=987654321),
        }
        self.change_url = self.urls[ChangeRecord]
        self.by_pk = {u.pk: u for us in self.users.values() for u in us}
        self.names = {pk: u.display_name for pk, u in self.by_pk.items()}
        self.role_labels = {u.pk: ", ".join(sorted(r.label for r in u.roles)) for us in self.users.values() for u in us}
        self.filers = (
            self.users[Role.ONCALL] * 4 + self.users[Role.COMMANDER] + self.users[Role.LEAD] + self.users[Role.SECURITY]
        )

    @staticmethod
    @transaction.atomic
    def _users(report: SeedReport) -> dict[Role, list[User]]:
        wanted = {f"seed-{role.value}-{i}": role for role in SEED_ROLES for i in range(1, USERS_PER_ROLE + 1)}
        existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
        new = []
        for n, (username, role) in enumerate(wanted.items()):
            if username in existing:
                continue
            user = User(
                username=username,
                first_name=FIRST_NAMES[n % len(FIRST_NAMES)],
                last_name=f"{LAST_NAMES[n % len(LAST_NAMES)]} ({role.label})",
                email=f"{username}@example.com",
            )
            user.set_unusable_password()
            new.append(user)
        if new:
            from simple_history.utils import bulk_create_with_history

            created = bulk_create_with_history(new, User, default_change_reason="seeded user")
            groups = {g.name: g for g in Group.objects.all()}
            through = User.groups.through
            through.objects.bulk_create(
                [through(user_id=u.pk, group_id=groups[wanted[u.username].group_name].pk) for u in created]
            )
            report.users, report.history_rows = len(created), report.history_rows + len(created)
        users: dict[Role, list[User]] = {role: [] for role in SEED_ROLES}
        for user in User.objects.filter(username__in=wanted).prefetch_related("groups").order_by("username"):
            users[wanted[user.username]].append(user)
        return users

    def pick(self, role: Role, *, not_user: User | None = None, not_users: tuple[User, ...] = ()) -> User:
        excluded = {u.pk for u in (not_user, *not_users) if u is not None}
        choices = [u for u in self.users[role] if u.pk not in excluded] or self.users[role]
        return self.rng.choice(choices)

    def user(self, pk: int) -> User:
        return self.by_pk[pk]

    def subject(self, model: type[Model], pk: int, label: str, key: str | int) -> Subject:
        return Subject(self.cts[model], pk, label, self.urls[model].format(key), model._meta.label_lower)


def _url_pattern(name: str, **kwargs) -> str:
    sentinel = str(next(iter(kwargs.values())))
    return reverse(name, kwargs=kwargs).replace(sentinel, "{}")
