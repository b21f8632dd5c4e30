"""A QMS coordinator shortens the Emergency Bypass Workflow's post-mortem deadline; the quality manager and a
second coordinator approve it by signature; a stub filed afterwards shows the new deadline, an older one the old."""

import re

import pytest
import yaml
from playwright.sync_api import expect

from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, file_stub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def click_and_wait(page, name):
    with page.expect_navigation():
        page.get_by_role("button", name=name).first.click()


def test_shorten_the_post_mortem_deadline(new_page, login, live_server, make_user):
    oncall = make_user(Role.ONCALL, username="oncall")
    make_user(Role.QMS, username="coordinator", first_name="Quinn", last_name="Coordinator")
    make_user(Role.QMS, username="coordinator2", first_name="Casey", last_name="Second")
    make_user(Role.QUALITY, username="quality", first_name="Morgan", last_name="Quality")
    older = file_stub(oncall, title="Older outage")

    author = login(new_page(), "coordinator")
    author.goto(f"{live_server.url}/procedures/")
    with author.expect_navigation():
        author.get_by_test_id("start-draft-emergency-bypass-workflow").click()
    definition = yaml.safe_load(author.get_by_label("Definition (YAML)", exact=False).input_value())
    next(c for c in definition["clocks"] if c["kind"] == "post_mortem")["amount"] = 48
    author.locator("#definition-yaml").fill(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True))
    author.get_by_test_id("draft-edit").get_by_label("Change note").fill("Post-mortem within 48 hours of resolution.")
    click_and_wait(author, "Save draft")
    expect(author.get_by_test_id("draft-changes")).to_contain_text("Post-mortem deadline: 72 h → 48 h.")
    click_and_wait(author, "Submit for review")
    expect(author.get_by_test_id("draft-status")).to_have_text("In review")
    draft_url = author.url

    for username in ("quality", "coordinator2"):
        approver = login(new_page(), username)
        approver.goto(draft_url)
        approver.get_by_label("Your password").fill(PASSWORD)
        click_and_wait(approver, "Approve")
        expect(approver.get_by_text("Your approval is signed.")).to_be_visible()
    approver.reload()
    expect(approver.get_by_test_id("draft-status")).to_have_text("Approved")

    author.reload()
    click_and_wait(author, "Publish")
    expect(author.get_by_test_id("draft-status")).to_have_text("Published")
    screenshot(author, "procedure-published")

    engineer = login(new_page(), "oncall")
    engineer.goto(f"{live_server.url}/emergencies/new/")
    engineer.get_by_label("Title").fill("Checkout API returns 500")
    engineer.get_by_role("radio", name=re.compile("P1 incident")).check()
    engineer.get_by_label("Problem statement").fill("Every order fails.")
    click_and_wait(engineer, "File emergency stub")
    expect(engineer.get_by_test_id("change-procedure-version")).to_contain_text("Emergency Bypass Workflow v2")
    expect(engineer.get_by_test_id("clock-post_mortem")).to_contain_text("Post-mortem 48 hours")
    engineer.goto(f"{live_server.url}{older.get_absolute_url()}")
    expect(engineer.get_by_test_id("change-procedure-version")).to_contain_text("Emergency Bypass Workflow v1")
    expect(engineer.get_by_test_id("clock-post_mortem")).to_contain_text("Post-mortem 72 hours")
    engineer.get_by_test_id("change-procedure-version").click()
    expect(engineer.get_by_test_id("version-clocks")).to_contain_text("Post-mortem: 72 hours")
