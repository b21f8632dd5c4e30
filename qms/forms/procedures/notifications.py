"""Who is told of what: the roles told when a bypass of each level becomes active, the facts each channel
audience receives (and those withheld from public and external channels per category), the internal list a
status update goes to and, for a procedure with a communication plan, how often a status update is due."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, ListField, Section, number, roles_field
from qms.procedures import ProcedureRules
from qms.procedures.schema import BYPASS_NOTIFY_DEFAULT, CATEGORY_CHOICES, CHANNEL_FACTS

_FACTS = list(CHANNEL_FACTS.items())
_AUDIENCES = {
    "public": "Public channels (anyone in the company may read them)",
    "responders": "Responder channels (the people working the emergency)",
    "external": "External contacts (customers, operators)",
    "person": "A person's own messages (Slack DM)",
}
_AFTER_PHASES = "after_phases"
_EVERY_ONE = {"minutes": "every minute", "hours": "hourly", "days": "daily"}


def _every(amount, unit: str) -> str:
    return _EVERY_ONE.get(unit, f"every {unit}") if amount == 1 else f"every {amount} {unit}"


def _cadence(definition: dict) -> dict:
    """The status-update intervals a communication plan sets: severity (or "after_phases") → {amount, unit}."""
    plan = ProcedureRules(definition).communication
    intervals = dict(plan.get("update_cadence") or {})
    if plan.get(_AFTER_PHASES):
        intervals[_AFTER_PHASES] = plan[_AFTER_PHASES]
    return intervals


def _fields(definition: dict) -> dict:
    fields: dict = {}
    for level, spec in (definition.get("bypass_levels") or {}).items():
        fields[f"notify-{level}"] = roles_field(
            f"{spec.get('label') or level}: told when a bypass is active",
            spec.get("notify", BYPASS_NOTIFY_DEFAULT),
            "Everyone active in the roles ticked is notified (email, and their Slack DM if they chose one) once "
            "all its signatures are in.",
        )
    block = ProcedureRules(definition).channel_fields
    for audience, facts in (block.get("audiences") or {}).items():
        fields[f"channels-audience-{audience}"] = ListField(
            label=f"{_AUDIENCES.get(audience, audience)}: receive",
            choices=_FACTS,
            initial=list(facts),
            widget=forms.CheckboxSelectMultiple,
            help_text="The facts of a record a message to this audience carries, in this order; the others are "
            "left out. At least one.",
        )
    withheld = block.get("withheld_in_public") or {}
    for category, label in CATEGORY_CHOICES:
        fields[f"channels-withheld-{category}"] = ListField(
            label=f"{label.split(' — ')[0]}: withheld from public and external channels",
            choices=_FACTS,
            initial=list(withheld.get(category, [])),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="Facts of a record of this category never sent to a public channel or an external contact, "
            "even where the audience receives them; empty: none withheld.",
        )
    fields["channels-internal_update_roles"] = roles_field(
        "Internal status updates go to",
        block.get("internal_update_roles", []),
        "Everyone active in the roles ticked gets each internal status update, besides the incident commander "
        "and the channels subscribed to status updates.",
        required=False,
    )
    labels = ProcedureRules(definition).severity_labels if definition.get("severity_scale") else {}
    for key, spec in _cadence(definition).items():
        name = "After phases 1–5" if key == _AFTER_PHASES else labels.get(key, key)
        fields[f"cadence-{key}-amount"] = forms.DecimalField(
            label=f"{name}: a status update every",
            initial=spec.get("amount"),
            max_digits=8,
            decimal_places=2,
            help_text=(
                "How often an internal status update is due once the change has left phases 1–5 (a positive number)."
                if key == _AFTER_PHASES
                else "How often an internal status update is due for a change of this severity during phases 1–5 "
                "(a positive number)."
            ),
        )
        fields[f"cadence-{key}-unit"] = forms.ChoiceField(
            label=f"{name}: unit", choices=UNIT_CHOICES, initial=spec.get("unit")
        )
    return fields


def _apply_channels(new: dict, data: dict) -> None:
    block = copy.deepcopy(ProcedureRules(new).channel_fields)
    for audience in block.get("audiences") or {}:
        block["audiences"][audience] = list(data[f"channels-audience-{audience}"])
    withheld = dict(block.get("withheld_in_public") or {})
    for category, _ in CATEGORY_CHOICES:
        facts = list(data[f"channels-withheld-{category}"])
        if facts:
            withheld[category] = facts
        else:
            withheld.pop(category, None)
    if withheld or "withheld_in_public" in block:
        block["withheld_in_public"] = withheld
    roles = list(data["channels-internal_update_roles"])
    if roles or "internal_update_roles" in block:
        block["internal_update_roles"] = roles
    # A version that reads the portal's channels block gets its own only when the form changes it.
    if "channels" in new or block != ProcedureRules(new).channel_fields:
        new["channels"] = block


def _apply_cadence(new: dict, data: dict) -> None:
    before = _cadence(new)
    if not before:
        return
    plan = copy.deepcopy(ProcedureRules(new).communication)
    for key, spec in before.items():
        amount, unit = number(data[f"cadence-{key}-amount"]), data[f"cadence-{key}-unit"]
        if (amount, unit) == (spec.get("amount"), spec.get("unit")):
            continue
        # The label says the interval in words ("hourly"): it follows the new interval.
        changed = {**spec, "amount": amount, "unit": unit, "label": _every(amount, unit)}
        if key == _AFTER_PHASES:
            plan[_AFTER_PHASES] = changed
        else:
            plan["update_cadence"][key] = changed
    if "communication" in new or plan != ProcedureRules(new).communication:
        new["communication"] = plan


def _apply(new: dict, data: dict) -> None:
    for level, spec in (new.get("bypass_levels") or {}).items():
        roles = list(data[f"notify-{level}"])
        if "notify" in spec or roles != list(BYPASS_NOTIFY_DEFAULT):
            spec["notify"] = roles
    _apply_channels(new, data)
    _apply_cadence(new, data)


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] == "bypass_levels" and len(parts) == 3 and parts[2] == "notify":
        return f"notify-{parts[1]}"
    if parts[0] == "channels" and len(parts) == 3 and parts[1] in ("audiences", "withheld_in_public"):
        return f"channels-{'audience' if parts[1] == 'audiences' else 'withheld'}-{parts[2]}"
    if path == "channels.internal_update_roles":
        return "channels-internal_update_roles"
    if parts[0] == "communication" and len(parts) >= 2:
        key, rest = (parts[2], parts[3:]) if parts[1] == "update_cadence" and len(parts) >= 3 else (parts[1], parts[2:])
        if key in _cadence(definition):
            return f"cadence-{key}-{rest[0] if rest else 'amount'}"
    return None


SECTION = Section(
    key="notifications",
    heading="Who is notified",
    intro="Who is told when a bypass becomes active, what each kind of channel may carry, where internal status "
    "updates go and how often they are due.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
