"""A procedure's own gates on the pages (issue 19): the request form offers the catalogue of the version in
force, the remediation form the bypass's open checks, and a code another version lacks is a field error."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from emergencies.models import BypassRemediation, BypassRequest
from tests.audits.helpers import granted_bypass
from tests.qms.procedures.helpers import ACCESSIBILITY, publish_gate

pytestmark = pytest.mark.django_db


def form(**changes):
    return {
        "repository": "web/storefront",
        "pull_request": "#77",
        "production_impact": "low",
        "code_quality_only": "on",
        "checks": [ACCESSIBILITY],
        "reason": "Contrast checker false positive",
        "impact_assessment": "none",
        "risk_evaluation": "low",
        "remediation_due": (timezone.now() + timedelta(days=2)).date().isoformat(),
        **changes,
    }


def test_the_request_form_offers_the_gates_of_the_version_in_force(client, gate_people):
    client.force_login(gate_people["dev"])
    page = client.get(reverse("emergencies:bypass-create")).content.decode()
    assert ACCESSIBILITY not in page
    refused = client.post(reverse("emergencies:bypass-create"), form())
    assert refused.status_code == 400 and "checks" in refused.context["form"].errors
    publish_gate(author=gate_people["author"], quality=gate_people["quality"], qms=gate_people["qms"])
    page = client.get(reverse("emergencies:bypass-create")).content.decode()
    assert f'value="{ACCESSIBILITY}"' in page and "Accessibility review (from L1)" in page
    response = client.post(reverse("emergencies:bypass-create"), form())
    assert response.status_code == 302
    assert BypassRequest.objects.get(repository="web/storefront").checks == [ACCESSIBILITY]


def test_the_remediation_form_offers_the_bypass_s_own_gate(client, gate_people):
    publish_gate(author=gate_people["author"], quality=gate_people["quality"], qms=gate_people["qms"])
    now = timezone.now()
    bypass = granted_bypass(
        gate_people["dev"],
        gate_people["lead"],
        requested_at=now - timedelta(hours=1),
        decided_at=now,
        checks=[ACCESSIBILITY],
    )
    client.force_login(gate_people["lead"])
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert f'<option value="{ACCESSIBILITY}">Accessibility review</option>' in page
    post = reverse("emergencies:bypass-remediation", args=[bypass.identifier])
    again = client.post(post, {"gate": ACCESSIBILITY, "evidence": " "})
    assert again.status_code == 400  # shown again, still offering the open check (the one posted, selected)
    assert f'<option value="{ACCESSIBILITY}" selected>Accessibility review</option>' in again.content.decode()
    assert client.post(post, {"gate": ACCESSIBILITY, "evidence": "axe-core: 0 violations"}).status_code == 302
    assert BypassRemediation.objects.get(bypass=bypass).gate == ACCESSIBILITY
