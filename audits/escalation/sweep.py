"""The escalation sweep: every open obligation that is overdue climbs the procedure's ladder, once per step.

Set-based: per batch, one locking query per ladder step selects the obligations whose lateness puts them on
that step (a slice of ``due_at``), read as plain values; then the escalation levels and their history rows
(``qms.bulk.rows_update_with_history``: two statements per level reached), the notifications (one per
recipient) and the audit events (one ``COPY``) are written. The number of queries grows with the number of
batches, never with the rows in a batch, and no Python model object is built per obligation.

Each recipient gets one message per batch, a digest of every clock the batch escalated to them (most overdue
first, a link to the rest); the worker renders it at delivery, so a backlog of 10^5 clocks after an outage is a
few dozen emails, not hundreds of thousands. One audit event per record and batch names its clocks, the steps each
passed and who was told.

Two sweeps at once (two beat processes, a retried task) never notify twice: candidates are locked with
``SELECT … FOR UPDATE SKIP LOCKED`` and re-checked against their level under the lock, so each (obligation,
step) lands in exactly one batch; a digest's dedupe key is derived from the (obligation, step) pairs it carries.

The same sweep looks for repeat-bypass patterns (the same repository and check bypassed ``min_bypasses`` times
within ``window_days``): each escalates to the leads and the QMS coordinator and opens a ``preventive_change``
obligation on the latest bypass of the pattern, which then climbs the ladder like any other clock.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from audits.escalation.digests import _Digests
from audits.escalation.directory import _Directory, compliance_definition
from audits.escalation.patterns import repeat_bypass_sweep
from audits.models import Obligation
from audits.services.trail import audit_events_append
from qms.bulk import rows_update_with_history
from qms.procedures import EscalationStep, escalation_steps
from qms.roles import Role
from qms.services import notification_queue_many

logger = logging.getLogger(__name__)

CANDIDATE_FIELDS = (
    "pk",
    "escalation_level",
    "due_at",
    "owner_id",
    "owner_role",
    "subject_type_id",
    "subject_id",
    "subject_label",
    "subject_url",
    "kind",
    "key",
    "label",
)


@dataclass
class SweepResult:
    escalated: int = 0
    notifications: int = 0
    batches: int = 0
    by_level: dict[int, int] = field(default_factory=dict)
    patterns: int = 0
    drained: bool = False  # a batch found nothing more to do (rows another sweep held locked are its own)

    def __int__(self) -> int:
        return self.escalated


def _step_candidates(
    steps: list[EscalationStep], *, now: datetime, limit: int, since: datetime | None = None, recent=()
) -> list[tuple[EscalationStep, list]]:
    """Lock up to ``limit`` overdue obligations, each with the highest step its lateness has reached.

    One query per step: step k takes the obligations below level k whose due time lies between the delays of
    step k and step k+1 (a slice of ``due_at``), so no obligation is picked by two steps. With ``since`` (a beat
    tick after a drained sweep, ``audits.escalation.fanout``) a step looks only at the clocks its delay reached
    after ``since`` and at the clocks written since then (``recent``, their pks): the rest was seen already.
    """
    picked = []
    for index in range(len(steps) - 1, -1, -1):
        if limit <= 0:
            break
        step = steps[index]
        qs = Obligation.objects.filter(
            satisfied_at__isnull=True, escalation_level__lt=step.level, due_at__lte=now - step.after
        )
        if index + 1 < len(steps):
            qs = qs.filter(due_at__gt=now - steps[index + 1].after)
        if since is not None:
            qs = qs.filter(Q(due_at__gt=since - step.after) | Q(pk__in=list(recent)))
        rows = list(
            qs.select_for_update(skip_locked=True, of=("self",))
            .order_by("due_at", "pk")
            .values(*CANDIDATE_FIELDS)[:limit]
        )
        if rows:
            picked.append((step, rows))
            limit -= len(rows)
    return picked


def _escalate_batch(
    steps: list[EscalationStep],
    directory: _Directory,
    *,
    now: datetime,
    batch: int,
    result: SweepResult,
    since: datetime | None = None,
    recent=(),
) -> int:
    with transaction.atomic():
        picked = _step_candidates(steps, now=now, limit=batch, since=since, recent=recent)
        if not picked:
            return 0
        directory.load({row["owner_id"] for _, rows in picked for row in rows if row["owner_id"]})
        digests, events, escalated = _Digests(directory), [], 0
        for target, rows in picked:
            ladders: dict[int, list[EscalationStep]] = {}  # from level -> the steps reached
            by_subject: dict[tuple[int, int], list[tuple[dict, list[EscalationStep], set[str]]]] = defaultdict(list)
            for row in rows:
                before = row["escalation_level"]
                if before not in ladders:
                    ladders[before] = [s for s in steps if before < s.level <= target.level]
                reached = ladders[before]
                notified: set[str] = set()
                for step in reached:
                    notified |= digests.add(step, row, target)
                by_subject[(row["subject_type_id"], row["subject_id"])].append((row, reached, notified))
            events += [_escalation_event(target, clocks) for clocks in by_subject.values()]
            rows_update_with_history(
                Obligation,
                [row["pk"] for row in rows],
                {"escalation_level": target.level, "last_escalated_at": now},
                at=now,
                reason=f"overdue: escalated to level {target.level} ({target.label})"
                if target.level > 1
                else "overdue: owner notified",
            )
            result.by_level[target.level] = result.by_level.get(target.level, 0) + len(rows)
            escalated += len(rows)
        result.notifications += notification_queue_many(messages=digests.messages())
        # Last: the chain head stays locked from here to the commit, so concurrent batches wait the least.
        audit_events_append(events)
        result.escalated += escalated
        result.batches += 1
        return escalated


def _escalation_event(target: EscalationStep, clocks: list[tuple[dict, list[EscalationStep], set[str]]]) -> dict:
    """One audit event for the clocks of one record that a batch escalated to ``target``: which clocks, from
    which level, the steps each passed, and everyone told (on the record's trail)."""
    first = clocks[0][0]
    reached = max((r for _, r, _ in clocks), key=len)
    steps_label = ", ".join(s.label for s in reached)
    if len(clocks) == 1:
        reason = (
            f"{first['label']} was due {first['due_at'].astimezone(UTC):%Y-%m-%d %H:%M} UTC; escalated to {steps_label}"
        )
    else:
        names = [f"{row['label']} (due {row['due_at'].astimezone(UTC):%Y-%m-%d %H:%M} UTC)" for row, _, _ in clocks[:6]]
        more = f" and {len(clocks) - 6} more" if len(clocks) > 6 else ""
        reason = f"{len(clocks)} clocks overdue, escalated to {steps_label}: {', '.join(names)}{more}"
    return {
        "action": "obligation.escalated" if target.level > 1 else "obligation.overdue",
        "subject_type": ContentType.objects.get_for_id(first["subject_type_id"]).model_class()._meta.label_lower,
        "subject_id": first["subject_id"],
        "subject_label": first["subject_label"],
        "reason": reason,
        "before": {"escalation_levels": {str(row["pk"]): row["escalation_level"] for row, _, _ in clocks}},
        "after": {
            "escalation_level": target.level,
            "obligations": [
                {"obligation": row["pk"], "kind": row["kind"], "key": row["key"], "to": [s.to for s in steps]}
                for row, steps, _ in clocks
            ],
            "notified": sorted(set().union(*(names for _, _, names in clocks))),
        },
    }


class _Budget:
    """The batches a sweep may still run, shared by its connections."""

    def __init__(self, max_batches: int | None):
        self.left, self.finished, self.lock = max_batches, False, threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.finished or (self.left is not None and self.left <= 0):
                return False
            if self.left is not None:
                self.left -= 1
            return True

    def finish(self) -> None:
        with self.lock:
            self.finished = True


def obligation_sweep(
    *,
    now: datetime | None = None,
    batch: int = 5000,
    max_batches: int | None = None,
    connections: int = 2,
    since: datetime | None = None,
    recent=(),
    patterns: bool = True,
) -> SweepResult:
    """Escalate every overdue open obligation to the step of the ladder its lateness has reached.

    Runs in transactions of at most ``batch`` obligations until nothing is left (or ``max_batches``). On
    PostgreSQL, outside a transaction, ``connections`` batches run at once, each on its own connection: the
    candidates' ``SKIP LOCKED`` keeps them apart, and one batch prepares its rows while the database writes
    another's. A second sweep at the same time escalates nothing twice (see the module docstring).
    ``since`` and ``recent`` narrow the candidates (see ``_step_candidates``); ``patterns=False`` leaves the
    repeat-bypass patterns to another run (a fanned-out batch task).
    """
    now = now or timezone.now()
    definition = compliance_definition()
    steps = escalation_steps(definition)
    # Every role: a clock owned by a role may name any of them, and reading the few role holders is cheaper
    # than finding out which roles the open clocks name.
    directory = _Directory({r.value for r in Role})
    budget = _Budget(max_batches)
    parallel = connection.vendor == "postgresql" and not connection.in_atomic_block and connections > 1
    results = [SweepResult() for _ in range(connections if parallel else 1)]
    errors: list[BaseException] = []

    def drain(result: SweepResult) -> None:
        try:
            while budget.take():
                if (
                    _escalate_batch(steps, directory, now=now, batch=batch, result=result, since=since, recent=recent)
                    < batch
                ):
                    result.drained = True
                    break
        except BaseException as exc:
            errors.append(exc)
        finally:
            budget.finish()  # one connection found the end (or failed): the others stop after their batch
            if parallel:
                connection.close()  # this thread's own connection

    if parallel:
        threads = [threading.Thread(target=drain, args=(r,), name=f"sweep-{i}") for i, r in enumerate(results)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:
        drain(results[0])
    if errors:
        raise errors[0]
    result = SweepResult()
    for part in results:
        result.escalated += part.escalated
        result.notifications += part.notifications
        result.batches += part.batches
        result.drained |= part.drained
        for level, n in part.by_level.items():
            result.by_level[level] = result.by_level.get(level, 0) + n
    if not patterns:
        return result
    try:
        result.patterns = repeat_bypass_sweep(now=now, definition=definition, directory=directory)
    except IntegrityError:
        logger.info("A concurrent sweep opened the same preventive follow-up; nothing more to do.")
    return result
