"""Realistic data at scale for benchmarks: python manage.py seed_bulk --changes 100000."""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audits.management.bulk import seed_bulk


class Command(BaseCommand):
    help = (
        "Write N emergency changes in every state with their incidents, bypass requests and signatures, CCB "
        "sessions and votes, post-mortems and action items, history, clocks, notifications and a valid audit "
        "chain, in bulk (10^5 in a few minutes). Refuses with DEBUG off unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--changes", type=int, required=True, help="How many emergency changes to write.")
        parser.add_argument("--days", type=int, default=730, help="Spread them over the last DAYS (730).")
        parser.add_argument("--batch-size", type=int, default=500, help="Changes per transaction (500).")
        parser.add_argument("--seed", type=int, default=8, help="Random seed (the same seed gives the same data).")
        parser.add_argument(
            "--force", action="store_true", help="Run with DEBUG off (the benchmark does, on its own database)."
        )

    def handle(self, *args, changes, days, batch_size, seed, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_bulk writes fake emergencies: it runs with DEBUG on, or with --force.")
        if changes < 1 or days < 1 or batch_size < 1:
            raise CommandError("--changes, --days and --batch-size must be positive.")
        bar = ProgressBar(self.stdout, enabled=options.get("verbosity", 1) > 0)
        report = seed_bulk(changes=changes, days=days, batch_size=batch_size, seed=seed, progress=bar.update)
        bar.done()
        if options.get("verbosity", 1) == 0:
            return
        states = ", ".join(f"{state} {n}" for state, n in sorted(report.by_state.items()))
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {report.changes} changes ({states}), {report.incidents} incidents, "
                f"{report.bypasses} bypass requests, {report.signatures} signatures, {report.ccb_sessions} CCB "
                f"sessions ({report.votes} votes), {report.post_mortems} post-mortems ({report.action_items} action "
                f"items), {report.gate_results} gate results, {report.obligations} obligations, "
                f"{report.notifications} notifications, {report.audit_events} audit events, "
                f"{report.history_rows} history rows, {report.users} new users in {report.seconds:.1f} s."
            )
        )


class ProgressBar:
    """A one-line progress bar with rate and time left; plain lines when the output is not a terminal."""

    WIDTH = 30

    def __init__(self, out, *, enabled: bool = True):
        self.out, self.enabled = out, enabled
        self.tty = enabled and getattr(out, "isatty", lambda: False)()
        self.started = time.monotonic()
        self.last_line = 0.0

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed else 0.0
        left = (total - done) / rate if rate else 0.0
        filled = int(self.WIDTH * done / total)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done:>9,}/{total:,} changes "
            f"{rate:>7,.0f}/s  {elapsed:5.0f} s elapsed, ~{left:4.0f} s left"
        )
        if self.tty:
            self.out.write(f"\r{line}", ending="")
            self.out.flush()
        elif done == total or time.monotonic() - self.last_line >= 5:
            self.out.write(line)
            self.last_line = time.monotonic()

    def done(self) -> None:
        if self.tty:
            self.out.write("")
            sys.stdout.flush()
