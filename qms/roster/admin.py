"""The on-call roster in the admin: shown with its history, written through the pages and the API only."""

from django.contrib import admin

from qms.admin.bases import ReadOnlyAdmin, ReadOnlyHistoryAdmin
from qms.roster.models import OnCallImport, OnCallPage, OnCallRotation, OnCallRotationMember, OnCallShift


@admin.register(OnCallRotation)
class OnCallRotationAdmin(ReadOnlyHistoryAdmin):
    list_display = ["name", "role", "slot", "starts_at", "ends_at", "period_days", "created_by"]
    list_filter = ["role", "slot"]


@admin.register(OnCallRotationMember)
class OnCallRotationMemberAdmin(ReadOnlyAdmin):
    list_display = ["rotation", "position", "user"]


@admin.register(OnCallShift)
class OnCallShiftAdmin(ReadOnlyHistoryAdmin):
    list_display = ["role", "slot", "user", "starts_at", "ends_at", "kind", "created_by"]
    list_filter = ["role", "slot", "kind"]


@admin.register(OnCallImport)
class OnCallImportAdmin(ReadOnlyAdmin):
    list_display = ["role", "filename", "shift_count", "imported_by", "imported_at"]
    exclude = ["content"]


@admin.register(OnCallPage)
class OnCallPageAdmin(ReadOnlyHistoryAdmin):
    list_display = ["subject", "role", "primary", "backup", "paged_at", "respond_by", "escalated_at", "acknowledged_at"]
    list_filter = ["role"]
