"""Follow-up and preventive changes filed before their own lifecycle existed move to its equivalent state (a
data migration, reversible), and a follow-up's page shows its own lifecycle, not the emergency's sections."""

import importlib
from pathlib import Path

import pytest
from django.apps import apps as global_apps
from django.urls import reverse
from django.utils import timezone

from emergencies.models import ChangeRecord
from emergencies.services import change_record_transition
from qms.roles import Role
from tests.factories import UserFactory, close_emergency, file_stub

pytestmark = pytest.mark.django_db
S = ChangeRecord.Status
MIGRATIONS = Path(__file__).resolve().parents[2] / "emergencies" / "migrations"


def data_migration():
    (path,) = MIGRATIONS.glob("*_controls_follow_ups_standard_lifecycle.py")
    return importlib.import_module(f"emergencies.migrations.{path.stem}")


def legacy(parent, status, *, source=ChangeRecord.Source.PREVENTIVE, n=0):
    """A follow-up as the emergency lifecycle left it before 0015: created straight in an emergency state."""
    change = ChangeRecord(
        identifier=f"CHG-20260101-000{n}",
        title=f"Legacy follow-up {n}",
        level=ChangeRecord.Level.STANDARD,
        source=source,
        status=status,
        incident=parent.incident,
        procedure_version=parent.procedure_version,
        author=parent.author,
        declared_at=timezone.now(),
        problem_statement="from a post-mortem",
        parent=parent,
        hotfix_in_progress=status == S.HOTFIX,
    )
    change._change_reason = "follow-up change created"
    change.save()
    return change


def test_stale_follow_ups_move_to_the_standard_lifecycle_with_a_history_row_and_back(oncall):
    parent = file_stub(oncall)
    stub = legacy(parent, S.STUB, n=1)
    converted = legacy(parent, S.CONVERTED, source=ChangeRecord.Source.FOLLOW_UP, n=2)
    hotfix = legacy(parent, S.HOTFIX, n=3)
    deployed = legacy(parent, S.MONITORING, n=4)
    closed = legacy(parent, S.CLOSED, n=5)
    migration = data_migration()

    migration.forwards(global_apps, None)
    expected = {stub: S.DRAFT, converted: S.DRAFT, hotfix: S.DRAFT, deployed: S.IMPLEMENTED, closed: S.CLOSED}
    for change, status in expected.items():
        change.refresh_from_db()
        assert change.status == status, change.title
    parent.refresh_from_db()
    assert parent.status == S.STUB  # an emergency is never touched
    assert not hotfix.hotfix_in_progress and not deployed.monitoring_active
    last = stub.history.order_by("-history_date", "-history_id").first()
    assert last.status == S.DRAFT and last.history_change_reason == (
        "moved to the standard lifecycle of follow-up changes (was stub)"
    )
    assert closed.history.count() == 1
    # Now it walks its own lifecycle: approved by someone other than its author.
    approver = UserFactory(roles=[Role.LEAD.value])
    change_record_transition(change_id=converted.pk, transition="approve_change", actor=approver, reason="ok")

    migration.forwards(global_apps, None)  # a second run finds nothing left to move
    assert stub.history.count() == 2

    migration.backwards(global_apps, None)
    for change, status in {stub: S.STUB, hotfix: S.HOTFIX, deployed: S.MONITORING, closed: S.CLOSED}.items():
        change.refresh_from_db()
        assert change.status == status, change.title
    hotfix.refresh_from_db()
    assert hotfix.hotfix_in_progress  # restored from the row before the move
    converted.refresh_from_db()
    assert converted.status == S.APPROVED  # moved on since: it has no emergency equivalent and stays
    last = stub.history.order_by("-history_date", "-history_id").first()
    assert last.status == S.STUB and "reversed" in last.history_change_reason
    assert stub.history.count() == 3  # nothing rewritten, one row per move


EMERGENCY_ONLY = (
    'data-testid="authorisation"',
    'data-testid="incident"',
    'aria-labelledby="s-immediate"',
    'aria-labelledby="s-todo"',
    'id="deployment"',
    'id="gates"',
    'id="closure"',
    'data-testid="ccb-panel"',
    'data-testid="war-room-link"',
    'data-testid="emg-e001"',
    'data-testid="rerequest"',
)


def test_a_follow_up_page_shows_its_own_lifecycle_not_the_emergency_sections(client, oncall, commander, make_user):
    emergency = file_stub(oncall, commander=commander, procedure_code="cm-wf-emergency")
    follow_up = legacy(emergency, S.DRAFT)  # as the post-mortem's "create follow-up" opens it now
    lead = make_user(Role.LEAD, username="lead")
    client.force_login(lead)
    page = client.get(follow_up.get_absolute_url()).content.decode()
    assert 'data-testid="standard-lifecycle"' in page and emergency.identifier in page
    assert 'data-step="draft:current"' in page and 'data-step="approved:pending"' in page
    for marker in EMERGENCY_ONLY:
        assert marker not in page, marker
    assert 'data-testid="action-approve_change"' in page  # its own next step

    client.post(reverse("emergencies:change-transition", args=[follow_up.identifier, "approve_change"]))
    page = client.get(follow_up.get_absolute_url()).content.decode()
    assert 'data-step="draft:done"' in page and 'data-step="approved:current"' in page
    assert lead.display_name in page

    # The emergency's page keeps its sections.
    page = client.get(emergency.get_absolute_url()).content.decode()
    assert 'data-testid="standard-lifecycle"' not in page
    for marker in ('data-testid="authorisation"', 'data-testid="incident"', 'data-testid="ccb-panel"'):
        assert marker in page, marker


def test_a_closed_emergencys_follow_up_is_counted_and_shows_no_closure_checklist(client, oncall, commander):
    emergency = close_emergency(file_stub(oncall, commander=commander))
    follow_up = ChangeRecord.objects.get(parent=emergency)
    client.force_login(oncall)
    page = client.get(follow_up.get_absolute_url()).content.decode()
    assert 'data-step="draft:current"' in page
    assert 'id="closure"' not in page and 'aria-labelledby="s-immediate"' not in page
