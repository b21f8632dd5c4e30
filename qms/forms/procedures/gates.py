"""The gate catalogue: this procedure's checks (quality gates), each with its name, the lowest bypass level that
may skip it and whether it is validated after the fact (``retroactive_checks``); a check is added through the
empty row at the end and removed by its checkbox.

A check added here is this procedure's own: changes filed under the version may skip it and record it, those
of other versions may not. Removing one is refused while the deployment defers something until it passes
(``deferred_on_deploy``, edited as YAML), and at least one check stays, and one is validated after the fact."""

from __future__ import annotations

import copy

from django import forms

from qms.forms.procedures.base import Section, add_row, remove_field, removed
from qms.procedures import LEVEL_ORDER, ProcedureRules
from qms.procedures.schema import GATE_CODE_HELP, GATE_CODE_VALIDATOR

_NEW = "gate_new"
_LEVELS = [(level, level) for level in LEVEL_ORDER]
_LEVEL_HELP = "The lowest bypass level (L1, L2, L3, E) that may skip this check; higher levels may too."
_RETRO_HELP = "Ticked: after an emergency it must be shown to pass again before the change closes."


def _fields(definition: dict) -> dict:
    rules = ProcedureRules(definition)
    retroactive = set(rules.retroactive_checks)
    fields: dict = {}
    for code, gate in rules.gate_catalogue.items():
        label = gate.get("label") or code
        fields[f"gate-{code}-label"] = forms.CharField(
            label=f"Check {code}: name",
            initial=label,
            max_length=200,
            help_text="How the check is shown on bypasses, gates and reports; its code stays as it is.",
        )
        fields[f"gate-{code}-min_level"] = forms.ChoiceField(
            label=f"{label}: skippable from", choices=_LEVELS, initial=gate.get("min_level"), help_text=_LEVEL_HELP
        )
        fields[f"gate-{code}-retroactive"] = forms.BooleanField(
            label=f"{label}: validated after the fact",
            required=False,
            initial=code in retroactive,
            help_text=_RETRO_HELP,
        )
        fields[f"gate-{code}-remove"] = remove_field(
            f"Remove the check {label}",
            "Ticked: the check leaves this procedure's catalogue; changes already filed keep theirs.",
        )
    fields[f"{_NEW}-code"] = forms.CharField(
        label="Add a check: code",
        required=False,
        max_length=64,
        validators=[GATE_CODE_VALIDATOR],
        help_text=f"The code records and the API carry: {GATE_CODE_HELP}, e.g. accessibility_review. Leave this "
        "row empty to add none.",
    )
    fields[f"{_NEW}-label"] = forms.CharField(
        label="Add a check: name", required=False, max_length=200, help_text="How the new check is shown."
    )
    fields[f"{_NEW}-min_level"] = forms.ChoiceField(
        label="Add a check: skippable from", choices=[("", "—"), *_LEVELS], required=False, help_text=_LEVEL_HELP
    )
    fields[f"{_NEW}-retroactive"] = forms.BooleanField(
        label="Add a check: validated after the fact", required=False, help_text=_RETRO_HELP
    )
    return fields


def _deferred_gates(definition: dict) -> set[str]:
    deferred = definition.get("deferred_on_deploy")
    return {item.get("gate") for item in deferred if isinstance(item, dict)} if isinstance(deferred, list) else set()


def _clean(data: dict, definition: dict) -> dict:
    catalogue = list(ProcedureRules(definition).gate_catalogue)
    given, errors = add_row(data, _NEW, ("code", "label", "min_level"))
    code = data.get(f"{_NEW}-code")
    if code and code in catalogue:
        errors[f"{_NEW}-code"] = f"The catalogue already has a check {code}."
    gone = removed(data, "gate", catalogue)
    deferred = _deferred_gates(definition)
    for gate in gone:
        if gate in deferred:
            errors[f"gate-{gate}-remove"] = (
                f"The deployment defers something until {gate} passes (deferred_on_deploy): edit that as YAML "
                "first, then remove the check."
            )
    staying = [gate for gate in catalogue if gate not in gone]
    if gone and not staying and not given:
        errors[f"gate-{gone[0]}-remove"] = "At least one check must stay in the catalogue."
    retro = [gate for gate in staying if data.get(f"gate-{gate}-retroactive")]
    if (staying or given) and not retro and not (given and data.get(f"{_NEW}-retroactive")):
        first = f"gate-{staying[0]}-retroactive" if staying else f"{_NEW}-retroactive"
        errors.setdefault(first, "At least one check is validated after the fact.")
    return errors


def _apply(new: dict, data: dict) -> None:
    rules = ProcedureRules(new)
    catalogue = copy.deepcopy(rules.gate_catalogue)
    before = list(rules.retroactive_checks)
    for code, gate in catalogue.items():
        gate["label"] = data[f"gate-{code}-label"].strip()
        gate["min_level"] = data[f"gate-{code}-min_level"]
    for code in removed(data, "gate", list(catalogue)):
        del catalogue[code]
    ticked = {code for code in catalogue if data.get(f"gate-{code}-retroactive")}
    if add_row(data, _NEW, ("code", "label", "min_level"))[0]:
        code = data[f"{_NEW}-code"]
        catalogue[code] = {"label": data[f"{_NEW}-label"].strip(), "min_level": data[f"{_NEW}-min_level"]}
        if data.get(f"{_NEW}-retroactive"):
            ticked.add(code)
    # The list keeps its order (then the checks ticked anew, in catalogue order); a version without its own
    # list (every check) gets one only when it differs.
    retroactive = [c for c in before if c in ticked] + [c for c in catalogue if c in ticked and c not in before]
    if "gates" in new or catalogue != rules.gate_catalogue:
        new["gates"] = catalogue
    if "retroactive_checks" in new or retroactive != list(catalogue):
        new["retroactive_checks"] = retroactive


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] == "gates" and len(parts) == 3:
        known = parts[1] in ProcedureRules(definition).gate_catalogue
        return f"gate-{parts[1]}-{parts[2]}" if known else f"{_NEW}-{parts[2]}"
    if parts[0] == "gates" and len(parts) == 2:
        return f"{_NEW}-code"
    if parts[0] == "retroactive_checks":
        return f"{_NEW}-retroactive"
    return None


SECTION = Section(
    key="gates",
    heading="Gate catalogue",
    intro="The checks (quality gates) of this procedure: what a bypass may skip, from which level, and which are "
    "validated after an emergency.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
    clean=_clean,
)
