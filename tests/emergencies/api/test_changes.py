import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from emergencies.models import ChangeRecord
from qms.roles import Role
from tests.factories import file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

URL = "/api/v1/emergencies/"
BODY = {"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."}


@pytest.fixture
def api():
    return APIClient()


def token_for(api, username, password="pw-correct-horse"):
    response = api.post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")
    return response


def test_token_auth_then_file_a_stub(api, oncall, commander):
    response = token_for(api, "oncall")
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    response = api.post(URL, {**BODY, "commander": "commander"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["id"].startswith("CHG-EMG-")
    assert data["status"] == "stub"
    assert data["status_display"] == "In Progress"
    assert ChangeRecord.objects.get().identifier == data["id"]


def test_wrong_password_gets_no_token(api, oncall):
    assert token_for(api, "oncall", "nope").status_code == 400


def test_without_credentials_is_401_and_files_nothing(api):
    assert api.post(URL, BODY, format="json").status_code == 401
    assert api.get(URL).status_code == 401
    assert not ChangeRecord.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"category": "meteor"}, "category"),
        ({"category": "p2_incident"}, "category"),
        ({"category": "critical_security", "cvss_score": 8.9}, "cvss_score"),
        ({"category": "critical_security", "cvss_score": 10.1}, "cvss_score"),
        ({"category": "critical_security", "cvss_score": -0.1}, "cvss_score"),
        ({"category": "critical_security"}, "cvss_score"),
        ({"incident_ticket": "TICKET-9"}, "incident_ticket"),
        ({"commander": "nobody"}, "commander"),
    ],
)
def test_bad_input_is_400_with_field_errors(api, oncall, body, field):
    api.force_authenticate(oncall)
    response = api.post(URL, {**BODY, **body}, format="json")
    assert response.status_code == 400
    assert field in problem_fields(response)
    assert not ChangeRecord.objects.exists()


@pytest.mark.parametrize("cvss", [9.0, 10.0])
def test_critical_security_boundaries_file(api, oncall, cvss):
    api.force_authenticate(oncall)
    response = api.post(URL, {**BODY, "category": "critical_security", "cvss_score": cvss}, format="json")
    assert response.status_code == 201
    assert response.json()["cvss_score"] == f"{cvss:.1f}"


def test_refusal_message_names_emg_e002(api, oncall):
    api.force_authenticate(oncall)
    response = api.post(URL, {**BODY, "category": "critical_security", "cvss_score": 7.5}, format="json")
    assert "EMG-E002" in problem_fields(response)["cvss_score"][0]


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.LEGAL, Role.QMS])
def test_roles_that_may_not_file_get_403(api, make_user, role):
    api.force_authenticate(make_user(role))
    assert api.post(URL, BODY, format="json").status_code == 403
    assert not ChangeRecord.objects.exists()


def test_list_and_detail(api, oncall, auditor, make_user, django_assert_max_num_queries):
    changes = [file_stub(oncall) for _ in range(3)]
    api.force_authenticate(auditor)
    with django_assert_max_num_queries(5):
        response = api.get(URL)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3 and "count" not in response.json()
    detail = api.get(f"{URL}{changes[0].identifier}/")
    assert detail.status_code == 200
    assert detail.json()["id"] == changes[0].identifier
    api.force_authenticate(make_user())  # no role
    assert api.get(URL).status_code == 403
    assert api.get(f"{URL}{changes[0].identifier}/").status_code == 404


def test_api_list_query_budget_does_not_grow(api, oncall, django_assert_max_num_queries):
    for _ in range(25):
        file_stub(oncall)
    api.force_authenticate(oncall)
    with django_assert_max_num_queries(5):
        assert api.get(URL).status_code == 200


def test_session_auth_needs_csrf(oncall):
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(oncall)
    assert api.post(URL, BODY, format="json").status_code == 403


def test_openapi_schema_documents_the_endpoints(api, oncall):
    api.force_authenticate(oncall)
    response = api.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/emergencies/" in schema["paths"]
    assert "post" in schema["paths"]["/api/v1/emergencies/"]
    assert "/api/v1/emergencies/{identifier}/" in schema["paths"]
    assert "EmergencyStubCreate" in schema["components"]["schemas"]
