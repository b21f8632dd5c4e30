"""Documents in the exact shape of the procedure's templates (Emergency Bypass Workflow §2.2)."""

from django.template.loader import render_to_string

from emergencies.models import ChangeRecord
from qms.procedures import CATEGORY_TAGS


def stub_markdown(change: ChangeRecord) -> str:
    incident = change.incident
    text = render_to_string(
        "emergencies/documents/chg_emergency_stub.md",
        {
            "change": change,
            "incident": incident,
            "category_tag": CATEGORY_TAGS.get(incident.category, incident.category) if incident else "emergency",
            "title_core": change.title.removeprefix("EMERGENCY: "),
        },
    )
    return text.rstrip("\n") + "\n"


def stub_filename(change: ChangeRecord) -> str:
    return f"{change.identifier}.md"
