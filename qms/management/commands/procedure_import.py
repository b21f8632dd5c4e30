from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from qms.models import User
from qms.services.procedure_drafts import procedure_draft_import


class Command(BaseCommand):
    help = "Read a procedure YAML file into a new draft (never a published version); --author names its author."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a YAML file written by procedure_export (or '-' for standard input)")
        parser.add_argument(
            "--author", required=True, help="username of the QMS coordinator or quality manager who authors it"
        )

    def handle(self, *args, file, author, **options):
        user = User.objects.filter(username=author, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {author!r}.")
        try:
            if file == "-":
                text = self.stdin.read() if hasattr(self, "stdin") else __import__("sys").stdin.read()
            else:
                with open(file, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {file}: {exc}") from None
        try:
            draft = procedure_draft_import(text=text, actor=user)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            lines = (
                [f"{field}: {m}" for field, messages in exc.message_dict.items() for m in messages]
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            raise CommandError("The file was not imported:\n  " + "\n  ".join(lines)) from None
        base = f"next version after {draft.base_version}" if draft.base_version else "first version"
        self.stdout.write(f"Draft {draft.pk} of {draft.procedure.code} ({base}); submit it for review to publish.")
