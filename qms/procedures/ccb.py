"""The change control board of a procedure as the engine reads it: gates, representation, decision rule,
waivers and the communication cadence (CM-WF-EMERGENCY §4, §7, §12, §14, §15).

A procedure definition carries these under ``"ccb"`` and ``"communication"``; :class:`CCBRules` (mixed into
:class:`qms.procedures.ProcedureRules`) answers the typed questions the services ask. A definition that
says ``"ccb_required": true`` without a ``"ccb"`` block (CM-WF-EMERGENCY v1 loaded before these rules
existed) reads the preset's rules (``qms.procedures.presets.cm_wf_emergency``), so an existing installation
keeps working without a new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from qms.clock import deadline
from qms.procedures.presets.cm_wf_emergency import CM_WF_CCB, CM_WF_COMMUNICATION
from qms.procedures.schema import APPROVE, INCIDENT_FLAGS, MORE_INFO, STANDARD
from qms.roles import READ_ONLY_ROLES, Role

# The only quorum the tally counts (emergencies.services.ccb.tally): every required role has voted.
QUORUM = "required_roles_voted"

__all__ = [
    "APPROVE",
    "CM_WF_CCB",
    "CM_WF_COMMUNICATION",
    "MORE_INFO",
    "STANDARD",
    "CCBRules",
    "GateSpec",
    "Interval",
    "Seat",
    "validate_ccb",
]


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


def _interval_problems(path: str, spec) -> list[str]:
    amount = spec.get("amount") if isinstance(spec, dict) else None
    problems = []
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        problems.append(f"{path}.amount: a positive number, not {amount!r}.")
    if not isinstance(spec, dict) or spec.get("unit") not in ("minutes", "hours", "days"):
        problems.append(f"{path}.unit: one of minutes, hours, days.")
    return problems


def _role_problems(path: str, roles, *, required: str = "") -> list[str]:
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return [f"{path}: a list of role codes."]
    if required and not roles:
        return [f"{path}: {required}"]
    problems = [f"{path}: unknown role {r!r}." for r in roles if r not in Role._value2member_map_]
    known = [Role(r) for r in roles if r in Role._value2member_map_]
    return problems + [f"{path}: {r.label} is read-only and cannot take part." for r in known if r in READ_ONLY_ROLES]


def _decider_problems(definition: dict, decider) -> list[str]:
    """Who records a session's decision: "chair" or a role that may take part, by default and per severity."""
    if decider is None:
        return []
    if not isinstance(decider, dict) or not isinstance(decider.get("by_severity", {}), dict):
        return ["ccb.decider: a mapping {default, by_severity}."]
    scale = {s.get("code") for s in definition.get("severity_scale") or [] if isinstance(s, dict)}
    problems: list[str] = []
    for path, who in [("ccb.decider.default", decider.get("default", "chair"))] + [
        (f"ccb.decider.by_severity.{k}", v) for k, v in decider.get("by_severity", {}).items()
    ]:
        if path.startswith("ccb.decider.by_severity.") and path.rsplit(".", 1)[1] not in scale:
            problems.append(f"{path}: not a severity of this procedure's scale.")
        elif who != "chair":
            problems += _role_problems(path, [who])
    return problems


def _seat_problems(definition: dict, representation) -> list[str]:
    if not isinstance(representation, list) or not all(isinstance(s, dict) for s in representation):
        return ["ccb.representation: a list of {role, reason, if?, severities?}."]
    if definition.get("ccb_required") and not representation:
        return ["ccb.representation: at least one role must be represented, or any vote would carry."]
    problems: list[str] = []
    roles = [spec.get("role") for spec in representation]
    problems += _role_problems("ccb.representation", roles)
    problems += [f"ccb.representation: {r!r} appears twice." for r in sorted({r for r in roles if roles.count(r) > 1})]
    severities = {s.get("code") for s in definition.get("severity_scale") or [] if isinstance(s, dict)}
    for spec in representation:
        path = f"ccb.representation.{spec.get('role')}"
        if spec.get("if") and spec["if"] not in INCIDENT_FLAGS:
            problems.append(f"{path}.if: unknown incident flag {spec['if']!r} (one of {', '.join(INCIDENT_FLAGS)}).")
        unknown = [s for s in spec.get("severities") or [] if s not in severities]
        if unknown:
            problems.append(f"{path}.severities: unknown severities {unknown}.")
    return problems


def validate_ccb(definition: dict) -> list[str]:
    """What is wrong with a definition's CCB and communication blocks (empty when usable or absent)."""
    problems: list[str] = []
    ccb = definition.get("ccb") or {}
    if "representation" in ccb or (ccb and definition.get("ccb_required")):
        problems += _seat_problems(definition, ccb.get("representation", []))
    problems += _role_problems("ccb.member_roles", ccb.get("member_roles", []))
    problems += _role_problems(
        "ccb.convener_roles", ccb.get("convener_roles", ["cm"]), required="at least one role must be able to convene."
    )
    if "chair_role" in ccb:
        problems += _role_problems("ccb.chair_role", [ccb["chair_role"]])
    problems += _decider_problems(definition, ccb.get("decider"))
    choices = {c["code"] for c in ccb.get("vote_choices", [])}
    for gate in ccb.get("gates", []):
        path = f"ccb.gates.{gate.get('code')}"
        unknown = [o for o in gate.get("outcomes", []) if o not in choices]
        if unknown:
            problems.append(f"Gate {gate.get('code')!r} names unknown outcomes {unknown}.")
        if not isinstance(gate.get("label"), str) or not gate["label"].strip():
            problems.append(f"{path}.label: a non-empty text.")
        if "roles" in gate or not gate.get("session"):
            needed = "" if gate.get("session") else "at least one role must be able to record this gate."
            problems += _role_problems(f"{path}.roles", gate.get("roles", []), required=needed)
    overlap = {w["code"] for w in ccb.get("waivable", [])} & {w["code"] for w in ccb.get("not_waivable", [])}
    if overlap:
        problems.append(f"Waivers both allowed and refused: {sorted(overlap)}.")
    if ccb.get("decision_window") is not None:
        problems += _interval_problems("ccb.decision_window", ccb["decision_window"])
    rule = ccb.get("decision_rule", {})
    if rule and "otherwise" in rule and choices and rule["otherwise"] not in choices:
        problems.append(f"ccb.decision_rule.otherwise: one of the vote choices ({', '.join(sorted(choices))}).")
    if rule and rule.get("majority", "more_than_half") != "more_than_half":
        problems.append("The decision rule supports only a majority of more than half of the current votes.")
    if rule and rule.get("quorum", QUORUM) != QUORUM:
        problems.append(f"ccb.decision_rule.quorum: the engine counts only {QUORUM!r} (every required role voted).")
    plan = definition.get("communication") or {}
    for severity, spec in (plan.get("update_cadence") or {}).items():
        problems += _interval_problems(f"communication.update_cadence.{severity}", spec)
    if plan.get("after_phases") is not None:
        problems += _interval_problems("communication.after_phases", plan["after_phases"])
    return problems
