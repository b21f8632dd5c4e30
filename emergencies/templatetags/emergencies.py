from django import template

register = template.Library()

DOCUMENTATION_FIELDS = (
    "root_cause",
    "impact_assessment",
    "timeline",
    "affected_artifacts",
    "resolution",
    "lessons_learned",
)


@register.filter
def tick(value) -> str:
    return "x" if value else " "


@register.filter
def documentation_complete(change) -> bool:
    return all(getattr(change, f).strip() for f in DOCUMENTATION_FIELDS)


@register.filter
def document_status(change) -> str:
    return {"closed": "Completed", "converted_standard": "Converted to standard process"}.get(
        change.status, "In Progress"
    )


@register.filter
def development_status(change) -> str:
    return {"closed": "completed", "converted_standard": "cancelled"}.get(change.status, "in-progress")


@register.filter
def can_file(user) -> bool:
    from emergencies.permissions import can_file_emergency

    return can_file_emergency(user)


@register.filter
def table_cell(value) -> str:
    """Keep a value inside its markdown table cell (and make it plain text there)."""
    from qms.documents import md_inline

    return md_inline(value)
