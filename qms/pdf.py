"""PDF/A documents from HTML (WeasyPrint), for the 7-year retention of records.

Every PDF the portal exports is rendered here from HTML and CSS: WeasyPrint lays it out with Pango (text
wraps inside the page; nothing is placed by hand), and writes PDF/A-3b with the record itself (its
markdown or JSON) attached inside, so the PDF carries the machine-readable original it shows. Each page's
footer names the record, the SHA-256 of that attachment and the page number.

The markdown documents become HTML through markdown-it-py with raw HTML off: the document's structure is
the template's (user text was escaped when the markdown was written, see ``qms.documents``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import yaml
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from markdown_it import MarkdownIt

PDF_VARIANT = "pdf/a-3b"
CHECKBOX = re.compile(r"^\s*[-*] \[( |x)\] ")


@dataclass(frozen=True)
class Manifestation:
    """A signature as 21 CFR Part 11 §11.50 asks it to be shown: printed name, time, meaning, and the
    SHA-256 of the record version signed, with whether the record still matches it."""

    printed_name: str
    role: str
    meaning: str
    method: str
    recorded_by: str
    signed_at: datetime
    content_hash: str
    matches: bool

    @classmethod
    def of(cls, signature, *, current_hash: str) -> Manifestation:
        return cls(
            printed_name=signature.signer_names,
            role=signature.role_label,
            meaning=signature.get_meaning_display(),
            method=signature.get_method_display(),
            recorded_by=signature.recorded_by.display_name if signature.recorded_by_id else "",
            signed_at=signature.signed_at.astimezone(UTC),
            content_hash=signature.content_hash,
            matches=signature.content_hash == current_hash,
        )


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def markdown_html(markdown: str) -> str:
    """The body of a markdown document as HTML; task-list boxes drawn as ☑ / ☐ (only those the template
    wrote: an escaped ``\\[x\\]`` in user text stays text)."""
    md = _markdown()
    lines = markdown.split("\n")
    tokens = md.parse(markdown)
    for i, token in enumerate(tokens):
        if token.type != "inline" or i < 2 or tokens[i - 2].type != "list_item_open" or not token.map:
            continue
        match = CHECKBOX.match(lines[token.map[0]])
        first = token.children[0] if token.children else None
        if match and first is not None and first.type == "text" and first.content.startswith(f"[{match[1]}] "):
            first.content = ("☑ " if match[1] == "x" else "☐ ") + first.content[4:]
            tokens[i - 2].attrSet("class", "task done" if match[1] == "x" else "task")
    return md.renderer.render(tokens, md.options, {})


def split_front_matter(markdown: str) -> tuple[dict, str]:
    if not markdown.startswith("---\n"):
        return {}, markdown
    end = markdown.index("\n---\n", 3)
    return yaml.safe_load(markdown[4:end]) or {}, markdown[end + 5 :]


def _facts(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _facts(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            rows.append((f"{prefix}{key}", ", ".join(str(v) for v in value)))
        else:
            rows.append((f"{prefix}{key}", "" if value is None else str(value)))
    return rows


def css_string(text: str) -> str:
    """A CSS string literal (for the footer's ``content``), safe inside a <style> element."""
    escaped = "".join(f"\\{ord(ch):x} " if ch in '"\\<>&\n\r' else ch for ch in text)
    return mark_safe(f'"{escaped}"')  # noqa: S308 (every special character is a CSS escape)


def sha256(content: str | bytes) -> str:
    return hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest()


def html_pdf(
    *,
    body_html: str,
    title: str,
    record_id: str,
    attachment_name: str,
    attachment: str | bytes,
    attachment_description: str,
    stylesheets: tuple[str, ...] = (),
    base_url: str | None = None,
    landscape: bool = False,
) -> bytes:
    """A PDF/A-3b of ``body_html`` in the document layout, ``attachment`` embedded inside."""
    from weasyprint import CSS, HTML, Attachment

    html = render_to_string(
        "qms/pdf_document.html",
        {
            "title": title,
            "body": mark_safe(body_html),  # noqa: S308 (rendered by the portal's own templates)
            "footer": css_string(f"{record_id} · SHA-256 of the attached {attachment_name}: {sha256(attachment)}"),
            "generated_at": datetime.now(UTC),
            "landscape": landscape,
        },
    )
    css = [CSS(string=_read_static(path)) for path in stylesheets]
    document = HTML(string=html, base_url=base_url or settings.PORTAL_BASE_URL + "/")
    return document.write_pdf(
        stylesheets=css,
        pdf_variant=PDF_VARIANT,
        attachments=[
            Attachment(
                string=attachment if isinstance(attachment, bytes) else attachment.encode(),
                name=attachment_name,
                description=attachment_description,
                relationship="Source",
            )
        ],
    )


def _read_static(path: str) -> str:
    from django.contrib.staticfiles import finders

    found = finders.find(path)
    if not found:
        raise FileNotFoundError(path)
    with open(found, encoding="utf-8") as handle:
        return handle.read()


def markdown_pdf(
    markdown: str,
    *,
    title: str,
    record_id: str,
    attachment_name: str,
    signatures: list[Manifestation] | None = None,
    signature_note: str = "",
) -> bytes:
    """A markdown document as PDF/A: its front matter as a table of facts, its body, and the signatures'
    manifestation in place of its ``## Signatures`` list; the markdown itself attached."""
    facts, body = split_front_matter(markdown)
    head, _, _ = body.strip("\n").partition("\n## Signatures\n")
    heading = ""
    if head.startswith("# "):
        heading, _, head = head.partition("\n")
    body_html = render_to_string(
        "qms/pdf_markdown.html",
        {
            "heading": mark_safe(markdown_html(heading)),  # noqa: S308 (as below)
            "facts": _facts(facts),
            "content": mark_safe(markdown_html(head)),  # noqa: S308 (markdown-it escapes the text; no raw HTML)
            "signatures": signatures,
            "signature_note": signature_note,
        },
    )
    return html_pdf(
        body_html=body_html,
        title=title,
        record_id=record_id,
        attachment_name=attachment_name,
        attachment=markdown,
        attachment_description=f"{attachment_name}: the record this PDF shows, as markdown",
    )
