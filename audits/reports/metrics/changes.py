"""Change metrics (CM-WF-EMERGENCY §16): response time, rollback and issue resolution rates of the changes
deployed, false alarms, and the follow-up and preventive changes (definitions: ``audits.reports.metrics``)."""

from __future__ import annotations

import statistics

from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef
from django.db.models.functions import Coalesce

from audits.reports.metrics.common import Refs, Window, _hours, percentile, rate
from emergencies.models import ChangeRecord


def deployments(w: Window, refs: Refs) -> dict:
    """Response time (identification to deployment), rollback rate and issue resolution rate of changes
    deployed in the period."""
    history = ChangeRecord.history.model
    rolled_back = history.objects.filter(id=OuterRef("pk"), status=ChangeRecord.Status.ROLLED_BACK)
    identified = Coalesce("incident__detected_at", "incident__declared_at", "declared_at")
    rows = list(
        ChangeRecord.objects.filter(deployed_at__gte=w.start, deployed_at__lt=w.due_until, **w.scope.lookups())
        .annotate(
            response=ExpressionWrapper(F("deployed_at") - identified, output_field=DurationField()),
            was_rolled_back=Exists(rolled_back),
        )
        .order_by("deployed_at", "pk")
        .values_list("pk", "response", "was_rolled_back", "resolved_at")
    )
    hours = [_hours(r[1]) for r in rows if r[1] is not None]
    rolled = [r[0] for r in rows if r[2]]
    resolved = [r[0] for r in rows if r[3] is not None and r[3] < w.as_of]
    return {
        "deployed": len(rows),
        "deployed_ref": refs.add("deployed", "change", [r[0] for r in rows], "Changes deployed in the period"),
        "response_mean_hours": round(statistics.fmean(hours), 2) if hours else None,
        "response_p90_hours": None if not hours else round(percentile(hours, 0.9), 2),
        "rolled_back": len(rolled),
        "rolled_back_ref": refs.add("rolled_back", "change", rolled, "Deployed changes rolled back"),
        "rollback_rate": rate(len(rolled), len(rows)),
        "resolved": len(resolved),
        "resolved_ref": refs.add("resolved", "change", resolved, "Deployed changes whose issue was resolved"),
        "resolution_rate": rate(len(resolved), len(rows)),
    }


def false_alarms(w: Window, refs: Refs) -> dict:
    rows = list(
        ChangeRecord.objects.filter(
            source=ChangeRecord.Source.EMERGENCY, declared_at__gte=w.start, declared_at__lt=w.end, **w.scope.lookups()
        )
        .order_by("declared_at", "pk")
        .values_list("pk", "status", "false_alarm")
    )
    converted = [pk for pk, status, unwarranted in rows if unwarranted or status == ChangeRecord.Status.CONVERTED]
    return {
        "declared": len(rows),
        "declared_ref": refs.add("declared", "change", [r[0] for r in rows], "Emergencies declared in the period"),
        "false_alarms": len(converted),
        "ref": refs.add(
            "false_alarms", "change", converted, "Emergencies converted to the standard process or judged unwarranted"
        ),
        "rate": rate(len(converted), len(rows)),
    }


def follow_up_changes(w: Window, refs: Refs) -> dict:
    """Follow-up and preventive changes opened in the period, done or open (their own standard lifecycle)."""
    rows = list(
        ChangeRecord.objects.filter(
            source__in=(ChangeRecord.Source.FOLLOW_UP, ChangeRecord.Source.PREVENTIVE),
            declared_at__gte=w.start,
            declared_at__lt=w.end,
            **w.scope.lookups(),
        )
        .order_by("declared_at", "pk")
        .values_list("pk", "status")
    )
    done = [pk for pk, status in rows if status in ChangeRecord.STANDARD_DONE_STATUSES]
    still_open = [pk for pk, status in rows if status not in ChangeRecord.STANDARD_DONE_STATUSES]
    return {
        "opened": len(rows),
        "done": len(done),
        "done_ref": refs.add("follow_ups_done", "change", done, "Follow-up and preventive changes done"),
        "open": len(still_open),
        "open_ref": refs.add("follow_ups_open", "change", still_open, "Follow-up and preventive changes still open"),
    }
