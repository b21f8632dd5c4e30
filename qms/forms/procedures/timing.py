"""The draft editor's form: the rules most often adapted, each field explained, beside edit-as-YAML.

It edits a copy of the draft's definition and saves through ``procedure_draft_update`` like the YAML editor;
the validation's problems are put back on the field they name (``clocks.post_mortem.amount`` → that clock's
amount).
"""

from __future__ import annotations

import copy
from decimal import Decimal

from django import forms

from qms.procedures import LEVEL_ORDER, POST_MORTEM_APPROVERS_DEFAULT, ProcedureRules
from qms.procedures.validation import BASES, UNITS
from qms.roles import READ_ONLY_ROLES, Role

_APPROVER_CHOICES = [(r.value, r.label) for r in Role if r not in READ_ONLY_ROLES]


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class ProcedureRulesForm(forms.Form):
    def __init__(self, definition: dict, data=None):
        super().__init__(data)
        self.definition = definition
        self.fields["day_basis"] = forms.ChoiceField(
            label="Day basis",
            choices=[(b, f"{b.capitalize()} days") for b in BASES],
            initial=definition.get("day_basis"),
            help_text="How a clock counted in days counts them when it does not say: every day, or Monday–Friday.",
        )
        for clock in definition.get("clocks") or []:
            kind, label = clock.get("kind"), clock.get("label") or clock.get("kind")
            anchor = "resolution" if clock.get("anchor") == "resolved" else "declaration"
            self.fields[f"clock-{kind}-amount"] = forms.DecimalField(
                label=f"{label}: due after",
                initial=clock.get("amount"),
                max_digits=8,
                decimal_places=2,
                help_text=f"How long after the change's {anchor} the {label.lower()} is due (a positive number).",
            )
            self.fields[f"clock-{kind}-unit"] = forms.ChoiceField(
                label=f"{label}: unit", choices=[(u, u) for u in UNITS], initial=clock.get("unit")
            )
            self.fields[f"clock-{kind}-basis"] = forms.ChoiceField(
                label=f"{label}: days counted as",
                choices=[("", "the day basis above"), *[(b, f"{b} days") for b in BASES]],
                initial=clock.get("basis", ""),
                required=False,
                help_text="Only for a clock in days: calendar days or business days.",
            )
        self.fields["post_mortem_approvers"] = forms.MultipleChoiceField(
            label="Post-mortem approvers",
            choices=_APPROVER_CHOICES,
            initial=definition.get("post_mortem_approvers") or list(POST_MORTEM_APPROVERS_DEFAULT),
            widget=forms.CheckboxSelectMultiple,
            help_text="Who may approve a post-mortem; never its author, never a read-only role.",
        )
        for code, gate in ProcedureRules(definition).gate_catalogue.items():
            self.fields[f"gate-{code}-min_level"] = forms.ChoiceField(
                label=f"{gate['label']}: skippable from",
                choices=[(level, level) for level in LEVEL_ORDER],
                initial=gate.get("min_level"),
                help_text="The lowest bypass level (L1, L2, L3, E) that may skip this check; higher levels may too.",
            )

    def edited_definition(self) -> dict:
        """The draft's definition with this form's values (call after ``is_valid``)."""
        data = self.cleaned_data
        new = copy.deepcopy(self.definition)
        new["day_basis"] = data["day_basis"]
        for clock in new.get("clocks") or []:
            kind = clock.get("kind")
            clock["amount"] = _number(data[f"clock-{kind}-amount"])
            clock["unit"] = data[f"clock-{kind}-unit"]
            if data[f"clock-{kind}-basis"]:
                clock["basis"] = data[f"clock-{kind}-basis"]
            else:
                clock.pop("basis", None)
        new["post_mortem_approvers"] = list(data["post_mortem_approvers"])
        gates = copy.deepcopy(ProcedureRules(new).gate_catalogue)
        for code, gate in gates.items():
            gate["min_level"] = data[f"gate-{code}-min_level"]
        new["gates"] = gates
        return new

    def add_problems(self, problems: list[str]) -> None:
        """Put each problem of the validation on the field it names; the rest on the form."""
        for problem in problems:
            path = problem.split(":", 1)[0]
            parts = path.split(".")
            name = None
            if parts[0] == "clocks" and len(parts) == 3:
                name = f"clock-{parts[1]}-{parts[2]}"
            elif parts[0] == "clocks" and len(parts) == 2:
                name = f"clock-{parts[1]}-amount"
            elif parts[0] == "gates" and len(parts) == 3:
                name = f"gate-{parts[1]}-{parts[2]}"
            elif path in ("post_mortem_approvers", "day_basis"):
                name = path
            self.add_error(name if name in self.fields else None, problem)
