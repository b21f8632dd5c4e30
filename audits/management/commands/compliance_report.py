"""python manage.py compliance_report daily|weekly|monthly [--date YYYY-MM-DD] [--user USERNAME] [--email]
[--procedure-version CODE:N | CODE]"""

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audits.reports.periods import KINDS, last_complete_period, period_bounds
from qms.models import User


class Command(BaseCommand):
    help = (
        "Generate the compliance report of a period and store its snapshot: the period containing --date, or "
        "the last complete one. Without --user it is the system's snapshot (one per period and scope, mailed to "
        "the QMS coordinators); with --user a QMS coordinator's new snapshot (mailed with --email). Either may "
        "count only one procedure version (--procedure-version CODE:N) or every version of one procedure (CODE)."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--date", type=date.fromisoformat, help="A day in the period (YYYY-MM-DD).")
        parser.add_argument("--user", help="Generate as this QMS coordinator (a new snapshot).")
        parser.add_argument("--email", action="store_true", help="Mail a --user snapshot to the QMS coordinators.")
        parser.add_argument(
            "--procedure-version",
            default="",
            metavar="CODE:N",
            help="Count only what was filed under this procedure version, or every version of CODE.",
        )

    def handle(self, *args, kind, date, user, email, procedure_version, **options):
        from audits.reports.services import report_generate

        actor = None
        if user:
            actor = User.objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"No user {user!r}.")
        day = date or last_complete_period(kind, timezone.now())[0]
        start, end = period_bounds(kind, day)
        try:
            report = report_generate(
                kind=kind,
                period_start=start,
                actor=actor,
                email=email if actor else None,
                procedure_version=procedure_version,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{report} (#{report.pk}), {start:%Y-%m-%d} to {end:%Y-%m-%d}, {report.procedure_label}, "
                f"sha256 {report.sha256}"
            )
        )
