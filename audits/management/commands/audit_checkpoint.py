from django.core.management.base import BaseCommand, CommandError

from audits.checkpoints.keys import CheckpointKeyError
from audits.checkpoints.services import CheckpointRefused, audit_checkpoint_write


class Command(BaseCommand):
    help = "Verify the audit chain since the last checkpoint and write a signed checkpoint of its head now."

    def handle(self, *args, **options):
        try:
            checkpoint = audit_checkpoint_write()
        except (CheckpointKeyError, CheckpointRefused) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint {checkpoint.sequence}: chain head #{checkpoint.position} {checkpoint.head_hash}, "
                f"written to {checkpoint.location}."
            )
        )
