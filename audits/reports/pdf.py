"""A compliance report as PDF/A: the snapshot's own HTML (the report page's body, with its SVG charts),
laid out by WeasyPrint with the page's stylesheet, the payload JSON attached inside.

The PDF is drawn from the stored snapshot, so it always shows what was generated. The attachment is the
payload in the canonical JSON whose SHA-256 is the report's ``sha256``, so the hash in every page's footer
is the one the report page and the CSV show.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from audits.models import ComplianceReport
from qms.pdf import html_pdf


def payload_json(report: ComplianceReport) -> bytes:
    return json.dumps(
        report.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    ).encode()


def render_pdf(report: ComplianceReport) -> bytes:
    title = f"{report.payload['title']} — {report.period_label}"
    body = render_to_string(
        "audits/reports/report_pdf.html",
        {
            "report": report,
            "title": title,
            "body": mark_safe(report.html),  # noqa: S308 (the snapshot's HTML, rendered by the portal)
        },
    )
    page = settings.PORTAL_BASE_URL + reverse("audits:report-detail", kwargs={"pk": report.pk})
    return html_pdf(
        body_html=body,
        title=title,
        record_id=f"{report.get_kind_display()} report {report.period_label} (#{report.pk})",
        attachment_name=f"qms-{report.kind}-report-{report.period_start:%Y%m%d}-{report.pk}.json",
        attachment=payload_json(report),
        attachment_description="The report's payload: every figure, table and record reference, as JSON",
        stylesheets=("audits/reports.css", "audits/reports_print.css"),
        base_url=page,
    )
