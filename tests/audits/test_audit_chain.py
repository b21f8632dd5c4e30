import itertools

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from audits.models import AuditEvent
from audits.services import audit_chain_verify, audit_event_record
from tests.conftest import requires_postgres
from tests.factories import file_stub

pytestmark = pytest.mark.django_db


def test_chain_links_every_event_to_the_one_before(oncall):
    file_stub(oncall)
    events = list(AuditEvent.objects.order_by("position"))
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert audit_chain_verify().ok


def _tamper(sql, params):
    """What a database superuser could do behind the portal's back: bypass the append-only triggers."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def test_verification_names_the_event_altered_in_sql(oncall):
    for _ in range(3):
        file_stub(oncall)
    target = AuditEvent.objects.order_by("position")[4]
    _tamper("UPDATE audits_auditevent SET reason = %s WHERE id = %s", ["nothing happened", target.pk])
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_at == target.position
    assert "altered" in report.problem


def test_verification_names_the_event_deleted_in_sql(oncall):
    for _ in range(3):
        file_stub(oncall)
    target = AuditEvent.objects.order_by("position")[2]
    _tamper("DELETE FROM audits_auditevent WHERE id = %s", [target.pk])
    report = audit_chain_verify()
    assert report.broken_at == target.position
    assert "missing" in report.problem


def test_verification_notices_a_deleted_tail(oncall):
    file_stub(oncall)
    last = AuditEvent.objects.order_by("-position").first()
    _tamper("DELETE FROM audits_auditevent WHERE id = %s", [last.pk])
    report = audit_chain_verify()
    assert report.broken_at == last.position


def test_verify_command_exits_non_zero_on_a_broken_chain(oncall, capsys):
    file_stub(oncall)
    call_command("verify_audit_chain")
    assert "intact" in capsys.readouterr().out
    first = AuditEvent.objects.order_by("position").first()
    _tamper("UPDATE audits_auditevent SET actor_name = %s WHERE id = %s", ["someone else", first.pk])
    with pytest.raises(SystemExit) as exc:
        call_command("verify_audit_chain")
    assert exc.value.code == 1
    assert f"#{first.position}" in capsys.readouterr().err


@requires_postgres
@pytest.mark.parametrize("sql", ["UPDATE audits_auditevent SET reason = 'x'", "DELETE FROM audits_auditevent"])
def test_database_refuses_update_and_delete_of_audit_events(oncall, sql):
    file_stub(oncall)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert audit_chain_verify().ok


def test_logins_and_failed_logins_are_audited(client, oncall):
    client.post(reverse("login"), {"username": "oncall", "password": "wrong"})
    client.post(reverse("login"), {"username": "oncall", "password": "pw-correct-horse"})
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions == ["auth.login_failed", "auth.login"]
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.after == {"username": "oncall"}
    assert failed.ip_address == "127.0.0.1"


def test_audit_trail_pages_are_for_oversight_roles(client, oncall, auditor):
    file_stub(oncall)
    client.force_login(oncall)
    assert client.get(reverse("audits:event-list")).status_code == 403
    client.force_login(auditor)
    assert client.get(reverse("audits:event-list")).status_code == 200
    response = client.get(reverse("audits:chain-verify"))
    assert "Intact" in response.content.decode()


def test_event_written_outside_a_transaction_still_chains(oncall):
    audit_event_record(action="test.one", actor=oncall)
    audit_event_record(action="test.two")
    assert audit_chain_verify().ok
