"""Set-based writes for the jobs that touch thousands of rows at once (the escalation sweep, the bulk seeder).

Django's ``bulk_create`` and simple-history's ``bulk_update_with_history`` build one Python object per row and,
for updates, one ``CASE WHEN`` arm per row; at 10^4-10^5 rows that is most of a job's time. These helpers keep
the same guarantees (every change of a tracked row gets its history row, in the same transaction) with a
constant number of statements per call: binary ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere (the zero-setup
SQLite), and ``UPDATE … WHERE id IN`` followed by ``INSERT … SELECT`` into the historical table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from operator import itemgetter

from django.db import connection
from django.db.models import Model
from psycopg.types.json import Jsonb


def _chunks(pks: Sequence[int]) -> Iterator[Sequence[int]]:
    # SQLite caps the parameters of one statement; PostgreSQL does not.
    size = connection.features.max_query_params or len(pks) or 1
    size = max(1, size - 10)
    for start in range(0, len(pks), size):
        yield pks[start : start + size]


def pks_draw(model: type[Model], n: int) -> list[int]:
    """``n`` primary keys from the table's sequence (PostgreSQL), so rows can name each other before they are
    written."""
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, n],
        )
        return [pk for (pk,) in cursor.fetchall()]


def rows_insert(model: type[Model], rows: list[dict], *, ids: bool = True) -> list[int]:
    """Insert rows given as dicts of field values (attnames); with ``ids``, draw their primary keys first and
    return them (without, the rows carry their own, or need none).

    PostgreSQL gets binary COPY (five to eight times faster than INSERTs); other databases (the zero-setup
    SQLite) get ``bulk_create``. No signals, no ``save()``: callers write what ``save()`` would have (history
    rows included). Fields the rows do not name get their model default, as an INSERT through the ORM would.
    """
    if not rows:
        return []
    meta = model._meta
    if connection.vendor != "postgresql":
        created = model._default_manager.bulk_create([model(**row) for row in rows], batch_size=500)
        return [obj.pk for obj in created] if ids else []
    pks = pks_draw(model, len(rows)) if ids else []
    for row, pk in zip(rows, pks, strict=False):  # no keys drawn: the rows carry theirs, or need none
        row[meta.pk.attname] = pk
    with connection.cursor() as cursor:
        defaults = {f.attname: f.get_default() for f in meta.concrete_fields if f.attname not in rows[0]}
        defaults.pop(meta.pk.attname, None)
        given = list(rows[0])
        fields = [meta.get_field(n) for n in (*given, *defaults)]
        types = [_pg_type(f) for f in fields]
        json_at = [i for i, t in enumerate(types) if t == "jsonb"]
        pick, tail = itemgetter(*given), tuple(defaults.values())
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        sql = f"COPY {connection.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                values = pick(row) if len(given) > 1 else (row[given[0]],)
                if tail:
                    values += tail
                if json_at:
                    values = list(values)
                    for i in json_at:
                        values[i] = Jsonb(values[i], dumps=_json_text)
                copy.write_row(values)
    return pks


_json = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=False).encode


def _json_text(value) -> str:
    return ("{}" if isinstance(value, dict) else "[]") if not value else _json(value)


PG_TYPES = {
    "AutoField": "int4",
    "BigAutoField": "int8",
    "IntegerField": "int4",
    "BigIntegerField": "int8",
    "SmallIntegerField": "int2",
    "PositiveIntegerField": "int4",
    "PositiveBigIntegerField": "int8",
    "PositiveSmallIntegerField": "int2",
    "BooleanField": "bool",
    "DateTimeField": "timestamptz",
    "DateField": "date",
    "DecimalField": "numeric",
    "JSONField": "jsonb",
    "CharField": "text",
    "TextField": "text",
    "SlugField": "text",
    "EmailField": "text",
    "GenericIPAddressField": "inet",
}


def _pg_type(field) -> str:
    """The PostgreSQL type binary COPY sends a field's values as (a foreign key: its target's type)."""
    target = field.target_field if field.is_relation else field
    kind = target.get_internal_type()
    if field.is_relation and kind in ("AutoField", "BigAutoField"):
        kind = "IntegerField" if kind == "AutoField" else "BigIntegerField"
    return PG_TYPES.get(kind, "text")  # FSMField and other text


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
