from django.contrib import admin

# Each part of the lifecycle registers its own models.
from emergencies import admin_ccb, admin_patch  # noqa: F401
from emergencies.models import (
    ActionItem,
    BypassRemediation,
    BypassRequest,
    ChangeRecord,
    GateResult,
    HandoffRequest,
    Incident,
    PostMortem,
    PreventiveMeasure,
    RollbackTriggerReading,
    TimelineEntry,
)
from qms.admin import ReadOnlyHistoryAdmin


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


@admin.register(BypassRequest)
class BypassRequestAdmin(ReadOnlyHistoryAdmin):
    list_display = ("identifier", "level", "status", "repository", "pull_request", "requested_at", "requested_by")
    list_filter = ("level", "status")
    search_fields = ("identifier", "repository", "pull_request")


@admin.register(HandoffRequest)
class HandoffRequestAdmin(ReadOnlyHistoryAdmin):
    list_display = ("kind", "subject_label", "assignee", "role", "requested_by", "requested_at", "status", "closed_at")
    list_filter = ("kind", "status", "role")
    search_fields = ("subject_label", "note")
    list_select_related = ("assignee", "requested_by")


for model in (PostMortem, TimelineEntry, ActionItem, PreventiveMeasure):
    admin.site.register(model, ReadOnlyHistoryAdmin)


@admin.register(GateResult, RollbackTriggerReading, BypassRemediation)
class AppendOnlyAdmin(admin.ModelAdmin):
    """Append-only records: shown, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
