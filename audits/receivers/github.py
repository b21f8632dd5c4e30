"""How oversight hears about the GitHub side of bypasses: each decision seen on or sent to GitHub is an audit
event (the bypass's trail for a scope, the repository's for links, tokens and unauthorised merges)."""

from django.dispatch import receiver

from audits import services
from emergencies import signals

SCOPE_REASONS = {
    "granted": "Activated on GitHub: qms/bypass success, label and tracking issues owed for {sha}",
    "superseded": "New commits since the bypass was granted ({new_sha}): needs re-approval",
    "expired": "Expired before it was merged: qms/bypass failure owed for {sha}",
    "merged": "Merged by {merged_by} as {merge_sha}",
    "reverted": "Merge {reverted} reverted by {revert_sha}",
}


class _Values(dict):
    def __missing__(self, key):
        return "unknown"


@receiver(signals.github_scope_event, dispatch_uid="audits.github.scope_event")
def on_scope_event(sender, *, scope, event, actor, details, **kwargs):
    values = _Values(sha=scope.head_sha, **{k: v for k, v in details.items() if v})
    services.audit_event_record(
        action=f"bypass.github_{event}",
        actor=actor,
        subject=scope.bypass,
        reason=SCOPE_REASONS[event].format_map(values),
        after={
            "repository": scope.repository.full_name,
            "pull": scope.pull.number,
            "head_sha": scope.head_sha,
            **details,
        },
    )


@receiver(signals.github_unauthorised_merge, dispatch_uid="audits.github.unauthorised_merge")
def on_unauthorised_merge(sender, *, finding, **kwargs):
    services.audit_event_record(
        action="github.unauthorised_merge",
        subject=finding.repository,
        reason=(
            f"#{finding.pull.number if finding.pull else '?'} merged by {finding.merged_by or 'unknown'} with failing "
            f"required checks ({', '.join(finding.failing_checks)}) and no bypass for {finding.head_sha}"
        ),
        after={"head_sha": finding.head_sha, "merge_sha": finding.merge_sha, "failing_checks": finding.failing_checks},
    )


@receiver(signals.github_repository_linked, dispatch_uid="audits.github.repository_linked")
def on_repository_linked(sender, *, repository, actor, **kwargs):
    services.audit_event_record(
        action="github.repository_linked",
        actor=actor,
        subject=repository,
        reason=f"Linked; the portal answers for {', '.join(repository.required_checks)}",
        after={"required_checks": repository.required_checks, "procedure": repository.procedure_code},
    )


@receiver(signals.deployment_gate_token_changed, dispatch_uid="audits.github.gate_token")
def on_gate_token(sender, *, token, action, actor, **kwargs):
    services.audit_event_record(
        action=f"github.gate_token_{action}",
        actor=actor,
        subject=token.repository,
        reason=f"Deployment gate token {token.prefix}… ({token.label}) {action}",
    )
