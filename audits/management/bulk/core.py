"""What every part of the bulk seed shares: the row writer, primary keys drawn ahead, history rows, the
subjects that audit events, clocks and signatures point at, and unique identifiers (``audits.management.bulk``
says what the seed writes and why it is written this way)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.db import connection
from django.db.models import Max, Model

from qms.bulk import pks_draw
from qms.models import Signature, User
from qms.roles import Role

US = timedelta(microseconds=1)  # orders events that the services write in the same instant
PROBLEMS = {
    "p1_incident": ("{system} returns 500 for every request", "Since the last deploy every call to {system} fails."),
    "critical_security": ("{system} accepts forged tokens", "A CVE under active exploitation affects {system}."),
    "data_breach": ("{system} exposed customer data", "Customer records were readable through {system}."),
}


@contextmanager
def given_timestamps(*models: type[Model]) -> Iterator[None]:
    """Let the writer keep the created_at / updated_at we give (auto_now would stamp the seeding time).

    Flips the fields' flags for the duration; fine in this one-off command, never in a server.
    """
    fields = [
        f
        for m in models
        for f in m._meta.concrete_fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def weighted(rng: random.Random, mix: dict) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def between(rng: random.Random, start: datetime, end: datetime, low: float = 0.0, high: float = 1.0) -> datetime:
    """A time in the [low, high] part of [start, end]."""
    return start + (end - start) * rng.uniform(low, high)


def history(snapshot: dict, *, pk: int, at: datetime, kind: str, user: User | None, reason: str) -> dict:
    """A django-simple-history row: the record's fields as they were, and who changed them, when and why."""
    return {
        **snapshot,
        "id": pk,
        "history_date": at,
        "history_type": kind,
        "history_user_id": user.pk if user else None,
        "history_change_reason": reason,
    }


@cache
def historical(model: type[Model]) -> type[Model]:
    return model.history.model  # the descriptor builds a manager on every access


@cache
def field_names(model: type[Model], *, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname not in without)


@dataclass(frozen=True, slots=True)
class Subject:
    """A record as audit events, clocks and signatures name it."""

    ct_id: int  # its content type
    pk: int
    label: str  # str(record)
    url: str
    audit_type: str  # model._meta.label_lower

    @property
    def ref(self) -> dict:
        return {"subject_type_id": self.ct_id, "subject_id": self.pk, "subject_label": self.label}


class Ids:
    """Primary keys drawn from the tables' sequences ahead of the rows, a few thousand at a time, so a row can
    name another before either is written (the foreign keys are checked at commit). Without sequences (the
    zero-setup SQLite, where the seed runs in one thread) they count on from the largest key."""

    CHUNK = 5000

    def __init__(self) -> None:
        self.sequences = connection.vendor == "postgresql"
        self._free: dict[type[Model], list[int]] = {}
        self._next: dict[type[Model], int] = {}

    def next(self, model: type[Model]) -> int:
        free = self._free.setdefault(model, [])
        if not free:
            free.extend(reversed(self._draw(model, self.CHUNK)))
        return free.pop()

    def _draw(self, model: type[Model], n: int) -> list[int]:
        if not self.sequences:
            first = self._next.get(model) or (model._default_manager.aggregate(m=Max("pk"))["m"] or 0) + 1
            self._next[model] = first + n
            return list(range(first, first + n))
        return pks_draw(model, n)


def unique_identifiers(
    model: type[Model], field_name: str, bases: list[str], *, in_flight: set[str], issued: set[str]
) -> list[str]:
    """``base``, or ``base-02``, ``base-03``… when taken (in the database, in the batch still being written,
    ``in_flight``, or earlier in ``bases``), as ``emergencies.identifiers.save_with_unique_identifier`` does;
    adds what it gives to ``issued``. One query per call: pass bases that share a prefix and lie close
    together."""
    if not bases:
        return []
    lo, hi = min(bases), max(bases) + "-99"
    taken = set(model._default_manager.filter(**{f"{field_name}__range": (lo, hi)}).values_list(field_name, flat=True))
    taken |= {i for i in in_flight if lo <= i <= hi}
    out = []
    for base in bases:
        n, candidate = 1, base
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n:02d}"
        taken.add(candidate)
        out.append(candidate)
    issued.update(out)
    return out


@dataclass(slots=True)
class Sig:
    """A signature to write (qms.models.Signature): who, in which role, what it means, when."""

    signer: User
    role: Role
    at: datetime  # signed_at
    meaning: str = Signature.Meaning.APPROVED
    comment: str = ""
    method: str = Signature.Method.E_SIGNATURE
    recorded_by: User | None = None  # a verbal or written approval, recorded by someone else
    approved_at: datetime | None = None  # for those: when it was given
    confirm_at: datetime | None = None  # for those: when the signer confirmed it with their own signature


@dataclass(slots=True)
class GateCheck:
    """One gate an emergency bypassed, validated after the fact (emergencies.models.GateResult)."""

    gate: str
    result: str
    at: datetime
    validator: User
    evidence: str
