"""How long the on-call primary has to acknowledge a page before the backup is paged (CM-WF-EMERGENCY §13.2:
within 1 hour for Critical, 2 hours for High). Procedure data: the definition's ``oncall_response`` block,

    "oncall_response": {"by_severity": {"CRITICAL": {"amount": 1, "unit": "hours"}, ...},
                        "default": {"amount": 2, "unit": "hours"}}

A procedure version without the block (every version written before it existed) uses ``DEFAULT_RESPONSE``."""

from __future__ import annotations

from datetime import timedelta

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1)}
DEFAULT_RESPONSE = {
    "by_severity": {"CRITICAL": {"amount": 1, "unit": "hours"}, "HIGH": {"amount": 2, "unit": "hours"}},
    "default": {"amount": 2, "unit": "hours"},
}


def _duration(spec: dict) -> timedelta:
    return float(spec["amount"]) * UNITS[spec["unit"]]


def response_time(definition: dict | None, severity: str = "") -> timedelta:
    """The response time for a page about a record of ``severity`` under ``definition``."""
    block = (definition or {}).get("oncall_response") or DEFAULT_RESPONSE
    spec = (block.get("by_severity") or {}).get(severity) or block.get("default") or DEFAULT_RESPONSE["default"]
    return _duration(spec)


def _spec_problems(spec, where: str) -> list[str]:
    if not isinstance(spec, dict) or spec.get("unit") not in UNITS:
        return [f"oncall_response.{where}: the unit must be minutes or hours."]
    try:
        amount = float(spec.get("amount"))
    except (TypeError, ValueError):
        return [f"oncall_response.{where}: the amount must be a number."]
    if amount <= 0 or amount * UNITS[spec["unit"]] > timedelta(hours=72):
        return [f"oncall_response.{where}: the amount must be positive and at most 72 hours."]
    return []


def validate_oncall_response(definition: dict) -> list[str]:
    """What is wrong with the definition's ``oncall_response`` block (nothing when it has none)."""
    block = definition.get("oncall_response")
    if block is None:
        return []
    if not isinstance(block, dict):
        return ["oncall_response must be a mapping with by_severity and default."]
    problems = []
    severities = {s.get("code") for s in definition.get("severity_scale", []) if isinstance(s, dict)}
    by_severity = block.get("by_severity") or {}
    if not isinstance(by_severity, dict):
        return ["oncall_response by_severity must map severity codes to durations."]
    for severity, spec in by_severity.items():
        if severity not in severities:
            problems.append(f"oncall_response.by_severity.{severity}: unknown severity (not in severity_scale).")
        problems += _spec_problems(spec, f"by_severity.{severity}")
    if "default" in block:
        problems += _spec_problems(block["default"], "default")
    return problems
