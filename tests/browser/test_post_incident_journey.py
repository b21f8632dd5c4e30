"""A stub taken through hotfix, deployment, documentation, post-mortem, gate validation and closure."""

import re

import pytest
from playwright.sync_api import expect

from emergencies.models import ChangeRecord
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, authorise, file_stub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def click_and_wait(page, name):
    with page.expect_navigation():
        page.get_by_role("button", name=name).first.click()


def test_stub_to_closure(new_page, login, live_server, oncall, commander, make_user):
    make_user(Role.LEAD, username="lead", first_name="Lena", last_name="Lead")
    make_user(Role.QMS, Role.QUALITY, username="qms", first_name="Quinn", last_name="Coordinator")
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    url = f"{live_server.url}{change.get_absolute_url()}"

    # Hotfix: the on-call engineer starts it, a second engineer reviews, the checklist is ticked.
    engineer = login(new_page(), "oncall")
    engineer.goto(url)
    click_and_wait(engineer, "Start hotfix")
    expect(engineer.locator(".status").first).to_have_text("Hotfix in progress")
    lead = login(new_page(), "lead")
    lead.goto(url)
    click_and_wait(lead, "I reviewed this hotfix")
    engineer.reload()
    for item in (
        "Smoke test passed",
        "Deployment notification sent",
        "Monitoring dashboards open",
        "On-call team notified",
    ):
        box = engineer.get_by_role("checkbox", name=item)
        box.click()  # ticked in place (htmx): no reload
        expect(engineer.get_by_role("checkbox", name=item)).to_have_attribute("aria-checked", "true")
    engineer.get_by_role("link", name="write it").click()
    engineer.get_by_label("Rollback plan").fill("Revert to v2.3.0; feature flag off.")
    click_and_wait(engineer, "Save documentation")
    click_and_wait(engineer, "Mark deployed")
    click_and_wait(engineer, "Start monitoring")
    engineer.get_by_label("Error-rate increase (%)").fill("1.5")
    engineer.get_by_label(re.compile("Response time vs baseline")).fill("1.1")
    engineer.get_by_label("New critical errors").fill("0")
    click_and_wait(engineer, "Record reading")
    expect(engineer.get_by_text("Within thresholds")).to_be_visible()

    # Resolution, then the full documentation.
    captain = login(new_page(), "commander")
    captain.goto(url)
    click_and_wait(captain, "Confirm resolution")
    engineer.goto(url)
    engineer.get_by_role("link", name="Edit documentation").click()
    for label, text in (
        ("Root cause analysis", "Retry storm exhausted the pool"),
        ("Impact assessment", "All checkouts failed for 42 minutes"),
        ("Timeline of events", "02:40 detected, 03:10 deployed"),
        ("All affected artifacts", "payments-api v2.3.1"),
        ("Resolution details", "Capped retries"),
        ("Lessons learned", "Retry budgets need alerts"),
    ):
        engineer.get_by_label(label, exact=True).fill(text)
    click_and_wait(engineer, "Save documentation")

    # Post-mortem: written by the engineer, approved by the commander with a signature.
    click_and_wait(engineer, "Start the post-mortem")
    for number, text in enumerate(
        ["Checkout failed", "Pool exhausted", "Retry storm", "No retry budget", "Library default never reviewed"],
        start=1,
    ):
        engineer.get_by_label(re.compile(rf"^Why\? \({number}\)")).fill(text)
    engineer.get_by_label("Resolution").fill("Capped retries and raised the pool size")
    engineer.get_by_label("What went well").fill("Fast triage")
    engineer.get_by_label("What went poorly").fill("Alert fired late")
    click_and_wait(engineer, "Save post-mortem")
    engineer.get_by_role("textbox", name="Measure").fill("Alert on retry storms")
    engineer.get_by_label("Category").select_option("monitoring")
    click_and_wait(engineer, "Add preventive measure")
    click_and_wait(engineer, "Create follow-up change")
    follow_up = ChangeRecord.objects.get(parent=change)
    expect(engineer.get_by_role("link", name=follow_up.identifier)).to_be_visible()
    click_and_wait(engineer, "Submit for review")
    captain.goto(f"{url}post-mortem/")
    captain.get_by_label("Signing as").select_option(label="Incident commander")
    captain.get_by_label("Password").fill(PASSWORD)
    click_and_wait(captain, "Approve and sign")
    expect(captain.get_by_test_id("pm-status")).to_have_text("Approved")

    # Every bypassed gate validated after the fact by the QMS coordinator, who then closes the change.
    coordinator = login(new_page(), "qms")
    coordinator.goto(url)
    bulk = coordinator.get_by_test_id("gate-bulk")
    selects = bulk.locator("select")
    count = selects.count()
    assert count >= 5
    for i in range(count):  # every gate in one form, one save
        selects.nth(i).select_option("passed")
    bulk.get_by_label("Evidence for the rows left without their own").fill("Retroactive run: full pipeline green")
    click_and_wait(coordinator, "Record the chosen results")
    expect(coordinator.get_by_text(f"{count} gate results recorded.")).to_be_visible()
    engineer.goto(url)
    engineer.get_by_role("checkbox", name="Stakeholders notified").click()
    expect(engineer.get_by_role("checkbox", name="Stakeholders notified")).to_have_attribute("aria-checked", "true")
    coordinator.reload()
    closure = coordinator.locator("#closure")
    expect(closure.locator(".tick.ticked")).to_have_count(6)
    screenshot(coordinator, "journey-post-incident-ready")
    click_and_wait(coordinator, "Close emergency change")
    expect(coordinator.locator(".status").first).to_have_text("Closed")
    screenshot(coordinator, "journey-post-incident-closed")
    change.refresh_from_db()
    assert change.status == ChangeRecord.Status.CLOSED
