"""Follow-up and preventive changes run a standard-change lifecycle of their own (draft -> approved ->
implemented -> verified -> closed, approved and verified by someone other than the author), linked to their
emergency; the emergency's closure checklist counts them as created."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from audits.models import AuditEvent
from emergencies.models import ChangeRecord
from emergencies.services import change_record_transition
from emergencies.services.followups import preventive_change_create
from qms.roles import Role
from tests.factories import close_emergency, file_stub

pytestmark = pytest.mark.django_db
S = ChangeRecord.Status


def test_the_follow_up_of_a_closed_emergency_walks_its_own_lifecycle_through_the_page(
    client, oncall, commander, make_user, auditor
):
    emergency = close_emergency(file_stub(oncall, commander=commander))
    assert emergency.status == S.CLOSED  # its closure checklist counted the follow-up as created
    follow_up = ChangeRecord.objects.get(parent=emergency)
    assert follow_up.status == S.DRAFT and follow_up.level == ChangeRecord.Level.STANDARD
    author = follow_up.author
    lead = make_user(Role.LEAD, username="approver")

    def act(user, name):
        client.force_login(user)
        return client.post(reverse("emergencies:change-transition", args=[follow_up.identifier, name]), follow=True)

    client.force_login(author)
    assert "Approve (not the author)" not in client.get(follow_up.get_absolute_url()).content.decode()
    client.force_login(lead)
    page = client.get(follow_up.get_absolute_url()).content.decode()
    assert "Approve (not the author)" in page and emergency.identifier in page
    assert act(author, "approve_change").status_code == 403  # the author never approves
    assert act(auditor, "approve_change").status_code == 403
    assert "not possible while the change is draft" in act(author, "start_hotfix").content.decode()
    follow_up.refresh_from_db()
    assert follow_up.status == S.DRAFT and follow_up.approved_by is None

    act(lead, "approve_change")
    act(author, "implement_change")
    assert act(author, "verify_change").status_code == 403
    act(lead, "verify_change")
    act(author, "close_change")
    follow_up.refresh_from_db()
    assert follow_up.status == S.CLOSED and follow_up.closed_at is not None
    assert follow_up.approved_by == lead and follow_up.verified_by == lead
    actions = list(
        AuditEvent.objects.filter(subject_id=str(follow_up.pk), action__startswith="change.").values_list(
            "action", flat=True
        )
    )
    assert {"change.approve_change", "change.implement_change", "change.verify_change", "change.close_change"} <= set(
        actions
    )


def test_a_preventive_change_starts_as_a_draft_and_its_author_cannot_approve_it(make_user):
    lead = make_user(Role.LEAD, username="lead")
    other = make_user(Role.QMS, username="qms2")
    change = preventive_change_create(actor=lead, title="Raise the code-quality bar", problem_statement="repeat")
    assert change.status == S.DRAFT
    with pytest.raises(PermissionDenied):
        change_record_transition(change_id=change.pk, transition="approve_change", actor=lead)
    with pytest.raises(ValidationError, match="not possible"):
        change_record_transition(change_id=change.pk, transition="verify_change", actor=other)
    change = change_record_transition(change_id=change.pk, transition="approve_change", actor=other, reason="ok")
    assert change.status == S.APPROVED and change.approved_by == other
