"""Standalone level 1-3 bypass requests of quality gates in the bulk seed, about half as many as changes:
pending, active, rejected or withdrawn, signed by the level's authorisers, with their review clocks and,
once active, the remediation of the skipped checks. Mirrors emergencies.services.bypasses and the
receivers in audits.receivers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from audits.management.bulk.bypasses import (
    EMPTY_DETAILS,
    SIGNABLE,
    Meaning,
    Status,
    activate,
    remediated,
    remediation_clocks,
    requested,
    sign_all,
    transition,
)
from audits.management.bulk.core import US, Sig, between, weighted
from emergencies.models import BypassRemediation, BypassRequest
from qms.clock import add_business_days, deadline
from qms.models import ProcedureVersion, User
from qms.procedures import CHECK_CATALOGUE, checks_allowed
from qms.roles import Role

if TYPE_CHECKING:
    import random

    from audits.management.bulk.batch import Batch
    from audits.management.bulk.world import World


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
        remediated(
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
        requested(batch, subject, row, at=plan.requested, actor=plan.requester)
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
        sign_all(batch, subject, plan.approvals, content, rules=rules)
        at = plan.decided_at
        if plan.outcome == "active":
            actor = plan.approvals[-1].signer
            signed_by = ", ".join(f"{user.display_name} ({role.label})" for user, role in plan.people)
            activate(batch, subject, row, at=at, actor=actor, signed_by=signed_by)
            for clock in review_clocks:
                batch.satisfy(clock, at=at, actor=actor, note="bypass decided", subject=subject)
            owner = row["remediation_assignee_id"] or row["implementer_id"] or row["requested_by_id"]
            clocks = remediation_clocks(
                batch, subject, row, rules, at=at, actor=actor, owner_id=owner, event_at=at + US
            )
            _remediate(batch, plan, subject, row, clocks)
        elif plan.outcome in ("rejected", "withdrawn"):
            if plan.refusal:
                batch.sign(subject, plan.refusal, content)
            actor = plan.refusal.signer if plan.refusal else plan.requester
            name = "reject" if plan.refusal else "withdraw"
            transition(
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
