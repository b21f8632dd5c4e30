from django.core.management.base import BaseCommand, CommandError

from qms.models import ProcedureVersion
from qms.procedures.yaml import procedure_to_yaml
from qms.services.procedures import procedure_version_current


class Command(BaseCommand):
    help = "Print a procedure version as YAML (the version in force, or --version N)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version here is the procedure's version, not Django's.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("code", help="the procedure's code, e.g. emergency-bypass-workflow")
        parser.add_argument("--version", type=int, dest="number", help="the version number (default: in force)")

    def handle(self, *args, code, number=None, **options):
        if number is None:
            version = procedure_version_current(code=code)
        else:
            version = (
                ProcedureVersion.objects.select_related("procedure")
                .filter(procedure__code=code, version=number)
                .first()
            )
        if version is None:
            raise CommandError(f"No version {number or 'in force'} of a procedure {code!r}.")
        self.stdout.write(procedure_to_yaml(version), ending="")
