"""The on-call roster: the QMS coordinator imports the incident commanders' calendar, sees the gap it leaves,
and the primary acknowledges the page of a filed emergency in one click from the message."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from qms.models import Notification
from qms.roles import Role
from qms.roster.models import OnCallPage
from tests.browser.conftest import screenshot
from tests.factories import file_stub
from tests.qms.roster_helpers import ical, ical_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_imports_a_roster_sees_a_gap_and_the_primary_acknowledges(
    new_page, login, live_server, make_user, tmp_path
):
    make_user(Role.QMS, username="qmsc", first_name="Quinn", last_name="Coordinator")
    ana = make_user(Role.COMMANDER, username="ana", first_name="Ana", last_name="Primary", email="ana@example.com")
    make_user(Role.COMMANDER, username="ben", first_name="Ben", last_name="Backup", email="ben@example.com")
    oncall = make_user(Role.ONCALL, username="olivia")
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    calendar = tmp_path / "commanders.ics"
    calendar.write_bytes(
        ical(
            ical_event(
                uid="ic-primary",
                start=start,
                end=start + timedelta(days=7),
                summary="Primary",
                attendee="ana@example.com",
                rrule="FREQ=WEEKLY;COUNT=8",
            ),
            # the backup covers only the first three days: a gap after
            ical_event(uid="ic-backup", start=start, end=start + timedelta(days=3), summary="Backup: ben"),
        )
    )

    page = login(new_page(), "qmsc")
    page.goto(f"{live_server.url}/oncall/commander/")
    expect(page.get_by_role("heading", name="Incident commander on call")).to_be_visible()
    page.get_by_label("iCalendar file (.ics)").set_input_files(str(calendar))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported 9 shifts into the Incident commander roster.")).to_be_visible()
    expect(page.get_by_test_id("now-primary")).to_contain_text("Ana Primary")
    expect(page.get_by_test_id("now-backup")).to_contain_text("Ben Backup")
    screenshot(page, "roster-imported")

    page.goto(f"{live_server.url}/")
    widget = page.get_by_test_id("oncall-gaps-widget")
    expect(widget).to_contain_text(re.compile(r"Incident commander\s+backup"))
    widget.get_by_role("link", name="All gaps").click()
    gap = page.locator("tr[data-gap=commander-backup]")
    expect(gap).to_be_visible()
    expect(page.locator("tr[data-gap=commander-primary]")).to_have_count(0)
    screenshot(page, "roster-gaps")

    change = file_stub(oncall)  # a P1 incident: the incident commander authorises, paged through the roster
    message = Notification.objects.get(recipient=ana, dedupe_key=f"change-filed:{change.pk}:{ana.pk}")
    assert not Notification.objects.filter(recipient__username="ben").exists()
    link = re.search(r"Acknowledge in one click: (\S+)", message.body).group(1)
    path = link[link.index("/oncall/ack/") :]

    phone = new_page()  # opened from the email, not signed in
    phone.goto(f"{live_server.url}{path}")
    expect(phone.get_by_role("heading", name=re.compile("Incident commander: a page for Ana Primary"))).to_be_visible()
    phone.get_by_role("button", name="Acknowledge").click()
    expect(phone.get_by_test_id("ack-done")).to_contain_text("Acknowledged by Ana Primary")
    screenshot(phone, "roster-acknowledged")
    acknowledged = OnCallPage.objects.get(dedupe_prefix=f"change-filed:{change.pk}")
    assert acknowledged.acknowledged_by == ana and acknowledged.acknowledged_via == "link"
