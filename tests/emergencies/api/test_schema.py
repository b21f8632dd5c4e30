"""The API's answers match its published OpenAPI schema (issue 12, item 8), on records in every shape a
client meets: a standalone bypass (no change), signed, verbally approved, rejected; an emergency with its
bypass; errors as documented problems."""

import pytest
from rest_framework.test import APIClient

from emergencies.models import BypassRequest
from emergencies.services.bypasses import bypass_reject, bypass_sign, bypass_verbal_approval_record
from qms.roles import Role
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, authorise, file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(make_user):
    dev = make_user(Role.ONCALL, username="dev")
    lead = make_user(Role.LEAD, username="lead2")
    commander = make_user(Role.COMMANDER, username="ic")
    security = make_user(Role.SECURITY, username="sec2")
    signed = request_bypass(dev)
    bypass_sign(bypass_id=signed.pk, signer=lead, password=PASSWORD, role=Role.LEAD, comment="ok")
    rejected = request_bypass(dev)
    bypass_reject(bypass_id=rejected.pk, signer=lead, password=PASSWORD, role=Role.LEAD, reason="not now")
    pending = request_bypass(dev)
    change = file_stub(dev, commander=commander)
    emergency = BypassRequest.objects.get(change=change)
    bypass_verbal_approval_record(
        bypass_id=emergency.pk,
        approver=commander,
        role=Role.COMMANDER,
        approved_at=emergency.requested_at,  # never before the request existed
        recorded_by=security,
        password=PASSWORD,
        comment="by phone",
    )
    authorised = file_stub(dev)
    authorise(authorised, commander)
    return {"dev": dev, "bypasses": [signed, rejected, pending, emergency], "changes": [change, authorised]}


@pytest.fixture
def api(records):
    client = APIClient()
    client.force_login(records["dev"])
    return client


@pytest.fixture
def schema(records):
    return served_schema(APIClient(), records["dev"])


def test_bypass_list_and_detail_match_the_schema(api, schema, records):
    assert_conforms(schema, "GET", "/api/v1/bypasses/", api.get("/api/v1/bypasses/"))
    for bypass in records["bypasses"]:
        response = api.get(f"/api/v1/bypasses/{bypass.identifier}/")
        assert response.status_code == 200
        assert_conforms(schema, "GET", "/api/v1/bypasses/{identifier}/", response)


def test_emergency_list_and_detail_match_the_schema(api, schema, records):
    assert_conforms(schema, "GET", "/api/v1/emergencies/", api.get("/api/v1/emergencies/"))
    for change in records["changes"]:
        response = api.get(f"/api/v1/emergencies/{change.identifier}/")
        assert_conforms(schema, "GET", "/api/v1/emergencies/{identifier}/", response)


def test_errors_match_the_schema(api, schema):
    assert_conforms(schema, "GET", "/api/v1/bypasses/", api.get("/api/v1/bypasses/?limit=0"))
    assert_conforms(
        schema, "GET", "/api/v1/bypasses/{identifier}/", api.get("/api/v1/bypasses/BYPASS-L1-20000101-000000/")
    )
    assert_conforms(schema, "POST", "/api/v1/bypasses/", api.post("/api/v1/bypasses/", {}, format="json"))
    assert_conforms(schema, "GET", "/api/v1/emergencies/", APIClient().get("/api/v1/emergencies/"))
