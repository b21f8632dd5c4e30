"""Thin Celery wrappers: every outbound call to GitHub and every webhook delivery is handled here."""

from celery import shared_task

from emergencies.services import activation, github


@shared_task(name="emergencies.tasks.github_delivery_process_task", acks_late=True)
def github_delivery_process_task(delivery_pk: int) -> bool:
    delivery = github.github_delivery_process(delivery_pk=delivery_pk)
    return bool(delivery and delivery.processed_at)


@shared_task(name="emergencies.tasks.github_deliveries_pending_task", acks_late=True)
def github_deliveries_pending_task() -> int:
    """Handle the deliveries whose task never reached the broker (it was down when they arrived)."""
    ids = github.github_deliveries_pending()
    for pk in ids:
        github.github_delivery_process(delivery_pk=pk)
    return len(ids)


@shared_task(name="emergencies.tasks.github_call_deliver_task", acks_late=True)
def github_call_deliver_task(call_id: int) -> str:
    call = activation.github_call_deliver(call_id=call_id)
    return call.state if call else "skipped"


@shared_task(name="emergencies.tasks.github_calls_dispatch_task", acks_late=True)
def github_calls_dispatch_task() -> int:
    """Every owed call whose next attempt is due (first tries the broker missed, and the retries)."""
    ids = activation.github_calls_due()
    for pk in ids:
        activation.github_call_deliver(call_id=pk)
    return len(ids)


@shared_task(name="emergencies.tasks.github_scopes_expire_task", acks_late=True)
def github_scopes_expire_task() -> int:
    return activation.github_scopes_expire()
