"""The deployment gate: CI asks whether a commit may be deployed, with a token of one repository.

The answer is ``allowed``, ``prevented`` or ``pending``, with its reasons: the bypass that covers the commit
(its scope, state and expiry), the emergency change behind it and its state, or the failing required checks
that no bypass covers. A gate token can ask about its own repository and nothing else; it is not an API token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from emergencies import signals
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.models.github import (
    FAILING,
    DeploymentGateToken,
    GitHubBypassScope,
    GitHubCommitCheck,
    GitHubFinding,
    GitHubRepository,
)
from qms.models import User
from qms.services.notifications import absolute_url

TOKEN_PREFIX = "qmsgate_"
SHA = re.compile(r"^[0-9a-f]{40}$")
ENVIRONMENT = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
CHANGE_PREVENTS = {ChangeRecord.Status.CONVERTED: "the change left the emergency path (standard process)"}


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def deployment_gate_token_create(*, repository_id: int, label: str, actor: User) -> tuple[DeploymentGateToken, str]:
    """A new gate token for one repository; the secret is returned once and only its digest is kept."""
    if not actor.is_superuser:
        raise PermissionDenied("Only an administrator creates deployment gate tokens.")
    label = label.strip()
    if not label or len(label) > 100:
        raise ValidationError({"label": ["Name the token (at most 100 characters), e.g. the workflow using it."]})
    repository = GitHubRepository.objects.get(pk=repository_id)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = DeploymentGateToken.objects.create(
        repository=repository,
        label=label,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        digest=_digest(raw),
        created_by=actor,
        created_at=timezone.now(),
    )
    signals.deployment_gate_token_changed.send(sender=DeploymentGateToken, token=token, action="created", actor=actor)
    return token, raw


@transaction.atomic
def deployment_gate_token_revoke(*, token_id: int, actor: User) -> DeploymentGateToken:
    if not actor.is_superuser:
        raise PermissionDenied("Only an administrator revokes deployment gate tokens.")
    token = DeploymentGateToken.objects.select_for_update().get(pk=token_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        signals.deployment_gate_token_changed.send(
            sender=DeploymentGateToken, token=token, action="revoked", actor=actor
        )
    return token


def deployment_gate_token_authenticate(raw: str) -> DeploymentGateToken | None:
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (
        DeploymentGateToken.objects.select_related("repository")
        .filter(digest=_digest(raw), revoked_at__isnull=True, repository__active=True)
        .first()
    )
    if token is not None:  # not history-tracked: a use is not a change of the token
        DeploymentGateToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


@dataclass
class GateAnswer:
    decision: str
    repository: str
    sha: str
    environment: str
    reasons: list[str] = field(default_factory=list)
    bypass: dict | None = None
    change: dict | None = None


def _bypass_summary(scope: GitHubBypassScope) -> dict:
    bypass = scope.bypass
    return {
        "id": bypass.identifier,
        "level": bypass.level,
        "status": bypass.status,
        "url": absolute_url(bypass.get_absolute_url()),
        "scope": {
            "repository": scope.repository.full_name,
            "pull_request": scope.pull.number,
            "head_sha": scope.head_sha,
            "checks": scope.checks,
            "expires_at": scope.expires_at.isoformat() if scope.expires_at else None,
            "merge_sha": scope.merge_sha or None,
        },
    }


def _scoped(answer: GateAnswer, scope: GitHubBypassScope) -> GateAnswer:
    bypass, change = scope.bypass, scope.bypass.change
    answer.bypass = _bypass_summary(scope)
    if change is not None:
        answer.change = {
            "id": change.identifier,
            "status": change.status,
            "url": absolute_url(change.get_absolute_url()),
        }
        answer.reasons.append(f"Emergency change {change.identifier}: {change.get_status_display()}.")
    label = f"{bypass.identifier} ({bypass.get_level_display()})"
    checks = ", ".join(scope.checks)
    if bypass.status == BypassRequest.Status.PENDING:
        answer.decision = "pending"
        answer.reasons.append(f"{label} awaits its authorisers' signatures.")
    elif bypass.status in (BypassRequest.Status.REJECTED, BypassRequest.Status.WITHDRAWN):
        answer.decision = "prevented"
        answer.reasons.append(f"{label} was {bypass.get_status_display().lower()}: nothing authorises {checks}.")
    elif scope.expired_at is not None:
        answer.decision = "prevented"
        answer.reasons.append(f"{label} expired at {scope.expires_at:%Y-%m-%d %H:%M} UTC before it was merged.")
    elif scope.revert_sha:
        answer.decision = "prevented"
        answer.reasons.append(f"The bypassed merge was reverted by {scope.revert_sha[:7]}.")
    elif change is not None and change.status in CHANGE_PREVENTS:
        answer.decision = "prevented"
        answer.reasons.append(f"{change.identifier}: {CHANGE_PREVENTS[change.status]}.")
    else:
        answer.decision = "allowed"
        answer.reasons.append(
            f"{label} is {bypass.get_status_display().lower()}: signed, and scoped to {scope.repository}"
            f"#{scope.pull.number} at {scope.head_sha[:7]} for {checks}."
        )
    return answer


def deployment_gate_evaluate(*, token: DeploymentGateToken, repository: str, sha: str, environment: str) -> GateAnswer:
    """May ``sha`` of ``repository`` be deployed to ``environment``? Asked with the repository's gate token."""
    errors = {}
    if not SHA.match(sha or ""):
        errors["sha"] = ["Give the full 40-character commit SHA."]
    if not ENVIRONMENT.match(environment or ""):
        errors["environment"] = ["Give the environment (letters, digits, . _ -)."]
    if not repository:
        errors["repository"] = ["Give the repository as owner/name."]
    if errors:
        raise ValidationError(errors)
    linked = token.repository
    if linked.full_name.lower() != repository.lower():
        raise PermissionDenied("This token answers for its own repository only.")
    answer = GateAnswer(decision="allowed", repository=linked.full_name, sha=sha, environment=environment)
    finding = GitHubFinding.objects.filter(repository=linked).filter(Q(head_sha=sha) | Q(merge_sha=sha)).first()
    if finding is not None:
        answer.decision = "prevented"
        answer.reasons.append(
            f"Unauthorised bypass: merged by {finding.merged_by or 'unknown'} with failing required checks "
            f"({', '.join(finding.failing_checks)}) and no bypass for {finding.head_sha[:7]}."
        )
        return answer
    scopes = GitHubBypassScope.objects.select_related("bypass__change", "repository", "pull").filter(repository=linked)
    scope = scopes.filter(Q(head_sha=sha) | Q(merge_sha=sha)).order_by("-pk").first()
    if scope is not None:
        return _scoped(answer, scope)
    superseded = scopes.filter(superseded_by_sha=sha).order_by("-pk").first()
    if superseded is not None:
        answer.bypass = _bypass_summary(superseded)
        answer.decision = "pending"
        answer.reasons.append(
            f"New commits since {superseded.bypass.identifier} was granted for {superseded.head_sha[:7]}: "
            "the bypass needs re-approval for this commit."
        )
        return answer
    checks = GitHubCommitCheck.objects.filter(repository=linked, sha=sha, name__in=list(linked.required_checks))
    failing = sorted(c.name for c in checks if c.conclusion in FAILING)
    running = sorted(c.name for c in checks if c.conclusion in ("pending", "queued", "in_progress", "requested"))
    if failing:
        answer.decision = "prevented"
        answer.reasons.append(f"Required checks failed and no bypass covers this commit: {', '.join(failing)}.")
    elif running:
        answer.decision = "pending"
        answer.reasons.append(f"Required checks still running: {', '.join(running)}.")
    else:
        answer.reasons.append("No required check is recorded as failing on this commit; no bypass is needed.")
    return answer
