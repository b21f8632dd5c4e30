"""The on-call response times: how long the on-call primary has to acknowledge a page before the backup is paged,
per severity of the scale and otherwise (``oncall_response``; a version without the block reads the portal's,
``qms.roster.response.DEFAULT_RESPONSE``: CM-WF-EMERGENCY §13.2, critical 1 h, high 2 h)."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import Section, number
from qms.roster.response import DEFAULT_RESPONSE, UNITS

_UNIT_CHOICES = [(u, u) for u in UNITS]
_HELP = "A positive number, at most 72 hours in all."


def _block(definition: dict) -> dict:
    return definition.get("oncall_response") or DEFAULT_RESPONSE


def _severities(definition: dict) -> list[tuple[str, str]]:
    return [(s["code"], s.get("label") or s["code"]) for s in definition.get("severity_scale") or [] if s.get("code")]


def _pair(prefix: str, label: str, spec: dict | None, *, required: bool, help_text: str) -> dict:
    return {
        f"{prefix}-amount": forms.DecimalField(
            label=label,
            initial=(spec or {}).get("amount"),
            required=required,
            min_value=0,
            max_digits=6,
            decimal_places=2,
            help_text=help_text,
        ),
        f"{prefix}-unit": forms.ChoiceField(
            label=f"{label}: unit", choices=_UNIT_CHOICES, initial=(spec or {}).get("unit") or "hours"
        ),
    }


def _fields(definition: dict) -> dict:
    block = _block(definition)
    by_severity = block.get("by_severity") or {}
    fields: dict = {}
    for code, label in _severities(definition):
        fields |= _pair(
            f"oncall-{code}",
            f"A page about a {label} record is acknowledged within",
            by_severity.get(code),
            required=False,
            help_text=f"{_HELP} Empty: the time below.",
        )
    fields |= _pair(
        "oncall-default",
        "Any other page is acknowledged within",
        block.get("default"),
        required=True,
        help_text=f"{_HELP} After it the backup is paged.",
    )
    return fields


def _apply(new: dict, data: dict) -> None:
    old = _block(new)
    scale = [code for code, _ in _severities(new)]
    own = "oncall_response" in new
    block = copy.deepcopy(old)
    # What the form does not show (a severity no longer on the scale) stays as it was in the version's own block.
    block["by_severity"] = {k: v for k, v in (old.get("by_severity") or {}).items() if own and k not in scale}
    for code in scale:
        amount = data.get(f"oncall-{code}-amount")
        if amount is not None:
            block["by_severity"][code] = {"amount": number(amount), "unit": data[f"oncall-{code}-unit"]}
    block["default"] = {"amount": number(data["oncall-default-amount"]), "unit": data["oncall-default-unit"]}
    # A version that reads the portal's response times gets its own block only when the form changes them.
    shown = {**old, "by_severity": {k: v for k, v in (old.get("by_severity") or {}).items() if k in scale}}
    if own or block != shown:
        new["oncall_response"] = block


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] != "oncall_response":
        return None
    if parts[1:2] == ["default"]:
        return "oncall-default-amount"
    if parts[1:2] == ["by_severity"] and len(parts) >= 3:
        return f"oncall-{parts[2]}-amount"
    return None


SECTION = Section(
    key="oncall",
    heading="On-call response times",
    intro="How long the on-call primary has to acknowledge a page before the backup is paged.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
