"""Certifications per role (the ``training`` block, for a procedure that has one): how long each course's
certificate is valid, which courses a signer in each role must hold, and whether an emergency signature may
go ahead as a recorded deviation without them. A course is added through the empty row after the courses and
removed by its checkbox, which also takes it off every role that had to hold it (at least one course stays)."""

from __future__ import annotations

from django import forms

from qms.forms.procedures.base import ROLE_CHOICES, ListField, Section, add_row, code_field, remove_field, removed

_NEW = "course_new"
_REQUIRED = ("code", "label", "validity_months")


def _courses(definition: dict) -> dict | None:
    block = definition.get("training")
    return block["courses"] if isinstance(block, dict) and isinstance(block.get("courses"), dict) else None


def _validity(label: str, initial, *, required: bool = True) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        initial=initial,
        min_value=1,
        max_value=60,
        required=required,
        help_text="How long a certificate of this course counts after it was earned: 1 to 60 months.",
    )


def _fields(definition: dict) -> dict:
    courses = _courses(definition)
    if courses is None:
        return {}
    block = definition["training"]
    fields: dict = {}
    for code, course in courses.items():
        label = course.get("label") or code
        fields[f"course-{code}-validity_months"] = _validity(
            f"{label}: valid for (months)", course.get("validity_months")
        )
        fields[f"course-{code}-remove"] = remove_field(
            f"Remove the course {label}",
            "Ticked: the course leaves the procedure, and no role has to hold it any more.",
        )
    fields[f"{_NEW}-code"] = code_field(
        "Add a course: code",
        "The code training records are kept under (letters, digits and _). Leave this row empty to add none.",
    )
    fields[f"{_NEW}-label"] = forms.CharField(
        label="Add a course: name", required=False, max_length=200, help_text="How the course is shown."
    )
    fields[f"{_NEW}-validity_months"] = _validity("Add a course: valid for (months)", None, required=False)
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


def _clean(data: dict, definition: dict) -> dict:
    courses = _courses(definition)
    if courses is None:
        return {}
    given, errors = add_row(data, _NEW, _REQUIRED)
    if data.get(f"{_NEW}-code") in courses:
        errors[f"{_NEW}-code"] = f"There is already a course {data[f'{_NEW}-code']}."
    gone = removed(data, "course", courses)
    if gone and len(gone) == len(courses) and not given:
        errors[f"course-{gone[0]}-remove"] = "At least one course must stay; add another one before removing it."
    return errors


def _apply(new: dict, data: dict) -> None:
    courses = _courses(new)
    if courses is None:
        return
    block = new["training"]
    for code, course in courses.items():
        course["validity_months"] = data[f"course-{code}-validity_months"]
    gone = removed(data, "course", courses)
    for code in gone:
        del courses[code]
    if add_row(data, _NEW, _REQUIRED)[0]:
        courses[data[f"{_NEW}-code"]] = {
            "label": data[f"{_NEW}-label"].strip(),
            "validity_months": data[f"{_NEW}-validity_months"],
        }
    required = dict(block.get("role_certifications") or {})
    for role in [r for r, _ in ROLE_CHOICES] + [r for r, codes in required.items() if set(codes) & set(gone)]:
        # A removed course is no longer required of anyone (a role left with none needs no certification).
        name = f"certifications-{role}"
        codes = [c for c in (data[name] if name in data else required.get(role, [])) if c not in gone]
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
    if parts[:2] == ["training", "courses"] and len(parts) in (3, 4) and parts[2] not in (_courses(definition) or {}):
        return f"{_NEW}-{parts[3] if len(parts) == 4 else 'label'}"
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
    clean=_clean,
)
