"""The bypass levels: who signs a bypass of each level (its signer slots) and how soon what it skipped must be
remediated (the lowest level that may skip each check is the gate catalogue's, ``gates.py``)."""

from __future__ import annotations

import copy
import re

from django import forms

from qms.forms.procedures.base import UNIT_CHOICES, Section, number, roles_field
from qms.procedures import LEVEL_ORDER, ProcedureRules, validate_definition

_SLOT_PATH = re.compile(r"bypass_levels\.(?P<level>[^.]+)\.authorisers\[(?P<index>\d+)\]")


def _slots(definition: dict, level: str) -> list[list[str]]:
    return list(((definition.get("bypass_levels") or {}).get(level) or {}).get("authorisers") or [])


def _fields(definition: dict) -> dict:
    fields: dict = {}
    rules = ProcedureRules(definition)
    for level, spec in (definition.get("bypass_levels") or {}).items():
        name = spec.get("label") or level
        slots = _slots(definition, level)
        may_skip = ", ".join(rules.check_label(c) for c in rules.checks_allowed(level)) if level in LEVEL_ORDER else ""
        for j in range(len(slots) + 1):
            extra = j == len(slots)
            fields[f"bypass-{level}-slot-{j}"] = roles_field(
                f"{name}: {'add a signature' if extra else f'signature {j + 1}'}",
                [] if extra else slots[j],
                (
                    "Tick roles here to require one more signature."
                    if extra
                    else "One signature from any of the roles ticked; untick them all to drop this signature."
                )
                + (f" This level may skip: {may_skip}." if j == 0 and may_skip else ""),
                required=False,
            )
        remediation = spec.get("remediation") or {}
        fields[f"bypass-{level}-remediation-amount"] = forms.DecimalField(
            label=f"{name}: remediate within",
            initial=remediation.get("amount"),
            max_digits=8,
            decimal_places=2,
            help_text="How long after the bypass each check it skipped must pass again (a positive number).",
        )
        fields[f"bypass-{level}-remediation-unit"] = forms.ChoiceField(
            label=f"{name}: unit", choices=UNIT_CHOICES, initial=remediation.get("unit")
        )
    return fields


def _ticked(data: dict, level: str, spec: dict) -> list[tuple[int, list[str]]] | None:
    """The level's signature slots as posted, each with the index of its field; an unticked slot is dropped,
    so the definition's slot j is the field of the j-th pair. None when a slot's field has its own error."""
    names = [f"bypass-{level}-slot-{j}" for j in range(len(spec.get("authorisers") or []) + 1)]
    if any(name not in data for name in names):
        return None
    return [(j, list(data[name])) for j, name in enumerate(names) if data[name]]


def _apply(new: dict, data: dict) -> None:
    for level, spec in (new.get("bypass_levels") or {}).items():
        spec["authorisers"] = [roles for _, roles in _ticked(data, level, spec)]
        spec["remediation"] = {
            **(spec.get("remediation") or {}),
            "amount": number(data[f"bypass-{level}-remediation-amount"]),
            "unit": data[f"bypass-{level}-remediation-unit"],
        }


def _clean(data: dict, definition: dict) -> dict:
    """The validation's problems with a signature slot, on the field that was ticked. Once an unticked slot is
    dropped, the edited definition's ``authorisers[j]`` is no longer the field ``slot-j`` (``_field_for``, which
    sees only the definition as it was, would name the wrong one), so they are found here, before saving."""
    new = copy.deepcopy(definition)
    fields: dict[str, list[int]] = {}
    for level, spec in (new.get("bypass_levels") or {}).items():
        ticked = _ticked(data, level, spec)
        if ticked is not None:
            spec["authorisers"] = [roles for _, roles in ticked]
            fields[level] = [j for j, _ in ticked]
    errors: dict[str, str] = {}
    for problem in validate_definition(new):
        path, _, words = problem.partition(":")
        match = _SLOT_PATH.fullmatch(path)
        if match and match["level"] in fields and int(match["index"]) < len(fields[match["level"]]):
            name = f"bypass-{match['level']}-slot-{fields[match['level']][int(match['index'])]}"
            words = words.strip()
            errors.setdefault(name, words[:1].upper() + words[1:])
    return errors


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] == "bypass_levels" and len(parts) >= 3:
        level, rest = parts[1], parts[2]
        if rest == "authorisers":
            return f"bypass-{level}-slot-0"
        if rest.startswith("authorisers[") and rest.endswith("]"):
            return f"bypass-{level}-slot-{rest[len('authorisers[') : -1]}"
        if rest == "remediation":
            return f"bypass-{level}-remediation-{parts[3] if len(parts) == 4 else 'amount'}"
    return None


SECTION = Section(
    key="bypass",
    heading="Bypass levels",
    intro="Who signs a bypass of each level and how soon what it skipped must be remediated (which checks each "
    "level may skip: the gate catalogue below).",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
    clean=_clean,
)
