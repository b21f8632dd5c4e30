"""The change control board, for a procedure that has one: which process steps a CCB may waive and which it
never may (§15), and how soon it must decide (§7.2). The decision rule is shown, not edited: the engine
counts only a majority of more than half of the current votes."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, Section, number
from qms.procedures import ProcedureRules

_WAIVABLE, _NEVER = "waivable", "never"


def _ccb(definition: dict) -> dict:
    return ProcedureRules(definition).ccb if definition.get("ccb_required") else {}


def _fields(definition: dict) -> dict:
    ccb = _ccb(definition)
    if not ccb:
        return {}
    fields: dict = {}
    for kind, items in ((_WAIVABLE, ccb.get("waivable", [])), (_NEVER, ccb.get("not_waivable", []))):
        for item in items:
            fields[f"waiver-{item['code']}"] = forms.ChoiceField(
                label=item.get("label") or item["code"],
                choices=[(_WAIVABLE, "the CCB may waive it"), (_NEVER, "never waived")],
                initial=kind,
                widget=forms.RadioSelect,
                help_text="A waiver is granted only by a CCB gate that grants waivers, and recorded with the vote.",
            )
    window = ccb.get("decision_window") or {"amount": 1, "unit": "hours"}
    fields["ccb-decision_window-amount"] = forms.DecimalField(
        label="The CCB decides within",
        initial=window.get("amount"),
        max_digits=8,
        decimal_places=2,
        help_text="How long after a session is convened its decision is due (a positive number). "
        + (ccb.get("decision_rule") or {}).get("summary", ""),
    )
    fields["ccb-decision_window-unit"] = forms.ChoiceField(
        label="Decision window: unit", choices=UNIT_CHOICES, initial=window.get("unit")
    )
    return fields


def _apply(new: dict, data: dict) -> None:
    ccb = copy.deepcopy(_ccb(new))
    if not ccb:
        return
    items = ccb.get("waivable", []) + ccb.get("not_waivable", [])
    ccb["waivable"] = [i for i in items if data[f"waiver-{i['code']}"] == _WAIVABLE]
    ccb["not_waivable"] = [i for i in items if data[f"waiver-{i['code']}"] == _NEVER]
    ccb["decision_window"] = {
        **(ccb.get("decision_window") or {}),
        "amount": number(data["ccb-decision_window-amount"]),
        "unit": data["ccb-decision_window-unit"],
    }
    # A version that reads the preset's CCB gets its own block only when the form changes it.
    if "ccb" in new or ccb != _ccb(new):
        new["ccb"] = ccb


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[:2] == ["ccb", "decision_window"]:
        return f"ccb-decision_window-{parts[2] if len(parts) == 3 else 'amount'}"
    if parts[0] == "ccb" and len(parts) == 3 and parts[1] in ("waivable", "not_waivable"):
        return f"waiver-{parts[2]}"
    return None


SECTION = Section(
    key="ccb",
    heading="Change control board",
    intro="What the emergency CCB may waive, what it never may, and how soon it must decide.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
