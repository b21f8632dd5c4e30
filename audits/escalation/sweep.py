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

import hashlib
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from audits.models import Obligation, clock_owner_label
from audits.services import audit_events_append
from qms.bulk import rows_update_with_history
from qms.models import User
from qms.procedures import (
    CHECK_CATALOGUE,
    COMPLIANCE_PROCEDURE_CODE,
    EscalationStep,
    compliance_policy,
    escalation_steps,
)
from qms.roles import Role
from qms.services import QueuedMessage, absolute_url, notification_queue, notification_queue_many

logger = logging.getLogger(__name__)

OVERDUE_TEMPLATE = "obligation_overdue"
PREVENTIVE_KIND = "preventive_change"
DIGEST_ITEMS = 25  # clocks listed in one message; the rest are a link to the overdue list
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


def compliance_definition() -> dict:
    """The definition whose compliance settings rule (QMS Emergency Bypass Procedures, current version)."""
    from qms.services import procedure_version_current

    version = procedure_version_current(code=COMPLIANCE_PROCEDURE_CODE)
    return version.definition if version is not None else {}


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


class _Directory:
    """Active users by role, read once per sweep (two queries whatever the number of obligations), and the
    owners of a batch's obligations (one query per batch)."""

    def __init__(self, roles: set[str]):
        self.by_role: dict[str, list[User]] = defaultdict(list)
        self.by_pk: dict[int, User] = {}
        wanted = {Role(r).group_name: Role(r).value for r in roles if r in Role._value2member_map_}
        users = User.objects.filter(is_active=True, groups__name__in=wanted).distinct().prefetch_related("groups")
        for user in users:
            self.by_pk[user.pk] = user
            for group in user.groups.all():
                if group.name in wanted:
                    self.by_role[wanted[group.name]].append(user)

    def holders(self, roles: tuple[str, ...] | list[str], fallback: tuple[str, ...] = ()) -> list[User]:
        people = {u.pk: u for r in roles for u in self.by_role.get(r, [])}
        if not people:
            people = {u.pk: u for r in fallback for u in self.by_role.get(r, [])}
        return list(people.values())

    def load(self, pks: set[int]) -> None:
        """Read the users among ``pks`` not known yet, in one query (run it every batch: a constant count)."""
        missing = pks - self.by_pk.keys()
        for user in User.objects.filter(pk__in=missing):
            self.by_pk[user.pk] = user

    def owner_label(self, row: dict) -> str:
        return clock_owner_label(self.by_pk.get(row["owner_id"]) if row["owner_id"] else None, row["owner_role"])


class _Digests:
    """What one batch tells each recipient: every (obligation, step) escalated to them, as one message.

    Built per audience, not per recipient: every obligation reaching a role step tells the same people, so it
    is filed once under that step; an owner step is filed under its owner (or owning role). A recipient's
    message is the union of their audiences' lists. Its dedupe key names its most overdue (obligation, step)
    pair and the recipient: a pair is escalated in exactly one batch, so a batch written twice is queued once.
    """

    def __init__(self, directory: _Directory):
        self.directory = directory
        self.lists: dict[tuple, list[tuple]] = {}  # audience -> (due_at, obligation pk, step, item)
        self.names: dict[tuple, set[str]] = {}  # audience -> usernames told (active or not: the audit says)
        self.audiences: dict[int, list[tuple]] = defaultdict(list)  # recipient pk -> audiences
        self.users: dict[int, User] = {}
        self.steps: dict[int, EscalationStep] = {}

    def _people(self, audience: tuple, step: EscalationStep) -> list[User]:
        kind, who = audience
        if kind == "owner":
            owner = self.directory.by_pk.get(who)
            return [owner] if owner is not None and owner.is_active else []
        if kind == "role":
            return self.directory.holders([who]) if who else []
        return self.directory.holders(step.roles, step.fallback_roles)

    def add(self, step: EscalationStep, row: dict, target: EscalationStep) -> set[str]:
        """File one (obligation, step) of an obligation escalated to ``target``; return the usernames it tells."""
        if step.to == "owner":
            audience = ("owner", row["owner_id"]) if row["owner_id"] else ("role", row["owner_role"])
        else:
            audience = ("step", step.level)
        entries = self.lists.get(audience)
        if entries is None:
            entries = self.lists[audience] = []
            people = self._people(audience, step)
            self.names[audience] = {u.username for u in people}
            for user in people:
                if user.email:
                    self.users[user.pk] = user
                    self.audiences[user.pk].append(audience)
        self.steps.setdefault(step.level, step)
        entries.append((row["due_at"], row["pk"], step, row, target))
        return self.names[audience]

    def _item(self, entry: tuple) -> dict:
        due_at, pk, step, row, target = entry
        return {
            "obligation": pk,
            "label": row["label"],
            "subject_label": row["subject_label"],
            "url": absolute_url(row["subject_url"]),
            "owner_label": self.directory.owner_label(row),
            "due": f"{due_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            "level": step.level,
            "step_label": step.label,
            "after_label": step.after_label,
            "escalated": step.level > 1,
            "now_with": target.label if target.level > 1 else "",  # where the clock stands, for its owner
        }

    def _content(self, audiences: tuple) -> tuple[tuple, dict]:
        """The (most overdue clock, step) and the message context for the people told through ``audiences``."""
        entries = [e for audience in audiences for e in self.lists[audience]]
        if len(audiences) > 1:  # one clock told twice (an owner who is also the lead): keep the higher step
            best: dict[int, tuple] = {}
            for entry in entries:
                held = best.get(entry[1])
                if held is None or held[2].level < entry[2].level:
                    best[entry[1]] = entry
            entries = list(best.values())
        entries.sort(key=itemgetter(0, 1))
        counts: dict[int, int] = defaultdict(int)
        for entry in entries:
            counts[entry[2].level] += 1
        shown = [self._item(e) for e in entries[:DIGEST_ITEMS]]
        return (entries[0][1], entries[0][2].level), {
            "total": len(entries),
            "items": shown,
            "more": max(0, len(entries) - DIGEST_ITEMS),
            "top": max(shown, key=lambda i: i["level"]),
            "by_step": [
                {"level": level, "label": step.label, "after_label": step.after_label, "count": counts[level]}
                for level, step in sorted(self.steps.items(), reverse=True)
                if level in counts
            ],
        }

    def messages(self) -> list[QueuedMessage]:
        overdue_url = absolute_url(reverse("audits:overdue-list"))
        groups: dict[tuple, list[int]] = defaultdict(list)  # people told through the same audiences share a text
        for pk, audiences in self.audiences.items():
            groups[tuple(audiences)].append(pk)
        out = []
        for audiences, pks in groups.items():
            (first, level), context = self._content(audiences)
            context["overdue_url"] = overdue_url
            link = context["items"][0]["url"] if context["total"] == 1 else overdue_url
            out += [
                QueuedMessage(
                    recipient=self.users[pk],
                    dedupe_key=f"obligation-overdue:{first}:{level}:{pk}",
                    template=OVERDUE_TEMPLATE,
                    context=context,
                    link=link,
                )
                for pk in pks
            ]
        return out


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


# --- repeat-bypass patterns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepeatPattern:
    repository: str
    check: str
    bypass_ids: tuple[int, ...]
    identifiers: tuple[str, ...]
    latest_id: int
    latest_label: str
    latest_url: str

    @property
    def key(self) -> str:
        return pattern_key(self.repository, self.check)

    @property
    def check_label(self) -> str:
        return CHECK_CATALOGUE.get(self.check, {"label": self.check})["label"]


def pattern_key(repository: str, check: str) -> str:
    digest = hashlib.sha256(repository.strip().lower().encode()).hexdigest()[:12]
    return f"{check}@{digest}"


def repeat_patterns(*, start: datetime, end: datetime, min_bypasses: int, since: dict | None = None):
    """Repository/check pairs bypassed at least ``min_bypasses`` times by bypasses granted in [start, end).

    One query; the rows read are the window's granted bypasses. ``since`` maps a pattern key to a time: only
    bypasses granted after it count (the last preventive follow-up already answered the ones before).
    """
    from emergencies.models import BypassRequest

    rows = (
        BypassRequest.objects.filter(
            status__in=[BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED],
            decided_at__gte=start,
            decided_at__lt=end,
        )
        .exclude(repository="")
        .order_by("decided_at", "pk")
        .values_list("pk", "identifier", "repository", "checks", "decided_at")
    )
    grouped: dict[tuple[str, str], list] = defaultdict(list)
    for pk, identifier, repository, checks, decided_at in rows:
        for check in checks or []:
            grouped[(repository.strip(), check)].append((pk, identifier, decided_at))
    patterns = []
    for (repository, check), hits in grouped.items():
        cutoff = (since or {}).get(pattern_key(repository, check))
        if cutoff is not None:
            hits = [h for h in hits if h[2] > cutoff]
        if len(hits) >= min_bypasses:
            latest = hits[-1]
            patterns.append(
                RepeatPattern(
                    repository=repository,
                    check=check,
                    bypass_ids=tuple(h[0] for h in hits),
                    identifiers=tuple(h[1] for h in hits),
                    latest_id=latest[0],
                    latest_label=latest[1],
                    latest_url=f"/emergencies/bypasses/{latest[1]}/",
                )
            )
    patterns.sort(key=lambda p: (-len(p.bypass_ids), p.repository, p.check))
    return patterns


@transaction.atomic
def repeat_bypass_sweep(*, now: datetime, definition: dict | None = None, directory: _Directory | None = None) -> int:
    """Open a preventive follow-up obligation, escalate and audit each new repeat-bypass pattern. Idempotent."""
    from emergencies.models import BypassRequest
    from qms.clock import deadline

    policy = compliance_policy(definition if definition is not None else compliance_definition())["repeat_bypass"]
    window = timedelta(days=int(policy["window_days"]))
    bypass_ct = ContentType.objects.get_for_model(BypassRequest)
    # The last preventive follow-up per pattern: the bypasses before it are answered by it.
    last = dict(
        Obligation.objects.filter(subject_type=bypass_ct, kind=PREVENTIVE_KIND, started_at__gte=now - window)
        .values_list("key")
        .annotate(Max("started_at"))
        .order_by()
    )
    patterns = repeat_patterns(start=now - window, end=now, min_bypasses=int(policy["min_bypasses"]), since=last)
    if not patterns:
        return 0
    due_spec = policy["preventive_due"]
    due = deadline(now, amount=due_spec["amount"], unit=due_spec["unit"], basis=due_spec.get("basis", "calendar"))
    new = [
        Obligation(
            subject_type=bypass_ct,
            subject_id=p.latest_id,
            subject_label=p.latest_label,
            subject_url=reverse("emergencies:bypass-detail", kwargs={"identifier": p.latest_label}),
            kind=PREVENTIVE_KIND,
            key=p.key,
            label=f"Preventive follow-up change: {p.check_label} bypassed {len(p.bypass_ids)}× in {p.repository}",
            owner_role=policy.get("owner_role", "lead"),
            started_at=now,
            due_at=due,
        )
        for p in patterns
    ]
    # A pattern whose preventive follow-up is still open is not opened again while it grows.
    existing = set(
        Obligation.objects.filter(
            subject_type=bypass_ct, kind=PREVENTIVE_KIND, key__in=[o.key for o in new], satisfied_at__isnull=True
        ).values_list("key", flat=True)
    )
    new = [o for o in new if o.key not in existing]
    if not new:
        return 0
    bulk_create_with_history(new, Obligation, default_change_reason="repeat-bypass pattern", default_date=now)
    created = {
        o.key: o
        for o in Obligation.objects.filter(
            subject_type=bypass_ct, kind=PREVENTIVE_KIND, key__in=[n.key for n in new], started_at=now
        )
    }
    directory = directory or _Directory(set(policy["notify"]))
    events = []
    by_key = {p.key: p for p in patterns}
    for key, obligation in created.items():
        pattern = by_key[key]
        notification_queue(
            recipients=directory.holders(policy["notify"]),
            dedupe_prefix=f"repeat-bypass:{obligation.pk}",
            template="repeat_bypass",
            context={"pattern": pattern, "obligation": obligation, "window_days": policy["window_days"]},
            link=obligation.subject_url,
        )
        events.append(
            {
                "action": "bypass.repeat_pattern",
                "subject_type": BypassRequest._meta.label_lower,
                "subject_id": pattern.latest_id,
                "subject_label": pattern.latest_label,
                "reason": f"{pattern.check_label} in {pattern.repository} bypassed {len(pattern.bypass_ids)} times "
                f"within {policy['window_days']} days: preventive follow-up change required",
                "after": {
                    "repository": pattern.repository,
                    "check": pattern.check,
                    "bypasses": list(pattern.identifiers),
                    "obligation": obligation.pk,
                    "due_at": obligation.due_at.astimezone(UTC).isoformat(),
                    "notified": policy["notify"],
                },
            }
        )
    audit_events_append(events)
    return len(created)
