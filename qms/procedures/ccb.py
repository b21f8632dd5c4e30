"""The change control board of a procedure, as data: gates, representation, decision rule, waivers and the
communication cadence (CM-WF-EMERGENCY §4, §7, §12, §14, §15).

A procedure definition carries these under ``"ccb"`` and ``"communication"``; :class:`CCBRules` (mixed into
:class:`qms.procedures.ProcedureRules`) answers the typed questions the services ask. A definition that
says ``"ccb_required": true`` without a ``"ccb"`` block (CM-WF-EMERGENCY v1 loaded before these rules
existed) reads the preset's rules below, so an existing installation keeps working without a new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from qms.clock import deadline
from qms.roles import Role

APPROVE, STANDARD, MORE_INFO = "approve", "standard", "more_info"

# §4: the severity classification Gate 1 is recorded against.
_SEVERITY_CRITERIA = {
    "CRITICAL": [
        "Immediate threat to life or spacecraft",
        "Security vulnerability actively exploited",
        "Total loss of critical function",
        "Regulatory emergency order",
    ],
    "HIGH": [
        "Potential safety issue (hazard identified but not yet manifested)",
        "Security vulnerability disclosed but not yet exploited",
        "Major operational impact (degraded but not lost capability)",
        "Airworthiness Directive with short compliance time",
    ],
    "MEDIUM": [
        "Degraded safety margin",
        "Security risk but no immediate threat",
        "Significant operational limitation",
        "Standard AD compliance",
    ],
}

# Change statuses (emergencies.ChangeRecord) in which a gate's session may be convened.
_BEFORE_DEPLOYMENT = ["stub", "bypass_authorised", "hotfix_in_progress", "rolled_back"]

CM_WF_CCB: dict = {
    "summary": "Emergency CCB (CM-WF-EMERGENCY §7, §14, §15).",
    "chair_role": "cm",
    "convener_roles": ["cm"],
    # §7.1 minimum representation. "if" names an incident flag; "severities" the severities it applies to.
    "representation": [
        {"role": "cm", "reason": "chair"},
        {"role": "safety", "if": "safety_related", "reason": "safety-related"},
        {"role": "security", "if": "security_involved", "reason": "security-related"},
        {"role": "engmanager", "reason": "always"},
        {"role": "quality", "reason": "always"},
        {"role": "program", "severities": ["CRITICAL"], "reason": "critical severity"},
    ],
    # Who else may sit on a session (in addition to the required roles).
    "member_roles": ["commander", "release", "certlead", "lead", "architect", "qms", "security", "safety", "program"],
    # §7.2 authority: the chair, or the program manager for critical severity.
    "decider": {"default": "chair", "by_severity": {"CRITICAL": "program"}},
    "vote_choices": [
        {"code": APPROVE, "label": "Approve emergency process"},
        {"code": STANDARD, "label": "Use standard process"},
        {"code": MORE_INFO, "label": "More information needed"},
    ],
    "decision_rule": {
        "quorum": "required_roles_voted",
        "majority": "more_than_half",
        "otherwise": MORE_INFO,
        "summary": (
            "Every required role must be represented by a member who has voted. Each member's latest signed "
            "vote counts once. An outcome chosen by more than half of the current votes carries; otherwise "
            "(a split or a tie) the outcome is “more information needed”. The decider records the outcome the "
            "votes give, with a reason."
        ),
    },
    # §7.2: the CCB decides within an hour of convening.
    "decision_window": {"amount": 1, "unit": "hours"},
    # §14 decision gates. Gate 1 is recorded by one authorised person; the others by an emergency CCB session.
    "gates": [
        {
            "code": "declare",
            "number": 1,
            "label": "Gate 1: Declare emergency",
            "question": "Is the emergency process warranted?",
            "criteria": "Meets the severity classification (§4).",
            "session": False,
            "roles": ["safety", "security", "cm"],
        },
        {
            "code": "fast_track",
            "requires": ["declare"],
            "number": 2,
            "label": "Gate 2: Approve fast-track",
            "question": "Approve the expedited process?",
            "criteria": "The risk/benefit assessment supports immediate action.",
            "session": True,
            "outcomes": [APPROVE, STANDARD, MORE_INFO],
            "grants_waivers": True,
            "statuses": _BEFORE_DEPLOYMENT,
        },
        {
            "code": "deployment",
            "requires": ["fast_track"],
            "number": 3,
            "label": "Gate 3: Approve deployment",
            "question": "Deploy the patch?",
            "criteria": "Verification complete, risk acceptable, rollback ready.",
            "session": True,
            "outcomes": [APPROVE, STANDARD, MORE_INFO],
            "preconditions": ["verification_complete", "risk_assessment_documented", "rollback_ready"],
            "statuses": _BEFORE_DEPLOYMENT,
            "labels": {APPROVE: "Approve deployment"},
        },
        {
            "code": "close",
            "requires": ["deployment"],
            "number": 4,
            "label": "Gate 4: Close emergency",
            "question": "Return to the normal process?",
            "criteria": "Follow-up documentation complete, issue resolved, lessons learned captured.",
            "session": True,
            "outcomes": [APPROVE, MORE_INFO],
            "preconditions": ["follow_up_documentation_complete", "issue_resolved", "lessons_learned_captured"],
            "statuses": ["deployed", "monitoring", "post_incident"],
            "labels": {APPROVE: "Close the emergency"},
        },
        {
            "code": "ratification",
            "number": None,
            "label": "Ratification after the fact",
            "question": "Was the emergency process warranted?",
            "criteria": "Formal CCB approval, retroactive (§11.2).",
            "session": True,
            "outcomes": [APPROVE, STANDARD, MORE_INFO],
            "grants_waivers": True,
            "retroactive": True,
            "statuses": [*_BEFORE_DEPLOYMENT, "deployed", "monitoring", "post_incident", "closed"],
            "labels": {APPROVE: "Ratify: the emergency was warranted", STANDARD: "Unwarranted: a false alarm"},
        },
    ],
    "preconditions": {
        "verification_complete": "Verification complete (§9.1 focused testing done)",
        "risk_assessment_documented": "Risk assessment documented (§9.3)",
        "rollback_ready": "Rollback ready (§9.2 rollback procedure)",
        "follow_up_documentation_complete": "30-day follow-up documentation complete (§11.2)",
        "issue_resolved": "Issue resolved",
        "lessons_learned_captured": "Lessons learned captured (§11.5)",
    },
    # §15 process waivers.
    "waivable": [
        {"code": "extended_verification", "label": "Extended verification testing (reduced to focused testing)"},
        {
            "code": "full_compliance_documentation",
            "label": "Full compliance documentation (interim approval with 30-day follow-up)",
        },
        {"code": "standard_ccb_cycle", "label": "Standard CCB review cycle (fast-track approval)"},
        {"code": "distribution_controls", "label": "Distribution controls (targeted immediate deployment)"},
    ],
    "not_waivable": [
        {"code": "code_review", "label": "Code review"},
        {"code": "rollback_testing", "label": "Rollback testing"},
        {"code": "hash_verification", "label": "Hash verification"},
        {"code": "minimum_testing", "label": "Minimum required testing"},
        {"code": "safety_assessment", "label": "Safety assessment"},
        {"code": "regulatory_notification", "label": "Regulatory notification (for safety issues)"},
    ],
    "severity_criteria": _SEVERITY_CRITERIA,
}

CM_WF_COMMUNICATION: dict = {
    # §12.1: internal status updates during phases 1-5, then daily.
    "update_cadence": {
        "CRITICAL": {"amount": 1, "unit": "hours", "label": "hourly"},
        "HIGH": {"amount": 4, "unit": "hours", "label": "every 4 hours"},
        "MEDIUM": {"amount": 1, "unit": "days", "label": "daily"},
    },
    "after_phases": {"amount": 1, "unit": "days", "label": "daily"},
    # Change statuses that are phases 1-5 (identification to distribution); the cadence relaxes after them
    # and stops once the change is closed or leaves the emergency path.
    "phase_statuses": ["stub", "bypass_authorised", "hotfix_in_progress", "deployed", "rolled_back"],
    "stop_statuses": ["closed", "converted_standard"],
    "update_roles": [
        "oncall",
        "commander",
        "lead",
        "architect",
        "security",
        "safety",
        "cm",
        "engmanager",
        "quality",
        "program",
        "release",
        "certlead",
        "qms",
    ],
    # §12.2: the first external notification is due by the "external_notification" clock; the clock is met
    # by this event (a regulatory notification, or a status update sent to customers/operators).
    "external_event": "external_notification_sent",
    # §7.3: regulatory notification for safety-related issues, by the certification lead.
    "regulatory": {
        "required_if": "safety_related",
        "recorder_roles": ["certlead", "safety", "cm", "program"],
        "authorities": [
            {"code": "EASA", "label": "EASA"},
            {"code": "FAA", "label": "FAA"},
            {"code": "ESA", "label": "ESA"},
            {"code": "other", "label": "Other authority"},
        ],
    },
}


@dataclass(frozen=True)
class GateSpec:
    code: str
    number: int | None
    label: str
    question: str
    criteria: str
    session: bool
    roles: tuple[Role, ...] = ()
    outcomes: tuple[str, ...] = ()
    preconditions: tuple[str, ...] = ()
    grants_waivers: bool = False
    retroactive: bool = False
    statuses: tuple[str, ...] = ()
    labels: dict = field(default_factory=dict)
    # Gates that must have passed before this one can be convened (gates in order, §14).
    requires: tuple[str, ...] = ()

    @property
    def short_label(self) -> str:
        return f"Gate {self.number}" if self.number else "Ratify"

    @property
    def title(self) -> str:
        return self.label.split(": ", 1)[-1]


@dataclass(frozen=True)
class Seat:
    """A role the session must have represented, and why."""

    role: Role
    reason: str

    @property
    def label(self) -> str:
        return self.role.label


@dataclass(frozen=True)
class Interval:
    amount: float
    unit: str
    label: str

    def due(self, start: datetime) -> datetime:
        return deadline(start, amount=self.amount, unit=self.unit)


class CCBRules:
    """Typed questions about a procedure's change control board and communication plan."""

    definition: dict

    @property
    def ccb(self) -> dict:
        block = self.definition.get("ccb")
        if block:
            return block
        return CM_WF_CCB if self.definition.get("ccb_required") else {}

    @property
    def communication(self) -> dict:
        block = self.definition.get("communication")
        if block:
            return block
        return CM_WF_COMMUNICATION if self.definition.get("ccb_required") else {}

    # --- gates --------------------------------------------------------------------------------------------

    def ccb_gates(self) -> list[GateSpec]:
        return [
            GateSpec(
                code=g["code"],
                number=g.get("number"),
                label=g["label"],
                question=g.get("question", ""),
                criteria=g.get("criteria", ""),
                session=bool(g.get("session")),
                roles=tuple(Role(r) for r in g.get("roles", ())),
                outcomes=tuple(g.get("outcomes", ())),
                preconditions=tuple(g.get("preconditions", ())),
                grants_waivers=bool(g.get("grants_waivers")),
                retroactive=bool(g.get("retroactive")),
                statuses=tuple(g.get("statuses", ())),
                labels=dict(g.get("labels", {})),
                requires=tuple(g.get("requires", ())),
            )
            for g in self.ccb.get("gates", [])
        ]

    def ccb_gate(self, code: str) -> GateSpec:
        for gate in self.ccb_gates():
            if gate.code == code:
                return gate
        raise KeyError(code)

    def ccb_session_gates(self) -> list[GateSpec]:
        return [g for g in self.ccb_gates() if g.session]

    def ccb_outcome_label(self, gate: GateSpec, outcome: str) -> str:
        return gate.labels.get(outcome) or self.ccb_vote_choices.get(outcome, outcome)

    def ccb_precondition_label(self, code: str) -> str:
        return self.ccb.get("preconditions", {}).get(code, code.replace("_", " "))

    # --- who sits, who decides -------------------------------------------------------------------------

    @property
    def ccb_chair_role(self) -> Role:
        return Role(self.ccb.get("chair_role", "cm"))

    @property
    def ccb_convener_roles(self) -> list[Role]:
        return [Role(r) for r in self.ccb.get("convener_roles", ["cm"])]

    def ccb_required_seats(self, severity: str, flags: dict[str, bool]) -> list[Seat]:
        """The minimum representation for a change of this severity and these incident flags (§7.1)."""
        seats = []
        for spec in self.ccb.get("representation", []):
            if spec.get("if") and not flags.get(spec["if"]):
                continue
            if spec.get("severities") and severity not in spec["severities"]:
                continue
            seats.append(Seat(Role(spec["role"]), spec.get("reason", "")))
        return seats

    def ccb_member_roles(self, severity: str = "", flags: dict[str, bool] | None = None) -> list[Role]:
        """Roles a member may sit in: the required ones first, then the optional ones."""
        roles = [s.role for s in self.ccb_required_seats(severity, flags or {})]
        roles += [Role(r) for r in self.ccb.get("member_roles", []) if Role(r) not in roles]
        return roles

    def ccb_decider_role(self, severity: str) -> Role | None:
        """The role whose member records the decision, or ``None`` when the chair does (§7.2)."""
        decider = self.ccb.get("decider", {})
        role = decider.get("by_severity", {}).get(severity, decider.get("default", "chair"))
        return None if role == "chair" else Role(role)

    # --- votes and the decision rule -------------------------------------------------------------------

    @property
    def ccb_vote_choices(self) -> dict[str, str]:
        return {c["code"]: c["label"] for c in self.ccb.get("vote_choices", [])}

    @property
    def ccb_decision_rule(self) -> dict:
        return self.ccb.get("decision_rule", {})

    def ccb_rule_outcome(self, counts: dict[str, int], allowed: tuple[str, ...]) -> str | None:
        """What the current votes give under the decision rule, or ``None`` when nobody has voted."""
        total = sum(counts.get(o, 0) for o in allowed)
        if not total:
            return None
        rule = self.ccb_decision_rule
        if rule.get("majority", "more_than_half") == "more_than_half":
            for outcome in allowed:
                if counts.get(outcome, 0) * 2 > total:
                    return outcome
        return rule.get("otherwise", MORE_INFO)

    def ccb_decision_due(self, start: datetime) -> datetime:
        window = self.ccb.get("decision_window", {"amount": 1, "unit": "hours"})
        return deadline(start, amount=window["amount"], unit=window["unit"])

    # --- waivers (§15) ---------------------------------------------------------------------------------

    @property
    def ccb_waivable(self) -> dict[str, str]:
        return {w["code"]: w["label"] for w in self.ccb.get("waivable", [])}

    @property
    def ccb_not_waivable(self) -> dict[str, str]:
        return {w["code"]: w["label"] for w in self.ccb.get("not_waivable", [])}

    def ccb_waiver_refusals(self, codes: list[str]) -> list[str]:
        """Why each of these waivers may not be granted (empty when all may)."""
        refusals = []
        for code in codes:
            if code in self.ccb_not_waivable:
                refusals.append(f"{self.ccb_not_waivable[code]} is never waived (§15).")
            elif code not in self.ccb_waivable:
                refusals.append(f"{code!r} is not a waiver the procedure allows.")
        return refusals

    def severity_criteria(self, severity: str) -> list[str]:
        return list(self.ccb.get("severity_criteria", {}).get(severity, []))

    # --- communication (§12) -----------------------------------------------------------------------------

    def status_update_interval(self, severity: str, status: str) -> Interval | None:
        """How soon the next internal status update is due, or ``None`` when updates have stopped."""
        plan = self.communication
        cadence = plan.get("update_cadence", {})
        if not cadence or status in plan.get("stop_statuses", []):
            return None
        spec = cadence.get(severity)
        if spec is None or status not in plan.get("phase_statuses", []):
            spec = plan.get("after_phases") or spec
        if spec is None:
            return None
        return Interval(spec["amount"], spec["unit"], spec.get("label", ""))

    @property
    def status_update_roles(self) -> list[Role]:
        return [Role(r) for r in self.communication.get("update_roles", [])]

    @property
    def external_notification_event(self) -> str:
        return self.communication.get("external_event", "external_notification_sent")

    def regulatory_required(self, flags: dict[str, bool]) -> bool:
        regulatory = self.communication.get("regulatory")
        return bool(regulatory) and bool(flags.get(regulatory.get("required_if", "safety_related")))

    @property
    def regulatory_authorities(self) -> dict[str, str]:
        return {a["code"]: a["label"] for a in self.communication.get("regulatory", {}).get("authorities", [])}

    @property
    def regulatory_recorder_roles(self) -> list[Role]:
        return [Role(r) for r in self.communication.get("regulatory", {}).get("recorder_roles", [])]


def validate_ccb(definition: dict) -> list[str]:
    """What is wrong with a definition's CCB and communication blocks (empty when usable or absent)."""
    problems: list[str] = []
    roles = {r.value for r in Role}
    ccb = definition.get("ccb") or {}
    for spec in ccb.get("representation", []):
        if spec.get("role") not in roles:
            problems.append(f"CCB representation names unknown role {spec.get('role')!r}.")
    for role in [*ccb.get("member_roles", []), *ccb.get("convener_roles", [])]:
        if role not in roles:
            problems.append(f"CCB names unknown role {role!r}.")
    choices = {c["code"] for c in ccb.get("vote_choices", [])}
    for gate in ccb.get("gates", []):
        unknown = [o for o in gate.get("outcomes", []) if o not in choices]
        if unknown:
            problems.append(f"Gate {gate.get('code')!r} names unknown outcomes {unknown}.")
    overlap = {w["code"] for w in ccb.get("waivable", [])} & {w["code"] for w in ccb.get("not_waivable", [])}
    if overlap:
        problems.append(f"Waivers both allowed and refused: {sorted(overlap)}.")
    rule = ccb.get("decision_rule", {})
    if rule and rule.get("majority", "more_than_half") != "more_than_half":
        problems.append("The decision rule supports only a majority of more than half of the current votes.")
    return problems
