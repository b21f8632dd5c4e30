"""Bad input is a 400 that says what is wrong, everywhere (issue 12, item 4): nesting depth, NUL bytes,
out-of-range numbers and oversized bodies, on the API (anonymous or not) and on the HTML list pages."""

import json

import pytest
from django.db import DataError
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from emergencies.models import BypassRequest, ChangeRecord
from qms.middleware import RequestSanityMiddleware
from qms.roles import Role
from tests.factories import file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

BODY = {"title": "Checkout down", "category": "p1_incident", "problem_statement": "All orders fail."}
DEEP = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 100 + "1" + "}" * 100


@pytest.fixture
def api():
    return APIClient(raise_request_exception=False)


@pytest.fixture
def filer(make_user):
    user = make_user(Role.ONCALL, Role.QMS, username="filer", password="pw-correct-horse")
    file_stub(user)
    return user


def _problem(response, status=400):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_deeply_nested_json_to_the_anonymous_token_endpoint_is_400(api, body):
    body = _problem(api.post("/api/v1/auth/token/", body, content_type="application/json"))
    assert "deep" in body["detail"]


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
def test_deeply_nested_json_is_400_and_files_nothing(api, filer, body):
    api.force_login(filer)
    before = ChangeRecord.objects.count()
    assert "deep" in _problem(api.post("/api/v1/emergencies/", body, content_type="application/json"))["detail"]
    assert ChangeRecord.objects.count() == before


@pytest.mark.parametrize("url", ["/api/v1/emergencies/", "/api/v1/bypasses/", "/api/v1/ccb/sessions/"])
@pytest.mark.parametrize("param", ["status", "q", "level"])
def test_nul_in_an_api_query_string_is_400_naming_the_parameter(api, filer, url, param):
    api.force_login(filer)
    body = _problem(api.get(f"{url}?{param}=%00"))
    assert [e["field"] for e in body["errors"]] == [param]


@pytest.mark.parametrize(
    "url",
    [
        "/emergencies/?q=%00",
        "/emergencies/?status=%00",
        "/emergencies/bypasses/?q=%00",
        "/emergencies/bypasses/?status=%00",
        "/emergencies/bypasses/?level=%00",
        "/audit/events/?q=%00",
        "/audit/events/?action=%00",
        "/audit/events/?subject=%00",
        "/audit/events/?status=%00",
        "/emergencies/ccb/?status=%00",
    ],
)
def test_nul_in_an_html_list_query_string_is_a_400_page(client, filer, url):
    client.force_login(filer)
    response = client.get(url)
    assert response.status_code == 400
    assert b"NUL character" in response.content


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=100000000000000000000", "limit"),
        ("limit=-5", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=201", "limit"),
        ("offset=-1", "offset"),
        ("offset=100000000000000000000", "offset"),
        ("offset=1e3", "offset"),
    ],
)
@pytest.mark.parametrize("url", ["/api/v1/emergencies/", "/api/v1/bypasses/", "/api/v1/ccb/sessions/"])
def test_out_of_range_pagination_is_400(api, filer, url, query, field):
    api.force_login(filer)
    assert field in problem_fields(api.get(f"{url}?{query}"))


def test_pagination_within_bounds_still_pages(api, filer):
    api.force_login(filer)
    response = api.get("/api/v1/emergencies/?limit=200&offset=0")
    assert response.status_code == 200 and response.json()["count"] == 1


def test_field_error_keyed_by_the_name_the_client_sent(api, filer):
    api.force_login(filer)
    response = api.post("/api/v1/emergencies/", {**BODY, "procedure": "no-such-procedure"}, format="json")
    fields = problem_fields(response)
    assert "procedure" in fields and "procedure_code" not in fields


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "title": "Checkout\x00down"}, "title"),
        ({**BODY, "problem_statement": "\x00"}, "problem_statement"),
        ({**BODY, "commander": "commander\x00"}, "commander"),
        ({**BODY, "procedure": "\x00"}, "procedure"),
        ({**BODY, "incident_ticket": "INC-\x001"}, "incident_ticket"),
    ],
)
def test_nul_in_a_json_string_is_a_field_error(api, filer, body, field):
    api.force_login(filer)
    before = ChangeRecord.objects.count()
    assert field in problem_fields(api.post("/api/v1/emergencies/", body, format="json"))
    assert ChangeRecord.objects.count() == before


def test_nul_in_a_json_key_is_400(api, filer):
    api.force_login(filer)
    body = json.dumps({**BODY, "ti\x00tle": "x"})
    assert problem_fields(api.post("/api/v1/emergencies/", body, content_type="application/json"))


def test_nul_in_a_bypass_list_field_is_a_field_error(api, filer):
    api.force_login(filer)
    body = {"repository": "acme/shop", "pull_request": "1", "checks": ["unit_tests", "lint\x00"]}
    assert "checks.1" in problem_fields(api.post("/api/v1/bypasses/", body, format="json"))
    assert not BypassRequest.objects.filter(repository="acme/shop").exists()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"cvss_score": 1e400', "cvss_score"),
        ('"cvss_score": NaN', "body"),
        ('"cvss_score": Infinity', "body"),
        ('"cvss_score": 123456789012345678901234567890', "cvss_score"),
    ],
)
def test_out_of_range_numbers_are_400(api, filer, raw, field):
    api.force_login(filer)
    body = json.dumps({**BODY, "category": "critical_security"})[:-1] + ", " + raw + "}"
    response = api.post("/api/v1/emergencies/", body, content_type="application/json")
    assert response.status_code == 400
    if field != "body":
        assert field in problem_fields(response)


def test_huge_int_in_a_nested_field_is_400(api, filer):
    api.force_login(filer)
    body = json.dumps({**BODY, "extra": [10**30]})
    response = api.post("/api/v1/emergencies/", body, content_type="application/json")
    assert "extra.0" in problem_fields(response)


@override_settings(API_MAX_BODY_BYTES=2048)
def test_oversized_json_body_is_400(api, filer):
    api.force_login(filer)
    body = _problem(api.post("/api/v1/emergencies/", {**BODY, "problem_statement": "x" * 4000}, format="json"))
    assert "larger than 2048 bytes" in body["detail"]


@override_settings(API_MAX_BODY_BYTES=2048)
def test_oversized_body_to_the_anonymous_token_endpoint_is_400(api):
    response = api.post("/api/v1/auth/token/", {"username": "x" * 4000, "password": "y"}, format="json")
    assert "larger than" in _problem(response)["detail"]


def test_nul_in_a_form_body_to_the_api_is_a_field_error(api, filer):
    api.force_login(filer)
    response = api.post("/api/v1/emergencies/", {**BODY, "title": "a\x00b"})  # multipart
    assert "title" in problem_fields(response)


def test_nul_in_an_html_form_field_is_a_field_error(client, filer):
    client.force_login(filer)
    before = ChangeRecord.objects.count()
    response = client.post("/emergencies/new/", {**BODY, "title": "Checkout\x00down"})
    assert response.status_code == 400
    assert "title" in response.context["form"].errors
    assert ChangeRecord.objects.count() == before


def test_a_value_the_database_refuses_is_400_not_500():
    middleware = RequestSanityMiddleware(lambda request: None)
    page = middleware.process_exception(RequestFactory().get("/emergencies/"), DataError("integer out of range"))
    assert page.status_code == 400 and b"integer out of range" in page.content
    api = middleware.process_exception(RequestFactory().get("/api/v1/emergencies/"), DataError("bigint out of range"))
    assert api.status_code == 400 and api["Content-Type"] == "application/problem+json"
