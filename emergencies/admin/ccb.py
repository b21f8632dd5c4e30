"""The emergency CCB in the Django admin: shown with its history, never changed there (the services sign
and check every write)."""

from django.contrib import admin

from emergencies.models import CCBMember, CCBSession, GateDecision, RegulatoryNotification, StatusUpdate, Vote
from qms.admin import ReadOnlyHistoryAdmin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: shown, never added, changed or deleted here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MemberInline(admin.TabularInline):
    model = CCBMember
    fields = ("user", "role", "added_by", "added_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CCBSession)
class CCBSessionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("identifier", "change", "gate", "status", "outcome", "scheduled_at", "chair")
    list_filter = ("status", "gate", "outcome")
    search_fields = ("identifier", "change__identifier")
    inlines = [MemberInline]


@admin.register(CCBMember)
class CCBMemberAdmin(ReadOnlyHistoryAdmin):
    list_display = ("session", "user", "role", "added_at")
    list_filter = ("role",)
    search_fields = ("session__identifier", "user__username")


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ("session", "voter", "role", "choice", "cast_at", "supersedes")
    list_filter = ("choice", "role")
    search_fields = ("session__identifier", "voter__username")


@admin.register(GateDecision)
class GateDecisionAdmin(ReadOnlyAdmin):
    list_display = ("change", "gate", "result", "decided_by", "decided_at", "retroactive")
    list_filter = ("gate", "result", "retroactive")
    search_fields = ("change__identifier",)


@admin.register(RegulatoryNotification)
class RegulatoryNotificationAdmin(ReadOnlyAdmin):
    list_display = ("change", "authority", "reference", "notified_at", "recorded_by")
    list_filter = ("authority",)
    search_fields = ("change__identifier", "reference")


@admin.register(StatusUpdate)
class StatusUpdateAdmin(ReadOnlyAdmin):
    list_display = ("change", "audience", "change_status", "posted_by", "posted_at")
    list_filter = ("audience",)
    search_fields = ("change__identifier",)
