"""History tables, audit events and signatures are append-only in the database itself."""

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from simple_history.models import HistoricalChanges

from audits.append_only import APPEND_ONLY_TABLES, history_tables, protect_tables, protected_tables
from audits.services import audit_chain_verify
from emergencies.models import ChangeRecord
from qms.models import User
from tests.conftest import requires_postgres
from tests.factories import authorise, file_stub

pytestmark = [pytest.mark.django_db, requires_postgres]


def _refused(sql: str, params=()) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_every_history_table_and_every_append_only_table_carries_the_trigger():
    tables = history_tables(apps)
    assert "emergencies_historicalchangerecord" in tables
    assert "qms_historicaluser" in tables
    assert len(tables) == sum(1 for m in apps.get_models() if issubclass(m, HistoricalChanges))
    existing = set(connection.introspection.table_names())
    expected = {t for t in [*tables, *APPEND_ONLY_TABLES] if t in existing}
    assert expected <= protected_tables(connection)


@pytest.mark.parametrize(
    "table", ["emergencies_historicalchangerecord", "emergencies_historicalincident", "audits_historicalobligation"]
)
def test_database_refuses_update_and_delete_of_history_rows(oncall, table):
    change = file_stub(oncall)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        rows = cursor.fetchone()[0]
    assert rows > 0
    _refused(f"UPDATE {table} SET history_change_reason = 'rewritten'")
    _refused(f"DELETE FROM {table}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE history_change_reason = 'rewritten'")
        assert cursor.fetchone()[0] == 0
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone()[0] == rows
    assert change.history.count() == 1


def test_the_orm_cannot_rewrite_history_either(oncall):
    change = file_stub(oncall)
    record = change.history.first()
    record.history_change_reason = "rewritten"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        record.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        ChangeRecord.history.filter(id=change.pk).delete()
    assert change.history.get().history_change_reason == "emergency stub filed"


def test_history_keeps_growing_through_normal_writes(oncall, commander):
    change = file_stub(oncall, commander=commander)
    from emergencies.services import change_record_transition

    authorise(change, commander)
    before = change.history.count()
    change_record_transition(change_id=change.pk, transition="start_hotfix", actor=oncall)
    assert change.history.count() == before + 1
    assert audit_chain_verify().ok


def test_users_are_never_deleted_the_database_refuses(oncall, make_user):
    admin = make_user(trained=False)  # no training records: their protected keys would refuse before the database
    oncall.first_name, oncall._history_user = "Olive", admin
    oncall.save()  # admin now names a history row: deleting them would UPDATE it (SET_NULL)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        User.objects.filter(pk=admin.pk).delete()
    assert User.objects.filter(pk=admin.pk).exists()


def test_protecting_is_idempotent_and_skips_tables_that_do_not_exist():
    before = protected_tables(connection)
    assert protect_tables(connection, ["emergencies_historicalchangerecord", "no_such_table"]) == []
    assert protected_tables(connection) == before


def test_a_history_table_without_its_trigger_gets_it_back_on_the_next_migrate():
    from audits.append_only import TRIGGER_NAME, protect_history_tables

    with connection.cursor() as cursor:
        cursor.execute(f'DROP TRIGGER "{TRIGGER_NAME}" ON "qms_historicaluser"')
    assert "qms_historicaluser" not in protected_tables(connection)
    protect_history_tables(using="default")  # what post_migrate runs after every migrate and flush
    assert "qms_historicaluser" in protected_tables(connection)
