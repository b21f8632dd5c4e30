import logging
from datetime import date

from celery import shared_task
from django.utils import timezone

from audits import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def obligation_sweep_task() -> int:
    """Escalate overdue obligations up the ladder and look for repeat-bypass patterns (safe to run twice)."""
    return services.obligation_sweep()


@shared_task(acks_late=True)
def audit_chain_verify_task() -> bool:
    report = services.audit_chain_verify()
    if not report.ok:
        logger.error("Audit chain broken at #%s: %s", report.broken_at, report.problem)
    return report.ok


@shared_task(acks_late=True)
def compliance_report_task(kind: str, period_start: str | None = None) -> int:
    """Store (once) the system's snapshot of a period: the last complete one, or the one given (YYYY-MM-DD).

    Safe to run twice and from two beat processes at once: a period's scheduled snapshot is stored once.
    """
    from audits.reports.periods import last_complete_period
    from audits.reports.services import report_generate

    start = date.fromisoformat(period_start) if period_start else last_complete_period(kind, timezone.now())[0]
    return report_generate(kind=kind, period_start=start).pk
