"""Documents in the exact shape of the procedure's templates (Emergency Bypass Workflow §2.2, §4.1, §4.2),
as markdown and as PDF with their signatures."""

from __future__ import annotations

from pathlib import Path

from django.template.loader import render_to_string
from fpdf import FPDF

from emergencies.models import ChangeRecord, PostMortem
from qms.procedures import CATEGORY_TAGS
from qms.services import signatures_for

UNICODE_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
UNICODE_FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
LATIN1_FALLBACK = str.maketrans(
    {"—": "-", "–": "-", "→": "->", "≥": ">=", "≤": "<=", "×": "x", "…": "...", "“": '"', "”": '"', "‘": "'", "’": "'"}
)


def _render(template: str, context: dict) -> str:
    return render_to_string(template, context).rstrip("\n") + "\n"


def _change_context(change: ChangeRecord) -> dict:
    incident = change.incident
    return {
        "change": change,
        "incident": incident,
        "category_tag": CATEGORY_TAGS.get(incident.category, incident.category) if incident else "emergency",
        "title_core": change.title.removeprefix("EMERGENCY: "),
    }


def stub_markdown(change: ChangeRecord) -> str:
    return _render("emergencies/documents/chg_emergency_stub.md", _change_context(change))


def stub_filename(change: ChangeRecord) -> str:
    return f"{change.identifier}.md"


def change_full_markdown(change: ChangeRecord) -> str:
    """The full CHG document: the stub completed with every section of §4.1 and its checklists."""
    from emergencies.services.postincident import DOCUMENTATION_SECTIONS, closure_checklist, emergency_bypass

    bypass = emergency_bypass(change)
    return _render(
        "emergencies/documents/chg_full.md",
        {
            **_change_context(change),
            "documentation": [
                (label, bool(getattr(change, name).strip())) for name, label in DOCUMENTATION_SECTIONS.items()
            ],
            "closure": closure_checklist(change),
            "closed": change.status == ChangeRecord.Status.CLOSED,
            "signatures": signatures_for(bypass) if bypass else [],
        },
    )


def post_mortem_markdown(post_mortem: PostMortem) -> str:
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
    return _render(
        "emergencies/documents/post_mortem.md",
        {
            "pm": post_mortem,
            "change": change,
            "impact": impact,
            "timeline": list(post_mortem.timeline.all()),
            "actions": list(post_mortem.action_items.select_related("owner")),
            "measures": list(post_mortem.preventive_measures.select_related("follow_up")),
            "signatures": signatures_for(post_mortem),
        },
    )


def post_mortem_filename(post_mortem: PostMortem) -> str:
    return f"POST_MORTEM-{post_mortem.change.identifier}.md"


def markdown_pdf(markdown: str, *, title: str) -> bytes:
    """A plain, readable PDF of a markdown document: headings bold, everything else as written."""
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_auto_page_break(auto=True, margin=15)
    unicode_font = UNICODE_FONT.exists() and UNICODE_FONT_BOLD.exists()
    if unicode_font:
        pdf.add_font("DejaVu", "", str(UNICODE_FONT))
        pdf.add_font("DejaVu", "B", str(UNICODE_FONT_BOLD))
    family = "DejaVu" if unicode_font else "Helvetica"
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    for raw in markdown.splitlines():
        line = raw if unicode_font else raw.translate(LATIN1_FALLBACK).encode("latin-1", "replace").decode("latin-1")
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            pdf.set_font(family, "B", {1: 16, 2: 13}.get(level, 11))
            pdf.multi_cell(width, 8, line.lstrip("#").strip())
        else:
            pdf.set_font(family, "", 9.5)
            pdf.multi_cell(width, 5, line or " ")
    return bytes(pdf.output())
