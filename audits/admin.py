from django.contrib import admin

from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent, ComplianceReport, Obligation, SweepMark
from qms.admin import ReadOnlyAdmin, ReadOnlyHistoryAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("position", "occurred_at", "action", "actor_name", "subject_label")
    list_filter = ("action",)
    ordering = ("-position",)  # newest first, as the trail is read
    search_fields = ("subject_label", "actor_name", "action")


@admin.register(AuditChainHead)
class AuditChainHeadAdmin(AuditEventAdmin):
    list_display = ("position", "hash")
    list_filter = ()
    search_fields = ()


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(AuditEventAdmin):
    """The database's copy of each signed checkpoint (the sink holds the one that counts): shown only."""

    list_display = ("sequence", "position", "created_at", "key_id", "location")
    list_filter = ()
    search_fields = ("head_hash",)


@admin.register(Obligation)
class ObligationAdmin(ReadOnlyHistoryAdmin):
    list_display = ("label", "subject_label", "owner", "due_at", "satisfied_at", "escalation_level")
    list_filter = ("kind", "escalation_level")
    search_fields = ("subject_label", "label")
    readonly_fields = (
        "subject_type",
        "subject_id",
        "subject_label",
        "subject_url",
        "kind",
        "key",
        "started_at",
        "satisfied_at",
        "satisfied_by",
        "escalation_level",
        "last_escalated_at",
    )


@admin.register(ComplianceReport)
class ComplianceReportAdmin(admin.ModelAdmin):
    """Snapshots are immutable: shown, never added, changed or deleted here."""

    list_display = ("kind", "period_start", "period_end", "generated_at", "generated_by", "sha256")
    list_filter = ("kind",)
    date_hierarchy = "period_start"
    exclude = ("html",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SweepMark)
class SweepMarkAdmin(ReadOnlyAdmin):
    """Where the escalation sweep stands (operational state: losing it only makes the next tick a full sweep)."""

    list_display = ["name", "swept_until", "full_at"]
