"""Compliance reports: store an immutable snapshot of a period's report and mail it.

The figures are built by ``audits.reports.build`` and drawn by ``audits.reports.rendering``; the names those
modules give the views and the snapshot's readers are importable from here too.
"""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audits.models import ComplianceReport
from audits.reports.build import compliance_report_build
from audits.reports.periods import KINDS, period_bounds
from audits.reports.rendering import (
    export_filename,
    payload_digest,
    render_report,
    report_csv,
    report_pdf,
    report_rows,
)
from qms.models import User
from qms.procedures import compliance_policy
from qms.roles import Role

__all__ = [
    "GENERATE_ROLES",
    "can_generate_reports",
    "compliance_report_build",
    "export_filename",
    "payload_digest",
    "render_report",
    "report_csv",
    "report_generate",
    "report_pdf",
    "report_rows",
]

GENERATE_ROLES = (Role.QMS,)


def can_generate_reports(user: User | None) -> bool:
    return bool(user and user.is_active and (user.is_superuser or user.has_role(*GENERATE_ROLES)))


def report_generate(
    *,
    kind: str,
    period_start: date | datetime,
    actor: User | None = None,
    now: datetime | None = None,
    email: bool | None = None,
) -> ComplianceReport:
    """Store an immutable snapshot of the report of the period containing ``period_start`` and mail it.

    The system (``actor`` None: the beat, the management command) makes one snapshot per period: running it
    again returns that one. A QMS coordinator may generate any past or running period again: each time a new
    snapshot, mailed only when ``email`` asks for it. Scheduled snapshots are always mailed.
    """
    if kind not in KINDS:
        raise ValidationError({"kind": [f"One of {', '.join(KINDS)}."]})
    if actor is not None and not can_generate_reports(actor):
        raise PermissionDenied("Only QMS coordinators generate compliance reports.")
    start, end = period_bounds(kind, period_start)
    if actor is None:
        existing = ComplianceReport.objects.filter(kind=kind, period_start=start, generated_by__isnull=True).first()
        if existing is not None:
            return existing
    now = now or timezone.now()
    payload = compliance_report_build(kind=kind, period_start=start, now=now)
    html, text = render_report(payload)
    report = ComplianceReport(
        kind=kind,
        period_start=start,
        period_end=end,
        generated_at=now,
        generated_by=actor,
        payload=payload,
        html=html,
        text=text,
        sha256=payload_digest(payload),
    )
    try:
        with transaction.atomic():
            report.save()
            _record(report, actor=actor)
            if email if email is not None else actor is None:
                _mail(report)
    except IntegrityError:
        if actor is not None:
            raise
        # Another beat process stored the same period a moment ago: that snapshot is the one.
        return ComplianceReport.objects.get(kind=kind, period_start=start, generated_by__isnull=True)
    return report


def _record(report: ComplianceReport, *, actor: User | None) -> None:
    from audits.services import audit_event_record

    audit_event_record(
        action="report.generated",
        actor=actor,
        subject=report,
        subject_label=f"{report.get_kind_display()} report {report.period_label}",
        reason="scheduled" if actor is None else "generated on request",
        after={
            "kind": report.kind,
            "period_start": report.period_start,
            "period_end": report.period_end,
            "sha256": report.sha256,
        },
    )


def _mail(report: ComplianceReport) -> None:
    from audits.escalation import compliance_definition
    from qms.services import notification_queue

    roles = [Role(r) for r in compliance_policy(compliance_definition())["reports"]["recipients"]]
    recipients = User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in roles]).distinct()
    headline = [f for s in report.payload["sections"] for f in s.get("figures", [])][:8]
    notification_queue(
        recipients=recipients,
        dedupe_prefix=f"report:{report.pk}",
        template="report_ready",
        context={"report": report, "headline": headline, "sections": report.payload["sections"]},
        link=reverse("audits:report-detail", kwargs={"pk": report.pk}),
        attachment=(export_filename(report, "csv"), report_csv(report), "text/csv"),
    )
