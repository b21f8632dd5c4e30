"""Procedures as data.

Every number the portal enforces (severity scale, emergency criteria, who authorises, clocks, day basis,
gates, whether a CCB decides) comes from a procedure version's ``definition``. The four procedure
documents the portal implements ship as the presets (``qms.procedures.presets``); a migration loads them as
version 1, and an edit through :func:`qms.services.procedure_version_create` makes a new version, never
rewriting an old one. This module holds the typed questions the engine asks of a version's definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from qms.clock import deadline
from qms.procedures.ccb import CCBRules
from qms.procedures.schema import (
    BYPASS_NOTIFY_DEFAULT,
    CATEGORY_LABELS,
    CHANNEL_FIELDS,
    CHECK_CATALOGUE,
    LEVEL_ORDER,
    POST_MORTEM_APPROVERS_DEFAULT,
    TRANSITION_PRECONDITIONS_CM_WF,
    TRANSITION_PRECONDITIONS_DEFAULT,
    VERBAL_RECORDER_ROLES,
)
from qms.procedures.training import TrainingRules
from qms.roles import READ_ONLY_ROLES, Role


@dataclass(frozen=True)
class Refusal:
    """Why a stub may not use the emergency path (decision matrix §6.1)."""

    code: str
    field: str
    message: str


@dataclass(frozen=True)
class ClockSpec:
    kind: str
    label: str
    amount: float
    unit: str
    basis: str
    owner: str = "author"
    satisfied_on: tuple[str, ...] = ()
    anchor: str = "declared"

    def due(self, start: datetime) -> datetime:
        return deadline(start, amount=self.amount, unit=self.unit, basis=self.basis)


class ProcedureRules(CCBRules, TrainingRules):
    """Typed questions asked of one procedure version's definition."""

    def __init__(self, definition: dict):
        self.definition = definition

    @property
    def severity_labels(self) -> dict[str, str]:
        return {s["code"]: s["label"] for s in self.definition["severity_scale"]}

    @property
    def ccb_required(self) -> bool:
        return bool(self.definition.get("ccb_required"))

    @property
    def channel_fields(self) -> dict:
        """The ``channels`` block; versions written before it existed get the preset's."""
        return self.definition.get("channels") or CHANNEL_FIELDS

    def fields_for_audience(self, audience: str, category: str) -> list[str]:
        block = self.channel_fields
        fields = list(block["audiences"].get(audience, ["record", "asked", "link"]))
        if audience in ("public", "external"):
            withheld = set(block.get("withheld_in_public", {}).get(category, []))
            fields = [f for f in fields if f not in withheld]
        return fields

    def transition_preconditions(self, transition: str) -> list[str]:
        """The precondition codes of a lifecycle step under this version (see PRECONDITION_LABELS)."""
        block = self.definition.get("transitions")
        if block is None:
            block = TRANSITION_PRECONDITIONS_CM_WF if self.ccb_required else TRANSITION_PRECONDITIONS_DEFAULT
        return list(block.get(transition, []))

    @property
    def proceed_before_authorisation(self) -> dict:
        """Who may sign a "proceed before authorisation" deviation, and for which steps ({} when nobody may)."""
        return self.definition.get("proceed_before_authorisation") or {}

    def severity_class(self, severity: str) -> dict:
        """The bypass level and post-incident actions a severity calls for ({} when the procedure has none)."""
        return (self.definition.get("severity_classes") or {}).get(severity, {})

    def severity_for(self, category: str) -> str:
        return self.definition["category_severity"].get(category, "")

    def emergency_refusal(self, category: str, cvss: Decimal | None) -> Refusal | None:
        """Apply the decision matrix: may this situation use the emergency bypass at all?"""
        criteria = self.definition["emergency_criteria"]
        label = CATEGORY_LABELS.get(category, category).split(" — ")[0]
        if category not in criteria["categories"]:
            return Refusal(
                "EMG-E002",
                "category",
                f"EMG-E002: a {label} does not qualify for the emergency bypass. Use the standard gate process.",
            )
        if category in criteria.get("cvss_required_for", []):
            minimum = Decimal(criteria["cvss_emergency_min"])
            if cvss is None:
                return Refusal(
                    "CVSS", "cvss_score", f"A critical security emergency needs its CVSS score (≥ {minimum})."
                )
            if cvss < minimum:
                expedited = Decimal(criteria["cvss_expedited_min"])
                if cvss >= expedited:
                    return Refusal(
                        "EMG-E002",
                        "cvss_score",
                        f"EMG-E002: CVSS {cvss} is high, not critical (the emergency bypass needs ≥ {minimum}). "
                        f"Use the expedited {criteria['expedited_path']} path.",
                    )
                return Refusal(
                    "EMG-E002",
                    "cvss_score",
                    f"EMG-E002: CVSS {cvss} is below {expedited}; this is not an emergency. "
                    "Use the standard gate process.",
                )
        return None

    def stub_authoriser_roles(self, category: str, flags: dict[str, bool]) -> list[Role]:
        roles = list(self.definition["stub_authorisers"].get(category, []))
        for flag, extra in self.definition.get("stub_authorisers_if", {}).items():
            if flags.get(flag):
                roles += [r for r in extra if r not in roles]
        return [Role(r) for r in roles]

    def clocks(self, severity: str) -> list[ClockSpec]:
        specs = []
        for clock in self.definition["clocks"]:
            override = clock.get("by_severity", {}).get(severity, {})
            specs.append(
                ClockSpec(
                    kind=clock["kind"],
                    label=clock["label"],
                    amount=override.get("amount", clock["amount"]),
                    unit=override.get("unit", clock["unit"]),
                    basis=clock.get("basis", self.definition["day_basis"]),
                    owner=clock.get("owner", "author"),
                    satisfied_on=tuple(clock.get("satisfied_on", ())),
                    anchor=clock.get("anchor", "declared"),
                )
            )
        return specs

    # --- bypasses ---------------------------------------------------------------------------------------

    def bypass_level(self, level: str) -> dict:
        return self.definition["bypass_levels"][level]

    def decide_bypass_level(self, *, production_impact: str, security_or_compliance: bool, code_quality_only: bool):
        """The decision tree of QMS Emergency Bypass Procedures v1.0: the level and the branch taken."""
        tree = self.definition["decision_tree"]
        if production_impact in tree["high_impacts"]:
            if security_or_compliance:
                return tree["high_with_security_or_compliance"], (
                    f"Production impact {production_impact} → security/compliance involved → Level 3/Emergency"
                )
            return tree["high_without"], f"Production impact {production_impact} → no security/compliance → Level 2"
        if code_quality_only:
            return tree["low_code_quality_only"], f"Production impact {production_impact} → code quality only → Level 1"
        return tree["low_other"], f"Production impact {production_impact} → not only code quality → Level 2"

    def bypass_slots(self, level: str, flags: dict[str, bool], *, category: str = "") -> list[list[Role]]:
        """Who must sign: one slot per required role (a slot may accept any of several roles).

        An emergency bypass that authorises an emergency stub uses the stub's authorisers (§2.3);
        every other request uses the level's authorisers.
        """
        if level == "E" and category:
            return [[role] for role in self.stub_authoriser_roles(category, flags)]
        spec = self.bypass_level(level)
        slots = [list(slot) for slot in spec["authorisers"]]
        for flag, extra in spec.get("authorisers_if", {}).items():
            if flags.get(flag):
                slots += [list(slot) for slot in extra]
        return [[Role(r) for r in slot] for slot in slots]

    def bypass_reviews(self, level: str, flags: dict[str, bool]) -> list[dict]:
        return [r for r in self.bypass_level(level)["reviews"] if not r.get("if") or flags.get(r["if"])]

    def bypass_notify_roles(self, level: str) -> list[Role]:
        """Who is told when a bypass of this level becomes active (the QMS coordinators when the level does not say)."""
        return [Role(r) for r in self.bypass_level(level).get("notify", BYPASS_NOTIFY_DEFAULT)]

    def remediation_due(self, level: str, start: datetime) -> datetime:
        spec = self.bypass_level(level)["remediation"]
        return deadline(start, amount=spec["amount"], unit=spec["unit"], basis=spec.get("basis", "calendar"))

    def max_remediation_due(self, level: str, start: datetime) -> datetime | None:
        spec = self.bypass_level(level).get("max_remediation")
        if not spec:
            return None
        return deadline(start, amount=spec["amount"], unit=spec["unit"], basis=spec.get("basis", "calendar"))

    @property
    def verbal_confirmation_hours(self) -> int:
        return int(self.definition.get("verbal_confirmation_hours", 24))

    @property
    def verbal_recording_max_age(self) -> timedelta:
        """How long after it was given an approval may still be recorded (default: the confirmation window)."""
        hours = self.definition.get("verbal_recording_max_age_hours", self.verbal_confirmation_hours)
        return timedelta(hours=float(hours))

    @property
    def verbal_recorder_roles(self) -> list[Role]:
        """The roles that may record someone else's verbal or written approval; never a read-only one."""
        names = self.definition.get("verbal_recorder_roles", VERBAL_RECORDER_ROLES)
        return [Role(r) for r in names if r in Role._value2member_map_ and Role(r) not in READ_ONLY_ROLES]

    @property
    def post_mortem_approver_roles(self) -> tuple[Role, ...]:
        """Who may approve a post-mortem (never its author, never a read-only role); the six roles by default."""
        names = self.definition.get("post_mortem_approvers") or POST_MORTEM_APPROVERS_DEFAULT
        return tuple(Role(r) for r in names if r in Role._value2member_map_ and Role(r) not in READ_ONLY_ROLES)

    @property
    def gate_catalogue(self) -> dict[str, dict]:
        """This version's checks a bypass may skip ({code: {label, min_level}}); older versions read the preset's."""
        return self.definition.get("gates") or CHECK_CATALOGUE

    def check_label(self, code: str) -> str:
        return (self.gate_catalogue.get(code) or CHECK_CATALOGUE.get(code) or {"label": code})["label"]

    def checks_allowed(self, level: str) -> list[str]:
        """The checks a level may bypass under this version: its own and those of every level below it."""
        return checks_allowed(level, self.gate_catalogue)

    @property
    def retroactive_checks(self) -> list[str]:
        """The checks an emergency bypass skips, each validated after the fact (default: the whole catalogue)."""
        checks = self.definition.get("retroactive_checks")
        return [c for c in checks if c in self.gate_catalogue] if checks else list(self.gate_catalogue)

    @property
    def rollback_triggers(self) -> dict:
        return self.definition.get("rollback_triggers", {})

    @property
    def deferred_on_deploy(self) -> list[dict]:
        return self.definition.get("deferred_on_deploy", [])


def checks_allowed(level: str, catalogue: dict | None = None) -> list[str]:
    """The checks a level may bypass: its own and those of every level below it (in ``catalogue``, a version's)."""
    catalogue = CHECK_CATALOGUE if catalogue is None else catalogue
    return [key for key, check in catalogue.items() if LEVEL_ORDER[check["min_level"]] <= LEVEL_ORDER[level]]
