import sys

from django.core.management.base import BaseCommand

from audits.exports import audit_export_verify


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 of every file of an auditor export against its manifest and the chain hash of "
        "every exported event; exit status 1 on any mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument("zip", help="the export's zip file")
        parser.add_argument(
            "--against-chain",
            action="store_true",
            help="also check the manifest and events against this portal's live audit chain",
        )

    def handle(self, *args, zip, against_chain=False, **options):
        result = audit_export_verify(source=zip, against_chain=against_chain)
        if result.ok:
            head = result.manifest.get("chain_head", {})
            self.stdout.write(
                self.style.SUCCESS(
                    f"Export intact: {result.files_checked} files and {result.events_checked} events match; "
                    f"chain head #{head.get('position')} {head.get('hash')}; "
                    f"manifest SHA-256 {result.manifest_sha256}."
                )
            )
            return
        for problem in result.problems:
            self.stderr.write(self.style.ERROR(problem))
        self.stderr.write(f"{len(result.problems)} problem(s); {result.files_checked} files checked.")
        sys.exit(1)
