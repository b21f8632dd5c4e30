"""The clocks section: the day basis and each clock's deadline (amount, unit, how days are counted)."""

from __future__ import annotations

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, Section, number
from qms.procedures.validation import BASES


def _fields(definition: dict) -> dict:
    fields = {
        "day_basis": forms.ChoiceField(
            label="Day basis",
            choices=[(b, f"{b.capitalize()} days") for b in BASES],
            initial=definition.get("day_basis"),
            help_text="How a clock counted in days counts them when it does not say: every day, or Monday–Friday.",
        )
    }
    for clock in definition.get("clocks") or []:
        kind, label = clock.get("kind"), clock.get("label") or clock.get("kind")
        anchor = "resolution" if clock.get("anchor") == "resolved" else "declaration"
        fields[f"clock-{kind}-amount"] = forms.DecimalField(
            label=f"{label}: due after",
            initial=clock.get("amount"),
            max_digits=8,
            decimal_places=2,
            help_text=f"How long after the change's {anchor} the {label.lower()} is due (a positive number).",
        )
        fields[f"clock-{kind}-unit"] = forms.ChoiceField(
            label=f"{label}: unit", choices=UNIT_CHOICES, initial=clock.get("unit")
        )
        fields[f"clock-{kind}-basis"] = forms.ChoiceField(
            label=f"{label}: days counted as",
            choices=[("", "the day basis above"), *[(b, f"{b} days") for b in BASES]],
            initial=clock.get("basis", ""),
            required=False,
            help_text="Only for a clock in days: calendar days or business days.",
        )
    return fields


def _apply(new: dict, data: dict) -> None:
    new["day_basis"] = data["day_basis"]
    for clock in new.get("clocks") or []:
        kind = clock.get("kind")
        clock["amount"] = number(data[f"clock-{kind}-amount"])
        clock["unit"] = data[f"clock-{kind}-unit"]
        if data[f"clock-{kind}-basis"]:
            clock["basis"] = data[f"clock-{kind}-basis"]
        else:
            clock.pop("basis", None)


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] == "clocks" and len(parts) == 3:
        return f"clock-{parts[1]}-{parts[2]}"
    if parts[0] == "clocks" and len(parts) == 2:
        return f"clock-{parts[1]}-amount"
    return "day_basis" if path == "day_basis" else None


SECTION = Section(
    key="clocks",
    heading="Clocks",
    intro="Every deadline the portal tracks on a change: when it starts, how long it runs.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
