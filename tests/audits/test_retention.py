"""Retention: 7 years from when a record was last in effect; a purge of anything younger is refused."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from audits.models import AuditEvent
from audits.retention import changes_with_last_in_effect, records_purge, retention_cutoff
from emergencies.models import ChangeRecord
from qms.roles import Role
from tests.factories import close_emergency, file_stub

pytestmark = pytest.mark.django_db

NOW = datetime(2034, 6, 1, 12, 0, tzinfo=UTC)


def _closed(actor, closer, at: datetime) -> ChangeRecord:
    return close_emergency(file_stub(actor, now=at), now=at)


@pytest.fixture
def records(oncall, qms_coordinator, time_machine):
    time_machine.move_to(datetime(2026, 5, 1, tzinfo=UTC), tick=False)
    old = _closed(oncall, qms_coordinator, datetime(2026, 5, 1, tzinfo=UTC))  # closed 8 years before NOW
    still_open = file_stub(oncall, now=datetime(2026, 5, 2, tzinfo=UTC))
    time_machine.move_to(datetime(2028, 7, 1, tzinfo=UTC), tick=False)
    young = _closed(oncall, qms_coordinator, datetime(2028, 7, 1, tzinfo=UTC))  # 6 years before NOW
    time_machine.move_to(NOW, tick=False)
    return old, still_open, young


def test_cutoff_is_seven_years_before_now():
    assert retention_cutoff(now=NOW) == datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
    assert retention_cutoff(now=datetime(2032, 2, 29, tzinfo=UTC)) == datetime(2025, 2, 28, tzinfo=UTC)


def test_last_in_effect_is_the_closing_or_the_last_history_row(records):
    old, still_open, _ = records
    annotated = changes_with_last_in_effect().get(pk=old.pk)
    assert annotated.last_in_effect == datetime(2026, 5, 1, tzinfo=UTC)
    assert changes_with_last_in_effect().get(pk=still_open.pk).last_in_effect is not None


def test_a_cut_off_younger_than_seven_years_is_refused_and_changes_nothing(records, qms_coordinator):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="kept 7 years"):
        records_purge(before=datetime(2028, 1, 1, tzinfo=UTC), actor=qms_coordinator, confirm=True, now=NOW)
    assert AuditEvent.objects.count() == events
    assert ChangeRecord.objects.filter(level="emergency").count() == 3


def test_only_closed_records_past_retention_are_eligible_and_nothing_is_deleted(records, qms_coordinator):
    old, _still_open, _young = records
    history_rows = old.history.count()
    result = records_purge(before=datetime(2027, 6, 1, tzinfo=UTC), actor=qms_coordinator, now=NOW)
    assert result.eligible == [old.identifier]
    assert result.deleted == 0
    assert result.event is None
    confirmed = records_purge(before=datetime(2027, 6, 1, tzinfo=UTC), actor=qms_coordinator, confirm=True, now=NOW)
    assert confirmed.event.action == "retention.reviewed"
    assert confirmed.event.after == {"before": "2027-06-01T00:00:00+00:00", "eligible": [old.identifier], "deleted": 0}
    assert ChangeRecord.objects.filter(level="emergency").count() == 3
    assert old.history.count() == history_rows


def test_only_qms_coordinators_review_and_naive_dates_are_refused(records, make_user, qms_coordinator):
    with pytest.raises(PermissionDenied):
        records_purge(before=datetime(2020, 1, 1, tzinfo=UTC), actor=make_user(Role.AUDITOR), now=NOW)
    with pytest.raises(ValidationError, match="time zone"):
        records_purge(before=datetime(2020, 1, 1), actor=qms_coordinator, now=NOW)


def test_purge_command(records, capsys):
    old = records[0]
    with pytest.raises(SystemExit) as exc:
        call_command("purge_records", "--before", "2030-01-01")
    assert exc.value.code == 1
    assert "Refused" in capsys.readouterr().err
    call_command("purge_records", "--before", "2027-06-01", "--confirm", "--as", "qms")
    out = capsys.readouterr().out
    assert old.identifier in out
    assert "Nothing was deleted" in out
    assert AuditEvent.objects.get(action="retention.reviewed").actor_name == "Quinn Coordinator"
