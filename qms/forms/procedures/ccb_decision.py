"""Who runs and decides a CCB session, for a procedure that has a CCB (CM-WF-EMERGENCY §7.2): the chair's role,
who may convene a session, who records the decision (the chair, or a role, per severity) and the outcome when
the votes give no majority. How the votes are counted is shown, not edited: the engine counts one rule, every
required role voted and then more than half of the current votes."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import ROLE_CHOICES, Section, roles_field
from qms.procedures import ProcedureRules

_CHAIR = "chair"
_DECIDER_CHOICES = [(_CHAIR, "The chair"), *ROLE_CHOICES]


def _ccb(definition: dict) -> dict:
    return ProcedureRules(definition).ccb if definition.get("ccb_required") else {}


def _fields(definition: dict) -> dict:
    ccb = _ccb(definition)
    if not ccb:
        return {}
    decider = ccb.get("decider") or {}
    rule = ccb.get("decision_rule") or {}
    fields: dict = {
        "ccb-chair_role": forms.ChoiceField(
            label="The chair's role",
            choices=ROLE_CHOICES,
            initial=ccb.get("chair_role", "cm"),
            help_text="The member in this role chairs a session; “the chair” below means them.",
        ),
        "ccb-convener_roles": roles_field(
            "Who may convene a session",
            ccb.get("convener_roles", ["cm"]),
            "They open an emergency CCB session for a gate and invite its members.",
        ),
        "ccb-decider-default": forms.ChoiceField(
            label="Who records the decision",
            choices=_DECIDER_CHOICES,
            initial=decider.get("default", _CHAIR),
            help_text="The member who records the outcome the votes give, with a reason.",
        ),
    }
    by_severity = decider.get("by_severity") or {}
    for level in definition.get("severity_scale") or []:
        code = level["code"]
        fields[f"ccb-decider-{code}"] = forms.ChoiceField(
            label=f"Who records the decision for {level.get('label') or code}",
            choices=[("", "As above"), *_DECIDER_CHOICES],
            initial=by_severity.get(code, ""),
            required=False,
            help_text="For a change of this severity only (e.g. the program manager for a critical one).",
        )
    choices = ProcedureRules(definition).ccb_vote_choices
    fields["ccb-decision-otherwise"] = forms.ChoiceField(
        label="The outcome when no choice has more than half of the votes",
        choices=list(choices.items()),
        initial=rule.get("otherwise"),
        help_text=rule.get("summary") or "A split or a tie gives this outcome.",
    )
    return fields


def _apply(new: dict, data: dict) -> None:
    ccb = copy.deepcopy(_ccb(new))
    if not ccb or "ccb-chair_role" not in data:
        return
    scale = [level["code"] for level in new.get("severity_scale") or []]
    for key, value, default in (
        ("chair_role", data["ccb-chair_role"], "cm"),
        ("convener_roles", list(data["ccb-convener_roles"]), ["cm"]),
    ):
        if key in ccb or value != default:
            ccb[key] = value
    decider = dict(ccb.get("decider") or {})
    # A severity no longer on the scale keeps what it had (the form does not show it).
    by_severity = {k: v for k, v in (decider.get("by_severity") or {}).items() if k not in scale}
    by_severity |= {code: data[f"ccb-decider-{code}"] for code in scale if data.get(f"ccb-decider-{code}")}
    decider["default"] = data["ccb-decider-default"]
    if by_severity or "by_severity" in decider:
        decider["by_severity"] = by_severity
    if "decider" in ccb or decider != {"default": _CHAIR}:
        ccb["decider"] = decider
    rule = ccb.get("decision_rule")
    if rule is not None or data["ccb-decision-otherwise"]:
        ccb["decision_rule"] = {**(rule or {}), "otherwise": data["ccb-decision-otherwise"]}
    # A version that reads the preset's CCB gets its own block only when the form changes it.
    if "ccb" in new or ccb != _ccb(new):
        new["ccb"] = ccb


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[:1] != ["ccb"] or len(parts) < 2:
        return None
    if parts[1] in ("chair_role", "convener_roles"):
        return f"ccb-{parts[1]}"
    if parts[1] == "decider":
        return f"ccb-decider-{parts[3]}" if parts[2:3] == ["by_severity"] and len(parts) == 4 else "ccb-decider-default"
    if parts[1:3] == ["decision_rule", "otherwise"]:
        return "ccb-decision-otherwise"
    return None


SECTION = Section(
    key="ccb_decision",
    heading="Who chairs and decides the CCB",
    intro="The chair, who may convene a session, who records its decision, and the outcome when the votes split.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
