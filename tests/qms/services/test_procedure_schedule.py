"""A scheduled version can be cancelled before its date (service, page, API), audited; nothing is deleted."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from qms.limits import COMMENT_MAX
from qms.models import ProcedureDraft, ProcedureVersion
from qms.roles import Role
from qms.services import procedure_drafts as pd
from qms.services.procedure_schedule import procedure_schedule_cancel
from qms.services.procedures import procedure_version_current
from qms.tasks import procedure_versions_activate_task
from tests.factories import file_stub
from tests.qms.api.test_procedures import client_for
from tests.qms.procedures.helpers import EBW, approve_all, draft_in_review

pytestmark = pytest.mark.django_db
Status = ProcedureDraft.Status


@pytest.fixture
def people(make_user):
    roles = {
        "author": Role.QMS,
        "qms2": Role.QMS,
        "quality": Role.QUALITY,
        "auditor": Role.AUDITOR,
        "oncall": Role.ONCALL,
        "commander": Role.COMMANDER,
    }
    return {name: make_user(role) for name, role in roles.items()}


def _scheduled(people, days=2):
    draft = approve_all(draft_in_review(people["author"]), people["quality"], people["qms2"])
    when = timezone.now().replace(microsecond=0) + timedelta(days=days)
    return pd.procedure_draft_publish(draft_id=draft.pk, actor=people["author"], effective_from=when), when


def test_cancelled_version_never_takes_effect_and_the_old_stays_in_force(people, time_machine):
    old = procedure_version_current(code=EBW)
    draft, when = _scheduled(people)
    old.refresh_from_db()
    assert old.effective_until == when
    draft = procedure_schedule_cancel(draft_id=draft.pk, actor=people["quality"], reason="Wrong deadline.")
    assert draft.status == Status.WITHDRAWN
    old.refresh_from_db()
    cancelled = ProcedureVersion.objects.get(pk=draft.published_version_id)  # kept, never in force
    assert old.effective_until is None and cancelled.cancelled_at is not None and cancelled.effective_from == when
    event = AuditEvent.objects.get(action="procedure.schedule_cancelled")
    assert event.reason == "Wrong deadline." and event.actor == people["quality"]

    time_machine.move_to(when + timedelta(hours=1), tick=False)
    assert procedure_version_current(code=EBW) == old
    assert procedure_versions_activate_task() == 0
    assert file_stub(people["oncall"]).procedure_version == old
    # A new draft from the version in force can be published again, numbered after the cancelled one.
    again = pd.procedure_draft_publish(
        draft_id=approve_all(draft_in_review(people["author"]), people["quality"], people["qms2"]).pk,
        actor=people["author"],
    )
    assert again.published_version.version == cancelled.version + 1
    assert procedure_version_current(code=EBW) == again.published_version


@pytest.mark.parametrize(
    ("who", "error"), [("auditor", PermissionDenied), ("oncall", PermissionDenied), ("commander", PermissionDenied)]
)
def test_only_an_editor_cancels(people, who, error):
    draft, _ = _scheduled(people)
    with pytest.raises(error):
        procedure_schedule_cancel(draft_id=draft.pk, actor=people[who], reason="No.")
    draft.refresh_from_db()
    assert draft.status == Status.SCHEDULED
    assert not AuditEvent.objects.filter(action="procedure.schedule_cancelled").exists()


@pytest.mark.parametrize("reason", ["", "   ", "x" * (COMMENT_MAX + 1)])
def test_a_reason_is_required_and_bounded(people, reason):
    draft, _ = _scheduled(people)
    with pytest.raises(ValidationError) as exc:
        procedure_schedule_cancel(draft_id=draft.pk, actor=people["author"], reason=reason)
    assert "reason" in exc.value.message_dict
    draft.refresh_from_db()
    assert draft.status == Status.SCHEDULED


def test_a_version_in_force_or_a_draft_cannot_be_cancelled(people, time_machine):
    open_draft = draft_in_review(people["author"])
    with pytest.raises(ValidationError, match="Only a scheduled version"):
        procedure_schedule_cancel(draft_id=open_draft.pk, actor=people["author"], reason="No.")
    draft, when = _scheduled(people, days=1)
    time_machine.move_to(when + timedelta(seconds=1), tick=False)
    with pytest.raises(ValidationError, match="took effect"):
        procedure_schedule_cancel(draft_id=draft.pk, actor=people["author"], reason="Too late.")
    assert procedure_version_current(code=EBW) == draft.published_version


def test_cancel_on_the_page(client, people):
    draft, _ = _scheduled(people)
    page_url = reverse("qms:procedure-draft", args=[draft.pk])
    client.force_login(people["qms2"])
    assert 'data-testid="draft-cancel-schedule"' in client.get(page_url).content.decode()
    action = reverse("qms:procedure-draft-action", args=[draft.pk])
    page = client.post(action, {"action": "cancel_schedule", "reason": ""}, follow=True).content.decode()
    assert "Say why the schedule is cancelled" in page
    client.post(action, {"action": "cancel_schedule", "reason": "Superseded by the audit finding."})
    draft.refresh_from_db()
    assert draft.status == Status.WITHDRAWN
    client.force_login(people["auditor"])
    assert 'data-testid="draft-cancel-schedule"' not in client.get(page_url).content.decode()


def test_cancel_through_the_api(people):
    draft, _ = _scheduled(people)
    url = f"/api/v1/procedure-drafts/{draft.pk}/schedule-cancellation/"
    no_scope = client_for(people["quality"], scopes=["read"]).post(url, {"reason": "x"}, format="json")
    assert no_scope.status_code == 403
    auditor = client_for(people["auditor"]).post(url, {"reason": "x"}, format="json")
    assert auditor.status_code in (403, 404)
    answer = client_for(people["quality"]).post(url, {"reason": "Not ready."}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == "withdrawn"
    again = client_for(people["quality"]).post(url, {"reason": "Not ready."}, format="json")
    assert again.status_code == 400
