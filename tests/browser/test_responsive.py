"""The three journeys on a phone (390 px) and a laptop (1366 px): no page is wider than the screen, the header
stays small and "Sign out" and the primary action stay reachable. Screenshots go to test-artifacts/.

And the hand-off: a review asked on the change page arrives on the reviewer's dashboard and by email, and
closes when the reviewer takes the step."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from audits.reports.periods import last_complete_period
from audits.reports.services import report_generate
from emergencies.models import ChangeRecord, HandoffRequest
from emergencies.services import ccb as ccb_services
from emergencies.services import change_record_transition, gates
from qms.models import Notification
from qms.roles import Role
from qms.tasks import notification_send_task
from tests.audits.helpers import granted_bypass
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, authorise, file_stub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = [390, 1366]


@pytest.fixture
def sized_page(browser):
    contexts = []

    def make(width: int):
        context = browser.new_context(viewport={"width": width, "height": 844 if width < 700 else 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def fits(page, name: str, width: int) -> None:
    """Nothing sticks out sideways, the header is compact on a phone, Sign out is on screen."""
    page.wait_for_load_state("networkidle")
    scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client, f"{name} at {width}px scrolls sideways: {scroll}px of content in {client}px"
    header = page.locator("header.topbar").bounding_box()
    if width < 700:
        assert header["height"] <= 110, f"{name}: header {header['height']}px tall at {width}px"
    sign_out = page.get_by_role("button", name="Sign out")
    if sign_out.count():
        box = sign_out.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= client, f"{name}: Sign out is cut off"
    screenshot(page, f"responsive-{width}-{name}")


@pytest.mark.parametrize("width", [360, *WIDTHS])
def test_oncall_files_a_stub_on_a_phone_and_a_laptop(sized_page, login, live_server, oncall, commander, width):
    page = login(sized_page(width), "oncall")
    fits(page, "oncall-dashboard", width)
    page.get_by_role("link", name="Declare emergency").first.click()
    page.get_by_label("Title").fill("Checkout API returns 500 for every order")
    page.get_by_role("radio", name=re.compile("P1 incident")).check()
    page.get_by_label("Problem statement").fill("Since 02:40 UTC every POST /orders fails; revenue stopped.")
    fits(page, "oncall-stub-form", width)
    button = page.get_by_role("button", name="File emergency stub")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box["width"] >= (300 if width < 700 else 100)  # a thumb finds it on a phone
    button.click()
    change = ChangeRecord.objects.get()
    expect(page.get_by_test_id("change-id")).to_have_text(change.identifier)
    fits(page, "oncall-change", width)
    page.goto(f"{live_server.url}/emergencies/")
    fits(page, "oncall-change-list", width)


def _ccb_session(make_user):
    cm = make_user(Role.CM, username="cm", first_name="Cora", last_name="Config")
    eng = make_user(Role.ENGMANAGER, username="eng", first_name="Ethan", last_name="Engineering")
    quality = make_user(Role.QUALITY, username="quality", first_name="Quincy", last_name="Quality")
    change = file_stub(
        cm,
        procedure_code="cm-wf-emergency",
        title="Autopilot mode 3 disengages without warning",
        problem_statement="Two operators report uncommanded disengagement in mode 3 since release 4.2.0.",
        affected_systems="SN-1001\nSN-1004",
    )
    gates.gate_declare_record(
        change_id=change.pk,
        actor=cm,
        password=PASSWORD,
        data=gates.DeclareInput(
            warranted=True,
            severity="HIGH",
            criteria=("Major operational impact (degraded but not lost capability)",),
            reason="Degraded autopilot on two units",
            role=Role.CM,
        ),
    )
    data = ccb_services.SessionInput(
        gate="fast_track",
        scheduled_at=timezone.now(),
        location="https://meet.example.com/ccb-mode3",
        agenda="Severity: high. Proposed patch 4.2.1 reverts the mode 3 change. Fast-track requested.",
        members=((eng, Role.ENGMANAGER), (quality, Role.QUALITY)),
    )
    session = ccb_services.ccb_session_convene(change_id=change.pk, data=data, actor=cm)
    return change, session


@pytest.mark.parametrize("width", WIDTHS)
def test_ccb_member_votes_on_a_phone_and_a_laptop(sized_page, login, live_server, make_user, width):
    change, session = _ccb_session(make_user)
    page = login(sized_page(width), "eng")
    fits(page, "ccb-dashboard", width)
    page.get_by_role("link", name=re.compile(r"CCB-\d{8}-\d{4} Gate 2")).first.click()
    expect(page.get_by_test_id("evidence")).to_contain_text("uncommanded disengagement")
    fits(page, "ccb-session", width)
    card = page.get_by_test_id("vote-card")
    card.get_by_label("Approve emergency process").check()
    card.get_by_label("Comment").fill("Two units degraded; the revert is small")
    card.get_by_label("Password").fill(PASSWORD)
    card.get_by_role("button", name="Sign and cast my vote").click()
    expect(page.get_by_text("Your vote is signed and counted.")).to_be_visible()
    expect(page.get_by_test_id("voted-count")).to_have_text("1 of 3")
    fits(page, "ccb-voted", width)
    chair = login(sized_page(width), "cm")
    chair.goto(f"{live_server.url}{session.get_absolute_url()}")
    expect(chair.get_by_test_id("decision-card")).to_be_visible()
    fits(chair, "ccb-chair", width)
    chair.goto(f"{live_server.url}{change.get_absolute_url()}")
    fits(chair, "ccb-change", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_qms_coordinator_reads_reports_on_a_phone_and_a_laptop(sized_page, login, make_user, width):
    make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator")
    dev = make_user(Role.ONCALL, username="dev", first_name="Dana", last_name="Developer")
    lead = make_user(Role.LEAD, username="lead", first_name="Lena", last_name="Lead")
    start, _ = last_complete_period("monthly", timezone.now())
    granted_bypass(
        dev,
        lead,
        requested_at=start + timedelta(days=4, hours=9),
        decided_at=start + timedelta(days=4, hours=10),
        repository="payments-api",
        checks=("code_quality_minor", "documentation_coverage"),
    )
    report_generate(kind="monthly", period_start=start)

    page = login(sized_page(width), "qms")
    fits(page, "qms-dashboard", width)
    page.get_by_role("link", name="Reports", exact=True).click()
    fits(page, "qms-report-list", width)
    page.get_by_role("link", name=re.compile(r"monthly report")).first.click()
    expect(page.locator("svg#chart-trend")).to_be_visible()
    fits(page, "qms-report", width)
    figure = page.locator('[data-figure="overdue_remediation"]')
    figure.get_by_role("link").click()
    expect(page.get_by_test_id("drill-count")).to_contain_text("records")
    fits(page, "qms-drill", width)
    page.get_by_role("link", name="Audit trail", exact=True).click()
    fits(page, "qms-audit-trail", width)
    page.get_by_role("link", name="Overdue", exact=True).click()
    fits(page, "qms-overdue", width)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_refusal_is_a_styled_page_with_its_reason(sized_page, login, live_server, oncall, width):
    page = login(sized_page(width), "oncall")
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)  # not offered to on-call
    page.goto(f"{live_server.url}/audit/events/")
    expect(page.get_by_test_id("error-403")).to_contain_text("The audit trail is for QMS coordinators")
    fits(page, "error-403", width)
    page.goto(f"{live_server.url}/emergencies/CHG-EMG-20990101-0000/")
    expect(page.get_by_test_id("error-404")).to_be_visible()
    fits(page, "error-404", width)


def test_a_review_asked_on_the_page_reaches_the_reviewers_dashboard_and_inbox(
    sized_page, login, live_server, oncall, commander, make_user
):
    make_user(Role.ONCALL, username="reviewer", first_name="Rita", last_name="Reviewer")
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall)
    Notification.objects.all().delete()

    author = login(sized_page(1366), "oncall")
    author.goto(f"{live_server.url}{change.get_absolute_url()}")
    panel = author.get_by_test_id("handoffs")
    panel.get_by_label("Step").select_option(label="Second-engineer review of the hotfix")
    panel.get_by_label("Person").select_option(label="Rita Reviewer (reviewer)")
    panel.get_by_label("Note").fill("PR #812: 20 lines in the payment retry")
    panel.get_by_role("button", name="Ask and notify").click()
    expect(author.get_by_text("asked of Rita Reviewer; they have been notified")).to_be_visible()
    expect(author.get_by_test_id("handoffs")).to_contain_text(re.compile(r"waiting for Rita Reviewer since .+"))
    screenshot(author, "handoff-asked")

    # By email: the outbox row the worker sends.
    (notification,) = Notification.objects.filter(recipient__username="reviewer")
    assert notification_send_task([notification.pk]) == 1
    (message,) = mail.outbox
    assert message.to == ["reviewer@example.com"] or message.to[0].startswith("reviewer")
    assert "Second-engineer review of the hotfix" in message.subject and change.identifier in message.subject
    assert f"{change.get_absolute_url()}#deployment" in message.body

    # On the dashboard, with its clock; the link leads to the step.
    reviewer = login(sized_page(390), "reviewer")
    waiting = reviewer.get_by_test_id("waiting-for-you")
    expect(waiting).to_contain_text("Second-engineer review of the hotfix")
    expect(waiting).to_contain_text(re.compile(r"waiting since .+\(\d+.minute"))
    expect(waiting).to_contain_text("PR #812")
    fits(reviewer, "handoff-reviewer-dashboard", 390)
    waiting.get_by_role("link", name=re.compile(change.identifier)).click()
    reviewer.get_by_role("button", name="I reviewed this hotfix").click()
    expect(reviewer.get_by_test_id("handoffs")).to_contain_text("done")
    expect(reviewer.locator("#deployment")).to_contain_text("Rita Reviewer")
    fits(reviewer, "handoff-reviewed", 390)

    reviewer.goto(f"{live_server.url}/")
    expect(reviewer.get_by_test_id("waiting-for-you")).to_contain_text("Nobody is waiting for you.")
    assert HandoffRequest.objects.get().status == HandoffRequest.Status.DONE


def test_the_time_zone_picker_offers_the_browsers_zone_first(browser, login, live_server, oncall):
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Asia/Tokyo")
    try:
        page = login(context.new_page(), "oncall")
        page.goto(f"{live_server.url}/preferences/")
        note = page.get_by_test_id("browser-zone")
        expect(note).to_contain_text("Your browser is in Asia/Tokyo")
        first = page.locator("#tz-list option").first
        expect(first).to_have_attribute("value", "Asia/Tokyo")
        fits(page, "preferences", 390)
        note.get_by_role("button", name="Use it").click()
        expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Preferences saved.")).to_be_visible()
        oncall.refresh_from_db()
        assert oncall.time_zone == "Asia/Tokyo"
        expect(page.locator("footer")).to_contain_text("Asia/Tokyo")
    finally:
        context.close()
