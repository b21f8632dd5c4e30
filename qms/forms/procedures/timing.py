"""The clocks section: the day basis and each clock's deadline (amount, unit, how days are counted); a clock is
removed by its checkbox and added through the empty row at the end (a kind of clock the portal tracks that the
procedure does not have yet)."""

from __future__ import annotations

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, ListField, Section, add_row, number, remove_field, removed
from qms.procedures.schema import CLOCK_EVENTS, CLOCK_KINDS
from qms.procedures.validation import BASES

_NEW = "clock_new"
_REQUIRED = ("kind", "label", "amount", "unit")
_BASIS_CHOICES = [("", "the day basis above"), *[(b, f"{b} days") for b in BASES]]
_DEFAULTS = {"owner": "author", "anchor": "declared"}


def _kinds(definition: dict) -> list[str]:
    return [clock.get("kind") for clock in definition.get("clocks") or []]


def _new_clock_fields(definition: dict) -> dict:
    free = [k for k in CLOCK_KINDS if k not in _kinds(definition)]
    if not free:
        return {}
    return {
        f"{_NEW}-kind": forms.ChoiceField(
            label="Add a clock: kind",
            choices=[("", "—"), *[(k, k.replace("_", " ")) for k in free]],
            required=False,
            help_text="One of the clocks the portal tracks on a change that this procedure has not got yet. "
            "Leave this row empty to add none.",
        ),
        f"{_NEW}-label": forms.CharField(
            label="Add a clock: name", required=False, max_length=200, help_text="How the clock is shown."
        ),
        f"{_NEW}-amount": forms.DecimalField(
            label="Add a clock: due after",
            required=False,
            max_digits=8,
            decimal_places=2,
            help_text="How long after its start the clock is due (a positive number).",
        ),
        f"{_NEW}-unit": forms.ChoiceField(
            label="Add a clock: unit", choices=[("", "—"), *UNIT_CHOICES], required=False
        ),
        f"{_NEW}-basis": forms.ChoiceField(
            label="Add a clock: days counted as", choices=_BASIS_CHOICES, required=False
        ),
        f"{_NEW}-owner": forms.ChoiceField(
            label="Add a clock: owner",
            choices=[("author", "the change's author"), ("commander", "the incident commander")],
            initial="author",
            required=False,
            help_text="Who is told when it is due and answers for it.",
        ),
        f"{_NEW}-anchor": forms.ChoiceField(
            label="Add a clock: starts at",
            choices=[("declared", "the change's declaration"), ("resolved", "the change's resolution")],
            initial="declared",
            required=False,
        ),
        f"{_NEW}-satisfied_on": ListField(
            label="Add a clock: met by",
            choices=list(CLOCK_EVENTS.items()),
            initial=[],
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="The events of the change that stop the clock.",
        ),
    }


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
            choices=_BASIS_CHOICES,
            initial=clock.get("basis", ""),
            required=False,
            help_text="Only for a clock in days: calendar days or business days.",
        )
        fields[f"clock-{kind}-remove"] = remove_field(
            f"Remove the {label.lower()} clock",
            "Ticked: a change filed under this version no longer gets this clock.",
        )
    fields.update(_new_clock_fields(definition))
    return fields


def _clean(data: dict, definition: dict) -> dict:
    return add_row(data, _NEW, _REQUIRED)[1]


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
    gone = removed(data, "clock", _kinds(new))
    new["clocks"] = [clock for clock in new.get("clocks") or [] if clock.get("kind") not in gone]
    if add_row(data, _NEW, _REQUIRED)[0]:
        clock = {name: data[f"{_NEW}-{name}"] for name in _REQUIRED}
        clock["label"], clock["amount"] = clock["label"].strip(), number(clock["amount"])
        for name in ("basis", "owner", "anchor"):
            if data.get(f"{_NEW}-{name}") and data[f"{_NEW}-{name}"] != _DEFAULTS.get(name):
                clock[name] = data[f"{_NEW}-{name}"]
        clock["satisfied_on"] = list(data.get(f"{_NEW}-satisfied_on") or [])
        new["clocks"].append(clock)


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] == "clocks" and len(parts) in (2, 3) and parts[1] not in _kinds(definition):
        return f"{_NEW}-{parts[2] if len(parts) == 3 else 'amount'}"
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
    clean=_clean,
)
