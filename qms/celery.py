import gc
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")

app = Celery("qms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# The worker drains the task outbox in a thread of its own (qms.outbox.OutboxRelayStep); named by its dotted
# path, which the worker's blueprint resolves when it starts, so this module does not import the outbox.
app.steps["worker"].add("qms.outbox.OutboxRelayStep")


@worker_ready.connect
def _freeze_startup_objects(**kwargs):
    """What the worker loaded to start is kept for its lifetime: moved out of the collector's reach, the
    interpreter's final collection on shutdown no longer walks it (it took seconds, delaying Ctrl-C)."""
    gc.freeze()
