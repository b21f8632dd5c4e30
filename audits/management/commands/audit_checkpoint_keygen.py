from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.checkpoints.keys import CheckpointKeyError, key_id, key_pair_generate, private_key_load, private_key_path


class Command(BaseCommand):
    help = (
        "Generate the Ed25519 key pair that signs audit checkpoints: the private key (mode 0600) and, beside "
        "it with .pub appended, the public key to publish. Never overwrites a key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="path of the private key (default: QMS_CHECKPOINT_KEY)")

    def handle(self, *args, out=None, **options):
        path = Path(out) if out else private_key_path()
        try:
            private_path, public_path = key_pair_generate(path=path)
        except CheckpointKeyError as exc:
            raise CommandError(str(exc)) from exc
        ident = key_id(private_key_load(private_path).public_key())
        self.stdout.write(self.style.SUCCESS(f"Private key {private_path} (keep it), public key {public_path}."))
        self.stdout.write(f"Key id {ident}: publish {public_path.name} where auditors can fetch it.")
