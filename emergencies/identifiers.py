"""Identifiers that sort by time: ``base`` (``CHG-EMG-20261123-0341``), then ``base-02``, ``base-03``… for
the next ones under the same base.

A counter row per base (``IdentifierCounter``) hands out the numbers: one ``INSERT … ON CONFLICT DO UPDATE …
RETURNING`` gives the next number of every base asked for, so a filing allocates its identifiers in one
statement and saves its records without a savepoint. The row stays locked until the transaction ends, so
concurrent filings under one base get consecutive numbers (a rolled-back filing gives its number back). The
first allocation under a base starts after the records already there (written before the counter, or by the
bulk seed), and every number is checked against the table in the same statement: one taken anyway (a ticket
typed in by hand) is skipped.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model

from emergencies.models import IdentifierCounter

MAX_SAME_MINUTE = 99
BASE_SHAPE = re.compile(r"^[A-Z0-9][A-Z0-9-]*$")  # no LIKE wildcard, nothing to escape


def identifiers_allocate(wanted: list[tuple[type[Model], str, str]]) -> list[str]:
    """The next free identifier for each ``(model, field_name, base)``, in one statement (a second one only
    when a number was already taken). Inside the caller's transaction, which keeps the numbers."""
    bases = [base for _, _, base in wanted]
    if len(set(bases)) != len(bases) or not all(BASE_SHAPE.match(b) for b in bases):
        raise ValueError(f"Identifier bases must be distinct and plain: {bases}")
    found: dict[str, str] = {}
    pending = list(wanted)
    while pending:
        taken = []
        for (model, field_name, base), (last, exists) in zip(pending, _next_numbers(pending), strict=True):
            if last > MAX_SAME_MINUTE:
                raise ValidationError(
                    f"More than {MAX_SAME_MINUTE} records were filed under {base}; try again in a minute."
                )
            if exists:
                taken.append((model, field_name, base))
            else:
                found[base] = base if last == 1 else f"{base}-{last:02d}"
        pending = taken
    return [found[base] for base in bases]


def _next_numbers(wanted: list[tuple[type[Model], str, str]]) -> list[tuple[int, bool]]:
    """For each base: its next number, and whether the identifier it makes is already in the table."""
    qn = connection.ops.quote_name
    counter = qn(IdentifierCounter._meta.db_table)
    last = f"{counter}.{qn('last')}"
    candidate = (
        f"{counter}.{qn('base')} || CASE WHEN {last} = 1 THEN '' WHEN {last} < 10 THEN '-0' || CAST({last} AS TEXT)"
        f" ELSE '-' || CAST({last} AS TEXT) END"
    )
    rows, checks, params, check_params = [], [], [], []
    for model, field_name, base in wanted:
        table, column = qn(model._meta.db_table), qn(model._meta.get_field(field_name).column)
        rows.append(f"(%s, (SELECT COUNT(*) FROM {table} WHERE {column} LIKE %s) + 1)")  # noqa: S608 (names)
        params += [base, f"{base}%"]
        checks.append(f"WHEN %s THEN EXISTS(SELECT 1 FROM {table} WHERE {column} = {candidate})")  # noqa: S608
        check_params.append(base)
    # Quoted table and column names only; every value is a parameter.
    sql = (
        f"INSERT INTO {counter} ({qn('base')}, {qn('last')}) VALUES {', '.join(rows)} "  # noqa: S608
        f"ON CONFLICT ({qn('base')}) DO UPDATE SET {qn('last')} = {last} + 1 "
        f"RETURNING {qn('base')}, {qn('last')}, CASE {qn('base')} {' '.join(checks)} END"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params + check_params)
        result = {base: (number, bool(exists)) for base, number, exists in cursor.fetchall()}
    return [result[base] for _, _, base in wanted]


def save_with_unique_identifier(obj: Model, *, field_name: str, base: str, identifier: str | None = None) -> None:
    """Save ``obj`` under the next identifier of ``base`` (or under ``identifier``, allocated beforehand with
    ``identifiers_allocate``), in the caller's transaction."""
    if identifier is None:
        (identifier,) = identifiers_allocate([(type(obj), field_name, base)])
    setattr(obj, field_name, identifier)
    obj.save()
