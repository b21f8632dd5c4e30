"""Stakeholder notification metrics: the notifications written in the period, by what they were about."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Value
from django.db.models.functions import StrIndex, Substr

from audits.reports.metrics.common import Refs, Window
from qms.models import Notification


def notifications(w: Window, refs: Refs) -> list[dict]:
    """Stakeholder notifications written in the period, by what they were about (one query)."""
    what = Substr("dedupe_key", 1, StrIndex("dedupe_key", Value(":")) - 1)
    rows = (
        Notification.objects.filter(created_at__gte=w.start, created_at__lt=w.end)
        .annotate(what=what)
        .order_by("what", "pk")
        .values_list("pk", "what", "sent_at")
    )
    grouped = defaultdict(lambda: ([], 0))
    for pk, about, sent_at in rows:
        ids, sent = grouped[about or "other"]
        ids.append(pk)
        grouped[about or "other"] = (ids, sent + (1 if sent_at is not None else 0))
    return [
        {
            "label": about,
            "value": len(ids),
            "sent": sent,
            "ref": refs.add(f"notify:{about}", "notification", ids, f"Notifications: {about}"),
        }
        for about, (ids, sent) in sorted(grouped.items(), key=lambda item: (-len(item[1][0]), item[0]))
    ]
