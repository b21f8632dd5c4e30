"""Who authorises: an emergency stub's authorisers per category (and the extra ones an incident flag calls
for), and who may approve a post-mortem."""

from __future__ import annotations

from qms.forms.procedures.base import Section, roles_field
from qms.procedures import POST_MORTEM_APPROVERS_DEFAULT
from qms.procedures.schema import CATEGORY_CHOICES, INCIDENT_FLAGS


def _fields(definition: dict) -> dict:
    fields: dict = {}
    authorisers = definition.get("stub_authorisers") or {}
    for category, label in CATEGORY_CHOICES:
        fields[f"stub-{category}"] = roles_field(
            f"{label.split(' — ')[0]}: stub authorisers",
            authorisers.get(category),
            "Every role ticked must authorise an emergency stub of this category (one signature or recorded "
            "verbal approval each). Needed for every category that qualifies for the emergency bypass; empty "
            "for one that does not.",
            required=False,
        )
    for flag, roles in (definition.get("stub_authorisers_if") or {}).items():
        fields[f"stub_if-{flag}"] = roles_field(
            f"Also when {INCIDENT_FLAGS.get(flag, flag.replace('_', ' '))}",
            roles,
            "Roles that must authorise as well when the stub says so; empty: nobody extra.",
            required=False,
        )
    fields["post_mortem_approvers"] = roles_field(
        "Post-mortem approvers",
        definition.get("post_mortem_approvers") or POST_MORTEM_APPROVERS_DEFAULT,
        "Who may approve a post-mortem; never its author, never a read-only role.",
    )
    return fields


def _apply(new: dict, data: dict) -> None:
    authorisers = new.setdefault("stub_authorisers", {})
    for category, _ in CATEGORY_CHOICES:
        roles = list(data[f"stub-{category}"])
        if roles:
            authorisers[category] = roles
        else:
            authorisers.pop(category, None)
    for flag in list(new.get("stub_authorisers_if") or {}):
        new["stub_authorisers_if"][flag] = list(data[f"stub_if-{flag}"])
    approvers = list(data["post_mortem_approvers"])
    if "post_mortem_approvers" in new or approvers != list(POST_MORTEM_APPROVERS_DEFAULT):
        new["post_mortem_approvers"] = approvers


def _field_for(path: str, definition: dict) -> str | None:
    parts = path.split(".")
    if parts[0] == "stub_authorisers" and len(parts) == 2:
        return f"stub-{parts[1]}"
    if parts[0] == "stub_authorisers_if" and len(parts) == 2:
        return f"stub_if-{parts[1]}"
    return "post_mortem_approvers" if path == "post_mortem_approvers" else None


SECTION = Section(
    key="authorisers",
    heading="Who authorises",
    intro="The signatures an emergency stub needs before its bypass is authorised, and who closes a post-mortem.",
    fields=_fields,
    apply=_apply,
    field_for=_field_for,
)
