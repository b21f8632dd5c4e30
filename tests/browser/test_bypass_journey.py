"""A lead requests a level 2 bypass; the architect and the QMS coordinator sign it in their own sessions."""

import re

import pytest
from playwright.sync_api import expect

from emergencies.models import BypassRequest
from qms.roles import Role
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_l2_bypass_is_requested_signed_twice_and_turns_active(new_page, login, make_user):
    make_user(Role.LEAD, username="lead", first_name="Lena", last_name="Lead")
    make_user(Role.ARCHITECT, username="architect", first_name="Arjun", last_name="Architect")
    make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator")

    lead = login(new_page(), "lead")
    lead.get_by_role("link", name="Bypasses").click()
    lead.get_by_role("link", name="Request a bypass").click()
    lead.get_by_label("Repository").fill("payments-api")
    lead.get_by_label("Pull request").fill("#4242")
    lead.get_by_role("radio", name="High").check()
    level = lead.get_by_test_id("bypass-level")
    expect(level).to_contain_text("Level 2")
    expect(level).to_contain_text("Core architect, QMS coordinator")
    lead.get_by_label(re.compile("DoR/DoD validation")).check()
    lead.get_by_label("Impact assessment").fill("Checkout latency rises for 5% of users")
    lead.get_by_label("Complexity score (1-10)").fill("4")
    lead.get_by_label(re.compile("Test-coverage impact")).fill("12")
    lead.get_by_label("Integration risk").fill("Payments gateway contract unchanged")
    lead.get_by_label("Rollback feasibility").select_option("easy")
    lead.get_by_label("Business factors").fill("Peak sales weekend")
    lead.get_by_label("Business justification").fill("Revenue at risk without the fix")
    lead.get_by_label("Stakeholder notification plan").fill("Email product and support")
    lead.get_by_label("Remediation plan").fill("Restore DoR/DoD checks and backfill tests")
    screenshot(lead, "journey-bypass-form")
    lead.get_by_role("button", name="Request bypass").click()
    expect(lead.get_by_test_id("bypass-id")).to_have_text(re.compile(r"^BYPASS-L2-\d{8}-\d{6}$"))
    identifier = lead.get_by_test_id("bypass-id").inner_text()
    url = lead.url

    for username, role in (("architect", "Core architect"), ("qms", "QMS coordinator")):
        page = login(new_page(), username)
        expect(page.get_by_text(identifier)).to_be_visible()  # waiting for their signature on the dashboard
        page.goto(url)
        page.get_by_label("Signing as").select_option(label=role)
        page.get_by_label("Password").fill("pw-correct-horse")
        page.get_by_label("Comment").fill(f"{role} review done")
        page.get_by_role("button", name="Approve and sign").click()
        expect(page.get_by_text("Signed.")).to_be_visible()

    lead.reload()
    expect(lead.get_by_test_id("bypass-status")).to_have_text("Active")
    expect(lead.get_by_test_id("signature")).to_have_count(2)
    clocks = lead.locator("#clocks")
    expect(clocks).to_contain_text("Remediate: DoR/DoD validation")
    expect(clocks).to_contain_text(re.compile(r"\dd \d+h left"))
    screenshot(lead, "journey-bypass-active")
    assert BypassRequest.objects.get(identifier=identifier).status == BypassRequest.Status.ACTIVE
