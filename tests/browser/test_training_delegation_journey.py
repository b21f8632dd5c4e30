"""A QMS coordinator records a training and sees the matrix; an architect delegates their role and the
delegate signs a bypass on their behalf, both names on the signature."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from qms.models import Signature, TrainingRecord
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.emergencies.services.test_bypasses import l2

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coordinator_records_a_training_and_the_matrix_shows_it(new_page, login, make_user):
    make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator")
    make_user(Role.LEGAL, username="lawyer", first_name="Lara", last_name="Lawyer", trained=False)
    page = login(new_page(), "qms")
    page.get_by_role("link", name="Training").click()
    row = page.get_by_test_id("matrix-row-lawyer")
    expect(row.locator('[data-course="compliance_awareness_training"]')).to_have_attribute("data-state", "missing")
    page.get_by_role("link", name="Record a training").click()
    page.get_by_label("Person").select_option(label="Lara Lawyer")
    page.get_by_label("Course").select_option(label="Compliance awareness training")
    page.get_by_label("Completed on").fill(timezone.localdate().isoformat())
    page.get_by_label("Evidence reference").fill("CAT-2026-007")
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_text("Compliance awareness training recorded for Lara Lawyer")).to_be_visible()
    row = page.get_by_test_id("matrix-row-lawyer")
    expect(row.locator('[data-course="compliance_awareness_training"]')).to_have_attribute("data-state", "valid")
    expect(row).to_contain_text("Legal")
    screenshot(page, "journey-training-matrix")
    assert TrainingRecord.objects.get(user__username="lawyer").evidence_reference == "CAT-2026-007"


def test_a_delegate_signs_a_bypass_on_behalf_of_the_architect(new_page, login, make_user, live_server):
    make_user(Role.ARCHITECT, username="architect", first_name="Arjun", last_name="Architect")
    make_user(Role.LEAD, username="colleague", first_name="Cole", last_name="League")
    developer = make_user(Role.ONCALL, username="dev")
    bypass = l2(developer, now=timezone.now())

    architect = login(new_page(), "architect")
    architect.goto(live_server.url + "/preferences/")
    architect.get_by_role("link", name="Delegate a signing role").click()
    architect.get_by_label("Role").select_option(label="Core architect")
    architect.get_by_label("Delegate to").select_option(label="Cole League")
    start = timezone.localtime()
    architect.get_by_label("From").fill(start.strftime("%Y-%m-%dT%H:%M"))
    architect.get_by_label("Until").fill((start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    architect.get_by_label("Reason").fill("At the standards meeting all week")
    architect.get_by_role("button", name="Delegate").click()
    expect(architect.get_by_text("Core architect delegated to Cole League.")).to_be_visible()

    colleague = login(new_page(), "colleague")
    colleague.goto(live_server.url + bypass.get_absolute_url())
    expect(colleague.get_by_test_id("acting-for")).to_contain_text("on behalf of Arjun Architect")
    colleague.get_by_label("Signing as").select_option(label="Core architect")
    colleague.get_by_label("Password").fill("pw-correct-horse")
    colleague.get_by_role("button", name="Approve and sign").click()
    expect(colleague.get_by_text("Signed.")).to_be_visible()
    expect(colleague.get_by_test_id("signature").first).to_contain_text("Cole League on behalf of Arjun Architect")
    screenshot(colleague, "journey-delegate-signature")
    signature = Signature.objects.get(signer__username="colleague")
    assert signature.on_behalf_of.username == "architect"
