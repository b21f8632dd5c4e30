"""The severity section: each level's label, the severity each category files as, a clock's deadline per
severity (where the clock has one) and the emergency criteria (which categories qualify, the CVSS minimums)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, ListField, Section, number
from qms.procedures.schema import CATEGORY_CHOICES, CATEGORY_LABELS

_CATEGORIES = [(code, label.split(" — ")[0]) for code, label in CATEGORY_CHOICES]
_CVSS_HELP = "A CVSS base score from 0.0 to 10.0, one decimal."


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


def _clean(data: dict, definition: dict) -> dict:
    errors = {}
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


def _apply(new: dict, data: dict) -> None:
    for level in new.get("severity_scale") or []:
        level["label"] = data[f"severity-{level['code']}-label"].strip()
    for category in new.get("category_severity") or {}:
        new["category_severity"][category] = data[f"category_severity-{category}"]
    codes = [level["code"] for level in new.get("severity_scale") or []]
    for clock in new.get("clocks") or []:
        if "by_severity" not in clock:
            continue
        overrides = {k: v for k, v in clock["by_severity"].items() if k not in codes}
        for code in codes:
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
