"""A bypass on GitHub itself: linked repositories, and the calls the portal owes GitHub (an outbox).

When a bypass scoped to a pull request becomes active, its decision is written as ``GitHubCall`` rows in the
same transaction: the ``qms/bypass`` commit status (success) on the head SHA it was granted for, the
``qms-bypass-L{n}`` label on the pull request, and one tracking issue per remediation clock. The worker makes
each call with githubkit; GitHub down, rate-limited or refusing leaves the row pending with its error and
the next attempt's time (exponential backoff), and the bypass page shows it as "not yet on GitHub".
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from githubkit import AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.exception import RequestFailed

from emergencies import signals
from emergencies.models import BypassRequest
from emergencies.models.github import GitHubBypassScope, GitHubCall, GitHubRepository
from emergencies.services.bypasses import remediation_due_date
from qms.models import User
from qms.outbox import outbox_enqueue
from qms.services import procedure_gate_codes, procedure_version_current
from qms.services.notifications import absolute_url

logger = logging.getLogger(__name__)

STATUS_CONTEXT = "qms/bypass"
MAX_BACKOFF = timedelta(hours=1)


# --- linking a repository ---------------------------------------------------------------------------------


def github_required_checks_check(*, required_checks, procedure_code: str) -> None:
    """A repository's mapping of GitHub required check → gate code: a non-empty JSON object whose gates are
    known to some published version of the repository's procedure (one in force, past or scheduled: the
    mapping outlives versions). Whether a bypass may skip one is decided when it is requested, against the
    version it pins."""
    if not isinstance(required_checks, dict) or not required_checks:
        raise ValidationError({"required_checks": ["Name at least one required check the portal answers for."]})
    known = procedure_gate_codes(code=procedure_code)
    unknown = sorted({str(v) for v in required_checks.values()} - set(known))
    if unknown:
        raise ValidationError(
            {
                "required_checks": [
                    f"Not a check of the procedure {procedure_code}: {', '.join(unknown)} (one of: {', '.join(known)})."
                ]
            }
        )


@transaction.atomic
def github_repository_link(
    *,
    full_name: str,
    required_checks: dict[str, str],
    actor: User,
    procedure_code: str = "",
    default_branch: str = "main",
    installation_id: int | None = None,
    repository_id: int | None = None,
) -> GitHubRepository:
    """Link (or relink) a repository: which of its required checks the portal may answer for."""
    if not actor.is_superuser:
        raise PermissionDenied("Only an administrator links repositories.")
    if procedure_code and procedure_version_current(code=procedure_code) is None:
        raise ValidationError({"procedure_code": [f"No procedure {procedure_code!r} is in effect."]})
    if repository_id:
        repository = GitHubRepository.objects.select_for_update().get(pk=repository_id)
    else:
        repository = GitHubRepository(linked_by=actor, linked_at=timezone.now())
    github_required_checks_check(
        required_checks=required_checks, procedure_code=procedure_code or repository.procedure_code
    )
    repository.full_name = full_name.strip()
    repository.required_checks = {str(k).strip(): v for k, v in required_checks.items() if str(k).strip()}
    repository.procedure_code = procedure_code or repository.procedure_code
    repository.default_branch = default_branch.strip() or "main"
    repository.installation_id = installation_id
    repository.full_clean()
    repository._history_user, repository._change_reason = actor, "linked"
    repository.save()
    signals.github_repository_linked.send(sender=GitHubRepository, repository=repository, actor=actor)
    return repository


# --- the outbox ---------------------------------------------------------------------------------------------


def github_call_queue(
    *, key: str, kind: str, repository: GitHubRepository, params: dict, bypass: BypassRequest | None = None
) -> GitHubCall:
    """Owe GitHub one call (in the caller's transaction); the same key is the same call, queued once."""
    now = timezone.now()
    call, created = GitHubCall.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "repository": repository,
            "bypass": bypass,
            "params": params,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    if created:
        _publish_call(call.pk)
    return call


def _publish_call(pk: int) -> None:
    """Owe the worker this call in the caller's transaction (the task outbox: no broker in the request)."""
    outbox_enqueue("emergencies.tasks.github_call_deliver_task", pk)


def github_status_queue(*, scope: GitHubBypassScope, sha: str, state: str, description: str, reason: str) -> GitHubCall:
    return github_call_queue(
        key=f"status:{scope.pk}:{sha}:{reason}",
        kind=GitHubCall.Kind.STATUS,
        repository=scope.repository,
        bypass=scope.bypass,
        params={
            "sha": sha,
            "state": state,
            "context": STATUS_CONTEXT,
            "description": description[:140],
            "target_url": absolute_url(scope.bypass.get_absolute_url()),
        },
    )


def github_bypass_activate(*, bypass: BypassRequest, at: datetime) -> GitHubBypassScope | None:
    """A bypass scoped to a pull request turned active: owe GitHub the status, the label and the issues."""
    scope = GitHubBypassScope.objects.select_for_update().select_related("repository", "pull").filter(bypass=bypass)
    scope = scope.first()
    if scope is None:
        return None
    due = remediation_due_date(bypass, at)
    scope.granted_at, scope.expires_at = at, due
    scope._change_reason = f"granted until {due:%Y-%m-%d %H:%M} UTC"
    scope.save()
    emergency = bypass.level == BypassRequest.Level.EMERGENCY
    label = "qms-bypass-emergency" if emergency else f"qms-bypass-{bypass.level}"
    checks = ", ".join(scope.checks)
    github_status_queue(
        scope=scope,
        sha=scope.head_sha,
        state="success",
        description=f"{bypass.identifier} authorises bypassing {checks}",
        reason="granted",
    )
    owner, repo = scope.repository.owner, scope.repository.name
    github_call_queue(
        key=f"label:{scope.pk}",
        kind=GitHubCall.Kind.LABEL,
        repository=scope.repository,
        bypass=bypass,
        params={"owner": owner, "repo": repo, "issue_number": scope.pull.number, "labels": [label]},
    )
    names = {key: name for name, key in scope.repository.required_checks.items()}
    assignee = bypass.owner_of_remediation
    for key in bypass.checks:
        check = bypass.rules.check_label(key)
        call_key = f"issue:{scope.pk}:{key}"
        github_call_queue(
            key=call_key,
            kind=GitHubCall.Kind.ISSUE,
            repository=scope.repository,
            bypass=bypass,
            params={
                "check": key,
                "title": f"Remediate {check} ({names.get(key, key)}) bypassed by {bypass.identifier}"[:250],
                "body": (
                    f"{bypass.identifier} bypassed **{check}** (`{names.get(key, key)}`) on #{scope.pull.number} "
                    f"at {scope.head_sha}.\n\nDue: {due:%Y-%m-%d %H:%M} UTC\n"
                    f"Assignee in the portal: {assignee.display_name}\n\n"
                    f"Remediation plan: {bypass.remediation_plan or '—'}\n\n"
                    f"{absolute_url(bypass.get_absolute_url())}\n\n<!-- {call_key} -->"
                ),
                "labels": [label],
            },
        )
    signals.github_scope_event.send(
        sender=GitHubBypassScope, scope=scope, event="granted", actor=None, details={"expires_at": due.isoformat()}
    )
    return scope


def github_scopes_expire(*, now: datetime | None = None) -> int:
    """A bypass that was not merged before its expiry no longer answers for its checks on GitHub."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        scopes = GitHubBypassScope.objects.select_for_update(skip_locked=True).filter(
            expires_at__lte=now, expired_at__isnull=True, merged_at__isnull=True
        )
        for scope in scopes.select_related("bypass", "repository"):
            scope.expired_at = now
            scope._change_reason = "expired"
            scope.save()
            github_status_queue(
                scope=scope,
                sha=scope.head_sha,
                state="failure",
                description=f"{scope.bypass.identifier} expired at {scope.expires_at:%Y-%m-%d %H:%M} UTC",
                reason="expired",
            )
            signals.github_scope_event.send(
                sender=GitHubBypassScope, scope=scope, event="expired", actor=None, details={"at": now.isoformat()}
            )
            count += 1
    return count


# --- delivery -----------------------------------------------------------------------------------------------


def github_client(repository: GitHubRepository) -> GitHub:
    """A githubkit client: the App's installation token for the repository, or the configured token."""
    if settings.GITHUB_APP_ID and settings.GITHUB_APP_PRIVATE_KEY_PATH and repository.installation_id:
        key = Path(settings.GITHUB_APP_PRIVATE_KEY_PATH).read_text()
        auth = AppInstallationAuthStrategy(settings.GITHUB_APP_ID, key, repository.installation_id)
    elif settings.GITHUB_TOKEN:
        auth = TokenAuthStrategy(settings.GITHUB_TOKEN)
    else:
        raise RuntimeError("GitHub is not configured: set GITHUB_APP_ID and its key, or GITHUB_TOKEN.")
    return GitHub(
        auth, base_url=settings.GITHUB_API_URL + "/", timeout=10, auto_retry=False, http_cache=False, trust_env=False
    )


def _perform(call: GitHubCall) -> dict:
    params, repository = call.params, call.repository
    with github_client(repository) as gh:
        owner, repo = repository.owner, repository.name
        if call.kind == GitHubCall.Kind.STATUS:
            body = {k: params[k] for k in ("state", "target_url", "description", "context")}
            status = gh.rest.repos.create_commit_status(owner, repo, params["sha"], data=body).parsed_data
            return {"id": status.id, "state": status.state}
        if call.kind == GitHubCall.Kind.LABEL:
            gh.rest.issues.add_labels(owner, repo, params["issue_number"], data={"labels": params["labels"]})
            return {"labels": params["labels"]}
        marker = f"<!-- {call.key} -->"
        if call.attempts:  # an earlier attempt may have reached GitHub before failing: never open it twice
            issues = gh.rest.issues.list_for_repo(
                owner, repo, labels=",".join(params["labels"]), state="all", per_page=100
            ).parsed_data
            for issue in issues:
                if marker in (issue.body or ""):
                    return {"number": issue.number, "html_url": issue.html_url}
        body = {k: params[k] for k in ("title", "body", "labels")}
        issue = gh.rest.issues.create(owner, repo, data=body).parsed_data
        return {"number": issue.number, "html_url": issue.html_url}


def _retry_after(exc: Exception, attempts: int) -> timedelta:
    backoff = min(timedelta(seconds=30 * 2 ** (attempts - 1)), MAX_BACKOFF)
    if isinstance(exc, RequestFailed):
        headers = exc.response.headers
        if headers.get("retry-after", "").isdigit():
            return max(backoff, timedelta(seconds=int(headers["retry-after"])))
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
            reset = datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), tz=UTC)
            return max(backoff, reset - timezone.now())
    return backoff


def _describe(exc: Exception) -> str:
    if isinstance(exc, RequestFailed):
        return f"GitHub answered {exc.response.status_code}: {exc.response.text[:300]}"
    return re.sub(r"\s+", " ", f"{type(exc).__name__}: {exc}")[:500]


def github_call_deliver(*, call_id: int) -> GitHubCall | None:
    """Make one owed call, once: the row is locked while it runs and a delivered call is never made again."""
    with transaction.atomic():
        call = (
            GitHubCall.objects.select_for_update(skip_locked=True)
            .select_related("repository")
            .filter(pk=call_id, state=GitHubCall.State.PENDING)
            .first()
        )
        if call is None:
            return None
        try:
            result = _perform(call)
        except Exception as exc:  # GitHub down, refusing, or answering what the client cannot read: retried
            call.attempts += 1
            call.last_error = _describe(exc)
            call.next_attempt_at = timezone.now() + _retry_after(exc, call.attempts)
            if call.attempts >= settings.GITHUB_CALL_MAX_ATTEMPTS:
                call.state = GitHubCall.State.FAILED
            logger.warning("GitHub call %s failed (attempt %s): %s", call.key, call.attempts, call.last_error)
            call.save(update_fields=["attempts", "last_error", "next_attempt_at", "state"])
            return call
        call.attempts += 1
        call.state, call.result, call.delivered_at = GitHubCall.State.DELIVERED, result, timezone.now()
        call.save(update_fields=["attempts", "state", "result", "delivered_at"])
        return call


def github_calls_due(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    qs = GitHubCall.objects.filter(state=GitHubCall.State.PENDING, next_attempt_at__lte=now)
    return list(qs.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


@transaction.atomic
def github_call_retry(*, call_id: int, actor: User) -> GitHubCall:
    """An administrator sends a refused call again (after fixing the App's permissions, say)."""
    if not actor.is_superuser:
        raise PermissionDenied("Only an administrator retries GitHub calls.")
    call = GitHubCall.objects.select_for_update().get(pk=call_id)
    if call.state == GitHubCall.State.DELIVERED:
        raise ValidationError("This call is already on GitHub.")
    call.state, call.next_attempt_at = GitHubCall.State.PENDING, timezone.now()
    call.save(update_fields=["state", "next_attempt_at"])
    _publish_call(call.pk)
    return call
