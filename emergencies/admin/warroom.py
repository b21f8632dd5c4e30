"""The war room's log in the Django admin: shown with its history, never changed there."""

from django.contrib import admin

from emergencies.models import WarRoomEntry
from qms.admin import ReadOnlyHistoryAdmin


@admin.register(WarRoomEntry)
class WarRoomEntryAdmin(ReadOnlyHistoryAdmin):
    list_display = ("change", "kind", "posted_by", "posted_at", "corrects")
    list_filter = ("kind",)
