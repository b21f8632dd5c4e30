"""A CM-WF-EMERGENCY change through Gates 1-4 in order: at each point the change page shows each gate passed,
pending or blocked, and lists what blocks the next step instead of offering a button that fails."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from emergencies.services import change_record_transition
from emergencies.services import patch as patches
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.emergencies.test_ccb import make_board
from tests.factories import PASSWORD, authorise, file_stub, pass_gates, ready_to_deploy

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TEXTS = {
    "summary": "s",
    "installation_procedure": "i",
    "verification_procedure": "v",
    "rollback_procedure": "r",
    "release_notice": "n",
}


def test_a_cm_wf_change_through_gates_1_to_4_shows_what_blocks_each_step(
    new_page, login, live_server, oncall, make_user
):
    board = make_board(make_user)
    change = file_stub(oncall, procedure_code="cm-wf-emergency", affected_systems="SN-1")
    authorise(change, board.cm, board.program)
    url = f"{live_server.url}{change.get_absolute_url()}"
    page = login(new_page(), "oncall")

    def gate(code):
        return page.locator(f"[data-gate-state^='{code}:']")

    page.goto(url)
    expect(gate("declare")).to_have_attribute("data-gate-state", "declare:pending")
    expect(gate("fast_track")).to_have_attribute("data-gate-state", "fast_track:blocked")
    expect(gate("fast_track")).to_contain_text("Gate 1: Declare emergency must pass first")
    blocked = page.get_by_test_id("blocked-start_hotfix")
    expect(blocked).to_contain_text("Gate 1: Declare emergency not yet passed")
    expect(page.get_by_test_id("action-start_hotfix")).to_have_count(0)
    screenshot(page, "cmwf-gate1-pending")

    pass_gates(change, "declare", actor=board.cm)  # Gate 1 signed by the configuration manager
    page.goto(url)
    expect(gate("declare")).to_have_attribute("data-gate-state", "declare:passed")
    expect(gate("fast_track")).to_have_attribute("data-gate-state", "fast_track:pending")
    expect(gate("deployment")).to_have_attribute("data-gate-state", "deployment:blocked")
    expect(page.get_by_test_id("blocked-start_hotfix")).to_contain_text("Gate 2: Approve fast-track not yet passed")

    pass_gates(change, "fast_track", actor=board.cm)
    page.goto(url)
    page.get_by_test_id("action-start_hotfix").get_by_role("button", name="Start hotfix").click()
    ready_to_deploy(change, make_user(Role.ONCALL))
    page.goto(url)
    deploy = page.get_by_test_id("blocked-deploy")
    expect(deploy).to_contain_text("No approved patch package")
    expect(deploy).to_contain_text("Gate 3: Approve deployment not yet passed")
    screenshot(page, "cmwf-deploy-blocked")

    package = patches.patch_package_create(change_id=change.pk, actor=oncall, texts=TEXTS)
    patches.patch_artifact_upload(package_id=package.pk, actor=oncall, file=SimpleUploadedFile("fw.bin", b"fw"))
    patches.patch_package_approve(package_id=package.pk, signer=board.cm, password=PASSWORD, role=Role.CM)
    page.goto(url)
    expect(page.get_by_test_id("blocked-deploy")).not_to_contain_text("No approved patch package")
    pass_gates(change, "deployment", actor=board.cm)
    page.goto(url)
    expect(gate("deployment")).to_have_attribute("data-gate-state", "deployment:passed")
    page.get_by_test_id("action-deploy").get_by_role("button", name="Mark deployed").click()
    expect(page.locator(".status").first).to_contain_text("Deployed")
    for name in ("start_monitoring", "resolve"):
        change_record_transition(change_id=change.pk, transition=name, actor=oncall, reason=name)
    page = login(new_page(), board.cm.username)
    page.goto(url)
    expect(gate("close")).to_have_attribute("data-gate-state", "close:pending")
    expect(page.get_by_test_id("blocked-close")).to_contain_text("Gate 4: Close emergency: not yet approved")
    pass_gates(change, "close", actor=board.cm)
    page.goto(url)
    expect(gate("close")).to_have_attribute("data-gate-state", "close:passed")
    expect(page.get_by_test_id("blocked-close")).not_to_contain_text("Gate 4")
    screenshot(page, "cmwf-gate4-passed")
