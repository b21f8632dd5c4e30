import logging

from celery import shared_task

from audits import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def obligation_sweep_task() -> int:
    return services.obligation_sweep()


@shared_task(acks_late=True)
def audit_chain_verify_task() -> bool:
    report = services.audit_chain_verify()
    if not report.ok:
        logger.error("Audit chain broken at #%s: %s", report.broken_at, report.problem)
    return report.ok
