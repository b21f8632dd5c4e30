"""Realistic data at scale, fast: what ``python manage.py seed_bulk --changes N`` writes.

Every emergency change gets its incident, a state reached by the transitions the lifecycle allows (with
plausible times, actors and reasons), the field-level history of each step, the procedure's clocks
(obligations, met or open as the state implies) with their history, the filing notifications (sent),
and a valid hash-chained audit trail of it all, appended to whatever chain is already there.

Rows are generated in memory a batch at a time and written with ``bulk_create`` (history rows straight
into the historical tables), one transaction per batch, so memory stays flat and 10^5 changes take a
few minutes. The services are not called: they would take hours, and this is generated history, not
live records being edited. What the services and receivers would have written is mirrored here; keep
the two in step when the lifecycle changes (``tests/test_seed_bulk.py`` checks the result).

Overdue clocks are left un-escalated (escalation level 0), as after an import or a stopped beat: the
escalation sweep benchmark then measures a full backlog, the worst case.

This lives beside the benchmark rather than in an app because it writes across all of them (audits
included), which the apps' one-way dependencies (audits -> emergencies -> qms) do not allow.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from types import SimpleNamespace

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditChainHead, AuditEvent, Obligation
from audits.services import audit_event_digest
from emergencies.models import ChangeRecord, Incident
from qms.models import Notification, ProcedureVersion, User
from qms.procedures import CATEGORY_LABELS
from qms.roles import Role

Status = ChangeRecord.Status

# Which transitions lead to each state (django-fsm allows each of these paths).
PATHS: dict[str, tuple[str, ...]] = {
    Status.STUB: (),
    Status.BYPASS_AUTHORISED: ("authorize_bypass",),
    Status.HOTFIX: ("authorize_bypass", "start_hotfix"),
    Status.DEPLOYED: ("authorize_bypass", "start_hotfix", "deploy"),
    Status.MONITORING: ("authorize_bypass", "start_hotfix", "deploy", "start_monitoring"),
    Status.POST_INCIDENT: ("authorize_bypass", "start_hotfix", "deploy", "start_monitoring", "resolve"),
    Status.CLOSED: ("authorize_bypass", "start_hotfix", "deploy", "start_monitoring", "resolve", "close"),
    Status.ROLLED_BACK: ("authorize_bypass", "start_hotfix", "deploy", "start_monitoring", "roll_back"),
    Status.CONVERTED: ("authorize_bypass", "convert_to_standard"),
}
STATES = tuple(PATHS)

# Changes older than a month have mostly finished; the rest are still moving. The share left open and
# overdue (post-incident documentation never finished, a deploy never confirmed) is what the clocks and
# the escalation sweep are for.
OLD_MIX = {
    Status.CLOSED: 55,
    Status.CONVERTED: 9,
    Status.POST_INCIDENT: 24,
    Status.ROLLED_BACK: 3,
    Status.MONITORING: 4,
    Status.DEPLOYED: 3,
    Status.HOTFIX: 1,
    Status.BYPASS_AUTHORISED: 0.5,
    Status.STUB: 0.5,
}
YOUNG_MIX = {
    Status.STUB: 10,
    Status.BYPASS_AUTHORISED: 10,
    Status.HOTFIX: 12,
    Status.DEPLOYED: 10,
    Status.MONITORING: 12,
    Status.POST_INCIDENT: 18,
    Status.CLOSED: 14,
    Status.ROLLED_BACK: 6,
    Status.CONVERTED: 8,
}
YOUNG_DAYS = 30
CATEGORY_MIX = {"p1_incident": 60, "critical_security": 25, "data_breach": 15}
PROCEDURE_MIX = {
    "emergency-bypass-workflow": 50,
    "qms-emergency-bypass-v1": 20,
    "eng-proc-004": 15,
    "cm-wf-emergency": 15,
}
# Minutes from the step before (low, high).
STEP_MINUTES = {
    "authorize_bypass": (3, 25),
    "start_hotfix": (2, 20),
    "deploy": (20, 240),
    "start_monitoring": (2, 30),
    "resolve": (60, 24 * 60),
    "close": (24 * 60, 10 * 24 * 60),
    "roll_back": (10, 120),
    "convert_to_standard": (5, 60),
}
STEP_REASONS = {
    "authorize_bypass": "Severity confirmed, bypass authorised.",
    "deploy": "Fix deployed to production.",
    "resolve": "Error rate back to baseline.",
    "close": "Closure checklist complete.",
    "roll_back": "Error rate rose after the deploy: rollback trigger.",
    "convert_to_standard": "Not an outage: handled as a standard change.",
}
DOCUMENTATION = {
    "root_cause": "A faulty release; the canary did not cover this path.",
    "impact_assessment": "Customers could not complete their task during the outage.",
    "timeline": "Detected, declared, fixed, deployed, monitored, resolved.",
    "resolution": "Fixed and verified in production.",
    "lessons_learned": "Add a canary stage for this service.",
}
VOID_NOTE = "Voided: the change left the emergency path."  # audits.receivers.VOIDING_TRANSITIONS
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
SYSTEMS = ("checkout-api", "auth-service", "search", "payments", "image-resizer", "export-bucket", "edge-proxy")
PROBLEMS = {
    "p1_incident": ("{system} returns 500 for every request", "Since the last deploy every call to {system} fails."),
    "critical_security": ("{system} accepts forged tokens", "A CVE under active exploitation affects {system}."),
    "data_breach": ("{system} exposed customer data", "Customer records were readable through {system}."),
}
FIRST_NAMES = ("Ada", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena", "Mo")
LAST_NAMES = ("Okafor", "Silva", "Novak", "Tanaka", "Haddad", "Moreau", "Schmidt", "Kowalski", "Ng", "Ibarra")


@dataclass
class SeedReport:
    changes: int = 0
    incidents: int = 0
    obligations: int = 0
    notifications: int = 0
    audit_events: int = 0
    history_rows: int = 0
    users: int = 0
    seconds: float = 0.0
    by_state: dict[str, int] = field(default_factory=dict)


@dataclass
class _Step:
    name: str
    at: datetime
    actor: User
    reason: str


@dataclass
class _Plan:
    declared: datetime
    state: str
    category: str
    cvss: Decimal | None
    procedure: ProcedureVersion
    author: User
    commander: User | None
    system: str
    steps: list[_Step]
    identifier: str = ""
    ticket: str = ""


@contextmanager
def _given_timestamps(*models: type[Model]) -> Iterator[None]:
    """Let bulk_create keep the created_at / updated_at we give (auto_now would stamp the seeding time).

    Flips the fields' flags for the duration; fine in this one-off command, never in a server.
    """
    fields = [
        f
        for m in models
        for f in m._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _weighted(rng: random.Random, mix: dict) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


class _World:
    """What every batch needs: users by role, procedures, content types, a random source."""

    def __init__(self, *, rng: random.Random, now: datetime, report: SeedReport):
        self.rng, self.now = rng, now
        self.users = self._users(report)
        self.procedures = {
            pv.procedure.code: pv
            for pv in ProcedureVersion.objects.select_related("procedure").filter(effective_until__isnull=True)
        }
        missing = set(PROCEDURE_MIX) - set(self.procedures)
        if missing:
            raise RuntimeError(f"Procedure presets missing: {', '.join(sorted(missing))} (run migrate).")
        self.change_ct = ContentType.objects.get_for_model(ChangeRecord)
        self.change_url = reverse("emergencies:change-detail", kwargs={"identifier": "CHG-X"}).replace("CHG-X", "{}")
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

    def pick(self, role: Role, *, not_user: User | None = None) -> User:
        choices = [u for u in self.users[role] if u != not_user] or self.users[role]
        return self.rng.choice(choices)


def _plan(world: _World, *, declared: datetime, state: str) -> _Plan:
    rng = world.rng
    category = _weighted(rng, CATEGORY_MIX)
    procedure = world.procedures[_weighted(rng, PROCEDURE_MIX)]
    cvss = Decimal(rng.randint(90, 100)) / 10 if category == "critical_security" else None
    author = rng.choice(world.filers)
    commander = world.pick(Role.COMMANDER, not_user=author) if rng.random() < 0.8 else None
    path = PATHS[state]
    minutes = [rng.uniform(*STEP_MINUTES[name]) for name in path]
    room = (world.now - declared).total_seconds() / 60 - 1
    if path and sum(minutes) > room:  # a recent change: its steps happened faster
        minutes = [m * room / sum(minutes) for m in minutes]
    steps, at = [], declared
    authoriser = commander or world.pick(_authoriser_role(procedure, category), not_user=author)
    for name, m in zip(path, minutes, strict=True):
        at += timedelta(minutes=m)
        actor = {
            "authorize_bypass": authoriser,
            "resolve": commander or author,
            "close": world.pick(Role.QMS),
            "convert_to_standard": commander or world.pick(Role.QMS),
        }.get(name, author)
        steps.append(_Step(name, at, actor, STEP_REASONS.get(name, "")))
    return _Plan(declared, state, category, cvss, procedure, author, commander, rng.choice(SYSTEMS), steps)


def _authoriser_role(procedure: ProcedureVersion, category: str) -> Role:
    roles = [r for r in procedure.rules.stub_authoriser_roles(category, {}) if r in SEED_ROLES]
    return roles[0] if roles else Role.COMMANDER


def _assign_identifiers(plans: list[_Plan], *, model: type[Model], field_name: str, prefix: str) -> None:
    """CHG-EMG-YYYYMMDD-HHMM (or INC-…), with -02, -03… for the same minute, as the services do."""
    bases = [f"{prefix}-{p.declared:%Y%m%d-%H%M}" for p in plans]
    lo, hi = min(bases), max(bases) + "-99"
    taken = set(model.objects.filter(**{f"{field_name}__range": (lo, hi)}).values_list(field_name, flat=True))
    attr = "identifier" if model is ChangeRecord else "ticket"
    for plan, base in zip(plans, bases, strict=True):
        n, candidate = 1, base
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n:02d}"
        taken.add(candidate)
        setattr(plan, attr, candidate)


class _Writer:
    """Inserts rows given as dicts of field values (attnames) and returns their primary keys.

    PostgreSQL gets COPY (five to eight times faster than bulk_create's INSERTs here), with the primary
    keys drawn from the table's sequence first; other databases (the zero-setup SQLite) get bulk_create.
    """

    def __init__(self) -> None:
        self.copy = connection.vendor == "postgresql"
        self.history_rows = 0

    def insert(self, model: type[Model], rows: list[dict], *, ids: bool = True) -> list[int]:
        if not rows:
            return []
        if model.__name__.startswith("Historical"):
            self.history_rows += len(rows)
        if not self.copy:
            created = model.objects.bulk_create([model(**row) for row in rows], batch_size=500)
            return [obj.pk for obj in created]
        meta = model._meta
        pks: list[int] = []
        with connection.cursor() as cursor:
            if ids:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [meta.db_table, meta.pk.column, len(rows)],
                )
                pks = [pk for (pk,) in cursor.fetchall()]
                for row, pk in zip(rows, pks, strict=True):
                    row[meta.pk.attname] = pk
            # Fields the seed does not know yet (added since) get their model default, as an INSERT would.
            defaults = {
                f.attname: f.get_default()
                for f in meta.concrete_fields
                if f.attname not in rows[0] and not f.primary_key
            }
            names = [*rows[0], *defaults]
            rows = [{**row, **defaults} for row in rows] if defaults else rows
            columns = ", ".join(connection.ops.quote_name(meta.get_field(n).column) for n in names)
            json_names = {n for n in names if meta.get_field(n).get_internal_type() == "JSONField"}
            with cursor.cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([json.dumps(row[n], default=str) if n in json_names else row[n] for n in names])
        return pks


def _history(snapshot: dict, *, pk: int, at: datetime, kind: str, user: User | None, reason: str) -> dict:
    return {
        **snapshot,
        "id": pk,
        "history_date": at,
        "history_type": kind,
        "history_user_id": user.pk if user else None,
        "history_change_reason": reason,
    }


@cache
def _historical(model: type[Model]) -> type[Model]:
    return model.history.model  # the descriptor builds a manager on every access


class _Batch:
    """One transaction's worth of changes and everything that hangs off them."""

    def __init__(self, world: _World, plans: list[_Plan]):
        self.world, self.plans = world, plans
        self.events: list[tuple[datetime, int, dict]] = []
        self.db = _Writer()

    def event(self, at: datetime, *, action: str, actor: User | None, plan: _Plan, pk: int, reason="", **state):
        self.events.append(
            (
                at,
                len(self.events),
                {
                    "occurred_at": at,
                    "actor_id": actor.pk if actor else None,
                    "actor_name": actor.display_name if actor else "system",
                    "actor_roles": self.world.role_labels.get(actor.pk, "") if actor else "",
                    "action": action,
                    "subject_type": "emergencies.changerecord",
                    "subject_id": str(pk),
                    "subject_label": plan.identifier,
                    "reason": reason,
                    "before": state.get("before") or {},
                    "after": state.get("after") or {},
                    "ip_address": "",
                },
            )
        )

    def write(self, report: SeedReport) -> None:
        _assign_identifiers(self.plans, model=Incident, field_name="ticket", prefix="INC")
        _assign_identifiers(self.plans, model=ChangeRecord, field_name="identifier", prefix="CHG-EMG")
        incident_ids = self._incidents()
        change_ids = self._changes(incident_ids)
        report.obligations += self._obligations(change_ids)
        report.notifications += self._notifications(change_ids)
        self._audit_trail()
        report.changes += len(change_ids)
        report.incidents += len(incident_ids)
        report.audit_events += len(self.events)
        report.history_rows += self.db.history_rows
        for plan in self.plans:
            report.by_state[plan.state] = report.by_state.get(plan.state, 0) + 1

    def _incidents(self) -> list[int]:
        rows = []
        for plan in self.plans:
            rows.append(
                {
                    "ticket": plan.ticket,
                    "title": PROBLEMS[plan.category][0].format(system=plan.system),
                    "category": plan.category,
                    "severity": plan.procedure.rules.severity_for(plan.category),
                    "cvss_score": plan.cvss,
                    "production_impact": plan.category == "p1_incident",
                    "security_involved": plan.category != "p1_incident",
                    "compliance_involved": plan.category == "data_breach",
                    "safety_related": False,
                    "commander_id": plan.commander.pk if plan.commander else None,
                    "reported_by_id": plan.author.pk,
                    "detected_at": plan.declared - timedelta(minutes=self.world.rng.randint(1, 20)),
                    "declared_at": plan.declared,
                    "resolved_at": next((s.at for s in plan.steps if s.name == "resolve"), None),
                    "affected_systems": plan.system,
                    "created_at": plan.declared,
                }
            )
        pks = self.db.insert(Incident, rows)
        history = []
        for pk, row, plan in zip(pks, rows, self.plans, strict=True):
            declared = {**row, "resolved_at": None}
            del declared["id"]
            history.append(
                _history(
                    declared,
                    pk=pk,
                    at=plan.declared,
                    kind="+",
                    user=plan.author,
                    reason="declared with an emergency stub",
                )
            )
            if row["resolved_at"]:
                history.append(
                    _history(
                        {**declared, "resolved_at": row["resolved_at"]},
                        pk=pk,
                        at=row["resolved_at"],
                        kind="~",
                        user=plan.commander or plan.author,
                        reason="resolved",
                    )
                )
        self.db.insert(_historical(Incident), history, ids=False)
        return pks

    def _changes(self, incident_ids: list[int]) -> list[int]:
        rows, timelines = [], []
        for plan, incident_id in zip(self.plans, incident_ids, strict=True):
            values = {
                "identifier": plan.identifier,
                "title": f"EMERGENCY: {PROBLEMS[plan.category][0].format(system=plan.system)}",
                "level": ChangeRecord.Level.EMERGENCY.value,
                "source": ChangeRecord.Source.EMERGENCY.value,
                "problem_statement": PROBLEMS[plan.category][1].format(system=plan.system),
                "status": Status.STUB.value,
                "declared_at": plan.declared,
                "hotfix_in_progress": False,
                "monitoring_active": False,
                "bypass_authorised_at": None,
                "deployed_at": None,
                "closed_at": None,
                "status_reason": "",
                "rollback_plan": f"Redeploy the previous release of {plan.system}.",
                "root_cause": "",
                "impact_assessment": "",
                "timeline": "",
                "affected_artifacts": "",
                "resolution": "",
                "lessons_learned": "",
                "created_at": plan.declared,
                "updated_at": plan.declared,
                "incident_id": incident_id,
                "procedure_version_id": plan.procedure.pk,
                "author_id": plan.author.pk,
                "bypass_authorised_by_id": None,
                "parent_id": None,
            }
            timeline = [(dict(values), plan.declared, "+", plan.author, "emergency stub filed")]
            previous = plan.declared
            for step in plan.steps:
                if step.name == "close":  # the full documentation is completed before closure
                    values.update(DOCUMENTATION, updated_at=previous + (step.at - previous) / 2)
                    timeline.append(
                        (dict(values), values["updated_at"], "~", plan.author, "full documentation completed")
                    )
                before, previous = values["status"], step.at
                values.update(_transition_fields(step))
                values["status_reason"], values["updated_at"] = step.reason, step.at
                timeline.append(
                    (dict(values), step.at, "~", step.actor, step.reason or f"{before} → {values['status']}")
                )
            assert values["status"] == plan.state, (plan.state, values["status"])
            rows.append(values)
            timelines.append(timeline)
        pks = self.db.insert(ChangeRecord, rows)
        self.db.insert(
            _historical(ChangeRecord),
            [
                _history(snapshot, pk=pk, at=at, kind=kind, user=user, reason=reason)
                for pk, timeline in zip(pks, timelines, strict=True)
                for snapshot, at, kind, user, reason in timeline
            ],
            ids=False,
        )
        for pk, plan in zip(pks, self.plans, strict=True):
            self.event(
                plan.declared,
                action="change.filed",
                actor=plan.author,
                plan=plan,
                pk=pk,
                reason=f"{CATEGORY_LABELS[plan.category].split(' — ')[0]} declared under {plan.procedure}",
                after={
                    "status": Status.STUB.value,
                    "incident": plan.ticket,
                    "category": plan.category,
                    "cvss_score": str(plan.cvss) if plan.cvss is not None else None,
                    "severity": plan.procedure.rules.severity_for(plan.category),
                },
            )
            status = Status.STUB.value
            for step in plan.steps:
                target = _transition_fields(step)["status"]
                self.event(
                    step.at,
                    action=f"change.{step.name}",
                    actor=step.actor,
                    plan=plan,
                    pk=pk,
                    reason=step.reason,
                    before={"status": status},
                    after={"status": target},
                )
                status = target
        return pks

    def _obligations(self, change_ids: list[int]) -> int:
        rows, meta = [], []
        for change_id, plan in zip(change_ids, self.plans, strict=True):
            opened = []
            for clock in plan.procedure.rules.clocks(plan.procedure.rules.severity_for(plan.category)):
                owner = plan.commander if clock.owner == "commander" and plan.commander else plan.author
                met = _when_met(plan, clock)
                row = {
                    "subject_type_id": self.world.change_ct.pk,
                    "subject_id": change_id,
                    "subject_label": plan.identifier,
                    "subject_url": self.world.change_url.format(plan.identifier),
                    "kind": clock.kind,
                    "key": "",
                    "label": clock.label,
                    "owner_id": owner.pk,
                    "owner_role": Role.COMMANDER.value if clock.owner == "commander" else "",
                    "started_at": plan.declared,
                    "due_at": clock.due(plan.declared),
                    "satisfied_at": met[0] if met else None,
                    "satisfied_by_id": met[1].pk if met else None,
                    "satisfaction_note": met[2] if met else "",
                    "escalation_level": 0,
                    "last_escalated_at": None,
                }
                rows.append(row)
                meta.append((plan, change_id, met))
                opened.append(row)
            self.event(
                plan.declared,
                action="obligation.opened",
                actor=plan.author,
                plan=plan,
                pk=change_id,
                reason="; ".join(f"{o['label']} due {o['due_at']:%Y-%m-%d %H:%M} UTC" for o in opened),
                after={"clocks": [{"kind": o["kind"], "key": "", "due_at": str(o["due_at"])} for o in opened]},
            )
        pks = self.db.insert(Obligation, rows)
        history = []
        for pk, row, (plan, change_id, met) in zip(pks, rows, meta, strict=True):
            snapshot = {k: v for k, v in row.items() if k != "id"}
            opened = {**snapshot, "satisfied_at": None, "satisfied_by_id": None, "satisfaction_note": ""}
            history.append(
                _history(opened, pk=pk, at=plan.declared, kind="+", user=plan.author, reason="clock started")
            )
            if met:
                at, actor, note = met
                history.append(_history(snapshot, pk=pk, at=at, kind="~", user=actor, reason=note))
                self.event(
                    at,
                    action="obligation.satisfied",
                    actor=actor,
                    plan=plan,
                    pk=change_id,
                    reason=f"{row['label']}: {note}",
                    after={"obligation": pk, "kind": row["kind"], "on_time": at <= row["due_at"]},
                )
        self.db.insert(_historical(Obligation), history, ids=False)
        return len(pks)

    def _notifications(self, change_ids: list[int]) -> int:
        rows = []
        for change_id, plan in zip(change_ids, self.plans, strict=True):
            recipient = plan.commander or self.world.pick(
                _authoriser_role(plan.procedure, plan.category), not_user=plan.author
            )
            sent = plan.declared + timedelta(seconds=self.world.rng.randint(2, 30))
            title = PROBLEMS[plan.category][0].format(system=plan.system)
            rows.append(
                {
                    "recipient_id": recipient.pk,
                    "dedupe_key": f"change-filed:{change_id}:{recipient.pk}",
                    "subject": f"[EMERGENCY] {plan.identifier} needs your authorisation: EMERGENCY: {title}"[:250],
                    "body": f"{plan.author.display_name} declared an emergency and filed {plan.identifier}.\n",
                    "html_body": "",
                    "link": self.world.change_url.format(plan.identifier),
                    "attachment_name": "",
                    "attachment_content": "",
                    "attachment_mimetype": "",
                    "created_at": plan.declared,
                    "sent_at": sent if sent < self.world.now else None,
                    "attempts": 1 if sent < self.world.now else 0,
                    "last_error": "",
                }
            )
        pks = self.db.insert(Notification, rows)
        history = []
        excluded = {"id", "html_body", "attachment_content"}  # not in the history (Notification.history)
        for pk, row in zip(pks, rows, strict=True):
            snapshot = {k: v for k, v in row.items() if k not in excluded}
            queued = {**snapshot, "sent_at": None, "attempts": 0}
            history.append(_history(queued, pk=pk, at=row["created_at"], kind="+", user=None, reason="queued"))
            if row["sent_at"]:
                history.append(_history(snapshot, pk=pk, at=row["sent_at"], kind="~", user=None, reason="delivered"))
        self.db.insert(_historical(Notification), history, ids=False)
        return len(pks)

    def _audit_trail(self) -> None:
        """Append this batch's events to the chain, in time order, under the chain head's lock."""
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:  # only after a flush; the migration creates it
            AuditChainHead.objects.get_or_create(pk=1)
            head = AuditChainHead.objects.select_for_update().get(pk=1)
        position, prev = head.position, head.hash
        rows = []
        for _, _, values in sorted(self.events, key=lambda e: (e[0], e[1])):
            position += 1
            row = {**values, "position": position, "prev_hash": prev}
            row["hash"] = prev = audit_event_digest(SimpleNamespace(**row))
            rows.append(row)
        self.db.insert(AuditEvent, rows)
        head.position, head.hash = position, prev
        head.save(update_fields=["position", "hash"])


def _transition_fields(step: _Step) -> dict:
    """What each transition of ChangeRecord sets (the model's transition methods, without their signals)."""
    at, actor = step.at, step.actor
    return {
        "authorize_bypass": {
            "status": Status.BYPASS_AUTHORISED.value,
            "bypass_authorised_by_id": actor.pk,
            "bypass_authorised_at": at,
        },
        "start_hotfix": {"status": Status.HOTFIX.value, "hotfix_in_progress": True},
        "deploy": {"status": Status.DEPLOYED.value, "deployed_at": at},
        "start_monitoring": {"status": Status.MONITORING.value, "monitoring_active": True},
        "resolve": {"status": Status.POST_INCIDENT.value, "hotfix_in_progress": False},
        "close": {"status": Status.CLOSED.value, "closed_at": at},
        "roll_back": {"status": Status.ROLLED_BACK.value, "monitoring_active": False},
        "convert_to_standard": {
            "status": Status.CONVERTED.value,
            "level": ChangeRecord.Level.STANDARD.value,
            "hotfix_in_progress": False,
        },
    }[step.name]


def _when_met(plan: _Plan, clock) -> tuple[datetime, User, str] | None:
    """When a clock was satisfied, by whom and with what note — or None while it runs."""
    for step in plan.steps:
        if step.name in clock.satisfied_on:
            return step.at, step.actor, f"met by “{step.name.replace('_', ' ')}”"
        if step.name == "convert_to_standard":
            return step.at, step.actor, VOID_NOTE
    if plan.state == Status.CLOSED:
        # Documentation, post-mortem and follow-ups are done before closure, by events other pages record.
        resolve, close = plan.steps[-2].at, plan.steps[-1].at
        at = resolve + (close - resolve) * 0.6
        owner = plan.commander if clock.owner == "commander" and plan.commander else plan.author
        event = clock.satisfied_on[0] if clock.satisfied_on else "closure"
        return at, owner, f"met by “{event.replace('_', ' ')}”"
    return None


def _declared_times(
    *, changes: int, start: datetime, span: timedelta, first: int, count: int, rng: random.Random
) -> list[datetime]:
    """Times for changes first..first+count, each in its own slice of the span, so batches run in order."""
    step = span / changes
    return [start + step * (i + rng.random()) for i in range(first, first + count)]


def seed_bulk(
    *,
    changes: int,
    days: int = 730,
    batch_size: int = 1000,
    seed: int = 8,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeedReport:
    """Write ``changes`` emergency changes, spread over the last ``days``, and all that hangs off them.

    Deterministic for a given ``seed`` and ``now``. The newest changes cover every state at least once.
    """
    started = time.monotonic()
    now = (now or timezone.now()).astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    rng = random.Random(seed)
    report = SeedReport()
    world = _World(rng=rng, now=now, report=report)
    start, span = now - timedelta(days=days), timedelta(days=days)
    forced = {changes - 1 - i: state for i, state in enumerate(STATES)}  # newest ones: every state once
    with _given_timestamps(Incident, ChangeRecord, Notification):
        for first in range(0, changes, batch_size):
            count = min(batch_size, changes - first)
            plans = []
            for offset, declared in enumerate(
                _declared_times(changes=changes, start=start, span=span, first=first, count=count, rng=rng)
            ):
                young = now - declared < timedelta(days=YOUNG_DAYS)
                state = forced.get(first + offset) or _weighted(rng, YOUNG_MIX if young else OLD_MIX)
                plans.append(_plan(world, declared=declared, state=state))
            with transaction.atomic():
                _Batch(world, plans).write(report)
            if progress:
                progress(first + count, changes)
    if connection.vendor == "postgresql":
        # What autovacuum gives a live database: planner statistics and, outside a transaction (not in a
        # test), the visibility map that lets counts use index-only scans.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
    report.seconds = time.monotonic() - started
    return report
