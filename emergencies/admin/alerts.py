"""Alert intake in the Django admin: routing rules are configured here (with history); payloads and alerts are
shown only."""

from django.contrib import admin

from emergencies.models import Alert, AlertPayload, AlertRoute
from qms.admin import NoRevertHistoryAdmin, ReadOnlyAdmin, ReadOnlyHistoryAdmin


@admin.register(AlertRoute)
class AlertRouteAdmin(NoRevertHistoryAdmin):
    list_display = ("name", "position", "active", "source", "service", "priority", "category", "procedure")
    list_filter = ("active", "source", "category")
    filter_horizontal = ("on_call",)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate a rule instead: its alerts name it


@admin.register(AlertPayload)
class AlertPayloadAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "source", "outcome", "reason", "remote_addr")
    list_filter = ("outcome", "source")
    search_fields = ("body", "reason")
    readonly_fields = [f.name for f in AlertPayload._meta.fields]


@admin.register(Alert)
class AlertAdmin(ReadOnlyHistoryAdmin):
    list_display = ("source", "key", "title", "status", "incident", "fire_count", "started_at", "resolved_at")
    list_filter = ("source", "status")
    search_fields = ("key", "title", "incident__ticket")
