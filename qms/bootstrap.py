"""Reference data every installation has: the role groups and the four procedure presets."""

from datetime import UTC, datetime

from qms.procedures import PRESETS
from qms.roles import Role

PRESET_EFFECTIVE_FROM = datetime(2025, 1, 1, tzinfo=UTC)


def ensure_reference_data(apps=None) -> None:
    """Idempotent: creates what is missing and never touches an existing procedure version."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    group_model = apps.get_model("auth", "Group")
    procedure_model = apps.get_model("qms", "Procedure")
    version_model = apps.get_model("qms", "ProcedureVersion")
    for role in Role:
        group_model.objects.get_or_create(name=role.group_name)
    for preset in PRESETS:
        procedure, _ = procedure_model.objects.get_or_create(
            code=preset["code"], defaults={"title": preset["title"], "source_document": preset["source_document"]}
        )
        if not version_model.objects.filter(procedure=procedure).exists():
            version_model.objects.create(
                procedure=procedure,
                version=1,
                effective_from=PRESET_EFFECTIVE_FROM,
                definition=preset["definition"],
                change_note="Preset from the procedure document.",
            )
