"""From a pull request to a bypass: the failing required checks, and a request scoped to the head SHA."""

from __future__ import annotations

from dataclasses import replace

from django.core.exceptions import ValidationError
from django.db import transaction

from emergencies.models import BypassRequest
from emergencies.models.github import (
    GitHubBypassScope,
    GitHubPullRequest,
)
from emergencies.services.bypasses import BypassInput, bypass_request_create
from emergencies.services.github.events import _required_failing
from qms.models import User

# --- from a pull request to a bypass -----------------------------------------------------------------------


def github_pull_failing_checks(pull: GitHubPullRequest) -> list[tuple[str, str]]:
    """The required checks failing on the pull request's head: (GitHub name, procedure check key)."""
    required = pull.repository.required_checks
    return [(name, required[name]) for name in _required_failing(pull.repository, pull.head_sha)]


@transaction.atomic
def github_bypass_request_create(*, pull_id: int, head_sha: str, data: BypassInput, actor: User) -> BypassRequest:
    """Request a bypass for a pull request's failing required checks, scoped to the head SHA the requester saw."""
    pull = GitHubPullRequest.objects.select_for_update().select_related("repository").get(pk=pull_id)
    repository = pull.repository
    if pull.head_sha != head_sha:
        raise ValidationError(
            {"checks": [f"New commits were pushed ({pull.head_sha[:7]}) since this form was opened: reload it."]}
        )
    if pull.state != "open":
        raise ValidationError({"checks": [f"{pull} is {pull.state}; only an open pull request can be bypassed."]})
    live = GitHubBypassScope.objects.filter(
        pull=pull,
        head_sha=head_sha,
        expired_at__isnull=True,
        bypass__status__in=[BypassRequest.Status.PENDING, BypassRequest.Status.ACTIVE],
    ).select_related("bypass")
    if live:
        raise ValidationError({"checks": [f"{live[0].bypass.identifier} already covers {pull} at {head_sha[:7]}."]})
    names = [name for name, key in repository.required_checks.items() if key in data.checks]
    unknown = [key for key in data.checks if key not in repository.required_checks.values()]
    if unknown:
        raise ValidationError({"checks": [f"Not a required check of {repository}: {', '.join(map(str, unknown))}."]})
    data = replace(
        data, repository=repository.full_name, pull_request=f"#{pull.number}", procedure_code=repository.procedure_code
    )
    bypass = bypass_request_create(data=data, actor=actor)
    GitHubBypassScope.objects.create(bypass=bypass, repository=repository, pull=pull, head_sha=head_sha, checks=names)
    return bypass
