import sys
import time

from django.core.management.base import BaseCommand, CommandError

from audits.checkpoints.keys import CheckpointKeyError, default_public_key, public_key_load
from audits.checkpoints.services import audit_chain_verify_against, audit_chain_verify_incremental
from audits.checkpoints.sinks import FolderSink
from audits.checkpoints.verify import checkpoint_parse
from audits.services import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Walk the audit chain and report the first broken link (exit status 1 if there is one). With "
        "--against-checkpoints, also prove against the signed checkpoints in a folder that nothing up to the "
        "last one was changed, removed or cut from the tail; with --incremental, verify only what was "
        "appended since the last checkpoint."
    )

    def add_arguments(self, parser):
        parser.add_argument("--against-checkpoints", metavar="DIR", help="a folder of signed checkpoints")
        parser.add_argument("--public-key", metavar="FILE", help="the published public key (default: this portal's)")
        parser.add_argument(
            "--incremental", action="store_true", help="verify from the last stored checkpoint to the head only"
        )

    def _public_key(self, path):
        try:
            return public_key_load(path) if path else default_public_key()
        except (CheckpointKeyError, OSError) as exc:
            raise CommandError(str(exc)) from exc

    def handle(self, *args, against_checkpoints=None, public_key=None, incremental=False, **options):
        if against_checkpoints is None and not incremental:
            started = time.perf_counter()
            report = audit_chain_verify()
            seconds = time.perf_counter() - started
            if report.ok:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Audit chain intact: {report.checked} events, head #{report.head_position} "
                        f"({seconds:.2f} s, {report.checked / max(seconds, 1e-9):,.0f} events/s)."
                    )
                )
                return
            self.stderr.write(self.style.ERROR(f"Audit chain broken at #{report.broken_at}: {report.problem}."))
            self.stderr.write(f"{report.checked} events before it verified.")
            sys.exit(1)

        key = self._public_key(public_key)
        problems: list[str] = []
        if incremental:
            anchored = audit_chain_verify_incremental(public_key=key)
        else:
            folder = FolderSink(against_checkpoints)
            if not folder.path.is_dir():
                raise CommandError(f"{folder.path} is not a directory.")
            documents = [d for name, data in folder.documents() if (d := checkpoint_parse(name, data, problems))]
            anchored = audit_chain_verify_against(documents=documents, public_key=key)
        problems += anchored.problems
        for note in anchored.notes:
            self.stdout.write(note)
        rate = f"{anchored.seconds:.2f} s, {anchored.events_per_second:,.0f} events/s"
        if not problems:
            last = anchored.last_checkpoint
            covered = f"checkpoint {last['sequence']} ({last['created_at']}) at #{last['position']}" if last else "none"
            self.stdout.write(
                self.style.SUCCESS(
                    f"Audit chain intact: {anchored.checked} events verified, head #{anchored.head_position}, "
                    f"{anchored.checkpoints_checked} checkpoint(s) matched, last {covered} ({rate})."
                )
            )
            return
        for problem in problems:
            self.stderr.write(self.style.ERROR(problem))
        self.stderr.write(f"{anchored.checked} events verified before the first problem.")
        sys.exit(1)
