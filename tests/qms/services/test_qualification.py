"""Certifications gate signing, voting and deciding: refused with the reason when missing or expired, or,
where the procedure allows it in an emergency, accepted as a recorded deviation that raises a finding."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from emergencies.models import BypassRequest, CCBSession, Vote
from emergencies.services.bypasses import bypass_reject, bypass_sign, bypass_slot_status
from qms.models import Notification, Signature
from qms.procedures import PRESETS, validate_definition
from qms.roles import Role
from qms.services.qualification import NotCertified, signing_training_refusal
from qms.services.training import TrainingInput, training_record_create
from tests.emergencies.services.test_bypasses import request_bypass
from tests.emergencies.services.test_ccb import cmwf_change, convene, decide, make_board, vote
from tests.factories import PASSWORD, certify, file_stub

pytestmark = pytest.mark.django_db


@pytest.fixture
def untrained_lead(make_user):
    return make_user(Role.LEAD, username="newlead", trained=False)


def test_presets_name_the_certifications_with_their_validity():
    for preset in PRESETS:
        assert validate_definition(preset["definition"]) == []
        courses = preset["definition"]["training"]["courses"]
        assert courses["tabletop_exercise"]["validity_months"] == 6
        assert courses["qms_bypass_procedures_basic"]["validity_months"] == 12
    cm_wf = next(p for p in PRESETS if p["code"] == "cm-wf-emergency")["definition"]["training"]
    assert cm_wf["role_certifications"]["cm"] == ["emergency_patch_training", "tabletop_exercise"]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"courses": {}}, "at least one course"),
        ({"courses": {"x": {"label": "X", "validity_months": 0}}}, "validity_months"),
        ({"courses": {"x": {"label": "X", "validity_months": 12}}, "role_certifications": {"wizard": ["x"]}}, "wizard"),
        ({"courses": {"x": {"label": "X", "validity_months": 12}}, "role_certifications": {"lead": ["y"]}}, "'y'"),
        ({"courses": {"x": {"label": "X", "validity_months": 12}}, "role_certifications": {"auditor": ["x"]}}, "read"),
        ({"courses": {"x": {"label": "X", "validity_months": 12}}, "deviation_allowed_in_emergency": "yes"}, "true"),
    ],
)
def test_a_broken_training_block_is_refused_with_a_clear_message(block, message):
    definition = {**PRESETS[0]["definition"], "training": block}
    problems = validate_definition(definition)
    assert any(message in p for p in problems), problems


def test_a_missing_certification_refuses_a_level_1_signature_with_the_reason(make_user, untrained_lead):
    developer = make_user(Role.ONCALL, username="dev")
    bypass = request_bypass(developer)
    assert signing_training_refusal(subject=bypass, signer=untrained_lead, role=Role.LEAD) is not None
    with pytest.raises(NotCertified, match="QMS bypass procedures \\(basic\\): no training recorded"):
        bypass_sign(bypass_id=bypass.pk, signer=untrained_lead, password=PASSWORD, role=Role.LEAD)
    with pytest.raises(NotCertified):
        bypass_reject(bypass_id=bypass.pk, signer=untrained_lead, password=PASSWORD, role=Role.LEAD, reason="no")
    assert not Signature.objects.exists()
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.PENDING


def test_an_expired_certification_refuses_and_a_new_record_qualifies_again(make_user, untrained_lead):
    today = timezone.localdate()
    certify(
        untrained_lead,
        ["qms_bypass_procedures_basic"],
        completed_on=today - timedelta(days=400),
        expires_on=today - timedelta(days=35),
    )
    bypass = request_bypass(make_user(Role.ONCALL, username="dev"))
    with pytest.raises(NotCertified, match="expired on"):
        bypass_sign(bypass_id=bypass.pk, signer=untrained_lead, password=PASSWORD, role=Role.LEAD)
    coordinator = make_user(Role.QMS, username="coordinator")
    training_record_create(
        data=TrainingInput(
            user=untrained_lead, course="qms_bypass_procedures_basic", completed_on=today, evidence_reference="LMS-42"
        ),
        actor=coordinator,
    )
    bypass = bypass_sign(bypass_id=bypass.pk, signer=untrained_lead, password=PASSWORD, role=Role.LEAD)
    assert bypass.status == BypassRequest.Status.ACTIVE


def test_where_the_procedure_allows_it_an_emergency_signature_is_a_recorded_deviation(
    make_user, oncall, qms_coordinator, django_capture_on_commit_callbacks
):
    change = file_stub(oncall)  # Emergency Bypass Workflow: deviation allowed in an emergency
    bypass = BypassRequest.objects.get(change=change, level="E")
    role = bypass_slot_status(bypass)[0].roles[0]
    untrained = make_user(role, username="untrained", trained=False)
    assert signing_training_refusal(subject=bypass, signer=untrained, role=role) is None
    with django_capture_on_commit_callbacks(execute=False):
        bypass_sign(bypass_id=bypass.pk, signer=untrained, password=PASSWORD, role=role)
    signature = Signature.objects.get(signer=untrained)
    assert "without a valid certification" in signature.training_deviation
    event = AuditEvent.objects.get(action="signature.training_deviation")
    assert event.after["signature"] == signature.pk
    signed = AuditEvent.objects.filter(action="signature.approved").latest("position")
    assert signed.after["training_deviation"] == signature.training_deviation
    finding = Obligation.objects.filter(kind="training_deviation", owner=untrained, satisfied_at__isnull=True)
    assert finding.exists()
    assert Notification.objects.filter(recipient=qms_coordinator, dedupe_key__startswith="training-deviation:").exists()
    # the finding is met by the missing training
    for course in bypass.rules.required_courses(role):
        training_record_create(
            data=TrainingInput(
                user=untrained, course=course, completed_on=timezone.localdate(), evidence_reference="CERT-1"
            ),
            actor=qms_coordinator,
        )
    assert not finding.filter(satisfied_at__isnull=True).exists()


def test_a_procedure_without_the_deviation_refuses_even_in_an_emergency(make_user, oncall):
    change = file_stub(oncall, procedure_code="qms-emergency-bypass-v1")
    bypass = BypassRequest.objects.get(change=change, level="E")
    role = next(r for slot in bypass_slot_status(bypass) for r in slot.roles if bypass.rules.required_courses(r))
    untrained = make_user(role, username="untrained", trained=False)
    assert "not certified" in signing_training_refusal(subject=bypass, signer=untrained, role=role)
    with pytest.raises(NotCertified):
        bypass_sign(bypass_id=bypass.pk, signer=untrained, password=PASSWORD, role=role)
    assert not Signature.objects.filter(signer=untrained).exists()


def _board_with_untrained(make_user, role):
    def maker(*roles, **kwargs):
        return make_user(*roles, trained=role not in roles, **kwargs)

    return make_board(maker)


def test_a_ccb_vote_without_certification_is_refused(make_user, client):
    board = _board_with_untrained(make_user, Role.QUALITY)
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    client.force_login(board.quality)
    page = client.get(reverse("emergencies:ccb-session-detail", args=[session.pk])).content.decode()
    assert "is not certified to sign as Quality manager" in page
    with pytest.raises(NotCertified, match="Emergency patch process training: no training recorded"):
        vote(session, board.quality, "approve")
    assert not Vote.objects.filter(voter=board.quality).exists()
    vote(session, board.eng, "approve")  # a certified member votes
    assert Vote.objects.filter(voter=board.eng).exists()


def test_a_ccb_decision_without_certification_is_refused(make_user):
    board = make_board(make_user)
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    for member in session.members.select_related("user"):
        vote(session, member.user, "approve")
    chair = make_user(Role.CM, username="cm3", trained=False)
    session.chair = chair
    session.save(update_fields=["chair"])
    with pytest.raises(NotCertified, match="Tabletop exercise"):
        decide(session, chair, "approve")
    session.refresh_from_db()
    assert session.status != CCBSession.Status.DECIDED
