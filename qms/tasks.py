from celery import shared_task

from qms import services


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def notification_send_task(notification_ids: list[int]) -> int:
    return sum(services.notification_deliver(notification_id=pk) for pk in notification_ids)


@shared_task(acks_late=True)
def notification_dispatch_pending_task(older_than_seconds: int = 30) -> int:
    """Re-send whatever the broker never got (it was down when the change was written)."""
    ids = services.notification_pending_ids(older_than_seconds=older_than_seconds)
    if ids:
        notification_send_task.delay(ids)
    return len(ids)


@shared_task(acks_late=True)
def procedure_versions_activate_task() -> int:
    """Scheduled procedure versions whose date has come are recorded as in force (filing uses them already)."""
    from qms.services.procedure_drafts import procedure_versions_activate

    return procedure_versions_activate()


@shared_task(acks_late=True)
def oncall_escalate_task() -> int:
    """Page the backup of every page its on-call primary left unacknowledged past the response time."""
    from qms.roster.paging import page_escalate_due

    return page_escalate_due()


@shared_task(acks_late=True)
def idempotency_records_purge_task() -> int:
    """Housekeeping: API idempotency records past API_IDEMPOTENCY_HOURS are deleted."""
    from qms.api.idempotency import idempotency_records_purge

    return idempotency_records_purge()
