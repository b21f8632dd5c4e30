"""The API's lists cost the same number of queries for a few rows as for many (issue 15)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.reports.services import report_generate
from emergencies.services import warroom
from qms.roles import Role
from tests.emergencies.api.test_lifecycle import as_
from tests.factories import file_stub

pytestmark = pytest.mark.django_db
LISTS = ["/api/v1/emergencies/", "/api/v1/bypasses/", "/api/v1/ccb/sessions/", "/api/v1/reports/"]


def _queries(api, path) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def _add_rows(oncall, commander, qms, change, n):
    for i in range(n):
        file_stub(oncall, commander=commander)
        warroom.war_room_entry_post(change_id=change.pk, text=f"note {i}", actor=commander)
        report_generate(kind="daily", period_start=(timezone.now() - timedelta(days=i + 1)).date(), actor=qms)


@pytest.mark.parametrize("path", [*LISTS, "war-room"])
def test_a_list_costs_the_same_queries_for_more_rows(make_user, path):
    oncall = make_user(Role.ONCALL)
    commander = make_user(Role.COMMANDER)
    qms = make_user(Role.QMS, Role.ONCALL)
    change = file_stub(oncall, commander=commander)
    if path == "war-room":
        path = f"/api/v1/emergencies/{change.identifier}/war-room/entries/"
    api = as_(qms)
    _add_rows(oncall, commander, qms, change, 2)
    api.get(path)  # warm: the session, the procedure presets
    few = _queries(api, path)
    _add_rows(oncall, commander, qms, change, 8)
    assert _queries(api, path) == few


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/emergencies/", "declared_at"), ("/api/v1/bypasses/", "requested_at")],
)
def test_lists_are_ordered_as_asked(make_user, path, field):
    oncall = make_user(Role.ONCALL)
    for n in range(3):
        file_stub(oncall, now=timezone.now() - timedelta(hours=n))
    api = as_(oncall)
    oldest = [row["id"] for row in api.get(path, {"ordering": field}).json()["results"]]
    newest = [row["id"] for row in api.get(path, {"ordering": f"-{field}"}).json()["results"]]
    assert len(oldest) == 3 and oldest == newest[::-1]
    refused = api.get(path, {"ordering": "title; drop table"})
    assert refused.status_code == 400 and "ordering" in refused.json()["errors"][0]["field"]
    assert as_(oncall).get("/api/v1/ccb/sessions/", {"ordering": "-scheduled_at"}).status_code == 200
