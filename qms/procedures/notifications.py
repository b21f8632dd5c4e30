"""Who is told of what, as a definition says it: the roles told when a bypass of each level becomes active
(``bypass_levels.<level>.notify``) and the ``channels`` block (the facts each audience receives, those withheld
from public and external channels per category, the internal list a status update goes to).

:func:`validate_notifications` refuses what the engine cannot send, naming the field."""

from __future__ import annotations

from qms.procedures.schema import CATEGORY_LABELS, CHANNEL_AUDIENCES, CHANNEL_FACTS
from qms.roles import Role

_ROLES = {r.value for r in Role}
_NO_FACTS = "at least one fact, or its messages say nothing."


def _codes(path: str, values, known, what: str, *, required: str = "") -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return [f"{path}: a list of {what} codes."]
    if required and not values:
        return [f"{path}: {required}"]
    problems = [f"{path}: unknown {what} {v!r}." for v in values if v not in known]
    return problems + [f"{path}: {v!r} appears twice." for v in sorted({v for v in values if values.count(v) > 1})]


def validate_notifications(definition: dict) -> list[str]:
    """What is wrong with who is notified of what (empty when the engine can send it)."""
    problems: list[str] = []
    levels = definition.get("bypass_levels")
    for level, spec in levels.items() if isinstance(levels, dict) else ():
        if isinstance(spec, dict) and "notify" in spec:
            problems += _codes(
                f"bypass_levels.{level}.notify",
                spec["notify"],
                _ROLES,
                "role",
                required="at least one role must be told when a bypass of this level is active.",
            )
    channels = definition.get("channels")
    if channels is None:
        return problems
    if not isinstance(channels, dict):
        return [*problems, "channels: a mapping (audiences, withheld_in_public, internal_update_roles)."]
    audiences = channels.get("audiences")
    if not isinstance(audiences, dict) or not audiences:
        problems.append("channels.audiences: a mapping of each audience to the facts it receives.")
    else:
        for audience, facts in audiences.items():
            path = f"channels.audiences.{audience}"
            if audience not in CHANNEL_AUDIENCES:
                problems.append(f"{path}: unknown audience (one of {', '.join(CHANNEL_AUDIENCES)}).")
                continue
            problems += _codes(path, facts, CHANNEL_FACTS, "fact", required=_NO_FACTS)
    withheld = channels.get("withheld_in_public", {})
    if not isinstance(withheld, dict):
        problems.append("channels.withheld_in_public: a mapping of category to the facts withheld.")
    else:
        for category, facts in withheld.items():
            path = f"channels.withheld_in_public.{category}"
            if category not in CATEGORY_LABELS:
                problems.append(f"{path}: unknown category.")
                continue
            problems += _codes(path, facts, CHANNEL_FACTS, "fact")
    if "internal_update_roles" in channels:
        problems += _codes("channels.internal_update_roles", channels["internal_update_roles"], _ROLES, "role")
    return problems
