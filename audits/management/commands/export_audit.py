from datetime import date
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audits.exports import audit_export_write, can_export_audit
from qms.models import User


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from exc


class Command(BaseCommand):
    help = "Export every emergency change declared between two UTC dates (inclusive) as a zip for an auditor."

    def add_arguments(self, parser):
        parser.add_argument("date_from", help="first day, YYYY-MM-DD (UTC)")
        parser.add_argument("date_to", help="last day, YYYY-MM-DD (UTC)")
        parser.add_argument("--out", required=True, help="path of the zip file to write (must not exist)")
        parser.add_argument("--as", dest="username", help="record the export as made by this QMS coordinator/auditor")

    def handle(self, *args, date_from, date_to, out, username=None, **options):
        start, end = _date(date_from), _date(date_to)
        actor = None
        if username:
            actor = User.objects.filter(username=username).first()
            if actor is None or not can_export_audit(actor):
                raise CommandError(f"{username!r} is not an active QMS coordinator or auditor.")
        path = Path(out)
        if path.exists():
            raise CommandError(f"{path} exists; choose a new file name.")
        if not path.parent.is_dir():
            raise CommandError(f"{path.parent} is not a directory.")
        try:
            with path.open("xb") as fh:
                summary = audit_export_write(date_from=start, date_to=end, actor=actor, out=fh)
        except ValidationError as exc:
            path.unlink(missing_ok=True)
            raise CommandError(" ".join(exc.messages)) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: {summary.changes} changes, {len(summary.files)} files, chain head "
                f"#{summary.chain_head['position']}, manifest SHA-256 {summary.manifest_sha256}."
            )
        )
        if summary.skipped_sources:
            self.stdout.write(f"Not in this portal (yet), so not included: {', '.join(summary.skipped_sources)}.")
