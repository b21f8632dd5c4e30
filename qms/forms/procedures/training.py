"""Certifications per role (the ``training`` block, for a procedure that has one): how long each course's
certificate is valid, which courses a signer in each role must hold, and whether an emergency signature may
go ahead as a recorded deviation without them."""

from __future__ import annotations

from django import forms

from qms.forms.procedures.base import ROLE_CHOICES, ListField, Section


def _fields(definition: dict) -> dict:
    block = definition.get("training")
    if not isinstance(block, dict) or not isinstance(block.get("courses"), dict):
        return {}
    courses = block["courses"]
    fields: dict = {}
    for code, course in courses.items():
        fields[f"course-{code}-validity_months"] = forms.IntegerField(
            label=f"{course.get('label') or code}: valid for (months)",
            initial=course.get("validity_months"),
            min_value=1,
            max_value=60,
            help_text="How long a certificate of this course counts after it was earned: 1 to 60 months.",
        )
    required = block.get("role_certifications") or {}
    choices = [(code, course.get("label") or code) for code, course in courses.items()]
    for role, label in ROLE_CHOICES:
        fields[f"certifications-{role}"] = ListField(
            label=f"{label}: must hold",
            choices=choices,
            initial=list(required.get(role, [])),
            required=False,
            widget=forms.CheckboxSelectMultiple,
            help_text="A person signing in this role needs a valid certificate of each course ticked; "
            "empty: no certification needed.",
        )
    fields["training-deviation_allowed_in_emergency"] = forms.BooleanField(
        label="In an emergency, an uncertified signer may still sign",
        initial=bool(block.get("deviation_allowed_in_emergency")),
        required=False,
        help_text="The signature then records the deviation, a finding is raised and the QMS coordinators are "
        "told. Unticked: the signature is refused.",
    )
    return fields


def _apply(new: dict, data: dict) -> None:
    block = new.get("training")
    if not isinstance(block, dict) or not isinstance(block.get("courses"), dict):
        return
    for code, course in block["courses"].items():
        course["validity_months"] = data[f"course-{code}-validity_months"]
    required = dict(block.get("role_certifications") or {})
    for role, _ in ROLE_CHOICES:
        codes = list(data[f"certifications-{role}"])
        if codes:
            required[role] = codes
        else:
            required.pop(role, None)
    block["role_certifications"] = required
    allowed = data["training-deviation_allowed_in_emergency"]
    if allowed or "deviation_allowed_in_emergency" in block:
        block["deviation_allowed_in_emergency"] = allowed


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[:2] == ["training", "courses"] and len(parts) == 4:
        return f"course-{parts[2]}-{parts[3]}"
    if parts[:2] == ["training", "role_certifications"] and len(parts) == 3:
        return f"certifications-{parts[2]}"
    return None


SECTION = Section(
    key="training",
    heading="Certifications per role",
    intro="Which training a person must hold, and keep current, to sign in each role.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
