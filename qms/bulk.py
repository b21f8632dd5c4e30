"""Set-based writes for the jobs that touch thousands of rows at once (the escalation sweep, the bulk seeder).

Django's ``bulk_create`` and simple-history's ``bulk_update_with_history`` build one Python object per row and,
for updates, one ``CASE WHEN`` arm per row; at 10^4-10^5 rows that is most of a job's time. These helpers keep
the same guarantees (every change of a tracked row gets its history row, in the same transaction) with a
constant number of statements per call: ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere (the zero-setup
SQLite), and ``UPDATE … WHERE id IN`` followed by ``INSERT … SELECT`` into the historical table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from django.db import connection
from django.db.models import Model


def _chunks(pks: Sequence[int]) -> Iterator[Sequence[int]]:
    # SQLite caps the parameters of one statement; PostgreSQL does not.
    size = connection.features.max_query_params or len(pks) or 1
    size = max(1, size - 10)
    for start in range(0, len(pks), size):
        yield pks[start : start + size]


def rows_insert(model: type[Model], rows: list[dict], *, ids: bool = True) -> list[int]:
    """Insert rows given as dicts of field values (attnames); return their primary keys when ``ids``.

    PostgreSQL gets COPY (five to eight times faster than INSERTs), with the primary keys drawn from the
    table's sequence first; other databases get ``bulk_create``. No signals, no ``save()``: callers write
    what ``save()`` would have (history rows included).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create([model(**row) for row in rows], batch_size=500)
        return [obj.pk for obj in created] if ids else []
    meta = model._meta
    pks: list[int] = []
    with connection.cursor() as cursor:
        if ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(rows)],
            )
            pks = [pk for (pk,) in cursor.fetchall()]
            for row, pk in zip(rows, pks, strict=True):
                row[meta.pk.attname] = pk
        # Fields the caller does not name get their model default, as an INSERT through the ORM would.
        defaults = {
            f.attname: f.get_default() for f in meta.concrete_fields if f.attname not in rows[0] and not f.primary_key
        }
        names = [*rows[0], *defaults]
        rows = [{**row, **defaults} for row in rows] if defaults else rows
        columns = ", ".join(connection.ops.quote_name(meta.get_field(n).column) for n in names)
        json_names = {n for n in names if meta.get_field(n).get_internal_type() == "JSONField"}
        with cursor.cursor.copy(f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[n], default=str) if n in json_names else row[n] for n in names])
    return pks


def rows_update_with_history(
    model: type[Model],
    pks: Sequence[int],
    values: dict,
    *,
    at: datetime,
    reason: str,
    user_id: int | None = None,
) -> int:
    """Set ``values`` on the rows ``pks`` and record one history row each (type ``~``), in two statements per
    chunk, in the caller's transaction. The caller holds the rows' locks (``select_for_update``)."""
    if not pks:
        return 0
    meta, history = model._meta, model.history.model
    quote = connection.ops.quote_name
    tracked = ", ".join(quote(f.column) for f in history._meta.concrete_fields if not f.name.startswith("history_"))
    marks = ("history_date", "history_change_reason", "history_type", "history_user_id")
    fields = [meta.get_field(name) for name in values]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    prepared = [f.get_db_prep_save(values[f.name], connection) for f in fields]
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    updated = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(list(pks)):
            # One array parameter on PostgreSQL; a list of them elsewhere.
            where, ids = (
                (f"{pk} = ANY(%s)", [list(chunk)])
                if connection.vendor == "postgresql"
                else (
                    f"{pk} IN ({', '.join(['%s'] * len(chunk))})",
                    list(chunk),
                )
            )
            cursor.execute(f"UPDATE {table} SET {assignments} WHERE {where}", [*prepared, *ids])  # noqa: S608
            updated += cursor.rowcount
            cursor.execute(
                f"INSERT INTO {quote(history._meta.db_table)} ({tracked}, {', '.join(quote(m) for m in marks)}) "  # noqa: S608
                f"SELECT {tracked}, %s, %s, %s, %s FROM {table} WHERE {where}",
                [at, reason, "~", user_id, *ids],
            )
    return updated
