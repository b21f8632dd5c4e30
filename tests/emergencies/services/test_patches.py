"""The emergency patch package of CM-WF-EMERGENCY: hashes, approval, distribution per unit, the
configuration audit that blocks closure, and the §11.2 follow-up documentation."""

import hashlib
import os
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from emergencies.models import ChangeRecord, FollowUpDocument, PatchArtifact, PatchPackage, UnitDistribution, UnitEvent
from emergencies.models.patches import FOLLOW_UP_ITEMS
from emergencies.services import change_record_transition
from emergencies.services.patches import (
    follow_up_document_complete,
    patch_artifact_enter,
    patch_artifact_remove,
    patch_artifact_upload,
    patch_artifact_verify_entry,
    patch_artifact_verify_upload,
    patch_closure_problems,
    patch_configuration_audit,
    patch_package_approve,
    patch_package_create,
    patch_package_withdraw,
    unit_acknowledgement_record,
    unit_distribution_add,
    unit_distributions_from_incident,
    unit_install_record,
    unit_rollback_record,
    unit_sent_record,
    unit_verification_record,
)
from qms.models import Signature
from qms.roles import Role
from qms.services import content_hash
from tests.factories import PASSWORD, authorise, file_stub, pass_gates, ready_to_deploy

pytestmark = pytest.mark.django_db

FIRMWARE = b"flight-computer firmware 2.4.1\n" * 50_000  # 1.5 MB: many chunks
FIRMWARE_SHA = hashlib.sha256(FIRMWARE).hexdigest()
OTHER_SHA = hashlib.sha256(b"what the unit really runs").hexdigest()
TEXTS = {
    "summary": "Bounds check on the altitude filter; nothing else.",
    "installation_procedure": "1. Ground the unit.\n2. Load fw-2.4.1.bin from the maintenance port.",
    "verification_procedure": "Run BIT; read the firmware hash from the maintenance page.",
    "rollback_procedure": "Reload fw-2.4.0.bin from the maintenance port.",
    "release_notice": "EMERGENCY RELEASE NOTICE: install fw-2.4.1 before the next flight.",
}
AFFECTED = "SN-100 — flight computer, tail 4\nSN-200: flight computer, tail 7\n\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def cm(make_user):
    return make_user(Role.CM, username="cm", first_name="Cora", last_name="Config")


@pytest.fixture
def program(make_user):
    return make_user(Role.PROGRAM, username="program", first_name="Pat", last_name="Program")


@pytest.fixture
def release(make_user):
    return make_user(Role.RELEASE, username="release", first_name="Rhea", last_name="Release")


@pytest.fixture
def reviewer(make_user):
    return make_user(Role.LEAD, username="lead", first_name="Lee", last_name="Lead")


def cm_wf_change(oncall, cm, program, *, affected=AFFECTED):
    change = file_stub(oncall, procedure_code="cm-wf-emergency", affected_systems=affected)
    authorise(change, cm, program)
    pass_gates(change, "declare", "fast_track", "deployment", actor=cm)
    return change


def deploy(change, reviewer):
    """Test set-up: the change marked deployed before its package is built, so that these tests can build
    and distribute it afterwards (the service's order, package before deployment, is tested in
    test_preconditions). The transition itself runs, so its receivers open the deployment's clocks."""
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=change.author)
    ready_to_deploy(change, reviewer)
    change = ChangeRecord.objects.get(pk=change.pk)
    change.deploy(by=change.author, at=timezone.now(), reason="deployed")
    change._history_user = change.author
    change.save()
    change.refresh_from_db()
    return change


@pytest.fixture
def change(oncall, cm, program):
    return cm_wf_change(oncall, cm, program)


@pytest.fixture
def deployed(change, reviewer):
    return deploy(change, reviewer)


def upload(package, actor, data=FIRMWARE, name="fw-2.4.1.bin", **kwargs):
    return patch_artifact_upload(package_id=package.pk, actor=actor, file=SimpleUploadedFile(name, data), **kwargs)


def draft(change, author):
    return patch_package_create(change_id=change.pk, actor=author, texts=TEXTS)


def approved(change, author, approver, data=FIRMWARE):
    package = draft(change, author)
    upload(package, author, data)
    role = next(r for r in (Role.CM, Role.RELEASE) if approver.has_role(r))
    return patch_package_approve(package_id=package.pk, signer=approver, password=PASSWORD, role=role)


def install_everywhere(package, actor, reported=FIRMWARE_SHA, *, verify=True):
    units = unit_distributions_from_incident(package_id=package.pk, actor=actor)
    for unit in units:
        unit_sent_record(distribution_id=unit.pk, actor=actor, channel="secure_delivery")
        unit_acknowledgement_record(distribution_id=unit.pk, actor=actor, acknowledged_by="Crew chief Ada")
        unit_install_record(distribution_id=unit.pk, actor=actor, succeeded=True, reported_hash=reported)
        if verify:
            unit_verification_record(distribution_id=unit.pk, actor=actor, passed=True, notes="BIT green")
    return units


def complete_follow_up(change, actor, *, skip=()):
    for key, label in FOLLOW_UP_ITEMS:
        if key not in skip:
            follow_up_document_complete(change_id=change.pk, key=key, actor=actor, evidence=f"{label}: DOC-{key}")


def complete_patch_package(change, *, author, approver):
    """A CM-WF change whose patch package no longer blocks closure (for closure tests elsewhere)."""
    package = approved(change, author, approver)
    install_everywhere(package, author)
    complete_follow_up(change, author)
    return package


# --- hashes -------------------------------------------------------------------------------------------


def test_upload_hash_is_computed_from_the_file_and_equals_hashlib(change, oncall, media):
    package = draft(change, oncall)
    artifact = upload(package, oncall)
    assert artifact.sha256 == FIRMWARE_SHA
    assert artifact.size == len(FIRMWARE)
    assert artifact.hash_source == PatchArtifact.Source.COMPUTED
    assert artifact.is_verified and artifact.verification_method == PatchArtifact.Verification.COMPUTED
    with artifact.file.open("rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == FIRMWARE_SHA
    assert str(media) in artifact.file.path
    assert artifact.history.get().history_user == oncall
    event = AuditEvent.objects.get(action="patch.artifact_added")
    assert event.after["sha256"] == FIRMWARE_SHA and event.subject_label == package.identifier


def test_upload_that_differs_from_the_expected_hash_is_refused_and_recorded(change, oncall):
    package = draft(change, oncall)
    with pytest.raises(ValidationError) as exc:
        upload(package, oncall, expected_sha256=OTHER_SHA)
    assert "expected_sha256" in exc.value.message_dict
    assert not PatchArtifact.objects.exists()
    failed = AuditEvent.objects.get(action="patch.artifact_verification_failed")
    assert FIRMWARE_SHA in failed.reason and OTHER_SHA in failed.reason


def test_entered_hash_counts_only_once_a_second_person_re_enters_it(change, oncall, release, reviewer):
    package = draft(change, oncall)
    artifact = patch_artifact_enter(
        package_id=package.pk,
        actor=oncall,
        filename="fw-2.4.1.bin",
        sha256=f"SHA256:{FIRMWARE_SHA.upper()}",
        location="artifactory://avionics/fw-2.4.1.bin",
    )
    assert artifact.sha256 == FIRMWARE_SHA and not artifact.is_verified
    with pytest.raises(ValidationError, match=r"Verify the hash of fw-2\.4\.1\.bin"):
        patch_package_approve(package_id=package.pk, signer=release, password=PASSWORD, role=Role.RELEASE)

    with pytest.raises(PermissionDenied, match="second person"):
        patch_artifact_verify_entry(artifact_id=artifact.pk, actor=oncall, sha256=FIRMWARE_SHA)
    with pytest.raises(ValidationError) as exc:
        patch_artifact_verify_entry(artifact_id=artifact.pk, actor=reviewer, sha256=OTHER_SHA)
    assert FIRMWARE_SHA not in str(exc.value)  # the second entry stays blind
    artifact.refresh_from_db()
    assert not artifact.is_verified
    assert AuditEvent.objects.filter(action="patch.artifact_verification_failed", actor=reviewer).exists()

    artifact = patch_artifact_verify_entry(artifact_id=artifact.pk, actor=reviewer, sha256=FIRMWARE_SHA)
    assert artifact.is_verified and artifact.verified_by == reviewer
    assert artifact.verification_method == PatchArtifact.Verification.SECOND_ENTRY
    assert not artifact.file


def test_entered_hash_is_verified_by_uploading_the_file(change, oncall):
    package = draft(change, oncall)
    artifact = patch_artifact_enter(package_id=package.pk, actor=oncall, filename="fw.bin", sha256=FIRMWARE_SHA)
    with pytest.raises(ValidationError) as exc:
        patch_artifact_verify_upload(artifact_id=artifact.pk, actor=oncall, file=SimpleUploadedFile("x", b"tampered"))
    assert "file" in exc.value.message_dict
    artifact.refresh_from_db()
    assert not artifact.is_verified and not artifact.file

    artifact = patch_artifact_verify_upload(
        artifact_id=artifact.pk, actor=oncall, file=SimpleUploadedFile("fw.bin", FIRMWARE)
    )
    assert artifact.verification_method == PatchArtifact.Verification.UPLOAD_MATCHED
    assert artifact.size == len(FIRMWARE) and artifact.file


def test_a_wrong_file_is_removed_from_a_draft_and_its_history_stays(
    change, oncall, cm, django_capture_on_commit_callbacks
):
    package = draft(change, oncall)
    artifact = upload(package, oncall, data=b"wrong build", name="fw-wrong.bin")
    path = artifact.file.path
    with django_capture_on_commit_callbacks(execute=True):
        patch_artifact_remove(artifact_id=artifact.pk, actor=oncall)
    assert not PatchArtifact.objects.exists()
    assert [h.history_type for h in PatchArtifact.history.filter(id=artifact.pk).order_by("history_date")] == ["+", "-"]
    assert not os.path.exists(path)
    assert AuditEvent.objects.filter(action="patch.artifact_removed", reason__contains="fw-wrong.bin").exists()
    upload(package, oncall)
    package = patch_package_approve(package_id=package.pk, signer=cm, password=PASSWORD, role=Role.CM)
    frozen = package.artifacts.get()
    with pytest.raises(ValidationError, match="frozen"):
        patch_artifact_remove(artifact_id=frozen.pk, actor=oncall)


# --- approval -----------------------------------------------------------------------------------------


def test_approval_is_a_signature_by_a_cm_or_release_manager_who_is_not_the_author(change, oncall, cm, make_user):
    package = draft(change, oncall)
    upload(package, oncall)
    upload(package, oncall, data=b"previous", name="fw-2.4.0.bin", kind="previous_version")

    with pytest.raises(ValidationError) as exc:
        patch_package_approve(package_id=package.pk, signer=cm, password="wrong", role=Role.CM)
    assert "password" in exc.value.message_dict
    package.refresh_from_db()
    assert (
        package.status == PatchPackage.Status.DRAFT
        and not Signature.objects.filter(subject_label=package.identifier).exists()
    )

    program = make_user(Role.PROGRAM)
    with pytest.raises(PermissionDenied):
        patch_package_approve(package_id=package.pk, signer=program, password=PASSWORD, role=Role.CM)
    with pytest.raises(ValidationError, match="approved by a Configuration manager or Release manager"):
        patch_package_approve(package_id=package.pk, signer=program, password=PASSWORD, role=Role.PROGRAM)

    package = patch_package_approve(package_id=package.pk, signer=cm, password=PASSWORD, role=Role.CM, comment="go")
    assert package.status == PatchPackage.Status.APPROVED and package.approved_by == cm
    assert {a["filename"]: a["sha256"] for a in package.approved_hashes} == {
        "fw-2.4.1.bin": FIRMWARE_SHA,
        "fw-2.4.0.bin": hashlib.sha256(b"previous").hexdigest(),
    }
    signature = package.approval_signature
    assert signature.signer == cm and signature.role == Role.CM and signature.meaning == "approved"
    assert signature.content_hash == content_hash(package.signable_content(package.artifacts.all()))
    assert AuditEvent.objects.get(action="patch.approve").after["approved_hashes"] == package.approved_hashes
    assert package.history.first().history_user == cm

    with pytest.raises(ValidationError, match="frozen"):
        upload(package, oncall, name="late.bin")


def test_the_author_cannot_approve_their_own_package(change, cm, make_user):
    author = make_user(Role.CM, Role.ONCALL)
    package = draft(change, author)
    upload(package, author)
    with pytest.raises(PermissionDenied, match="author"):
        patch_package_approve(package_id=package.pk, signer=author, password=PASSWORD, role=Role.CM)
    assert not Signature.objects.filter(subject_label=package.identifier).exists()


def test_approval_needs_the_procedures_and_the_notice(change, oncall, cm):
    package = patch_package_create(change_id=change.pk, actor=oncall)
    upload(package, oncall)
    with pytest.raises(ValidationError) as exc:
        patch_package_approve(package_id=package.pk, signer=cm, password=PASSWORD, role=Role.CM)
    text = " ".join(exc.value.messages)
    assert "installation procedure" in text and "rollback procedure" in text and "release notice" in text


def test_one_live_package_at_a_time_and_a_new_version_after_withdrawal(change, oncall, cm):
    package = approved(change, oncall, cm)
    with pytest.raises(ValidationError, match="withdraw it"):
        draft(change, oncall)
    with pytest.raises(ValidationError, match="why"):
        patch_package_withdraw(package_id=package.pk, actor=oncall, reason=" ")
    patch_package_withdraw(package_id=package.pk, actor=oncall, reason="Wrong build flags")
    second = patch_package_create(change_id=change.pk, actor=oncall)
    assert second.version == 2 and second.identifier.endswith("-v2")
    assert second.installation_procedure == TEXTS["installation_procedure"]  # carried over from v1
    assert patch_closure_problems(change)[0] == f"Patch package {second.identifier} is not approved (draft)."


def test_packages_only_for_procedures_that_ask_for_them(oncall, commander):
    change = file_stub(oncall)  # Emergency Bypass Workflow
    with pytest.raises(ValidationError, match="does not use patch packages"):
        patch_package_create(change_id=change.pk, actor=oncall)
    assert patch_closure_problems(change) == []


# --- distribution -------------------------------------------------------------------------------------


def test_distribution_lifecycle_per_unit(change, oncall, cm):
    package = draft(change, oncall)
    upload(package, oncall)
    units = unit_distributions_from_incident(package_id=package.pk, actor=oncall)
    assert [(u.serial_number, u.description, u.listed_on_incident) for u in units] == [
        ("SN-100", "flight computer, tail 4", True),
        ("SN-200", "flight computer, tail 7", True),
    ]
    assert unit_distributions_from_incident(package_id=package.pk, actor=oncall) == []
    spare = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-900", description="spare")
    assert not spare.listed_on_incident
    with pytest.raises(ValidationError, match="already in the distribution"):
        unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-900")

    sn100 = units[0]
    with pytest.raises(ValidationError, match="only an approved package is sent"):
        unit_sent_record(distribution_id=sn100.pk, actor=oncall, channel="secure_delivery")
    package = patch_package_approve(package_id=package.pk, signer=cm, password=PASSWORD, role=Role.CM)

    with pytest.raises(ValidationError, match="not been sent"):
        unit_acknowledgement_record(distribution_id=sn100.pk, actor=oncall, acknowledged_by="Ada")
    with pytest.raises(ValidationError) as exc:
        unit_sent_record(distribution_id=sn100.pk, actor=oncall, channel="carrier pigeon")
    assert "channel" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        unit_sent_record(
            distribution_id=sn100.pk,
            actor=oncall,
            channel="encrypted_link",
            occurred_at=timezone.now() + timedelta(hours=2),
        )
    assert "occurred_at" in exc.value.message_dict

    unit_sent_record(distribution_id=sn100.pk, actor=oncall, channel="encrypted_link")
    package.refresh_from_db()
    assert package.status == PatchPackage.Status.DISTRIBUTED
    assert AuditEvent.objects.get(action="patch.distribute").reason == "first sent to SN-100"
    unit_acknowledgement_record(distribution_id=sn100.pk, actor=oncall, acknowledged_by="Crew chief Ada")
    with pytest.raises(ValidationError) as exc:
        unit_install_record(distribution_id=sn100.pk, actor=oncall, succeeded=True, reported_hash="abc")
    assert "reported_hash" in exc.value.message_dict
    with pytest.raises(ValidationError, match="not installed"):
        unit_verification_record(distribution_id=sn100.pk, actor=oncall, passed=True)
    unit_install_record(distribution_id=sn100.pk, actor=oncall, succeeded=True, reported_hash=FIRMWARE_SHA.upper())
    with pytest.raises(ValidationError) as exc:
        unit_verification_record(distribution_id=sn100.pk, actor=oncall, passed=False)
    assert "detail" in exc.value.message_dict
    unit = unit_verification_record(distribution_id=sn100.pk, actor=oncall, passed=True, notes="BIT green")
    assert unit.install_status == UnitDistribution.InstallStatus.INSTALLED
    assert unit.reported_hash == FIRMWARE_SHA and unit.hash_matches() and unit.post_install_verified

    unit = unit_rollback_record(distribution_id=sn100.pk, actor=oncall, reason="Altitude jumps after install")
    assert unit.install_status == UnitDistribution.InstallStatus.ROLLED_BACK and not unit.post_install_verified
    assert list(unit.events.values_list("kind", flat=True)) == [
        "sent",
        "acknowledged",
        "installed",
        "verified",
        "rolled_back",
    ]
    assert "Unit SN-100: rolled back, not installed." in patch_closure_problems(change)
    assert unit.history.count() == 6  # added, then one row per event
    assert AuditEvent.objects.filter(action="patch.unit_rolled_back", reason__contains="Altitude jumps").exists()

    event = unit.events.first()
    event.detail = "rewritten"
    with pytest.raises(ValidationError, match="append-only"):
        event.save()
    with pytest.raises(ValidationError, match="append-only"):
        event.delete()
    assert UnitEvent.objects.filter(detail="rewritten").count() == 0


def test_failed_install_needs_a_description(change, oncall, cm):
    package = approved(change, oncall, cm)
    unit = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-100")
    unit_sent_record(distribution_id=unit.pk, actor=oncall, channel="physical_media")
    with pytest.raises(ValidationError) as exc:
        unit_install_record(distribution_id=unit.pk, actor=oncall, succeeded=False)
    assert "detail" in exc.value.message_dict
    unit = unit_install_record(distribution_id=unit.pk, actor=oncall, succeeded=False, detail="Checksum error on load")
    assert unit.install_status == UnitDistribution.InstallStatus.FAILED


# --- configuration audit and closure ------------------------------------------------------------------


def test_closure_is_blocked_by_a_hash_mismatch(deployed, oncall, cm):
    package = approved(deployed, oncall, cm)
    _, sn200 = install_everywhere(package, oncall)
    complete_follow_up(deployed, oncall)
    assert patch_closure_problems(deployed) == []

    unit_install_record(distribution_id=sn200.pk, actor=oncall, succeeded=True, reported_hash=OTHER_SHA)
    unit_verification_record(distribution_id=sn200.pk, actor=oncall, passed=True, notes="BIT green")
    assert patch_closure_problems(deployed) == [
        f"Configuration audit: unit SN-200 reports {OTHER_SHA}, approved {FIRMWARE_SHA}"
    ]
    audited = patch_configuration_audit(package_id=package.pk, actor=cm)
    assert audited.configuration_audit_ok is False
    assert [(r["serial_number"], r["ok"]) for r in audited.configuration_audit] == [("SN-100", True), ("SN-200", False)]
    event = AuditEvent.objects.get(action="patch.configuration_audit")
    assert event.after["ok"] is False and "SN-200" in event.reason


def test_closure_problems_are_empty_when_every_unit_matches_and_is_verified(deployed, oncall, release):
    package = complete_patch_package(deployed, author=oncall, approver=release)
    assert patch_closure_problems(deployed) == []
    assert patch_configuration_audit(package_id=package.pk, actor=oncall).configuration_audit_ok is True


def test_closure_problems_name_everything_still_missing(deployed, oncall, cm):
    assert patch_closure_problems(deployed)[0] == "No patch package: CM-WF-EMERGENCY requires one (§8.2)."
    package = approved(deployed, oncall, cm)
    sn100, _ = unit_distributions_from_incident(package_id=package.pk, actor=oncall)
    unit_sent_record(distribution_id=sn100.pk, actor=oncall, channel="secure_delivery")
    unit_install_record(distribution_id=sn100.pk, actor=oncall, succeeded=True, reported_hash=FIRMWARE_SHA)
    complete_follow_up(deployed, oncall, skip={"sbom", "release_register"})
    assert patch_closure_problems(deployed) == [
        "Unit SN-100: receipt not acknowledged.",
        "Unit SN-100: post-install verification not recorded.",
        "Unit SN-200: package not sent.",
        "30-day follow-up documentation: 2 of 8 items outstanding (Updated SBOM, Release register updated).",
    ]


def test_an_affected_unit_without_a_distribution_blocks_closure(deployed, oncall, cm):
    package = approved(deployed, oncall, cm)
    unit = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-100")
    assert "Affected unit SN-200 (listed on " in " ".join(patch_closure_problems(deployed))
    assert unit.listed_on_incident


# --- §11.2 follow-up documentation --------------------------------------------------------------------


def test_follow_up_obligations_open_at_deployment_due_in_30_days(change, reviewer):
    assert not Obligation.objects.filter(kind="follow_up_doc").exists()
    deployed = deploy(change, reviewer)
    obligations = Obligation.objects.filter(kind="follow_up_doc", subject_id=deployed.pk)
    assert sorted(o.key for o in obligations) == sorted(key for key, _ in FOLLOW_UP_ITEMS)
    assert {o.due_at for o in obligations} == {deployed.deployed_at + timedelta(days=30)}
    assert {o.owner_role for o in obligations} == {Role.RELEASE.value}
    assert Obligation.objects.filter(kind="follow_up_documentation", subject_id=deployed.pk).count() == 1


def test_no_follow_up_obligations_for_procedures_without_patch_packages(oncall, commander, reviewer):
    change = file_stub(oncall)
    authorise(change, commander)
    deploy(change, reviewer)
    assert not Obligation.objects.filter(kind="follow_up_doc").exists()


def test_marking_items_done_satisfies_them_and_the_last_one_the_30_day_clock(deployed, oncall, make_user):
    with pytest.raises(ValidationError) as exc:
        follow_up_document_complete(change_id=deployed.pk, key="sbom", actor=oncall, evidence=" ")
    assert "evidence" in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        follow_up_document_complete(
            change_id=deployed.pk, key="sbom", actor=make_user(Role.AUDITOR), evidence="SBOM v2"
        )
    complete_follow_up(deployed, oncall, skip={"release_register"})
    with pytest.raises(ValidationError, match="already recorded"):
        follow_up_document_complete(change_id=deployed.pk, key="sbom", actor=oncall, evidence="again")

    items = Obligation.objects.filter(kind="follow_up_doc", subject_id=deployed.pk)
    assert [o.key for o in items if o.is_open] == ["release_register"]
    overall = Obligation.objects.get(kind="follow_up_documentation", subject_id=deployed.pk)
    assert overall.is_open

    follow_up_document_complete(
        change_id=deployed.pk, key="release_register", actor=oncall, evidence="Register row 118", reference="RR-118"
    )
    assert not Obligation.objects.filter(kind="follow_up_doc", subject_id=deployed.pk, satisfied_at=None).exists()
    overall.refresh_from_db()
    assert not overall.is_open and overall.satisfied_by == oncall
    assert FollowUpDocument.objects.filter(change=deployed).count() == 8
    assert AuditEvent.objects.filter(action="patch.follow_up_completed", subject_id=str(deployed.pk)).count() == 8


def test_follow_up_starts_at_deployment(change, oncall):
    with pytest.raises(ValidationError, match="starts when the patch is deployed"):
        follow_up_document_complete(change_id=change.pk, key="sbom", actor=oncall, evidence="SBOM v2")


# --- the page -----------------------------------------------------------------------------------------


def page_url(change, name="emergencies:patch-detail", **kwargs):
    return reverse(name, kwargs={"identifier": change.identifier, **kwargs})


@pytest.mark.parametrize(("role", "status"), [(Role.ONCALL, 200), (Role.AUDITOR, 200), (None, 404)])
def test_page_is_visible_to_roles_and_hidden_from_others(client, make_user, change, oncall, cm, role, status):
    package = approved(change, oncall, cm)
    install_everywhere(package, oncall)
    client.force_login(make_user(role) if role else make_user())
    response = client.get(page_url(change))
    assert response.status_code == status
    if status == 200:
        assert FIRMWARE_SHA in response.content.decode()


@pytest.mark.parametrize(("role", "status"), [(Role.AUDITOR, 403), (None, 404)])
def test_writes_are_refused_to_auditors_and_hidden_from_others(client, make_user, deployed, oncall, cm, role, status):
    package = approved(deployed, oncall, cm)
    unit = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-100")
    client.force_login(make_user(role) if role else make_user())
    v = {"version": package.version}
    posts = [
        (page_url(deployed, "emergencies:patch-create"), {}),
        (page_url(deployed, "emergencies:patch-unit-add", **v), {"add-serial_number": "SN-5"}),
        (
            page_url(deployed, "emergencies:patch-unit-event", unit_id=unit.pk, **v),
            {f"unit-{unit.pk}-kind": "sent", f"unit-{unit.pk}-channel": "secure_delivery"},
        ),
        (page_url(deployed, "emergencies:patch-audit", **v), {}),
        (page_url(deployed, "emergencies:patch-approve", **v), {"approve-role": "cm", "approve-password": PASSWORD}),
        (page_url(deployed, "emergencies:patch-follow-up", key="sbom"), {"fu-sbom-evidence": "SBOM v2"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == status, url
    unit.refresh_from_db()
    assert unit.sent_at is None and not FollowUpDocument.objects.exists()
    assert PatchPackage.objects.count() == 1 and UnitDistribution.objects.count() == 1


def test_building_approving_and_distributing_through_the_page(client, change, oncall, cm):
    client.force_login(oncall)
    assert client.post(page_url(change, "emergencies:patch-create")).status_code == 302
    package = PatchPackage.objects.get()
    v = {"version": package.version}
    texts = {f"texts-{k}": v for k, v in TEXTS.items()}
    assert client.post(page_url(change, "emergencies:patch-update", **v), texts).status_code == 302
    response = client.post(
        page_url(change, "emergencies:patch-artifact-upload", **v),
        {"up-file": SimpleUploadedFile("fw-2.4.1.bin", FIRMWARE), "up-kind": "patch"},
    )
    assert response.status_code == 302
    artifact = PatchArtifact.objects.get()
    download = client.get(page_url(change, "emergencies:patch-artifact-download", artifact_id=artifact.pk, **v))
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == FIRMWARE_SHA
    page = client.get(page_url(change)).content.decode()
    assert "Approve and sign" not in page  # the author does not approve

    client.force_login(cm)
    wrong = client.post(
        page_url(change, "emergencies:patch-approve", **v), {"approve-role": "cm", "approve-password": "nope"}
    )
    assert wrong.status_code == 400 and "attempts left" in wrong.content.decode()
    ok = client.post(
        page_url(change, "emergencies:patch-approve", **v), {"approve-role": "cm", "approve-password": PASSWORD}
    )
    assert ok.status_code == 302
    package.refresh_from_db()
    assert package.status == PatchPackage.Status.APPROVED

    client.force_login(oncall)
    assert client.post(page_url(change, "emergencies:patch-units-from-incident", **v)).status_code == 302
    unit = UnitDistribution.objects.get(serial_number="SN-200")
    url = page_url(change, "emergencies:patch-unit-event", unit_id=unit.pk, **v)
    p = f"unit-{unit.pk}-"
    assert client.post(url, {p + "kind": "sent", p + "channel": "secure_delivery"}).status_code == 302
    bad = client.post(url, {p + "kind": "acknowledged"})
    assert bad.status_code == 400 and bad.context["unit_rows"][1][1].errors["acknowledged_by"]
    assert client.post(url, {p + "kind": "acknowledged", p + "acknowledged_by": "Ada"}).status_code == 302
    response = client.post(url, {p + "kind": "installed", p + "reported_hash": OTHER_SHA}, follow=True)
    text = response.content.decode()
    assert "✗ mismatch" in text
    assert f"Configuration audit: unit SN-200 reports {OTHER_SHA}, approved {FIRMWARE_SHA}" in text


def test_follow_up_is_marked_done_on_the_page(client, deployed, oncall, cm):
    client.force_login(oncall)
    url = page_url(deployed, "emergencies:patch-follow-up", key="sbom")
    assert client.post(url, {"fu-sbom-evidence": ""}).status_code == 400
    assert client.post(url, {"fu-sbom-evidence": "SBOM v2 in DMS", "fu-sbom-reference": "DMS-77"}).status_code == 302
    assert Obligation.objects.get(kind="follow_up_doc", key="sbom").satisfied_by == oncall
    page = client.get(page_url(deployed)).content.decode()
    assert "1 of 8 done" in page and "DMS-77" in page


def test_the_change_page_links_to_the_package_only_for_cm_wf(client, change, oncall):
    client.force_login(oncall)
    assert page_url(change) in client.get(change.get_absolute_url()).content.decode()
    other = file_stub(oncall, title="Other")
    assert "patch-package-link" not in client.get(other.get_absolute_url()).content.decode()
    assert client.get(page_url(other)).status_code == 404


@pytest.mark.parametrize("units", [1, 25])
def test_page_query_count_does_not_grow_with_units(client, django_assert_max_num_queries, change, oncall, cm, units):
    package = approved(change, oncall, cm)
    for n in range(units):
        unit = unit_distribution_add(package_id=package.pk, actor=oncall, serial_number=f"SN-{n:03}")
        unit_sent_record(distribution_id=unit.pk, actor=oncall, channel="secure_delivery")
        unit_install_record(distribution_id=unit.pk, actor=oncall, succeeded=True, reported_hash=FIRMWARE_SHA)
    client.force_login(oncall)
    with django_assert_max_num_queries(14):
        response = client.get(page_url(change))
    assert response.content.decode().count('data-testid="unit"') == units


def test_change_records_are_history_tracked(change, oncall):
    package = draft(change, oncall)
    assert ChangeRecord.objects.get(pk=change.pk).patch_packages.get() == package
    assert package.history.get().history_change_reason == "version 1 started"
