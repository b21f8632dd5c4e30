"""Emergency CCB (CM-WF-EMERGENCY §7, §12, §14, §15): representation, the decision rule, waivers, gate
preconditions, signed votes and their supersession, the clocks and the invitations."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from emergencies.models import CCBMember, CCBSession, ChangeRecord, FollowUpDocument, GateDecision, StatusUpdate, Vote
from emergencies.models.patches import FOLLOW_UP_ITEMS
from emergencies.services import ccb as services
from emergencies.services import communication, gates
from emergencies.services.postincident import closure_problems
from qms.models import Notification, NotificationChannel, Signature
from qms.procedures import PRESETS, ProcedureRules, validate_definition
from qms.procedures.ccb import CM_WF_CCB
from qms.roles import Role
from tests.factories import PASSWORD, file_stub, gates_before, pass_gates

pytestmark = pytest.mark.django_db
CMWF = "cm-wf-emergency"
CMWF_RULES = ProcedureRules(next(p for p in PRESETS if p["code"] == CMWF)["definition"])
NON_WAIVABLE = [w["code"] for w in CM_WF_CCB["not_waivable"]]
WAIVABLE = [w["code"] for w in CM_WF_CCB["waivable"]]


def make_board(make_user) -> SimpleNamespace:
    """One person per CCB role (and a second configuration manager, and a certification lead)."""
    return SimpleNamespace(
        cm=make_user(Role.CM, username="cm", first_name="Cora", last_name="Config"),
        cm2=make_user(Role.CM, username="cm2", first_name="Cliff", last_name="Config"),
        eng=make_user(Role.ENGMANAGER, username="eng", first_name="Ethan", last_name="Engineering"),
        quality=make_user(Role.QUALITY, username="quality", first_name="Quincy", last_name="Quality"),
        program=make_user(Role.PROGRAM, username="program", first_name="Paula", last_name="Program"),
        safety=make_user(Role.SAFETY, username="safety", first_name="Sam", last_name="Safety"),
        security=make_user(Role.SECURITY, username="security", first_name="Sofia", last_name="Security"),
        certlead=make_user(Role.CERTLEAD, username="certlead", first_name="Cert", last_name="Lead"),
    )


@pytest.fixture
def board(make_user):
    return make_board(make_user)


ROLE_USER = {
    Role.CM: "cm",
    Role.ENGMANAGER: "eng",
    Role.QUALITY: "quality",
    Role.PROGRAM: "program",
    Role.SAFETY: "safety",
    Role.SECURITY: "security",
}


def cmwf_change(actor, *, severity: str | None = None, **overrides) -> ChangeRecord:
    change = file_stub(actor, procedure_code=CMWF, **overrides)
    if severity is not None:
        incident = change.incident
        incident.severity = severity
        incident.save(update_fields=["severity"])
    return ChangeRecord.objects.select_related("incident", "procedure_version").get(pk=change.pk)


def force_status(change: ChangeRecord, status: str) -> ChangeRecord:
    """Test set-up only: put a change in a state without walking the whole lifecycle."""
    ChangeRecord.objects.filter(pk=change.pk).update(status=status)
    return ChangeRecord.objects.select_related("incident", "procedure_version").get(pk=change.pk)


def convene(change, board, *, gate="fast_track", skip=(), extra=(), actor=None, in_order=True, **kwargs) -> CCBSession:
    """Convene a session; with ``in_order`` the gates before it are passed first (gates in order, §14)."""
    if in_order:
        pass_gates(change, *gates_before(change, gate), actor=board.cm)
    members = tuple(
        (getattr(board, ROLE_USER[seat.role]), seat.role)
        for seat in gates.required_seats(change)
        if seat.role != Role.CM and seat.role not in skip
    )
    data = services.SessionInput(
        gate=gate, scheduled_at=kwargs.pop("scheduled_at", timezone.now()), members=members + tuple(extra), **kwargs
    )
    return services.ccb_session_convene(change_id=change.pk, data=data, actor=actor or board.cm)


def vote(session, user, choice, comment="my reasons"):
    return services.ccb_vote_cast(session_id=session.pk, voter=user, password=PASSWORD, choice=choice, comment=comment)


def decide(session, user, outcome, reason="as voted", **kwargs):
    data = services.DecisionInput(outcome=outcome, reason=reason, **kwargs)
    return services.ccb_session_decide(session_id=session.pk, decider=user, password=PASSWORD, data=data)


def everyone_votes(session, choice, board):
    for member in session.members.select_related("user"):
        vote(session, member.user, choice)


def tally(session):
    session = CCBSession.objects.select_related("change__incident", "change__procedure_version").get(pk=session.pk)
    return services.ccb_tally(session, *services.session_members_and_votes(session))


# --- representation (§7.1) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "flags", "expected"),
    [
        ("CRITICAL", {}, ["cm", "engmanager", "quality", "program"]),
        ("HIGH", {}, ["cm", "engmanager", "quality"]),
        ("MEDIUM", {"safety_related": True}, ["cm", "safety", "engmanager", "quality"]),
        ("HIGH", {"security_involved": True}, ["cm", "security", "engmanager", "quality"]),
        (
            "CRITICAL",
            {"safety_related": True, "security_involved": True},
            ["cm", "safety", "security", "engmanager", "quality", "program"],
        ),
    ],
)
def test_required_representation_follows_severity_and_flags(severity, flags, expected):
    assert [s.role.value for s in CMWF_RULES.ccb_required_seats(severity, flags)] == expected


def test_required_representation_of_a_change_comes_from_its_incident(board):
    change = cmwf_change(board.cm, safety_related=True)  # a P1 incident: critical severity
    assert [s.role for s in gates.required_seats(change)] == [
        Role.CM,
        Role.SAFETY,
        Role.ENGMANAGER,
        Role.QUALITY,
        Role.PROGRAM,
    ]


def test_only_procedures_with_a_ccb_have_sessions(board):
    change = file_stub(board.cm)  # the default Emergency Bypass Workflow has no CCB
    assert not gates.ccb_available(change)
    with pytest.raises(ValidationError, match="has no change control board"):
        convene(change, board)
    assert not CCBSession.objects.exists()
    assert ProcedureRules(PRESETS[0]["definition"]).ccb_gates() == []


def test_presets_validate_and_a_broken_ccb_block_is_refused():
    definition = next(p for p in PRESETS if p["code"] == CMWF)["definition"]
    assert validate_definition(definition) == []
    broken = {
        **definition,
        "ccb": {
            **definition["ccb"],
            "waivable": [*definition["ccb"]["waivable"], {"code": "code_review", "label": "x"}],
        },
    }
    assert any("both allowed and refused" in p for p in validate_definition(broken))


def test_a_v1_definition_without_ccb_rules_reads_the_preset_rules():
    definition = dict(next(p for p in PRESETS if p["code"] == CMWF)["definition"])
    definition.pop("ccb"), definition.pop("communication")
    rules = ProcedureRules(definition)
    assert [g.code for g in rules.ccb_gates()] == ["declare", "fast_track", "deployment", "close", "ratification"]
    assert rules.status_update_interval("CRITICAL", "stub").label == "hourly"


# --- convening ------------------------------------------------------------------------------------------------


def test_a_configuration_manager_convenes_and_every_member_gets_an_invitation(
    board, django_capture_on_commit_callbacks
):
    change = cmwf_change(board.cm)
    with django_capture_on_commit_callbacks():
        session = convene(change, board, location="https://meet.example.com/ccb", agenda="Patch the flight software")
    assert session.identifier.startswith(f"CCB-{session.convened_at:%Y%m%d-%H%M}")
    assert session.status == CCBSession.Status.OPEN and session.chair == board.cm
    assert sorted(session.members.values_list("role", flat=True)) == ["cm", "engmanager", "program", "quality"]
    invitations = Notification.objects.filter(dedupe_key__startswith=f"ccb-convened:{session.pk}:")
    assert sorted(n.recipient.username for n in invitations) == ["cm", "eng", "program", "quality"]
    ics = invitations[0].attachment_content
    assert invitations[0].attachment_mimetype == "text/calendar"
    assert invitations[0].attachment_name == f"{session.identifier}.ics"
    assert ics.startswith("BEGIN:VCALENDAR\r\n") and ics.endswith("END:VCALENDAR\r\n")
    assert "METHOD:REQUEST" in ics and f"UID:{session.identifier}@" in ics
    assert f"DTSTART:{session.scheduled_at:%Y%m%dT%H%M%SZ}" in ics
    assert ics.count("ATTENDEE;") == 4 and "LOCATION:https://meet.example.com/ccb" in ics
    assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
    assert "Gate 2: Approve fast-track" in invitations[0].subject
    assert AuditEvent.objects.filter(action="ccb.convened", subject_id=str(session.pk)).exists()
    assert session.history.count() == 1


def test_convening_opens_the_vote_and_decision_clocks(board):
    change = cmwf_change(board.cm)
    session = convene(change, board)
    clocks = Obligation.objects.filter(subject_id=session.pk, subject_type__model="ccbsession")
    assert set(clocks.values_list("kind", "key")) == {
        ("ccb_decision", ""),
        ("ccb_vote", str(board.cm.pk)),
        ("ccb_vote", str(board.eng.pk)),
        ("ccb_vote", str(board.program.pk)),
        ("ccb_vote", str(board.quality.pk)),
    }
    decision = clocks.get(kind="ccb_decision")
    assert decision.due_at == session.scheduled_at + timedelta(hours=1)  # §7.2: within an hour
    assert decision.owner == board.program  # critical severity: the program manager decides


@pytest.mark.parametrize("role", [Role.ENGMANAGER, Role.QUALITY, Role.PROGRAM, Role.SAFETY])
def test_only_a_configuration_manager_convenes(board, role):
    change = cmwf_change(board.cm)
    actor = getattr(board, ROLE_USER[role])
    with pytest.raises(PermissionDenied):
        convene(change, board, actor=actor)


def test_members_must_hold_the_seat_they_take_and_sit_once(board):
    change = cmwf_change(board.cm)
    with pytest.raises(ValidationError, match="does not hold the role Program manager"):
        convene(change, board, skip=(Role.PROGRAM, Role.QUALITY), extra=((board.quality, Role.PROGRAM),))
    with pytest.raises(ValidationError, match="only one seat"):
        convene(change, board, extra=((board.eng, Role.QUALITY),))
    with pytest.raises(ValidationError, match="not a seat"):
        convene(change, board, extra=((board.cm2, Role.LEGAL),))
    assert not CCBSession.objects.exists()


def test_one_open_session_per_gate(board):
    change = cmwf_change(board.cm)
    first = convene(change, board)
    with pytest.raises(ValidationError, match=f"{first.identifier} is already open"):
        convene(change, board, actor=board.cm2)


def test_a_gate_is_convened_only_in_the_states_it_decides(board):
    change = cmwf_change(board.cm)
    with pytest.raises(ValidationError, match="cannot be decided while"):
        convene(change, board, gate="close")
    with pytest.raises(ValidationError, match="recorded by one authorised person"):
        convene(change, board, gate="declare")


# --- votes ----------------------------------------------------------------------------------------------------


def test_a_vote_is_an_electronic_signature(board):
    change = cmwf_change(board.cm)
    session = convene(change, board)
    cast = vote(session, board.eng, "approve", "Risk of not patching is higher")
    signature = cast.signature
    assert signature.signer == board.eng and signature.role == "engmanager"
    assert signature.meaning == Signature.Meaning.APPROVED and signature.subject_id == session.pk
    assert signature.comment == "Risk of not patching is higher"
    assert AuditEvent.objects.filter(action="ccb.vote", subject_id=str(session.pk)).count() == 1
    vote_clock = Obligation.objects.get(kind="ccb_vote", key=str(board.eng.pk), subject_id=session.pk)
    assert vote_clock.satisfied_at is not None


def test_a_changed_vote_supersedes_the_old_one_which_stays_on_record(board):
    change = cmwf_change(board.cm)
    session = convene(change, board)
    first = vote(session, board.eng, "approve", "looks urgent")
    second = vote(session, board.eng, "more_info", "what about unit SN-4?")
    third = vote(session, board.eng, "standard", "not urgent after all")
    assert Vote.objects.filter(session=session, voter=board.eng).count() == 3
    first.refresh_from_db()
    assert first.choice == "approve" and first.superseded_by == second  # the old row is untouched
    assert second.supersedes == first and third.supersedes == second
    assert list(Vote.objects.filter(session=session, superseded_by__isnull=True)) == [third]
    counted = tally(session)
    assert counted.counts == {"approve": 0, "standard": 1, "more_info": 0}
    eng = next(m for m in counted.members if m.member.user == board.eng)
    assert eng.vote == third and [v.pk for v in eng.earlier] == [second.pk, first.pk]
    assert Signature.objects.filter(signer=board.eng, subject_id=session.pk).count() == 3


def test_the_database_keeps_one_current_vote_per_member(board):
    change = cmwf_change(board.cm)
    session = convene(change, board)
    first = vote(session, board.eng, "approve")
    member = CCBMember.objects.get(session=session, user=board.eng)
    signature = Signature.objects.create(
        subject_type=first.signature.subject_type,
        subject_id=session.pk,
        subject_label=session.identifier,
        signer=board.eng,
        signer_name="x",
        role="engmanager",
        meaning="approved",
        approved_at=timezone.now(),
        content_hash="0" * 64,
    )
    row = {"session": session, "member": member, "voter": board.eng, "role": "engmanager", "comment": "x"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(**row, choice="standard", signature=signature, cast_at=timezone.now())  # a second first
    second = vote(session, board.eng, "standard")
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(**row, choice="more_info", signature=signature, supersedes=first, cast_at=timezone.now())
    assert second.supersedes == first


def test_who_may_vote_and_how(board, make_user):
    change = cmwf_change(board.cm)
    session = convene(change, board, skip=(Role.QUALITY,))
    with pytest.raises(PermissionDenied, match="Only the members"):
        vote(session, board.quality, "approve")
    with pytest.raises(ValidationError, match="comment"):
        vote(session, board.eng, "approve", comment="  ")
    with pytest.raises(ValidationError, match="Choose one of"):
        vote(session, board.eng, "abstain")
    with pytest.raises(ValidationError, match="Wrong password"):
        services.ccb_vote_cast(session_id=session.pk, voter=board.eng, password="nope", choice="approve", comment="x")
    assert not Vote.objects.exists()


# --- the decision rule and who decides (§7.2) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, None),
        ({"approve": 3}, "approve"),
        ({"approve": 2, "standard": 1}, "approve"),
        ({"approve": 1, "standard": 2}, "standard"),
        ({"approve": 2, "standard": 2}, "more_info"),  # a tie: more information needed
        ({"approve": 2, "standard": 1, "more_info": 1}, "more_info"),  # no majority
        ({"more_info": 3, "approve": 1}, "more_info"),
    ],
)
def test_decision_rule_majority_of_current_votes_else_more_information(counts, expected):
    assert CMWF_RULES.ccb_rule_outcome(counts, ("approve", "standard", "more_info")) == expected


def test_a_session_cannot_decide_while_a_required_role_is_missing(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board, skip=(Role.QUALITY,))
    everyone_votes(session, "approve", board)
    with pytest.raises(ValidationError, match="required role has not voted: Quality manager"):
        decide(session, board.cm, "approve")
    services.ccb_member_add(session_id=session.pk, user=board.quality, role=Role.QUALITY, actor=board.cm)
    with pytest.raises(ValidationError, match="Quality manager"):  # seated, but has not voted
        decide(session, board.cm, "approve")
    vote(session, board.quality, "approve")
    assert decide(session, board.cm, "approve").status == CCBSession.Status.DECIDED


def test_the_decision_must_agree_with_the_votes(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    vote(session, board.cm, "approve")
    vote(session, board.eng, "approve")
    vote(session, board.quality, "standard")
    with pytest.raises(ValidationError, match="The votes give “Approve emergency process”"):
        decide(session, board.cm, "standard")
    with pytest.raises(ValidationError, match="must agree"):
        decide(session, board.cm, "more_info", questions="?")
    assert CCBSession.objects.get(pk=session.pk).status == CCBSession.Status.OPEN
    assert not GateDecision.objects.filter(session__isnull=False).exists()


def test_a_tie_means_more_information_and_the_session_stays_open_with_its_questions(board, make_user):
    change = cmwf_change(board.cm, severity="HIGH")
    adviser = make_user(Role.RELEASE, username="release")
    session = convene(change, board, extra=((adviser, Role.RELEASE),))
    vote(session, board.cm, "approve")
    vote(session, board.eng, "approve")
    vote(session, board.quality, "standard")
    vote(session, adviser, "standard")
    with pytest.raises(ValidationError, match="More information needed"):
        decide(session, board.cm, "approve")
    with pytest.raises(ValidationError, match="questions"):
        decide(session, board.cm, "more_info")
    session = decide(session, board.cm, "more_info", reason="Split board", questions="Which units?\nRollback time?")
    assert session.status == CCBSession.Status.OPEN
    assert session.outcome == "more_info" and session.questions == "Which units?\nRollback time?"
    assert session.deferrals == 1 and session.decision_signature.meaning == Signature.Meaning.REVIEWED
    assert not GateDecision.objects.filter(session__isnull=False).exists()
    assert Notification.objects.filter(dedupe_key__startswith=f"ccb-more-info:{session.pk}:1:").count() == 4
    # The answers change a mind; the same session then decides.
    vote(session, adviser, "approve", "Units listed, rollback 10 minutes")
    session = decide(session, board.cm, "approve", reason="Questions answered")
    assert session.status == CCBSession.Status.DECIDED and session.outcome == "approve"
    assert session.history.filter(outcome="more_info").exists()


def test_for_critical_severity_the_program_manager_decides(board):
    change = cmwf_change(board.cm)  # P1: critical
    session = convene(change, board)
    everyone_votes(session, "approve", board)
    with pytest.raises(PermissionDenied, match="program manager"):
        decide(session, board.cm, "approve")
    session = decide(session, board.program, "approve", reason="Go", fast_track_authority=True)
    decision = GateDecision.objects.get(session__isnull=False)
    assert decision.decided_by == board.program and decision.role == "program"


def test_for_high_severity_the_chair_decides(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board, extra=((board.program, Role.PROGRAM),))
    everyone_votes(session, "approve", board)
    with pytest.raises(PermissionDenied, match="the chair"):
        decide(session, board.program, "approve")
    assert decide(session, board.cm, "approve").decided_by == board.cm


def test_approval_passes_gate_2_grants_waivers_and_notifies(board, django_capture_on_commit_callbacks):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    everyone_votes(session, "approve", board)
    with django_capture_on_commit_callbacks():
        session = decide(
            session,
            board.cm,
            "approve",
            reason="Risk of waiting is higher",
            waivers=("extended_verification", "standard_ccb_cycle"),
            interim_approval=True,
            fast_track_authority=True,
        )
    assert session.waivers == ["extended_verification", "standard_ccb_cycle"]
    assert session.interim_approval and session.fast_track_authority
    decision = GateDecision.objects.get(session__isnull=False)
    assert (decision.gate, decision.result, decision.session) == ("fast_track", "passed", session)
    assert decision.signature == session.decision_signature
    assert decision.signature.meaning == Signature.Meaning.APPROVED
    decided = Notification.objects.filter(dedupe_key__startswith=f"ccb-decided:{session.pk}:")
    assert decided.count() == 3 and "decided: Approve emergency process" in decided[0].subject
    assert "Extended verification testing" in decided[0].body
    assert AuditEvent.objects.filter(action="gate.fast_track.passed").exists()
    assert AuditEvent.objects.filter(action="ccb.decided", subject_id=str(session.pk)).exists()
    assert not Obligation.objects.filter(subject_id=session.pk, satisfied_at__isnull=True).exists()
    with pytest.raises(ValidationError, match="already passed"):
        convene(change, board, actor=board.cm2)
    with pytest.raises(ValidationError, match="voting has ended"):
        vote(session, board.eng, "standard")


@pytest.mark.parametrize("waiver", NON_WAIVABLE)
def test_every_non_waivable_step_is_refused(board, waiver):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    everyone_votes(session, "approve", board)
    with pytest.raises(ValidationError) as refused:
        decide(session, board.cm, "approve", waivers=("standard_ccb_cycle", waiver))
    assert "never waived (§15)" in refused.value.message_dict["waivers"][0]
    assert CCBSession.objects.get(pk=session.pk).status == CCBSession.Status.OPEN


def test_non_waivable_list_is_the_procedures():
    assert set(NON_WAIVABLE) == {
        "code_review",
        "rollback_testing",
        "hash_verification",
        "minimum_testing",
        "safety_assessment",
        "regulatory_notification",
    }
    assert not set(NON_WAIVABLE) & set(WAIVABLE)


def test_unknown_waivers_and_waivers_without_approval_are_refused(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    everyone_votes(session, "approve", board)
    with pytest.raises(ValidationError, match="not a waiver the procedure allows"):
        decide(session, board.cm, "approve", waivers=("everything",))
    change3 = force_status(cmwf_change(board.cm, severity="HIGH"), "hotfix_in_progress")
    change3.rollback_plan, change3.impact_assessment, change3.verification_complete = "revert", "low", True
    change3.save()
    gate3 = convene(change3, board, gate="deployment")
    everyone_votes(gate3, "approve", board)
    with pytest.raises(ValidationError, match="grants no waivers"):
        decide(gate3, board.cm, "approve", waivers=("extended_verification",))


def test_use_standard_process_takes_the_change_off_the_emergency_path_as_a_false_alarm(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    everyone_votes(session, "standard", board)
    with pytest.raises(ValidationError, match="only with an approval"):
        decide(session, board.cm, "standard", waivers=("standard_ccb_cycle",))
    decide(session, board.cm, "standard", reason="Degraded, not lost: plan it")
    change.refresh_from_db()
    assert change.status == ChangeRecord.Status.CONVERTED and change.level == ChangeRecord.Level.STANDARD
    assert change.false_alarm and "Degraded, not lost" in change.false_alarm_reason
    assert GateDecision.objects.get(session__isnull=False).result == GateDecision.Result.FAILED
    assert AuditEvent.objects.filter(action="change.false_alarm", subject_id=str(change.pk)).exists()
    assert AuditEvent.objects.filter(action="change.convert_to_standard", subject_id=str(change.pk)).exists()
    assert not Obligation.objects.filter(
        subject_id=change.pk, subject_type__model="changerecord", satisfied_at__isnull=True
    )


def test_a_ratification_marks_an_emergency_unwarranted_after_the_fact(board):
    change = force_status(cmwf_change(board.cm, severity="HIGH"), "monitoring")
    session = convene(change, board, gate="ratification")
    everyone_votes(session, "standard", board)
    decide(session, board.cm, "standard", reason="A medium issue handled as an emergency")
    change.refresh_from_db()
    assert change.status == ChangeRecord.Status.MONITORING  # it already ran; only the metrics change
    assert change.false_alarm
    decision = GateDecision.objects.get(session__isnull=False)
    assert (decision.gate, decision.result, decision.retroactive) == ("ratification", "failed", True)


def test_standard_process_is_refused_once_the_change_cannot_leave_the_emergency_path(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    everyone_votes(session, "standard", board)
    force_status(change, "deployed")
    with pytest.raises(ValidationError, match="hold a ratification session"):
        decide(session, board.cm, "standard")


# --- gate preconditions (§14.3, §14.4) -----------------------------------------------------------------------


def test_gate_3_needs_verification_risk_assessment_and_rollback(board):
    change = force_status(cmwf_change(board.cm, severity="HIGH"), "hotfix_in_progress")
    session = convene(change, board, gate="deployment")
    everyone_votes(session, "approve", board)
    with pytest.raises(ValidationError) as refused:
        decide(session, board.cm, "approve")
    assert refused.value.messages == [
        "Not yet: Verification complete (§9.1 focused testing done).",
        "Not yet: Risk assessment documented (§9.3).",
        "Not yet: Rollback ready (§9.2 rollback procedure).",
    ]
    change.impact_assessment = "Deploying: low; not deploying: unsafe mode stays possible"
    change.rollback_plan = "Reinstall 4.2.0 from the release vault"
    change.save()
    gates.change_verification_set(change_id=change.pk, complete=True, actor=board.eng)
    with pytest.raises(ValidationError, match="grants no waivers"):
        decide(session, board.cm, "approve", interim_approval=True)
    decide(session, board.cm, "approve", reason="Go for deployment")
    assert GateDecision.objects.get(session__isnull=False).gate == "deployment"
    assert AuditEvent.objects.filter(action="change.verification", subject_id=str(change.pk)).exists()


def test_gate_4_needs_follow_up_documentation_resolution_and_lessons_learned(board):
    change = force_status(cmwf_change(board.cm, severity="HIGH"), "monitoring")
    session = convene(change, board, gate="close")
    with pytest.raises(ValidationError, match="Choose one of"):
        vote(session, board.eng, "standard")  # Gate 4 is approve or more information
    everyone_votes(session, "approve", board)
    with pytest.raises(ValidationError) as refused:
        decide(session, board.cm, "approve")
    assert refused.value.messages == [
        "Not yet: 30-day follow-up documentation complete (§11.2).",
        "Not yet: Issue resolved.",
        "Not yet: Lessons learned captured (§11.5).",
    ]
    assert gates.ccb_closure_problems(change) == [
        "Gate 4: Close emergency: not yet approved by an emergency CCB session (§14.4)."
    ]
    for name in ("root_cause", "impact_assessment", "timeline", "affected_artifacts", "resolution", "lessons_learned"):
        setattr(change, name, f"{name} written")
    change.save()
    change = force_status(change, "post_incident")
    with pytest.raises(ValidationError, match="30-day follow-up documentation"):
        decide(session, board.cm, "approve")  # CM-WF keeps the eight §11.2 items
    for key, _ in FOLLOW_UP_ITEMS:
        FollowUpDocument.objects.create(
            change=change, key=key, evidence="filed", completed_by=board.cm, completed_at=timezone.now()
        )
    decide(session, board.cm, "approve", reason="Return to normal process")
    assert GateDecision.objects.get(session__isnull=False).gate == "close"
    assert gates.ccb_closure_problems(change) == []
    assert not any("Gate 4" in p for p in closure_problems(change))


def test_closure_waits_for_gate_4_only_under_a_procedure_with_a_ccb(board):
    assert gates.ccb_closure_problems(file_stub(board.cm)) == []
    assert any(p.startswith("Gate 4: Close emergency") for p in closure_problems(cmwf_change(board.cm)))


# --- Gate 1 (§14.1) --------------------------------------------------------------------------------------------


def declare(change, actor, role, **overrides):
    values = {
        "warranted": True,
        "severity": "HIGH",
        "criteria": ("Potential safety issue (hazard identified but not yet manifested)",),
        "reason": "Hazard found in the autopilot mode logic",
        "role": role,
    }
    values.update(overrides)
    return gates.gate_declare_record(
        change_id=change.pk, actor=actor, password=PASSWORD, data=gates.DeclareInput(**values)
    )


@pytest.mark.parametrize("role", [Role.SAFETY, Role.SECURITY, Role.CM])
def test_gate_1_is_recorded_against_the_severity_criteria(board, role):
    change = cmwf_change(board.cm, safety_related=True)
    decision = declare(change, getattr(board, ROLE_USER[role]), role)
    assert (decision.gate, decision.result, decision.severity) == ("declare", "passed", "HIGH")
    assert decision.signature.role == role.value and decision.signature.subject_id == change.pk
    change.incident.refresh_from_db()
    assert change.incident.severity == "HIGH"
    assert change.incident.history.first().history_change_reason.startswith("severity assessed at Gate 1")
    with pytest.raises(ValidationError, match="already recorded"):
        declare(change, board.cm, Role.CM)


def test_gate_1_severity_moves_the_clocks_that_depend_on_it(board):
    change = cmwf_change(board.cm, safety_related=True)  # filed as critical
    declare(change, board.safety, Role.SAFETY)  # assessed as high
    declared = change.declared_at
    assert clocks(change, "hotfix").get().due_at == declared + timedelta(hours=72)
    assert clocks(change, "external_notification").get().due_at == declared + timedelta(hours=8)
    assert clocks(change, "regulatory_notification").get().due_at == declared + timedelta(hours=8)
    assert clocks(change, "status_update").get().due_at == declared + timedelta(hours=4)
    assert AuditEvent.objects.filter(action="obligation.reanchored", subject_id=str(change.pk)).count() == 4


def test_gate_1_refusals(board):
    change = cmwf_change(board.cm)
    with pytest.raises(PermissionDenied):
        declare(change, board.quality, Role.QUALITY)
    with pytest.raises(ValidationError) as refused:
        declare(change, board.cm, Role.CM, criteria=("Total loss of critical function",))  # a critical criterion
    assert "criteria" in refused.value.message_dict
    with pytest.raises(ValidationError, match="at least one"):
        declare(change, board.cm, Role.CM, criteria=())
    assert not GateDecision.objects.exists()


def test_gate_1_not_warranted_is_a_false_alarm_off_the_emergency_path(board):
    change = cmwf_change(board.cm)
    declare(change, board.cm, Role.CM, warranted=False, severity="MEDIUM", criteria=(), reason="Cosmetic only")
    change.refresh_from_db()
    assert change.false_alarm and change.status == ChangeRecord.Status.CONVERTED
    assert GateDecision.objects.get().result == GateDecision.Result.FAILED


# --- cancelling -----------------------------------------------------------------------------------------------


def test_cancelling_a_session_voids_its_clocks_and_sends_a_cancellation(board, django_capture_on_commit_callbacks):
    change = cmwf_change(board.cm)
    session = convene(change, board)
    with pytest.raises(PermissionDenied):
        services.ccb_session_cancel(session_id=session.pk, actor=board.eng, reason="no")
    with django_capture_on_commit_callbacks():
        session = services.ccb_session_cancel(session_id=session.pk, actor=board.cm, reason="Duplicate session")
    assert session.status == CCBSession.Status.CANCELLED
    assert not Obligation.objects.filter(subject_id=session.pk, satisfied_at__isnull=True).exists()
    cancelled = Notification.objects.filter(dedupe_key__startswith=f"ccb-cancelled:{session.pk}:")
    assert cancelled.count() == 4 and "METHOD:CANCEL" in cancelled[0].attachment_content
    convene(change, board)  # the gate can be convened again


# --- communication: cadence, external and regulatory notification (§7.3, §12) ------------------------------------


def post_update(change, actor, audience="internal", text="Patch in test on SN-4"):
    return communication.status_update_post(
        change_id=change.pk, data=communication.StatusUpdateInput(current_status=text, audience=audience), actor=actor
    )


def send(update):
    """Deliver the update's messages; the first one's time."""
    from qms.services import notification_deliver

    rows = Notification.objects.filter(dedupe_key__startswith=f"status-update:{update.pk}:").order_by("pk")
    for row in rows:
        notification_deliver(notification_id=row.pk)
    return rows.exclude(sent_at=None).order_by("sent_at").values_list("sent_at", flat=True).first()


def clocks(change, kind):
    return Obligation.objects.filter(subject_id=change.pk, subject_type__model="changerecord", kind=kind).order_by("pk")


def test_status_updates_are_owed_at_the_cadence_of_the_severity(board):
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    change = file_stub(board.cm, procedure_code=CMWF, now=now)
    first = clocks(change, "status_update").get()
    assert first.due_at == now + timedelta(hours=1) and first.label == "Status update #1"
    update = post_update(change, board.eng)
    sent_at = send(update)  # an update meets the cadence once it is sent (tests/emergencies/services/test_warroom.py)
    first.refresh_from_db()
    assert first.satisfied_at == sent_at
    second = clocks(change, "status_update").last()
    assert second.key == "2" and second.due_at == sent_at + timedelta(hours=1)
    assert StatusUpdate.objects.get().change_status == ChangeRecord.Status.STUB
    assert AuditEvent.objects.filter(action="change.status_update").exists()


@pytest.mark.parametrize(
    ("severity", "status", "hours"),
    [
        ("CRITICAL", "hotfix_in_progress", 1),
        ("HIGH", "deployed", 4),
        ("MEDIUM", "stub", 24),
        ("CRITICAL", "monitoring", 24),  # after phases 1-5: daily
        ("HIGH", "closed", None),
        ("HIGH", "converted_standard", None),
    ],
)
def test_update_cadence_by_severity_and_phase(severity, status, hours):
    interval = CMWF_RULES.status_update_interval(severity, status)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert (interval.due(start) - start if interval else None) == (timedelta(hours=hours) if hours else None)


def test_an_external_update_meets_the_external_notification_deadline(board):
    change = cmwf_change(board.cm)
    external = clocks(change, "external_notification").get()
    assert external.due_at == change.declared_at + timedelta(hours=4)  # critical: 4 hours
    send(post_update(change, board.eng))
    assert clocks(change, "external_notification").get().satisfied_at is None
    NotificationChannel.objects.create(
        name="Operators", kind="email", destination="ops@example.com", audience="external", events=["status_update"]
    )
    send(post_update(change, board.program, audience="external", text="Operators: do not use mode 3"))
    assert clocks(change, "external_notification").get().satisfied_at is not None


def test_safety_related_changes_owe_a_regulatory_notification(board):
    change = cmwf_change(board.cm, safety_related=True)
    owed = clocks(change, "regulatory_notification").get()
    assert owed.owner_role == "certlead" and owed.due_at == change.declared_at + timedelta(hours=4)
    assert not clocks(cmwf_change(board.cm), "regulatory_notification").exists()
    data = communication.RegulatoryInput(
        authority="EASA",
        notified_at=timezone.now(),
        reference="EASA-EMG-2026-118",
        description="Autopilot mode logic hazard; patch 4.2.1 proposed",
        follow_up_commitment="Full compliance evidence within 30 days",
        follow_up_due=(timezone.now() + timedelta(days=30)).date(),
    )
    with pytest.raises(PermissionDenied):
        communication.regulatory_notification_record(change_id=change.pk, data=data, actor=board.eng)
    notification = communication.regulatory_notification_record(change_id=change.pk, data=data, actor=board.certlead)
    assert notification.authority_label == "EASA"
    assert clocks(change, "regulatory_notification").get().satisfied_at is not None
    assert clocks(change, "external_notification").get().satisfied_at is not None
    follow_up = clocks(change, "regulatory_follow_up").get()
    assert follow_up.owner == board.certlead and follow_up.key == str(notification.pk)


def test_regulatory_notification_refusals(board):
    change = cmwf_change(board.cm, safety_related=True)
    data = communication.RegulatoryInput(
        authority="other",
        notified_at=timezone.now() + timedelta(hours=2),
        reference="",
        description="x",
        follow_up_commitment="y",
    )
    with pytest.raises(ValidationError) as refused:
        communication.regulatory_notification_record(change_id=change.pk, data=data, actor=board.certlead)
    assert set(refused.value.message_dict) == {"authority_name", "notified_at", "reference"}


def test_updates_stop_when_the_change_leaves_the_emergency_path(board):
    change = cmwf_change(board.cm, severity="HIGH")
    session = convene(change, board)
    everyone_votes(session, "standard", board)
    decide(session, board.cm, "standard")
    assert not clocks(change, "status_update").filter(satisfied_at__isnull=True).exists()
    with pytest.raises(ValidationError, match="updates have stopped"):
        post_update(change, board.eng)
