"""The compliance report PDF/A: the page's own HTML with its SVG charts, read back and looked at."""

import json
import subprocess
import tempfile

import pytest
from django.urls import reverse

from audits.reports.services import report_rows
from tests.audits.reports.test_reports import monthly, october, people  # noqa: F401 (fixtures)
from tests.pdfcheck import assert_pdfa, assert_sound_layout, read_pdf, save_page_one

pytestmark = pytest.mark.django_db


@pytest.fixture
def pdf_bytes(client, people, monthly):  # noqa: F811
    client.force_login(people["auditor"])
    response = client.get(reverse("audits:report-pdf", kwargs={"pk": monthly.pk}))
    assert response["Content-Type"] == "application/pdf" and response["X-Report-SHA256"] == monthly.sha256
    return response.content


def test_the_report_pdf_reads_back_as_its_snapshot(pdf_bytes, monthly):  # noqa: F811
    pdf = read_pdf(pdf_bytes)
    save_page_one(pdf_bytes, "pdf-compliance-report.png")
    assert_pdfa(pdf)
    assert_sound_layout(pdf, footer=(f"(#{monthly.pk})", monthly.sha256))
    # The payload is inside, and its SHA-256 is the report's.
    ((name, payload),) = pdf.attachments().items()
    assert name.endswith(".json") and json.loads(payload) == monthly.payload
    import hashlib

    assert hashlib.sha256(payload).hexdigest() == monthly.sha256
    flat = pdf.flat
    for section in monthly.payload["sections"]:
        assert section["title"] in flat
        for figure in section.get("figures", []):
            assert figure["label"] in flat and figure["display"] in flat, figure
        for table in section.get("tables", []):
            assert table["title"] in flat
            for row in table["rows"]:
                for cell in row:
                    text = cell if isinstance(cell, str) else cell["text"]
                    assert " ".join(str(text).split()) in flat, text
    assert pdf.outline()[:1] == [f"{monthly.payload['title']} — {monthly.period_label}"]
    assert len(list(report_rows(monthly.payload))) > 10


def test_the_trend_chart_draws_both_series(pdf_bytes, monthly):  # noqa: F811
    charts = [c for s in monthly.payload["sections"] for c in s.get("charts", []) if c["type"] == "line"]
    assert charts
    flat = read_pdf(pdf_bytes).flat
    for chart in charts:
        assert chart["title"] in flat
        for series in chart["series"]:
            assert series["name"] in flat, series["name"]  # the legend of each series, emergencies included
    assert "Emergencies declared" in flat and "Bypasses granted" in flat


def test_table_rows_are_not_solid_blocks(pdf_bytes):
    """Every page of the report at 50 dpi: the alert red covers only the alert bars and boxes (the old PDF
    filled every table row with it, a third of a page and more), and the page is mostly white."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        source = f"{folder}/report.pdf"
        with open(source, "wb") as handle:
            handle.write(pdf_bytes)
        subprocess.run(["pdftoppm", "-png", "-r", "50", source, f"{folder}/page"], check=True)
        import pathlib

        pages = sorted(pathlib.Path(folder).glob("page*.png"))
        assert pages
        for page in pages:
            image = Image.open(page).convert("RGB")
            raw = image.tobytes()
            pixels = [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]
            red = sum(1 for r, g, b in pixels if r > 150 and g < 80 and b < 80)
            white = sum(1 for r, g, b in pixels if r > 240 and g > 240 and b > 240)
            assert red / len(pixels) < 0.08, f"{page.name}: {red / len(pixels):.1%} red"
            assert white / len(pixels) > 0.6, f"{page.name}: only {white / len(pixels):.0%} white"
