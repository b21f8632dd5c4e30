from django.contrib import admin

# Each part of the lifecycle registers its own models.
from emergencies.models import (
    ActionItem,
    BypassRemediation,
    BypassRequest,
    ChangeRecord,
    GateResult,
    HandoffRequest,
    Incident,
    PostMortem,
    PreventiveMeasure,
    RollbackTriggerReading,
    TimelineEntry,
)
from qms.admin import ReadOnlyAdmin, ReadOnlyHistoryAdmin


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


@admin.register(HandoffRequest)
class HandoffRequestAdmin(ReadOnlyHistoryAdmin):
    list_display = ("kind", "subject_label", "assignee", "role", "requested_by", "requested_at", "status", "closed_at")
    list_filter = ("kind", "status", "role")
    search_fields = ("subject_label", "note")
    list_select_related = ("assignee", "requested_by")


for model in (PostMortem, TimelineEntry, ActionItem, PreventiveMeasure):
    admin.site.register(model, ReadOnlyHistoryAdmin)


@admin.register(GateResult, RollbackTriggerReading, BypassRemediation)
class AppendOnlyAdmin(ReadOnlyAdmin):
    """Append-only records: shown, never added, changed or deleted here."""


# --- GitHub: linking repositories, gate tokens, webhook deliveries and owed calls (writes through services) ---
from django import forms  # noqa: E402
from django.contrib import messages  # noqa: E402
from django.core.exceptions import PermissionDenied, ValidationError  # noqa: E402

from emergencies.models.github import (  # noqa: E402
    DeploymentGateToken,
    GitHubBypassScope,
    GitHubCall,
    GitHubCommitCheck,
    GitHubDelivery,
    GitHubFinding,
    GitHubPullRequest,
    GitHubRepository,
)
from emergencies.services import activation, deployment  # noqa: E402
from emergencies.services import github as github_services  # noqa: E402
from qms.admin import NoRevertHistoryAdmin  # noqa: E402
from qms.procedures import CHECK_CATALOGUE  # noqa: E402


class GitHubRepositoryForm(forms.ModelForm):
    class Meta:
        model = GitHubRepository
        fields = ("full_name", "required_checks", "procedure_code", "default_branch", "installation_id", "active")

    def clean_required_checks(self):
        value = self.cleaned_data["required_checks"]
        unknown = sorted({str(v) for v in value.values()} - set(CHECK_CATALOGUE)) if isinstance(value, dict) else []
        if not isinstance(value, dict) or not value or unknown:
            raise forms.ValidationError(
                f"A JSON object of required check name → one of: {', '.join(CHECK_CATALOGUE)}."
                + (f" Unknown: {', '.join(unknown)}." if unknown else "")
            )
        return value


@admin.register(GitHubRepository)
class GitHubRepositoryAdmin(NoRevertHistoryAdmin):
    """Linking a repository: an administrator names the required checks the portal may answer for."""

    form = GitHubRepositoryForm
    list_display = ("full_name", "default_branch", "procedure_code", "active", "linked_at")
    fields = ("full_name", "required_checks", "procedure_code", "default_branch", "installation_id", "active")
    actions = ["create_gate_token"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            saved = activation.github_repository_link(
                full_name=obj.full_name,
                required_checks=obj.required_checks,
                procedure_code=obj.procedure_code,
                default_branch=obj.default_branch,
                installation_id=obj.installation_id,
                repository_id=obj.pk,
                actor=request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise forms.ValidationError(str(exc)) from exc
        obj.pk, obj.linked_by_id, obj.linked_at = saved.pk, saved.linked_by_id, saved.linked_at
        if obj.active != saved.active:
            saved.active = obj.active
            saved._history_user, saved._change_reason = request.user, "activated" if obj.active else "deactivated"
            saved.save()

    @admin.action(description="Create a deployment gate token")
    def create_gate_token(self, request, queryset):
        for repository in queryset:
            _token, raw = deployment.deployment_gate_token_create(
                repository_id=repository.pk, label=f"CI of {repository}", actor=request.user
            )
            messages.warning(request, f"Gate token for {repository} (shown once, store it as a CI secret): {raw}")


@admin.register(DeploymentGateToken)
class DeploymentGateTokenAdmin(admin.ModelAdmin):
    list_display = ("repository", "label", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = [f.name for f in DeploymentGateToken._meta.fields if f.name != "digest"]
    exclude = ("digest",)
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            deployment.deployment_gate_token_revoke(token_id=token.pk, actor=request.user)


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


@admin.register(WarRoomEntry)
class WarRoomEntryAdmin(ReadOnlyHistoryAdmin):
    list_display = ("change", "kind", "posted_by", "posted_at", "corrects")
    list_filter = ("kind",)


@admin.register(GitHubDelivery)
class GitHubDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("delivery_id", "event", "action", "repository", "received_at", "processed_at", "attempts")
    list_filter = ("event", ("processed_at", admin.EmptyFieldListFilter))
    actions = ["replay"]

    @admin.action(description="Replay the selected deliveries (those not yet processed)")
    def replay(self, request, queryset):
        for delivery in queryset:
            done = github_services.github_delivery_replay(delivery_pk=delivery.pk, actor=request.user)
            level = messages.SUCCESS if done and done.processed_at else messages.ERROR
            messages.add_message(request, level, f"{delivery}: {done.error if done and done.error else 'processed'}")


@admin.register(GitHubCall)
class GitHubCallAdmin(ReadOnlyAdmin):
    list_display = ("key", "kind", "state", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("kind", "state")
    actions = ["retry"]

    @admin.action(description="Send the selected calls again")
    def retry(self, request, queryset):
        for call in queryset.exclude(state=GitHubCall.State.DELIVERED):
            activation.github_call_retry(call_id=call.pk, actor=request.user)


admin.site.register(GitHubBypassScope, ReadOnlyHistoryAdmin)
for model in (GitHubPullRequest, GitHubCommitCheck, GitHubFinding):
    admin.site.register(model, ReadOnlyAdmin)
