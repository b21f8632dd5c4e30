"""What changed between two procedure definitions, rule by rule, in words ("Post-mortem deadline: 72 h → 48 h").

Every key is compared, known or not: the rules the engine enforces get their own names and wording, a key this
module does not know falls back to its path ("training.qms: ['x'] → ['x', 'y']"), so a definition key added
later still shows in the diff.
"""

from __future__ import annotations

from qms.procedures.schema import CATEGORY_LABELS, CHANNEL_FACTS, CHECK_CATALOGUE, INCIDENT_FLAGS
from qms.roles import ROLE_LABELS, Role

# The names of the rules in words (top-level keys of a definition).
KEY_LABELS = {
    "summary": "Summary",
    "severity_scale": "Severity scale",
    "category_severity": "Severity of a category",
    "severity_classes": "Severity classes",
    "emergency_criteria": "Emergency criteria",
    "stub_authorisers": "Stub authorisers",
    "stub_authorisers_if": "Extra stub authorisers",
    "transitions": "Preconditions",
    "proceed_before_authorisation": "Proceed before authorisation",
    "day_basis": "Day basis",
    "clocks": "Clocks",
    "ccb_required": "CCB required",
    "ccb": "CCB",
    "patch_package": "Patch package",
    "communication": "Communication",
    "channels": "Channel fields",
    "bypass_levels": "Bypass level",
    "decision_tree": "Bypass decision tree",
    "verbal_confirmation_hours": "Verbal approval confirmation window",
    "verbal_recording_max_age_hours": "Latest recording of a verbal approval",
    "verbal_recorder_roles": "Who may record a verbal approval",
    "rollback_triggers": "Rollback trigger",
    "deferred_on_deploy": "Deferred on deployment",
    "compliance": "Compliance",
    "post_mortem_approvers": "Post-mortem approvers",
    "training": "Training",
    "oncall_response": "On-call response",
    "gates": "Gate catalogue",
    "retroactive_checks": "Retroactive validation checks",
}
LONG_LIST = 6  # a list longer than this reads in the diff as what it adds and removes
_UNIT_SHORT = {"minutes": "min", "hours": "h", "days": "d"}
_ID_FIELDS = ("kind", "code", "level", "role")  # "role": a CCB seat
_HOURS_KEYS = {"verbal_confirmation_hours", "verbal_recording_max_age_hours"}


def _role(value) -> str:
    return ROLE_LABELS.get(Role(value), value) if value in Role._value2member_map_ else str(value)


def _duration(spec: dict, default_basis: str = "") -> str:
    text = f"{_fmt_number(spec.get('amount'))} {_UNIT_SHORT.get(spec.get('unit'), spec.get('unit'))}"
    basis = spec.get("basis") or default_basis
    if spec.get("unit") == "days" and basis:
        text += f" ({basis} days)"
    return text


def _fmt_number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _fmt(value, key: str = "") -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict) and {"amount", "unit"} <= set(value):
        return _duration(value)
    if isinstance(value, list):
        if not value:
            return "none"
        if all(isinstance(v, str) for v in value):
            if "categories" in key or "cvss required for" in key:
                return ", ".join(CATEGORY_LABELS.get(v, v).split(" — ")[0] for v in value)
            if any(word in key for word in ("role", "authoris", "approver", "notif")):
                return ", ".join(_role(v) for v in value)
            if key.startswith("channels"):
                return ", ".join(CHANNEL_FACTS.get(v, v) for v in value)
            return ", ".join(value)
        if all(isinstance(v, list) for v in value):
            return "; ".join(" or ".join(_role(r) for r in slot) for slot in value)
    if isinstance(value, str) and key.endswith("required only when"):
        return INCIDENT_FLAGS.get(value, value)
    if isinstance(value, str | int | float):
        return _fmt_number(value)
    return repr(value)


def _item_id(item) -> str | None:
    if isinstance(item, dict):
        for field in _ID_FIELDS:
            if field in item:
                return str(item[field])
    return None


def _label(path: list[str]) -> str:
    head, rest = path[0], path[1:]
    words = [KEY_LABELS.get(head, head)]
    return " ".join(words + rest) if rest else words[0]


def definition_diff(old: dict | None, new: dict) -> list[str]:
    """The changes from ``old`` to ``new``, one sentence each, in the order of the new definition's keys."""
    old = old or {}
    lines: list[str] = []
    keys = list(new) + [k for k in old if k not in new]
    for key in keys:
        if key not in old:
            lines.append(f"{KEY_LABELS.get(key, key)}: added ({_summary(new[key], key)}).")
        elif key not in new:
            lines.append(f"{KEY_LABELS.get(key, key)}: removed (was {_summary(old[key], key)}).")
        elif old[key] != new[key]:
            if key == "clocks":
                levels = {s.get("code") for s in new.get("severity_scale") or [] if isinstance(s, dict)}
                lines += _clocks_diff(old[key], new[key], old.get("day_basis", ""), new.get("day_basis", ""), levels)
            elif key == "day_basis":
                lines.append(f"Day basis: {old[key]} days → {new[key]} days.")
            elif key in _HOURS_KEYS:
                lines.append(f"{KEY_LABELS[key]}: {_fmt(old[key])} h → {_fmt(new[key])} h.")
            else:
                lines += _value_diff([key], old[key], new[key])
    return lines


def _summary(value, key: str = "") -> str:
    if isinstance(value, dict) and {"label", "validity_months"} <= set(value):
        return f"{value['label']}, valid for {_fmt(value['validity_months'])} months"
    if isinstance(value, dict) and {"label", "min_level"} <= set(value):
        return f"{value['label']}, skippable from {value['min_level']}"
    if isinstance(value, dict) and not ({"amount", "unit"} <= set(value)):
        return f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        ids = [_item_id(v) or "?" for v in value]
        return ", ".join(ids)
    return _fmt(value, key)


def _value_diff(path: list[str], old, new) -> list[str]:
    if old == new:
        return []
    words = " ".join(path)  # what _fmt reads to name roles and categories
    if isinstance(old, dict) and isinstance(new, dict) and not ({"amount", "unit"} <= set(old) | set(new)):
        out = []
        for k in list(new) + [k for k in old if k not in new]:
            sub = [*path, _gate_word(k, old, new) if path == ["gates"] else _key_word(path, k)]
            if k not in old:
                out.append(f"{_label(sub)}: added ({_summary(new[k], ' '.join(sub))}).")
            elif k not in new:
                out.append(f"{_label(sub)}: removed (was {_summary(old[k], ' '.join(sub))}).")
            else:
                out += _value_diff(sub, old[k], new[k])
        return out
    if isinstance(old, list) and isinstance(new, list):
        if all(_item_id(v) for v in old + new) and (old or new):
            return _keyed_list_diff(path, old, new)
        if all(isinstance(v, str) for v in old + new):
            added = [v for v in new if v not in old]
            removed = [v for v in old if v not in new]
            if added or removed:
                parts = []
                if added:
                    parts.append("adds " + _fmt(added, words))
                if removed:
                    parts.append("removes " + _fmt(removed, words))
                if max(len(old), len(new)) > LONG_LIST:  # a long list: what changed, not both lists
                    return [f"{_label(path)}: {'; '.join(parts)}."]
                return [f"{_label(path)}: {_fmt(old, words)} → {_fmt(new, words)} ({'; '.join(parts)})."]
            return [f"{_label(path)}: order {_fmt(old, words)} → {_fmt(new, words)}."]
    text = f"{_label(path)}: {_fmt(old, words)} → {_fmt(new, words)}"
    return [text if text.endswith((".", "?", "!")) else text + "."]


def _key_word(path: list[str], key) -> str:
    by_category = path[0] in ("stub_authorisers", "category_severity", "stub_authorisers_if") and len(path) == 1
    if by_category or path == ["channels", "withheld in public"]:
        return f"for {CATEGORY_LABELS.get(key, key).split(' — ')[0]}"
    if path == ["training", "role certifications"]:
        return f"for {_role(key)}"
    if path == ["channels"] and key == "audiences":
        return "sent to"
    if path[0] == "bypass_levels" and len(path) == 2 and key == "notify":
        return "notifies"
    if path[:2] == ["ccb", "representation"] and len(path) == 3 and key == "if":
        return "required only when"
    if path == ["communication", "update cadence"]:
        return f"for {key}"
    if path == ["oncall_response", "by severity"]:
        return f"for {key}"
    if path == ["oncall_response"] and key in ("by_severity", "default"):
        return {"by_severity": "by severity", "default": "for any other page"}[key]
    return str(key).replace("_", " ")


def _gate_word(code: str, old: dict, new: dict) -> str:
    """A gate by its label in the version's own catalogue (the old one's while it had it, so that a renamed gate
    reads as the gate it was), else the presets' label, else its code."""
    spec = old.get(code) if isinstance(old.get(code), dict) else new.get(code)
    label = spec.get("label") if isinstance(spec, dict) else None
    if not isinstance(label, str) or not label.strip():
        label = CHECK_CATALOGUE.get(code, {"label": code})["label"]
    return f"“{label}”"


def _keyed_list_diff(path: list[str], old: list, new: list) -> list[str]:
    old_by = {_item_id(v): v for v in old}
    new_by = {_item_id(v): v for v in new}
    out = []
    for ident, item in new_by.items():
        name = item.get("label") or (_role(ident) if "role" in item and _item_id(item) == item["role"] else ident)
        if ident not in old_by:
            words = _item_words(item)
            out.append(f"{_label(path)}: adds {name}" + (f" ({words})." if words else "."))
        elif old_by[ident] != item:
            same_label = old_by[ident].get("label") == item.get("label")
            out += _value_diff([*path, str(name if same_label else ident)], old_by[ident], item)
    for ident, item in old_by.items():
        if ident not in new_by:
            out.append(f"{_label(path)}: removes {item.get('label') or _role(ident)}.")
    if not out and [_item_id(v) for v in old] != [_item_id(v) for v in new]:
        out.append(f"{_label(path)}: reordered.")
    return out


def _item_words(item: dict) -> str:
    if {"amount", "unit"} <= set(item):
        return _duration(item)
    return ", ".join(f"{k}: {_fmt(v, k)}" for k, v in item.items() if k not in ("kind", "code", "label", "role"))


def _clock_words(clock: dict, basis: str) -> str:
    """A new clock in words: its deadline, and when it starts, who owns it and what meets it where it says."""
    words = [_duration(clock, basis)]
    if clock.get("anchor", "declared") != "declared":
        words.append(f"starts at {clock['anchor']}")
    if clock.get("owner", "author") != "author":
        words.append(f"owner {clock['owner']}")
    if clock.get("satisfied_on"):
        words.append(f"met by {_fmt(clock['satisfied_on'])}")
    return ", ".join(words)


def _clocks_diff(old: list, new: list, old_basis: str, new_basis: str, levels: set) -> list[str]:
    old_by = {c.get("kind"): c for c in old if isinstance(c, dict)}
    new_by = {c.get("kind"): c for c in new if isinstance(c, dict)}
    out = []
    for kind, clock in new_by.items():
        label = clock.get("label") or kind
        if kind not in old_by:
            out.append(f"{label} deadline: added ({_clock_words(clock, new_basis)}).")
            continue
        before = old_by[kind]
        if before == clock:
            continue
        a, b = _duration(before, old_basis), _duration(clock, new_basis)
        if a != b:
            out.append(f"{label} deadline: {a} → {b}.")
        if before.get("label") != clock.get("label"):
            out.append(f"{before.get('label')} clock renamed: {before.get('label')} → {clock.get('label')}.")
        for field, word in (("owner", "owner"), ("anchor", "starts at"), ("satisfied_on", "met by")):
            default = {"owner": "author", "anchor": "declared", "satisfied_on": []}[field]
            x, y = before.get(field, default), clock.get(field, default)
            if x != y:
                out.append(f"{label} {word}: {_fmt(x)} → {_fmt(y)}.")
        old_over, new_over = before.get("by_severity", {}), clock.get("by_severity", {})
        for severity in list(new_over) + [s for s in old_over if s not in new_over]:
            x, y = old_over.get(severity), new_over.get(severity)
            if x and not y and severity not in levels:
                out.append(f"{label} deadline for {severity}: removed with the level (was {_duration(x)}).")
            elif x != y:
                x_text = _duration(x) if x else f"default ({_duration(before)})"
                y_text = _duration(y) if y else f"default ({_duration(clock)})"
                out.append(f"{label} deadline for {severity}: {x_text} → {y_text}.")
        known = {"kind", "label", "amount", "unit", "basis", "owner", "anchor", "satisfied_on", "by_severity"}
        for field in sorted((set(before) | set(clock)) - known):
            if before.get(field) != clock.get(field):
                out.append(f"{label} {field}: {_fmt(before.get(field))} → {_fmt(clock.get(field))}.")
    for kind, clock in old_by.items():
        if kind not in new_by:
            out.append(f"{clock.get('label') or kind} deadline: removed (was {_duration(clock, old_basis)}).")
    return out
