from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from qms.models import (
    ApiToken,
    IdempotencyRecord,
    Notification,
    Procedure,
    ProcedureVersion,
    Signature,
    SignerState,
    User,
)


class NoRevertHistoryAdmin(SimpleHistoryAdmin):
    """History is shown, never reverted: a revert would rewrite a record behind its audit trail."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("History cannot be reverted; make a new change instead.")
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyHistoryAdmin(NoRevertHistoryAdmin):
    """Records written through services: the admin shows them and their history, and changes nothing."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin, NoRevertHistoryAdmin):
    fieldsets = (*BaseUserAdmin.fieldsets, ("Portal", {"fields": ("time_zone",)}))
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


@admin.register(Notification)
class NotificationAdmin(ReadOnlyHistoryAdmin):
    list_display = ("subject", "recipient", "created_at", "sent_at", "attempts")
    list_filter = ("sent_at",)
    readonly_fields = [f.name for f in Notification._meta.fields]


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written through services and middleware only: shown, never changed here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
