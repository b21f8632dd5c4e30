"""A QMS coordinator lowers the CVSS minimum of an emergency through the explained rules form: a value the
engine cannot run is refused at its field, the corrected one is saved and read in words; the page fits a phone."""

import pytest
from playwright.sync_api import expect

from qms.roles import Role
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _start_draft(new_page, login, live_server, make_user):
    """A QMS coordinator starts a draft of the QMS Emergency Bypass Procedures: the page and its rules form."""
    make_user(Role.QMS, username="coordinator")
    page = login(new_page(), "coordinator")
    page.goto(f"{live_server.url}/procedures/")
    with page.expect_navigation():
        page.get_by_test_id("start-draft-qms-emergency-bypass-v1").click()
    return page, page.get_by_test_id("draft-rules-form")


def test_edit_the_emergency_criteria_through_the_form(new_page, login, live_server, make_user):
    page, form = _start_draft(new_page, login, live_server, make_user)
    section = form.locator('[data-section="severity"]')
    section.locator("summary").click()
    section.get_by_label("CVSS minimum for an emergency").fill("8.5")
    section.get_by_label("CVSS minimum for the expedited path").fill("9.0")
    form.get_by_label("Change note").fill("High-severity CVEs from 8.5 count as emergencies.")
    with page.expect_navigation():
        form.get_by_role("button", name="Save the rules").click()
    field = page.locator('[data-field="emergency-cvss_expedited_min"]')
    expect(field.get_by_role("alert")).to_contain_text("At most the emergency minimum")
    screenshot(page, "procedure-rules-refused-1280")

    field.get_by_label("CVSS minimum for the expedited path").fill("7.0")
    with page.expect_navigation():
        page.get_by_test_id("draft-rules-form").get_by_role("button", name="Save the rules").click()
    expect(page.get_by_test_id("draft-changes")).to_contain_text("Emergency criteria cvss emergency min: 9.0 → 8.5.")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_test_id("draft-rules-form").locator('[data-section="authorisers"] summary').click()
    screenshot(page, "procedure-rules-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    screenshot(page, "procedure-rules-390")


def test_add_a_clock_through_the_form(new_page, login, live_server, make_user):
    """The empty row at the end of the clocks adds one; the draft's changes say so in words."""
    page, form = _start_draft(new_page, login, live_server, make_user)
    section = form.locator('[data-section="clocks"]')
    expect(section).to_have_attribute("open", "")
    section.get_by_label("Add a clock: kind").select_option("hotfix")
    section.get_by_label("Add a clock: name").fill("Hotfix deployed")
    section.get_by_label("Add a clock: due after").fill("8")
    section.get_by_label("Add a clock: unit").select_option("hours")
    section.get_by_label("the change deployed", exact=True).check()
    form.get_by_label("Change note").fill("The hotfix is deployed within 8 hours.")
    with page.expect_navigation():
        form.get_by_role("button", name="Save the rules").click()
    expect(page.get_by_test_id("draft-changes")).to_contain_text(
        "Hotfix deployed deadline: added (8 h, met by deploy)."
    )
    expect(page.get_by_test_id("draft-rules-form").get_by_label("Hotfix deployed: due after")).to_have_value("8")


def test_add_a_check_of_the_procedures_own_through_the_form(new_page, login, live_server, make_user):
    """The gate catalogue's empty row adds a check this procedure alone has; the draft's changes say so."""
    page, form = _start_draft(new_page, login, live_server, make_user)
    section = form.locator('[data-section="gates"]')
    section.locator("summary").click()
    section.get_by_label("Add a check: code").fill("accessibility_review")
    section.get_by_label("Add a check: name").fill("Accessibility review")
    section.get_by_label("Add a check: skippable from").select_option("L2")
    section.get_by_label("Add a check: validated after the fact").check()
    form.get_by_label("Change note").fill("Accessibility is a gate of ours.")
    with page.expect_navigation():
        form.get_by_role("button", name="Save the rules").click()
    changes = page.get_by_test_id("draft-changes")
    expect(changes).to_contain_text(
        "Gate catalogue “Accessibility review”: added (Accessibility review, skippable from L2)."
    )
    expect(changes).to_contain_text("Retroactive validation checks: adds accessibility_review.")
    page.get_by_test_id("draft-rules-form").locator('[data-section="gates"] summary').click()
    screenshot(page, "procedure-gates-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    screenshot(page, "procedure-gates-390")
