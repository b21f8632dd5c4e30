"""The shape a procedure definition must have for the engine to run it; each problem names its field.

:func:`validate_definition` runs these checks first: a definition of the wrong shape would make the engine
fail half-way through filing a stub, so it is refused before anything reads it; then it checks what the
definition says (roles, severities, clocks, the CCB, training, on-call response, preconditions).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from qms.procedures.ccb import validate_ccb
from qms.procedures.compliance import escalation_steps, parse_duration
from qms.procedures.notifications import validate_notifications
from qms.procedures.presets.cm_wf_emergency import CM_WF_CCB
from qms.procedures.schema import (
    CATEGORY_LABELS,
    CHECK_CATALOGUE,
    CLOCK_KINDS,
    GATE_CATALOGUE_MAX,
    GATE_CODE_HELP,
    GATE_CODE_PATTERN,
    LEVEL_ORDER,
    POST_MORTEM_APPROVERS_DEFAULT,
    PRECONDITION_LABELS,
    PRECONDITION_TRANSITIONS,
    REQUIRED_KEYS,
    VERBAL_RECORDER_ROLES,
)
from qms.procedures.training import validate_training
from qms.roles import READ_ONLY_ROLES, Role
from qms.roster.response import validate_oncall_response

UNITS = ("minutes", "hours", "days")
BASES = ("calendar", "business")
_ROLES = {r.value for r in Role}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _duration(problems: list[str], path: str, spec, *, required: bool = True) -> None:
    if spec is None and not required:
        return
    if not isinstance(spec, dict):
        problems.append(f"{path}: needs amount and unit.")
        return
    amount = spec.get("amount")
    if not _is_number(amount) or amount <= 0:
        problems.append(f"{path}.amount: a positive number, not {amount!r}.")
    if spec.get("unit") not in UNITS:
        problems.append(f"{path}.unit: one of minutes, hours, days, not {spec.get('unit')!r}.")
    if "basis" in spec and spec["basis"] not in BASES:
        problems.append(f"{path}.basis: calendar or business, not {spec['basis']!r}.")


def _roles(problems: list[str], path: str, roles) -> None:
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        problems.append(f"{path}: a list of role codes.")
        return
    problems += [f"{path}: unknown role {r!r}." for r in roles if r not in _ROLES]


def _decimal(problems: list[str], path: str, value) -> None:
    try:
        Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{path}: a number, not {value!r}.")


def validate_definition(definition: dict) -> list[str]:
    """Return what is wrong with a procedure definition (empty when it is usable); each names its field."""
    problems = structure_problems(definition)
    if problems:
        return problems
    problems = [f"{key}: missing (required)." for key in REQUIRED_KEYS if key not in definition]
    if problems:
        return problems
    problems += _reference_problems(definition)
    roles = {r.value for r in Role}
    for category, authorisers in definition["stub_authorisers"].items():
        problems += [f"Unknown role {r} for {category}." for r in authorisers if r not in roles]
    problems += _authoriser_problems(definition)
    if definition["day_basis"] not in {"calendar", "business"}:
        problems.append("day_basis must be 'calendar' or 'business'.")
    for clock in definition["clocks"]:
        if clock.get("unit") not in {"minutes", "hours", "days"} or float(clock.get("amount", 0)) <= 0:
            problems.append(f"Clock {clock.get('kind')!r} needs a positive amount in minutes, hours or days.")
    recorders = definition.get("verbal_recorder_roles", VERBAL_RECORDER_ROLES)
    problems += [f"Unknown role {r} may record verbal approvals." for r in recorders if r not in roles]
    problems += [
        f"{Role(r).label} is read-only and cannot record approvals."
        for r in recorders
        if r in roles and Role(r) in READ_ONLY_ROLES
    ]
    if float(definition.get("verbal_recording_max_age_hours", 24)) <= 0:
        problems.append("verbal_recording_max_age_hours must be positive.")
    approvers = definition.get("post_mortem_approvers", POST_MORTEM_APPROVERS_DEFAULT)
    problems += [f"post_mortem_approvers: unknown role {r!r}." for r in approvers if r not in roles]
    problems += [
        f"post_mortem_approvers: {Role(r).label} is read-only."
        for r in approvers
        if r in roles and Role(r) in READ_ONLY_ROLES
    ]
    problems += validate_ccb(definition)
    problems += validate_notifications(definition)
    problems += validate_training(definition)
    problems += validate_oncall_response(definition)
    gates = {g.get("code") for g in (definition.get("ccb") or {}).get("gates", [])} or {
        g["code"] for g in CM_WF_CCB["gates"]
    }
    for transition, codes in (definition.get("transitions") or {}).items():
        if transition not in PRECONDITION_TRANSITIONS:
            problems.append(f"Unknown transition {transition!r} in transitions.")
        for code in codes:
            known = code in PRECONDITION_LABELS or (code.startswith("gate:") and code[5:] in gates)
            if not known:
                problems.append(f"Unknown precondition {code!r} for {transition}.")
    return problems


def structure_problems(definition) -> list[str]:
    """What prevents the engine from reading this definition, each prefixed with the field's path."""
    if not isinstance(definition, dict):
        return ["definition: a mapping of rule names to their settings."]
    problems: list[str] = []
    scale = definition.get("severity_scale")
    if scale is not None:
        if not isinstance(scale, list) or not scale:
            problems.append("severity_scale: a non-empty list of {code, label}.")
        else:
            codes = []
            for i, item in enumerate(scale):
                if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item.get("code"):
                    problems.append(f"severity_scale[{i}].code: a non-empty text.")
                    continue
                if not isinstance(item.get("label"), str) or not item["label"].strip():
                    problems.append(f"severity_scale[{i}].label: a non-empty text.")
                codes.append(item["code"])
            problems += [
                f"severity_scale: {c!r} appears twice." for c in sorted({c for c in codes if codes.count(c) > 1})
            ]
    for key in ("category_severity", "stub_authorisers", "stub_authorisers_if"):
        if key in definition and not isinstance(definition[key], dict):
            problems.append(f"{key}: a mapping.")
    for key, roles in (
        (definition.get("stub_authorisers_if") or {}).items()
        if isinstance(definition.get("stub_authorisers_if"), dict)
        else ()
    ):
        _roles(problems, f"stub_authorisers_if.{key}", roles)
    if isinstance(definition.get("stub_authorisers"), dict):
        for key, roles in definition["stub_authorisers"].items():
            if not isinstance(roles, list) or not roles:
                problems.append(f"stub_authorisers.{key}: at least one role must authorise.")
    criteria = definition.get("emergency_criteria")
    if criteria is not None:
        if not isinstance(criteria, dict):
            problems.append("emergency_criteria: a mapping.")
        else:
            if not isinstance(criteria.get("categories"), list):
                problems.append("emergency_criteria.categories: a list of categories.")
            for key in ("cvss_emergency_min", "cvss_expedited_min"):
                if key in criteria:
                    _decimal(problems, f"emergency_criteria.{key}", criteria[key])
    clocks = definition.get("clocks")
    if clocks is not None:
        if not isinstance(clocks, list):
            problems.append("clocks: a list of clocks.")
        else:
            kinds = []
            for i, clock in enumerate(clocks):
                path = f"clocks[{i}]"
                if not isinstance(clock, dict):
                    problems.append(f"{path}: a mapping (kind, label, amount, unit).")
                    continue
                kind = clock.get("kind")
                if not isinstance(kind, str) or not kind:
                    problems.append(f"{path}.kind: a non-empty text.")
                else:
                    path = f"clocks.{kind}"
                    kinds.append(kind)
                if not isinstance(clock.get("label"), str) or not clock.get("label", "").strip():
                    problems.append(f"{path}.label: a non-empty text.")
                _duration(problems, path, clock)
                if clock.get("anchor", "declared") not in ("declared", "resolved"):
                    problems.append(f"{path}.anchor: declared or resolved, not {clock.get('anchor')!r}.")
                owner = clock.get("owner", "author")
                if owner not in ("author", "commander"):
                    problems.append(f"{path}.owner: author or commander, not {owner!r}.")
                if not isinstance(clock.get("satisfied_on", []), list):
                    problems.append(f"{path}.satisfied_on: a list of events.")
                overrides = clock.get("by_severity", {})
                if not isinstance(overrides, dict):
                    problems.append(f"{path}.by_severity: a mapping of severity to amount and unit.")
                else:
                    for severity, spec in overrides.items():
                        _duration(problems, f"{path}.by_severity.{severity}", spec)
            problems += [f"clocks: kind {k!r} appears twice." for k in sorted({k for k in kinds if kinds.count(k) > 1})]
    levels = definition.get("bypass_levels")
    if levels is not None:
        if not isinstance(levels, dict):
            problems.append("bypass_levels: a mapping of level to its rules.")
        else:
            for code, spec in levels.items():
                path = f"bypass_levels.{code}"
                if not isinstance(spec, dict):
                    problems.append(f"{path}: a mapping.")
                    continue
                slots = spec.get("authorisers")
                if not isinstance(slots, list) or not slots:
                    problems.append(f"{path}.authorisers: at least one slot of roles.")
                else:
                    for j, slot in enumerate(slots):
                        _roles(problems, f"{path}.authorisers[{j}]", slot)
                _duration(problems, f"{path}.remediation", spec.get("remediation"))
                _duration(problems, f"{path}.max_remediation", spec.get("max_remediation"), required=False)
                for j, review in enumerate(
                    spec.get("reviews", []) if isinstance(spec.get("reviews", []), list) else []
                ):
                    _duration(problems, f"{path}.reviews[{j}]", review)
    problems += _gate_problems(definition)
    for key in ("verbal_confirmation_hours", "verbal_recording_max_age_hours"):
        if key in definition and (not _is_number(definition[key]) or definition[key] <= 0):
            problems.append(f"{key}: a positive number of hours, not {definition[key]!r}.")
    if "ccb_required" in definition and not isinstance(definition["ccb_required"], bool):
        problems.append("ccb_required: true or false.")
    for i, item in enumerate(definition.get("deferred_on_deploy") or []):
        _duration(problems, f"deferred_on_deploy[{i}]", item)
    compliance = definition.get("compliance")
    if isinstance(compliance, dict) and "escalation" in compliance:
        try:
            escalation_steps(definition)
        except (ValueError, KeyError, TypeError) as exc:
            problems += _escalation_problems(compliance["escalation"]) or [f"compliance.escalation: {exc}"]
    return problems


def _reference_problems(definition: dict) -> list[str]:
    """What names a severity level the scale does not have, or a clock the portal cannot open on a change
    (filing would fail on it): a category's severity, a clock's kind or per-severity deadline, a severity class."""
    severities = {s["code"] for s in definition["severity_scale"]}
    problems = [
        f"category_severity.{category}: unknown severity {severity!r} (not in severity_scale)."
        for category, severity in definition["category_severity"].items()
        if severity not in severities
    ]
    for clock in definition["clocks"]:
        if clock["kind"] not in CLOCK_KINDS:
            problems.append(
                f"clocks.{clock['kind']}.kind: not a clock the portal tracks (one of {', '.join(CLOCK_KINDS)})."
            )
        problems += [
            f"clocks.{clock['kind']}.by_severity.{code}: unknown severity {code!r} (not in severity_scale)."
            for code in clock.get("by_severity", {})
            if code not in severities
        ]
    classes = definition.get("severity_classes") or {}
    problems += [
        f"severity_classes.{code}: unknown severity {code!r} (not in severity_scale)."
        for code in (classes if isinstance(classes, dict) else {})
        if code not in severities
    ]
    return problems


def _escalation_problems(steps) -> list[str]:
    """Name the step and field of a ladder the engine cannot run (compliance.escalation.<level>.after)."""
    problems: list[str] = []
    if not isinstance(steps, list):
        return problems
    previous = None
    for step in steps:
        if not isinstance(step, dict):
            continue
        path = f"compliance.escalation.{step.get('level')}"
        try:
            after = parse_duration(str(step.get("after", "")))
        except ValueError as exc:
            problems.append(f"{path}.after: {exc}")
            continue
        if previous is not None and after < previous:
            problems.append(f"{path}.after: a higher escalation level cannot come sooner than a lower one.")
        previous = after
    return problems


def _authoriser_problems(definition: dict) -> list[str]:
    """Rules a coordinator's edit could break: nobody to authorise a qualifying category, a read-only signer,
    a signature slot nobody can fill, CVSS minimums outside 0–10 or in the wrong order, an unknown category."""
    problems: list[str] = []
    authorisers, criteria = definition["stub_authorisers"], definition["emergency_criteria"]
    for category, roles in authorisers.items():
        problems += [
            f"stub_authorisers.{category}: {Role(r).label} is read-only and cannot authorise."
            for r in roles
            if r in _ROLES and Role(r) in READ_ONLY_ROLES
        ]
    categories = criteria.get("categories", [])
    if not categories:
        problems.append("emergency_criteria.categories: at least one category must qualify for the emergency bypass.")
    for key in ("categories", "cvss_required_for"):
        problems += [
            f"emergency_criteria.{key}: unknown category {c!r}."
            for c in criteria.get(key, [])
            if c not in CATEGORY_LABELS
        ]
    problems += [
        f"stub_authorisers.{c}: at least one role must authorise ({c} qualifies for the emergency bypass)."
        for c in categories
        if c in CATEGORY_LABELS and not authorisers.get(c)
    ]
    scores = {}
    for key in ("cvss_emergency_min", "cvss_expedited_min"):
        if key not in criteria:
            if criteria.get("cvss_required_for"):
                problems.append(f"emergency_criteria.{key}: needed when a category must give a CVSS score.")
            continue
        score = Decimal(str(criteria[key]))
        if score.is_finite() and Decimal(0) <= score <= Decimal(10):
            scores[key] = score
        else:
            problems.append(f"emergency_criteria.{key}: a CVSS score from 0.0 to 10.0, not {criteria[key]}.")
    if len(scores) == 2 and scores["cvss_expedited_min"] > scores["cvss_emergency_min"]:
        problems.append("emergency_criteria.cvss_expedited_min: at most the emergency minimum.")
    for level, spec in (definition.get("bypass_levels") or {}).items():
        for j, slot in enumerate(spec["authorisers"]):
            path = f"bypass_levels.{level}.authorisers[{j}]"
            if not slot:
                problems.append(f"{path}: a signature nobody can give; name at least one role.")
            problems += [
                f"{path}: {Role(r).label} is read-only and cannot sign." for r in slot if Role(r) in READ_ONLY_ROLES
            ]
    return problems


def _gate_problems(definition: dict) -> list[str]:
    """The gate catalogue: this procedure's checks (the presets' codes or codes of its own, each a lowercase
    slug), each with a label and the lowest bypass level that may skip it; the retroactive checks and what a
    deployment defers until a gate passes are drawn from it."""
    problems: list[str] = []
    gates = definition.get("gates")
    if gates is not None:
        if not isinstance(gates, dict) or not gates:
            return ["gates: a non-empty mapping of check code to {label, min_level}."]
        if len(gates) > GATE_CATALOGUE_MAX:
            return [f"gates: at most {GATE_CATALOGUE_MAX} checks, not {len(gates)}."]
        for code, spec in gates.items():
            path = f"gates.{code}"
            if not isinstance(code, str) or not re.match(GATE_CODE_PATTERN, code):
                problems.append(f"{path}: a check code is {GATE_CODE_HELP}.")
                continue
            if not isinstance(spec, dict):
                problems.append(f"{path}: a mapping (label, min_level).")
                continue
            if not isinstance(spec.get("label"), str) or not spec["label"].strip():
                problems.append(f"{path}.label: a non-empty text.")
            if spec.get("min_level") not in LEVEL_ORDER:
                problems.append(f"{path}.min_level: one of {', '.join(LEVEL_ORDER)}, not {spec.get('min_level')!r}.")
    catalogue = gates if isinstance(gates, dict) and gates else CHECK_CATALOGUE
    checks = definition.get("retroactive_checks")
    if checks is not None:
        if not isinstance(checks, list) or not checks or not all(isinstance(c, str) for c in checks):
            problems.append("retroactive_checks: a non-empty list of check codes.")
        else:
            problems += [
                f"retroactive_checks: {c!r} is not in this procedure's gates." for c in checks if c not in catalogue
            ]
            problems += [
                f"retroactive_checks: {c!r} appears twice." for c in sorted({c for c in checks if checks.count(c) > 1})
            ]
    deferred = definition.get("deferred_on_deploy")
    for i, item in enumerate(deferred if isinstance(deferred, list) else []):
        gate = item.get("gate") if isinstance(item, dict) else None
        if gate is not None and (not isinstance(gate, str) or gate not in catalogue):
            problems.append(f"deferred_on_deploy[{i}].gate: {gate!r} is not in this procedure's gates.")
    return problems
