"""Hand-off requests in the Django admin: shown with their history, never changed there."""

from django.contrib import admin

from emergencies.models import HandoffRequest
from qms.admin import ReadOnlyHistoryAdmin


@admin.register(HandoffRequest)
class HandoffRequestAdmin(ReadOnlyHistoryAdmin):
    list_display = ("kind", "subject_label", "assignee", "role", "requested_by", "requested_at", "status", "closed_at")
    list_filter = ("kind", "status", "role")
    search_fields = ("subject_label", "note")
    list_select_related = ("assignee", "requested_by")
