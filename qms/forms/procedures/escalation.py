"""The escalation ladder of an overdue item: after how long overdue each step is reached and whom it notifies
(``compliance.escalation``; a version without its own ladder reads the portal's, ``COMPLIANCE_POLICY``)."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import Section, roles_field
from qms.procedures.compliance import compliance_policy, parse_duration

_AFTER_HELP = (
    "How long overdue an item is when this step is reached: 0h, 30m, 24h or 3d; never sooner than the step before."
)


def _fields(definition: dict) -> dict:
    fields: dict = {}
    for step in compliance_policy(definition)["escalation"]:
        level, label = step.get("level"), step.get("label") or step.get("to")
        fields[f"escalation-{level}-after"] = forms.CharField(
            label=f"Step {level} ({label}): reached after",
            initial=step.get("after"),
            max_length=12,
            help_text=_AFTER_HELP,
        )
        if "roles" in step:
            fields[f"escalation-{level}-roles"] = roles_field(
                f"Step {level} ({label}): notifies",
                step["roles"],
                "Everyone active in the roles ticked is told of the overdue item.",
            )
        if "fallback_roles" in step:
            fields[f"escalation-{level}-fallback_roles"] = roles_field(
                f"Step {level} ({label}): otherwise notifies",
                step["fallback_roles"],
                "Used when nobody active holds the roles above; empty: nobody else.",
                required=False,
            )
    return fields


def _clean(data: dict, definition: dict) -> dict:
    errors, previous = {}, None
    for step in compliance_policy(definition)["escalation"]:
        name = f"escalation-{step.get('level')}-after"
        if not data.get(name):
            continue
        try:
            after = parse_duration(data[name])
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        if previous is not None and after < previous:
            errors[name] = "A later step cannot come sooner than the one before it."
        previous = after
    return errors


def _apply(new: dict, data: dict) -> None:
    steps = copy.deepcopy(compliance_policy(new)["escalation"])
    for step in steps:
        level = step.get("level")
        step["after"] = data[f"escalation-{level}-after"].strip().lower()
        for key in ("roles", "fallback_roles"):
            if key in step:
                step[key] = list(data[f"escalation-{level}-{key}"])
    # A version that reads the portal's ladder gets its own only when the form changes it.
    if steps != compliance_policy(new)["escalation"]:
        new["compliance"] = {**(new.get("compliance") or {}), "escalation": steps}


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[:2] == ["compliance", "escalation"] and len(parts) == 4:
        return f"escalation-{parts[2]}-{parts[3]}"
    return None


SECTION = Section(
    key="escalation",
    heading="Escalation of overdue items",
    intro="What happens when a clock runs out: each step of the ladder, how long overdue it starts, whom it tells.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
    clean=_clean,
)
