"""The change records in the Django admin: incidents, changes, post-mortems and their parts, with their history,
never changed there; gate results and rollback readings are append-only."""

from django.contrib import admin

from emergencies.models import (
    ActionItem,
    ChangeRecord,
    GateResult,
    IdentifierCounter,
    Incident,
    PostMortem,
    PreventiveMeasure,
    RollbackTriggerReading,
    TimelineEntry,
)
from qms.admin import ReadOnlyAdmin, ReadOnlyHistoryAdmin


@admin.register(Incident)
class IncidentAdmin(ReadOnlyHistoryAdmin):
    list_display = ("ticket", "title", "category", "severity", "cvss_score", "declared_at", "resolved_at")
    list_filter = ("category", "severity")
    search_fields = ("ticket", "title")
    readonly_fields = ("ticket", "reported_by", "declared_at", "created_at")


@admin.register(ChangeRecord)
class ChangeRecordAdmin(ReadOnlyHistoryAdmin):
    list_display = ("identifier", "title", "status", "level", "declared_at", "author")
    list_filter = ("status", "level", "source")
    search_fields = ("identifier", "title")
    # The state moves only through transitions (the services), never by editing the field.
    readonly_fields = (
        "identifier",
        "status",
        "author",
        "incident",
        "procedure_version",
        "declared_at",
        "bypass_authorised_by",
        "bypass_authorised_at",
        "deployed_at",
        "closed_at",
        "created_at",
        "updated_at",
    )


for model in (PostMortem, TimelineEntry, ActionItem, PreventiveMeasure):
    admin.site.register(model, ReadOnlyHistoryAdmin)


@admin.register(GateResult, RollbackTriggerReading)
class AppendOnlyAdmin(ReadOnlyAdmin):
    """Append-only records: shown, never added, changed or deleted here."""


@admin.register(IdentifierCounter)
class IdentifierCounterAdmin(ReadOnlyAdmin):
    """How many identifiers each base (``CHG-EMG-YYYYMMDD-HHMM``…) has handed out: read-only, the filings keep it."""

    list_display = ("base", "last")
    search_fields = ("base",)
