import sys

from django.core.management.base import BaseCommand

from audits.services import audit_chain_verify


class Command(BaseCommand):
    help = "Walk the audit chain and report the first broken link (exit status 1 if there is one)."

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(f"Audit chain intact: {report.checked} events, head #{report.head_position}.")
            )
            return
        self.stderr.write(self.style.ERROR(f"Audit chain broken at #{report.broken_at}: {report.problem}."))
        self.stderr.write(f"{report.checked} events before it verified.")
        sys.exit(1)
