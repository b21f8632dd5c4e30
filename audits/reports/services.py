"""Compliance reports: store an immutable snapshot of a period's report and mail it.

The figures are built by ``audits.reports.build`` and drawn by ``audits.reports.rendering``; the names those
modules give the views and the snapshot's readers are importable from here too.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.conf import settings
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
from audits.reports.scope import report_scope_choices, report_scope_resolve
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
    "report_scope_choices",
    "report_scope_resolve",
    "scheduled_report_scopes",
    "scheduled_reports_generate",
]

GENERATE_ROLES = (Role.QMS,)
logger = logging.getLogger(__name__)


def can_generate_reports(user: User | None) -> bool:
    return bool(user and user.is_active and (user.is_superuser or user.has_role(*GENERATE_ROLES)))


def report_generate(
    *,
    kind: str,
    period_start: date | datetime,
    actor: User | None = None,
    now: datetime | None = None,
    email: bool | None = None,
    procedure_version: str = "",
) -> ComplianceReport:
    """Store an immutable snapshot of the report of the period containing ``period_start`` and mail it.

    The system (``actor`` None: the beat, the management command) makes one snapshot per period and scope:
    running it again returns that one. A QMS coordinator may generate any past or running period again: each
    time a new snapshot, mailed only when ``email`` asks for it. Scheduled snapshots are always mailed.

    ``procedure_version`` (``CODE:N``, or ``CODE`` for every version of a procedure; blank: all procedures)
    narrows the report to what was filed under it (``audits.reports.scope``).
    """
    if kind not in KINDS:
        raise ValidationError({"kind": [f"One of {', '.join(KINDS)}."]})
    if actor is not None and not can_generate_reports(actor):
        raise PermissionDenied("Only QMS coordinators generate compliance reports.")
    scope = report_scope_resolve(procedure_version)
    start, end = period_bounds(kind, period_start)
    scheduled = ComplianceReport.objects.filter(
        kind=kind,
        period_start=start,
        generated_by__isnull=True,
        procedure=scope.procedure,
        procedure_version=scope.version,
    )
    if actor is None:
        existing = scheduled.first()
        if existing is not None:
            return existing
    now = now or timezone.now()
    payload = compliance_report_build(kind=kind, period_start=start, now=now, scope=scope)
    html, text = render_report(payload)
    report = ComplianceReport(
        kind=kind,
        period_start=start,
        period_end=end,
        generated_at=now,
        generated_by=actor,
        procedure=scope.procedure,
        procedure_version=scope.version,
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
        # Another beat process stored the same period and scope a moment ago: that snapshot is the one.
        return scheduled.get()
    return report


def scheduled_report_scopes() -> list[str]:
    """The scopes the scheduler reports on besides all procedures (``settings.QMS_SCHEDULED_REPORT_SCOPES``)."""
    return list(dict.fromkeys(getattr(settings, "QMS_SCHEDULED_REPORT_SCOPES", [])))


def scheduled_reports_generate(*, kind: str, period_start: date | datetime) -> list[ComplianceReport]:
    """The scheduler's snapshots of a period: all procedures, then each scheduled scope, once each (safe to
    run twice). A scope that names no procedure or version is logged and skipped; the others are written."""
    reports = [report_generate(kind=kind, period_start=period_start)]
    for reference in scheduled_report_scopes():
        try:
            reports.append(report_generate(kind=kind, period_start=period_start, procedure_version=reference))
        except ValidationError as exc:
            logger.error("Scheduled report scope %r skipped: %s", reference, "; ".join(exc.messages))
    return reports


def _record(report: ComplianceReport, *, actor: User | None) -> None:
    from audits.services import audit_event_record

    audit_event_record(
        action="report.generated",
        actor=actor,
        subject=report,
        subject_label=f"{report.get_kind_display()} report {report.period_label}"
        + ("" if report.procedure_id is None else f" ({report.procedure_label})"),
        reason="scheduled" if actor is None else "generated on request",
        after={
            "kind": report.kind,
            "period_start": report.period_start,
            "period_end": report.period_end,
            "procedure": report.procedure_label,
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
