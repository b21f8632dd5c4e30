import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.services.bypasses import (
    BypassInput,
    bypass_reject,
    bypass_request_create,
    bypass_request_update,
    bypass_sign,
    bypass_slot_status,
    bypass_verbal_approval_record,
    bypass_withdraw,
    signature_confirm,
)
from qms.models import Notification, Signature, SignerState
from qms.procedures import CHECK_CATALOGUE, PRESETS, ProcedureRules, checks_allowed
from qms.roles import Role
from qms.services import SigningLocked, signer_unlock
from tests.factories import PASSWORD, authorise, file_stub

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 15, 30, tzinfo=UTC)  # a Monday

L1_DETAILS = {
    "reason": "lint rule false positive",
    "impact_assessment": "none for users",
    "risk_evaluation": "low",
    "remediation_due": date(2026, 11, 27),
}
L2_DETAILS = {
    "impact_assessment": "checkout latency",
    "complexity_score": 4,
    "test_coverage_impact": 12,
    "integration_risk": "payments gateway",
    "rollback_feasibility": "easy",
    "business_factors": "Black Friday traffic",
    "business_justification": "revenue",
    "remediation_plan": "restore DoD checks",
    "stakeholder_notification_plan": "email product",
}
L3_DETAILS = {
    "security_impact_analysis": "CVE-2026-1 exposure",
    "legal_compliance_assessment": "PCI scope",
    "remediation_roadmap": "patch within 24h",
    "incident_response_plan": "SOC on standby",
    "communication_strategy": "status page",
}


def request_bypass(
    actor,
    *,
    impact="medium",
    security=False,
    compliance=False,
    quality_only=True,
    checks=("code_quality_minor",),
    details=None,
    now=NOW,
    **kwargs,
):
    data = BypassInput(
        repository="payments-api",
        pull_request="#1234",
        checks=list(checks),
        production_impact=impact,
        security_involved=security,
        compliance_involved=compliance,
        code_quality_only=quality_only,
        details=L1_DETAILS if details is None else details,
        **kwargs,
    )
    return bypass_request_create(data=data, actor=actor, now=now)


@pytest.fixture
def lead(make_user):
    return make_user(Role.LEAD, username="lead")


@pytest.fixture
def architect(make_user):
    return make_user(Role.ARCHITECT, username="architect")


@pytest.fixture
def developer(make_user):
    return make_user(Role.ONCALL, username="dev")


def l2(developer, **kwargs):
    return request_bypass(
        developer, impact="high", quality_only=False, checks=["dor_dod"], details=L2_DETAILS, **kwargs
    )


def sign(bypass, user, role, password=PASSWORD):
    return bypass_sign(bypass_id=bypass.pk, signer=user, password=password, role=role)


# --- decision tree and request ------------------------------------------------------------------------

RULES = ProcedureRules(PRESETS[0]["definition"])


@pytest.mark.parametrize(
    ("impact", "security", "compliance", "quality_only"),
    list(itertools.product(["critical", "high", "medium", "low"], [False, True], [False, True], [False, True])),
)
def test_decision_tree_exhaustively(impact, security, compliance, quality_only):
    level, branch = RULES.decide_bypass_level(
        production_impact=impact, security_or_compliance=security or compliance, code_quality_only=quality_only
    )
    if impact in ("critical", "high"):
        expected = "L3" if (security or compliance) else "L2"
    else:
        expected = "L1" if quality_only else "L2"
    assert level == expected
    assert impact in branch and f"Level {expected[-1]}" in branch


def test_request_gets_its_level_id_branch_and_review_clock(developer, lead):
    bypass = request_bypass(developer)
    assert bypass.identifier == "BYPASS-L1-20261123-101530"
    assert bypass.level == "L1"
    assert bypass.status == BypassRequest.Status.PENDING
    assert "code quality only → Level 1" in bypass.decision_branch
    review = Obligation.objects.get(subject_id=bypass.pk, subject_type__model="bypassrequest")
    assert (review.kind, review.owner_role) == ("review:lead_review", "lead")
    assert review.due_at == NOW + timedelta(hours=2)
    assert AuditEvent.objects.filter(action="bypass.requested", subject_label=bypass.identifier).exists()
    assert Notification.objects.filter(recipient=lead, subject__contains=bypass.identifier).exists()


def test_two_requests_in_the_same_second_get_distinct_ids(developer):
    first, second = request_bypass(developer), request_bypass(developer)
    assert second.identifier == f"{first.identifier}-02"


def test_l3_for_an_active_incident_is_an_emergency_bypass(developer, oncall):
    change = file_stub(oncall)
    bypass = request_bypass(
        developer,
        impact="critical",
        security=True,
        quality_only=False,
        checks=["security_critical"],
        details={},
        incident_ticket=change.incident.ticket,
    )
    assert bypass.level == "E"
    assert bypass.identifier.startswith("BYPASS-E-")
    assert "Emergency" in bypass.decision_branch


@pytest.mark.parametrize(
    ("level_kwargs", "details"),
    [
        ({}, L1_DETAILS),
        ({"impact": "high", "quality_only": False, "checks": ["dor_dod"]}, L2_DETAILS),
        ({"impact": "high", "security": True, "quality_only": False, "checks": ["security_critical"]}, L3_DETAILS),
    ],
)
def test_each_levels_required_information_is_enforced(developer, level_kwargs, details):
    for missing in details:
        partial = {k: v for k, v in details.items() if k != missing}
        with pytest.raises(ValidationError) as exc:
            request_bypass(developer, details=partial, **level_kwargs)
        assert missing in exc.value.message_dict, missing
    assert not BypassRequest.objects.exists()
    assert request_bypass(developer, details=details, **level_kwargs).pk


def test_l1_remediation_at_most_five_business_days(developer):
    too_late = {**L1_DETAILS, "remediation_due": date(2026, 12, 1)}  # Mon + 5 business days = Mon 30 Nov
    with pytest.raises(ValidationError) as exc:
        request_bypass(developer, details=too_late)
    assert "5 business days" in exc.value.message_dict["remediation_due"][0]
    assert request_bypass(developer, details={**L1_DETAILS, "remediation_due": date(2026, 11, 30)}).pk


@pytest.mark.parametrize("level", ["L1", "L2", "L3"])
def test_bypassable_checks_per_level(developer, level):
    kwargs = {
        "L1": {"details": L1_DETAILS},
        "L2": {"impact": "high", "quality_only": False, "details": L2_DETAILS},
        "L3": {"impact": "high", "security": True, "quality_only": False, "details": L3_DETAILS},
    }[level]
    allowed = checks_allowed(level)
    assert request_bypass(developer, checks=allowed, **kwargs).checks == allowed
    for check in set(CHECK_CATALOGUE) - set(allowed):
        with pytest.raises(ValidationError) as exc:
            request_bypass(developer, checks=[check], **kwargs)
        assert "may not bypass" in exc.value.message_dict["checks"][0]


def test_expected_allowed_checks():
    assert checks_allowed("L1") == ["code_quality_minor", "documentation_coverage", "performance_regression_warning"]
    assert set(checks_allowed("L2")) - set(checks_allowed("L1")) == {"dor_dod", "code_quality_major", "security_high"}
    assert set(checks_allowed("L3")) - set(checks_allowed("L2")) == {"security_critical", "compliance_regulatory"}
    assert checks_allowed("E") == list(CHECK_CATALOGUE)


def test_auditors_and_legal_cannot_request(auditor, legal):
    for user in (auditor, legal):
        with pytest.raises(PermissionDenied):
            request_bypass(user)


# --- who must sign --------------------------------------------------------------------------------------


def _slot_roles(bypass):
    return [[r.value for r in slot.roles] for slot in bypass_slot_status(bypass)]


def test_authorisation_matrix_per_level(developer):
    assert _slot_roles(request_bypass(developer)) == [["lead"]]
    assert _slot_roles(l2(developer)) == [["architect"], ["qms"]]
    l3 = request_bypass(
        developer, impact="high", security=True, quality_only=False, checks=["security_high"], details=L3_DETAILS
    )
    assert _slot_roles(l3) == [["qms"], ["security"]]
    l3c = request_bypass(
        developer,
        impact="high",
        compliance=True,
        quality_only=False,
        checks=["compliance_regulatory"],
        details=L3_DETAILS,
    )
    assert _slot_roles(l3c) == [["qms"], ["security"], ["legal"]]
    assert RULES.bypass_slots("E", {}) == [[Role.EXECUTIVE], [Role.COMMANDER]]


@pytest.mark.parametrize(
    ("procedure", "category", "flags", "expected"),
    [
        ("emergency-bypass-workflow", "p1_incident", {}, [["commander"]]),
        ("emergency-bypass-workflow", "critical_security", {}, [["security"], ["commander"]]),
        ("emergency-bypass-workflow", "data_breach", {}, [["legal"], ["commander"], ["security"]]),
        ("eng-proc-004", "p1_incident", {}, [["lead"], ["security"]]),
        ("cm-wf-emergency", "p1_incident", {"safety_related": True}, [["cm"], ["program"], ["safety"]]),
        ("qms-emergency-bypass-v1", "p1_incident", {}, [["executive"], ["commander"]]),
    ],
)
def test_emergency_stub_authorisers_per_procedure(oncall, procedure, category, flags, expected):
    cvss = Decimal("9.5") if category == "critical_security" else None
    change = file_stub(oncall, procedure_code=procedure, category=category, cvss_score=cvss, **flags)
    bypass = BypassRequest.objects.get(change=change)
    assert bypass.level == "E"
    assert bypass.checks == list(CHECK_CATALOGUE)
    assert _slot_roles(bypass) == expected


# --- separation of duties -------------------------------------------------------------------------------


def test_nobody_approves_their_own_request(make_user):
    lead_dev = make_user(Role.LEAD, Role.ONCALL)
    bypass = request_bypass(lead_dev)
    with pytest.raises(PermissionDenied, match="own request"):
        sign(bypass, lead_dev, Role.LEAD)


def test_one_person_cannot_fill_two_required_roles(developer, make_user):
    both = make_user(Role.ARCHITECT, Role.QMS)
    bypass = l2(developer)
    sign(bypass, both, Role.ARCHITECT)
    with pytest.raises(PermissionDenied, match="two required roles"):
        sign(bypass, both, Role.QMS)
    assert BypassRequest.objects.get(pk=bypass.pk).status == BypassRequest.Status.PENDING


def test_the_implementer_is_never_the_only_approver(developer, lead):
    bypass = request_bypass(developer, implementer=lead)
    with pytest.raises(PermissionDenied, match="implementer"):
        sign(bypass, lead, Role.LEAD)


def test_role_not_held_or_not_asked_is_refused(developer, lead, architect):
    bypass = request_bypass(developer)
    with pytest.raises(PermissionDenied):
        sign(bypass, architect, Role.LEAD)
    with pytest.raises(ValidationError):
        sign(bypass, architect, Role.ARCHITECT)
    assert not Signature.objects.exists()


def test_no_signature_after_the_decision(developer, lead, make_user):
    bypass = sign(request_bypass(developer), lead, Role.LEAD)
    with pytest.raises(ValidationError, match="not awaiting signatures"):
        sign(bypass, make_user(Role.LEAD), Role.LEAD)


# --- re-authentication and lockout ----------------------------------------------------------------------


def test_wrong_password_signs_nothing_and_counts(developer, lead):
    bypass = request_bypass(developer)
    with pytest.raises(ValidationError) as exc:
        sign(bypass, lead, Role.LEAD, password="wrong")
    assert "4 attempts left" in exc.value.message_dict["password"][0]
    assert not Signature.objects.exists()
    assert SignerState.objects.get(user=lead).consecutive_failures == 1
    assert AuditEvent.objects.filter(action="signature.wrong_password", actor=lead).exists()
    sign(bypass, lead, Role.LEAD)  # the right password resets the count
    assert SignerState.objects.get(user=lead).consecutive_failures == 0


def test_five_wrong_passwords_lock_signing_and_alert_security(developer, lead, security):
    bypass = request_bypass(developer)
    for _ in range(4):
        with pytest.raises(ValidationError):
            sign(bypass, lead, Role.LEAD, password="wrong")
    with pytest.raises(SigningLocked, match="security officers have been alerted"):
        sign(bypass, lead, Role.LEAD, password="wrong")
    with pytest.raises(SigningLocked):
        sign(bypass, lead, Role.LEAD)  # even the right password while locked
    assert Notification.objects.filter(recipient=security, subject__contains="Signing locked").exists()
    assert AuditEvent.objects.filter(action="signature.locked", actor=lead).exists()
    with pytest.raises(PermissionDenied):
        signer_unlock(user=lead, actor=lead, reason="me")
    signer_unlock(user=lead, actor=security, reason="Identity checked by phone")
    assert sign(bypass, lead, Role.LEAD).status == BypassRequest.Status.ACTIVE


# --- signatures and their integrity ---------------------------------------------------------------------


def test_signature_records_who_role_meaning_time_and_hash(developer, lead):
    bypass = sign(request_bypass(developer), lead, Role.LEAD)
    signature = Signature.objects.get()
    assert signature.signer_name == lead.display_name
    assert (signature.role, signature.meaning, signature.method) == ("lead", "approved", "e_signature")
    assert len(signature.content_hash) == 64
    assert signature.signed_at.tzinfo is not None
    event = AuditEvent.objects.get(action="signature.approved")
    assert event.after["content_hash"] == signature.content_hash
    assert bypass.status == BypassRequest.Status.ACTIVE


def test_an_edit_after_signing_makes_the_signature_stop_matching_and_counting(
    developer, architect, qms_coordinator, client
):
    bypass = l2(developer)
    sign(bypass, architect, Role.ARCHITECT)
    bypass = bypass_request_update(
        bypass_id=bypass.pk, actor=developer, changes={"business_justification": "revenue and SLA credits"}
    )
    slots = bypass_slot_status(bypass)
    assert not any(slot.filled for slot in slots)  # the architect signed something else
    bypass = sign(bypass, qms_coordinator, Role.QMS)
    assert bypass.status == BypassRequest.Status.PENDING
    client.force_login(qms_coordinator)
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert "no longer matches the record" in page
    assert Signature.objects.count() == 2  # nothing was deleted
    bypass = sign(bypass, architect, Role.ARCHITECT)  # a changed mind is a new signature
    assert bypass.status == BypassRequest.Status.ACTIVE
    assert Signature.objects.count() == 3


def test_signatures_are_never_edited(developer, lead):
    sign(request_bypass(developer), lead, Role.LEAD)
    from django.contrib import admin

    model_admin = admin.site._registry[Signature]
    assert not model_admin.has_change_permission(None)
    assert not model_admin.has_delete_permission(None)


# --- activation, rejection ------------------------------------------------------------------------------


def test_last_signature_activates_and_opens_remediation_clocks(
    developer, architect, qms_coordinator, make_user, django_capture_on_commit_callbacks
):
    executive = make_user(Role.EXECUTIVE)
    bypass = request_bypass(
        developer, impact="high", quality_only=False, checks=["dor_dod", "security_high"], details=L2_DETAILS
    )
    sign(bypass, architect, Role.ARCHITECT)
    assert not Obligation.objects.filter(kind="remediation").exists()
    Notification.objects.all().delete()
    before = timezone.now()
    bypass = sign(bypass, qms_coordinator, Role.QMS)
    assert bypass.status == BypassRequest.Status.ACTIVE
    remediations = Obligation.objects.filter(kind="remediation", subject_id=bypass.pk).order_by("key")
    assert [o.key for o in remediations] == ["dor_dod", "security_high"]
    assert all(o.owner == developer for o in remediations)
    # L2: 3 business days from activation.
    assert all(o.due_at.date() >= before.date() + timedelta(days=3) for o in remediations)
    review = Obligation.objects.get(kind="review:architect_review", subject_id=bypass.pk)
    assert review.satisfied_at is not None
    recipients = set(Notification.objects.values_list("recipient", flat=True))
    assert qms_coordinator.pk in recipients and executive.pk not in recipients  # C-level only for L3 and E


def test_l3_activation_notifies_c_level(developer, qms_coordinator, security, make_user):
    executive = make_user(Role.EXECUTIVE)
    bypass = request_bypass(
        developer,
        impact="critical",
        security=True,
        quality_only=False,
        checks=["security_critical"],
        details=L3_DETAILS,
    )
    sign(bypass, qms_coordinator, Role.QMS)
    sign(bypass, security, Role.SECURITY)
    assert Notification.objects.filter(recipient=executive, subject__contains="BYPASS ACTIVE").exists()


def test_rejection_ends_the_request_with_its_reason(developer, lead):
    bypass = request_bypass(developer)
    with pytest.raises(ValidationError):
        bypass_reject(bypass_id=bypass.pk, signer=lead, password=PASSWORD, role=Role.LEAD, reason="  ")
    bypass = bypass_reject(
        bypass_id=bypass.pk, signer=lead, password=PASSWORD, role=Role.LEAD, reason="fix the lint instead"
    )
    assert bypass.status == BypassRequest.Status.REJECTED
    assert bypass.rejection_reason == "fix the lint instead"
    assert Signature.objects.get().meaning == "rejected"
    assert Obligation.objects.get(kind="review:lead_review").satisfied_at is not None
    assert Notification.objects.filter(recipient=developer, subject__contains="REJECTED").exists()


def test_withdrawal_by_the_requester_only(developer, lead):
    bypass = request_bypass(developer)
    with pytest.raises(PermissionDenied):
        bypass_withdraw(bypass_id=bypass.pk, actor=lead, reason="no")
    assert bypass_withdraw(bypass_id=bypass.pk, actor=developer, reason="fixed the lint").status == "withdrawn"


# --- emergency stubs ------------------------------------------------------------------------------------


def test_emergency_stub_is_authorised_by_its_signers_and_moves_on(oncall, commander, security):
    change = file_stub(oncall, category="critical_security", cvss_score=Decimal("9.8"), commander=commander)
    bypass = authorise(change, security)
    assert bypass.status == BypassRequest.Status.PENDING
    assert change.status == ChangeRecord.Status.STUB
    authorise(change, commander)
    assert change.status == ChangeRecord.Status.BYPASS_AUTHORISED
    assert change.bypass_authorised_by == commander
    assert Obligation.objects.filter(kind="remediation", subject_id=bypass.pk).count() == len(CHECK_CATALOGUE)
    triage = Obligation.objects.get(kind="triage", subject_type__model="changerecord", subject_id=change.pk)
    assert triage.satisfied_at is not None


# --- verbal approval --------------------------------------------------------------------------------------


def test_verbal_approval_counts_shows_unconfirmed_and_must_be_confirmed(oncall, commander, qms_coordinator, client):
    change = file_stub(oncall, commander=commander, now=timezone.now() - timedelta(minutes=10))
    bypass = BypassRequest.objects.get(change=change)
    said_at = timezone.now() - timedelta(minutes=5)
    with pytest.raises(PermissionDenied):
        bypass_verbal_approval_record(
            bypass_id=bypass.pk,
            approver=commander,
            role=Role.COMMANDER,
            approved_at=said_at,
            recorded_by=commander,
            password=PASSWORD,
            comment="on the bridge",
        )
    bypass = bypass_verbal_approval_record(
        bypass_id=bypass.pk,
        approver=commander,
        role=Role.COMMANDER,
        approved_at=said_at,
        recorded_by=qms_coordinator,
        password=PASSWORD,
        comment="IC approved on the bridge call",
    )
    assert bypass.status == BypassRequest.Status.ACTIVE
    change.refresh_from_db()
    assert change.status == ChangeRecord.Status.BYPASS_AUTHORISED
    verbal = Signature.objects.get()
    assert (verbal.method, verbal.signer, verbal.recorded_by) == ("verbal", commander, qms_coordinator)
    assert verbal.approved_at == said_at
    confirmation = Obligation.objects.get(kind="verbal_confirmation")
    assert confirmation.owner == commander
    assert confirmation.due_at == said_at + timedelta(hours=24)
    client.force_login(commander)
    assert "unconfirmed" in client.get(bypass.get_absolute_url()).content.decode()

    with pytest.raises(PermissionDenied):
        signature_confirm(signature_id=verbal.pk, signer=oncall, password=PASSWORD)
    signature_confirm(signature_id=verbal.pk, signer=commander, password=PASSWORD)
    confirmation.refresh_from_db()
    assert confirmation.satisfied_at is not None
    assert Signature.objects.get(confirms=verbal).meaning == "confirmed"
    with pytest.raises(ValidationError):
        signature_confirm(signature_id=verbal.pk, signer=commander, password=PASSWORD)
    assert "confirmed" in client.get(bypass.get_absolute_url()).content.decode()


def test_verbal_approval_in_the_future_is_refused(oncall, commander, qms_coordinator):
    change = file_stub(oncall, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    with pytest.raises(ValidationError):
        bypass_verbal_approval_record(
            bypass_id=bypass.pk,
            approver=commander,
            role=Role.COMMANDER,
            approved_at=timezone.now() + timedelta(hours=1),
            recorded_by=qms_coordinator,
            password=PASSWORD,
            comment="later",
        )


def test_email_is_sent_to_the_verbal_approver(oncall, commander, qms_coordinator):
    from qms.tasks import notification_send_task

    change = file_stub(oncall, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    Notification.objects.all().delete()
    bypass_verbal_approval_record(
        bypass_id=bypass.pk,
        approver=commander,
        role=Role.COMMANDER,
        approved_at=timezone.now(),
        recorded_by=qms_coordinator,
        password=PASSWORD,
        comment="ok",
    )
    notification_send_task(list(Notification.objects.filter(recipient=commander).values_list("pk", flat=True)))
    assert any("CONFIRM" in m.subject for m in mail.outbox)
