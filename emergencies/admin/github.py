"""GitHub in the Django admin: linking repositories, deployment gate tokens, webhook deliveries and owed calls
(every write through the services); pull requests, checks and findings are shown only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from emergencies.models.github import (
    DeploymentGateToken,
    GitHubBypassScope,
    GitHubCall,
    GitHubCommitCheck,
    GitHubDelivery,
    GitHubFinding,
    GitHubPullRequest,
    GitHubRepository,
)
from emergencies.services import activation, deployment
from emergencies.services import github as github_services
from qms.admin import NoRevertHistoryAdmin, ReadOnlyAdmin, ReadOnlyHistoryAdmin


class GitHubRepositoryForm(forms.ModelForm):
    class Meta:
        model = GitHubRepository
        fields = ("full_name", "required_checks", "procedure_code", "default_branch", "installation_id", "active")

    def clean(self):
        """The mapping's gates are checked by the service (against the procedure chosen here), shown at the field."""
        cleaned = super().clean()
        if "required_checks" in cleaned and cleaned.get("procedure_code"):
            try:
                activation.github_required_checks_check(
                    required_checks=cleaned["required_checks"], procedure_code=cleaned["procedure_code"]
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


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
