"""Reads of the report pages, each with a fixed number of queries."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from audits.models import ComplianceReport, Obligation
from audits.reports.scope import Scope
from audits.selectors import can_oversee
from emergencies.models import BypassRequest, ChangeRecord
from qms.models import Notification, User

DRILL_PAGE = 200


def report_list(*, user: User, kind: str = "") -> QuerySet[ComplianceReport]:
    if not can_oversee(user):
        return ComplianceReport.objects.none()
    qs = ComplianceReport.objects.select_related("generated_by", "procedure", "procedure_version").defer(
        "html", "text", "payload"
    )
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("-period_start", "-generated_at")


def report_get_for_user(*, pk: int, user: User) -> ComplianceReport:
    """The snapshot, for oversight roles only; 404 for everyone else (its existence is not confirmed)."""
    if not can_oversee(user):
        raise Http404
    report = (
        ComplianceReport.objects.select_related("generated_by", "procedure", "procedure_version").filter(pk=pk).first()
    )
    if report is None:
        raise Http404
    return report


DRILL_MODELS = {
    "bypass": (
        BypassRequest,
        ("requested_by", "incident", "change"),
    ),
    "change": (ChangeRecord, ("incident", "author")),
    "obligation": (Obligation, ("owner",)),
    "notification": (Notification, ("recipient",)),
}


def report_drill(*, report: ComplianceReport, ref: str) -> dict:
    """The records behind one number of a snapshot: exactly the ids it stored (one query per page)."""
    entry = report.payload.get("refs", {}).get(ref)
    if entry is None or entry.get("model") not in DRILL_MODELS:
        raise Http404
    model, related = DRILL_MODELS[entry["model"]]
    if "range" in entry:
        return _drill_range(entry, model, related, scope=Scope.of_report(report))
    ids = entry["ids"][:DRILL_PAGE]
    rows = {obj.pk: obj for obj in model.objects.select_related(*related).filter(pk__in=ids)}
    return {
        "title": entry["title"],
        "model": entry["model"],
        "records": [rows[pk] for pk in ids if pk in rows],
        "total": entry["total"],
        "stored": len(entry["ids"]),
        "shown": len(ids),
        "missing": len([pk for pk in ids if pk not in rows]),
    }


# Trend points refer to their records by period (see metrics.bypass_trend): the same filter, read live.
RANGE_FILTERS = {
    "bypass": ("decided_at", {"status__in": ("active", "remediated")}),
    "change": ("declared_at", {"source": "emergency"}),
}


def _drill_range(entry: dict, model, related, *, scope: Scope) -> dict:
    from datetime import datetime

    if entry["model"] not in RANGE_FILTERS:
        raise Http404
    field, base = RANGE_FILTERS[entry["model"]]
    start, end = (datetime.fromisoformat(v) for v in entry["range"])
    qs = model.objects.select_related(*related).filter(
        **base, **scope.lookups(), **{f"{field}__gte": start, f"{field}__lt": end}
    )
    records = list(qs.order_by(field, "pk")[:DRILL_PAGE])
    return {
        "title": entry["title"],
        "model": entry["model"],
        "records": records,
        "total": entry["total"],
        "stored": entry["total"],
        "shown": len(records),
        "missing": 0,
    }
