from django.contrib import admin

# Each part of the lifecycle registers its own models.
from emergencies import admin_ccb, admin_patch  # noqa: F401
from emergencies.models import (
    ActionItem,
    BypassRemediation,
    BypassRequest,
    ChangeRecord,
    GateResult,
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


# Alert intake: routing rules are configured here (with history); payloads and alerts are shown only.
from emergencies.models import Alert, AlertPayload, AlertRoute, WarRoomEntry  # noqa: E402
from qms.admin import NoRevertHistoryAdmin  # noqa: E402


@admin.register(AlertRoute)
class AlertRouteAdmin(NoRevertHistoryAdmin):
    list_display = ("name", "position", "active", "source", "service", "priority", "category", "procedure")
    list_filter = ("active", "source", "category")
    filter_horizontal = ("on_call",)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate a rule instead: its alerts name it


@admin.register(AlertPayload)
class AlertPayloadAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "outcome", "reason", "remote_addr")
    list_filter = ("outcome", "source")
    search_fields = ("body", "reason")
    readonly_fields = [f.name for f in AlertPayload._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnlyHistoryAdmin):
    list_display = ("source", "key", "title", "status", "incident", "fire_count", "started_at", "resolved_at")
    list_filter = ("source", "status")
    search_fields = ("key", "title", "incident__ticket")


@admin.register(WarRoomEntry)
class WarRoomEntryAdmin(ReadOnlyHistoryAdmin):
    list_display = ("change", "kind", "posted_by", "posted_at", "corrects")
    list_filter = ("kind",)
