"""``manage.py outbox_relay``: publish the task outbox to the broker, alone (the worker runs one too)."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from qms.outbox import POLL_SECONDS, OutboxRelay


class Command(BaseCommand):
    help = "Publish committed outbox tasks to the broker as they are written (LISTEN/NOTIFY, polling as well)."

    def add_arguments(self, parser):
        parser.add_argument("--poll", type=float, default=POLL_SECONDS, help="seconds between polls")

    def handle(self, *args, poll: float, **options):
        relay = OutboxRelay(poll=poll)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: relay.stopping.set())
        self.stdout.write(f"Outbox relay: publishing to the broker, polling every {poll:g} s.")
        relay.run()
        self.stdout.write(f"Outbox relay stopped ({relay.published} published).")
