"""The change control board, for a procedure that has one: which roles must be represented and when (§7.1), who
else may sit, each decision gate's wording and who records Gate 1 (§14), which process steps a CCB may waive and
which it never may (§15), and how soon it must decide (§7.2). The decision rule is shown, not edited: the engine
counts only a majority of more than half of the current votes once every required role has voted."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, ListField, Section, number, roles_field
from qms.procedures import ProcedureRules
from qms.procedures.schema import INCIDENT_FLAGS
from qms.roles import Role

_WAIVABLE, _NEVER = "waivable", "never"
_NEW_SEAT_REASON = "always"


def _ccb(definition: dict) -> dict:
    return ProcedureRules(definition).ccb if definition.get("ccb_required") else {}


def _role_label(code: str) -> str:
    return Role(code).label if code in Role._value2member_map_ else code


def _seat_fields(definition: dict, ccb: dict) -> dict:
    seats = ccb.get("representation", [])
    fields: dict = {
        "ccb-representation": roles_field(
            "Roles that must be represented",
            [s.get("role") for s in seats],
            "A session decides only once a member in each role ticked (that applies to the change) has voted. "
            f"A role ticked anew is always required (reason “{_NEW_SEAT_REASON}”); save to set its reason and "
            "conditions below.",
        )
    }
    severities = [(s["code"], s.get("label") or s["code"]) for s in definition.get("severity_scale") or []]
    for seat in seats:
        role, name = seat.get("role"), _role_label(seat.get("role"))
        fields[f"ccb-seat-{role}-reason"] = forms.CharField(
            label=f"{name}: why represented",
            initial=seat.get("reason", ""),
            required=False,
            max_length=200,
            help_text="Shown beside the seat on the session page and in the invitation (e.g. “chair”, “always”).",
        )
        fields[f"ccb-seat-{role}-if"] = forms.ChoiceField(
            label=f"{name}: required only when",
            choices=[("", "always (every change)"), *INCIDENT_FLAGS.items()],
            initial=seat.get("if", ""),
            required=False,
            help_text="An incident flag the seat depends on; otherwise the role sits on every session.",
        )
        fields[f"ccb-seat-{role}-severities"] = ListField(
            label=f"{name}: required for severities",
            choices=severities,
            initial=list(seat.get("severities") or []),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="Empty: for a change of any severity.",
        )
    fields["ccb-member_roles"] = roles_field(
        "Roles that may also sit and vote",
        ccb.get("member_roles", []),
        "Besides the required roles, who may be invited to a session; each member's latest signed vote counts once.",
        required=False,
    )
    return fields


def _gate_fields(ccb: dict) -> dict:
    fields: dict = {}
    for gate in ccb.get("gates", []):
        code, name = gate["code"], gate.get("label") or gate["code"]
        fields[f"ccb-gate-{code}-label"] = forms.CharField(
            label=f"{name}: name",
            initial=gate.get("label"),
            max_length=200,
            help_text="How the gate is named on the change, in the invitation and in the audit trail; "
            "“Gate n: …” by convention.",
        )
        fields[f"ccb-gate-{code}-question"] = forms.CharField(
            label=f"{name}: question",
            initial=gate.get("question", ""),
            required=False,
            max_length=300,
            help_text="What the gate decides, asked in the session's invitation and on its page.",
        )
        if not gate.get("session"):
            fields[f"ccb-gate-{code}-roles"] = roles_field(
                f"{name}: recorded by",
                gate.get("roles", []),
                "This gate is recorded by one person, who signs in one of the roles ticked; the session gates are "
                "voted on by the members above.",
            )
    return fields


def _fields(definition: dict) -> dict:
    ccb = _ccb(definition)
    if not ccb:
        return {}
    fields: dict = {**_seat_fields(definition, ccb), **_gate_fields(ccb)}
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


def _set(spec: dict, key: str, value) -> None:
    """Write a value the form gives; a key the definition did not carry only when it is given."""
    if value or key in spec:
        spec[key] = value
    if not value and key in ("if", "severities"):
        spec.pop(key, None)


def _apply_seats(ccb: dict, data: dict) -> None:
    old = {s.get("role"): s for s in ccb.get("representation", [])}
    seats = []
    for role in data["ccb-representation"]:
        if role not in old:
            seats.append({"role": role, "reason": _NEW_SEAT_REASON})
            continue
        seat = old[role]
        _set(seat, "reason", data[f"ccb-seat-{role}-reason"].strip())
        _set(seat, "if", data[f"ccb-seat-{role}-if"])
        _set(seat, "severities", list(data[f"ccb-seat-{role}-severities"]))
        seats.append(seat)
    ccb["representation"] = seats
    members = list(data["ccb-member_roles"])
    if members or "member_roles" in ccb:
        ccb["member_roles"] = members
    for gate in ccb.get("gates", []):
        code = gate["code"]
        gate["label"] = data[f"ccb-gate-{code}-label"].strip()
        _set(gate, "question", data[f"ccb-gate-{code}-question"].strip())
        if f"ccb-gate-{code}-roles" in data:
            gate["roles"] = list(data[f"ccb-gate-{code}-roles"])


def _apply(new: dict, data: dict) -> None:
    ccb = copy.deepcopy(_ccb(new))
    if not ccb:
        return
    _apply_seats(ccb, data)
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
    if parts[0] != "ccb" or len(parts) < 2:
        return None
    if parts[1] == "decision_window":
        return f"ccb-decision_window-{parts[2] if len(parts) == 3 else 'amount'}"
    if len(parts) == 3 and parts[1] in ("waivable", "not_waivable"):
        return f"waiver-{parts[2]}"
    if parts[1] == "representation":
        return f"ccb-seat-{parts[2]}-{parts[3]}" if len(parts) == 4 else "ccb-representation"
    if parts[1] == "member_roles":
        return "ccb-member_roles"
    if parts[1] == "gates" and len(parts) == 4:
        return f"ccb-gate-{parts[2]}-{parts[3]}"
    return None


SECTION = Section(
    key="ccb",
    heading="Change control board",
    intro="Who must sit on the emergency CCB and when, who records or votes at each gate, what the CCB may "
    "waive, what it never may, and how soon it must decide.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
