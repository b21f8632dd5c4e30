import sys

from django.core.management.base import BaseCommand, CommandError

from audits.checkpoints.keys import CheckpointKeyError, public_key_load
from audits.exports import audit_export_verify


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 of every file of an auditor export against its manifest and the chain hash of "
        "every exported event, and walk the export's audit chain segment; with --public-key, check it against "
        "the signed checkpoints the export carries. Exit status 1 on any mismatch. Needs no database unless "
        "--against-chain is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("zip", help="the export's zip file")
        parser.add_argument("--public-key", metavar="FILE", help="the portal's published checkpoint key (Ed25519, PEM)")
        parser.add_argument(
            "--against-chain",
            action="store_true",
            help="also check the manifest and events against this portal's live audit chain",
        )

    def handle(self, *args, zip, public_key=None, against_chain=False, **options):
        key = None
        if public_key:
            try:
                key = public_key_load(public_key)
            except (CheckpointKeyError, OSError) as exc:
                raise CommandError(str(exc)) from exc
        result = audit_export_verify(source=zip, against_chain=against_chain, public_key=key)
        for note in result.notes:
            self.stdout.write(note)
        if result.ok:
            head = result.manifest.get("chain_head", {})
            last = result.last_checkpoint
            anchored = (
                f"; {result.checkpoints_checked} signed checkpoint(s) match, the last {last['sequence']} "
                f"({last['created_at']}) at #{last['position']}"
                if key is not None and last
                else ""
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"Export intact: {result.files_checked} files and {result.events_checked} events match; "
                    f"chain head #{head.get('position')} {head.get('hash')}{anchored}; "
                    f"manifest SHA-256 {result.manifest_sha256}."
                )
            )
            return
        for problem in result.problems:
            self.stderr.write(self.style.ERROR(problem))
        self.stderr.write(f"{len(result.problems)} problem(s); {result.files_checked} files checked.")
        sys.exit(1)
