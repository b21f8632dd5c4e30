"""Journey 1: an on-call engineer files an emergency stub mid-incident."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from emergencies.models import ChangeRecord
from qms.models import Notification
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_oncall_files_a_stub_sees_id_and_clocks_and_downloads_markdown(new_page, login, live_server, oncall, commander):
    page = login(new_page(), "oncall")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.get_by_role("link", name="Declare emergency").first.click()
    expect(page.get_by_role("heading", name="Declare an emergency")).to_be_visible()
    page.get_by_label("Title").fill("Checkout API returns 500 for every order")
    page.get_by_role("radio", name=re.compile("P1 incident")).check()
    page.get_by_label("Problem statement").fill("Since 02:40 UTC every POST /orders fails; revenue stopped.")
    page.get_by_text("More details (optional)").click()
    page.get_by_label("Incident commander").select_option(label="Carlos Commander")
    screenshot(page, "journey1-form")
    page.get_by_role("button", name="File emergency stub").click()

    change = ChangeRecord.objects.get()
    expect(page).to_have_url(f"{live_server.url}{change.get_absolute_url()}")
    expect(page.get_by_test_id("change-id")).to_have_text(re.compile(r"^CHG-EMG-\d{8}-\d{4}$"))
    expect(page.get_by_test_id("change-id")).to_have_text(change.identifier)
    expect(page.get_by_text("EMERGENCY: Checkout API returns 500 for every order")).to_be_visible()
    clocks = page.locator("#clocks")
    for label in ("Triage", "Hotfix deployed", "Full CHG documentation", "Post-mortem"):
        expect(clocks.get_by_role("cell", name=label, exact=True)).to_be_visible()
    expect(clocks.locator("tr[data-kind=triage]")).to_contain_text(re.compile(r"(29|30)m left"))
    expect(clocks.locator("tr[data-kind=hotfix]")).to_contain_text(re.compile(r"[34]h \d\dm left"))
    assert Notification.objects.filter(recipient=commander).exists()

    page.get_by_role("checkbox", name="Hotfix in progress").click()
    expect(page.get_by_role("checkbox", name="Hotfix in progress")).to_have_attribute("aria-checked", "true")
    screenshot(page, "journey1-record")

    with page.expect_download() as download_info:
        page.get_by_role("link", name=f"Download {change.identifier}.md").click()
    download = download_info.value
    assert download.suggested_filename == f"{change.identifier}.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert text.startswith(f"---\nid: {change.identifier}\n")
    assert "- [x] Hotfix in progress" in text
    assert "- **Incident Commander**: Carlos Commander" in text


def test_refused_stub_shows_the_reason_and_creates_nothing(new_page, login, oncall):
    page = login(new_page(), "oncall")
    page.get_by_role("link", name="Declare emergency").first.click()
    page.get_by_label("Title").fill("Auth bypass in login")
    page.get_by_role("radio", name=re.compile("Critical security")).check()
    page.get_by_label("Problem statement").fill("Token check can be skipped.")
    page.get_by_label("CVSS score").fill("8.5")
    page.get_by_role("button", name="File emergency stub").click()
    expect(page.get_by_role("alert").filter(has_text="EMG-E002")).to_contain_text("GATE-05")
    assert not ChangeRecord.objects.exists()


def test_oncall_downloads_the_stub_as_pdf_and_it_reads_back(new_page, login, live_server, oncall, commander):
    from tests.factories import file_stub
    from tests.pdfcheck import assert_pdfa, assert_sound_layout, read_pdf, save_page_one

    change = file_stub(oncall, commander=commander, title="Search returns nothing")
    page = login(new_page(), "oncall")
    page.goto(f"{live_server.url}{change.get_absolute_url()}")
    with page.expect_download() as download_info:
        page.locator(".head-actions").get_by_role("link", name="PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{change.identifier}.pdf"
    data = Path(download.path()).read_bytes()
    pdf = read_pdf(data)
    assert_pdfa(pdf)
    assert_sound_layout(pdf, footer=(change.identifier,))
    assert f"{change.identifier}: EMERGENCY - Search returns nothing" in pdf.flat
    assert "Incident Commander: Carlos Commander" in pdf.flat
    assert pdf.attachments()[f"{change.identifier}.md"].decode().startswith(f"---\nid: {change.identifier}\n")
    save_page_one(data, "journey1-stub-pdf.png")
