"""Hand-offs: a step asked of the next person is notified, waits on their dashboard with its clock, shows on
the record, and closes when the step is taken."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from emergencies.models import BypassRequest, HandoffRequest
from emergencies.selectors import handoffs_waiting_for
from emergencies.services import change_record_transition
from emergencies.services import postincident as pi
from emergencies.services.bypasses import bypass_verbal_approval_record, signature_confirm
from emergencies.services.handoffs import handoff_request_create, handoff_request_withdraw
from qms.models import Notification
from qms.roles import Role
from qms.tasks import notification_send_task
from tests.factories import PASSWORD, authorise, deploy_and_resolve, file_stub

pytestmark = pytest.mark.django_db
K = HandoffRequest.Kind


@pytest.fixture
def reviewer(make_user):
    return make_user(Role.ONCALL, username="reviewer", first_name="Rita", last_name="Reviewer")


@pytest.fixture
def hotfix(oncall, commander):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    return change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall)


def _ask(change, actor, **kwargs):
    return handoff_request_create(change_id=change.pk, actor=actor, **kwargs)


def test_review_request_is_notified_waits_on_the_dashboard_and_closes_when_reviewed(
    hotfix, oncall, reviewer, django_capture_on_commit_callbacks
):
    Notification.objects.all().delete()
    with django_capture_on_commit_callbacks():
        request = _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer, note="PR #812, 20 lines")
    assert request.is_open and request.link.endswith("#deployment")
    assert handoffs_waiting_for(user=reviewer) == [request]
    assert handoffs_waiting_for(user=oncall) == []  # the asker does not wait for themselves

    notification = Notification.objects.get(recipient=reviewer)
    assert notification.dedupe_key == f"handoff:{request.pk}:{reviewer.pk}"
    assert notification_send_task([notification.pk]) == 1
    (message,) = mail.outbox
    assert message.to == [reviewer.email]
    assert "WAITING FOR YOU" in message.subject and hotfix.identifier in message.subject
    assert "PR #812, 20 lines" in message.body and request.link in message.body

    assert AuditEvent.objects.filter(action="handoff.hotfix_review.requested", subject_id=str(hotfix.pk)).exists()
    assert request.history.first().history_user == oncall

    pi.hotfix_review_record(change_id=hotfix.pk, reviewer=reviewer)
    request.refresh_from_db()
    assert request.status == HandoffRequest.Status.DONE and request.closed_by == reviewer
    assert handoffs_waiting_for(user=reviewer) == []
    assert AuditEvent.objects.filter(action="handoff.hotfix_review.done").exists()


def test_a_role_request_waits_for_everyone_holding_the_role(hotfix, oncall, make_user):
    validators = [make_user(Role.QUALITY), make_user(Role.QUALITY)]
    other = make_user(Role.LEGAL)
    request = _ask(hotfix, oncall, kind=K.GATE_VALIDATION, role=Role.QUALITY.value)
    assert request.asked_of == "any quality manager"
    for v in validators:
        assert handoffs_waiting_for(user=v) == [request]
    assert handoffs_waiting_for(user=other) == []
    assert set(Notification.objects.filter(dedupe_key__startswith="handoff:").values_list("recipient", flat=True)) == {
        v.pk for v in validators
    }


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"kind": K.HOTFIX_REVIEW}, "assignee"),  # nobody named
        ({"kind": K.HOTFIX_REVIEW, "role": Role.LEGAL.value}, "role"),  # legal does not review code
        ({"kind": "coffee", "role": Role.LEAD.value}, "kind"),
    ],
)
def test_bad_requests_are_refused_with_a_field_error_and_write_nothing(hotfix, oncall, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        _ask(hotfix, oncall, **kwargs)
    assert field in exc.value.message_dict
    assert not HandoffRequest.objects.exists()


def test_the_author_self_and_the_wrong_role_cannot_be_asked(hotfix, oncall, make_user, reviewer):
    lead = make_user(Role.LEAD)
    with pytest.raises(ValidationError, match="author"):
        _ask(hotfix, lead, kind=K.HOTFIX_REVIEW, assignee=oncall)  # the author never reviews their hotfix
    with pytest.raises(ValidationError, match="someone else"):
        _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=oncall)
    with pytest.raises(ValidationError, match="holds no role"):
        _ask(hotfix, oncall, kind=K.GATE_VALIDATION, assignee=reviewer)  # an on-call engineer validates no gate
    with pytest.raises(ValidationError, match="does not hold"):
        _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer, role=Role.LEAD.value)
    reviewer.is_active = False
    reviewer.save()
    with pytest.raises(ValidationError, match="deactivated"):
        _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer)
    assert not HandoffRequest.objects.exists()


def test_an_auditor_and_a_stranger_cannot_ask(hotfix, make_user, reviewer):
    for roles in ((Role.AUDITOR,), (Role.LEGAL,)):
        with pytest.raises(PermissionDenied):
            _ask(hotfix, make_user(*roles), kind=K.HOTFIX_REVIEW, assignee=reviewer)
    assert not HandoffRequest.objects.exists()


def test_asking_twice_is_refused_while_the_first_is_open(hotfix, oncall, reviewer):
    _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer)
    with pytest.raises(ValidationError, match="already been asked"):
        _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer)
    assert HandoffRequest.objects.count() == 1


def test_only_the_asker_withdraws(hotfix, oncall, reviewer, make_user):
    request = _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer)
    with pytest.raises(PermissionDenied):
        handoff_request_withdraw(request_id=request.pk, actor=reviewer)
    handoff_request_withdraw(request_id=request.pk, actor=oncall, reason="paired in person instead")
    request.refresh_from_db()
    assert request.status == HandoffRequest.Status.WITHDRAWN and request.close_note == "paired in person instead"
    with pytest.raises(ValidationError):
        handoff_request_withdraw(request_id=request.pk, actor=oncall)


def test_post_mortem_approval_request_closes_on_approval(client, oncall, commander, reviewer, make_user):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    change = deploy_and_resolve(change, reviewer=reviewer, commander=commander)
    with pytest.raises(ValidationError, match="Start the post-mortem"):
        _ask(change, oncall, kind=K.POST_MORTEM_APPROVAL, assignee=commander)
    pm = pi.post_mortem_start(change_id=change.pk, actor=oncall)
    fields = {f"why_{i}": str(i) for i in range(1, 6)} | {"resolution": "fix", "went_well": "w", "went_poorly": "p"}
    pi.post_mortem_update(post_mortem_id=pm.pk, actor=oncall, fields=fields)
    pi.post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)
    request = _ask(change, oncall, kind=K.POST_MORTEM_APPROVAL, assignee=commander)
    assert request.link == reverse("emergencies:post-mortem", args=[change.identifier])
    client.force_login(commander)
    page = client.get(request.link).content.decode()
    assert 'data-testid="review-asks"' in page and "waiting for <strong>Carlos Commander</strong> since" in page
    pi.post_mortem_approve(post_mortem_id=pm.pk, signer=commander, password=PASSWORD, role=Role.COMMANDER)
    request.refresh_from_db()
    assert request.status == HandoffRequest.Status.DONE
    assert 'data-testid="review-asks"' not in client.get(request.link).content.decode()


def test_a_recorded_verbal_approval_asks_its_giver_to_confirm(oncall, commander, make_user):
    change = file_stub(oncall, commander=commander)
    bypass = BypassRequest.objects.get(change=change)
    bypass_verbal_approval_record(
        bypass_id=bypass.pk,
        approver=commander,
        role=Role.COMMANDER,
        approved_at=timezone.now(),
        recorded_by=make_user(Role.QMS),  # never the requester (the on-call engineer who filed it)
        password=PASSWORD,
        comment="IC approved on the bridge",
    )
    (request,) = handoffs_waiting_for(user=commander)
    assert (
        request.kind == K.VERBAL_CONFIRMATION and request.change == change and request.link == bypass.get_absolute_url()
    )
    # The lifecycle's own "confirm" message is the notification: no second one.
    assert not Notification.objects.filter(dedupe_key__startswith="handoff:").exists()
    verbal = bypass.__class__.objects.get(pk=bypass.pk)
    from qms.models import Signature

    signature = Signature.objects.get(subject_id=verbal.pk, method="verbal")
    signature_confirm(signature_id=signature.pk, signer=commander, password=PASSWORD)
    request.refresh_from_db()
    assert request.status == HandoffRequest.Status.DONE


def test_closing_the_change_withdraws_what_is_still_asked(hotfix, oncall, make_user):
    request = _ask(hotfix, oncall, kind=K.GATE_VALIDATION, role=Role.QMS.value)
    change_record_transition(
        change_id=hotfix.pk, transition="convert_to_standard", actor=make_user(Role.COMMANDER), reason="not urgent"
    )
    request.refresh_from_db()
    assert request.status == HandoffRequest.Status.WITHDRAWN


# --- pages ---------------------------------------------------------------------------------------------


def test_the_page_shows_who_is_waited_for_and_the_dashboard_lists_it(client, hotfix, oncall, reviewer):
    request = _ask(hotfix, oncall, kind=K.HOTFIX_REVIEW, assignee=reviewer)
    client.force_login(oncall)
    page = client.get(hotfix.get_absolute_url()).content.decode()
    assert "waiting for <strong>Rita Reviewer</strong> since" in page
    client.force_login(reviewer)
    dashboard = client.get(reverse("qms:dashboard")).content.decode()
    assert "Waiting for you" in dashboard and hotfix.identifier in dashboard and request.link in dashboard


def test_asking_from_the_page_and_its_refusals(client, hotfix, oncall, reviewer, make_user):
    url = reverse("emergencies:handoff-request", args=[hotfix.identifier])
    client.force_login(oncall)
    response = client.post(url, {"kind": K.HOTFIX_REVIEW, "assignee": reviewer.pk, "note": "quick one"}, follow=True)
    assert "asked of Rita Reviewer" in response.content.decode()
    assert HandoffRequest.objects.filter(assignee=reviewer, note="quick one").count() == 1
    response = client.post(url, {"kind": K.HOTFIX_REVIEW}, follow=True)
    assert "Name the person, or the role" in response.content.decode()
    client.force_login(make_user(Role.AUDITOR))
    assert client.post(url, {"kind": K.HOTFIX_REVIEW, "assignee": reviewer.pk}).status_code == 403
    client.force_login(make_user())
    assert client.post(url, {"kind": K.HOTFIX_REVIEW, "assignee": reviewer.pk}).status_code == 404
    assert HandoffRequest.objects.count() == 1


def test_dashboard_query_count_does_not_grow_with_requests(
    client, hotfix, oncall, make_user, django_assert_max_num_queries
):
    qms_users = [make_user(Role.QMS) for _ in range(2)]
    me = qms_users[0]
    client.force_login(me)
    _ask(hotfix, oncall, kind=K.GATE_VALIDATION, assignee=me)
    with django_assert_max_num_queries(40) as one:
        client.get(reverse("qms:dashboard"))
    for _ in range(5):
        change = file_stub(oncall)
        _ask(change, oncall, kind=K.GATE_VALIDATION, assignee=me)
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(reverse("qms:dashboard"))


# --- the other steps: a CCB vote, a patch approval, unit acknowledgements --------------------------------


def test_a_ccb_vote_is_asked_only_of_a_seated_member_and_closes_when_they_vote(make_user):
    from tests.emergencies.services.test_ccb import cmwf_change, convene, make_board, vote

    board = make_board(make_user)
    change = cmwf_change(board.cm, severity="HIGH")
    with pytest.raises(ValidationError, match="No CCB session"):
        _ask(change, board.cm, kind=K.CCB_VOTE, assignee=board.eng)
    session = convene(change, board)
    with pytest.raises(ValidationError, match="does not sit on"):
        _ask(change, board.cm, kind=K.CCB_VOTE, assignee=board.certlead)
    eng = _ask(change, board.cm, kind=K.CCB_VOTE, assignee=board.eng)
    quality = _ask(change, board.cm, kind=K.CCB_VOTE, role=Role.QUALITY.value)
    assert eng.link == session.get_absolute_url() and eng.subject_label == session.identifier
    vote(session, board.eng, "approve")
    eng.refresh_from_db()
    quality.refresh_from_db()
    assert eng.status == HandoffRequest.Status.DONE
    assert quality.is_open  # someone else's vote does not answer what was asked of the quality manager
    vote(session, board.quality, "approve")
    quality.refresh_from_db()
    assert quality.status == HandoffRequest.Status.DONE


def test_patch_approval_and_unit_acknowledgement_close_when_done(oncall, make_user, settings, tmp_path):
    from tests.emergencies.services import test_patches as tp

    settings.MEDIA_ROOT = tmp_path / "media"
    cm, program = make_user(Role.CM), make_user(Role.PROGRAM)
    change = tp.cm_wf_change(oncall, cm, program)
    with pytest.raises(ValidationError, match="no patch package"):
        _ask(change, oncall, kind=K.PATCH_APPROVAL, assignee=cm)
    package = tp.draft(change, oncall)
    tp.upload(package, oncall)
    approval = _ask(change, oncall, kind=K.PATCH_APPROVAL, assignee=cm)
    with pytest.raises(ValidationError, match="cannot take this step"):
        _ask(change, cm, kind=K.PATCH_APPROVAL, role=Role.PROGRAM.value)
    tp.patch_package_approve(package_id=package.pk, signer=cm, password=PASSWORD, role=Role.CM)
    approval.refresh_from_db()
    assert approval.status == HandoffRequest.Status.DONE

    acks = _ask(change, oncall, kind=K.UNIT_ACKNOWLEDGEMENT, assignee=cm)
    units = tp.unit_distributions_from_incident(package_id=package.pk, actor=cm)
    for unit in units:
        tp.unit_sent_record(distribution_id=unit.pk, actor=cm, channel="secure_delivery")
    tp.unit_acknowledgement_record(distribution_id=units[0].pk, actor=cm, acknowledged_by="Crew chief Ada")
    acks.refresh_from_db()
    assert acks.is_open  # one unit still owes its acknowledgement
    tp.unit_acknowledgement_record(distribution_id=units[1].pk, actor=cm, acknowledged_by="Crew chief Bo")
    acks.refresh_from_db()
    assert acks.status == HandoffRequest.Status.DONE
