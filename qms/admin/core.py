"""The admin of the portal core's records: users, procedures, notifications, signatures, tokens, training,
delegations, the outbox and procedure drafts; writes go through the services, so most are read-only."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from qms.admin.bases import NoRevertHistoryAdmin, ReadOnlyAdmin, ReadOnlyHistoryAdmin
from qms.models import (
    ApiToken,
    Delegation,
    IdempotencyRecord,
    Notification,
    NotificationChannel,
    Procedure,
    ProcedureVersion,
    Signature,
    SignerState,
    TrainingRecord,
    User,
)
from qms.models.outbox import OutboxMessage
from qms.models.procedure_drafts import ProcedureDraft


@admin.register(User)
class UserAdmin(BaseUserAdmin, NoRevertHistoryAdmin):
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Portal", {"fields": ("time_zone", "notify_by_email", "notify_by_slack", "slack_user_id")}),
    )
    list_display = ("username", "first_name", "last_name", "email", "is_active", "is_staff")

    def has_delete_permission(self, request, obj=None):
        return False  # users are deactivated, never deleted: their signatures stay theirs


@admin.register(Procedure)
class ProcedureAdmin(ReadOnlyHistoryAdmin):
    list_display = ("code", "title", "source_document")


@admin.register(ProcedureVersion)
class ProcedureVersionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("procedure", "version", "effective_from", "effective_until")
    list_filter = ("procedure",)


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [("sent", "Sent"), ("pending", "Not yet delivered"), ("failing", "Failing")]

    def queryset(self, request, queryset):
        if self.value() == "sent":
            return queryset.filter(sent_at__isnull=False)
        if self.value() == "pending":
            return queryset.filter(sent_at__isnull=True)
        if self.value() == "failing":
            return queryset.filter(sent_at__isnull=True).exclude(last_error="")
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyHistoryAdmin):
    list_display = ("subject", "channel", "recipient", "destination", "created_at", "sent_at", "attempts", "last_error")
    list_filter = (DeliveryFilter, "channel")
    search_fields = ("subject", "dedupe_key", "destination")
    readonly_fields = [f.name for f in Notification._meta.fields]


@admin.register(NotificationChannel)
class NotificationChannelAdmin(NoRevertHistoryAdmin):
    """Where the portal posts (Slack, Teams, webhooks, mailboxes), per procedure and event kind. Configuration
    with history; a channel is deactivated, never deleted (its messages name it)."""

    def has_delete_permission(self, request, obj=None):
        return False

    list_display = ("name", "kind", "audience", "procedure", "destination", "active")
    list_filter = ("kind", "audience", "active")


@admin.register(Signature)
class SignatureAdmin(admin.ModelAdmin):
    """Signatures are shown, never added, changed or deleted here."""

    list_display = ("subject_label", "signer_name", "role", "meaning", "method", "signed_at")
    list_filter = ("meaning", "method", "role")
    search_fields = ("subject_label", "signer_name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SignerState)
class SignerStateAdmin(ReadOnlyHistoryAdmin):
    list_display = ("user", "consecutive_failures", "locked_at")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are created and revoked by their owner (preferences); the secret's hash is not shown."""

    list_display = ["name", "user", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["created_via", "second_factor_verified"]
    search_fields = ["name", "user__username", "prefix"]
    exclude = ["secret_hash"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["principal", "key", "method", "path", "status_code", "created_at"]
    search_fields = ["principal", "key", "path"]
    exclude = ["body"]


@admin.register(TrainingRecord)
class TrainingRecordAdmin(ReadOnlyAdmin):
    """Recorded or imported by QMS coordinators on the training pages; append-only."""

    list_display = ["user", "course", "completed_on", "expires_on", "source", "recorded_by", "recorded_at"]
    list_filter = ["course", "source"]
    search_fields = ["user__username", "course", "evidence_reference"]


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyHistoryAdmin):
    """Created and ended by the people concerned (their delegations page)."""

    list_display = ["delegator", "delegate", "role", "starts_at", "ends_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["delegator__username", "delegate__username"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """Tasks a request owes the broker, until the relay (qms.outbox) has published them."""

    list_display = ["task", "created_at", "attempts", "last_error"]
    search_fields = ["task"]


@admin.register(ProcedureDraft)
class ProcedureDraftAdmin(ReadOnlyAdmin):
    """Drafts are edited, reviewed, signed and published on the procedure pages only (document control)."""

    list_display = ["procedure", "status", "author", "created_at"]
    list_filter = ["status"]
