"""A procedure's own gates through the API (issue 19): a gate is a string the schema describes as one of the
procedure's codes; the service checks it against the version the change or bypass pinned."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from emergencies.models import BypassRemediation, BypassRequest, GateResult
from tests.audits.helpers import granted_bypass
from tests.factories import file_stub
from tests.problems import problem_fields
from tests.qms.procedures.helpers import ACCESSIBILITY, publish_gate

pytestmark = pytest.mark.django_db


def as_(user):
    client = APIClient()
    client.force_login(user)
    return client


def publish(gate_people):
    return publish_gate(author=gate_people["author"], quality=gate_people["quality"], qms=gate_people["qms"])


BYPASS = {
    "repository": "web/storefront",
    "pull_request": "#77",
    "checks": [ACCESSIBILITY],
    "production_impact": "low",
    "code_quality_only": True,
    "reason": "Contrast checker false positive",
    "impact_assessment": "none",
    "risk_evaluation": "low",
}


def test_a_bypass_of_a_new_gate_is_requested_and_remediated_once_its_version_is_published(gate_people):
    dev = as_(gate_people["dev"])
    body = {**BYPASS, "remediation_due": (timezone.now() + timedelta(days=2)).date().isoformat()}
    refused = dev.post("/api/v1/bypasses/", body, format="json")
    assert refused.status_code == 400 and "Unknown check(s)" in problem_fields(refused)["checks"][0]
    badly_written = dev.post("/api/v1/bypasses/", {**body, "checks": ["A11y Review"]}, format="json")
    assert "a lowercase code" in problem_fields(badly_written)["checks.0"][0]
    assert not BypassRequest.objects.filter(repository="web/storefront").exists()

    version = publish(gate_people)
    created = dev.post("/api/v1/bypasses/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["checks"] == [ACCESSIBILITY]
    bypass = BypassRequest.objects.get(identifier=created.json()["id"])
    assert bypass.procedure_version == version

    now = timezone.now()
    granted = granted_bypass(
        gate_people["dev"],
        gate_people["lead"],
        requested_at=now - timedelta(hours=1),
        decided_at=now,
        checks=[ACCESSIBILITY],
    )
    path = f"/api/v1/bypasses/{granted.identifier}/remediations/"
    bad = as_(gate_people["lead"]).post(path, {"gate": "no such gate", "evidence": "x"}, format="json")
    assert "gate" in problem_fields(bad)
    done = as_(gate_people["lead"]).post(
        path, {"gate": ACCESSIBILITY, "evidence": "axe-core: 0 violations"}, format="json"
    )
    assert done.status_code == 201, done.content
    assert BypassRemediation.objects.get(bypass=granted).gate == ACCESSIBILITY


def test_retroactive_results_of_a_new_gate_only_on_a_change_pinned_to_its_version(gate_people, qms_coordinator):
    before = file_stub(gate_people["dev"])
    publish(gate_people)
    after = file_stub(gate_people["dev"])
    api = as_(qms_coordinator)
    body = {"gate": ACCESSIBILITY, "result": "passed", "evidence": "audit report"}

    refused = api.post(f"/api/v1/emergencies/{before.identifier}/gate-results/", body, format="json")
    assert refused.status_code == 400
    assert f"Unknown check(s) under {before.procedure_version}" in problem_fields(refused)["gate"][0]
    assert not GateResult.objects.filter(change=before).exists()

    done = api.post(f"/api/v1/emergencies/{after.identifier}/gate-results/", body, format="json")
    assert done.status_code == 201, done.content
    bulk = {"results": [{"gate": "full_regression", "result": "passed"}], "evidence_for_all": "CI run 9"}
    for change in (before, after):  # the presets' codes still work under either version
        answer = api.post(f"/api/v1/emergencies/{change.identifier}/gate-results/bulk/", bulk, format="json")
        assert answer.status_code == 201, answer.content
    assert set(GateResult.objects.filter(change=after).values_list("gate", flat=True)) == {
        ACCESSIBILITY,
        "full_regression",
    }


def test_the_schema_says_a_gate_is_one_of_the_procedures_codes(gate_people):
    client = APIClient()
    client.force_login(gate_people["dev"])
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    assert "CheckEnum" not in components
    gates = [
        components["GateResultInput"]["properties"]["gate"],
        components["RemediationInput"]["properties"]["gate"],
        components["GateRowInput"]["properties"]["gate"],
        components["BypassRequestCreate"]["properties"]["checks"]["items"],
    ]
    for gate in gates:
        assert gate["type"] == "string" and "enum" not in gate and gate["pattern"].startswith("^[a-z]")
        assert "gate code" in gate["description"] and "procedure" in gate["description"]
