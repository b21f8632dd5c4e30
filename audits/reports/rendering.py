"""A compliance report's snapshot drawn for people: the HTML and text bodies (charts inline), its digest,
and its downloads (CSV rows and file, PDF)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string

from audits.models import ComplianceReport
from audits.reports.figures import _pct
from audits.reports.scope import ALL_PROCEDURES


def payload_digest(payload: dict) -> str:
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)
    return hashlib.sha256(encoded.encode()).hexdigest()


def render_report(payload: dict) -> tuple[str, str]:
    """The HTML body (charts inline, links relative to the report's page) and the plain text of a report."""
    from audits.reports.charts import bar_chart, line_chart

    sections = []
    for section in payload["sections"]:
        charts = []
        for chart in section.get("charts", []):
            if chart["type"] == "line":
                svg = line_chart(
                    chart_id=chart["id"],
                    title=chart["title"],
                    desc=chart["desc"],
                    labels=chart["labels"],
                    series=chart["series"],
                )
            else:
                svg = bar_chart(
                    chart_id=chart["id"],
                    title=chart["title"],
                    desc=chart["desc"],
                    bars=chart["bars"],
                    unit=chart.get("unit", ""),
                )
            if chart["type"] == "line":
                columns = ["Period", *(s["name"] for s in chart["series"])]
                rows = [
                    [label, *({"text": str(s["values"][i]), "ref": s["refs"][i]} for s in chart["series"])]
                    for i, label in enumerate(chart["labels"])
                ]
            else:
                columns = ["Item", "Value"]
                rows = [
                    [b["label"], {"text": _shown(b["value"], chart.get("unit", "")), "ref": b.get("ref")}]
                    for b in chart["bars"]
                ]
            charts.append({**chart, "svg": svg, "columns": columns, "rows": rows})
        sections.append({**section, "charts": charts})
    context = {
        "payload": payload,
        "sections": sections,
        "period": _period_text(payload),
        "procedure": procedure_text(payload),
    }
    html = render_to_string("audits/reports/report_body.html", context)
    text = render_to_string("audits/reports/report_body.txt", context)
    return html, text


def _shown(value, unit: str) -> str:
    if value is None:
        return "—"
    return _pct(value) if unit == "%" else str(value)


def procedure_text(payload: dict) -> str:
    """What the report covers: "Emergency Bypass Workflow v2", or "all procedures" (``audits.reports.scope``)."""
    return (payload.get("procedure") or {}).get("label") or ALL_PROCEDURES


def _period_text(payload: dict) -> str:
    start = datetime.fromisoformat(payload["period_start"]).astimezone(UTC)
    end = datetime.fromisoformat(payload["period_end"]).astimezone(UTC)
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


# --- exports ------------------------------------------------------------------------------------------------


def export_filename(report: ComplianceReport, extension: str) -> str:
    return f"qms-{report.kind}-report-{report.period_start:%Y%m%d}-{report.pk}.{extension}"


def report_rows(payload: dict):
    """Every figure and table cell of a report as (section, item, value, records) rows."""
    refs = payload.get("refs", {})

    def records(ref):
        return refs.get(ref, {}).get("total", "") if ref else ""

    for section in payload["sections"]:
        for f in section.get("figures", []):
            yield section["title"], f["label"], f["display"], records(f.get("ref"))
        for chart in section.get("charts", []):
            if chart["type"] == "line":
                for i, label in enumerate(chart["labels"]):
                    for series in chart["series"]:
                        yield (
                            section["title"],
                            f"{chart['title']}: {label} — {series['name']}",
                            str(series["values"][i]),
                            records(series["refs"][i]),
                        )
            else:
                for bar in chart["bars"]:
                    yield (
                        section["title"],
                        f"{chart['title']}: {bar['label']}",
                        _shown(bar["value"], chart.get("unit", "")),
                        records(bar.get("ref")),
                    )
        for table in section.get("tables", []):
            for row in table["rows"]:
                cells = [c if isinstance(c, str) else c["text"] for c in row]
                for column, cell in zip(table["columns"][1:], row[1:], strict=False):
                    ref = None if isinstance(cell, str) else cell.get("ref")
                    yield (
                        section["title"],
                        f"{table['title']}: {cells[0]} — {column}",
                        (cell if isinstance(cell, str) else cell["text"]),
                        records(ref),
                    )
        for note in section.get("notes", []):
            yield section["title"], "Recommendation" if section["key"] == "recommendations" else "Note", note, ""


def report_csv(report: ComplianceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    p = report.payload
    writer.writerow(
        [
            "report",
            p["title"],
            "period",
            p["period_start"],
            p["period_end"],
            "sha256",
            report.sha256,
            "procedure",
            procedure_text(p),
        ]
    )
    writer.writerow(["section", "item", "value", "records"])
    for row in report_rows(p):
        writer.writerow([_csv_safe(str(c)) for c in row])
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; quote them as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") and not value[1:2].isdigit() else value


def report_pdf(report: ComplianceReport) -> bytes:
    from audits.reports.pdf import render_pdf

    return render_pdf(report)
