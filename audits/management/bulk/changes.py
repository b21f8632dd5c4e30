"""Realistic data at scale, fast: what ``python manage.py seed_bulk --changes N`` writes.

Every emergency change gets its incident, a state reached by the transitions the lifecycle allows (with
plausible times, actors and reasons), the field-level history of each step, the procedure's clocks
(obligations, met or open as the state implies, re-anchored at resolution) with their history, the filing
notification (sent), and what hangs off it:

- its emergency bypass (``seeding_bypass``), pending while the change is a stub and active once the
  authorisers the procedure names have signed (some by a recorded verbal approval, confirmed later), with
  the remediation clock of each bypassed gate; the gates validated retroactively after the deploy (all of
  them before closure, when the bypass becomes remediated);
- standalone level 1-3 bypass requests of quality gates, about half as many as changes, pending, active,
  rejected or withdrawn, signed by the level's authorisers, with their review and remediation clocks;
- for CM-WF-EMERGENCY changes (``seeding_ccb``): Gate 1 recorded by signature, the emergency CCB session
  of Gate 2 (fast-track; its "use standard process" is how those changes left the emergency path) and, in
  post-incident, of Gate 4, with members, signed votes (some superseded), the signed decision and the
  session's clocks; the sessions of changes still on their way are open, with their votes so far;
- for changes in post-incident documentation or closed (``seeding_postincident``): the documentation, the
  post-mortem (draft, in review or approved by signature), its timeline and action items with their clocks;
- and a valid hash-chained audit trail of it all, appended to whatever chain is already there.

Rows are generated in memory a batch at a time and written with binary COPY (``bulk_create`` on SQLite),
history rows straight into the historical tables, so memory stays flat and 10^5 changes take minutes. On
PostgreSQL two threads, each with its own connection and one transaction per batch, write a batch's records
and its audit events while the next batch is built. Primary keys are drawn from the sequences ahead, so a
row can name another before either is written (the foreign keys are checked at commit).

The services are not called: they would take hours, and this is generated history, not live records being
edited. What the services and receivers would have written is mirrored here; keep the two in step when the
lifecycle changes (``tests/test_seed_bulk.py`` checks the result).

Not written: notifications other than the filing one, status updates (and their cadence clocks) and
regulatory notifications, patch packages, preventive measures and their follow-up changes, the deployment
checklist ticks. Overdue clocks are left un-escalated (escalation level 0), as after an import or a stopped
beat: the escalation sweep benchmark then measures a full backlog, the worst case.

This lives beside the benchmark rather than in an app because it writes across all of them (audits
included), which the apps' one-way dependencies (audits -> emergencies -> qms) do not allow.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone

from audits.models import Obligation
from audits.services import audit_rows_append
from bench import seeding_bypass, seeding_ccb, seeding_postincident
from bench.seeding_core import (
    PROBLEMS,
    US,
    GateCheck,
    Ids,
    Subject,
    given_timestamps,
    historical,
    history,
    unique_identifiers,
    weighted,
)
from emergencies.models import (
    ActionItem,
    BypassRequest,
    CCBSession,
    ChangeRecord,
    GateResult,
    Incident,
    PostMortem,
    Vote,
)
from qms.bulk import rows_insert
from qms.clock import deadline
from qms.models import Notification, ProcedureVersion, Signature, User
from qms.procedures import CATEGORY_LABELS, ClockSpec
from qms.roles import Role
from qms.services import content_hash
from qms.services.procedures import procedure_versions_in_force

if TYPE_CHECKING:
    from bench.seeding_ccb import CCBPlan
    from bench.seeding_core import Sig
    from bench.seeding_postincident import PostMortemPlan

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
    "affected_artifacts": "{system} release and its deployment configuration.",
    "resolution": "Fixed and verified in production.",
    "lessons_learned": "Add a canary stage for this service.",
}
VOID_NOTE = "Voided: the change left the emergency path."  # audits.receivers.VOIDING_TRANSITIONS
REANCHOR_NOTE = "due re-anchored at resolution"  # audits.services.obligations_reanchor
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


@dataclass(slots=True)
class Step:
    name: str
    at: datetime
    actor: User
    reason: str


@dataclass
class Plan:
    """One emergency change and everything that will hang off it, decided before anything is written."""

    declared: datetime
    state: str
    category: str
    cvss: Decimal | None
    procedure: ProcedureVersion
    author: User
    commander: User | None
    system: str
    steps: list[Step]
    detected: datetime | None = None
    identifier: str = ""
    ticket: str = ""
    incident_id: int = 0
    change_id: int = 0
    subject: Subject | None = None
    # The emergency bypass: its approvals in the order given, named in slot order once complete.
    signers: list[Sig] = field(default_factory=list)
    signed_by: str = ""
    bypass_identifier: str = ""
    bypass_pk: int = 0
    gates: list[GateCheck] = field(default_factory=list)
    doc_at: datetime | None = None
    post_mortem: PostMortemPlan | None = None
    ccb: CCBPlan | None = None
    # Documented steps other than transitions (change_record_milestone), with who reached them.
    milestones: dict[str, tuple[datetime, User]] = field(default_factory=dict)

    @property
    def flags(self) -> dict[str, bool]:
        return incident_flags(self.category)

    @property
    def severity(self) -> str:
        return self.procedure.rules.severity_for(self.category)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


def incident_flags(category: str) -> dict[str, bool]:
    """What emergencies.services.stub sets on the incident of a stub of this category."""
    return {
        "production_impact": category == "p1_incident",
        "security_involved": category != "p1_incident",
        "compliance_involved": category == "data_breach",
        "safety_related": False,
    }


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


def _plan(world: World, *, declared: datetime, state: str) -> Plan:
    rng = world.rng
    category = weighted(rng, CATEGORY_MIX)
    procedure = world.procedures[weighted(rng, PROCEDURE_MIX)]
    cvss = Decimal(rng.randint(90, 100)) / 10 if category == "critical_security" else None
    author = rng.choice(world.filers)
    commander = world.pick(Role.COMMANDER, not_user=author) if rng.random() < 0.8 else None
    path = PATHS[state]
    minutes = [rng.uniform(*STEP_MINUTES[name]) for name in path]
    room = (world.now - declared).total_seconds() / 60 - 1
    if path and sum(minutes) > room:  # a recent change: its steps happened faster
        minutes = [m * room / sum(minutes) for m in minutes]
    steps, at = [], declared
    for name, m in zip(path, minutes, strict=True):
        at += timedelta(minutes=m)
        actor = {
            "resolve": commander or author,
            "close": world.pick(Role.QMS),
            "convert_to_standard": commander or world.pick(Role.QMS),
        }.get(name, author)
        steps.append(Step(name, at, actor, STEP_REASONS.get(name, "")))
    plan = Plan(declared, state, category, cvss, procedure, author, commander, rng.choice(SYSTEMS), steps)
    plan.detected = declared - timedelta(minutes=rng.randint(1, 20))
    seeding_bypass.plan_authorisation(world, plan)  # who signs the emergency bypass; the last one authorises
    seeding_postincident.plan_post_incident(world, plan)
    seeding_bypass.plan_gate_validation(world, plan)
    seeding_ccb.plan_ccb(world, plan)
    return plan


def when_met(plan: Plan, clock: ClockSpec) -> tuple[datetime, User | None, str] | None:
    """When a clock of the change was satisfied, by whom and with what note — or None while it runs."""
    for step in plan.steps:
        if step.name in clock.satisfied_on:
            return step.at, step.actor, f"met by “{step.name.replace('_', ' ')}”"
        if step.name == "convert_to_standard":
            return step.at, step.actor, VOID_NOTE
    for event in clock.satisfied_on:
        if event in plan.milestones:
            at, actor = plan.milestones[event]
            return at + US, actor, f"met by “{event.replace('_', ' ')}”"
    if plan.state == Status.CLOSED:
        # External notification and the 30-day follow-up are done before closure, by records not seeded.
        resolve, close = plan.step("resolve").at, plan.step("close").at
        owner = plan.commander if clock.owner == "commander" and plan.commander else plan.author
        event = clock.satisfied_on[0] if clock.satisfied_on else "closure"
        return resolve + (close - resolve) * 0.6, owner, f"met by “{event.replace('_', ' ')}”"
    return None


@dataclass(slots=True)
class Clock:
    """An obligation being written: its row, and its history as it was opened, re-anchored and met."""

    row: dict
    opened_at: datetime
    opened_by: User | None
    reanchored: tuple[datetime, User | None, datetime] | None = None  # at, by, the due before
    met: bool = False
    met_by: User | None = None


class Batch:
    """One batch of changes and everything that hangs off them.

    ``build`` collects the rows per model and the audit events in memory; every row has its primary key
    from the start (``Ids``), so events, clocks and signatures name their records as they are made.
    ``flush_rows`` and ``flush_events`` write them, each in one transaction.
    """

    def __init__(self, world: World, plans: list[Plan], standalone: list):
        self.world, self.plans, self.standalone = world, plans, standalone
        self.ids = world.ids
        self.events: list[tuple[datetime, int, dict]] = []
        self.rows: dict[type[Model], list[dict]] = defaultdict(list)
        self.clocks: list[Clock] = []
        self.issued: set[str] = set()  # identifiers given to this batch's records

    def unique(self, model: type[Model], field_name: str, bases: list[str]) -> list[str]:
        return unique_identifiers(model, field_name, bases, in_flight=self.world.in_flight, issued=self.issued)

    # --- what the receivers write -----------------------------------------------------------------------

    def event(
        self,
        at: datetime,
        *,
        action: str,
        actor: User | None,
        subject: Subject,
        reason: str = "",
        before: dict | None = None,
        after: dict | None = None,
    ) -> dict:
        """An audit event (audits.services.audit_event_record), chained in time order when the batch is written."""
        values = {
            "occurred_at": at,
            "actor_id": actor.pk if actor else None,
            "actor_name": (self.world.names.get(actor.pk) or actor.display_name) if actor else "system",
            "actor_roles": self.world.role_labels.get(actor.pk, "") if actor else "",
            "action": action,
            "subject_type": subject.audit_type,
            "subject_id": str(subject.pk),
            "subject_label": subject.label,
            "reason": reason,
            "before": before or {},
            "after": after or {},
            "ip_address": "",
        }
        self.events.append((at, len(self.events), values))
        return values

    def open_clocks(self, subject: Subject, specs: list[dict], *, at: datetime, actor: User | None) -> list[Clock]:
        """Start clocks on a subject (audits.services.obligations_open): the rows and one audit event."""
        clocks = []
        for spec in specs:
            row = {
                "id": self.ids.next(Obligation),
                "subject_type_id": subject.ct_id,
                "subject_id": subject.pk,
                "subject_label": subject.label,
                "subject_url": subject.url,
                "kind": spec["kind"],
                "key": spec.get("key", ""),
                "label": spec["label"],
                "owner_id": spec["owner"].pk if spec.get("owner") else None,
                "owner_role": spec.get("owner_role", ""),
                "started_at": spec.get("started_at", at),
                "due_at": spec["due_at"],
                "satisfied_at": None,
                "satisfied_by_id": None,
                "satisfaction_note": "",
                "escalation_level": 0,
                "last_escalated_at": None,
            }
            clocks.append(Clock(row, at, actor))
        self.clocks += clocks
        self.event(
            at,
            action="obligation.opened",
            actor=actor,
            subject=subject,
            reason="; ".join(f"{c.row['label']} due {c.row['due_at']:%Y-%m-%d %H:%M} UTC" for c in clocks),
            after={
                "clocks": [{"kind": c.row["kind"], "key": c.row["key"], "due_at": str(c.row["due_at"])} for c in clocks]
            },
        )
        return clocks

    def satisfy(self, clock: Clock, *, at: datetime, actor: User | None, note: str, subject: Subject) -> None:
        """audits.services.obligations_satisfy for one open clock."""
        if clock.met:
            return
        row = clock.row
        row["satisfied_at"], row["satisfied_by_id"], row["satisfaction_note"] = at, actor.pk if actor else None, note
        clock.met, clock.met_by = True, actor
        self.event(
            at,
            action="obligation.satisfied",
            actor=actor,
            subject=subject,
            reason=f"{row['label']}: {note}",
            after={"obligation": row["id"], "kind": row["kind"], "on_time": at <= row["due_at"]},
        )

    def reanchor(self, clock: Clock, *, at: datetime, actor: User | None, due: datetime, subject: Subject) -> None:
        """audits.services.obligations_reanchor for one open clock (a later due restarts escalation: still 0)."""
        row = clock.row
        if row["due_at"] == due:
            return
        clock.reanchored = (at, actor, row["due_at"])
        self.event(
            at,
            action="obligation.reanchored",
            actor=actor,
            subject=subject,
            reason=f"{row['label']} now due {due:%Y-%m-%d %H:%M} UTC",
            before={"due_at": str(row["due_at"])},
            after={"due_at": str(due), "kind": row["kind"]},
        )
        row["due_at"] = due

    def sign(self, subject: Subject, sig: Sig, content: dict, *, confirms: int | None = None) -> int:
        """qms.services.signature_record: the immutable signature and its audit event."""
        pk = self.ids.next(Signature)
        approved_at = sig.approved_at or sig.at
        digest = content_hash(content)
        self.rows[Signature].append(
            {
                "id": pk,
                "subject_type_id": subject.ct_id,
                "subject_id": subject.pk,
                "subject_label": subject.label,
                "signer_id": sig.signer.pk,
                "signer_name": sig.signer.display_name,
                "role": sig.role.value,
                "meaning": sig.meaning,
                "method": sig.method,
                "recorded_by_id": sig.recorded_by.pk if sig.recorded_by else None,
                "approved_at": approved_at,
                "signed_at": sig.at,
                "comment": sig.comment.strip(),
                "content_hash": digest,
                "confirms_id": confirms,
            }
        )
        self.event(
            sig.at,
            action=f"signature.{sig.meaning}",
            actor=sig.recorded_by or sig.signer,
            subject=subject,
            reason=sig.comment.strip(),
            after={
                "signer": sig.signer.display_name,
                "role": sig.role.value,
                "meaning": sig.meaning,
                "method": sig.method,
                "content_hash": digest,
                "approved_at": str(approved_at),
                "signature": pk,
            },
        )
        return pk

    def history(self, model: type[Model], snapshot: dict, *, at: datetime, kind: str, user, reason) -> None:
        self.rows[historical(model)].append(
            history(snapshot, pk=snapshot["id"], at=at, kind=kind, user=user, reason=reason)
        )

    # --- writing --------------------------------------------------------------------------------------------

    def build(self, report: SeedReport) -> None:
        """Every row and event of the batch, in memory (the generating thread)."""
        self._identifiers()
        self._incidents()
        self._changes()
        self._change_clocks()
        self._notifications()
        seeding_bypass.write_emergency_bypasses(self)
        seeding_bypass.write_standalone_bypasses(self)
        seeding_postincident.write_post_incident(self)
        seeding_ccb.write_ccb(self)
        self._clock_rows()
        for plan in self.plans:
            report.by_state[plan.state] = report.by_state.get(plan.state, 0) + 1
        self.count(report)

    def count(self, report: SeedReport) -> None:
        counts = {model: len(rows) for model, rows in self.rows.items()}
        report.changes += len(self.plans)
        report.incidents += counts.get(Incident, 0)
        report.bypasses += counts.get(BypassRequest, 0)
        report.signatures += counts.get(Signature, 0)
        report.ccb_sessions += counts.get(CCBSession, 0)
        report.votes += counts.get(Vote, 0)
        report.post_mortems += counts.get(PostMortem, 0)
        report.action_items += counts.get(ActionItem, 0)
        report.gate_results += counts.get(GateResult, 0)
        report.obligations += counts.get(Obligation, 0)
        report.notifications += counts.get(Notification, 0)
        report.audit_events += len(self.events)
        report.history_rows += sum(n for model, n in counts.items() if model.__name__.startswith("Historical"))

    # Written beside the audit events, to share the work between the two writers: the clocks' history, the
    # largest table after the events; history rows name nothing but their user, so they may commit apart.
    BESIDE_EVENTS = (Obligation,)

    def flush_rows(self) -> None:
        """Write the batch's records and their history in one transaction, freeing each table's rows once written."""
        beside = {historical(model) for model in self.BESIDE_EVENTS}
        with transaction.atomic():
            for model in [m for m in self.rows if m not in beside]:
                rows_insert(model, self.rows.pop(model), ids=False)

    def flush_events(self) -> None:
        """Chain the batch's audit events onto the trail in one transaction (with the history that goes beside
        them). The events name only users outside the batch (their actors), so they may commit before or after
        the records they are about."""
        beside = [historical(model) for model in self.BESIDE_EVENTS]
        with transaction.atomic():
            for model in beside:
                rows_insert(model, self.rows.pop(model, []), ids=False)
            self._audit_trail()
        self.events.clear()

    def _identifiers(self) -> None:
        plans = self.plans
        tickets = self.unique(Incident, "ticket", [f"INC-{p.declared:%Y%m%d-%H%M}" for p in plans])
        ids = self.unique(ChangeRecord, "identifier", [f"CHG-EMG-{p.declared:%Y%m%d-%H%M}" for p in plans])
        for plan, ticket, identifier in zip(plans, tickets, ids, strict=True):
            plan.ticket, plan.identifier = ticket, identifier
            plan.incident_id = self.ids.next(Incident)
            plan.change_id = self.ids.next(ChangeRecord)
            plan.subject = self.world.subject(ChangeRecord, plan.change_id, identifier, identifier)
        seeding_bypass.assign_identifiers(self)
        seeding_ccb.assign_identifiers(self)

    def _incidents(self) -> None:
        for plan in self.plans:
            flags = plan.flags
            row = {
                "id": plan.incident_id,
                "ticket": plan.ticket,
                "title": PROBLEMS[plan.category][0].format(system=plan.system),
                "category": plan.category,
                "severity": plan.severity,
                "cvss_score": plan.cvss,
                "production_impact": flags["production_impact"],
                "security_involved": flags["security_involved"],
                "compliance_involved": flags["compliance_involved"],
                "safety_related": flags["safety_related"],
                "commander_id": plan.commander.pk if plan.commander else None,
                "reported_by_id": plan.author.pk,
                "detected_at": plan.detected,
                "declared_at": plan.declared,
                "resolved_at": None,
                "affected_systems": plan.system,
                "created_at": plan.declared,
            }
            self.history(
                Incident, row, at=plan.declared, kind="+", user=plan.author, reason="declared with an emergency stub"
            )
            resolve = plan.step("resolve")
            if resolve:
                row = {**row, "resolved_at": resolve.at}
                self.history(
                    Incident, row, at=resolve.at, kind="~", user=plan.commander or plan.author, reason="resolved"
                )
            self.rows[Incident].append(row)

    def _changes(self) -> None:
        for plan in self.plans:
            subject = plan.subject
            values = {
                "id": plan.change_id,
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
                "resolved_at": None,
                "documentation_completed_at": None,
                "closed_at": None,
                "status_reason": "",
                "rollback_plan": f"Redeploy the previous release of {plan.system}.",
                "root_cause": "",
                "impact_assessment": "",
                "timeline": "",
                "affected_artifacts": "",
                "resolution": "",
                "lessons_learned": "",
                "false_alarm": False,
                "false_alarm_reason": "",
                "created_at": plan.declared,
                "updated_at": plan.declared,
                "incident_id": plan.incident_id,
                "procedure_version_id": plan.procedure.pk,
                "author_id": plan.author.pk,
                "bypass_authorised_by_id": None,
                "parent_id": None,
            }
            self.history(
                ChangeRecord, values, at=plan.declared, kind="+", user=plan.author, reason="emergency stub filed"
            )
            self.event(
                plan.declared,
                action="change.filed",
                actor=plan.author,
                subject=subject,
                reason=f"{CATEGORY_LABELS[plan.category].split(' — ')[0]} declared under {plan.procedure}",
                after={
                    "status": Status.STUB.value,
                    "incident": plan.ticket,
                    "category": plan.category,
                    "cvss_score": str(plan.cvss) if plan.cvss is not None else None,
                    "severity": plan.severity,
                },
            )
            for step in plan.steps:
                before = values["status"]
                values.update(_transition_fields(step))
                status_reason, history_reason, event_reason = step.reason, step.reason, step.reason
                if step.name == "authorize_bypass":  # the last signature on the emergency bypass takes it
                    status_reason = history_reason = f"Authorised by {plan.signed_by}"
                    event_reason = f"Emergency bypass {plan.bypass_identifier} signed by {plan.signed_by}"
                if step.name == "convert_to_standard" and plan.ccb and plan.ccb.converts:
                    values["false_alarm"], values["false_alarm_reason"] = True, step.reason
                values["status_reason"], values["updated_at"] = status_reason, step.at
                self.history(
                    ChangeRecord,
                    values,
                    at=step.at,
                    kind="~",
                    user=step.actor,
                    reason=history_reason or f"{before} → {values['status']}",
                )
                self.event(
                    step.at,
                    action=f"change.{step.name}",
                    actor=step.actor,
                    subject=subject,
                    reason=event_reason,
                    before={"status": before},
                    after={"status": values["status"]},
                )
                if step.name == "resolve" and plan.doc_at:  # the full documentation, completed in post-incident
                    sections = {k: v.format(system=plan.system) for k, v in DOCUMENTATION.items()}
                    values.update(sections, documentation_completed_at=plan.doc_at, updated_at=plan.doc_at)
                    self.history(
                        ChangeRecord,
                        values,
                        at=plan.doc_at,
                        kind="~",
                        user=plan.author,
                        reason=f"documentation: {', '.join(sections)}",
                    )
                    self.milestone(plan, "documentation_complete", at=plan.doc_at, actor=plan.author)
            assert values["status"] == plan.state, (plan.state, values["status"])
            self.rows[ChangeRecord].append(dict(values))

    def milestone(self, plan: Plan, name: str, *, at: datetime, actor: User) -> None:
        """emergencies.signals.change_record_milestone: its audit event (the clocks it meets are in when_met)."""
        self.event(at, action=f"change.{name}", actor=actor, subject=plan.subject, reason=name.replace("_", " "))

    def _change_clocks(self) -> None:
        """The procedure's clocks (audits.receivers.on_change_filed), re-anchored at resolution, and what the
        hotfix deferred (on_change_transition, "deploy")."""
        for plan in self.plans:
            subject = plan.subject
            specs, clocks = plan.procedure.rules.clocks(plan.severity), []
            for spec in specs:
                owner = plan.commander if spec.owner == "commander" and plan.commander else plan.author
                clocks.append(
                    {
                        "kind": spec.kind,
                        "label": spec.label,
                        "owner": owner,
                        "owner_role": Role.COMMANDER.value if spec.owner == "commander" else "",
                        "due_at": spec.due(plan.declared),
                    }
                )
            opened = self.open_clocks(subject, clocks, at=plan.declared, actor=plan.author)
            resolve = plan.step("resolve")
            for spec, clock in zip(specs, opened, strict=True):
                met = when_met(plan, spec)
                if resolve and spec.anchor == "resolved" and (met is None or met[0] > resolve.at):
                    self.reanchor(clock, at=resolve.at, actor=resolve.actor, due=spec.due(resolve.at), subject=subject)
                if met:
                    self.satisfy(clock, at=met[0], actor=met[1], note=met[2], subject=subject)
            deploy = plan.step("deploy")
            if deploy:
                deferred = plan.procedure.rules.deferred_on_deploy
                opened = self.open_clocks(
                    subject,
                    [
                        {
                            "kind": d["kind"],
                            "label": d["label"],
                            "owner": plan.author,
                            "due_at": deadline(deploy.at, amount=d["amount"], unit=d["unit"]),
                        }
                        for d in deferred
                    ],
                    at=deploy.at,
                    actor=deploy.actor,
                )
                for spec, clock in zip(deferred, opened, strict=True):
                    check = next((g for g in plan.gates if g.gate == spec.get("gate")), None)
                    if check is not None:
                        note = f"gate {check.result} retroactively"
                        self.satisfy(clock, at=check.at + 2 * US, actor=check.validator, note=note, subject=subject)

    def _notifications(self) -> None:
        rng = self.world.rng
        for plan in self.plans:
            recipient = plan.commander or self.world.pick(_authoriser_role(plan), not_user=plan.author)
            sent = plan.declared + timedelta(seconds=rng.randint(2, 30))
            title = PROBLEMS[plan.category][0].format(system=plan.system)
            row = {
                "id": self.ids.next(Notification),
                "recipient_id": recipient.pk,
                "dedupe_key": f"change-filed:{plan.change_id}:{recipient.pk}",
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
            self.rows[Notification].append(row)
            # html_body and attachment_content are not in the history (Notification.history).
            snapshot = {k: v for k, v in row.items() if k not in ("html_body", "attachment_content")}
            queued = {**snapshot, "sent_at": None, "attempts": 0}
            self.history(Notification, queued, at=row["created_at"], kind="+", user=None, reason="queued")
            if row["sent_at"]:
                self.history(Notification, snapshot, at=row["sent_at"], kind="~", user=None, reason="delivered")

    def _clock_rows(self) -> None:
        """Each clock as it ends up, and its history: opened, re-anchored, met."""
        rows = self.rows[Obligation]
        for clock in self.clocks:
            row = clock.row
            rows.append(row)
            opened = {**row, "satisfied_at": None, "satisfied_by_id": None, "satisfaction_note": ""}
            if clock.reanchored:
                at, by, due_before = clock.reanchored
                self.history(
                    Obligation,
                    {**opened, "due_at": due_before},
                    at=clock.opened_at,
                    kind="+",
                    user=clock.opened_by,
                    reason="clock started",
                )
                self.history(Obligation, opened, at=at, kind="~", user=by, reason=REANCHOR_NOTE)
            else:
                self.history(
                    Obligation, opened, at=clock.opened_at, kind="+", user=clock.opened_by, reason="clock started"
                )
            if clock.met:
                self.history(
                    Obligation,
                    row,
                    at=row["satisfied_at"],
                    kind="~",
                    user=clock.met_by,
                    reason=row["satisfaction_note"],
                )

    def _audit_trail(self) -> None:
        """Append this batch's events to the chain, in time order, under the chain head's lock."""
        audit_rows_append([values for _, _, values in sorted(self.events, key=lambda e: (e[0], e[1]))])


def _authoriser_role(plan: Plan) -> Role:
    roles = [r for r in plan.procedure.rules.stub_authoriser_roles(plan.category, plan.flags) if r in SEED_ROLES]
    return roles[0] if roles else Role.COMMANDER


def _transition_fields(step: Step) -> dict:
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
        "resolve": {"status": Status.POST_INCIDENT.value, "hotfix_in_progress": False, "resolved_at": at},
        "close": {"status": Status.CLOSED.value, "closed_at": at},
        "roll_back": {"status": Status.ROLLED_BACK.value, "monitoring_active": False},
        "convert_to_standard": {
            "status": Status.CONVERTED.value,
            "level": ChangeRecord.Level.STANDARD.value,
            "hotfix_in_progress": False,
        },
    }[step.name]


def _close_connection() -> None:
    connection.close()


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
    batch_size: int = 500,
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
    world = World(rng=rng, now=now, report=report)
    start, span = now - timedelta(days=days), timedelta(days=days)
    forced = {changes - 1 - i: state for i, state in enumerate(STATES)}  # newest ones: every state once
    # On PostgreSQL, outside a transaction, two threads with their own connections write each batch (its
    # records on one, its audit events on the other) while the next is built: on two CPUs the database's work
    # overlaps Python's. In a transaction (a test) or on SQLite, one thread builds and writes in turn.
    threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
    writers = (
        [ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed-writer") for _ in range(2)] if threaded else None
    )
    writing: list = []
    try:
        with given_timestamps(Incident, ChangeRecord, Notification):
            for first in range(0, changes, batch_size):
                count = min(batch_size, changes - first)
                plans = []
                for offset, declared in enumerate(
                    _declared_times(changes=changes, start=start, span=span, first=first, count=count, rng=rng)
                ):
                    young = now - declared < timedelta(days=YOUNG_DAYS)
                    state = forced.get(first + offset) or weighted(rng, YOUNG_MIX if young else OLD_MIX)
                    plans.append(_plan(world, declared=declared, state=state))
                slice_start, slice_end = start + span * first / changes, start + span * (first + count) / changes
                standalone = seeding_bypass.plan_standalone(world, count=count, start=slice_start, end=slice_end)
                batch = Batch(world, plans, standalone)
                batch.build(report)
                if writers is None:
                    with transaction.atomic():
                        batch.flush_events()
                        batch.flush_rows()
                else:
                    for done in writing:
                        done.result()  # the batch before is committed; this one's identifiers are in flight
                    world.in_flight = batch.issued
                    writing = [writers[0].submit(batch.flush_rows), writers[1].submit(batch.flush_events)]
                if progress:
                    progress(first + count, changes)
            for done in writing:
                done.result()
    finally:
        for writer in writers or ():
            writer.submit(_close_connection).result()  # the writer thread's own connection
            writer.shutdown(wait=True)
    if connection.vendor == "postgresql":
        # What autovacuum gives a live database: planner statistics and, outside a transaction (not in a
        # test), the visibility map that lets counts use index-only scans.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)")
    report.seconds = time.monotonic() - started
    return report
