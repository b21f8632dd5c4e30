"""Appending to the audit chain advances the head this connection last wrote with one conditional UPDATE;
whatever moved the head meanwhile (another writer, a savepoint rolled back) sends it back to the locked read."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audits.models import AuditChainHead, AuditEvent
from audits.services import audit_chain_verify, audit_event_record, audit_events_append

pytestmark = pytest.mark.django_db


def _record(action: str) -> AuditEvent:
    return audit_event_record(action=action, reason="test")


def test_a_second_event_costs_two_statements_and_the_chain_stays_valid():
    _record("first")
    with CaptureQueriesContext(connection) as queries:
        event = _record("second")
    assert len(queries) == 2  # the conditional head UPDATE and the INSERT
    head = AuditChainHead.objects.get(pk=1)
    assert (head.position, head.hash) == (event.position, event.hash)
    assert audit_chain_verify().ok


def test_an_event_rolled_back_in_a_savepoint_does_not_break_the_chain():
    _record("kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        _record("rolled back")
        raise RuntimeError
    event = _record("after the rollback")
    assert AuditEvent.objects.filter(action="rolled back").count() == 0
    assert event.position == AuditEvent.objects.filter(action="kept").get().position + 1
    assert audit_chain_verify().ok


def test_another_writer_moving_the_head_is_seen():
    _record("mine")
    audit_events_append([{"action": "theirs", "subject_type": "", "subject_id": "", "reason": ""}])  # moves it
    event = _record("mine again")
    theirs = AuditEvent.objects.get(action="theirs")
    assert (event.position, event.prev_hash) == (theirs.position + 1, theirs.hash)
    assert audit_chain_verify().ok


def test_a_head_changed_behind_the_connections_back_is_read_again():
    first = _record("one")
    AuditChainHead.objects.filter(pk=1).update(position=first.position, hash="f" * 64)  # as if someone else
    with CaptureQueriesContext(connection) as queries:
        event = _record("two")
    assert event.prev_hash == "f" * 64 and len(queries) == 4  # missed UPDATE, locked read, UPDATE, INSERT
