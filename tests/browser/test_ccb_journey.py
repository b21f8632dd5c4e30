"""The CCB member's journey: a configuration manager convenes an emergency CCB, three members vote in
their own browsers, the chair watches the tally change without reloading and records the decision."""

import re

import pytest
from playwright.sync_api import expect

from emergencies.models import CCBSession, GateDecision
from emergencies.services import gates
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, file_stub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def vote(page, choice: str, comment: str, *, button: str = "Sign and cast my vote"):
    card = page.get_by_test_id("vote-card")
    if button == "Sign and change my vote":
        card.get_by_text("Change my vote", exact=True).click()
    card.get_by_label(choice).check()
    card.get_by_label("Comment").fill(comment)
    card.get_by_label("Password").fill(PASSWORD)
    card.get_by_role("button", name=button).click()
    expect(page.get_by_text("Your vote is signed and counted.")).to_be_visible()


def test_three_members_vote_live_and_the_chair_records_the_decision(new_page, login, make_user, live_server):
    cm = make_user(Role.CM, username="cm", first_name="Cora", last_name="Config")
    make_user(Role.ENGMANAGER, username="eng", first_name="Ethan", last_name="Engineering")
    make_user(Role.QUALITY, username="quality", first_name="Quincy", last_name="Quality")
    change = file_stub(
        cm,
        procedure_code="cm-wf-emergency",
        title="Autopilot mode 3 disengages without warning",
        problem_statement="Two operators report uncommanded disengagement in mode 3 since release 4.2.0.",
        affected_systems="SN-1001\nSN-1004",
    )
    # Gate 1: the configuration manager assesses it as high severity (no program manager seat then).
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

    chair = login(new_page(), "cm")
    chair.goto(f"{live_server.url}{change.get_absolute_url()}")
    panel = chair.get_by_test_id("ccb-panel")
    expect(panel).to_contain_text("Declare emergency")
    panel.get_by_role("link", name="Convene an emergency CCB").click()
    chair.get_by_label(re.compile("Gate 2: Approve fast-track")).check()
    chair.get_by_label("Where").fill("https://meet.example.com/ccb-mode3")
    chair.get_by_label("Agenda").fill(
        "Severity: high. Proposed patch 4.2.1 reverts the mode 3 change. Fast-track requested."
    )
    expect(chair.get_by_label("Engineering manager")).to_have_value(re.compile(r"\d+"))  # the only one, preselected
    chair.get_by_role("button", name="Convene and invite").click()
    expect(chair.get_by_test_id("session-id")).to_have_text(re.compile(r"^CCB-\d{8}-\d{4}$"))
    session_url = chair.url
    tally = chair.get_by_test_id("tally")
    expect(chair.get_by_test_id("voted-count")).to_have_text("0 of 3")
    expect(tally.get_by_test_id("seats")).to_contain_text("not voted yet")

    eng = login(new_page(), "eng")
    expect(eng.get_by_role("link", name=re.compile(r"CCB-\d{8}-\d{4} Gate 2"))).to_be_visible()  # on the dashboard
    eng.goto(session_url)
    expect(eng.get_by_test_id("evidence")).to_contain_text("uncommanded disengagement")
    vote(eng, "Approve emergency process", "Two units degraded; the revert is small")

    # The chair's page was never reloaded: the tally follows the votes.
    expect(chair.get_by_test_id("voted-count")).to_have_text("1 of 3")
    expect(chair.get_by_test_id("count-approve-n")).to_have_text("1")
    expect(chair.get_by_test_id("decision-hint")).to_contain_text(
        "waiting for the configuration manager and the quality manager"
    )
    screenshot(chair, "journey-ccb-live-tally")

    quality = login(new_page(), "quality")
    quality.goto(session_url)
    vote(quality, "More information needed", "Which units run 4.2.0?")
    expect(chair.get_by_test_id("voted-count")).to_have_text("2 of 3")
    expect(chair.get_by_test_id("count-more_info-n")).to_have_text("1")
    # A changed vote supersedes the first one; both stay on record.
    vote(quality, "Approve emergency process", "Only SN-1001 and SN-1004: approve", button="Sign and change my vote")
    expect(chair.get_by_test_id("count-more_info-n")).to_have_text("0")
    expect(chair.get_by_test_id("count-approve-n")).to_have_text("2")
    expect(chair.get_by_test_id("rule-outcome")).to_contain_text("waiting for the configuration manager")

    vote(chair, "Approve emergency process", "Agreed: fast-track the revert")
    expect(chair.get_by_test_id("rule-outcome")).to_contain_text("Ready to decide")
    expect(eng.get_by_test_id("voted-count")).to_have_text("3 of 3")  # every member's page follows too

    decision = chair.get_by_test_id("decision-card")
    # A signed decision starts empty: the chair chooses what the votes give, nothing is pre-selected.
    expect(decision.get_by_label("Approve emergency process")).not_to_be_checked()
    decision.get_by_label("Approve emergency process").check()
    decision.get_by_label("Reason").fill("Unanimous: degraded autopilot on two units, small revert")
    decision.get_by_label("Standard CCB review cycle (fast-track approval)").check()
    decision.get_by_label("Password").fill(PASSWORD)
    screenshot(chair, "journey-ccb-before-decision")
    decision.get_by_role("button", name="Sign and record the decision").click()

    expect(chair.get_by_test_id("session-status")).to_have_text("Decided: Approve emergency process")
    expect(chair.get_by_test_id("decision")).to_contain_text("Standard CCB review cycle")
    # The members' pages reload by themselves once the session is decided.
    expect(eng.get_by_test_id("session-status")).to_have_text("Decided: Approve emergency process")
    expect(quality.get_by_test_id("decision")).to_contain_text("Unanimous")
    screenshot(chair, "journey-ccb-decided")

    chair.goto(f"{live_server.url}{change.get_absolute_url()}")
    gate_2 = chair.get_by_test_id("ccb-panel").locator(".gate").nth(1)
    expect(gate_2).to_contain_text("Approve fast-track")
    expect(gate_2).to_contain_text("Passed")
    screenshot(chair, "journey-ccb-change-panel")
    chair.get_by_role("link", name="Gates, status updates and notifications").click()
    expect(chair.get_by_test_id("gates")).to_contain_text("Verification complete")
    screenshot(chair, "journey-ccb-gates")

    session = CCBSession.objects.get()
    assert session.status == CCBSession.Status.DECIDED and session.waivers == ["standard_ccb_cycle"]
    assert session.votes.count() == 4  # three members, one changed vote
    assert GateDecision.objects.filter(gate="fast_track", result="passed", decided_by=cm).exists()
