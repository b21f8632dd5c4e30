"""Repeat-bypass patterns: the same repository and check bypassed ``min_bypasses`` times within
``window_days``. The escalation sweep looks for new ones (``repeat_bypass_sweep``): each escalates to the leads
and the QMS coordinator and opens a ``preventive_change`` obligation on the latest bypass of the pattern, which
then climbs the ladder like any other clock. The compliance reports count them (``repeat_patterns``)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from simple_history.utils import bulk_create_with_history

from audits.escalation.directory import _Directory, compliance_definition
from audits.models import Obligation
from audits.services.trail import audit_events_append
from qms.models import ProcedureVersion
from qms.procedures import CHECK_CATALOGUE, compliance_policy
from qms.services import notification_queue

PREVENTIVE_KIND = "preventive_change"


@dataclass(frozen=True)
class RepeatPattern:
    repository: str
    check: str
    bypass_ids: tuple[int, ...]
    identifiers: tuple[str, ...]
    latest_id: int
    latest_label: str
    latest_url: str
    version_id: int | None = None  # the procedure version the latest bypass pinned
    label: str = ""  # the check's label under that version

    @property
    def key(self) -> str:
        return pattern_key(self.repository, self.check)

    @property
    def check_label(self) -> str:
        return self.label or CHECK_CATALOGUE.get(self.check, {"label": self.check})["label"]


def pattern_key(repository: str, check: str) -> str:
    digest = hashlib.sha256(repository.strip().lower().encode()).hexdigest()[:12]
    return f"{check}@{digest}"


def repeat_patterns(
    *, start: datetime, end: datetime, min_bypasses: int, since: dict | None = None, pinned: dict | None = None
):
    """Repository/check pairs bypassed at least ``min_bypasses`` times by bypasses granted in [start, end).

    One query; the rows read are the window's granted bypasses. ``since`` maps a pattern key to a time: only
    bypasses granted after it count (the last preventive follow-up already answered the ones before).
    ``pinned`` narrows them to a procedure's (a report of one procedure: ``audits.reports.scope``).
    """
    from emergencies.models import BypassRequest

    rows = (
        BypassRequest.objects.filter(
            status__in=[BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED],
            decided_at__gte=start,
            decided_at__lt=end,
            **(pinned or {}),
        )
        .exclude(repository="")
        .order_by("decided_at", "pk")
        .values_list("pk", "identifier", "repository", "checks", "decided_at", "procedure_version_id")
    )
    grouped: dict[tuple[str, str], list] = defaultdict(list)
    for pk, identifier, repository, checks, decided_at, version_id in rows:
        for check in checks or []:
            grouped[(repository.strip(), check)].append((pk, identifier, decided_at, version_id))
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
                    version_id=latest[3],
                )
            )
    patterns = _with_labels(patterns)
    patterns.sort(key=lambda p: (-len(p.bypass_ids), p.repository, p.check))
    return patterns


def _with_labels(patterns: list[RepeatPattern]) -> list[RepeatPattern]:
    """Each pattern's check labelled as the version its latest bypass pinned says (one query, for the patterns)."""
    if not patterns:
        return patterns
    versions = ProcedureVersion.objects.filter(pk__in={p.version_id for p in patterns}).only("definition")
    rules = {v.pk: v.rules for v in versions}
    return [
        replace(p, label=rules[p.version_id].check_label(p.check)) if p.version_id in rules else p for p in patterns
    ]


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
