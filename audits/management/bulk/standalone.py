"""Bypass requests for the bulk seed (see ``bench/seeding.py``): each change's emergency bypass with the
signatures that authorise it and the retroactive validation of its gates, and standalone level 1-3 bypasses
of quality gates. Mirrors emergencies.services.bypasses, emergencies.services.postincident (gate results) and
the receivers in audits.receivers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING

from audits.receivers.lifecycle import VOIDED_BYPASS_NOTE
from bench.seeding_core import PROBLEMS, US, GateCheck, Sig, between, field_names, weighted
from emergencies.models import BypassRemediation, BypassRequest, GateResult
from qms.clock import add_business_days, deadline
from qms.models import ProcedureVersion, Signature, User
from qms.procedures import CATEGORY_LABELS, CHECK_CATALOGUE, checks_allowed
from qms.roles import Role

if TYPE_CHECKING:
    import random

    from bench.seeding import Batch, Plan, World

Status = BypassRequest.Status
Meaning, Method = Signature.Meaning, Signature.Method
SIGNABLE = field_names(BypassRequest, without=("id", "status", "decided_at", "rejection_reason"))
EMPTY_DETAILS = {
    "reason": "",
    "impact_assessment": "",
    "risk_evaluation": "",
    "complexity_score": None,
    "test_coverage_impact": None,
    "integration_risk": "",
    "rollback_feasibility": "",
    "business_factors": "",
    "business_justification": "",
    "stakeholder_notification_plan": "",
    "security_impact_analysis": "",
    "legal_compliance_assessment": "",
    "remediation_roadmap": "",
    "incident_response_plan": "",
    "communication_strategy": "",
    "remediation_plan": "",
    "remediation_due": None,
    "remediation_assignee_id": None,
    "tracking_issue": "",
    "success_criteria": "",
}
# A recorded verbal approval (by phone, on the incident bridge) instead of a signature; confirmed later.
VERBAL_SHARE = 0.1
VERBAL_COMMENT = "Approved by phone on the incident bridge; recorded by the on-call engineer."
AUTHORISE_COMMENTS = (
    "Severity confirmed; bypass authorised.",
    "Confirmed on the bridge: go ahead.",
    "Impact verified with monitoring; authorised.",
)
# Who validates the bypassed gates after the fact (emergencies.services.postincident.VALIDATOR_ROLES).
VALIDATORS = (Role.QMS, Role.QMS, Role.QUALITY, Role.ARCHITECT, Role.LEAD, Role.SECURITY, Role.CM, Role.ENGMANAGER)
WAIVABLE_GATES = ("standard_review_cycle", "staging_deployment", "documentation_coverage")
EVIDENCE = {
    "passed": "Retroactive run of {label}: passed (pipeline #{run}, report attached to the change).",
    "waived": "Waived by the QMS coordinator: {label} is covered by the post-incident review.",
}

# Standalone requests: about half as many as emergency changes, by level, from the decision tree.
STANDALONE_PER_CHANGE = 0.5
LEVEL_MIX = {"L1": 40, "L2": 45, "L3": 15}
STANDALONE_PROCEDURES = {"qms-emergency-bypass-v1": 60, "emergency-bypass-workflow": 40}
REQUESTERS = (Role.ONCALL, Role.ONCALL, Role.ONCALL, Role.LEAD, Role.ARCHITECT, Role.ENGMANAGER, Role.SECURITY)
# Minutes from the request to the last signature (or the refusal), by level: the level's review windows.
DECISION_MINUTES = {"L1": (10, 180), "L2": (30, 480), "L3": (60, 900)}
REPOSITORIES = (
    "payments-api",
    "checkout-web",
    "auth-service",
    "search-indexer",
    "mobile-app",
    "data-pipeline",
    "billing",
    "notifications",
    "edge-proxy",
    "admin-console",
    "image-resizer",
    "export-service",
    "ledger",
    "catalog",
    "inventory",
    "identity",
    "reporting",
    "webhooks",
    "api-gateway",
    "scheduler",
)
L1_CHECKS = ("code_quality_minor", "documentation_coverage", "performance_regression_warning")
L2_CHECKS = ("dor_dod", "code_quality_major", "security_high")
REJECTIONS = (
    "Fix the failing check instead; it is a small change.",
    "Not enough evidence that the risk is contained.",
    "The remediation plan does not say who fixes it by when.",
)
WITHDRAWALS = ("The check passes after a rebase.", "Fixed the finding in the same pull request.")


def plan_authorisation(world: World, plan: Plan) -> None:
    """Who signs the emergency bypass, how and when (emergencies.services.bypasses.bypass_sign and
    bypass_verbal_approval_record). The last required signature authorises the change, by its signer (or
    by whoever recorded it, for a verbal approval)."""
    rng = world.rng
    people = []
    # An emergency stub's bypass is signed by the stub's authorisers (bypass_slots with the category).
    for slot in plan.procedure.rules.bypass_slots("E", plan.flags, category=plan.category):
        role = slot[0]
        user = plan.commander if role is Role.COMMANDER and plan.commander else world.pick(role, not_user=plan.author)
        people.append((user, role))
    authorise = plan.step("authorize_bypass")
    order = rng.sample(people, len(people))
    if authorise is None:  # a stub: some authorisers have signed, not all
        order = order[: rng.randint(0, len(order) - 1)]
        end = min(world.now, plan.declared + timedelta(minutes=40))
        times = sorted(between(rng, plan.declared, end, 0.05, 1.0) for _ in order)
    else:
        times = sorted(between(rng, plan.declared, authorise.at, 0.2, 0.95) for _ in order[1:])
        times.append(authorise.at - 3 * US)  # the last signature, just before what it sets off
    for (user, role), at in zip(order, times, strict=True):
        sig = Sig(user, role, at, comment=rng.choice(AUTHORISE_COMMENTS))
        if rng.random() < VERBAL_SHARE:
            sig.method, sig.recorded_by, sig.comment = Method.VERBAL, plan.author, VERBAL_COMMENT
            sig.approved_at = max(plan.declared, at - timedelta(minutes=rng.uniform(1, 10)))
            late = rng.random()
            hours = rng.uniform(1, 20) if late < 0.85 else rng.uniform(25, 40) if late < 0.95 else None
            confirm = sig.approved_at + timedelta(hours=hours) if hours else None
            sig.confirm_at = confirm if confirm and confirm < world.now else None
        plan.signers.append(sig)
    if authorise is not None:
        last = plan.signers[-1]
        authorise.actor = last.recorded_by or last.signer
        plan.signed_by = ", ".join(f"{user.display_name} ({role.label})" for user, role in people)


def plan_gate_validation(world: World, plan: Plan) -> None:
    """The gates the emergency bypassed, validated after the deploy (emergencies.services.postincident.
    gate_result_record): all of them before closure, some while the change is still open."""
    rng, deploy = world.rng, plan.step("deploy")
    if deploy is None:
        return
    resolve, close = plan.step("resolve"), plan.step("close")
    checks = list(CHECK_CATALOGUE)
    if close:
        end, n = resolve.at + (close.at - resolve.at) * 0.7, len(checks)
    elif resolve:
        end = min(world.now, resolve.at + timedelta(days=rng.uniform(1, 10)))
        n = len(checks) if rng.random() < 0.45 else rng.randint(0, len(checks) - 1)
    else:
        end, n = world.now, rng.choice((0, 0, 1, 2, 3))
    validator = world.pick(rng.choice(VALIDATORS), not_user=plan.author)
    times = sorted(between(rng, deploy.at, end, 0.05, 1.0) for _ in range(n))
    for gate, at in zip(rng.sample(checks, n), times, strict=True):
        waived = validator.has_role(Role.QMS) and gate in WAIVABLE_GATES and rng.random() < 0.3
        result = (GateResult.Result.WAIVED if waived else GateResult.Result.PASSED).value
        evidence = EVIDENCE[result].format(label=CHECK_CATALOGUE[gate]["label"], run=rng.randint(10000, 99999))
        plan.gates.append(GateCheck(gate, result, at, validator, evidence))


# --- standalone requests ---------------------------------------------------------------------------------


@dataclass
class StandalonePlan:
    requested: datetime
    level: str
    procedure: ProcedureVersion
    requester: User
    implementer: User
    values: dict  # the request's fields: decision tree inputs, checks, the level's details, the remediation plan
    outcome: str
    people: list[tuple[User, Role]]  # one signer per slot, in slot order
    approvals: list[Sig] = field(default_factory=list)
    refusal: Sig | None = None  # a rejection, signed
    decided_at: datetime | None = None
    reason: str = ""  # why it was rejected or withdrawn
    identifier: str = ""
    pk: int = 0


def plan_standalone(world: World, *, count: int, start: datetime, end: datetime) -> list[StandalonePlan]:
    """About STANDALONE_PER_CHANGE requests per change, requested in the batch's slice of time."""
    rng = world.rng
    end = min(end, world.now - timedelta(minutes=1))
    n = int(count * STANDALONE_PER_CHANGE) + (rng.random() < (count * STANDALONE_PER_CHANGE) % 1)
    times = sorted(between(rng, start, end) for _ in range(n))
    return [_standalone(world, at) for at in times]


def _standalone(world: World, requested: datetime) -> StandalonePlan:
    rng = world.rng
    procedure = world.procedures[weighted(rng, STANDALONE_PROCEDURES)]
    rules = procedure.rules
    target = weighted(rng, LEVEL_MIX)
    security = compliance = quality_only = False
    if target == "L1":
        impact, quality_only = rng.choice(("low", "medium")), True
        checks = rng.sample(L1_CHECKS, rng.randint(1, 2))
    elif target == "L2":
        impact = rng.choice(("critical", "high", "low", "medium"))
        checks = [rng.choice(L2_CHECKS)] + (rng.sample(L1_CHECKS, 1) if rng.random() < 0.3 else [])
        security = impact in ("low", "medium") and "security_high" in checks
    else:
        impact = rng.choice(("critical", "high"))
        security = rng.random() < 0.75
        compliance = not security or rng.random() < 0.25
        checks = (["security_critical"] if security else []) + (["compliance_regulatory"] if compliance else [])
        checks += ["security_high"] if rng.random() < 0.3 else []
    level, branch = rules.decide_bypass_level(
        production_impact=impact, security_or_compliance=security or compliance, code_quality_only=quality_only
    )
    assert level == target and set(checks) <= set(checks_allowed(level)), (target, level, checks)
    requester = world.pick(rng.choice(REQUESTERS))
    implementer = requester if rng.random() < 0.7 else world.pick(Role.ONCALL, not_user=requester)
    repository = rng.choice(REPOSITORIES)
    values = {
        "level": level,
        "procedure_version_id": procedure.pk,
        "change_id": None,
        "incident_id": None,
        "requested_by_id": requester.pk,
        "implementer_id": implementer.pk,
        "requested_at": requested,
        "repository": repository,
        "pull_request": f"#{rng.randint(100, 9999)}",
        "checks": checks,
        "production_impact": impact,
        "security_involved": security,
        "compliance_involved": compliance,
        "code_quality_only": quality_only,
        "decision_branch": branch,
        **EMPTY_DETAILS,
        **_details(rng, level, repository, checks),
        **_remediation_plan(rng, rules, level, requested, implementer),
    }
    flags = {"security_involved": security, "compliance_involved": compliance}
    people, taken = [], [requester] + ([implementer] if level == "L1" else [])  # never the implementer alone
    for slot in rules.bypass_slots(level, flags):
        user = world.pick(slot[0], not_users=tuple(taken))
        people.append((user, slot[0]))
        taken.append(user)
    fresh = world.now - requested < timedelta(hours=6)
    mix = (
        {"pending": 50, "active": 35, "rejected": 8, "withdrawn": 7}
        if fresh
        else {"active": 82, "rejected": 10, "withdrawn": 6, "pending": 2}
    )
    plan = StandalonePlan(requested, level, procedure, requester, implementer, values, weighted(rng, mix), people)
    decided = requested + timedelta(minutes=rng.uniform(*DECISION_MINUTES[level]))
    if plan.outcome != "pending" and decided >= world.now:
        plan.outcome = "pending"
    order = rng.sample(people, len(people))
    if plan.outcome == "active":
        times = [*sorted(between(rng, requested, decided, 0.1, 0.95) for _ in order[1:]), decided - 3 * US]
    else:
        order = order[: rng.randint(0, len(order) - 1)]
        end = decided if plan.outcome != "pending" else min(world.now, decided)
        times = sorted(between(rng, requested, end, 0.1, 0.9) for _ in order)
    plan.approvals = [
        Sig(user, role, at, comment=_approval_comment(rng, level))
        for (user, role), at in zip(order, times, strict=True)
    ]
    if plan.outcome != "pending":
        plan.decided_at = decided
    if plan.outcome == "rejected":
        signed = {s.signer.pk for s in plan.approvals}
        user, role = next((u, r) for u, r in people if u.pk not in signed)
        plan.reason = rng.choice(REJECTIONS)
        plan.refusal = Sig(user, role, decided - 2 * US, meaning=Meaning.REJECTED, comment=plan.reason)
    elif plan.outcome == "withdrawn":
        plan.reason = rng.choice(WITHDRAWALS)
    return plan


def _approval_comment(rng: random.Random, level: str) -> str:
    return rng.choice(
        {
            "L1": ("Minor; fine to merge.", "Reviewed the diff; ok.", ""),
            "L2": ("Risk analysis reviewed; approved.", "Rollback is easy; approved.", "Reviewed"),
            "L3": ("Compensating controls in place.", "Approved with the remediation roadmap.", "Agreed"),
        }[level]
    )


def _details(rng: random.Random, level: str, repository: str, checks: list[str]) -> dict:
    labels = ", ".join(CHECK_CATALOGUE[c]["label"].lower() for c in checks)
    if level == "L1":
        return {
            "reason": f"{labels.capitalize()} fails on an unrelated module; the fix is urgent for customers.",
            "impact_assessment": "No user-facing impact; internal tooling only.",
            "risk_evaluation": rng.choice(("Low", "Low: the change is isolated behind a feature flag.")),
        }
    if level == "L2":
        return {
            "impact_assessment": f"{rng.randint(1, 20)}% of users see slower {repository} responses until merged.",
            "complexity_score": rng.randint(2, 7),
            "test_coverage_impact": rng.randint(0, 25),
            "integration_risk": "The API contract is unchanged; downstream consumers are unaffected.",
            "rollback_feasibility": rng.choice(("easy", "easy", "moderate", "hard")),
            "business_factors": rng.choice(("Peak sales weekend", "Contractual SLA at risk", "Regulatory deadline")),
            "business_justification": "Revenue and customer commitments at risk if the release slips.",
            "remediation_plan": f"Restore the {labels} check and backfill the missing tests.",
            "stakeholder_notification_plan": "Email product, support and the release channel.",
        }
    return {
        "security_impact_analysis": f"The finding ({labels}) is not reachable from the internet in this release.",
        "legal_compliance_assessment": "In SOC 2 scope; no personal data processed by the affected path.",
        "remediation_roadmap": "Upstream patch within 24 hours, then a full re-scan.",
        "incident_response_plan": "The SOC is on standby; alerts on the affected endpoint page security on-call.",
        "communication_strategy": "Status page if exploited; customer email within 24 hours.",
    }


def _remediation_plan(rng, rules, level: str, requested: datetime, implementer: User) -> dict:
    values: dict = {
        "tracking_issue": f"QMS-{rng.randint(1000, 99999)}",
        "success_criteria": "The skipped checks pass on the main branch.",
        "remediation_assignee_id": implementer.pk if rng.random() < 0.5 else None,
    }
    if level != "L2":
        values["remediation_plan"] = "Fix the findings and re-run the skipped checks."
    day = requested.astimezone(UTC).date()
    latest = rules.max_remediation_due(level, requested)
    if level == "L1":
        values["remediation_due"] = min(add_business_days(requested, rng.randint(1, 5)).date(), latest.date())
    elif rng.random() < (0.6 if level == "L2" else 0.5):
        values["remediation_due"] = day + timedelta(days=rng.randint(1, 3 if level == "L2" else 1))
    return values


# --- writing -------------------------------------------------------------------------------------------------


def assign_identifiers(batch: Batch) -> None:
    """BYPASS-{level}-YYYYMMDD-HHMMSS, with -02, -03… for the same second (one query per level)."""
    by_level: dict[str, list] = defaultdict(list)
    for plan in batch.plans:
        by_level["E"].append((plan, plan.declared))
    for plan in batch.standalone:
        by_level[plan.level].append((plan, plan.requested))
    for level, items in by_level.items():
        bases = [f"BYPASS-{level}-{at.astimezone(UTC):%Y%m%d-%H%M%S}" for _, at in items]
        for (plan, _), identifier in zip(items, batch.unique(BypassRequest, "identifier", bases), strict=True):
            pk = batch.ids.next(BypassRequest)
            if level == "E":
                plan.bypass_identifier, plan.bypass_pk = identifier, pk
            else:
                plan.identifier, plan.pk = identifier, pk


def _remediation_due(rules, level: str, at: datetime, planned: date | None) -> datetime:
    """emergencies.services.bypasses.remediation_due_date."""
    due = rules.remediation_due(level, at)
    if planned is not None:
        return min(datetime.combine(planned, dtime.max.replace(microsecond=0), tzinfo=UTC), due)
    return due


def _remediation_clocks(
    batch: Batch, subject, row: dict, rules, *, at: datetime, actor: User, owner_id: int, event_at: datetime
):
    """audits.receivers.on_bypass_activated: one remediation clock per bypassed gate, started at activation."""
    due = _remediation_due(rules, row["level"], at, row["remediation_due"])
    owner = batch.world.user(owner_id)
    specs = [
        {
            "kind": "remediation",
            "key": check,
            "label": f"Remediate: {CHECK_CATALOGUE[check]['label']}",
            "owner": owner,
            "due_at": due,
            "started_at": at,
        }
        for check in row["checks"]
    ]
    return batch.open_clocks(subject, specs, at=event_at, actor=actor)


def _requested(batch: Batch, subject, row: dict, *, at: datetime, actor: User) -> None:
    """bypass_requested (audits.receivers.on_bypass_requested): the history row and the audit event."""
    pending = {**row, "status": Status.PENDING.value, "decided_at": None, "rejection_reason": ""}
    level = BypassRequest.Level(row["level"]).label
    batch.history(BypassRequest, pending, at=at, kind="+", user=actor, reason=f"{level} bypass requested")
    batch.event(
        at + US,
        action="bypass.requested",
        actor=actor,
        subject=subject,
        reason=row["decision_branch"],
        after={
            "level": row["level"],
            "checks": row["checks"],
            "repository": row["repository"],
            "pull_request": row["pull_request"],
            "change": row["change_id"],
        },
    )


def _transition(batch: Batch, subject, name: str, *, at: datetime, actor: User, reason: str, source, target):
    """audits.receivers.on_bypass_transition: the audit event of a transition."""
    batch.event(
        at,
        action=f"bypass.{name}",
        actor=actor,
        subject=subject,
        reason=reason,
        before={"status": source},
        after={"status": target},
    )


def _sign_all(batch: Batch, subject, sigs: list[Sig], content: dict, *, rules) -> None:
    """Each approval; a recorded verbal one also owes its confirmation (on_verbal_approval, on_verbal_confirmed)."""
    for sig in sigs:
        pk = batch.sign(subject, sig, content)
        if sig.method == Method.E_SIGNATURE:
            continue
        method = Method(sig.method).label.lower()
        (clock,) = batch.open_clocks(
            subject,
            [
                {
                    "kind": "verbal_confirmation",
                    "key": str(pk),
                    "owner": sig.signer,
                    "due_at": sig.approved_at + timedelta(hours=rules.verbal_confirmation_hours),
                    "label": f"Confirm {method} ({sig.role.label})",
                }
            ],
            at=sig.at + US,
            actor=sig.recorded_by,
        )
        if sig.confirm_at:
            comment = (
                f"Confirms the {method} of {sig.approved_at:%Y-%m-%d %H:%M} UTC recorded by "
                f"{sig.recorded_by.display_name}."
            )
            confirmation = Sig(sig.signer, sig.role, sig.confirm_at, meaning=Meaning.CONFIRMED, comment=comment)
            batch.sign(subject, confirmation, content, confirms=pk)
            batch.satisfy(
                clock, at=sig.confirm_at + US, actor=sig.signer, note="confirmed by signature", subject=subject
            )


def write_emergency_bypasses(batch: Batch) -> None:
    """emergencies.services.bypasses.bypass_emergency_open at filing, its signatures, its activation (which
    authorises the change), and the gate results that remediate it."""
    world = batch.world
    for plan in batch.plans:
        rules = plan.procedure.rules
        flags = plan.flags
        label = CATEGORY_LABELS[plan.category].split(" — ")[0]
        row = {
            "id": plan.bypass_pk,
            "identifier": plan.bypass_identifier,
            "level": BypassRequest.Level.EMERGENCY.value,
            "status": Status.PENDING.value,
            "procedure_version_id": plan.procedure.pk,
            "change_id": plan.change_id,
            "incident_id": plan.incident_id,
            "requested_by_id": plan.author.pk,
            "implementer_id": plan.author.pk,
            "requested_at": plan.declared,
            "repository": "",
            "pull_request": "",
            "checks": list(CHECK_CATALOGUE),
            "production_impact": BypassRequest.Impact.CRITICAL.value,
            "security_involved": flags["security_involved"],
            "compliance_involved": flags["compliance_involved"],
            "code_quality_only": False,
            "decision_branch": f"{label} declared → emergency stub → all gates bypassed",
            **EMPTY_DETAILS,
            "reason": PROBLEMS[plan.category][1].format(system=plan.system),
            "decided_at": None,
            "rejection_reason": "",
        }
        subject = world.subject(BypassRequest, plan.bypass_pk, plan.bypass_identifier, plan.bypass_identifier)
        _requested(batch, subject, row, at=plan.declared, actor=plan.author)
        _sign_all(batch, subject, plan.signers, {k: row[k] for k in SIGNABLE}, rules=rules)
        authorise = plan.step("authorize_bypass")
        if authorise is not None:
            at, actor = authorise.at, authorise.actor
            _activate(batch, subject, row, at=at, actor=actor, signed_by=plan.signed_by)
            clocks = {
                c.row["key"]: c
                for c in _remediation_clocks(
                    batch, subject, row, rules, at=at, actor=actor, owner_id=plan.author.pk, event_at=at - US
                )
            }
            _validate_gates(batch, plan, subject, row, clocks)
            converted = plan.step("convert_to_standard")
            if converted is not None:  # audits.receivers.on_change_transition voids the bypass's clocks too
                for clock in clocks.values():
                    batch.satisfy(
                        clock, at=converted.at, actor=converted.actor, note=VOIDED_BYPASS_NOTE, subject=subject
                    )
        batch.rows[BypassRequest].append(row)


def _activate(batch: Batch, subject, row: dict, *, at: datetime, actor: User, signed_by: str) -> None:
    """The last signature's effect (emergencies.services.bypasses): the request turns active."""
    _transition(
        batch,
        subject,
        "activate",
        at=at - 2 * US,
        actor=actor,
        reason=f"signed by {signed_by}",
        source=Status.PENDING.value,
        target=Status.ACTIVE.value,
    )
    row.update(status=Status.ACTIVE.value, decided_at=at)
    batch.history(BypassRequest, row, at=at, kind="~", user=actor, reason=f"active: signed by {signed_by}")


def _remediated(batch: Batch, subject, row: dict, *, at: datetime, actor: User, reason: str, history: str) -> None:
    """BypassRequest.mark_remediated as the services call it: the audit event and the history row."""
    _transition(
        batch,
        subject,
        "mark_remediated",
        at=at,
        actor=actor,
        reason=reason,
        source=Status.ACTIVE.value,
        target=Status.REMEDIATED.value,
    )
    row["status"] = Status.REMEDIATED.value
    batch.history(BypassRequest, row, at=at, kind="~", user=actor, reason=history)


def _validate_gates(batch: Batch, plan: Plan, subject, row: dict, clocks: dict) -> None:
    for check in plan.gates:
        batch.rows[GateResult].append(
            {
                "id": batch.ids.next(GateResult),
                "change_id": plan.change_id,
                "gate": check.gate,
                "result": check.result,
                "evidence": check.evidence,
                "validated_by_id": check.validator.pk,
                "validated_at": check.at,
                "retroactive": True,
            }
        )
        batch.event(
            check.at,
            action=f"gate.{check.result}",
            actor=check.validator,
            subject=plan.subject,
            reason=check.evidence,
            after={"gate": check.gate, "result": check.result, "retroactive": True},
        )
        note = f"gate {check.result} retroactively"
        batch.satisfy(clocks[check.gate], at=check.at + US, actor=check.validator, note=note, subject=subject)
    if len({c.gate for c in plan.gates}) == len(row["checks"]):
        last = plan.gates[-1]
        at, actor = last.at + 3 * US, last.validator
        _remediated(
            batch,
            subject,
            row,
            at=at,
            actor=actor,
            reason="every bypassed gate validated retroactively",
            history="all gates validated retroactively",
        )
        batch.milestone(plan, "gates_validated", at=at + US, actor=actor)


def _remediate(batch: Batch, plan, subject, row: dict, clocks: list) -> None:
    """emergencies.services.bypasses.bypass_remediation_record and audits.receivers.on_bypass_remediation: most
    skipped checks of a bypass shown to pass again, around their due time (some late, some never), each by a
    lead who did not request it; the last one remediates the bypass."""
    world, done = batch.world, []
    for clock in clocks:
        decided, due = row["decided_at"], clock.row["due_at"]
        at = decided + (due - decided) * world.rng.uniform(0.2, 1.5)
        if at >= world.now or world.rng.random() < 0.1:
            continue
        validator, gate = world.pick(Role.LEAD, not_user=plan.requester), clock.row["key"]
        label, evidence = CHECK_CATALOGUE[gate]["label"], f"CI run #{world.rng.randint(1000, 99999)}: {gate} passes"
        batch.rows[BypassRemediation].append(
            {
                "id": batch.ids.next(BypassRemediation),
                "bypass_id": row["id"],
                "gate": gate,
                "evidence": evidence,
                "validated_by_id": validator.pk,
                "validated_at": at,
            }
        )
        batch.event(
            at,
            action="bypass.check_remediated",
            actor=validator,
            subject=subject,
            reason=f"{label} passes again: {evidence}",
            after={"gate": gate, "evidence": evidence},
        )
        batch.satisfy(clock, at=at, actor=validator, note=f"{label} shown to pass again", subject=subject)
        done.append((at, validator))
    if done and len(done) == len(clocks):
        at, actor = max(done, key=lambda d: d[0])
        _remediated(
            batch,
            subject,
            row,
            at=at + 3 * US,
            actor=actor,
            reason="every skipped check shown to pass again",
            history="remediated: every skipped check passes again",
        )


def write_standalone_bypasses(batch: Batch) -> None:
    """emergencies.services.bypasses.bypass_request_create, bypass_sign, bypass_reject and bypass_withdraw,
    with the review clocks of the level (met at the decision) and, once active, the remediation clocks."""
    world = batch.world
    for plan in batch.standalone:
        rules = plan.procedure.rules
        row = {"id": plan.pk, "identifier": plan.identifier, "status": Status.PENDING.value, **plan.values}
        row.update(decided_at=None, rejection_reason="")
        subject = world.subject(BypassRequest, plan.pk, plan.identifier, plan.identifier)
        _requested(batch, subject, row, at=plan.requested, actor=plan.requester)
        flags = {"security_involved": row["security_involved"], "compliance_involved": row["compliance_involved"]}
        reviews = rules.bypass_reviews(plan.level, flags)
        review_clocks = (
            batch.open_clocks(
                subject,
                [
                    {
                        "kind": f"review:{r['kind']}",
                        "label": r["label"],
                        "owner_role": r["role"],
                        "due_at": deadline(plan.requested, amount=r["amount"], unit=r["unit"]),
                    }
                    for r in reviews
                ],
                at=plan.requested + 2 * US,
                actor=plan.requester,
            )
            if reviews
            else []
        )
        content = {k: row[k] for k in SIGNABLE}
        _sign_all(batch, subject, plan.approvals, content, rules=rules)
        at = plan.decided_at
        if plan.outcome == "active":
            actor = plan.approvals[-1].signer
            signed_by = ", ".join(f"{user.display_name} ({role.label})" for user, role in plan.people)
            _activate(batch, subject, row, at=at, actor=actor, signed_by=signed_by)
            for clock in review_clocks:
                batch.satisfy(clock, at=at, actor=actor, note="bypass decided", subject=subject)
            owner = row["remediation_assignee_id"] or row["implementer_id"] or row["requested_by_id"]
            clocks = _remediation_clocks(
                batch, subject, row, rules, at=at, actor=actor, owner_id=owner, event_at=at + US
            )
            _remediate(batch, plan, subject, row, clocks)
        elif plan.outcome in ("rejected", "withdrawn"):
            if plan.refusal:
                batch.sign(subject, plan.refusal, content)
            actor = plan.refusal.signer if plan.refusal else plan.requester
            name = "reject" if plan.refusal else "withdraw"
            _transition(
                batch,
                subject,
                name,
                at=at - US,
                actor=actor,
                reason=plan.reason,
                source=Status.PENDING.value,
                target=plan.outcome,
            )
            row.update(status=plan.outcome, decided_at=at, rejection_reason=plan.reason if plan.refusal else "")
            batch.history(BypassRequest, row, at=at, kind="~", user=actor, reason=f"{plan.outcome}: {plan.reason}")
            for clock in review_clocks:
                batch.satisfy(clock, at=at, actor=actor, note=f"request {plan.outcome}", subject=subject)
        batch.rows[BypassRequest].append(row)
