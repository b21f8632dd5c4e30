import sys
from datetime import UTC, date, datetime, time

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from audits.retention import records_purge, retention_years
from qms.models import User


class Command(BaseCommand):
    help = (
        "Retention review: list the change records last in effect before a date that is at least the retention "
        "period (7 years) ago. A younger date is refused. Nothing is ever deleted (the audit trail is append-only); "
        "--confirm records the review in the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--before", required=True, help="cut-off day, YYYY-MM-DD (UTC, start of day)")
        parser.add_argument("--confirm", action="store_true", help="record the review as an audit event")
        parser.add_argument("--as", dest="username", help="the QMS coordinator making the review")

    def handle(self, *args, before, confirm=False, username=None, **options):
        try:
            cutoff = datetime.combine(date.fromisoformat(before), time.min, tzinfo=UTC)
        except ValueError as exc:
            raise CommandError(f"{before!r} is not a date (YYYY-MM-DD).") from exc
        actor = None
        if username:
            actor = User.objects.filter(username=username, is_active=True).first()
            if actor is None:
                raise CommandError(f"No active user {username!r}.")
        try:
            result = records_purge(before=cutoff, actor=actor, confirm=confirm)
        except ValidationError as exc:
            self.stderr.write(self.style.ERROR(" ".join(exc.messages)))
            sys.exit(1)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        for identifier in result.eligible:
            self.stdout.write(identifier)
        self.stdout.write(
            f"{len(result.eligible)} change records were last in effect before {before} and are past the "
            f"{retention_years()}-year retention. Nothing was deleted."
            + (
                " The review is recorded in the audit trail."
                if result.event
                else " Use --confirm to record the review."
            )
        )
