"""The patch package through the API (issue 15): build, hash, verify, approve by signature, distribute to the
units and audit, through the same services as the page; the same permissions and separation of duties;
If-Match and Idempotency-Key; answers as the schema says; lists with cursors at a query cost that does not
grow with the rows."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from emergencies.models import FollowUpDocument, PatchArtifact, PatchPackage, UnitDistribution
from emergencies.services.patches import (
    patch_package_create,
    patch_package_withdraw,
    unit_distribution_add,
    unit_sent_record,
)
from qms.models import Signature
from qms.roles import Role
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.services.test_patches import (  # noqa: F401  (fixtures)
    FIRMWARE,
    FIRMWARE_SHA,
    OTHER_SHA,
    TEXTS,
    approved,
    cm,
    cm_wf_change,
    deploy,
    draft,
    media,
    program,
    release,
    reviewer,
    upload,
)
from tests.factories import PASSWORD, api_token, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db
API = "/api/v1/"
PKG = API + "patch-packages/{package}/"
UNIT = PKG + "units/{serial}/"


def as_(user, *, token=True, scopes=None):
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user, scopes=scopes)[1]}")
    else:
        client.force_login(user)
    return client


def pkg(package, tail=""):
    return f"{API}patch-packages/{package if isinstance(package, str) else package.identifier}/{tail}"


@pytest.fixture
def change(oncall, cm, program):  # noqa: F811
    return cm_wf_change(oncall, cm, program)


@pytest.fixture
def auditor(make_user):
    return make_user(Role.AUDITOR, username="aud")


def test_build_verify_approve_and_distribute(change, oncall, cm, release, client):  # noqa: F811
    schema = served_schema(client, oncall)
    signatures = Signature.objects.count()  # the change's authorisation
    author = as_(oncall)
    created = author.post(f"{API}emergencies/{change.identifier}/patch-packages/", {}, format="json")
    assert created.status_code == 201, created.content
    assert_conforms(schema, "POST", API + "emergencies/{identifier}/patch-packages/", created)
    package = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["approval_problems"]

    # texts: a stale If-Match writes nothing (412); the current ETag goes through
    read = author.get(pkg(package))
    assert_conforms(schema, "GET", PKG, read)
    stale = author.patch(pkg(package), {"summary": "stale"}, format="json", HTTP_IF_MATCH='"0000"')
    assert stale.status_code == 412 and PatchPackage.objects.get(identifier=package).summary == ""
    edited = author.patch(pkg(package), TEXTS, format="json", HTTP_IF_MATCH=read["ETag"])
    assert edited.status_code == 200 and edited.json()["release_notice"] == TEXTS["release_notice"]
    assert_conforms(schema, "PATCH", PKG, edited)
    assert "summary" in problem_fields(author.patch(pkg(package), {"summary": "x" * 30000}, format="json"))

    # a file uploaded: its SHA-256 computed by the portal; a wrong expected hash is refused, nothing added
    refused = author.post(
        pkg(package, "artifacts/upload/"),
        {"file": SimpleUploadedFile("fw.bin", FIRMWARE), "expected_sha256": OTHER_SHA},
        format="multipart",
    )
    assert "expected_sha256" in problem_fields(refused) and not PatchArtifact.objects.exists()
    uploaded = author.post(
        pkg(package, "artifacts/upload/"), {"file": SimpleUploadedFile("fw.bin", FIRMWARE)}, format="multipart"
    )
    assert uploaded.status_code == 201 and uploaded.json()["sha256"] == FIRMWARE_SHA, uploaded.content
    assert_conforms(schema, "POST", PKG + "artifacts/upload/", uploaded)

    # a hash entered for a file kept elsewhere: blind to everyone but its author until verified
    previous_sha = hashlib.sha256(b"fw 2.4.0").hexdigest()
    entered = author.post(
        pkg(package, "artifacts/"),
        {"filename": "fw-2.4.0.bin", "sha256": previous_sha.upper(), "kind": "previous_version"},
        format="json",
    )
    assert entered.status_code == 201 and entered.json()["sha256"] == previous_sha, entered.content
    artifact = entered.json()["id"]
    second = as_(release)
    seen = second.get(pkg(package, f"artifacts/{artifact}/"))
    assert seen.status_code == 200 and seen.json()["sha256"] is None and not seen.json()["verified"]
    listed = second.get(pkg(package, "artifacts/"))
    assert_conforms(schema, "GET", PKG + "artifacts/", listed)
    assert [a["sha256"] for a in listed.json()["results"]] == [None, FIRMWARE_SHA]  # by file name
    # its author cannot verify their own entry; a wrong re-entry is refused and verifies nothing
    own = author.post(pkg(package, f"artifacts/{artifact}/verification/"), {"sha256": previous_sha}, format="json")
    assert own.status_code == 403
    wrong = second.post(pkg(package, f"artifacts/{artifact}/verification/"), {"sha256": OTHER_SHA}, format="json")
    assert "sha256" in problem_fields(wrong) and not PatchArtifact.objects.get(pk=artifact).is_verified
    verified = second.post(pkg(package, f"artifacts/{artifact}/verification/"), {"sha256": previous_sha}, format="json")
    assert verified.status_code == 200 and verified.json()["verified"], verified.content
    assert_conforms(schema, "POST", PKG + "artifacts/{artifact_id}/verification/", verified)

    # approval: never by the author; a retried approval signs once
    own_approval = author.post(pkg(package, "signatures/"), {"role": "cm", "password": PASSWORD}, format="json")
    assert own_approval.status_code == 403 and Signature.objects.count() == signatures
    approver = as_(cm)
    body = {"role": "cm", "password": PASSWORD, "comment": "hashes checked"}
    first = approver.post(pkg(package, "signatures/"), body, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")
    assert first.status_code == 200 and first.json()["status"] == "approved", first.content
    assert_conforms(schema, "POST", PKG + "signatures/", first)
    again = approver.post(pkg(package, "signatures/"), body, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert Signature.objects.count() == signatures + 1
    assert {a["sha256"] for a in first.json()["approved_hashes"]} == {FIRMWARE_SHA, previous_sha}
    # frozen: no more files or edits
    assert author.patch(pkg(package), {"summary": "late"}, format="json").status_code == 400

    # distribution: the incident's units, then one step at a time
    added = author.post(pkg(package, "units/from-incident/"), {}, format="json")
    assert added.status_code == 200 and [u["serial_number"] for u in added.json()] == ["SN-100", "SN-200"]
    assert_conforms(schema, "POST", PKG + "units/from-incident/", added)
    one = author.post(pkg(package, "units/"), {"serial_number": "SN-300", "description": "spare"}, format="json")
    assert one.status_code == 201 and not one.json()["listed_on_incident"], one.content
    assert_conforms(schema, "POST", PKG + "units/", one)
    unit = pkg(package, "units/SN-100/")
    sent = author.post(unit + "send/", {"channel": "encrypted_link"}, format="json")
    assert sent.status_code == 200 and sent.json()["sent_at"], sent.content
    assert_conforms(schema, "POST", UNIT + "send/", sent)
    assert PatchPackage.objects.get(identifier=package).status == "distributed"
    assert author.post(unit + "acknowledge/", {"acknowledged_by": "Crew chief Ada"}, format="json").status_code == 200
    current = author.get(unit)
    assert_conforms(schema, "GET", UNIT, current)
    stale_unit = author.post(
        unit + "install/", {"reported_hash": FIRMWARE_SHA}, format="json", HTTP_IF_MATCH=read["ETag"]
    )
    assert stale_unit.status_code == 412
    assert UnitDistribution.objects.get(serial_number="SN-100").install_status == "pending"
    installed = author.post(
        unit + "install/", {"reported_hash": FIRMWARE_SHA}, format="json", HTTP_IF_MATCH=current["ETag"]
    )
    assert installed.status_code == 200 and installed.json()["hash_matches"] is True, installed.content
    verified_unit = author.post(unit + "verify/", {"passed": True, "detail": "BIT green"}, format="json")
    assert verified_unit.status_code == 200 and verified_unit.json()["post_install_verified"]
    assert [e["kind"] for e in verified_unit.json()["events"]] == ["sent", "acknowledged", "installed", "verified"]
    rolled = author.post(pkg(package, "units/SN-200/roll-back/"), {"reason": ""}, format="json")
    assert rolled.status_code == 400  # not sent yet, and no reason
    audit = author.post(pkg(package, "configuration-audit/"), {}, format="json")
    assert audit.status_code == 200 and audit.json()["configuration_audit"][0]["ok"] is True, audit.content
    assert_conforms(schema, "POST", PKG + "configuration-audit/", audit)
    assert [row["ok"] for row in audit.json()["configuration_audit"]] == [True, False, False]


def test_a_retried_start_files_one_package_and_an_entered_hash_is_verified_by_upload(change, oncall):
    author = as_(oncall)
    create = f"{API}emergencies/{change.identifier}/patch-packages/"
    first = author.post(create, {"summary": "fix"}, format="json", HTTP_IDEMPOTENCY_KEY="start-1")
    again = author.post(create, {"summary": "fix"}, format="json", HTTP_IDEMPOTENCY_KEY="start-1")
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert PatchPackage.objects.count() == 1 and first.json()["summary"] == "fix"
    package = first.json()["id"]
    entered = author.post(pkg(package, "artifacts/"), {"filename": "fw.bin", "sha256": FIRMWARE_SHA}, format="json")
    url = pkg(package, f"artifacts/{entered.json()['id']}/verification/")
    wrong = author.post(url, {"file": SimpleUploadedFile("fw.bin", b"another build")}, format="multipart")
    assert "file" in problem_fields(wrong) and not PatchArtifact.objects.get().is_verified
    both = author.post(url, {"file": SimpleUploadedFile("fw.bin", FIRMWARE), "sha256": FIRMWARE_SHA})
    assert both.status_code == 400
    verified = author.post(url, {"file": SimpleUploadedFile("fw.bin", FIRMWARE)}, format="multipart")
    assert verified.status_code == 200 and verified.json()["verification_method"] == "upload_matched"
    assert verified.json()["has_file"] and verified["ETag"]


def test_a_removed_file_and_a_withdrawn_package(change, oncall, cm):  # noqa: F811
    package = draft(change, oncall)
    artifact = upload(package, oncall)
    author = as_(oncall)
    url = pkg(package, f"artifacts/{artifact.pk}/")
    assert author.delete(url, HTTP_IF_MATCH='"0000"').status_code == 412 and PatchArtifact.objects.exists()
    assert author.delete(url).status_code == 204 and not PatchArtifact.objects.exists()
    assert author.delete(url).status_code == 404
    assert "reason" in problem_fields(author.post(pkg(package, "withdrawal/"), {"reason": ""}, format="json"))
    withdrawn = author.post(pkg(package, "withdrawal/"), {"reason": "Wrong build"}, format="json")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    second = author.post(f"{API}emergencies/{change.identifier}/patch-packages/", {}, format="json")
    assert second.status_code == 201 and second.json()["version"] == 2
    assert second.json()["summary"] == TEXTS["summary"]  # a new version copies the texts


def test_refused_to_auditors_read_only_tokens_no_role_and_hostile_values(change, oncall, cm, auditor, make_user):  # noqa: F811
    create = f"{API}emergencies/{change.identifier}/patch-packages/"
    assert as_(auditor).post(create, {}, format="json").status_code == 403
    assert as_(oncall, scopes=["read"]).post(create, {}, format="json").status_code == 403
    assert as_(make_user()).post(create, {}, format="json").status_code == 404
    assert not PatchPackage.objects.exists()
    other = file_stub(oncall)  # a procedure without patch packages
    assert (
        as_(oncall).post(f"{API}emergencies/{other.identifier}/patch-packages/", {}, format="json").status_code == 404
    )

    package = approved(change, oncall, cm)
    signatures = Signature.objects.count()
    unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-100")
    refused = [
        as_(auditor).post(pkg(package, "units/"), {"serial_number": "SN-9"}, format="json"),
        as_(auditor).post(pkg(package, "units/SN-100/send/"), {"channel": "encrypted_link"}, format="json"),
        as_(auditor).post(pkg(package, "configuration-audit/"), {}, format="json"),
        as_(auditor).post(pkg(package, "withdrawal/"), {"reason": "no"}, format="json"),
        as_(oncall, scopes=["read"]).post(pkg(package, "units/SN-100/send/"), {"channel": "encrypted_link"}),
        # a signature needs the sign scope, and a token that has only that scope may sign
        as_(cm, scopes=["read", "integrations"]).post(pkg(package, "signatures/"), {"role": "cm"}, format="json"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    hidden = as_(make_user())
    assert hidden.get(pkg(package)).status_code == 404 and hidden.get(f"{API}patch-packages/").status_code == 403
    author = as_(oncall)
    assert "serial_number" in problem_fields(author.post(pkg(package, "units/"), {"serial_number": "S" * 101}))
    assert "channel" in problem_fields(author.post(pkg(package, "units/SN-100/send/"), {"channel": "pigeon"}))
    future = author.post(
        pkg(package, "units/SN-100/send/"), {"channel": "encrypted_link", "occurred_at": "2999-01-01T00:00:00Z"}
    )
    assert "occurred_at" in problem_fields(future)
    author.post(pkg(package, "units/SN-100/send/"), {"channel": "encrypted_link"}, format="json")
    assert "reported_hash" in problem_fields(
        author.post(pkg(package, "units/SN-100/install/"), {"reported_hash": "zz"}, format="json")
    )
    assert "reason" in problem_fields(
        author.post(pkg(package, "units/SN-100/roll-back/"), {"reason": " "}, format="json")
    )
    assert author.post(pkg(package, "units/SN-404/send/"), {"channel": "encrypted_link"}).status_code == 404
    assert [e.kind for e in UnitDistribution.objects.get(serial_number="SN-100").events.all()] == ["sent"]
    assert Signature.objects.count() == signatures


def _packages(change, author, count):
    for _ in range(count):
        package = patch_package_create(change_id=change.pk, actor=author)
        patch_package_withdraw(package_id=package.pk, actor=author, reason="next")


def test_package_list_pages_by_cursor_at_a_constant_query_cost(change, oncall, django_assert_max_num_queries):
    client = as_(oncall, token=False)
    url = f"{API}patch-packages/?change={change.identifier}&limit=2&ordering=created_at"
    for count in (3, 12):
        _packages(change, oncall, count - PatchPackage.objects.count())
        with django_assert_max_num_queries(8):
            page = client.get(url)
        assert page.status_code == 200 and len(page.json()["results"]) == 2
        with django_assert_max_num_queries(8):
            everything = client.get(f"{API}patch-packages/?limit=200")
        assert len(everything.json()["results"]) == count
    seen, next_url = [], url
    while next_url:
        response = client.get(next_url)
        seen += [p["version"] for p in response.json()["results"]]
        next_url = response.json()["next"]
    assert seen == list(range(1, 13))
    assert client.get(f"{API}patch-packages/?status=withdrawn&limit=200").json()["results"][0]["status"] == "withdrawn"
    for bad in ("cursor=abc", "cursor=bz14", "cursor=cD1ub3QtYS1kYXRl", "limit=0", "ordering=author", "status=lost"):
        response = client.get(f"{API}patch-packages/?{bad}")
        assert response.status_code == 400, (bad, response.content)
        assert response["Content-Type"] == "application/problem+json"


def test_unit_list_costs_the_same_with_many_units(change, oncall, cm, django_assert_max_num_queries):  # noqa: F811
    package = approved(change, oncall, cm)
    client = as_(oncall, token=False)
    for count in (2, 15):
        for n in range(UnitDistribution.objects.count(), count):
            unit = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number=f"SN-{n:03}")
            unit_sent_record(distribution_id=unit.pk, actor=oncall, channel="secure_delivery")
        with django_assert_max_num_queries(12):
            response = client.get(pkg(package, "units/?limit=200"))
        assert len(response.json()["results"]) == count
        assert all(u["events"][0]["kind"] == "sent" for u in response.json()["results"])
        with django_assert_max_num_queries(10):
            assert len(client.get(pkg(package, "artifacts/")).json()["results"]) == 1
    pending = client.get(pkg(package, "units/?install_status=installed")).json()["results"]
    assert pending == []
    assert client.get(pkg(package, "units/?ordering=-serial_number&limit=1")).json()["results"][0]["serial_number"] == (
        "SN-014"
    )


def test_follow_up_documents(change, oncall, reviewer, auditor):  # noqa: F811
    url = f"{API}emergencies/{change.identifier}/follow-up-documents/"
    body = {"key": "sbom", "evidence": "SBOM 2.4.1 in the register", "reference": "DOC-1"}
    assert as_(oncall).post(url, body, format="json").status_code == 400  # not deployed yet
    deployed = deploy(change, reviewer)
    assert as_(auditor).post(url, body, format="json").status_code == 403
    assert "key" in problem_fields(as_(oncall).post(url, {**body, "key": "lunch"}, format="json"))
    done = as_(oncall).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert done.status_code == 201 and done.json()["label"] == "Updated SBOM", done.content
    assert as_(oncall).post(url, body, format="json").status_code == 400  # written once
    assert FollowUpDocument.objects.filter(change=deployed).count() == 1


def test_a_preventive_measure_becomes_a_follow_up_change_once(oncall, commander, make_user, auditor):
    from emergencies.models import ChangeRecord
    from emergencies.services.postincident import post_mortem_start, preventive_measure_add
    from tests.factories import authorise, deploy_and_resolve

    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    change = deploy_and_resolve(change, reviewer=make_user(Role.ONCALL), commander=commander)
    post_mortem = post_mortem_start(change_id=change.pk, actor=oncall)
    measure = preventive_measure_add(
        post_mortem_id=post_mortem.pk,
        actor=oncall,
        measure="Alert on retry storms",
        category="monitoring",
        priority="High",
    )
    url = f"{API}emergencies/{change.identifier}/post-mortem/measures/{measure.pk}/follow-up/"
    assert as_(auditor).post(url, {}, format="json").status_code == 403
    assert as_(oncall, scopes=["read"]).post(url, {}, format="json").status_code == 403
    assert as_(make_user()).post(url, {}, format="json").status_code == 404
    assert not ChangeRecord.objects.filter(parent=change).exists()
    created = as_(oncall).post(url, {}, format="json")
    assert created.status_code == 201 and created.json()["source"] == "preventive", created.content
    again = as_(oncall).post(url, {}, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert ChangeRecord.objects.filter(parent=change).count() == 1
    missing = f"{API}emergencies/{change.identifier}/post-mortem/measures/999999/follow-up/"
    assert as_(oncall).post(missing, {}, format="json").status_code == 404
