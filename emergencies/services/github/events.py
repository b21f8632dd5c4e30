"""What each GitHub event means for a bypass: checks recorded, scopes superseded on new commits, merges
captured with the checks they skipped, reverts noted."""

from __future__ import annotations

import re
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from emergencies import signals
from emergencies.models import BypassRequest
from emergencies.models.github import (
    FAILING,
    GitHubBypassScope,
    GitHubCommitCheck,
    GitHubDelivery,
    GitHubFinding,
    GitHubPullRequest,
    GitHubRepository,
)
from emergencies.services import activation
from qms.models import User
from qms.roles import Role
from qms.services.notifications import notification_queue

REVERT = re.compile(r"This reverts commit ([0-9a-f]{40})")


# --- the events -------------------------------------------------------------------------------------------


def _when(value: str | None) -> datetime:
    return (parse_datetime(value) if value else None) or timezone.now()


def _pull_stub(repository: GitHubRepository, number: int, head_sha: str) -> GitHubPullRequest:
    pull, _ = GitHubPullRequest.objects.get_or_create(
        repository=repository, number=number, defaults={"head_sha": head_sha, "updated_at": timezone.now()}
    )
    return pull


def _record_check(delivery, *, sha, name, conclusion, source, url, default_branch_hit, pulls) -> None:
    if name == activation.STATUS_CONTEXT:  # the portal's own status, seen coming back
        return
    repository = delivery.repository
    GitHubCommitCheck.objects.update_or_create(
        repository=repository,
        sha=sha,
        name=name[:200],
        defaults={
            "conclusion": (conclusion or "pending")[:20],
            "source": source,
            "details_url": (url or "")[:500],
            "on_default_branch": default_branch_hit,
            "updated_at": timezone.now(),
        },
    )
    for pull in pulls:
        _pull_stub(repository, pull["number"], (pull.get("head") or {}).get("sha") or sha)


def _on_check_run(delivery: GitHubDelivery) -> None:
    run = delivery.payload["check_run"]
    branch = (run.get("check_suite") or {}).get("head_branch")
    _record_check(
        delivery,
        sha=run["head_sha"],
        name=run["name"],
        conclusion=run.get("conclusion") or run.get("status"),
        source="check_run",
        url=run.get("html_url") or run.get("details_url"),
        default_branch_hit=branch == delivery.repository.default_branch,
        pulls=run.get("pull_requests") or [],
    )


def _on_check_suite(delivery: GitHubDelivery) -> None:
    suite = delivery.payload["check_suite"]
    _record_check(
        delivery,
        sha=suite["head_sha"],
        name=(suite.get("app") or {}).get("name") or "check suite",
        conclusion=suite.get("conclusion") or suite.get("status"),
        source="check_suite",
        url=suite.get("url"),
        default_branch_hit=suite.get("head_branch") == delivery.repository.default_branch,
        pulls=suite.get("pull_requests") or [],
    )


def _on_status(delivery: GitHubDelivery) -> None:
    payload, repository = delivery.payload, delivery.repository
    sha = payload["sha"]
    on_default = any(
        b.get("name") == repository.default_branch and (b.get("commit") or {}).get("sha") == sha
        for b in payload.get("branches") or []
    )
    _record_check(
        delivery,
        sha=sha,
        name=payload["context"],
        conclusion=payload["state"],
        source="status",
        url=payload.get("target_url"),
        default_branch_hit=on_default,
        pulls=[],
    )


def _on_pull_request(delivery: GitHubDelivery) -> None:
    payload, repository = delivery.payload, delivery.repository
    data = payload["pull_request"]
    head_sha = data["head"]["sha"]
    pull = GitHubPullRequest.objects.select_for_update().filter(repository=repository, number=data["number"]).first()
    pull = pull or GitHubPullRequest(repository=repository, number=data["number"])
    pull.title = (data.get("title") or "")[:300]
    pull.html_url = data.get("html_url") or ""
    pull.author = ((data.get("user") or {}).get("login") or "")[:100]
    pull.head_sha, pull.updated_at = head_sha, timezone.now()
    pull.state = "merged" if data.get("merged") else data.get("state", "open")
    if data.get("merged"):
        pull.merged_at = _when(data.get("merged_at"))
        pull.merge_sha = data.get("merge_commit_sha") or ""
        pull.merged_by = ((data.get("merged_by") or {}).get("login") or "")[:100]
    pull.save()
    if payload.get("action") == "synchronize":
        _supersede_scopes(pull, head_sha)
    elif payload.get("action") == "closed" and data.get("merged"):
        _capture_merge(delivery, pull)


def _supersede_scopes(pull: GitHubPullRequest, new_sha: str) -> None:
    """New commits do not inherit a bypass: the new head gets ``qms/bypass`` pending, the bypass needs
    re-approval."""
    scopes = GitHubBypassScope.objects.select_for_update().filter(
        pull=pull,
        merged_at__isnull=True,
        bypass__status__in=[BypassRequest.Status.PENDING, BypassRequest.Status.ACTIVE],
    )
    for scope in (
        scopes.exclude(head_sha=new_sha).exclude(superseded_by_sha=new_sha).select_related("bypass", "repository")
    ):
        scope.superseded_by_sha, scope.superseded_at = new_sha, timezone.now()
        scope._change_reason = f"new commits: {new_sha[:7]}"
        scope.save()
        activation.github_status_queue(
            scope=scope,
            sha=new_sha,
            state="pending",
            description="New commits since the bypass was granted: re-approval needed",
            reason="superseded",
        )
        signals.github_scope_event.send(
            sender=GitHubBypassScope, scope=scope, event="superseded", actor=None, details={"new_sha": new_sha}
        )
        bypass = scope.bypass
        notification_queue(
            recipients=User.objects.filter(pk__in={bypass.requested_by_id, bypass.implementer_id} - {None}),
            dedupe_prefix=f"github-superseded:{scope.pk}:{new_sha}",
            template="github_reapproval",
            context={"scope": scope, "bypass": bypass, "new_sha": new_sha},
            link=reverse("emergencies:github-pull", args=[pull.repository_id, pull.number]),
        )


def _required_failing(repository: GitHubRepository, sha: str) -> list[str]:
    names = list(repository.required_checks)
    qs = GitHubCommitCheck.objects.filter(repository=repository, sha=sha, name__in=names, conclusion__in=FAILING)
    return sorted(qs.values_list("name", flat=True))


def _capture_merge(delivery: GitHubDelivery, pull: GitHubPullRequest) -> None:
    repository = pull.repository
    scope = (
        GitHubBypassScope.objects.select_for_update()
        .select_related("bypass")
        .filter(
            pull=pull,
            head_sha=pull.head_sha,
            expired_at__isnull=True,
            bypass__status__in=[BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED],
        )
        .first()
    )
    if scope is not None:
        scope.merge_sha, scope.merged_by, scope.merged_at = pull.merge_sha, pull.merged_by, pull.merged_at
        scope._change_reason = f"merged by {pull.merged_by or 'unknown'} as {pull.merge_sha[:7]}"
        scope.save()
        details = {"merge_sha": pull.merge_sha, "merged_by": pull.merged_by, "merged_at": pull.merged_at.isoformat()}
        signals.github_scope_event.send(
            sender=GitHubBypassScope, scope=scope, event="merged", actor=None, details=details
        )
        return
    failing = _required_failing(repository, pull.head_sha)
    if not failing:
        return
    finding, created = GitHubFinding.objects.get_or_create(
        kind=GitHubFinding.Kind.UNAUTHORISED_MERGE,
        repository=repository,
        head_sha=pull.head_sha,
        defaults={
            "pull": pull,
            "merge_sha": pull.merge_sha,
            "merged_by": pull.merged_by,
            "failing_checks": failing,
            "detected_at": timezone.now(),
            "delivery": delivery,
        },
    )
    if not created:
        return
    signals.github_unauthorised_merge.send(sender=GitHubFinding, finding=finding)
    notification_queue(
        recipients=User.objects.filter(is_active=True, groups__name=Role.QMS.group_name),
        dedupe_prefix=f"github-unauthorised-merge:{finding.pk}",
        template="github_unauthorised_merge",
        context={"finding": finding, "pull": pull},
        link=pull.html_url or "/",
    )


def _on_push(delivery: GitHubDelivery) -> None:
    payload, repository = delivery.payload, delivery.repository
    if payload.get("ref") != f"refs/heads/{repository.default_branch}":
        return
    for commit in payload.get("commits") or []:
        for reverted in REVERT.findall(commit.get("message") or ""):
            _record_revert(repository, reverted, commit)


def _record_revert(repository: GitHubRepository, reverted: str, commit: dict) -> None:
    scopes = GitHubBypassScope.objects.select_for_update().filter(repository=repository, revert_sha="")
    for scope in scopes.filter(merge_sha=reverted) | scopes.filter(head_sha=reverted, merged_at__isnull=False):
        scope.revert_sha, scope.reverted_at = commit["id"], _when(commit.get("timestamp"))
        scope._change_reason = f"merge {reverted[:7]} reverted by {commit['id'][:7]}"
        scope.save()
        details = {"revert_sha": commit["id"], "reverted": reverted, "author": (commit.get("author") or {}).get("name")}
        signals.github_scope_event.send(
            sender=GitHubBypassScope, scope=scope, event="reverted", actor=None, details=details
        )


# The events a delivery is handled for; any other is stored and acknowledged.
EVENT_HANDLERS = {
    "check_run": _on_check_run,
    "check_suite": _on_check_suite,
    "status": _on_status,
    "pull_request": _on_pull_request,
    "push": _on_push,
}
HANDLED_EVENTS = tuple(EVENT_HANDLERS)
