"""Bypass requests in the Django admin: shown with their history, never changed there; their remediations are
append-only."""

from django.contrib import admin

from emergencies.admin.changes import AppendOnlyAdmin
from emergencies.models import BypassRemediation, BypassRequest
from qms.admin import ReadOnlyHistoryAdmin


@admin.register(BypassRequest)
class BypassRequestAdmin(ReadOnlyHistoryAdmin):
    list_display = ("identifier", "level", "status", "repository", "pull_request", "requested_at", "requested_by")
    list_filter = ("level", "status")
    search_fields = ("identifier", "repository", "pull_request")


admin.site.register(BypassRemediation, AppendOnlyAdmin)
