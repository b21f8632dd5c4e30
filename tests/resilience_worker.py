"""The project's Celery app, run as a real worker process by tests/test_resilience.py, with pause points.

    celery -A tests.resilience_worker worker --pool=solo

A pause point reports through Redis that the worker got there, then blocks until the test kills the
worker (or a safety timeout passes). Nothing is mocked: the real task, service, database and broker
run; the test only chooses where the worker dies. Environment:

RESILIENCE_REDIS_URL           where pause points report and wait (the test's private Redis)
RESILIENCE_PAUSE_AT            "" (no pause), "delivery" (inside sending the email, with the
                               notification's transaction open) or "before_ack" (after the task
                               returned and committed, before the broker is told)
RESILIENCE_MAIL_DIR            where the file email backend writes the messages actually sent
RESILIENCE_VISIBILITY_TIMEOUT  seconds before Redis hands an unacknowledged message out again
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")

import redis
from celery.signals import task_postrun
from django.core.mail.backends.filebased import EmailBackend as FileEmailBackend

from qms.celery import app

# Keys the test reads (tests/test_resilience.py names them too; it must not import this module, which
# reconfigures the Celery app).
REACHED = "resilience:reached"
RAN = "resilience:ran"
RELEASE = "resilience:release"  # never pushed by the test: a paused worker is killed, not released
SAFETY_TIMEOUT = 120

PAUSE_AT = os.environ.get("RESILIENCE_PAUSE_AT", "")
control = redis.Redis.from_url(os.environ["RESILIENCE_REDIS_URL"], socket_timeout=SAFETY_TIMEOUT + 30)

# Kombu restores an unacknowledged message once it is older than the visibility timeout (an hour in
# production); the test's workers check every second for messages older than a second or two.
app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "visibility_timeout": int(os.environ.get("RESILIENCE_VISIBILITY_TIMEOUT", "2")),
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}


def pause(point: str, **details) -> None:
    if point != PAUSE_AT:
        return
    control.rpush(REACHED, json.dumps({"point": point, "pid": os.getpid(), **details}))
    control.blpop([RELEASE], timeout=SAFETY_TIMEOUT)


class PausingFileEmailBackend(FileEmailBackend):
    """Django's file backend (one file per connection, every message sent), with the "delivery" pause."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("file_path", os.environ["RESILIENCE_MAIL_DIR"])
        super().__init__(*args, **kwargs)

    def send_messages(self, email_messages):
        from celery import current_task

        pause("delivery", task_id=current_task.request.id if current_task else None)
        return super().send_messages(email_messages)


@task_postrun.connect
def _report_and_maybe_pause(sender=None, task_id=None, retval=None, **kwargs):
    # task_postrun is sent inside the traced call; with acks_late the ack comes after it returns.
    redelivered = bool((sender.request.delivery_info or {}).get("redelivered"))
    control.rpush(
        RAN,
        json.dumps(
            {"task": sender.name, "task_id": task_id, "retval": retval, "redelivered": redelivered, "pid": os.getpid()}
        ),
    )
    pause("before_ack", task_id=task_id)
