"""The plan of each emergency change, decided before anything is written: its category and procedure, the
transitions that lead to its state, with times, actors and reasons, and what the sub-domains plan to hang
off it (its bypass and gates, post-mortem, CCB)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from audits.management.bulk import ccb, emergency, postincident
from audits.management.bulk.core import GateCheck, Sig, Subject, weighted
from emergencies.models import ChangeRecord
from qms.models import ProcedureVersion, User
from qms.roles import Role

if TYPE_CHECKING:
    from audits.management.bulk.ccb import CCBPlan
    from audits.management.bulk.postincident import PostMortemPlan
    from audits.management.bulk.world import World

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
SYSTEMS = ("checkout-api", "auth-service", "search", "payments", "image-resizer", "export-bucket", "edge-proxy")


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


def plan_change(world: World, *, declared: datetime, state: str) -> Plan:
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
    emergency.plan_authorisation(world, plan)  # who signs the emergency bypass; the last one authorises
    postincident.plan_post_incident(world, plan)
    emergency.plan_gate_validation(world, plan)
    ccb.plan_ccb(world, plan)
    return plan
