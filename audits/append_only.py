"""Append-only tables, enforced by PostgreSQL: a row trigger refuses UPDATE and DELETE.

Protected: the audit events, every django-simple-history table (the field-level history of every
record) and whatever a migration names with ``protect_tables`` (signatures, votes). History tables
that later migrations create are protected by the ``post_migrate`` hook (``protect_history_tables``),
so a new tracked model is covered without anyone remembering to.

To protect a new append-only table, name it in ``APPEND_ONLY_TABLES`` below (the next ``migrate``
protects it), or, to have it in the migration history, add a migration to ``audits`` that depends on
the migration that creates it::

    from audits.append_only import protect_tables_operation

    class Migration(migrations.Migration):
        dependencies = [("audits", "0004_history_append_only"), ("qms", "0004_signature")]
        operations = [protect_tables_operation("qms_signature", "emergencies_vote")]

What the triggers do not see, by design: TRUNCATE (statement level; it is how the test suite empties
the database, and it needs the table owner's rights), and DDL. A migration that must rewrite existing
history rows (rare: a data migration over history) has to drop and re-create the trigger around it,
visibly, in its own operations. Users are deactivated, never deleted, because deleting one would
UPDATE the history rows that name them (``history_user`` is SET_NULL) and the trigger refuses that.

Other databases (the zero-setup SQLite) get no trigger: the admin and the services refuse the changes,
and the audit chain's hashes show any that happened anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections, migrations

FUNCTION_NAME = "qms_refuse_change"
TRIGGER_NAME = "qms_append_only"

FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION_NAME}() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% on % is not allowed: audit records are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

# Append-only tables that are not history tables. Add a table here and the next ``migrate`` protects it
# (the post_migrate hook); a table that does not exist yet is skipped until it does.
APPEND_ONLY_TABLES = (
    "audits_auditevent",
    "qms_signature",
    # The emergency CCB: signed votes, gate decisions, regulatory notifications and status updates.
    "emergencies_vote",
    "emergencies_gatedecision",
    "emergencies_regulatorynotification",
    "emergencies_statusupdate",
    # Post-incident evidence and patch distribution logs.
    "emergencies_gateresult",
    "emergencies_rollbacktriggerreading",
    "emergencies_unitevent",
    "emergencies_followupdocument",
    "emergencies_bypassremediation",
    # The war room: responders' log entries (a correction is a new entry).
    "emergencies_warroomentry",
    # Training records that qualify signers (a recertification or correction is a new record).
    "qms_trainingrecord",
)

PROTECTED_TABLES_SQL = f"""
SELECT DISTINCT c.relname
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.proname = '{FUNCTION_NAME}' AND NOT t.tgisinternal
"""  # noqa: S608  (constants only)


def protected_tables(connection) -> set[str]:
    """Tables that carry the append-only trigger (empty on databases without triggers)."""
    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute(PROTECTED_TABLES_SQL)
        return {row[0] for row in cursor.fetchall()}


def protect_tables(connection, tables: Iterable[str]) -> list[str]:
    """Put the append-only trigger on each existing table that lacks it; returns the ones it protected.

    Idempotent, so the migration and the ``post_migrate`` hook can both call it.
    """
    if connection.vendor != "postgresql":
        return []
    existing = set(connection.introspection.table_names())
    wanted = [t for t in dict.fromkeys(tables) if t in existing]
    missing = [t for t in wanted if t not in protected_tables(connection)]
    if not missing:
        return []
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(FUNCTION_SQL)
        for table in missing:
            cursor.execute(
                f"CREATE TRIGGER {qn(TRIGGER_NAME)} BEFORE UPDATE OR DELETE ON {qn(table)} "
                f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION_NAME}()"
            )
    return missing


def unprotect_tables(connection, tables: Iterable[str]) -> None:
    if connection.vendor != "postgresql":
        return
    qn = connection.ops.quote_name
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in tables:
            if table in existing:
                cursor.execute(f"DROP TRIGGER IF EXISTS {qn(TRIGGER_NAME)} ON {qn(table)}")


def history_tables(apps) -> list[str]:
    """The tables of every django-simple-history model known to ``apps`` (real or migration state)."""
    from simple_history.models import HistoricalChanges

    return sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=False)
        if issubclass(model, HistoricalChanges) and model._meta.managed
    )


def protect_tables_operation(*tables: str) -> migrations.RunPython:
    """A migration operation that makes the named tables append-only (and undoes it when reversed)."""

    def forwards(apps, schema_editor):
        protect_tables(schema_editor.connection, tables)

    def backwards(apps, schema_editor):
        unprotect_tables(schema_editor.connection, tables)

    return migrations.RunPython(forwards, backwards, elidable=False)


def protect_history_tables(sender=None, *, using: str = "default", apps=None, **kwargs) -> None:
    """``post_migrate``: every history table, including ones created after the audits migrations ran."""
    from django.apps import apps as global_apps

    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    protect_tables(connection, [*history_tables(apps or global_apps), *APPEND_ONLY_TABLES])
