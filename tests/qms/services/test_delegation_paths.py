"""Delegation on every signing path: a delegate signs on behalf of the delegator with both names kept (page,
PDF, API, audit), separation of duties holds against both people, and a delegation that has ended or was
revoked lets nobody sign."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from emergencies.models import BypassRequest, CCBSession
from emergencies.selectors import bypasses_awaiting_signature
from emergencies.services import ccb as ccb_services
from emergencies.services.bypasses import bypass_verbal_approval_record, signature_confirm
from emergencies.services.patches import patch_package_approve
from emergencies.services.postincident import post_mortem_approve, post_mortem_submit
from qms.models import Delegation, Signature, User
from qms.pdf import Manifestation
from qms.roles import Role
from qms.services import procedure_drafts as pd
from qms.services.delegation import delegation_create, delegation_revoke
from tests.emergencies.services.test_ccb import cmwf_change, convene, decide, declare, make_board, vote
from tests.emergencies.services.test_patches import cm_wf_change, draft, upload
from tests.emergencies.services.test_postincident import _full_post_mortem
from tests.factories import PASSWORD, authorise, deploy_and_resolve, file_stub
from tests.qms.procedures.helpers import draft_in_review

pytestmark = pytest.mark.django_db


def delegate(delegator, to, role, *, days=3):
    return delegation_create(
        delegator=delegator,
        delegate=to,
        role=role.value,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=days),
        reason="On leave",
        actor=delegator,
    )


def end(delegation, how):
    """The delegation revoked by its delegator, or its period over."""
    if how == "revoked":
        delegation_revoke(delegation_id=delegation.pk, actor=delegation.delegator, reason="Back early")
    else:
        Delegation.objects.filter(pk=delegation.pk).update(
            starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(minutes=1)
        )


def assert_both_names(signature, delegate_user, delegator):
    assert signature.signer == delegate_user and signature.on_behalf_of == delegator
    assert signature.signer_names == f"{delegate_user.display_name} on behalf of {delegator.display_name}"
    assert Manifestation.of(signature, current_hash=signature.content_hash).printed_name == signature.signer_names
    event = AuditEvent.objects.filter(action=f"signature.{signature.meaning}").latest("position")
    assert event.actor == delegate_user and event.after["on_behalf_of"] == delegator.display_name


@pytest.fixture
def board(make_user):
    return make_board(make_user)


@pytest.fixture
def stand_in(make_user):
    return make_user(Role.LEAD, username="standin", first_name="Stan", last_name="Din")


# --- Gate 1 -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_gate_1_by_a_delegate_names_both_and_an_ended_delegation_is_refused(client, board, stand_in, how):
    change = cmwf_change(board.cm, safety_related=True)
    delegation = delegate(board.safety, stand_in, Role.SAFETY)
    client.force_login(stand_in)
    page = client.get(reverse("emergencies:ccb-change-gates", args=[change.identifier]))
    assert page.status_code == 200 and 'value="safety"' in page.content.decode()
    end(delegation, how)
    with pytest.raises(PermissionDenied):
        declare(change, stand_in, Role.SAFETY)
    assert not Signature.objects.filter(signer=stand_in).exists()
    delegate(board.safety, stand_in, Role.SAFETY)
    decision = declare(change, stand_in, Role.SAFETY)
    assert_both_names(decision.signature, stand_in, board.safety)
    page = client.get(reverse("emergencies:ccb-change-gates", args=[change.identifier]))
    assert "Stan Din on behalf of Sam Safety" in page.content.decode()


# --- CCB votes and decisions ---------------------------------------------------------------------------------


def test_a_delegate_sits_votes_and_chairs_on_behalf_and_both_names_show(client, board, stand_in, make_user):
    deputy = make_user(Role.LEAD, username="deputy", first_name="Dee", last_name="Puty")
    delegate(board.quality, stand_in, Role.QUALITY)
    delegate(board.cm, deputy, Role.CM)
    change = cmwf_change(board.cm, severity="HIGH")
    client.force_login(board.cm2)
    convene_page = client.get(reverse("emergencies:ccb-convene", args=[change.identifier])).content.decode()
    assert "Stan Din" in convene_page and "Dee Puty" in convene_page  # offered for the roles lent to them
    quality = board.quality
    board.quality = stand_in  # the quality seat is taken by the delegate
    session = convene(change, board, actor=board.cm2, chair=deputy)
    for member in session.members.select_related("user"):
        vote(session, member.user, "approve")
    assert_both_names(session.votes.get(voter=stand_in).signature, stand_in, quality)
    session = decide(session, deputy, "approve")
    assert session.status == CCBSession.Status.DECIDED
    assert_both_names(session.decision_signature, deputy, board.cm)
    client.force_login(stand_in)
    page = client.get(reverse("emergencies:ccb-session-detail", args=[session.pk])).content.decode()
    assert "on behalf of Quincy Quality" in page and "Dee Puty on behalf of Cora Config" in page
    api = client.get(f"/api/v1/ccb/sessions/{session.pk}/").json()
    assert api["decided_by"] == "deputy" and api["decided_on_behalf_of"] == "cm"
    (row,) = [m for m in api["tally"]["members"] if m["user"] == "standin"]
    assert row["on_behalf_of"] == "quality" and row["on_behalf_of_name"] == "Quincy Quality"


def test_one_person_never_fills_two_seats_through_a_delegate(board, stand_in, make_user):
    both = make_user(Role.ENGMANAGER, Role.QUALITY, username="both", first_name="Bo", last_name="Th")
    delegate(both, stand_in, Role.QUALITY)
    change = cmwf_change(board.cm, severity="HIGH")
    board.eng, board.quality = both, stand_in
    with pytest.raises(ValidationError, match="two seats"):
        convene(change, board)
    session = convene(change, board, skip=(Role.QUALITY,), in_order=False)
    with pytest.raises(ValidationError, match="two seats"):
        ccb_services.ccb_member_add(session_id=session.pk, user=stand_in, role=Role.QUALITY, actor=board.cm)
    assert not session.members.filter(user=stand_in).exists()


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_seated_delegate_whose_delegation_ended_cannot_vote_or_decide(board, stand_in, make_user, how):
    deputy = make_user(Role.LEAD, username="deputy")
    quality = board.quality
    lent_quality = delegate(quality, stand_in, Role.QUALITY)
    lent_cm = delegate(board.cm, deputy, Role.CM)
    change = cmwf_change(board.cm, severity="HIGH")
    board.quality = stand_in
    session = convene(change, board, actor=board.cm2, chair=deputy)
    end(lent_quality, how)
    with pytest.raises(PermissionDenied, match="no longer holds"):
        vote(session, stand_in, "approve")
    delegate(quality, stand_in, Role.QUALITY)
    for member in session.members.select_related("user"):
        vote(session, member.user, "approve")
    end(lent_cm, how)
    with pytest.raises(PermissionDenied, match="no longer holds"):
        decide(session, deputy, "approve")
    assert CCBSession.objects.get(pk=session.pk).status == CCBSession.Status.OPEN


# --- post-mortem -----------------------------------------------------------------------------------------------


@pytest.fixture
def in_review(oncall, commander, make_user):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    reviewer = make_user(Role.ONCALL, username="reviewer")
    deploy_and_resolve(change, reviewer=reviewer, commander=commander)
    pm = _full_post_mortem(change, oncall)
    return post_mortem_submit(post_mortem_id=pm.pk, actor=oncall)


def test_post_mortem_approved_by_a_delegate_names_both(client, in_review, commander, stand_in):
    lent = delegate(commander, stand_in, Role.COMMANDER)
    client.force_login(stand_in)
    url = reverse("emergencies:post-mortem", args=[in_review.change.identifier])
    assert 'value="commander"' in client.get(url).content.decode()
    end(lent, "revoked")
    with pytest.raises(PermissionDenied):
        post_mortem_approve(post_mortem_id=in_review.pk, signer=stand_in, password=PASSWORD, role=Role.COMMANDER)
    delegate(commander, stand_in, Role.COMMANDER)
    pm = post_mortem_approve(post_mortem_id=in_review.pk, signer=stand_in, password=PASSWORD, role=Role.COMMANDER)
    signature = Signature.objects.get(subject_id=pm.pk, meaning="approved", role="commander", signer=stand_in)
    assert_both_names(signature, stand_in, commander)
    assert "Stan Din on behalf of Carlos Commander" in client.get(url).content.decode()


def test_a_post_mortem_is_never_approved_on_behalf_of_its_author(in_review, oncall, stand_in):
    oncall.groups.add(Group.objects.get(name=Role.COMMANDER.group_name))
    author = User.objects.get(pk=oncall.pk)  # the author also holds an approver role, and lends it
    delegate(author, stand_in, Role.COMMANDER)
    with pytest.raises(PermissionDenied, match="on behalf of its own author"):
        post_mortem_approve(post_mortem_id=in_review.pk, signer=stand_in, password=PASSWORD, role=Role.COMMANDER)
    assert not Signature.objects.filter(signer=stand_in).exists()


# --- patch package ---------------------------------------------------------------------------------------------


@pytest.fixture
def patch_change(oncall, make_user):
    cm = make_user(Role.CM, username="cm", first_name="Cora", last_name="Config")
    program = make_user(Role.PROGRAM, username="program")
    return cm_wf_change(oncall, cm, program), cm


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_patch_package_approved_by_a_delegate_names_both(client, patch_change, oncall, stand_in, how):
    change, cm = patch_change
    package = draft(change, oncall)
    upload(package, oncall)
    upload(package, oncall, data=b"previous", name="fw-2.4.0.bin", kind="previous_version")
    lent = delegate(cm, stand_in, Role.CM)
    client.force_login(stand_in)
    page = client.get(reverse("emergencies:patch-detail", args=[change.identifier])).content.decode()
    assert 'value="cm"' in page
    end(lent, how)
    with pytest.raises(PermissionDenied):
        patch_package_approve(package_id=package.pk, signer=stand_in, password=PASSWORD, role=Role.CM)
    delegate(cm, stand_in, Role.CM)
    package = patch_package_approve(package_id=package.pk, signer=stand_in, password=PASSWORD, role=Role.CM)
    assert_both_names(package.approval_signature, stand_in, cm)
    page = client.get(reverse("emergencies:patch-detail", args=[change.identifier])).content.decode()
    assert "Stan Din on behalf of Cora Config" in page


def test_a_patch_package_is_never_approved_on_behalf_of_its_author(patch_change, stand_in, make_user):
    change, _ = patch_change
    author = make_user(Role.CM, Role.ONCALL, username="author")
    package = draft(change, author)
    upload(package, author)
    delegate(author, stand_in, Role.CM)
    with pytest.raises(PermissionDenied, match="on behalf of its own author"):
        patch_package_approve(package_id=package.pk, signer=stand_in, password=PASSWORD, role=Role.CM)
    assert not Signature.objects.filter(signer=stand_in).exists()


# --- procedure drafts ------------------------------------------------------------------------------------------


def test_procedure_draft_approved_by_a_delegate_and_the_separation_of_duties(client, make_user, stand_in):
    author = make_user(Role.QMS, username="author")
    quality = make_user(Role.QUALITY, username="quality", first_name="Quincy", last_name="Quality")
    both = make_user(Role.QUALITY, Role.QMS, username="both")
    draft_ = draft_in_review(author)
    lent = delegate(author, stand_in, Role.QMS)
    with pytest.raises(PermissionDenied, match="on behalf of its own author"):
        pd.procedure_draft_approve(draft_id=draft_.pk, signer=stand_in, password=PASSWORD, role=Role.QMS)
    end(lent, "revoked")
    # one person, two approver roles: in person as QMS, and by their delegate as quality
    pd.procedure_draft_approve(draft_id=draft_.pk, signer=both, password=PASSWORD, role=Role.QMS)
    from_both = delegate(both, stand_in, Role.QUALITY)
    with pytest.raises(PermissionDenied, match="two approver roles"):
        pd.procedure_draft_approve(draft_id=draft_.pk, signer=stand_in, password=PASSWORD, role=Role.QUALITY)
    end(from_both, "expired")
    with pytest.raises(PermissionDenied, match="does not hold"):
        pd.procedure_draft_approve(draft_id=draft_.pk, signer=stand_in, password=PASSWORD, role=Role.QUALITY)
    delegate(quality, stand_in, Role.QUALITY)
    client.force_login(stand_in)
    url = reverse("qms:procedure-draft", args=[draft_.pk])
    assert 'value="quality"' in client.get(url).content.decode()
    draft_ = pd.procedure_draft_approve(draft_id=draft_.pk, signer=stand_in, password=PASSWORD, role=Role.QUALITY)
    assert draft_.status == "approved"
    signature = Signature.objects.get(subject_id=draft_.pk, role="quality")
    assert_both_names(signature, stand_in, quality)
    assert "Stan Din on behalf of Quincy Quality" in client.get(url).content.decode()


# --- verbal approvals, their confirmation, and the dashboard ---------------------------------------------------


@pytest.fixture
def stub(oncall, commander):
    return BypassRequest.objects.get(change=file_stub(oncall, commander=commander))


def record(bypass, recorder, approver):
    return bypass_verbal_approval_record(
        bypass_id=bypass.pk,
        approver=approver,
        role=Role.COMMANDER,
        approved_at=timezone.now(),
        recorded_by=recorder,
        password=PASSWORD,
        comment="Approved on the bridge call",
    )


def test_a_verbal_approval_by_a_delegate_is_recorded_and_confirmed_on_behalf(stub, commander, stand_in, make_user):
    recorder = make_user(Role.QMS, username="recorder")
    delegate(commander, stand_in, Role.COMMANDER)
    record(stub, recorder, stand_in)
    verbal = Signature.objects.get(subject_id=stub.pk, method="verbal")
    assert verbal.on_behalf_of == commander and verbal.recorded_by == recorder
    assert verbal.signer_names == "Stan Din on behalf of Carlos Commander"
    confirmation = signature_confirm(signature_id=verbal.pk, signer=stand_in, password=PASSWORD)
    assert_both_names(confirmation, stand_in, commander)


def test_nobody_records_an_approval_given_on_their_own_behalf(stub, commander, stand_in):
    delegate(commander, stand_in, Role.COMMANDER)
    with pytest.raises(PermissionDenied, match="own behalf"):
        record(stub, commander, stand_in)
    assert not Signature.objects.exists()


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_an_ended_delegation_records_nothing(stub, commander, stand_in, make_user, how):
    lent = delegate(commander, stand_in, Role.COMMANDER)
    end(lent, how)
    with pytest.raises(PermissionDenied):
        record(stub, make_user(Role.QMS), stand_in)
    assert not Signature.objects.exists()


def test_the_dashboard_lists_what_waits_for_a_delegate(client, stub, oncall, commander, stand_in):
    assert bypasses_awaiting_signature(user=stand_in) == []
    lent = delegate(commander, stand_in, Role.COMMANDER)
    assert bypasses_awaiting_signature(user=stand_in) == [stub]
    client.force_login(stand_in)
    assert stub.identifier in client.get("/").content.decode()
    # nothing waits for a delegate on behalf of the requester
    assert bypasses_awaiting_signature(user=oncall) == []
    end(lent, "revoked")
    assert bypasses_awaiting_signature(user=stand_in) == []
