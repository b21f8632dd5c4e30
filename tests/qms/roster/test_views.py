"""The roster pages and API: who reads, who edits, clear errors, nothing changed on bad input, and the
dashboard's gap widget at a flat query count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from qms.models import ApiToken
from qms.roles import Role
from qms.roster.models import OnCallImport, OnCallPage, OnCallRotation, OnCallShift
from qms.roster.paging import notification_queue_roles
from qms.roster.services import rotation_create
from tests.factories import api_token
from tests.qms.roster_helpers import ical, ical_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    return {
        "qms": make_user(Role.QMS, username="qmsc"),
        "auditor": make_user(Role.AUDITOR, username="aud"),
        "engmanager": make_user(Role.ENGMANAGER, username="em"),
        "ana": make_user(Role.COMMANDER, username="ana", email="ana@example.com"),
        "ben": make_user(Role.COMMANDER, username="ben", email="ben@example.com"),
    }


def _when(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def _ics():
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    return ical(
        ical_event(
            uid="p1",
            start=start,
            end=start + timedelta(days=7),
            summary="Primary",
            attendee="ana@example.com",
            rrule="FREQ=WEEKLY;COUNT=4",
        ),
        ical_event(uid="b1", start=start, end=start + timedelta(days=3), summary="Backup: ben"),
    )


@pytest.mark.parametrize("who, status", [("auditor", 200), ("ana", 200), ("qms", 200)])
def test_everyone_with_a_role_reads_the_roster(client, people, who, status):
    client.force_login(people[who])
    assert client.get(reverse("qms:oncall")).status_code == status
    response = client.get(reverse("qms:oncall-role", args=["commander"]))
    assert response.status_code == status
    assert (b'data-testid="oncall-import"' in response.content) is (who == "qms")
    assert client.get(reverse("qms:oncall-role", args=["legal"])).status_code == 404  # not a key role


def test_the_qms_coordinator_imports_on_the_page_and_sees_who_is_on_call(client, people):
    client.force_login(people["qms"])
    upload = SimpleUploadedFile("ic.ics", _ics(), content_type="text/calendar")
    response = client.post(reverse("qms:oncall-import", args=["commander"]), {"file": upload})
    assert response.status_code == 302
    page = client.get(reverse("qms:oncall-role", args=["commander"]))
    assert b"Imported 5 shifts" in page.content
    assert "ana" in page.context["now"].primary.username and page.context["now"].backup == people["ben"]


def test_a_bad_file_on_the_page_says_why_and_imports_nothing(client, people):
    client.force_login(people["qms"])
    upload = SimpleUploadedFile("bad.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    response = client.post(reverse("qms:oncall-import", args=["commander"]), {"file": upload})
    assert response.status_code == 400
    assert "The calendar has no events" in response.context["import_form"].errors["file"][0]
    assert not OnCallImport.objects.exists()


@pytest.mark.parametrize("who", ["auditor", "ana"])
def test_readers_cannot_edit_through_the_page(client, people, who):
    client.force_login(people[who])
    upload = SimpleUploadedFile("ic.ics", _ics())
    assert client.post(reverse("qms:oncall-import", args=["commander"]), {"file": upload}).status_code == 403
    data = {"slot": "primary", "user": "ben", "starts_at": _when(timedelta()), "ends_at": _when(timedelta(days=1))}
    assert client.post(reverse("qms:oncall-override", args=["commander"]), {**data, "reason": "x"}).status_code == 403
    assert not OnCallShift.objects.exists() and not OnCallImport.objects.exists()


def test_the_manager_creates_a_rotation_and_an_override_on_the_page(client, people):
    client.force_login(people["engmanager"])
    rotation = {
        "name": "Weekly",
        "slot": "primary",
        "members": "ana\nben",
        "starts_at": _when(-timedelta(hours=1)),
        "period_days": 7,
    }
    assert client.post(reverse("qms:oncall-rotation", args=["commander"]), rotation).status_code == 302
    assert [m.user.username for m in OnCallRotation.objects.get().memberships.all()] == ["ana", "ben"]
    bad = client.post(reverse("qms:oncall-rotation", args=["commander"]), {**rotation, "members": "ana\naud"})
    assert bad.status_code == 400 and "Not an active Incident commander" in str(bad.context["rotation_form"].errors)
    override = {
        "slot": "primary",
        "user": "ben",
        "starts_at": _when(-timedelta(minutes=5)),
        "ends_at": _when(timedelta(hours=5)),
        "reason": "Ana is flying",
    }
    assert client.post(reverse("qms:oncall-override", args=["commander"]), override).status_code == 302
    page = client.get(reverse("qms:oncall-role", args=["commander"]))
    assert page.context["now"].primary == people["ben"] and page.context["now"].primary_source == "override"


def test_coverage_gaps_page_for_the_coordinator_and_auditor_only(client, people):
    client.force_login(people["ana"])
    assert client.get(reverse("qms:oncall-gaps")).status_code == 403
    client.force_login(people["auditor"])
    response = client.get(reverse("qms:oncall-gaps"), {"days": "9999"})
    assert response.status_code == 200 and response.context["days"] == 90
    assert {g.role.value for g in response.context["gaps"]} >= {"commander", "testlead", "opslead"}


def _rotations(people, count: int):
    start = timezone.now() - timedelta(days=1)
    for i in range(count):
        rotation_create(
            role="commander",
            slot=("primary", "backup")[i % 2],
            name=f"W{i}",
            members=[people["ana"], people["ben"]],
            starts_at=start + timedelta(hours=i),
            actor=people["qms"],
        )


def test_the_dashboard_shows_gaps_to_qms_coordinators_at_a_flat_query_count(
    client, people, django_assert_max_num_queries
):
    client.force_login(people["ana"])
    assert b"oncall-gaps-widget" not in client.get(reverse("qms:dashboard")).content
    client.force_login(people["qms"])
    _rotations(people, 1)
    client.post(reverse("qms:oncall-import", args=["commander"]), {"file": SimpleUploadedFile("a.ics", _ics())})
    with django_assert_max_num_queries(1000) as few:
        response = client.get(reverse("qms:dashboard"))
    assert b"oncall-gaps-widget" in response.content
    budget = len(few.captured_queries)  # now: the log is reset at the next request
    _rotations(people, 12)
    for _ in range(3):
        client.post(reverse("qms:oncall-import", args=["commander"]), {"file": SimpleUploadedFile("a.ics", _ics())})
    with django_assert_max_num_queries(budget):
        client.get(reverse("qms:dashboard"))


def _api(user, scopes=None):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user, scopes=scopes)[1]}")
    return client


def test_the_api_imports_creates_and_overrides_for_editors_only(people):
    qms = _api(people["qms"])
    response = qms.post("/api/v1/oncall/commander/imports/", {"ics": _ics().decode()}, format="json")
    assert response.status_code == 201 and response.json()["shift_count"] == 5
    bad = qms.post("/api/v1/oncall/commander/imports/", {"ics": "nonsense"}, format="json")
    assert bad.status_code == 400 and "not an iCalendar file" in str(bad.json())
    rotation = {"slot": "backup", "name": "W", "members": ["ben", "ana"], "starts_at": timezone.now().isoformat()}
    created = qms.post("/api/v1/oncall/commander/rotations/", rotation, format="json")
    assert created.status_code == 201 and created.json()["members"] == ["ben", "ana"]
    override = {
        "slot": "primary",
        "user": "ben",
        "starts_at": timezone.now().isoformat(),
        "ends_at": (timezone.now() + timedelta(hours=3)).isoformat(),
        "reason": "swap",
    }
    assert qms.post("/api/v1/oncall/commander/overrides/", override, format="json").status_code == 201
    now = _api(people["auditor"]).get("/api/v1/oncall/").json()
    assert {"role": "commander", "label": "Incident commander", "has_roster": True, "primary": "ben"}.items() <= next(
        r for r in now if r["role"] == "commander"
    ).items()
    counts = (OnCallImport.objects.count(), OnCallRotation.objects.count(), OnCallShift.objects.count())
    for who in ("auditor", "ana"):
        client = _api(people[who])
        assert client.post("/api/v1/oncall/commander/rotations/", rotation, format="json").status_code == 403
        assert client.post("/api/v1/oncall/commander/overrides/", override, format="json").status_code == 403
        assert client.post("/api/v1/oncall/commander/imports/", {"ics": "x"}, format="json").status_code == 403
    read_only = _api(people["qms"], scopes=[ApiToken.Scope.READ])
    assert read_only.post("/api/v1/oncall/commander/overrides/", override, format="json").status_code == 403
    assert counts == (OnCallImport.objects.count(), OnCallRotation.objects.count(), OnCallShift.objects.count())


def test_the_api_acknowledges_for_the_paged_person_only(people):
    start = timezone.now() - timedelta(days=1)
    rotation_create(
        role="commander", slot="primary", name="W", members=[people["ana"]], starts_at=start, actor=people["qms"]
    )
    notification_queue_roles(roles=[Role.COMMANDER], dedupe_prefix="e:api", template="status_update", context={})
    page = OnCallPage.objects.get()
    url = f"/api/v1/oncall/pages/{page.pk}/acknowledgement/"
    assert _api(people["ben"]).post(url, {}, format="json").status_code == 404
    assert _api(people["ana"], scopes=[ApiToken.Scope.READ]).post(url, {}, format="json").status_code == 403
    response = _api(people["ana"]).post(url, {}, format="json")
    assert response.status_code == 200 and response.json()["acknowledged_by"] == "ana"
    assert response.json()["acknowledged_via"] == "api"
    again = _api(people["ana"]).post(url, {}, format="json")
    assert again.status_code == 400 and "Already acknowledged" in str(again.json())


def test_the_api_answers_who_is_on_call_at_a_moment(people):
    start = timezone.now() - timedelta(days=1)
    rotation_create(
        role="commander",
        slot="primary",
        name="W",
        members=[people["ana"], people["ben"]],
        starts_at=start,
        actor=people["qms"],
    )
    client = _api(people["auditor"])
    later = (start + timedelta(days=7, hours=1)).isoformat()
    rows = client.get("/api/v1/oncall/", {"at": later}).json()
    assert next(r for r in rows if r["role"] == "commander")["primary"] == "ben"
    bad = client.get("/api/v1/oncall/", {"at": "yesterday"})
    assert bad.status_code == 400 and "at" in str(bad.json())
