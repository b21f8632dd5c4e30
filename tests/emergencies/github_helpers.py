"""Shared steps of the GitHub tests: a linked repository, real example deliveries, a bypass from a pull request."""

from __future__ import annotations

import copy
from datetime import date, timedelta

from django.utils import timezone

from emergencies.models.github import GitHubDelivery, GitHubPullRequest
from emergencies.services import activation
from emergencies.services.bypasses import BypassInput, bypass_sign
from emergencies.services.github import github_bypass_request_create, github_delivery_process
from tests.emergencies.github_api import deliver, validate_webhook, webhook_example

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the head of #2 in the examples
NEW_HEAD = "9049f1265b7d61be4a8904a9a27120d2064dab3b"
MERGE = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"
CHECK = "Octocoders-linter"
PASSWORD = "pw-correct-horse"
REQUIRED = {CHECK: "code_quality_minor", "default": "documentation_coverage"}


def link(admin, full_name: str = REPO, **kwargs):
    return activation.github_repository_link(
        full_name=full_name,
        required_checks=kwargs.pop(
            "required_checks", {CHECK: "code_quality_minor", "default": "documentation_coverage"}
        ),
        default_branch=kwargs.pop("default_branch", "master"),
        actor=admin,
        **kwargs,
    )


def send(client, secret, event, payload, **kwargs):
    """Deliver and process (as the worker does); return the stored delivery."""
    response = deliver(client, event, payload, secret=secret, **kwargs)
    assert response.status_code == 202, response.content
    delivery = GitHubDelivery.objects.get(delivery_id=response.json()["delivery"])
    github_delivery_process(delivery_pk=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.processed_at is not None, delivery.error
    return delivery


def failing_check(client, secret):
    """A required check fails on #2: the real ``check_run.completed`` example with conclusion failure."""
    send(client, secret, "pull_request", webhook_example("pull_request", "opened"))
    payload = webhook_example("check_run", "completed", index=0)
    assert payload["check_run"]["conclusion"] == "failure"
    return send(client, secret, "check_run", payload)


def synchronize(client, secret, new_sha: str = NEW_HEAD):
    example = webhook_example("pull_request", "synchronize")
    payload = copy.deepcopy(example)
    payload["before"], payload["after"] = payload["pull_request"]["head"]["sha"], new_sha
    payload["pull_request"]["head"]["sha"] = new_sha
    validate_webhook("pull-request-synchronize", payload, example=example)
    return send(client, secret, "pull_request", payload)


def merged(client, secret, *, head_sha: str = HEAD, merge_sha: str = MERGE):
    """The real ``pull_request.closed`` example, as GitHub sends it when the pull request was merged."""
    example = webhook_example("pull_request", "closed")
    payload = copy.deepcopy(example)
    pr = payload["pull_request"]
    pr["head"]["sha"], pr["merge_commit_sha"] = head_sha, merge_sha
    pr["merged"], pr["merged_at"], pr["merged_by"] = True, pr["closed_at"], payload["sender"]
    validate_webhook("pull-request-closed", payload, example=example)
    return send(client, secret, "pull_request", payload)


def reverted(client, secret, *, merge_sha: str = MERGE):
    """The real ``push`` example to the default branch, its commit a revert of the merge."""
    example = webhook_example("push", index=4)
    payload = copy.deepcopy(example)
    assert payload["ref"] == "refs/heads/master"
    commit = {
        **payload["head_commit"],
        "id": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "message": f'Revert "Update README.md"\n\nThis reverts commit {merge_sha}.',
    }
    payload["commits"], payload["head_commit"], payload["after"] = [commit], commit, commit["id"]
    validate_webhook("push", payload, example=example)
    return send(client, secret, "push", payload)


def l1_input(**overrides) -> BypassInput:
    details = {
        "reason": "Linter rule misfires on generated code",
        "impact_assessment": "None in production",
        "risk_evaluation": "Low",
        "remediation_due": date.today() + timedelta(days=3),
        "remediation_plan": "Fix the rule",
    }
    return BypassInput(
        repository="ignored",
        pull_request="ignored",
        checks=overrides.pop("checks", ["code_quality_minor"]),
        production_impact="low",
        code_quality_only=True,
        details=details,
        **overrides,
    )


def request_bypass(requester, head_sha: str = HEAD):
    pull = GitHubPullRequest.objects.get(repository__full_name=REPO, number=2)
    return github_bypass_request_create(pull_id=pull.pk, head_sha=head_sha, data=l1_input(), actor=requester)


def grant(bypass, lead):
    from emergencies.models.github import GitHubBypassScope
    from qms.roles import Role

    bypass = bypass_sign(bypass_id=bypass.pk, signer=lead, password=PASSWORD, role=Role.LEAD)
    return bypass, GitHubBypassScope.objects.get(bypass=bypass)


def later(**delta):
    return timezone.now() + timedelta(**delta)
