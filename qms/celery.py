import gc
import os

from celery import Celery, bootsteps
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")

app = Celery("qms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class OutboxRelayStep(bootsteps.StartStopStep):
    """The worker drains the task outbox (qms.outbox) in a thread of its own, beside its pool; several
    workers (or ``manage.py outbox_relay`` beside them) share the work through SKIP LOCKED."""

    def __init__(self, worker, **kwargs):
        self.relay = None
        super().__init__(worker, **kwargs)

    def start(self, worker):
        from django.conf import settings

        if getattr(settings, "OUTBOX_RELAY_IN_WORKER", True):
            from qms.outbox import OutboxRelay

            self.relay = OutboxRelay().start()

    def stop(self, worker):
        if self.relay is not None:
            self.relay.stop()
            self.relay = None


app.steps["worker"].add(OutboxRelayStep)


@worker_ready.connect
def _freeze_startup_objects(**kwargs):
    """What the worker loaded to start is kept for its lifetime: moved out of the collector's reach, the
    interpreter's final collection on shutdown no longer walks it (it took seconds, delaying Ctrl-C)."""
    gc.freeze()
