"""Running the emergency CCB through the API (issue 15): convening, seating, cancelling, Gate 1, status
updates, regulatory notifications and verification, each by the page's service, so with the page's rights;
retried requests write once, stale writes are 412, refusals change nothing."""

import pytest
from django.utils import timezone

from emergencies.models import CCBMember, CCBSession, ChangeRecord, RegulatoryNotification, StatusUpdate
from emergencies.services import gates
from qms.models import ApiToken, Signature
from qms.roles import Role
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.api.test_lifecycle import as_
from tests.emergencies.services.test_ccb import ROLE_USER, cmwf_change, gates_before, make_board, pass_gates
from tests.factories import PASSWORD, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


def _convene_body(change, board, *, leave_out=None):
    members = [
        {"user": getattr(board, ROLE_USER[seat.role]).username, "role": seat.role.value}
        for seat in gates.required_seats(change)
        if seat.role not in (Role.CM, leave_out)
    ]
    return {"gate": "fast_track", "scheduled_at": timezone.now().isoformat(), "members": members}


@pytest.fixture
def board(make_user):
    return make_board(make_user)


@pytest.fixture
def ready(board):
    change = cmwf_change(board.cm, severity="HIGH")
    pass_gates(change, *gates_before(change, "fast_track"), actor=board.cm)
    return change


def test_convene_seat_and_cancel_by_the_configuration_manager_only(ready, board, auditor, client):
    change = ready
    url = f"/api/v1/emergencies/{change.identifier}/ccb-sessions/"
    seats = [s.role for s in gates.required_seats(change) if s.role != Role.CM]
    body = _convene_body(change, board, leave_out=seats[-1])

    # another member, the auditor, a token without the integrations scope: refused, nothing convened
    assert as_(board.eng, token=True).post(url, body, format="json").status_code == 403
    assert as_(auditor, token=True).post(url, body, format="json").status_code == 403
    read_only = as_(board.cm, token=True, scopes=[ApiToken.Scope.READ]).post(url, body, format="json")
    assert read_only.status_code == 403
    hostile = as_(board.cm, token=True).post(url, {**body, "scheduled_at": "yesterday-ish"}, format="json")
    assert hostile.status_code == 400 and "scheduled_at" in problem_fields(hostile)
    declare = as_(board.cm, token=True).post(url, {**body, "gate": "declare"}, format="json")
    assert declare.status_code == 400
    assert not CCBSession.objects.exists()

    cm = as_(board.cm, token=True)
    first = cm.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="convene-1")
    again = cm.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="convene-1")
    assert first.status_code == again.status_code == 201, first.content
    assert again.json() == first.json() and CCBSession.objects.count() == 1
    assert_conforms(served_schema(client, board.cm), "POST", "/api/v1/emergencies/{identifier}/ccb-sessions/", first)
    session = CCBSession.objects.get()

    # seating the member left out: only the chair or a configuration manager, once
    missing = getattr(board, ROLE_USER[seats[-1]])
    members_url = f"/api/v1/ccb/sessions/{session.pk}/members/"
    seat = {"user": missing.username, "role": seats[-1].value}
    assert as_(board.eng, token=True).post(members_url, seat, format="json").status_code == 403
    assert as_(auditor, token=True).post(members_url, seat, format="json").status_code == 403
    wrong_role = cm.post(members_url, {**seat, "role": "legal"}, format="json")
    assert wrong_role.status_code == 400
    seated = cm.post(members_url, seat, format="json")
    assert seated.status_code == 201, seated.content
    assert CCBMember.objects.filter(session=session, user=missing).count() == 1
    assert cm.post(members_url, seat, format="json").status_code == 400  # already sits on it

    # cancelling: a stale If-Match is 412 and the session stays open; then the chair cancels it
    cancel_url = f"/api/v1/ccb/sessions/{session.pk}/cancellation/"
    reason = {"reason": "The fix was rolled back"}
    assert as_(board.eng, token=True).post(cancel_url, reason, format="json").status_code == 403
    stale = cm.post(cancel_url, reason, format="json", HTTP_IF_MATCH='"stale"')
    assert stale.status_code == 412 and CCBSession.objects.get(pk=session.pk).is_open
    current = cm.get(f"/api/v1/ccb/sessions/{session.pk}/")["ETag"]
    cancelled = cm.post(cancel_url, reason, format="json", HTTP_IF_MATCH=current)
    assert cancelled.status_code == 200, cancelled.content
    assert CCBSession.objects.get(pk=session.pk).status == CCBSession.Status.CANCELLED


def test_gate_1_is_signed_by_its_roles_with_the_password(board, auditor):
    change = cmwf_change(board.cm, safety_related=True)
    url = f"/api/v1/emergencies/{change.identifier}/gate-1/"
    body = {
        "warranted": True,
        "severity": "CRITICAL",
        "criteria": ["Immediate threat to life or spacecraft"],
        "role": "safety",
        "reason": "Uncommanded pitch in mode 3",
        "password": PASSWORD,
    }
    before = Signature.objects.count()
    assert as_(board.eng, token=True).post(url, body, format="json").status_code == 403  # not a safety manager
    assert as_(auditor, token=True).post(url, body, format="json").status_code == 403
    no_sign_scope = as_(board.safety, token=True, scopes=[ApiToken.Scope.INTEGRATIONS])
    assert no_sign_scope.post(url, body, format="json").status_code == 403
    wrong = as_(board.safety, token=True).post(url, {**body, "password": "nope"}, format="json")
    assert wrong.status_code in (400, 403)
    unknown = as_(board.safety, token=True).post(url, {**body, "criteria": ["<script>"]}, format="json")
    assert unknown.status_code == 400 and "criteria" in problem_fields(unknown)
    assert Signature.objects.count() == before

    signed = as_(board.safety, token=True).post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="gate-1")
    replay = as_(board.safety).post(url, body, format="json")  # recorded already: refused, not signed twice
    assert signed.status_code == 201, signed.content
    assert replay.status_code == 400
    assert Signature.objects.count() == before + 1


def test_status_updates_by_those_on_the_change_only(oncall, auditor, make_user):
    change = file_stub(oncall)
    url = f"/api/v1/emergencies/{change.identifier}/status-updates/"
    body = {"audience": "internal", "current_status": "Hotfix deployed, monitoring"}
    assert as_(auditor, token=True).post(url, body, format="json").status_code == 403
    blank = as_(oncall, token=True).post(url, {**body, "current_status": "   "}, format="json")
    assert blank.status_code == 400
    hostile = as_(oncall, token=True).post(url, {**body, "audience": "everyone"}, format="json")
    assert hostile.status_code == 400 and "audience" in problem_fields(hostile)
    assert not StatusUpdate.objects.exists()
    api = as_(oncall, token=True)
    first = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="update-1")
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="update-1")
    assert first.status_code == again.status_code == 201, first.content
    assert StatusUpdate.objects.filter(change=change).count() == 1


def test_regulatory_notification_and_verification_follow_the_procedure(board, auditor):
    change = cmwf_change(board.cm, severity="HIGH")
    rules = change.rules
    url = f"/api/v1/emergencies/{change.identifier}/regulatory-notifications/"
    body = {
        "authority": next(iter(rules.regulatory_authorities)),
        "notified_at": timezone.now().isoformat(),
        "reference": "REF-1",
        "description": "Pitch limiter fault; patch proposed",
        "follow_up_commitment": "Full report within 30 days",
    }
    assert as_(auditor, token=True).post(url, body, format="json").status_code == 403
    recorder = next(
        getattr(board, ROLE_USER[r])
        for r in rules.regulatory_recorder_roles
        if r in ROLE_USER and hasattr(board, ROLE_USER[r])
    )
    future = as_(recorder, token=True).post(url, {**body, "notified_at": "2999-01-01T00:00:00Z"}, format="json")
    assert future.status_code == 400 and not RegulatoryNotification.objects.exists()
    recorded = as_(recorder, token=True).post(url, body, format="json")
    assert recorded.status_code == 201, recorded.content
    assert RegulatoryNotification.objects.filter(change=change).count() == 1

    verification = f"/api/v1/emergencies/{change.identifier}/verification/"
    assert as_(auditor, token=True).post(verification, {"complete": True}, format="json").status_code == 403
    assert as_(board.cm, token=True).post(verification, {"complete": "maybe"}, format="json").status_code == 400
    done = as_(board.cm, token=True).post(verification, {"complete": True}, format="json")
    assert done.status_code == 200, done.content
    assert ChangeRecord.objects.get(pk=change.pk).verification_complete


def test_a_procedure_without_a_ccb_refuses_its_gate_writes(oncall):
    change = file_stub(oncall)
    for tail in ("gate-1/", "regulatory-notifications/", "verification/"):
        response = as_(oncall, token=True).post(f"/api/v1/emergencies/{change.identifier}/{tail}", {}, format="json")
        assert response.status_code == 403, tail
