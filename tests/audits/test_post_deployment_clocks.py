"""CM-WF-EMERGENCY §11.1-§11.5: deployment opens the 30-day monitoring, root cause analysis (60 days), lessons
learned (90 days) and formal release (60 days) clocks; each can be met, and an overdue root cause analysis is
EMG-E004."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audits.clocks import kind_of
from audits.models import Obligation
from emergencies.models import ChangeRecord
from emergencies.services import change_record_transition, patches
from emergencies.services.communication import StatusUpdateInput, status_update_post
from emergencies.validation import findings
from qms.roles import Role
from tests.emergencies.services.test_ccb import make_board
from tests.factories import PASSWORD, authorise, file_stub, pass_gates, ready_to_deploy

pytestmark = pytest.mark.django_db
POST_DEPLOYMENT = {
    "post_deployment_monitoring": timedelta(days=30),
    "root_cause_analysis": timedelta(days=60),
    "lessons_learned": timedelta(days=90),
    "formal_release": timedelta(days=60),
}
TEXTS = {
    "summary": "s",
    "installation_procedure": "i",
    "verification_procedure": "v",
    "rollback_procedure": "r",
    "release_notice": "n",
}


def deployed_cm_wf_change(oncall, board):
    change = file_stub(oncall, procedure_code="cm-wf-emergency", affected_systems="SN-1")
    authorise(change, board.cm, board.program)
    pass_gates(change, "declare", "fast_track", actor=board.cm)
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall, reason="fix")
    ready_to_deploy(change, board.eng)
    package = patches.patch_package_create(change_id=change.pk, actor=oncall, texts=TEXTS)
    patches.patch_artifact_upload(package_id=package.pk, actor=oncall, file=SimpleUploadedFile("fw.bin", b"fw"))
    patches.patch_package_approve(package_id=package.pk, signer=board.cm, password=PASSWORD, role=Role.CM)
    pass_gates(change, "deployment", actor=board.cm)
    unit = patches.unit_distribution_add(package_id=package.pk, actor=oncall, serial_number="SN-1")
    patches.unit_sent_record(
        distribution_id=unit.pk, actor=oncall, channel="secure_delivery", occurred_at=timezone.now()
    )
    return change_record_transition(change_id=change.pk, transition="deploy", actor=oncall, reason="deployed")


def clock(change, kind):
    return Obligation.objects.get(subject_id=change.pk, subject_type__model="changerecord", kind=kind)


@pytest.fixture
def deployed(oncall, make_user):
    board = make_board(make_user)
    return deployed_cm_wf_change(oncall, board), board


def test_deployment_opens_the_section_11_clocks(deployed):
    change, _board = deployed
    assert change.status == ChangeRecord.Status.DEPLOYED
    for kind, after in POST_DEPLOYMENT.items():
        opened = clock(change, kind)
        assert opened.is_open and opened.due_at == change.deployed_at + after, kind
        assert kind_of(kind) is not None
    assert clock(change, "follow_up_documentation").is_open  # §11.2, from before


def test_an_overdue_root_cause_analysis_is_emg_e004_under_cm_wf(deployed):
    change, _board = deployed
    codes = {f.code for f in findings(change, now=change.deployed_at + timedelta(days=59))}
    assert "EMG-E004" not in codes
    late = [f for f in findings(change, now=change.deployed_at + timedelta(days=61)) if f.code == "EMG-E004"]
    assert late and "root cause analysis" in late[0].message


def test_monitoring_is_met_after_a_status_update_and_the_formal_release_by_the_release_manager(
    client, deployed, oncall, make_user, auditor
):
    change, board = deployed
    monitoring = clock(change, "post_deployment_monitoring")
    url = reverse("audits:obligation-evidence", args=[monitoring.pk])
    client.force_login(board.cm)
    assert f'data-testid="evidence-{monitoring.pk}"' in client.get(change.get_absolute_url()).content.decode()
    early = client.post(url, {"evidence": "30 days quiet"}, follow=True)
    assert "post one since deployment first" in early.content.decode()
    assert clock(change, "post_deployment_monitoring").is_open
    status_update_post(
        change_id=change.pk, data=StatusUpdateInput(current_status="Day 30: no new issues, no rollback"), actor=oncall
    )
    client.post(url, {"evidence": "30 days: performance nominal, no new issues, no rollback, no complaints"})
    monitoring.refresh_from_db()
    assert monitoring.satisfied_by == board.cm and "no rollback" in monitoring.satisfaction_note

    release = clock(change, "formal_release")
    release_url = reverse("audits:obligation-evidence", args=[release.pk])
    client.force_login(auditor)
    assert client.post(release_url, {"evidence": "R-2027.1"}).status_code == 403
    manager = make_user(Role.RELEASE, username="release")
    client.force_login(manager)
    client.post(release_url, {"evidence": "Included in release 2027.1; CCB approval CCB-2027-004"})
    release.refresh_from_db()
    assert release.satisfied_by == manager and "CCB-2027-004" in release.satisfaction_note
    assert clock(change, "lessons_learned").is_open and clock(change, "root_cause_analysis").is_open


def test_the_root_cause_analysis_is_not_met_by_evidence_but_by_the_post_mortem(client, deployed):
    change, board = deployed
    rca = clock(change, "root_cause_analysis")
    client.force_login(board.cm)
    assert client.post(reverse("audits:obligation-evidence", args=[rca.pk]), {"evidence": "x"}).status_code == 404
    assert clock(change, "root_cause_analysis").is_open


def test_the_approved_post_mortem_meets_the_root_cause_analysis_and_clears_emg_e004(deployed, make_user):
    from emergencies.services import postincident as pi

    change, _board = deployed
    author = change.author
    commander = make_user(Role.COMMANDER, username="ic")
    pm = pi.post_mortem_start(change_id=change.pk, actor=author)
    whys = {f"why_{n}": f"why {n}" for n in range(1, 6)}
    pi.post_mortem_update(
        post_mortem_id=pm.pk, actor=author, fields={**whys, "resolution": "fix", "went_well": "w", "went_poorly": "p"}
    )
    measure = pi.preventive_measure_add(
        post_mortem_id=pm.pk, actor=author, measure="m", category="process", priority="Low"
    )
    pi.preventive_measure_follow_up_create(measure_id=measure.pk, actor=author)
    pi.post_mortem_submit(post_mortem_id=pm.pk, actor=author)
    pi.post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    rca = clock(change, "root_cause_analysis")
    assert not rca.is_open and "post mortem approved" in rca.satisfaction_note
    change.refresh_from_db()
    assert "EMG-E004" not in {f.code for f in findings(change, now=change.deployed_at + timedelta(days=61))}
