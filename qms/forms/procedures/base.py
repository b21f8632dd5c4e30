"""What the sections of the procedure rules form share: the role choices, numbers as a definition writes them,
and a section's shape (its heading, its fields, how it writes them into a copy of the definition and which of
its fields a validation problem names)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django import forms

from qms.procedures.validation import UNITS
from qms.roles import READ_ONLY_ROLES, Role

ROLE_CHOICES = [(r.value, r.label) for r in Role if r not in READ_ONLY_ROLES]
UNIT_CHOICES = [(u, u) for u in UNITS]


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class ListField(forms.MultipleChoiceField):
    """A list of the definition edited as checkboxes. A checkbox list posts its values in the order of its
    choices; the definition's own order is kept instead (the values it had, in its order, then the ones
    ticked anew), so that saving a list nobody touched leaves the definition and its diff unchanged."""

    def clean(self, value):
        chosen = super().clean(value)
        before = [v for v in (self.initial or []) if v in chosen]
        return before + [v for v in chosen if v not in before]


def roles_field(label: str, initial, help_text: str, *, required: bool = True) -> forms.MultipleChoiceField:
    return ListField(
        label=label,
        choices=ROLE_CHOICES,
        initial=list(initial or []),
        required=required,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


@dataclass(frozen=True)
class Section:
    """One fieldset of the form.

    ``fields(definition)`` returns the section's fields in page order (an empty dict hides the section),
    ``apply(new, data)`` writes the cleaned values into ``new`` (a copy of the definition), and
    ``field_for(path, definition)`` names the field a validation problem at ``path`` belongs to (or None);
    ``clean(form_data, definition)``, when given, returns {field: error} for what the section checks itself.
    """

    key: str
    heading: str
    intro: str
    fields: Callable[[dict], dict]
    apply: Callable[[dict, dict], None]
    field_for: Callable[[str, dict], str | None]
    clean: Callable[[dict, dict], dict] | None = None
