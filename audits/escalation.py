"""The escalation sweep: every open obligation that is overdue climbs the procedure's ladder, once per step.

Set-based: per batch, one locking query per ladder step selects the obligations whose lateness puts them on
that step (a slice of ``due_at``), then the escalation levels, their history rows, the outbox rows and the audit
events are each written with one bulk statement. The number of queries grows with the number of batches,
never with the rows in a batch.

Two sweeps at once (two beat processes, a retried task) never notify twice: candidates are locked with
``SELECT … FOR UPDATE SKIP LOCKED`` and re-checked against their level under the lock, and every notification
carries the dedupe key ``obligation-overdue:<id>:<level>:<recipient>``, unique in the outbox.

The same sweep looks for repeat-bypass patterns (the same repository and check bypassed ``min_bypasses`` times
within ``window_days``): each escalates to the leads and the QMS coordinator and opens a ``preventive_change``
obligation on the latest bypass of the pattern, which then climbs the ladder like any other clock.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.template.loader import get_template
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from audits.models import AuditEvent, Obligation
from qms.models import Notification, User
from qms.procedures import (
    CHECK_CATALOGUE,
    COMPLIANCE_PROCEDURE_CODE,
    EscalationStep,
    compliance_policy,
    escalation_steps,
)
from qms.roles import Role

logger = logging.getLogger(__name__)

OVERDUE_TEMPLATE = "obligation_overdue"
PREVENTIVE_KIND = "preventive_change"


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

    def __int__(self) -> int:
        return self.escalated


class _Directory:
    """Active users by role, read once per sweep (two queries whatever the number of obligations)."""

    def __init__(self, roles: set[str]):
        self.by_role: dict[str, list[User]] = defaultdict(list)
        wanted = {Role(r).group_name: Role(r).value for r in roles if r in Role._value2member_map_}
        users = User.objects.filter(is_active=True, groups__name__in=wanted).distinct().prefetch_related("groups")
        for user in users:
            for group in user.groups.all():
                if group.name in wanted:
                    self.by_role[wanted[group.name]].append(user)

    def holders(self, roles: tuple[str, ...] | list[str], fallback: tuple[str, ...] = ()) -> list[User]:
        people = {u.pk: u for r in roles for u in self.by_role.get(r, [])}
        if not people:
            people = {u.pk: u for r in fallback for u in self.by_role.get(r, [])}
        return list(people.values())


def _recipients(step: EscalationStep, obligation: Obligation, directory: _Directory) -> list[User]:
    if step.to == "owner":
        if obligation.owner_id:
            return [obligation.owner] if obligation.owner.is_active else []
        return directory.holders([obligation.owner_role]) if obligation.owner_role else []
    return directory.holders(step.roles, step.fallback_roles)


def _subject_stand_in(obligation: Obligation):
    """An unsaved instance of the obligation's subject model with its pk: enough for the audit event's subject
    type and id, without one query per obligation."""
    model = ContentType.objects.get_for_id(obligation.subject_type_id).model_class()
    return model(pk=obligation.subject_id)


class _Addressee:
    """Stands in for the recipient while a message is rendered once for all of them (see ``_Outbox.add``)."""

    display_name = "\u2063recipient\u2063"  # invisible separators: never typed by a person


class _Outbox:
    """Outbox rows for many events, written in one statement (same rows as ``qms.services.notification_queue``).

    Each event's templates are rendered once, with a placeholder for the recipient's name (the only thing about
    the recipient they show), which is then replaced per recipient; the dedupe key keeps one row per recipient.
    """

    def __init__(self):
        self.rows: list[Notification] = []
        self._templates: dict[str, tuple] = {}

    def _compiled(self, template: str):
        if template not in self._templates:
            self._templates[template] = tuple(
                get_template(f"emails/{template}{suffix}") for suffix in ("_subject.txt", ".txt", ".html")
            )
        return self._templates[template]

    def add(self, *, recipients: list[User], dedupe_prefix: str, template: str, context: dict, link: str) -> None:
        from django.conf import settings
        from django.utils.html import escape

        recipients = [u for u in recipients if u.is_active and u.email]
        if not recipients:
            return
        url = f"{settings.PORTAL_BASE_URL}{link}" if link.startswith("/") else link
        subject_t, text_t, html_t = self._compiled(template)
        ctx = {**context, "recipient": _Addressee(), "url": url}
        mark = _Addressee.display_name
        subject = " ".join(subject_t.render(ctx).split())
        body, html_body = text_t.render(ctx), html_t.render(ctx)
        for user in recipients:
            name = user.display_name
            self.rows.append(
                Notification(
                    recipient=user,
                    dedupe_key=f"{dedupe_prefix}:{user.pk}",
                    subject=subject.replace(mark, name)[:250],
                    body=body.replace(mark, name),
                    html_body=html_body.replace(mark, escape(name)),
                    link=url,
                )
            )

    def flush(self) -> int:
        """Write the rows not already in the outbox and publish them to the worker once the transaction commits."""
        if not self.rows:
            return 0
        keys = [r.dedupe_key for r in self.rows]
        existing = set(Notification.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
        rows = list({r.dedupe_key: r for r in self.rows if r.dedupe_key not in existing}.values())
        self.rows = []
        if not rows:
            return 0
        bulk_create_with_history(rows, Notification, default_change_reason="queued")
        ids = list(
            Notification.objects.filter(dedupe_key__in=[r.dedupe_key for r in rows]).values_list("pk", flat=True)
        )

        def publish() -> None:
            from qms.tasks import notification_send_task

            # As notification_queue: no publish retries; the beat job re-sends what a down broker never got.
            for start in range(0, len(ids), 500):
                notification_send_task.apply_async(args=[ids[start : start + 500]], retry=False)

        transaction.on_commit(publish, robust=True)
        return len(rows)


def audit_events_append(events: list[dict]) -> list[AuditEvent]:
    """Append many system events to the chain with one head lock and one insert (in the caller's transaction).

    Each dict gives action, subject_type, subject_id, subject_label, reason and after, as ``audit_event_record``.
    """
    from audits.services import _head_for_update, _jsonable, audit_event_digest

    if not events:
        return []
    head = _head_for_update()
    position, prev_hash, now, rows = head.position, head.hash, timezone.now(), []
    for spec in events:
        position += 1
        event = AuditEvent(
            position=position,
            occurred_at=now,
            actor=None,
            actor_name="system",
            actor_roles="",
            action=spec["action"],
            subject_type=spec.get("subject_type", ""),
            subject_id=str(spec.get("subject_id", "")),
            subject_label=spec.get("subject_label", "")[:100],
            reason=spec.get("reason", ""),
            before=_jsonable(spec.get("before")),
            after=_jsonable(spec.get("after")),
            ip_address="",
            prev_hash=prev_hash,
        )
        event.hash = audit_event_digest(event)
        prev_hash = event.hash
        rows.append(event)
    AuditEvent.objects.bulk_create(rows)
    head.position, head.hash = position, prev_hash
    head.save(update_fields=["position", "hash"])
    return rows


def _step_candidates(steps: list[EscalationStep], *, now: datetime, limit: int) -> list[tuple[EscalationStep, list]]:
    """Lock up to ``limit`` overdue obligations, each with the highest step its lateness has reached.

    One query per step: step k takes the obligations below level k whose due time lies between the delays of
    step k and step k+1 (a slice of ``due_at``), so no obligation is picked by two steps.
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
        rows = list(
            qs.select_for_update(skip_locked=True, of=("self",))
            .select_related("owner")
            .order_by("due_at", "pk")[:limit]
        )
        if rows:
            picked.append((step, rows))
            limit -= len(rows)
    return picked


def _escalate_batch(
    steps: list[EscalationStep], directory: _Directory, *, now: datetime, batch: int, result: SweepResult
) -> int:
    by_level = {s.level: s for s in steps}
    with transaction.atomic():
        picked = _step_candidates(steps, now=now, limit=batch)
        if not picked:
            return 0
        outbox, changed, events = _Outbox(), [], []
        for target, obligations in picked:
            for obligation in obligations:
                reached = [by_level[level] for level in range(obligation.escalation_level + 1, target.level + 1)]
                notified = []
                for step in reached:
                    people = _recipients(step, obligation, directory)
                    notified += [u.username for u in people]
                    outbox.add(
                        recipients=people,
                        dedupe_prefix=f"obligation-overdue:{obligation.pk}:{step.level}",
                        template=OVERDUE_TEMPLATE,
                        context={"obligation": obligation, "step": step, "late_by": now - obligation.due_at},
                        link=obligation.subject_url,
                    )
                before = obligation.escalation_level
                obligation.escalation_level, obligation.last_escalated_at = target.level, now
                obligation._history_date = now
                obligation._change_reason = (
                    f"overdue: escalated to level {target.level} ({target.label})"
                    if target.level > 1
                    else "overdue: owner notified"
                )
                changed.append(obligation)
                subject = _subject_stand_in(obligation)
                events.append(
                    {
                        "action": "obligation.escalated" if target.level > 1 else "obligation.overdue",
                        "subject_type": subject._meta.label_lower,
                        "subject_id": obligation.subject_id,
                        "subject_label": obligation.subject_label,
                        "reason": f"{obligation.label} was due {obligation.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
                        f"escalated to {', '.join(s.label for s in reached)}",
                        "before": {"escalation_level": before},
                        "after": {
                            "obligation": obligation.pk,
                            "kind": obligation.kind,
                            "key": obligation.key,
                            "escalation_level": target.level,
                            "to": [s.to for s in reached],
                            "notified": sorted(set(notified)),
                        },
                    }
                )
                result.by_level[target.level] = result.by_level.get(target.level, 0) + 1
        bulk_update_with_history(changed, Obligation, ["escalation_level", "last_escalated_at"], default_date=now)
        result.notifications += outbox.flush()
        audit_events_append(events)
        result.escalated += len(changed)
        result.batches += 1
        return len(changed)


def obligation_sweep(*, now: datetime | None = None, batch: int = 1000, max_batches: int | None = None) -> SweepResult:
    """Escalate every overdue open obligation to the step of the ladder its lateness has reached.

    Runs in transactions of at most ``batch`` obligations until nothing is left (or ``max_batches``).
    A second run at the same time escalates nothing (see the module docstring).
    """
    now = now or timezone.now()
    definition = compliance_definition()
    steps = escalation_steps(definition)
    roles = {r for s in steps for r in (*s.roles, *s.fallback_roles)}
    roles |= set(
        Obligation.objects.filter(satisfied_at__isnull=True, owner__isnull=True)
        .exclude(owner_role="")
        .order_by()
        .values_list("owner_role", flat=True)
        .distinct()
    )
    directory = _Directory(roles)
    result = SweepResult()
    while max_batches is None or result.batches < max_batches:
        if _escalate_batch(steps, directory, now=now, batch=batch, result=result) < batch:
            break
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
    from django.urls import reverse

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
    outbox, events = _Outbox(), []
    by_key = {p.key: p for p in patterns}
    for key, obligation in created.items():
        pattern = by_key[key]
        outbox.add(
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
                    "due_at": obligation.due_at,
                    "notified": policy["notify"],
                },
            }
        )
    outbox.flush()
    audit_events_append(events)
    return len(created)
