"""Validate an emergency change against the EMG codes, like the procedure's validation scripts (§7)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from emergencies.models import ChangeRecord
from emergencies.services.postincident import gate_status
from emergencies.validation import findings


class Command(BaseCommand):
    help = "Print each EMG finding of a change; exit 1 when there is an error."

    def add_arguments(self, parser):
        parser.add_argument("identifier", help="CHG-EMG-YYYYMMDD-HHMM")
        parser.add_argument(
            "--check-postmortem", action="store_true", help="also check the post-mortem (E004, E005, W002, W003)"
        )
        parser.add_argument("--retroactive", action="store_true", help="also check every bypassed gate was validated")

    def handle(self, *args, identifier, check_postmortem, retroactive, **options):
        change = (
            ChangeRecord.objects.select_related("incident", "procedure_version").filter(identifier=identifier).first()
        )
        if change is None:
            raise CommandError(f"No change {identifier}.")
        found = findings(change, check_postmortem=check_postmortem)
        errors = [f for f in found if f.is_error]
        for f in found:
            out = self.stderr if f.is_error else self.stdout
            out.write(f"{f.code} {f.message} → {f.resolution}")
        if retroactive:
            for key, label, result in gate_status(change):
                if result is None or not result.clears_gate:
                    state = result.get_result_display().lower() if result else "not validated"
                    self.stderr.write(f"GATE {key} {label}: {state}")
                    errors.append(key)
                else:
                    self.stdout.write(f"GATE {key} {label}: {result.get_result_display().lower()}")
        if errors:
            self.stderr.write(f"{change.identifier}: {len(errors)} error(s).")
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"{change.identifier}: no errors."))
