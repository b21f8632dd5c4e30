"""Documents in the exact shape of the procedure's templates (Emergency Bypass Workflow §2.2, §4.1, §4.2),
as markdown and as PDF/A with their signatures.

Every checkbox and name comes from the record's state; every user-supplied text goes through
``qms.documents`` (it cannot add a heading, list item, checkbox, table row or front-matter key), and the
front matter is written by PyYAML.
"""

from __future__ import annotations

from datetime import UTC

from django.template.loader import render_to_string

from emergencies.models import ChangeRecord, PostMortem
from qms.documents import DoubleQuoted, front_matter
from qms.pdf import Manifestation
from qms.pdf import markdown_pdf as _markdown_pdf
from qms.procedures import CATEGORY_TAGS
from qms.services import content_hash, signatures_for

DOCUMENT_STATUS = {"closed": "Completed", "converted_standard": "Converted to standard process"}
DEVELOPMENT_STATUS = {"closed": "completed", "converted_standard": "cancelled"}


def _render(template: str, context: dict) -> str:
    return render_to_string(template, context).rstrip("\n") + "\n"


def _change_front_matter(change: ChangeRecord, category_tag: str) -> str:
    incident = change.incident
    return front_matter(
        {
            "id": change.identifier,
            "title": DoubleQuoted(change.title),
            "tags": ["change-document", "emergency", category_tag],
            "custom_fields": {
                "document_type": "change-record",
                "artifact_type": "CHG",
                "change_level": change.level.upper(),
                "change_source": change.source,
                "development_status": DEVELOPMENT_STATUS.get(change.status, "in-progress"),
            },
            "status": DOCUMENT_STATUS.get(change.status, "In Progress"),
            "date": change.declared_at.astimezone(UTC).date(),
            "author": change.author.display_name,
            "incident_ticket": (incident.ticket if incident else "") or "INC-XXX",
        }
    )


def _bypass_manifestations(bypass) -> list[Manifestation]:
    if bypass is None:
        return []
    current = content_hash(bypass.signable_content())
    return [Manifestation.of(s, current_hash=current) for s in signatures_for(bypass)]


def _change_context(change: ChangeRecord) -> dict:
    from emergencies.selectors import incident_commander_name
    from emergencies.services.postincident import closure_checklist, emergency_bypass

    incident = change.incident
    category_tag = CATEGORY_TAGS.get(incident.category, incident.category) if incident else "emergency"
    bypass = emergency_bypass(change)
    closure = closure_checklist(change)
    done = dict(closure)
    return {
        "change": change,
        "incident": incident,
        "front_matter": _change_front_matter(change, category_tag),
        "title_core": change.title.removeprefix("EMERGENCY: "),
        "commander": incident_commander_name(change=change, bypass=bypass),
        "bypass": bypass,
        "closure": closure,
        "state": {
            # What happened, not what is happening now: a hotfix once started stays ticked after deploy.
            "hotfix": change.hotfix_in_progress or change.deployed_at is not None,
            "monitoring": change.monitoring_active,
            "documentation": done["Full CHG document complete"],
            "post_mortem": done["Post-mortem conducted"],
            "gates": done["All gates retroactively validated"],
        },
        "signatures": _bypass_manifestations(bypass),
    }


def stub_markdown(change: ChangeRecord) -> str:
    return _render("emergencies/documents/chg_emergency_stub.md", _change_context(change))


def stub_filename(change: ChangeRecord) -> str:
    return f"{change.identifier}.md"


def _full_context(change: ChangeRecord) -> dict:
    from emergencies.services.postincident import DOCUMENTATION_SECTIONS

    return {
        **_change_context(change),
        "documentation": [
            (label, bool(getattr(change, name).strip())) for name, label in DOCUMENTATION_SECTIONS.items()
        ],
        "closed": change.status == ChangeRecord.Status.CLOSED,
    }


def change_full_markdown(change: ChangeRecord) -> str:
    """The full CHG document: the stub completed with every section of §4.1 and its checklists."""
    return _render("emergencies/documents/chg_full.md", _full_context(change))


def change_full_filename(change: ChangeRecord) -> str:
    return f"{change.identifier}-full.md"


def _post_mortem_context(post_mortem: PostMortem) -> dict:
    change = post_mortem.change
    impact = (
        ", ".join(
            part
            for part in (
                f"{post_mortem.users_affected} users affected" if post_mortem.users_affected is not None else "",
                post_mortem.revenue_impact,
            )
            if part
        )
        or "n/a"
    )
    current = content_hash(post_mortem.signable_content())
    return {
        "pm": post_mortem,
        "change": change,
        "front_matter": front_matter(
            {
                "title": DoubleQuoted(f"Post-Mortem: {change.identifier}"),
                "tags": ["post-mortem", "incident-review"],
                "custom_fields": {
                    "chg_reference": change.identifier,
                    "incident_ticket": (change.incident.ticket if change.incident_id else "") or "INC-XXX",
                    "post_mortem_date": post_mortem.post_mortem_date,
                },
            }
        ),
        "impact": impact,
        "timeline": list(post_mortem.timeline.all()),
        "actions": list(post_mortem.action_items.select_related("owner")),
        "measures": list(post_mortem.preventive_measures.select_related("follow_up")),
        "signatures": [Manifestation.of(s, current_hash=current) for s in signatures_for(post_mortem)],
    }


def post_mortem_markdown(post_mortem: PostMortem) -> str:
    return _render("emergencies/documents/post_mortem.md", _post_mortem_context(post_mortem))


def post_mortem_filename(post_mortem: PostMortem) -> str:
    return f"POST_MORTEM-{post_mortem.change.identifier}.md"


# --- PDF/A ------------------------------------------------------------------------------------------------

BYPASS_NOTE = "These are the signatures of the emergency bypass {}, which authorises this change."


def stub_pdf(change: ChangeRecord) -> bytes:
    context = _change_context(change)
    return _markdown_pdf(
        _render("emergencies/documents/chg_emergency_stub.md", context),
        title=f"{change.identifier}: emergency stub",
        record_id=change.identifier,
        attachment_name=stub_filename(change),
        signatures=context["signatures"],
        signature_note=BYPASS_NOTE.format(context["bypass"].identifier) if context["bypass"] else "",
    )


def change_full_pdf(change: ChangeRecord) -> bytes:
    context = _full_context(change)
    return _markdown_pdf(
        _render("emergencies/documents/chg_full.md", context),
        title=f"{change.identifier}: full CHG document",
        record_id=change.identifier,
        attachment_name=change_full_filename(change),
        signatures=context["signatures"],
        signature_note=BYPASS_NOTE.format(context["bypass"].identifier) if context["bypass"] else "",
    )


def post_mortem_pdf(post_mortem: PostMortem) -> bytes:
    context = _post_mortem_context(post_mortem)
    return _markdown_pdf(
        _render("emergencies/documents/post_mortem.md", context),
        title=f"Post-mortem of {post_mortem.change.identifier}",
        record_id=f"POST_MORTEM-{post_mortem.change.identifier}",
        attachment_name=post_mortem_filename(post_mortem),
        signatures=context["signatures"],
    )
