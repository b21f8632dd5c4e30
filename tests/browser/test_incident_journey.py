"""After filing: the incident commander is assigned, changes the severity and sees the response clock move;
a security officer unlocks a locked signer from the user's page."""

import re

import pytest
from django.core.exceptions import ValidationError
from playwright.sync_api import expect

from emergencies.models import Incident
from qms.models import Notification, SignerState
from qms.roles import Role
from qms.services import SigningLocked, signer_authenticate
from tests.browser.conftest import screenshot
from tests.factories import file_stub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_commander_assigned_after_filing_changes_severity_and_sees_the_clock_move(
    new_page, login, live_server, oncall, commander
):
    change = file_stub(oncall, procedure_code="qms-emergency-bypass-v1")
    url = f"{live_server.url}{change.get_absolute_url()}"
    page = login(new_page(), "oncall")
    page.goto(url)
    expect(page.locator("#clocks tr[data-kind=triage]")).to_contain_text(re.compile(r"1[45]m left"))
    page.get_by_text("Complete or correct the incident").click()
    form = page.get_by_test_id("incident-form")
    form.get_by_label("Incident commander").select_option(label="Carlos Commander")
    form.get_by_label("Reason for the change").fill("Carlos is the commander on call")
    form.get_by_role("button", name="Save the incident").click()
    expect(page.get_by_test_id("incident-history")).to_contain_text("Carlos is the commander on call")
    assert Incident.objects.get(pk=change.incident_id).commander == commander
    assert Notification.objects.filter(recipient=commander, dedupe_key__startswith="incident-commander:").exists()

    page = login(new_page(), "commander")
    page.goto(url)
    page.get_by_text("Complete or correct the incident").click()
    form = page.get_by_test_id("incident-form")
    form.get_by_label("Severity").select_option(label="S3 - Medium")
    form.get_by_label("Reason for the change").fill("Degraded for a few users, not down")
    form.get_by_role("button", name="Save the incident").click()
    expect(page.locator("#clocks tr[data-kind=triage]")).to_contain_text(re.compile(r"3h \d\dm left"))
    expect(page.get_by_test_id("incident-history")).to_contain_text("Degraded for a few users")
    screenshot(page, "incident-severity-changed")


def test_a_security_officer_unlocks_a_locked_signer(new_page, login, make_user, security):
    lead = make_user(Role.LEAD, username="lead", first_name="Lee", last_name="Lead")
    for _ in range(5):
        with pytest.raises((ValidationError, SigningLocked)):
            signer_authenticate(user=lead, password="wrong")
    page = login(new_page(), "security")
    page.goto(page.url + "users/")
    page.get_by_role("link", name="Lee Lead").click()
    expect(page.get_by_test_id("signing-state")).to_contain_text("Locked since")
    page.get_by_label("Why unlock").fill("Identity confirmed by a call to the roster number")
    page.get_by_role("button", name="Unlock signing").click()
    expect(page.get_by_test_id("signing-state")).to_contain_text("Can sign")
    assert SignerState.objects.get(user=lead).locked_at is None
    screenshot(page, "signer-unlocked")
