"""A CM-WF-EMERGENCY change through Gates 1-4 in order: Gates 2, 3 and 4 are decided by real emergency CCB
sessions, convened, voted and decided in the members' own browsers; at each point the change page shows each
gate passed, pending or blocked, and lists what blocks the next step instead of offering a button that fails."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from emergencies.models import CCBSession, GateDecision
from emergencies.models.patches import FOLLOW_UP_ITEMS
from emergencies.services import change_record_transition, gates
from emergencies.services import patches as patches
from emergencies.services.postincident import change_documentation_update
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, authorise, file_stub, ready_to_deploy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TEXTS = {
    "summary": "s",
    "installation_procedure": "i",
    "verification_procedure": "v",
    "rollback_procedure": "r",
    "release_notice": "n",
}


def vote(page, session_url, choice: str, comment: str):
    page.goto(session_url)
    card = page.get_by_test_id("vote-card")
    card.get_by_label(choice).check()
    card.get_by_label("Comment").fill(comment)
    card.get_by_label("Password").fill(PASSWORD)
    card.get_by_role("button", name="Sign and cast my vote").click()
    expect(page.get_by_text("Your vote is signed and counted.")).to_be_visible()


def convene(chair, change_url, gate_label: str, agenda: str) -> str:
    chair.goto(change_url)
    chair.get_by_test_id("ccb-panel").get_by_role("link", name="Convene an emergency CCB").click()
    chair.get_by_label(re.compile(gate_label)).check()
    chair.get_by_label("Where").fill("https://meet.example.com/ccb")
    chair.get_by_label("Agenda").fill(agenda)
    chair.get_by_role("button", name="Convene and invite").click()
    expect(chair.get_by_test_id("session-id")).to_have_text(re.compile(r"^CCB-\d{8}-\d{4}"))
    return chair.url


def decide(chair, session_url, outcome: str, reason: str):
    chair.goto(session_url)
    expect(chair.get_by_test_id("rule-outcome")).to_contain_text("Ready to decide")
    card = chair.get_by_test_id("decision-card")
    card.get_by_label(outcome).check()
    card.get_by_label("Reason").fill(reason)
    card.get_by_label("Password").fill(PASSWORD)
    card.get_by_role("button", name="Sign and record the decision").click()
    expect(chair.get_by_test_id("session-status")).to_have_text(f"Decided: {outcome}")


def test_a_cm_wf_change_through_gates_1_to_4_by_ccb_sessions_shows_what_blocks_each_step(
    new_page, login, live_server, oncall, make_user
):
    cm = make_user(Role.CM, username="cm", first_name="Cora", last_name="Config")
    make_user(Role.ENGMANAGER, username="eng", first_name="Ethan", last_name="Engineering")
    make_user(Role.QUALITY, username="quality", first_name="Quincy", last_name="Quality")
    program = make_user(Role.PROGRAM, username="program", first_name="Paula", last_name="Program")
    reviewer = make_user(Role.ONCALL, username="reviewer")
    change = file_stub(oncall, procedure_code="cm-wf-emergency", affected_systems="SN-1")
    authorise(change, cm, program)
    url = f"{live_server.url}{change.get_absolute_url()}"
    page = login(new_page(), "oncall")

    def gate(code):
        return page.locator(f"[data-gate-state^='{code}:']")

    page.goto(url)
    expect(gate("declare")).to_have_attribute("data-gate-state", "declare:pending")
    expect(gate("fast_track")).to_have_attribute("data-gate-state", "fast_track:blocked")
    expect(gate("fast_track")).to_contain_text("Gate 1: Declare emergency must pass first")
    expect(page.get_by_test_id("blocked-start_hotfix")).to_contain_text("Gate 1: Declare emergency not yet passed")
    expect(page.get_by_test_id("action-start_hotfix")).to_have_count(0)
    screenshot(page, "cmwf-gate1-pending")

    # Gate 1: one authorised person's signed assessment (no session); high severity, so the chair decides.
    gates.gate_declare_record(
        change_id=change.pk,
        actor=cm,
        password=PASSWORD,
        data=gates.DeclareInput(
            warranted=True,
            severity="HIGH",
            criteria=("Major operational impact (degraded but not lost capability)",),
            reason="Degraded autopilot on one unit",
            role=Role.CM,
        ),
    )
    page.goto(url)
    expect(gate("declare")).to_have_attribute("data-gate-state", "declare:passed")
    expect(gate("fast_track")).to_have_attribute("data-gate-state", "fast_track:pending")
    expect(gate("deployment")).to_have_attribute("data-gate-state", "deployment:blocked")
    expect(page.get_by_test_id("blocked-start_hotfix")).to_contain_text("Gate 2: Approve fast-track not yet passed")

    chair = login(new_page(), "cm")
    eng = login(new_page(), "eng")
    quality = login(new_page(), "quality")
    members = ((eng, "Small revert"), (quality, "Tested on the rig"), (chair, "Agreed"))

    # Gate 2: a session approves the fast-track.
    session_url = convene(chair, url, "Gate 2: Approve fast-track", "Fast-track the 4.2.1 revert.")
    page.goto(url)
    expect(gate("fast_track")).to_contain_text("In session")
    expect(page.get_by_test_id("blocked-start_hotfix")).to_contain_text("Gate 2: Approve fast-track not yet passed")
    for member, comment in members:
        vote(member, session_url, "Approve emergency process", comment)
    decide(chair, session_url, "Approve emergency process", "Unanimous: small revert")
    page.goto(url)
    expect(gate("fast_track")).to_have_attribute("data-gate-state", "fast_track:passed")
    page.get_by_test_id("action-start_hotfix").get_by_role("button", name="Start hotfix").click()
    expect(page.locator(".status").first).to_contain_text("Hotfix in progress")

    ready_to_deploy(change, reviewer)
    page.goto(url)
    deploy = page.get_by_test_id("blocked-deploy")
    expect(deploy).to_contain_text("No approved patch package")
    expect(deploy).to_contain_text("Gate 3: Approve deployment not yet passed")
    screenshot(page, "cmwf-deploy-blocked")
    package = patches.patch_package_create(change_id=change.pk, actor=oncall, texts=TEXTS)
    patches.patch_artifact_upload(package_id=package.pk, actor=oncall, file=SimpleUploadedFile("fw.bin", b"fw"))
    patches.patch_package_approve(package_id=package.pk, signer=cm, password=PASSWORD, role=Role.CM)
    page.goto(url)
    expect(page.get_by_test_id("blocked-deploy")).not_to_contain_text("No approved patch package")
    expect(page.get_by_test_id("blocked-deploy")).to_contain_text("Gate 3: Approve deployment not yet passed")

    # Gate 3: the session page lists what the CCB still needs before it can approve the deployment.
    change_documentation_update(
        change_id=change.pk, actor=oncall, sections={"impact_assessment": "Deploying: low risk; not deploying: unsafe"}
    )
    session_url = convene(chair, url, "Gate 3: Approve deployment", "Deploy 4.2.1 to SN-1.")
    preconditions = chair.get_by_test_id("preconditions")
    expect(preconditions).to_contain_text("Verification complete")
    expect(preconditions.locator("li", has_text="Verification complete")).to_contain_text("missing")
    for member, comment in members:
        vote(member, session_url, "Approve deployment", comment)
    chair.goto(session_url)
    chair.get_by_role("button", name="Mark verification complete").click()
    chair.goto(session_url)
    expect(chair.get_by_test_id("preconditions")).not_to_contain_text("missing")
    decide(chair, session_url, "Approve deployment", "Verified on the rig; rollback ready")
    page.goto(url)
    expect(gate("deployment")).to_have_attribute("data-gate-state", "deployment:passed")
    page.get_by_test_id("action-deploy").get_by_role("button", name="Mark deployed").click()
    expect(page.locator(".status").first).to_contain_text("Deployed")

    for name in ("start_monitoring", "resolve"):
        change_record_transition(change_id=change.pk, transition=name, actor=oncall, reason=name)
    page = login(new_page(), "cm")
    page.goto(url)
    expect(gate("close")).to_have_attribute("data-gate-state", "close:pending")
    expect(page.get_by_test_id("blocked-close")).to_contain_text("Gate 4: Close emergency: not yet approved")
    screenshot(page, "cmwf-gate4-pending")

    # Gate 4: the session shows the follow-up documentation and lessons learned still missing, then closes.
    session_url = convene(chair, url, "Gate 4: Close emergency", "Return SN-1 to the normal process.")
    missing = chair.get_by_test_id("preconditions")
    expect(missing.locator("li", has_text="30-day follow-up documentation")).to_contain_text("missing")
    expect(missing.locator("li", has_text="Lessons learned")).to_contain_text("missing")
    for member, comment in members:
        vote(member, session_url, "Close the emergency", comment)
    chair.goto(session_url)
    expect(chair.get_by_test_id("decision-card")).to_be_visible()
    change_documentation_update(
        change_id=change.pk,
        actor=oncall,
        sections={
            "root_cause": "Mode 3 logic change in 4.2.0",
            "timeline": "Detected 02:40, patched 05:10",
            "affected_artifacts": "autopilot 4.2.0 on SN-1",
            "resolution": "4.2.1 installed and verified on SN-1",
            "lessons_learned": "Rig-test mode changes",
        },
    )
    for key, _label in FOLLOW_UP_ITEMS:
        patches.follow_up_document_complete(change_id=change.pk, key=key, actor=oncall, evidence="filed", reference="")
    chair.goto(session_url)
    expect(chair.get_by_test_id("preconditions")).not_to_contain_text("missing")
    decide(chair, session_url, "Close the emergency", "Follow-up complete; lessons shared")
    page.goto(url)
    expect(gate("close")).to_have_attribute("data-gate-state", "close:passed")
    expect(page.get_by_test_id("blocked-close")).not_to_contain_text("Gate 4")
    screenshot(page, "cmwf-gate4-passed")

    decided = CCBSession.objects.filter(change=change, status=CCBSession.Status.DECIDED)
    assert sorted(decided.values_list("gate", flat=True)) == ["close", "deployment", "fast_track"]
    for code in ("fast_track", "deployment", "close"):
        decision = GateDecision.objects.get(change=change, gate=code)
        assert decision.session is not None and decision.signature_id is not None and decision.decided_by == cm
    assert timezone.now() >= decision.decided_at
