"""What the sections of the procedure rules form share: the role choices, numbers as a definition writes them,
the "remove" checkbox of an entry and the "add" row of a list (ignored when left blank), and a section's shape
(its heading, its fields, how it writes them into a copy of the definition and which of its fields a validation
problem names)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.core.validators import RegexValidator

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


def code_field(label: str, help_text: str) -> forms.CharField:
    """The code of a new entry of a list (a severity level, a training course): letters, digits and _."""
    return forms.CharField(
        label=label,
        required=False,
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9_]+$", "Letters, digits and _ only, no spaces.")],
        help_text=help_text,
    )


def remove_field(label: str, help_text: str) -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False, help_text=help_text)


def removed(data: dict, prefix: str, codes) -> list[str]:
    """The entries whose "remove" checkbox (``<prefix>-<code>-remove``) is ticked."""
    return [code for code in codes if data.get(f"{prefix}-{code}-remove")]


def add_row(data: dict, prefix: str, required: tuple[str, ...]) -> tuple[bool, dict]:
    """Whether the add row ``<prefix>-<name>`` was filled in (any of ``required`` given; all blank: ignored),
    and {field: error} for each of ``required`` it then leaves blank."""
    values = {name: data.get(f"{prefix}-{name}") for name in required}
    given = any(v not in (None, "", []) for v in values.values())
    errors = {
        f"{prefix}-{n}": "Needed to add one (or leave this row empty)."
        for n, v in values.items()
        if given and v in (None, "")
    }
    return given, errors


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
