"""The severity section: each level's label, the severity each category files as, a clock's deadline per
severity (where the clock has one) and the emergency criteria (which categories qualify, the CVSS minimums).

A level is added through the empty row after the scale and removed by its checkbox. Removing a level removes
what was set for it alone (each clock's deadline for it, its severity class, its on-call response time); it is
refused while a category still files as it, while it is the last level, or while the CCB or the communication
plan names it (those are edited as YAML)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from qms.forms.procedures.base import (
    UNIT_CHOICES,
    ListField,
    Section,
    add_row,
    code_field,
    number,
    remove_field,
    removed,
)
from qms.procedures import ProcedureRules
from qms.procedures.schema import CATEGORY_CHOICES, CATEGORY_LABELS

_CATEGORIES = [(code, label.split(" — ")[0]) for code, label in CATEGORY_CHOICES]
_CVSS_HELP = "A CVSS base score from 0.0 to 10.0, one decimal."
_NEW = "severity_new"


def _short(category: str) -> str:
    return CATEGORY_LABELS.get(category, category).split(" — ")[0]


def _cvss(label: str, initial, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        initial=initial,
        min_value=Decimal("0"),
        max_value=Decimal("10"),
        max_digits=3,
        decimal_places=1,
        help_text=f"{help_text} {_CVSS_HELP}",
    )


def _fields(definition: dict) -> dict:
    fields: dict = {}
    scale = definition.get("severity_scale") or []
    for level in scale:
        fields[f"severity-{level['code']}-label"] = forms.CharField(
            label=f"Severity {level['code']}: name",
            initial=level.get("label"),
            max_length=200,
            help_text="How this level is shown on changes, reports and notifications; its code stays as it is.",
        )
        fields[f"severity-{level['code']}-remove"] = remove_field(
            f"Remove severity {level['code']}",
            "Ticked: the level leaves the scale, with each clock's deadline, severity class and on-call response "
            "time set for it. No category may still file as it.",
        )
    fields[f"{_NEW}-code"] = code_field(
        "Add a severity level: code",
        "The code changes and reports carry (letters, digits and _, e.g. S5). Leave this row empty to add none.",
    )
    fields[f"{_NEW}-label"] = forms.CharField(
        label="Add a severity level: name",
        required=False,
        max_length=200,
        help_text="How the new level is shown. It comes last in the scale.",
    )
    codes = [(level["code"], level.get("label") or level["code"]) for level in scale]
    for category, severity in (definition.get("category_severity") or {}).items():
        fields[f"category_severity-{category}"] = forms.ChoiceField(
            label=f"{_short(category)}: files as",
            choices=codes,
            initial=severity,
            help_text="The severity a stub of this category starts with; the incident commander may change it.",
        )
    for clock in definition.get("clocks") or []:
        if "by_severity" not in clock:
            continue
        kind, label = clock["kind"], clock.get("label") or clock["kind"]
        for code, _ in codes:
            override = clock["by_severity"].get(code) or {}
            fields[f"clock-{kind}-severity-{code}-amount"] = forms.DecimalField(
                label=f"{label} for {code}: due after",
                initial=override.get("amount"),
                required=False,
                max_digits=8,
                decimal_places=2,
                help_text=f"Empty: the {label.lower()} clock's own deadline "
                f"({clock.get('amount')} {clock.get('unit')}).",
            )
            fields[f"clock-{kind}-severity-{code}-unit"] = forms.ChoiceField(
                label=f"{label} for {code}: unit",
                choices=[("", "—"), *UNIT_CHOICES],
                initial=override.get("unit", ""),
                required=False,
            )
    criteria = definition.get("emergency_criteria") or {}
    fields["emergency-categories"] = ListField(
        label="Categories that qualify for the emergency bypass",
        choices=_CATEGORIES,
        initial=criteria.get("categories", []),
        widget=forms.CheckboxSelectMultiple,
        help_text="A stub of any other category is refused (EMG-E002) and sent to the standard gate process. "
        "Each category ticked needs its stub authorisers.",
    )
    fields["emergency-cvss_required_for"] = ListField(
        label="Categories that must give a CVSS score",
        choices=_CATEGORIES,
        initial=criteria.get("cvss_required_for", []),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="A stub of these categories is refused without a CVSS score, or with one below the minimum.",
    )
    fields["emergency-cvss_emergency_min"] = _cvss(
        "CVSS minimum for an emergency", criteria.get("cvss_emergency_min"), "A lower score is not an emergency."
    )
    fields["emergency-cvss_expedited_min"] = _cvss(
        "CVSS minimum for the expedited path",
        criteria.get("cvss_expedited_min"),
        "From this score up to the emergency minimum, the stub is sent to the expedited path; below it, to the "
        "standard gates. At most the emergency minimum.",
    )
    fields["emergency-expedited_path"] = forms.CharField(
        label="Expedited path",
        initial=criteria.get("expedited_path", ""),
        max_length=200,
        help_text="What a refused stub with a high, not critical, score is told to use instead.",
    )
    return fields


def _named_elsewhere(definition: dict, code: str) -> list[str]:
    """Where the CCB or the communication plan names a level (the form leaves those to the YAML editor)."""
    ccb = ProcedureRules(definition).ccb if definition.get("ccb_required") else {}
    places = {
        "ccb.representation": any(code in (seat.get("severities") or []) for seat in ccb.get("representation", [])),
        "ccb.decider.by_severity": code in (ccb.get("decider") or {}).get("by_severity", {}),
        "ccb.severity_criteria": code in ccb.get("severity_criteria", {}),
        "communication.update_cadence": code in ((definition.get("communication") or {}).get("update_cadence") or {}),
    }
    return [place for place, named in places.items() if named]


def _scale_errors(data: dict, definition: dict) -> dict:
    """The refusals of adding or removing a level, on the field that asked for it."""
    scale = [level["code"] for level in definition.get("severity_scale") or []]
    errors = add_row(data, _NEW, ("code", "label"))[1]
    new_code = data.get(f"{_NEW}-code")
    if new_code in scale:
        errors[f"{_NEW}-code"] = f"The scale already has a level {new_code}."
    gone = removed(data, "severity", scale)
    if gone and len(gone) == len(scale) and not new_code:
        errors[f"severity-{gone[0]}-remove"] = "At least one severity level must stay."
    for code in gone:
        filing = [
            _short(category)
            for category in definition.get("category_severity") or {}
            if data.get(f"category_severity-{category}") == code
        ]
        elsewhere = _named_elsewhere(definition, code)
        if filing:
            errors[f"severity-{code}-remove"] = (
                f"{', '.join(filing)} still file{'s' if len(filing) == 1 else ''} as {code}: choose another "
                "severity in “files as” first (in this save or an earlier one)."
            )
        elif elsewhere:
            errors[f"severity-{code}-remove"] = (
                f"{code} is named in {', '.join(elsewhere)}: edit those as YAML first, then remove the level."
            )
    return errors


def _clean(data: dict, definition: dict) -> dict:
    errors = _scale_errors(data, definition)
    clocks = [c for c in definition.get("clocks") or [] if "by_severity" in c]
    for clock in clocks:
        for level in definition.get("severity_scale") or []:
            name = f"clock-{clock['kind']}-severity-{level['code']}"
            amount, unit = data.get(f"{name}-amount"), data.get(f"{name}-unit")
            if amount is not None and not unit:
                errors[f"{name}-unit"] = "Give the unit of this deadline (minutes, hours or days)."
            elif amount is None and unit:
                errors[f"{name}-amount"] = "Give the amount, or leave the unit empty to use the clock's own deadline."
    return errors


def _drop_levels(new: dict, gone: list[str]) -> None:
    """Remove the levels and what was set for them alone."""
    new["severity_scale"] = [level for level in new["severity_scale"] if level["code"] not in gone]
    for clock in new.get("clocks") or []:
        if "by_severity" in clock:
            clock["by_severity"] = {k: v for k, v in clock["by_severity"].items() if k not in gone}
    for block, key in ((new, "severity_classes"), (new.get("oncall_response") or {}, "by_severity")):
        if isinstance(block.get(key), dict):
            block[key] = {k: v for k, v in block[key].items() if k not in gone}


def _apply(new: dict, data: dict) -> None:
    for level in new.get("severity_scale") or []:
        level["label"] = data[f"severity-{level['code']}-label"].strip()
    gone = removed(data, "severity", [level["code"] for level in new.get("severity_scale") or []])
    if gone:
        _drop_levels(new, gone)
    if add_row(data, _NEW, ("code", "label"))[0]:
        new["severity_scale"].append({"code": data[f"{_NEW}-code"], "label": data[f"{_NEW}-label"].strip()})
    for category in new.get("category_severity") or {}:
        new["category_severity"][category] = data[f"category_severity-{category}"]
    codes = [level["code"] for level in new.get("severity_scale") or []]
    for clock in new.get("clocks") or []:
        if "by_severity" not in clock:
            continue
        overrides = {k: v for k, v in clock["by_severity"].items() if k not in codes}
        for code in (c for c in codes if f"clock-{clock['kind']}-severity-{c}-amount" in data):
            amount = data[f"clock-{clock['kind']}-severity-{code}-amount"]
            if amount is not None:
                old = clock["by_severity"].get(code) or {}
                overrides[code] = {
                    **old,
                    "amount": number(amount),
                    "unit": data[f"clock-{clock['kind']}-severity-{code}-unit"],
                }
        clock["by_severity"] = overrides
    criteria = new.setdefault("emergency_criteria", {})
    criteria["categories"] = list(data["emergency-categories"])
    for key in ("cvss_emergency_min", "cvss_expedited_min"):
        criteria[key] = f"{data[f'emergency-{key}']:.1f}"
    # Keys the definition did not carry are written only when given, so an untouched form changes nothing.
    for key, value in (
        ("cvss_required_for", list(data["emergency-cvss_required_for"])),
        ("expedited_path", data["emergency-expedited_path"].strip()),
    ):
        if value or key in criteria:
            criteria[key] = value


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if path.startswith("severity_scale[") and path.endswith("].label"):
        index = path[len("severity_scale[") : -len("].label")]
        scale = definition.get("severity_scale") or []
        if index.isdigit() and int(index) < len(scale):
            return f"severity-{scale[int(index)].get('code')}-label"
        return f"{_NEW}-label"
    if path == "severity_scale":
        return f"{_NEW}-code"
    if parts[0] == "clocks" and len(parts) == 5 and parts[2] == "by_severity":
        return f"clock-{parts[1]}-severity-{parts[3]}-{parts[4]}"
    if parts[0] == "category_severity" and len(parts) == 2:
        return f"category_severity-{parts[1]}"
    if parts[0] == "emergency_criteria" and len(parts) == 2:
        return f"emergency-{parts[1]}"
    return None


SECTION = Section(
    key="severity",
    heading="Severity and emergency criteria",
    intro="The severity scale a change is classed on, and which situations may use the emergency bypass at all.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
    clean=_clean,
)
