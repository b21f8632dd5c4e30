"""Every django-simple-history table becomes append-only on PostgreSQL, like the audit events.

History tables created by later migrations are protected by the post_migrate hook (audits.apps), which
calls the same helper; see audits/append_only.py.
"""

from django.db import migrations

from audits.append_only import APPEND_ONLY_TABLES, history_tables, protect_tables, unprotect_tables


def forwards(apps, schema_editor):
    protect_tables(schema_editor.connection, [*history_tables(apps), *APPEND_ONLY_TABLES])


def backwards(apps, schema_editor):
    # The audit events keep the trigger of 0003; only what this migration added is removed.
    tables = [*history_tables(apps), *APPEND_ONLY_TABLES]
    unprotect_tables(schema_editor.connection, [t for t in tables if t != "audits_auditevent"])


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0003_append_only"),
        ("qms", "0002_reference_data"),
        ("emergencies", "0002_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
