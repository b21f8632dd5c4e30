"""A QMS coordinator opens last month's report, sees its charts and follows a number down to the overdue item."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audits.reports.periods import last_complete_period
from audits.reports.services import report_generate
from qms.roles import Role
from tests.audits.helpers import granted_bypass
from tests.browser.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_monthly_report_chart_and_drill_down_to_the_overdue_remediation(new_page, login, make_user):
    make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator")
    dev = make_user(Role.ONCALL, username="dev", first_name="Dana", last_name="Developer")
    lead = make_user(Role.LEAD, username="lead", first_name="Lena", last_name="Lead")
    start, _ = last_complete_period("monthly", timezone.now())
    met = granted_bypass(
        dev,
        lead,
        requested_at=start + timedelta(days=2, hours=9),
        decided_at=start + timedelta(days=2, hours=10),
        repository="search",
    )
    from audits.services import obligations_satisfy

    obligations_satisfy(subject=met, kinds=["remediation"], actor=dev, note="gate passed", at=start + timedelta(days=3))
    overdue = granted_bypass(
        dev,
        lead,
        requested_at=start + timedelta(days=4, hours=9),
        decided_at=start + timedelta(days=4, hours=10),
        repository="payments-api",
        checks=("code_quality_minor", "documentation_coverage"),
    )
    report_generate(kind="monthly", period_start=start)

    page = login(new_page(), "qms")
    page.get_by_role("link", name="Reports", exact=True).click()
    page.get_by_role("link", name=re.compile(r"monthly report")).first.click()
    expect(page.get_by_test_id("report-title")).to_contain_text("Monthly compliance report")
    trend = page.locator("svg#chart-trend")
    expect(trend).to_be_visible()
    expect(trend.locator("title").first).to_have_text(re.compile("Bypasses and emergencies"))
    expect(page.locator("svg#chart-levels rect").first).to_be_visible()
    screenshot(page, "journey-report-monthly")

    figure = page.locator('[data-figure="overdue_remediation"]')
    expect(figure.locator(".figure-value")).to_have_text("2")
    figure.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Remediations overdue at period end")
    expect(page.get_by_test_id("drill-count")).to_contain_text("2 records")
    rows = page.locator("tr.row-overdue")
    expect(rows).to_have_count(2)
    screenshot(page, "journey-report-drill")
    rows.first.get_by_role("link", name=overdue.identifier).click()
    expect(page).to_have_url(re.compile(rf"/emergencies/bypasses/{overdue.identifier}/$"))
    clocks = page.locator("#clocks")
    expect(clocks.locator("tr.row-overdue")).to_have_count(2)
    expect(clocks).to_contain_text("Remediate: Code quality (minor)")
    expect(clocks).to_contain_text("overdue by")
