"""The portal's own pages around the journeys: error pages with their reason, navigation that offers only what
the user may open, quiet logs for expected refusals, and the admin's times, order and history."""

from __future__ import annotations

import json
import logging
import zoneinfo

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from qms.errors import permission_denied
from qms.roles import Role
from tests.factories import UserFactory, file_stub

pytestmark = pytest.mark.django_db


def test_a_403_is_the_portal_page_with_the_views_reason(client, make_user):
    client.force_login(make_user())  # no role yet
    response = client.get(reverse("emergencies:change-list"))
    assert response.status_code == 403
    page = response.content.decode()
    assert 'data-testid="error-403"' in page and 'class="topbar"' in page
    assert "You hold no role in the portal yet." in page
    assert "ask a QMS coordinator" in page


def test_a_403_names_the_refusal_of_the_action(client, oncall):
    client.force_login(oncall)
    response = client.get(reverse("audits:event-list"))
    assert response.status_code == 403
    assert "The audit trail is for QMS coordinators, quality, executives and auditors." in response.content.decode()


def test_a_404_is_the_portal_page(client, oncall):
    client.force_login(oncall)
    response = client.get("/emergencies/CHG-EMG-20990101-0000/")
    assert response.status_code == 404
    page = response.content.decode()
    assert 'data-testid="error-404"' in page and "/emergencies/CHG-EMG-20990101-0000/" in page
    assert client.get("/no/such/page/").status_code == 404


def test_api_refusals_stay_problem_documents():
    request = RequestFactory().get("/api/v1/emergencies/")
    response = permission_denied(request, PermissionError("Read-only role."))
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["detail"] == "Read-only role."


def test_the_500_page_renders_without_a_request_context():
    from django.views import defaults

    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    page = response.content.decode()
    assert 'data-testid="error-500"' in page and "nothing half-done stays behind" in page


@pytest.mark.parametrize(
    "role, sees",
    [(Role.ONCALL, False), (Role.COMMANDER, False), (Role.QMS, True), (Role.AUDITOR, True), (Role.EXECUTIVE, True)],
)
def test_navigation_offers_audit_trail_and_reports_only_to_oversight(client, make_user, role, sees):
    client.force_login(make_user(role))
    page = client.get(reverse("qms:dashboard")).content.decode()
    assert (f'href="{reverse("audits:event-list")}"' in page) is sees
    assert (f'href="{reverse("audits:report-list")}"' in page) is sees
    assert f'href="{reverse("emergencies:change-list")}"' in page


def test_a_user_without_a_role_is_offered_only_the_dashboard(client, make_user):
    client.force_login(make_user())
    page = client.get(reverse("qms:dashboard")).content.decode()
    assert f'href="{reverse("emergencies:change-list")}"' not in page
    assert f'href="{reverse("audits:event-list")}"' not in page


def test_expected_refusals_log_one_line_without_a_traceback(client, make_user, caplog):
    client.force_login(make_user(Role.ONCALL))
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("audits:event-list")).status_code == 403
        assert client.get("/emergencies/CHG-EMG-20990101-0000/").status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and {r.status_code for r in records} <= {403, 404}
    assert all(r.exc_info is None for r in records)
    assert any("Forbidden" in r.getMessage() for r in records)


# --- the admin -------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True, time_zone="Europe/Paris")
    client.force_login(admin)
    return client


def test_admin_lists_audit_events_newest_first_with_zoned_times(admin_client, oncall):
    file_stub(oncall)
    file_stub(oncall, title="Second")
    response = admin_client.get(reverse("admin:audits_auditevent_changelist"))
    positions = [e.position for e in response.context["cl"].result_list]
    assert positions == sorted(positions, reverse=True) and len(positions) >= 2
    page = response.content.decode()
    newest = AuditEvent.objects.order_by("-position").first().occurred_at
    local = timezone.localtime(newest, timezone=zoneinfo.ZoneInfo("Europe/Paris"))
    assert f'<td class="field-occurred_at nowrap">{local:%-d %b %Y, %H:%M} {local.tzname()}</td>' in page


def test_admin_history_names_empty_links_plainly(admin_client, oncall):
    change = file_stub(oncall)
    from emergencies.services import change_record_transition
    from emergencies.services.postincident import hotfix_review_record
    from tests.factories import authorise

    commander = UserFactory(roles=[Role.COMMANDER.value])
    authorise(change, commander)
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall)
    hotfix_review_record(change_id=change.pk, reviewer=UserFactory(roles=[Role.ONCALL.value]))
    page = admin_client.get(reverse("admin:emergencies_changerecord_history", args=[change.pk])).content.decode()
    assert "pk=None" not in page
    assert oncall.display_name in page
