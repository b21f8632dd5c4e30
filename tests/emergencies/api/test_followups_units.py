"""The follow-up documents of a change listed through the API, and unit serial numbers that the unit's address
(…/units/{serial}/) can name: a serial with "/" is refused when the unit is added, by every path."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from emergencies.models import FollowUpDocument, UnitDistribution
from emergencies.services.patches import follow_up_document_complete, unit_distribution_add
from qms.roles import Role
from tests.emergencies.services.test_patches import (  # noqa: F401  (fixtures)
    approved,
    cm,
    cm_wf_change,
    deploy,
    media,
    program,
    release,
    reviewer,
)
from tests.factories import api_token, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db
API = "/api/v1/"


def as_(user):
    client = APIClient(raise_request_exception=False)
    _, secret = api_token(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def change(oncall, cm, program):  # noqa: F811
    return cm_wf_change(oncall, cm, program)


def test_follow_up_documents_are_listed_in_the_order_done(change, oncall, reviewer, make_user):  # noqa: F811
    url = f"{API}emergencies/{change.identifier}/follow-up-documents/"
    assert as_(oncall).get(url).json()["results"] == []
    deployed = deploy(change, reviewer)
    for key in ("sbom", "release_notes"):
        follow_up_document_complete(change_id=deployed.pk, actor=oncall, key=key, evidence=f"{key} done")
    auditor = as_(make_user(Role.AUDITOR))  # a reader reads them
    body = auditor.get(url).json()
    assert [d["key"] for d in body["results"]] == ["sbom", "release_notes"] and body["next"] is None
    assert body["results"][0]["label"] == "Updated SBOM" and body["results"][0]["completed_by"] == oncall.username
    page = auditor.get(f"{url}?ordering=key&limit=1").json()
    assert [d["key"] for d in page["results"]] == ["release_notes"]
    assert [d["key"] for d in auditor.get(page["next"]).json()["results"]] == ["sbom"]
    assert "ordering" in problem_fields(auditor.get(f"{url}?ordering=evidence"))
    assert FollowUpDocument.objects.count() == 2


def test_follow_up_documents_of_a_change_without_packages_or_unseen_are_404(oncall, make_user):
    plain = file_stub(oncall)
    assert as_(oncall).get(f"{API}emergencies/{plain.identifier}/follow-up-documents/").status_code == 404
    assert as_(oncall).get(f"{API}emergencies/EC-1999-0001/follow-up-documents/").status_code == 404


@pytest.mark.parametrize("serial", ["SN/300", "/", "A/B/C"])
def test_a_serial_with_a_slash_is_refused_by_the_api(change, oncall, cm, serial):  # noqa: F811
    package = approved(change, oncall, cm)
    response = as_(oncall).post(f"{API}patch-packages/{package.identifier}/units/", {"serial_number": serial})
    assert "serial_number" in problem_fields(response)
    assert not UnitDistribution.objects.exists()


def test_a_serial_with_a_slash_is_refused_by_the_service(change, oncall, cm):  # noqa: F811
    package = approved(change, oncall, cm)
    with pytest.raises(ValidationError) as refused:
        unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN/300")
    assert "cannot contain “/”" in str(refused.value.message_dict["serial_number"])
    assert not UnitDistribution.objects.exists()


def test_units_from_an_incident_listing_a_slashed_serial_are_refused_whole(change, oncall, cm):  # noqa: F811
    package = approved(change, oncall, cm)
    incident = change.incident
    incident.affected_systems = "SN-100 flight computer\nSN/200 cabin unit\n"
    incident.save(update_fields=["affected_systems"])
    response = as_(oncall).post(f"{API}patch-packages/{package.identifier}/units/from-incident/", {}, format="json")
    assert response.status_code == 400 and "SN/200" in response.content.decode()
    assert not UnitDistribution.objects.exists()  # nothing half-added
    unit = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-200")
    assert as_(oncall).get(f"{API}patch-packages/{package.identifier}/units/SN-200/").json()["id"] == unit.pk
