"""Each change's emergency bypass in the bulk seed: who authorises it (the signatures, some by a recorded
verbal approval), its activation, which authorises the change, and the retroactive validation of the gates
it bypassed, which remediates it. Mirrors emergencies.services.bypasses, emergencies.services.postincident
(gate results) and the receivers in audits.receivers."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from audits.management.bulk.bypasses import (
    EMPTY_DETAILS,
    SIGNABLE,
    Method,
    Status,
    activate,
    remediated,
    remediation_clocks,
    requested,
    sign_all,
)
from audits.management.bulk.core import PROBLEMS, US, GateCheck, Sig, between
from audits.receivers.lifecycle import VOIDED_BYPASS_NOTE
from emergencies.models import BypassRequest, GateResult
from qms.procedures import CATEGORY_LABELS, CHECK_CATALOGUE
from qms.roles import Role

if TYPE_CHECKING:
    from audits.management.bulk.batch import Batch
    from audits.management.bulk.plans import Plan
    from audits.management.bulk.world import World

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
        requested(batch, subject, row, at=plan.declared, actor=plan.author)
        sign_all(batch, subject, plan.signers, {k: row[k] for k in SIGNABLE}, rules=rules)
        authorise = plan.step("authorize_bypass")
        if authorise is not None:
            at, actor = authorise.at, authorise.actor
            activate(batch, subject, row, at=at, actor=actor, signed_by=plan.signed_by)
            clocks = {
                c.row["key"]: c
                for c in remediation_clocks(
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
        remediated(
            batch,
            subject,
            row,
            at=at,
            actor=actor,
            reason="every bypassed gate validated retroactively",
            history="all gates validated retroactively",
        )
        batch.milestone(plan, "gates_validated", at=at + US, actor=actor)
