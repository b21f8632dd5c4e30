"""A compliance report as PDF (fpdf2, pure Python): the figures, tables, bar charts and recommendations.

The PDF is drawn from the stored payload, so it always shows the snapshot. The core PDF fonts cover Latin-1;
other characters are replaced by their closest Latin-1 spelling.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF

from audits.models import ComplianceReport

REPLACEMENTS = {
    "—": "-",
    "–": "-",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "…": "...",
    "≥": ">=",
    "≤": "<=",
    "×": "x",
    "→": "->",
    "✓": "v",
    " ": " ",
}
BLUE, RED, GREY = (31, 95, 191), (180, 35, 24), (91, 100, 112)


def latin1(text) -> str:
    text = str(text)
    for old, new in REPLACEMENTS.items():
        text = text.replace(old, new)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    def __init__(self, title: str, sha256: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report_title, self.sha256 = title, sha256
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(latin1(title))
        self.set_creator("QMS Emergency Portal")

    def footer(self):
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.set_text_color(*GREY)
        self.cell(
            0, 5, latin1(f"{self.report_title} - payload SHA-256 {self.sha256} - page {self.page_no()}"), align="C"
        )


def _bars(pdf: _Report, chart: dict) -> None:
    bars = chart.get("bars") or []
    if chart.get("type") == "line":
        labels, series = chart["labels"], chart["series"]
        bars = [
            {"label": f"{label} {s['name'].split()[0].lower()}", "value": s["values"][i]}
            for i, label in enumerate(labels)
            for s in series[:1]
        ]
    if not bars:
        return
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_text_color(0, 0, 0)
    pdf.cell(0, 6, latin1(chart["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    percent = chart.get("unit") == "%"
    values = [(b["value"] or 0) * (100 if percent else 1) for b in bars]
    top = 100 if percent else max(max(values), 1)
    for bar, value in zip(bars, values, strict=True):
        pdf.set_text_color(0, 0, 0)
        pdf.cell(55, 5, latin1(str(bar["label"])[:34]))
        width = 100 * value / top
        x, y = pdf.get_x(), pdf.get_y()
        pdf.set_fill_color(*(RED if bar.get("alert") else BLUE))
        if width > 0:
            pdf.rect(x, y + 1, width, 3, style="F")
        pdf.set_x(x + width + 2)
        shown = "-" if bar["value"] is None else (f"{value:.0f}%" if percent else f"{value:g}")
        pdf.cell(20, 5, shown, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def render_pdf(report: ComplianceReport) -> bytes:
    p = report.payload
    pdf = _Report(p["title"], report.sha256)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, latin1(f"{p['title']} - {report.period_label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(*GREY)
    start = datetime.fromisoformat(p["period_start"]).astimezone(UTC)
    end = datetime.fromisoformat(p["period_end"]).astimezone(UTC)
    pdf.cell(
        0,
        5,
        latin1(
            f"Period {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC; generated "
            f"{report.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            f"{' by ' + report.generated_by.display_name if report.generated_by else ' (scheduled)'}"
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    for section in p["sections"]:
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, latin1(section["title"]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        for f in section.get("figures", []):
            pdf.set_text_color(*(RED if f.get("alert") else (0, 0, 0)))
            pdf.cell(120, 5.5, latin1(f["label"]))
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(
                0,
                5.5,
                latin1(f["display"] + (f"  ({f['hint']})" if f.get("hint") else "")),
                new_x="LMARGIN",
                new_y="NEXT",
            )
            pdf.set_font("Helvetica", size=9)
        pdf.ln(1)
        for chart in section.get("charts", []):
            _bars(pdf, chart)
        for table in section.get("tables", []):
            pdf.set_text_color(0, 0, 0)
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(0, 6, latin1(table["title"]), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=8)
            if not table["rows"]:
                pdf.cell(0, 5, latin1(table.get("empty", "None.")), new_x="LMARGIN", new_y="NEXT")
                continue
            with pdf.table(col_widths=[3] + [1] * (len(table["columns"]) - 1), text_align="LEFT") as grid:
                grid.row([latin1(c) for c in table["columns"]])
                for row in table["rows"]:
                    grid.row([latin1(c if isinstance(c, str) else c["text"]) for c in row])
            pdf.ln(2)
        for note in section.get("notes", []):
            pdf.set_text_color(0, 0, 0)
            pdf.multi_cell(0, 5, latin1(f"- {note}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    return bytes(pdf.output())
