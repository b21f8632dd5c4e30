from celery import shared_task


@shared_task(acks_late=True)
def sso_reauth_proofs_purge_task() -> int:
    """Housekeeping: re-authentication proofs used or expired beyond the retention are deleted."""
    from qms.sso.proofs import proofs_purge

    return proofs_purge()
