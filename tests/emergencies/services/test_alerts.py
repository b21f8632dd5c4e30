"""Alert intake from Alertmanager, PagerDuty and Opsgenie: fire, re-fire, resolve, bad signature, unknown
route, malformed payloads, the database down, and the prefilled stub."""

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from emergencies.models import Alert, AlertPayload, AlertRoute, ChangeRecord, Incident
from qms.models import Notification, Procedure
from qms.roles import Role
from qms.tasks import notification_send_task
from tests.emergencies import alert_fixtures as fx

URL = "/integrations/alerts/{}/"
SECRETS = {"alertmanager": "am-token-123", "pagerduty": "pd-secret-456", "opsgenie": "og-token-789"}


@pytest.fixture(autouse=True)
def secrets(settings):
    settings.ALERT_SECRETS = dict(SECRETS)


@pytest.fixture
def route(db, oncall, commander):
    rule = AlertRoute.objects.create(
        name="Checkout pages",
        source="alertmanager",
        match_labels={"severity": "page", "job": "checkout"},
        category="p1_incident",
        procedure=Procedure.objects.get(code="emergency-bypass-workflow"),
        commander=commander,
    )
    rule.on_call.add(oncall)
    return rule


def post_am(client, payload, token=SECRETS["alertmanager"]):
    return client.post(
        URL.format("alertmanager"),
        fx.body(payload),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def post_pd(client, payload, secret=SECRETS["pagerduty"]):
    raw = fx.body(payload)
    return client.post(
        URL.format("pagerduty"),
        raw,
        content_type="application/json",
        headers={"X-PagerDuty-Signature": fx.pagerduty_signature(secret, raw)},
    )


def post_og(client, payload, token=SECRETS["opsgenie"]):
    return client.post(
        URL.format("opsgenie"),
        fx.body(payload),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_alertmanager_fire_opens_an_incident_and_tells_the_on_call_engineer(
    client, route, oncall, commander, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = post_am(client, fx.alertmanager())
    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert response.json()["incidents"] == [incident.ticket]
    assert incident.ticket.startswith("INC-")
    assert incident.category == "p1_incident" and incident.commander == commander
    assert incident.detected_at.isoformat().startswith("2026-11-30T23:05")
    assert incident.affected_systems.splitlines() == ["checkout-1:9100", "checkout"]
    alert = Alert.objects.get()
    assert (alert.source, alert.key, alert.service, alert.status) == (
        "alertmanager",
        "c8a9d1e5b1e3f4a2",
        "checkout",
        "firing",
    )
    assert not ChangeRecord.objects.exists(), "the portal never declares an emergency by itself"
    note = Notification.objects.get(recipient=oncall)
    assert note.link.endswith(f"/emergencies/new/?incident={incident.ticket}")
    notification_send_task([note.pk])
    assert incident.ticket in mail.outbox[0].subject and note.link in mail.outbox[0].body
    assert AlertPayload.objects.get().outcome == "accepted"


def test_alertmanager_refire_updates_and_resolve_marks_resolved(client, route):
    post_am(client, fx.alertmanager())
    again = post_am(client, fx.alertmanager())
    assert again.status_code == 200 and "updated" in again.json()["detail"]
    alert = Alert.objects.get()
    assert alert.fire_count == 2 and Incident.objects.count() == 1
    assert Notification.objects.filter(dedupe_key__startswith="incident-opened").count() == 1
    done = post_am(client, fx.alertmanager(status="resolved", ends="2026-11-30T23:30:00Z"))
    assert done.status_code == 200
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_at.isoformat().startswith("2026-11-30T23:30")
    assert Incident.objects.get().resolved_at is not None
    assert alert.history.count() == 3


def test_resolve_never_resolves_a_declared_emergency(client, route, oncall):
    post_am(client, fx.alertmanager())
    incident = Incident.objects.get()
    from tests.factories import file_stub

    file_stub(oncall, incident_ticket=incident.ticket)
    post_am(client, fx.alertmanager(status="resolved", ends="2026-11-30T23:30:00Z"))
    incident.refresh_from_db()
    assert Alert.objects.get().status == "resolved"
    assert incident.resolved_at is None


def test_a_second_alert_of_the_same_group_joins_the_incident(client, route):
    post_am(client, fx.alertmanager())
    post_am(client, fx.alertmanager(fingerprint="ffff0000aaaa1111", labels={"instance": "checkout-2:9100"}))
    assert Incident.objects.count() == 1 and Alert.objects.count() == 2
    assert "checkout-2:9100" in Incident.objects.get().affected_systems


@pytest.mark.parametrize("token", ["wrong", ""])
def test_alertmanager_bad_token_is_refused_and_kept(client, route, token):
    response = post_am(client, fx.alertmanager(), token=token)
    assert response.status_code == 401
    assert not Incident.objects.exists()
    kept = AlertPayload.objects.get()
    assert kept.outcome == "rejected" and "InstanceDown" in kept.body


def test_unknown_route_is_kept_and_opens_nothing(client, route):
    response = post_am(client, fx.alertmanager(labels={"job": "batch-reports"}))
    assert response.status_code == 202
    assert not Incident.objects.exists() and not Alert.objects.exists()
    assert AlertPayload.objects.get().outcome == "unrouted"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "Not JSON"),
        (b"[]", "JSON object"),
        (fx.body({**fx.alertmanager(), "version": "3"}), "version"),
        (fx.body({**fx.alertmanager(), "alerts": []}), "alerts must be"),
        (fx.body({**fx.alertmanager(), "alerts": [{"status": "firing", "fingerprint": "x"}]}), "startsAt"),
    ],
)
def test_malformed_payload_gets_400_with_the_reason_and_is_kept(client, route, raw, reason):
    response = client.post(
        URL.format("alertmanager"),
        raw,
        content_type="application/json",
        headers={"Authorization": "Bearer am-token-123"},
    )
    assert response.status_code == 400 and reason in response.json()["detail"]
    kept = AlertPayload.objects.get()
    assert kept.outcome == "malformed" and reason in kept.reason and kept.body == raw.decode()
    assert not Incident.objects.exists()


def test_unknown_source_is_404_and_kept(client, db):
    response = client.post(URL.format("nagios"), b"{}", content_type="application/json")
    assert response.status_code == 404
    assert AlertPayload.objects.get().source == "nagios"


def test_get_is_not_allowed(client, db):
    assert client.get(URL.format("alertmanager")).status_code == 405


def test_no_secret_configured_refuses_everything(client, route, settings):
    settings.ALERT_SECRETS = {"alertmanager": ""}
    assert post_am(client, fx.alertmanager(), token="").status_code == 401


@pytest.fixture
def pd_route(db, oncall):
    return AlertRoute.objects.create(
        name="PagerDuty P1",
        source="pagerduty",
        priority="P1",
        service="API Service",
        category="p1_incident",
        procedure=Procedure.objects.get(code="cm-wf-emergency"),
    )


def test_pagerduty_trigger_refire_resolve(client, pd_route, oncall):
    assert post_pd(client, fx.pagerduty()).status_code == 200
    incident = Incident.objects.get()
    assert incident.severity == "CRITICAL" and incident.affected_systems == "API Service"
    assert Notification.objects.filter(recipient=oncall).exists(), "no on-call list on the rule: every on-call engineer"
    assert post_pd(client, fx.pagerduty(event_type="incident.reopened")).status_code == 200
    assert Alert.objects.get().fire_count == 2
    assert post_pd(client, fx.pagerduty(event_type="incident.resolved", status="resolved")).status_code == 200
    assert Alert.objects.get().status == "resolved"


def test_pagerduty_bad_signature(client, pd_route):
    assert post_pd(client, fx.pagerduty(), secret="not-the-secret").status_code == 401
    raw = fx.body(fx.pagerduty())
    tampered = client.post(
        URL.format("pagerduty"),
        raw.replace(b"P1", b"P2"),
        content_type="application/json",
        headers={"X-PagerDuty-Signature": fx.pagerduty_signature(SECRETS["pagerduty"], raw)},
    )
    assert tampered.status_code == 401
    assert not Incident.objects.exists() and AlertPayload.objects.filter(outcome="rejected").count() == 2


def test_pagerduty_accepts_any_of_several_signatures_while_rotating(client, pd_route):
    raw = fx.body(fx.pagerduty())
    header = f"v1=deadbeef,{fx.pagerduty_signature(SECRETS['pagerduty'], raw)}"
    response = client.post(
        URL.format("pagerduty"), raw, content_type="application/json", headers={"X-PagerDuty-Signature": header}
    )
    assert response.status_code == 200


def test_pagerduty_unknown_route_and_non_incident_event(client, pd_route):
    assert post_pd(client, fx.pagerduty(priority="P3")).status_code == 202
    other = fx.pagerduty()
    other["event"]["resource_type"] = "service"
    response = post_pd(client, other)
    assert response.status_code == 400 and "incident events" in response.json()["detail"]


@pytest.fixture
def og_route(db):
    return AlertRoute.objects.create(
        name="Opsgenie checkout",
        source="opsgenie",
        match_labels={"tag:checkout": "true"},
        priority="P1",
        category="p1_incident",
        procedure=Procedure.objects.get(code="emergency-bypass-workflow"),
    )


def test_opsgenie_create_again_and_close(client, og_route):
    assert post_og(client, fx.opsgenie()).status_code == 200
    incident = Incident.objects.get()
    assert incident.affected_systems == "checkout-db-1"
    assert Alert.objects.get().key == "checkout-db-latency"
    assert post_og(client, fx.opsgenie()).status_code == 200
    assert Alert.objects.get().fire_count == 2
    assert post_og(client, fx.opsgenie(action="Close")).status_code == 200
    assert Alert.objects.get().status == "resolved" and Incident.objects.get().resolved_at is not None


def test_opsgenie_bad_token_and_unknown_route(client, og_route):
    assert post_og(client, fx.opsgenie(), token="nope").status_code == 401
    assert post_og(client, fx.opsgenie(priority="P4")).status_code == 202
    assert not Incident.objects.exists()


def test_declare_emergency_link_opens_the_stub_prefilled(client, route, oncall):
    post_am(client, fx.alertmanager())
    incident = Incident.objects.get()
    client.force_login(oncall)
    page = client.get(reverse("emergencies:stub-create") + f"?incident={incident.ticket}")
    form = page.context["form"]
    assert form.initial["incident_ticket"] == incident.ticket
    assert form.initial["title"] == "Instance checkout-1:9100 down"
    assert form.initial["category"] == "p1_incident"
    assert "has been down for more than 5 minutes" in form.initial["problem_statement"]
    assert form.initial["procedure"].procedure.code == "emergency-bypass-workflow"
    data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in form.initial.items() if v not in (False, None)}
    filed = client.post(reverse("emergencies:stub-create"), data)
    assert filed.status_code == 302
    change = ChangeRecord.objects.get()
    assert change.incident == incident and change.author == oncall


def test_prefill_needs_a_filer_and_ignores_unknown_tickets(client, route, make_user):
    viewer = make_user(Role.AUDITOR)
    client.force_login(viewer)
    assert client.get(reverse("emergencies:stub-create") + "?incident=INC-NOPE").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_database_down_answers_503_and_the_retry_lands(client, route):
    payload = fx.alertmanager()
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: connecting fails as when the server is down
    try:
        response = post_am(client, payload)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
    assert response.status_code == 503 and response["Retry-After"]
    assert not AlertPayload.objects.exists()
    assert post_am(client, payload).status_code == 200
    assert Incident.objects.count() == 1
