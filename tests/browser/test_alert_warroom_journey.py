"""The on-call engineer's journey from an alert: Alertmanager posts a firing alert, an incident opens and the
on-call engineer is told; they follow the "declare emergency" link to the prefilled stub and file it; the
commander's Slack DM (the local Slack test server) gets the "awaiting your signature" message; two
responders watch the war room update live while a third posts a decision."""

import json
import re
import urllib.request

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from playwright.sync_api import expect

from emergencies.models import AlertRoute, ChangeRecord, Incident
from qms.celery import app
from qms.models import Procedure
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.chat_servers import SlackServer
from tests.conftest import requires_redis
from tests.emergencies import alert_fixtures as fx
from tests.test_celery import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True), requires_redis]


def test_alert_to_stub_to_live_war_room(new_page, login, make_user, live_server, settings):
    slack = SlackServer().start()
    settings.SLACK_API_URL, settings.SLACK_BOT_TOKEN = slack.url, slack.token
    settings.ALERT_SECRETS = {"alertmanager": "am-token-123"}
    settings.PORTAL_BASE_URL = live_server.url
    oncall = make_user(Role.ONCALL, username="oncall", first_name="Olivia", last_name="Oncall")
    commander = make_user(Role.COMMANDER, username="commander", first_name="Carlos", last_name="Commander")
    commander.notify_by_slack, commander.slack_user_id = True, "U0CARLOS"
    commander.save()
    make_user(Role.SECURITY, username="security", first_name="Sofia", last_name="Security")
    route = AlertRoute.objects.create(
        name="Checkout pages",
        source="alertmanager",
        match_labels={"severity": "page"},
        category="p1_incident",
        procedure=Procedure.objects.get(code="emergency-bypass-workflow"),
        commander=commander,
    )
    route.on_call.add(oncall)
    app.control.purge()
    try:
        with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
            # Alertmanager's webhook, over HTTP to the running portal.
            request = urllib.request.Request(
                f"{live_server.url}/integrations/alerts/alertmanager/",
                data=json.dumps(fx.alertmanager()).encode(),
                headers={"Content-Type": "application/json", "Authorization": "Bearer am-token-123"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            incident = Incident.objects.get()
            assert not ChangeRecord.objects.exists()
            assert wait_for(lambda: any(oncall.email in m.to for m in mail.outbox))
            message = next(m for m in mail.outbox if oncall.email in m.to)
            link = re.search(r"http://\S+/emergencies/new/\?incident=\S+", message.body).group(0)

            engineer = login(new_page(), "oncall")
            engineer.goto(link)
            expect(engineer.get_by_label("Title")).to_have_value("Instance checkout-1:9100 down")
            expect(engineer.get_by_label("Existing incident ticket")).to_have_value(incident.ticket)
            expect(engineer.get_by_label("Problem statement")).to_contain_text("down for more than 5 minutes")
            screenshot(engineer, "alert-prefilled-stub")
            engineer.get_by_role("button", name="File emergency stub").click()
            expect(engineer.get_by_test_id("change-id")).to_have_text(re.compile(r"CHG-EMG-\d{8}-\d{4}"))
            change = ChangeRecord.objects.get()
            assert change.incident == incident

            # The commander's Slack DM, through slack_sdk to the local Web API.
            assert wait_for(lambda: any(m["channel"] == "U0CARLOS" for m in slack.received))
            dm = next(m for m in slack.received if m["channel"] == "U0CARLOS")
            assert "Awaiting your signature" in dm["text"] and change.identifier in dm["text"]
            assert not slack.rejected

            war_room = f"{live_server.url}/emergencies/{change.identifier}/war-room/"
            watchers = []
            for username in ("commander", "security"):
                page = login(new_page(), username)
                page.goto(war_room)
                expect(page.get_by_test_id("war-room-timeline")).to_contain_text("Incident opened")
                watchers.append(page)
            engineer.get_by_test_id("war-room-link").click()
            engineer.get_by_role("combobox", name="Kind").select_option("decision")
            engineer.get_by_role("textbox", name="Entry").fill("decision: roll back to 4.1")
            engineer.get_by_role("button", name="Post", exact=True).click()
            expect(engineer.get_by_test_id("war-room-timeline")).to_contain_text("decision: roll back to 4.1")
            for page in watchers:  # no reload: the timeline polls
                expect(page.get_by_test_id("war-room-timeline")).to_contain_text(
                    "decision: roll back to 4.1", timeout=10_000
                )
                expect(page.get_by_test_id("war-room-timeline")).to_contain_text("Olivia Oncall")
            screenshot(watchers[0], "war-room-live")
    finally:
        slack.stop()
