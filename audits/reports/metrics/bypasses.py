"""Bypass metrics: granted bypasses by repository and level, new requests, active bypasses, repeat patterns
and the bypass trend (definitions: ``audits.reports.metrics``)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import Trunc

from audits.models import Obligation
from audits.reports.metrics.common import Refs, Window
from audits.reports.scope import Scope
from emergencies.models import BypassRequest, ChangeRecord

GRANTED = (BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED)
NO_REPOSITORY = "(emergency stubs)"


def _bypass_ct() -> ContentType:
    return ContentType.objects.get_for_model(BypassRequest)


def bypasses_granted(w: Window, refs: Refs) -> dict:
    """Granted bypasses of the period by repository and level (one query)."""
    rows = list(
        BypassRequest.objects.filter(
            status__in=GRANTED, decided_at__gte=w.start, decided_at__lt=w.end, **w.scope.lookups()
        )
        .order_by("decided_at", "pk")
        .values_list("pk", "repository", "level")
    )
    by_repo, by_level = defaultdict(list), defaultdict(list)
    for pk, repository, level in rows:
        by_repo[repository.strip() or NO_REPOSITORY].append(pk)
        by_level[level].append(pk)
    refs.add("bypasses_granted", "bypass", [r[0] for r in rows], "Bypasses granted in the period")
    per_repository = [
        {"label": repo, "value": len(ids), "ref": refs.add(f"repo:{repo}", "bypass", ids, f"Bypasses of {repo}")}
        for repo, ids in sorted(by_repo.items(), key=lambda item: (-len(item[1]), item[0]))
    ]
    levels = []
    for level, label in BypassRequest.Level.choices:
        ids = by_level.get(level, [])
        levels.append(
            {"label": label, "key": level, "value": len(ids), "ref": refs.add(f"level:{level}", "bypass", ids, label)}
        )
    return {"total": len(rows), "per_repository": per_repository, "levels": levels, "ref": "bypasses_granted"}


def bypass_requests_new(w: Window, refs: Refs) -> dict:
    """Bypass requests filed in the period, whatever became of them (one query)."""
    rows = list(
        BypassRequest.objects.filter(requested_at__gte=w.start, requested_at__lt=w.end, **w.scope.lookups())
        .order_by("requested_at", "pk")
        .values_list("pk", "level", "status")
    )
    by_level = defaultdict(list)
    for pk, level, _status in rows:
        by_level[level].append(pk)
    return {
        "total": len(rows),
        "ref": refs.add("requests_new", "bypass", [r[0] for r in rows], "Bypass requests filed in the period"),
        "pending": sum(1 for r in rows if r[2] == BypassRequest.Status.PENDING),
        "levels": [
            {
                "label": label,
                "key": level,
                "value": len(by_level.get(level, [])),
                "ref": refs.add(f"new:{level}", "bypass", by_level.get(level, []), f"New {label} requests"),
            }
            for level, label in BypassRequest.Level.choices
        ],
    }


def bypasses_active(w: Window, refs: Refs) -> dict:
    """Bypasses granted before ``as_of`` with a remediation still open at ``as_of`` (one query)."""
    open_remediation = Obligation.objects.filter(
        subject_type=_bypass_ct(), subject_id=OuterRef("pk"), kind="remediation"
    ).filter(Q(satisfied_at__isnull=True) | Q(satisfied_at__gte=w.as_of))
    rows = list(
        BypassRequest.objects.filter(status__in=GRANTED, decided_at__lt=w.as_of, **w.scope.lookups())
        .filter(Exists(open_remediation))
        .order_by("decided_at", "pk")
        .values_list("pk", "level")
    )
    by_level = defaultdict(list)
    for pk, level in rows:
        by_level[level].append(pk)
    return {
        "total": len(rows),
        "ref": refs.add("active", "bypass", [r[0] for r in rows], "Bypasses active (remediation open) at period end"),
        "levels": [
            {
                "label": label,
                "key": level,
                "value": len(by_level.get(level, [])),
                "ref": refs.add(f"active:{level}", "bypass", by_level.get(level, []), f"Active {label} bypasses"),
            }
            for level, label in BypassRequest.Level.choices
        ],
    }


def repeat_patterns(w: Window, refs: Refs, *, min_bypasses: int, window_days: int) -> list[dict]:
    from audits.escalation import repeat_patterns as find

    patterns = find(
        start=w.as_of - timedelta(days=window_days),
        end=w.as_of,
        min_bypasses=min_bypasses,
        pinned=w.scope.lookups(),
    )
    return [
        {
            "repository": p.repository,
            "check": p.check_label,
            "count": len(p.bypass_ids),
            "ref": refs.add(f"pattern:{p.key}", "bypass", p.bypass_ids, f"{p.check_label} bypassed in {p.repository}"),
        }
        for p in patterns
    ]


def bypass_trend(
    kind: str, periods: list[tuple[datetime, datetime]], refs: Refs, *, scope: Scope | None = None
) -> list[dict]:
    """Granted bypasses and declared emergencies per period (two aggregate queries).

    A trend spans a year of records, so its points refer to their records by period (the drill-down lists the
    records of that period: their dates never change, and the drill-down applies the report's ``scope``) rather
    than by stored ids.
    """
    pinned = (scope or Scope()).lookups()
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[kind]
    first, last = periods[0][0], periods[-1][1]
    granted = dict(
        BypassRequest.objects.filter(status__in=GRANTED, decided_at__gte=first, decided_at__lt=last, **pinned)
        .annotate(bucket=Trunc("decided_at", unit, tzinfo=first.tzinfo))
        .values_list("bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    declared = dict(
        ChangeRecord.objects.filter(
            source=ChangeRecord.Source.EMERGENCY, declared_at__gte=first, declared_at__lt=last, **pinned
        )
        .annotate(bucket=Trunc("declared_at", unit, tzinfo=first.tzinfo))
        .values_list("bucket")
        .annotate(n=Count("pk"))
        .order_by()
    )
    fmt = "%b %y" if kind == "monthly" else "%d %b"
    points = []
    for start, end in periods:
        label = f"{start:{fmt}}"
        points.append(
            {
                "label": label,
                "bypasses": granted.get(start, 0),
                "emergencies": declared.get(start, 0),
                "bypass_ref": refs.add_range(
                    f"trend:b:{label}", "bypass", start, end, granted.get(start, 0), f"Bypasses granted, {label}"
                ),
                "change_ref": refs.add_range(
                    f"trend:c:{label}", "change", start, end, declared.get(start, 0), f"Emergencies declared, {label}"
                ),
            }
        )
    return points
