import logging
from datetime import date

from celery import shared_task
from django.utils import timezone

from audits import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def obligation_sweep_task() -> int:
    """Escalate overdue obligations up the ladder and look for repeat-bypass patterns (safe to run twice).

    Cheap when nothing is new; a backlog is fanned out over the worker processes (``audits.escalation.fanout``).
    """
    from audits.escalation.fanout import obligation_tick

    return obligation_tick().escalated


@shared_task(acks_late=True)
def obligation_sweep_batches_task(now: str, batch: int, max_batches: int | None) -> int:
    """One worker process's share of a backlog: batches claimed with SKIP LOCKED, as of ``now`` (ISO 8601)."""
    from datetime import datetime

    from audits.escalation.fanout import obligation_sweep_batches

    return obligation_sweep_batches(now=datetime.fromisoformat(now), batch=batch, max_batches=max_batches).escalated


@shared_task(acks_late=True)
def audit_chain_verify_task() -> bool:
    """Walk the whole chain; where checkpoints are kept, against the signed ones outside the database."""
    from audits.checkpoints import services as checkpoints
    from audits.checkpoints.keys import CheckpointKeyError, default_public_key

    try:
        public_key = default_public_key()
    except CheckpointKeyError:
        public_key = None
    documents, problems = checkpoints.sink_checkpoints() if public_key is not None else ([], [])
    if public_key is None or not (documents or problems):
        report = services.audit_chain_verify()
        if not report.ok:
            logger.error("Audit chain broken at #%s: %s", report.broken_at, report.problem)
        return report.ok
    anchored = checkpoints.audit_chain_verify_against(documents=documents, public_key=public_key)
    for problem in problems + anchored.problems:
        logger.error("Audit chain does not verify against its checkpoints: %s", problem)
    return anchored.ok and not problems


@shared_task(acks_late=True)
def audit_checkpoint_task() -> int | None:
    """Sign the chain's head into a checkpoint outside the database (hourly); the sequence number written."""
    from audits.checkpoints.keys import CheckpointKeyError
    from audits.checkpoints.services import CheckpointRefused, audit_checkpoint_write

    try:
        return audit_checkpoint_write().sequence
    except CheckpointKeyError as exc:
        logger.error("No audit checkpoint written: %s", exc)
    except CheckpointRefused as exc:
        logger.error("No audit checkpoint written, the chain does not verify: %s", exc)
    return None


@shared_task(acks_late=True)
def compliance_report_task(kind: str, period_start: str | None = None) -> int:
    """Store (once) the system's snapshots of a period, the last complete one or the one given (YYYY-MM-DD):
    all procedures and each scope of ``QMS_SCHEDULED_REPORT_SCOPES``. Returns the one of all procedures.

    Safe to run twice and from two beat processes at once: a period's scheduled snapshot of a scope is stored once.
    """
    from audits.reports.periods import last_complete_period
    from audits.reports.services import scheduled_reports_generate

    start = date.fromisoformat(period_start) if period_start else last_complete_period(kind, timezone.now())[0]
    return scheduled_reports_generate(kind=kind, period_start=start)[0].pk


@shared_task(acks_late=True)
def training_expiry_sweep_task() -> int:
    """Open a recertification clock on everyone whose required certification lapses within 30 days."""
    from audits.receivers.training import training_expiry_sweep

    return training_expiry_sweep()
