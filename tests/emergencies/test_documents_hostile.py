"""Hostile text in every text field cannot change an export's structure (issue: exports forged through text
fields): the markdown keeps exactly its template's headings, lists, checkboxes, tables and front-matter
keys, and the PDF keeps its section headings."""

import io

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from pypdf import PdfReader

from emergencies import documents
from emergencies.models import PostMortem
from tests.emergencies.test_documents import closed  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

PIECES = [
    "\n",
    "\n\n",
    "\r",
    "\r\n",
    "\u2028",
    "#",
    "# ",
    "## Signatures\n",
    "## To Complete (Post-Incident)\n",
    "- [x] ",
    "- [ ] ",
    "* ",
    "+ ",
    "1. ",
    "2) ",
    "|",
    "| a | b |\n|---|---|\n",
    "---",
    "===",
    ":",
    "status: Closed",
    "\x00",
    "\u202e",
    "\u200f",
    "\u2066",
    "> ",
    "```",
    "~~~",
    "    ",
    "\t",
    "<b>",
    "<!--",
    "[x]",
    "[a]: http://x",
    "\\",
    "`",
    "&#35;",
    "**",
    "Ordinary words",
]
# Ending in a word keeps every field non-blank, so each checkbox that follows from a field being filled in
# is ticked in the hostile export as in the plain one.
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=6), min_size=1, max_size=12).map(
    lambda parts: "".join(parts) + " end"
)

CHANGE_FIELDS = (
    "title",
    "problem_statement",
    "root_cause",
    "impact_assessment",
    "timeline",
    "affected_artifacts",
    "resolution",
    "rollback_plan",
    "lessons_learned",
)
PM_FIELDS = (
    "why_1",
    "why_2",
    "why_3",
    "why_4",
    "why_5",
    "resolution",
    "went_well",
    "went_poorly",
    "got_lucky",
    "revenue_impact",
    "reputational_impact",
)


def structure(markdown: str) -> tuple:
    """The front matter's keys and the body's block structure: every heading (with its text, but the
    title's), list, list item (with its checkbox), table, row and cell, quote, code and HTML block."""
    assert markdown.startswith("---\n")
    end = markdown.index("\n---\n", 3)
    meta = yaml.safe_load(markdown[4:end])
    body = markdown[end + 5 :]
    lines = body.split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    shape = []
    for i, token in enumerate(tokens):
        if token.type in ("paragraph_open", "paragraph_close", "inline") or token.type.endswith("_close"):
            continue
        entry = [token.type, token.tag]
        if token.type == "heading_open" and token.tag != "h1":
            entry.append(tokens[i + 1].content)
        if token.type == "list_item_open":
            line = lines[token.map[0]].lstrip()
            entry.append(line[:6] if line[2:6] in ("[ ] ", "[x] ") else line[:2])
        shape.append(tuple(entry))
    return _keys(meta), tuple(shape)


def _keys(value):
    if isinstance(value, dict):
        return tuple((key, _keys(v)) for key, v in value.items())
    if isinstance(value, list):
        return ("list", len(value))
    return type(value).__name__


def _fill(change, pm, text, factor):
    for name in CHANGE_FIELDS:
        setattr(change, name, f"EMERGENCY: {text}" if name == "title" else text)
    change.incident.commander = None
    change.author.first_name, change.author.last_name = text, text
    change.bypass_authorised_by.first_name = text
    for name in PM_FIELDS:
        setattr(pm, name, text[:300] if name.endswith("impact") else text)
    pm.change = change
    pm.contributing_factors = factor
    for row in (*pm.timeline.all(), *pm.action_items.all(), *pm.preventive_measures.all()):
        for attr in ("event", "action", "measure"):
            if hasattr(row, attr):  # saved, and PostgreSQL stores no NUL (the API refuses it)
                setattr(row, attr, text.replace("\x00", ""))
        row.save()


def _exports(change, pm):
    return {
        "stub": documents.stub_markdown(change),
        "full": documents.change_full_markdown(change),
        "post_mortem": documents.post_mortem_markdown(pm),
    }


@pytest.fixture
def record(closed):  # noqa: F811
    pm = PostMortem.objects.get(change=closed)
    _fill(closed, pm, "plain text", "one factor")
    return closed, pm, {kind: structure(md) for kind, md in _exports(closed, pm).items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile)
def test_hostile_text_keeps_every_markdown_exports_structure(record, text):
    change, pm, expected = record
    # One factor per line is the field's own format: a factor's text is one line, the rest as given.
    _fill(change, pm, text, "factor " + " ".join(text.split()))
    for kind, markdown in _exports(change, pm).items():
        assert structure(markdown) == expected[kind], (kind, markdown)
        meta = yaml.safe_load(markdown[4 : markdown.index("\n---\n", 3)])
        if kind != "post_mortem":
            assert meta["id"] == change.identifier and meta["status"] == "Completed"
            assert meta["title"].startswith("EMERGENCY: ")


def _outline(pdf: bytes) -> list[str]:
    def walk(items):
        for item in items:
            yield from (walk(item) if isinstance(item, list) else [item.title])

    return list(walk(PdfReader(io.BytesIO(pdf)).outline))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=hostile)
def test_hostile_text_keeps_the_pdfs_section_headings(record, text):
    change, pm, _ = record
    _fill(change, pm, "plain text", "one factor")
    expected = {"full": _outline(documents.change_full_pdf(change))[1:], "pm": _outline(documents.post_mortem_pdf(pm))}
    _fill(change, pm, text, "factor " + " ".join(text.split()))
    assert _outline(documents.change_full_pdf(change))[1:] == expected["full"]  # [0] is the title
    assert _outline(documents.post_mortem_pdf(pm)) == expected["pm"]
