"""Stakeholder notification metrics: the notifications written in the period, by what they were about, and the
notifications of certification authorities recorded on changes (CM-WF-EMERGENCY §7.3).

An outbox row names the record it is about in its dedupe key (``<about>:<pk>:…``). A report of one procedure
counts the rows about a change, a bypass request, a status update or a CCB session pinned to it
(``PINNED_SOURCES``); the rest (incidents, people, reports) belong to no procedure and only the report of all
procedures counts them.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Case, CharField, Q, Value, When
from django.db.models.functions import Cast, StrIndex, Substr

from audits.reports.metrics.common import Refs, Window
from emergencies.models import BypassRequest, CCBSession, ChangeRecord, RegulatoryNotification, StatusUpdate
from qms.models import Notification

# What an outbox row is about (its dedupe key's first part) → the model its second part is a key of, and the
# path from that model to the procedure version it pins.
PINNED_SOURCES = {
    ("change-filed", "proceed-deviation"): (ChangeRecord, "procedure_version"),
    ("bypass-requested", "bypass-active", "bypass-rejected"): (BypassRequest, "procedure_version"),
    ("status-update",): (StatusUpdate, "change__procedure_version"),
    ("ccb-convened", "ccb-seated", "ccb-decided", "ccb-more-info", "ccb-cancelled"): (
        CCBSession,
        "change__procedure_version",
    ),
}


def _pinned(w: Window) -> Q:
    """The outbox rows about a record pinned to the report's scope (all rows for a report of everything)."""
    if w.scope.everything:
        return Q()
    q = Q(pk__in=[])
    for abouts, (model, path) in PINNED_SOURCES.items():
        keys = model.objects.filter(**w.scope.lookups(path)).annotate(key=Cast("pk", CharField())).values("key")
        q |= Q(what__in=abouts, about_key__in=keys)
    return q


def notifications(w: Window, refs: Refs) -> list[dict]:
    """Stakeholder notifications written in the period, by what they were about (one query)."""
    what = Substr("dedupe_key", 1, StrIndex("dedupe_key", Value(":")) - 1)
    rest = Substr("dedupe_key", StrIndex("dedupe_key", Value(":")) + 1)
    about_key = Case(
        When(Q(rest_colon=0), then="rest"),
        default=Substr("rest", 1, StrIndex("rest", Value(":")) - 1),
        output_field=CharField(),
    )
    rows = (
        Notification.objects.filter(created_at__gte=w.start, created_at__lt=w.end)
        .annotate(what=what, rest=rest)
        .annotate(rest_colon=StrIndex("rest", Value(":")))
        .annotate(about_key=about_key)
        .filter(_pinned(w))
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


def regulatory_notifications(w: Window, refs: Refs) -> dict:
    """Certification authorities notified in the period (by ``notified_at``), on changes in the scope (one
    query); the reference lists the changes."""
    rows = list(
        RegulatoryNotification.objects.filter(
            notified_at__gte=w.start, notified_at__lt=w.end, **w.scope.lookups("change__procedure_version")
        )
        .order_by("notified_at", "pk")
        .values_list("change_id", flat=True)
    )
    changes = list(dict.fromkeys(rows))
    return {
        "total": len(rows),
        "ref": refs.add("regulatory", "change", changes, "Changes notified to a certification authority"),
    }
