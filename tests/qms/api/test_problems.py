"""API errors are RFC 9457 problem documents (application/problem+json) with field errors (issue 15)."""

import pytest
from rest_framework.test import APIClient

from qms.roles import Role
from tests.factories import file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def _problem(response, status):
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status and body["type"].startswith("/api/problems/")
    return body


def test_unauthenticated_is_a_401_problem(api):
    body = _problem(api.get("/api/v1/emergencies/"), 401)
    assert body["title"] == "Authentication required"


def test_forbidden_is_a_403_problem(api, make_user):
    api.force_login(make_user(Role.AUDITOR))
    body = _problem(api.post("/api/v1/emergencies/", {}, format="json"), 403)
    assert "filing" in body["detail"]


def test_not_found_is_a_404_problem(api, make_user):
    api.force_login(make_user(Role.AUDITOR))
    _problem(api.get("/api/v1/emergencies/CHG-EMG-20000101-0000/"), 404)
    _problem(api.get("/api/v1/no-such-endpoint/"), 404)


def test_method_not_allowed_is_a_405_problem(api, make_user):
    api.force_login(make_user(Role.AUDITOR))
    _problem(api.delete("/api/v1/emergencies/"), 405)


def test_unsupported_media_type_is_a_415_problem(api, make_user):
    api.force_login(make_user(Role.ONCALL))
    _problem(api.post("/api/v1/emergencies/", "<x/>", content_type="application/xml"), 415)


def test_field_errors_list_every_field_with_a_pointer(api, make_user):
    api.force_login(make_user(Role.ONCALL))
    body = _problem(api.post("/api/v1/emergencies/", {"category": "meteor"}, format="json"), 400)
    by_field = {e["field"]: e for e in body["errors"]}
    assert {"title", "category", "problem_statement"} <= set(by_field)
    assert by_field["category"]["pointer"] == "#/category"
    assert "category" in body["detail"]


def test_service_refusals_are_problems_keyed_by_the_api_field(api, make_user):
    user = make_user(Role.ONCALL)
    api.force_login(user)
    body = {"title": "t", "category": "critical_security", "problem_statement": "p", "cvss_score": 5}
    assert "EMG-E002" in problem_fields(api.post("/api/v1/emergencies/", body, format="json"))["cvss_score"][0]


def test_a_non_field_service_error_has_a_null_field(api, make_user):
    user = make_user(Role.ONCALL)
    change = file_stub(user)
    api.force_login(user)
    from emergencies.models import BypassRequest

    bypass = BypassRequest.objects.get(change=change)
    response = api.post(
        f"/api/v1/bypasses/{bypass.identifier}/sign/", {"password": "wrong", "role": "oncall"}, format="json"
    )
    body = _problem(response, response.status_code)
    assert response.status_code in (400, 403)
    if response.status_code == 400:
        assert body["errors"]
